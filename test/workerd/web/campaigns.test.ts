/**
 * Campaigns (Parley's extension; issue 17): business messages the Web
 * Messenger shows visitors before any conversation exists.
 * - REST `/v2/apps/{appId}/campaigns`: create with defaults, read, change,
 *   delete, cursor pages; every bad field answers 400 naming it with nothing
 *   stored; the cap per app; app and account keys only; walls between apps;
 *   campaigns go with their app and with their web integration.
 * - The widget's `GET /sdk/…/integrations/{id}/campaigns?url=`: enabled
 *   campaigns matching the page, oldest first; refused to unlisted origins.
 * - A session started with `campaignId`: `conversation:create` says
 *   `proactiveMessaging` with `source.campaign.id` (even when the app ignores
 *   automatic starts), and the campaign's message is the conversation's
 *   first, from the business, before the visitor's answer; an id that names
 *   no campaign this integration shows is ignored, the session opens as usual.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAccount, basic, call, newApp } from '../helpers';
import { eventually, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from '../channels/harness';
import { browser, ORIGIN, say, startSession, storedMessages, webApp, type WebApp } from './web';

const EVIL = 'https://evil.example';
const receiver = new WebhookReceiver();
let restore: () => void;
beforeAll(() => {
  const spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

const TEXT = { type: 'text', text: 'Need help choosing a size?', actions: [{ type: 'reply', text: 'Yes please', payload: 'SIZE_HELP' }] };

function campaignBody(app: WebApp, extra: Record<string, unknown> = {}) {
  return { displayName: 'Sizing help', integrationId: app.integrationId, message: { content: TEXT }, ...extra };
}

async function createCampaign(app: WebApp, extra: Record<string, unknown> = {}) {
  const res = await call('POST', `/v2/apps/${app.appId}/campaigns`, app.auth, campaignBody(app, extra));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.campaign as { id: string; [k: string]: any };
}

const storedCount = async (appId: string) => (await env.DB.prepare('SELECT count(*) AS n FROM campaigns WHERE app_id = ?').bind(appId).first<{ n: number }>())!.n;

const sdkList = (app: WebApp, query = '', origin: string | null = ORIGIN) => browser('GET', `/sdk/v2/apps/${app.appId}/integrations/${app.integrationId}/campaigns${query}`, undefined, undefined, origin);

describe('REST /v2/apps/{appId}/campaigns', () => {
  let app: WebApp;
  beforeAll(async () => {
    app = await webApp();
  });

  it('creates a campaign with its defaults, reads, changes and deletes it', async () => {
    const created = await createCampaign(app, { metadata: { team: 'sales' } });
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      displayName: 'Sizing help',
      integrationId: app.integrationId,
      enabled: true,
      message: { content: TEXT },
      rules: { delaySeconds: 0 },
      frequency: 'oncePerVisitor',
      metadata: { team: 'sales' },
      createdAt: expect.any(String),
      updatedAt: created.createdAt,
    });
    const path = `/v2/apps/${app.appId}/campaigns/${created.id}`;
    expect((await call('GET', path, app.auth)).body).toEqual({ campaign: created });

    const author = { displayName: 'Mia from Acme', avatarUrl: 'https://cdn.example.com/mia.png' };
    const image = { type: 'image', mediaUrl: 'https://cdn.example.com/sale.png', text: 'Sale today', actions: [{ type: 'link', text: 'See it', uri: 'https://shop.example.com/sale' }] };
    const patched = await call('PATCH', path, app.auth, {
      enabled: false,
      rules: { urlContains: '/pricing', delaySeconds: 30 },
      frequency: 'everyPageLoad',
      metadata: null,
      message: { author, content: image },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    const expected = { ...created, enabled: false, rules: { urlContains: '/pricing', delaySeconds: 30 }, frequency: 'everyPageLoad', metadata: null, message: { author, content: image }, updatedAt: expect.any(String) };
    expect(patched.body.campaign).toEqual(expected);
    expect((await call('GET', path, app.auth)).body.campaign).toEqual(expected);

    expect((await call('DELETE', path, app.auth)).status).toBe(200);
    const gone = await call('GET', path, app.auth);
    expect([gone.status, gone.body.errors[0].code]).toEqual([404, 'campaign_not_found']);
    expect((await call('DELETE', path, app.auth)).status).toBe(404);
    expect((await call('PATCH', path, app.auth, { enabled: true })).status).toBe(404);
  });

  it('lists them in pages with cursors and links, like the contract\'s lists', async () => {
    const own = await webApp();
    const ids = [];
    for (const name of ['one', 'two', 'three']) ids.push((await createCampaign(own, { displayName: name })).id);
    const first = await call('GET', `/v2/apps/${own.appId}/campaigns?page[size]=2`, own.auth);
    expect(first.status).toBe(200);
    expect(first.body.campaigns.map((c: { id: string }) => c.id)).toEqual(ids.slice(0, 2));
    expect(first.body.meta).toEqual({ hasMore: true, afterCursor: ids[1] });
    const next = new URL(first.body.links.next);
    expect(next.searchParams.get('page[after]')).toBe(ids[1]);
    const second = await call('GET', `${next.pathname}${next.search}`, own.auth);
    expect(second.body.campaigns.map((c: { id: string }) => c.id)).toEqual([ids[2]]);
    expect(second.body.meta).toEqual({ hasMore: false, beforeCursor: ids[2] });
    const back = await call('GET', `/v2/apps/${own.appId}/campaigns?page[before]=${ids[2]}&page[size]=1`, own.auth);
    expect(back.body.campaigns.map((c: { id: string }) => c.id)).toEqual([ids[1]]);
    expect((await call('GET', `/v2/apps/${own.appId}/campaigns?page[size]=0`, own.auth)).body.errors[0].title).toMatch(/^page\[size\]: /);
  });

  it('answers every bad field with a 400 naming it, and stores nothing', async () => {
    const fresh = await webApp();
    const custom = await call('POST', `/v2/apps/${fresh.appId}/integrations`, fresh.auth, { type: 'custom', webhooks: [{ target: 'https://example.com/hook', triggers: ['conversation:message'] }] });
    const otherApp = await webApp();
    const body = campaignBody(fresh);
    const cases: [string, unknown, RegExp][] = [
      ['no displayName', { ...body, displayName: undefined }, /^displayName: is required/],
      ['empty displayName', { ...body, displayName: '' }, /^displayName: /],
      ['malformed integrationId', { ...body, integrationId: 'web' }, /^integrationId: must be a 24-character id/],
      ['a custom integration', { ...body, integrationId: custom.body.integration.id }, /^integrationId: the app has no web integration/],
      ["another app's web integration", { ...body, integrationId: otherApp.integrationId }, /^integrationId: the app has no web integration/],
      ['no message', { ...body, message: undefined }, /^message: is required/],
      ['a carousel', { ...body, message: { content: { type: 'carousel', items: [{ title: 'x', actions: [{ type: 'postback', text: 'x', payload: 'x' }] }] } } }, /^message\.content\.type: must be text or image/],
      ['a form', { ...body, message: { content: { type: 'form', fields: [{ type: 'text', name: 'n', label: 'Name' }] } } }, /^message\.content\.type: /],
      ['a buy button', { ...body, message: { content: { type: 'text', text: 'Buy', actions: [{ type: 'reply', text: 'ok', payload: 'ok' }, { type: 'buy', text: 'Buy', amount: 100 }] } } }, /^message\.content\.actions\[1\]\.type: /],
      ['an empty text', { ...body, message: { content: { type: 'text', text: '  ' } } }, /content\.text: must not be empty/],
      ['an image without mediaUrl', { ...body, message: { content: { type: 'image' } } }, /^message\.content\.mediaUrl: is required/],
      ['a bad avatarUrl', { ...body, message: { author: { avatarUrl: 'not a url' }, content: TEXT } }, /^message\.author\.avatarUrl: must be a valid URI/],
      ['a delay too long', { ...body, rules: { delaySeconds: 3601 } }, /^rules\.delaySeconds: must be between 0 and 3600/],
      ['a negative delay', { ...body, rules: { delaySeconds: -1 } }, /^rules\.delaySeconds: /],
      ['a fractional delay', { ...body, rules: { delaySeconds: 1.5 } }, /^rules\.delaySeconds: must be a whole number/],
      ['an empty urlContains', { ...body, rules: { urlContains: '' } }, /^rules\.urlContains: /],
      ['an unknown frequency', { ...body, frequency: 'daily' }, /^frequency: must be oncePerVisitor or everyPageLoad/],
      ['enabled as a string', { ...body, enabled: 'yes' }, /^enabled: must be a boolean/],
      ['nested metadata', { ...body, metadata: { a: { b: 1 } } }, /^metadata\.a: must be flat/],
    ];
    for (const [name, input, title] of cases) {
      const res = await call('POST', `/v2/apps/${fresh.appId}/campaigns`, fresh.auth, input);
      expect({ name, status: res.status, code: res.body.errors?.[0]?.code }).toEqual({ name, status: 400, code: 'bad_request' });
      expect(res.body.errors[0].title, name).toMatch(title);
    }
    expect(await storedCount(fresh.appId)).toBe(0);
    expect((await call('GET', `/v2/apps/${fresh.appId}/campaigns`, fresh.auth)).body.campaigns).toEqual([]);

    // The same on PATCH: the stored campaign stays as it was.
    const kept = await createCampaign(fresh);
    const path = `/v2/apps/${fresh.appId}/campaigns/${kept.id}`;
    for (const [patch, title] of [
      [{ rules: { delaySeconds: 9999 } }, /^rules\.delaySeconds: /],
      [{ integrationId: custom.body.integration.id }, /^integrationId: the app has no web integration/],
      [{ message: { content: { type: 'location', coordinates: { lat: 1, long: 2 } } } }, /^message\.content\.type: /],
      [{ displayName: null }, /^displayName: /],
    ] as const) {
      const res = await call('PATCH', path, fresh.auth, patch);
      expect(res.status, JSON.stringify(patch)).toBe(400);
      expect(res.body.errors[0].title).toMatch(title);
    }
    expect((await call('GET', path, fresh.auth)).body.campaign).toEqual(kept);
  });

  it('holds at most 50 campaigns per app', { timeout: 30_000 }, async () => {
    const full = await webApp();
    for (let i = 0; i < 50; i++) await createCampaign(full, { displayName: `c${i}` });
    const over = await call('POST', `/v2/apps/${full.appId}/campaigns`, full.auth, campaignBody(full));
    expect([over.status, over.body.errors[0].code]).toEqual([400, 'too_many_campaigns']);
    expect(await storedCount(full.appId)).toBe(50);
  });

  it('is open to app and account keys, not to integration keys', async () => {
    const custom = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: 'https://example.com/hook', triggers: ['conversation:message'] }] });
    const key = await call('POST', `/v2/apps/${app.appId}/integrations/${custom.body.integration.id}/keys`, app.auth, { displayName: 'bot' });
    const asInt = basic(key.body.key.id, key.body.key.secret);
    const mine = await createCampaign(app);
    const before = await storedCount(app.appId);
    const refused = [
      await call('POST', `/v2/apps/${app.appId}/campaigns`, asInt, campaignBody(app)),
      await call('GET', `/v2/apps/${app.appId}/campaigns`, asInt),
      await call('GET', `/v2/apps/${app.appId}/campaigns/${mine.id}`, asInt),
      await call('PATCH', `/v2/apps/${app.appId}/campaigns/${mine.id}`, asInt, { enabled: false }),
      await call('DELETE', `/v2/apps/${app.appId}/campaigns/${mine.id}`, asInt),
    ];
    expect(refused.map((r) => [r.status, r.body.errors[0].code])).toEqual(Array(5).fill([403, 'forbidden']));
    expect(await storedCount(app.appId)).toBe(before);
    expect((await call('GET', `/v2/apps/${app.appId}/campaigns/${mine.id}`, asAccount)).body.campaign).toEqual(mine);
    const byAccount = await call('POST', `/v2/apps/${app.appId}/campaigns`, asAccount, campaignBody(app));
    expect(byAccount.status).toBe(201);
  });

  it("keeps apps apart: another app's key neither reads nor changes them", async () => {
    const mine = await createCampaign(app);
    const other = await newApp('campaign walls');
    for (const [method, body] of [['GET'], ['PATCH', { enabled: false }], ['DELETE']] as const) {
      const inOwnApp = await call(method, `/v2/apps/${other.appId}/campaigns/${mine.id}`, other.auth, body);
      expect([method, inOwnApp.status]).toEqual([method, 404]);
      const inMine = await call(method, `/v2/apps/${app.appId}/campaigns/${mine.id}`, other.auth, body);
      expect([method, inMine.status]).toEqual([method, 403]);
    }
    expect((await call('GET', `/v2/apps/${other.appId}/campaigns`, other.auth)).body.campaigns).toEqual([]);
    expect((await call('GET', `/v2/apps/${app.appId}/campaigns/${mine.id}`, app.auth)).body.campaign).toEqual(mine);
  });

  it('go with their web integration and with their app', async () => {
    const doomed = await webApp();
    const second = await call('POST', `/v2/apps/${doomed.appId}/integrations`, doomed.auth, { type: 'web', displayName: 'Second site' });
    const onSecond = await createCampaign(doomed, { integrationId: second.body.integration.id });
    await createCampaign(doomed);
    expect(await storedCount(doomed.appId)).toBe(2);
    expect((await call('DELETE', `/v2/apps/${doomed.appId}/integrations/${second.body.integration.id}`, doomed.auth)).status).toBe(200);
    expect((await call('GET', `/v2/apps/${doomed.appId}/campaigns/${onSecond.id}`, doomed.auth)).status).toBe(404);
    expect(await storedCount(doomed.appId)).toBe(1);
    expect((await call('DELETE', `/v2/apps/${doomed.appId}`, asAccount)).status).toBe(200);
    expect(await storedCount(doomed.appId)).toBe(0);
  });
});

describe("the widget's list: GET /sdk/v2/apps/{appId}/integrations/{integrationId}/campaigns", () => {
  it('answers the enabled campaigns whose urlContains is in the page URL (or that have none), oldest first', async () => {
    const app = await webApp();
    const everywhere = await createCampaign(app, { displayName: 'everywhere', rules: { delaySeconds: 5 } });
    const pricing = await createCampaign(app, { displayName: 'pricing', rules: { urlContains: '/pricing' }, frequency: 'everyPageLoad' });
    const off = await createCampaign(app, { displayName: 'off', enabled: false });
    const second = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'web', displayName: 'Second site' });
    await createCampaign(app, { displayName: 'other site', integrationId: second.body.integration.id });

    const onPricing = await sdkList(app, `?url=${encodeURIComponent('https://shop.example.com/pricing?plan=pro')}`);
    expect(onPricing.status).toBe(200);
    expect(onPricing.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(onPricing.body).toEqual({
      campaigns: [
        { id: everywhere.id, message: { content: TEXT }, delaySeconds: 5, frequency: 'oncePerVisitor' },
        { id: pricing.id, message: { content: TEXT }, delaySeconds: 0, frequency: 'everyPageLoad' },
      ],
    });
    const ids = async (query: string) => (await sdkList(app, query)).body.campaigns.map((c: { id: string }) => c.id);
    expect(await ids(`?url=${encodeURIComponent('https://shop.example.com/')}`)).toEqual([everywhere.id]);
    expect(await ids('')).toEqual([everywhere.id]);

    // A change made through the API shows at once (in this isolate; others within 30 s).
    expect((await call('PATCH', `/v2/apps/${app.appId}/campaigns/${off.id}`, app.auth, { enabled: true })).status).toBe(200);
    expect((await call('PATCH', `/v2/apps/${app.appId}/campaigns/${everywhere.id}`, app.auth, { enabled: false })).status).toBe(200);
    expect(await ids('')).toEqual([off.id]);
  });

  it('refuses a url longer than 2048 characters, naming url', async () => {
    const app = await webApp();
    const res = await sdkList(app, `?url=https://shop.example.com/${'a'.repeat(2048)}`);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/^url: must be at most 2048 characters/);
  });

  it('is refused, like the config, to a site outside the originWhitelist, and unknown integrations are 404', async () => {
    const app = await webApp();
    await createCampaign(app);
    const refused = await sdkList(app, '', EVIL);
    expect([refused.status, refused.body.errors[0].code]).toEqual([403, 'forbidden']);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const config = await browser('GET', `/sdk/v2/apps/${app.appId}/integrations/${app.integrationId}/config`, undefined, undefined, EVIL);
    expect(config.status).toBe(403);
    expect((await sdkList(app, '', null)).body.campaigns).toHaveLength(1);
    const other = await webApp();
    expect((await browser('GET', `/sdk/v2/apps/${other.appId}/integrations/${app.integrationId}/campaigns`, undefined)).status).toBe(404);
  });
});

describe('a session that answers a campaign (campaignId)', () => {
  const ofConversation = (type: string, conversationId: string) => receiver.ofType(type).filter((e) => (e.payload.conversation as { id?: string } | undefined)?.id === conversationId);
  const sessionWith = (app: WebApp, campaignId: string) => browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId, campaignId });

  it('opens the conversation as proactiveMessaging with the campaign, its message first (seq 1), then the visitor\'s answer', async () => {
    const app = await webApp();
    await subscribe(app.appId, app.auth);
    const author = { displayName: 'Mia from Acme', avatarUrl: 'https://cdn.example.com/mia.png' };
    const campaign = await createCampaign(app, { message: { author, content: TEXT } });

    const res = await sessionWith(app, campaign.id);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const conversationId: string = res.body.conversation.id;
    const userId: string = res.body.user.id;

    const created = await eventually(() => {
      const [event] = ofConversation('conversation:create', conversationId);
      if (!event) throw new Error('no conversation:create yet');
      return event.payload;
    });
    expect(created).toMatchObject({ creationReason: 'proactiveMessaging', source: { type: 'web', integrationId: app.integrationId, campaign: { id: campaign.id } }, user: { id: userId } });

    const first = (await storedMessages(app, conversationId))[0];
    expect(first).toMatchObject({ seq: 1, author: { type: 'business', ...author }, content: TEXT, source: { type: 'campaign', integrationId: app.integrationId }, metadata: { campaignId: campaign.id } });
    const visitor = { token: res.body.session.token as string, conversationId };
    const seen = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`, visitor.token);
    expect(seen.body.messages.map((m: { id: string }) => m.id)).toEqual([first.id]);

    const reply = await say(app, visitor, 'Yes please', { content: { type: 'text', text: 'Yes please', payload: 'SIZE_HELP' } });
    const messages = await storedMessages(app, conversationId);
    expect(messages.map((m) => [m.seq, m.author.type, m.id])).toEqual([
      [1, 'business', first.id],
      [2, 'user', reply.id],
    ]);

    // Events of one conversation arrive in order: once the answer's is here, the campaign message's came before it.
    await eventually(() => expect(ofConversation('conversation:message', conversationId).some((e) => (e.payload.message as { id: string }).id === reply.id)).toBe(true));
    const messageEvents = ofConversation('conversation:message', conversationId).map((e) => (e.payload.message as { id: string }).id);
    expect(messageEvents).toEqual([first.id, reply.id]);
    expect(ofConversation('conversation:create', conversationId)).toHaveLength(1);
    const [campaignEvent] = ofConversation('conversation:message', conversationId);
    expect(campaignEvent!.payload.message).toMatchObject({ seq: 1, author: { type: 'business', ...author }, metadata: { campaignId: campaign.id } });
  });

  it('is announced even when the app ignores automatic conversation starts', async () => {
    const app = await webApp();
    expect((await call('PATCH', `/v2/apps/${app.appId}`, app.auth, { settings: { ignoreAutoConversationStart: true } })).status).toBe(200);
    await subscribe(app.appId, app.auth);
    const campaign = await createCampaign(app);
    const res = await sessionWith(app, campaign.id);
    expect(res.status).toBe(201);
    const conversationId: string = res.body.conversation.id;
    await eventually(() => expect(ofConversation('conversation:message', conversationId)).toHaveLength(1));
    expect(ofConversation('conversation:create', conversationId).map((e) => e.payload)).toEqual([
      expect.objectContaining({ creationReason: 'proactiveMessaging', source: expect.objectContaining({ campaign: { id: campaign.id } }) }),
    ]);
    // And an ordinary visitor of the same app is still not announced until they write.
    const plain = await startSession(app);
    await eventually(() => expect(receiver.ofType('client:add').filter((e) => (e.payload.user as { id: string }).id === plain.userId)).toHaveLength(1));
    expect(ofConversation('conversation:create', plain.conversationId)).toEqual([]);
  });

  it('opens an ordinary session, one conversation and no campaign message, when the id names no campaign this integration shows', async () => {
    const app = await webApp();
    await subscribe(app.appId, app.auth);
    const disabled = await createCampaign(app, { enabled: false });
    const deleted = await createCampaign(app);
    expect((await call('DELETE', `/v2/apps/${app.appId}/campaigns/${deleted.id}`, app.auth)).status).toBe(200);
    const second = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'web', displayName: 'Second site' });
    const otherIntegration = await createCampaign(app, { integrationId: second.body.integration.id });
    const otherApp = await webApp();
    const otherAppCampaign = await createCampaign(otherApp);

    for (const [name, id] of [
      ['unknown', '0123456789abcdef01234567'],
      ['disabled', disabled.id],
      ['deleted', deleted.id],
      ['of another integration', otherIntegration.id],
      ['of another app', otherAppCampaign.id],
    ]) {
      const res = await sessionWith(app, id!);
      expect(res.status, name).toBe(201);
      const conversationId: string = res.body.conversation.id;
      const userId: string = res.body.user.id;
      // client:add follows the creation in the conversation's stream: once it is here, the creation is too.
      await eventually(() => expect(receiver.ofType('client:add').filter((e) => (e.payload.user as { id: string }).id === userId)).toHaveLength(1));
      const created = ofConversation('conversation:create', conversationId).map((e) => e.payload);
      expect(created, name).toEqual([expect.objectContaining({ creationReason: 'startConversation', source: { type: 'web', integrationId: app.integrationId } })]);
      expect(await storedMessages(app, conversationId), name).toEqual([]);
      const listed = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${userId}`, app.auth);
      expect(listed.body.conversations.map((c: { id: string }) => c.id), name).toEqual([conversationId]);
    }
    // The other app's campaign is untouched by a session of this app.
    expect((await call('GET', `/v2/apps/${otherApp.appId}/campaigns/${otherAppCampaign.id}`, otherApp.auth)).body.campaign).toEqual(otherAppCampaign);
  });

  it('refuses a malformed campaignId with a 400 naming it, creating no user', async () => {
    const app = await webApp();
    const users = async () => (await env.DB.prepare('SELECT count(*) AS n FROM users WHERE app_id = ?').bind(app.appId).first<{ n: number }>())!.n;
    for (const bad of ['summer-sale', 42, '0123456789ABCDEF01234567']) {
      const res = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId, campaignId: bad });
      expect(res.status, String(bad)).toBe(400);
      expect(res.body.errors[0].title).toMatch(/^campaignId: /);
    }
    expect(await users()).toBe(0);
  });
});
