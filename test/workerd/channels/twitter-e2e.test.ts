/**
 * X (Twitter) DMs through the whole product: integration setup against the
 * X fake (OAuth 1.0a on every call, X's CRC answered by Parley's own
 * /hooks endpoint while the webhook registers), signed Account Activity
 * bodies to /hooks/{id} deduped by their 64-bit event ids, replays and
 * forgeries refused, private DM media copied into R2, business messages sent
 * as DM events through the deliveries queue, quick-reply taps mapped back,
 * X's errors turned into delivery failures, and the webhook removed on delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { TwitterFake, type XUser } from '../../fakes/twitter';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://api.twitter.test';
/** X's CRC and every callback reach Parley's own /hooks endpoint (the integration is stored before its setup runs); the test Worker answers on http. */
const fake = new TwitterFake({ origin: API, webhookFetch: (request) => hook(request), httpsOnly: false });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string };

const ann: XUser = { id: '9007199254740993', name: 'Ann Lee', screen_name: 'annlee', profile_image_url_https: 'https://pbs.twimg.com/profile_images/1/ann_normal.jpg' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('twitter e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, {
    type: 'twitter',
    tier: 'enterprise',
    consumerKey: fake.consumerKey,
    consumerSecret: fake.consumerSecret,
    accessTokenKey: fake.accessToken,
    accessTokenSecret: fake.accessTokenSecret,
    apiBaseUrl: API,
    displayName: 'Taco DMs',
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const post = async (conversationId: string, content: Record<string, unknown>) => {
  const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
  expect(res.status).toBe(201);
  return res.body.messages[0].id as string;
};

const eventFor = (type: string, messageId: string) =>
  eventually(() => {
    const e = receiver.ofType(type).find((ev) => (ev.payload.message as { id: string }).id === messageId);
    if (!e) throw new Error(`no ${type} yet`);
    return e;
  }, 15_000);

/** The DM events X accepted for Ann whose text matches. */
const sentTo = (userId: string, match: (data: Record<string, any>) => boolean) =>
  (fake.sent.get(userId) ?? []).filter((e) => match((e.message_create as { message_data: Record<string, any> }).message_data));

describe('twitter integration', () => {
  it('is created active: the webhook passed X\'s CRC through /hooks, the account is subscribed and shown, no secret comes back', () => {
    expect(integration).toMatchObject({ type: 'twitter', status: 'active', displayName: 'Taco DMs', tier: 'enterprise', consumerKey: fake.consumerKey, userId: fake.account.id_str, screenName: 'TacoSupport' });
    expect(fake.crcChecks).toEqual([{ url: integration.webhookUrl, status: 200, valid: true }]);
    expect([...fake.webhooks.values()]).toEqual([{ url: integration.webhookUrl, valid: true }]);
    expect(fake.subscriptions.size).toBe(1);
    const shown = JSON.stringify(integration);
    for (const s of [fake.consumerSecret, fake.accessToken, fake.accessTokenSecret]) expect(shown).not.toContain(s);
  });

  it('answers X\'s periodic CRC, and a GET without a crc_token is a bad request', async () => {
    expect(await fake.crc(integration.webhookUrl)).toEqual({ status: 200, valid: true });
    expect((await hook(new Request(integration.webhookUrl))).status).toBe(400);
  });
});

describe('inbound', () => {
  it('a signed DM delivered three times is stored once, keyed by its 64-bit event id', async () => {
    const id = '1318622958000000001';
    const req = await fake.text(integration.webhookUrl, ann, 'Hello from X', { id });
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    const conversationId = await conversationOf(ann.id);
    let stored = await messages(app.appId, app.auth, conversationId);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Hello from X' }, source: { type: 'twitter', integrationId: integration.id, originalMessageId: id } });
    expect((await hook(await fake.text(integration.webhookUrl, ann, 'next', { id: '1318622958000000002' }))).status).toBe(200);
    stored = await messages(app.appId, app.auth, conversationId);
    expect(stored.map((m) => m.source.originalMessageId)).toEqual([id, '1318622958000000002']);
    const client = receiver.ofType('client:add')[0]!.payload.client as Record<string, unknown>;
    expect(client).toMatchObject({ type: 'twitter', integrationId: integration.id, externalId: ann.id, displayName: 'Ann Lee' });
  });

  it('a tampered, unsigned or 8-day-old body is refused and stores nothing', async () => {
    const mallory: XUser = { id: '666', name: 'Mallory' };
    const signed = await fake.text(integration.webhookUrl, mallory, 'hi');
    const tampered = new Request(signed.url, { method: 'POST', headers: signed.headers, body: (await signed.text()).replace('"hi"', '"pwned"') });
    expect((await hook(tampered)).status).toBe(403);
    const unsigned = await fake.text(integration.webhookUrl, mallory, 'hi');
    unsigned.headers.delete('x-twitter-webhooks-signature');
    expect((await hook(unsigned)).status).toBe(401);
    const stale = await fake.text(integration.webhookUrl, mallory, 'hi', { createdAt: Date.now() - 8 * 24 * 3_600_000 });
    expect((await hook(stale)).status).toBe(403);
    // Mallory's first accepted DM opens her conversation: none of the refused ones is in it.
    expect((await hook(await fake.text(integration.webhookUrl, mallory, 'legit'))).status).toBe(200);
    const stored = await messages(app.appId, app.auth, await conversationOf(mallory.id));
    expect(stored.map((m) => m.content.text)).toEqual(['legit']);
  });

  it('a DM photo is stored as an image served from Parley, copied from X\'s private media host with OAuth', async () => {
    const bytes = new TextEncoder().encode('an X jpeg');
    expect((await hook(await fake.photo(integration.webhookUrl, ann, { caption: 'look', bytes }))).status).toBe(200);
    const conversationId = await conversationOf(ann.id);
    const image = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
      if (!found) throw new Error('no image yet');
      return found;
    });
    const url = String(image.content.mediaUrl);
    expect(url).toMatch(new RegExp(`^http://parley.test/media/${integration.id}/`));
    expect(url).not.toContain('twitter.test');
    expect(image.content.text).toBe('look');
    const res = await hook(new Request(url));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    const downloads = fake.calls.filter((c) => c.path.startsWith('/1.1/ton/data/dm/'));
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((c) => c.status === 200 && c.headers.authorization!.startsWith('OAuth '))).toBe(true);
  });

  it('the account\'s own DMs (echoes of its sends) store nothing', async () => {
    const conversationId = await conversationOf(ann.id);
    const before = (await messages(app.appId, app.auth, conversationId)).length;
    expect((await hook(await fake.text(integration.webhookUrl, ann, 'typed in the X app', { echo: true }))).status).toBe(200);
    expect(await messages(app.appId, app.auth, conversationId)).toHaveLength(before);
  });

  it("an account revoking the app (user_event, with no for_user_id) is acknowledged, not refused, and stores nothing", async () => {
    const conversationId = await conversationOf(ann.id);
    const before = (await messages(app.appId, app.auth, conversationId)).length;
    const revoke = { user_event: { revoke: { date_time: new Date().toISOString(), target: { app_id: '13090192' }, source: { user_id: String(integration.userId) } } } };
    expect((await hook(await fake.signed(integration.webhookUrl, revoke))).status).toBe(200);
    expect(await messages(app.appId, app.auth, conversationId)).toHaveLength(before);
  });
});

describe('outbound', () => {
  it('a business text goes out as a DM event; X\'s event id is the delivery\'s external id; a read raises conversation:read', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Hi Ann, how can we help?' });
    const delivered = await eventFor('conversation:message:delivery:channel', id);
    const [sent] = sentTo(ann.id, (d) => d.text === 'Hi Ann, how can we help?');
    expect(sent!.message_create).toEqual({ target: { recipient_id: ann.id }, sender_id: fake.account.id_str, source_app_id: '268278', message_data: { text: 'Hi Ann, how can we help?' } });
    expect(delivered.payload).toMatchObject({ destination: { type: 'twitter', integrationId: integration.id }, externalMessages: [{ id: sent!.id }] });
    const readsBefore = receiver.ofType('conversation:read').length;
    expect((await hook(await fake.read(integration.webhookUrl, ann, String(sent!.id)))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:read').length).toBe(readsBefore + 1));
  });

  it('quick replies go out as options, and a tapped one comes back as the user\'s answer carrying its payload', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes please', payload: 'SPICY_YES' }, { type: 'reply', text: 'No', payload: 'SPICY_NO' }] });
    await eventFor('conversation:message:delivery:channel', id);
    const [sent] = sentTo(ann.id, (d) => d.text === 'Spicy?');
    expect((sent!.message_create as { message_data: unknown }).message_data).toEqual({
      text: 'Spicy?',
      quick_reply: { type: 'options', options: [{ label: 'Yes please', metadata: 'parley:choice:1' }, { label: 'No', metadata: 'parley:choice:2' }] },
    });
    expect((await hook(await fake.tap(integration.webhookUrl, ann, 'Yes please'))).status).toBe(200);
    await eventually(async () => {
      const answer = (await messages(app.appId, app.auth, conversationId)).at(-1)!;
      expect(answer).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Yes please', payload: 'SPICY_YES' } });
    });
  });

  it('postback buttons X cannot show become numbered lines and a typed number answers; link buttons become ctas', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, {
      type: 'text',
      text: 'Which size?',
      actions: [{ type: 'postback', text: 'Small', payload: 'SIZE_S' }, { type: 'postback', text: 'Large', payload: 'SIZE_L' }, { type: 'link', text: 'Size guide', uri: 'https://tacos.example/sizes' }],
    });
    await eventFor('conversation:message:delivery:channel', id);
    const [sent] = sentTo(ann.id, (d) => String(d.text).startsWith('Which size?'));
    expect((sent!.message_create as { message_data: unknown }).message_data).toEqual({
      text: 'Which size?\n\n1. Small\n2. Large\n\nReply with the number of your choice.',
      ctas: [{ type: 'web_url', label: 'Size guide', url: 'https://tacos.example/sizes' }],
    });
    expect((await hook(await fake.text(integration.webhookUrl, ann, '2'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'SIZE_L', text: 'Large' }));
  });

  it('a 429 is retried after x-rate-limit-reset, then the DM goes out once', async () => {
    const conversationId = await conversationOf(ann.id);
    fake.failNext(1, { status: 429, code: 88, message: 'Rate limit exceeded', headers: { 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000)) } });
    const id = await post(conversationId, { type: 'text', text: 'after the limit' });
    await eventFor('conversation:message:delivery:channel', id);
    const tries = fake.callsTo('/1.1/direct_messages/events/new.json').filter((c) => JSON.stringify(c.body).includes('after the limit'));
    expect(tries.map((c) => [c.status, c.code])).toEqual([[429, 88], [200, undefined]]);
    expect(sentTo(ann.id, (d) => d.text === 'after the limit')).toHaveLength(1);
  });

  it('a user who does not accept DMs fails the delivery for good with X\'s code 349', async () => {
    const conversationId = await conversationOf(ann.id);
    fake.closed.add(ann.id);
    try {
      const id = await post(conversationId, { type: 'text', text: 'are you there?' });
      const failure = await eventFor('conversation:message:delivery:failure', id);
      expect(failure.payload.error).toEqual({ code: '349', message: 'You cannot send messages to this user.' });
      expect(fake.callsTo('/1.1/direct_messages/events/new.json').filter((c) => JSON.stringify(c.body).includes('are you there?'))).toHaveLength(1);
    } finally {
      fake.closed.delete(ann.id);
    }
  });
});

describe('a new access token', () => {
  it('a PATCH re-registers the webhook (X\'s CRC passes through /hooks again) and subscribes the account', async () => {
    const before = [...fake.webhooks.keys()];
    const res = await call('PATCH', `/v2/apps/${app.appId}/integrations/${integration.id}`, app.auth, { accessTokenKey: fake.accessToken, accessTokenSecret: fake.accessTokenSecret });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.integration).toMatchObject({ status: 'active', userId: fake.account.id_str });
    expect(fake.crcChecks.at(-1)).toEqual({ url: integration.webhookUrl, status: 200, valid: true });
    const after = [...fake.webhooks.keys()];
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
  });
});

describe('removal', () => {
  it('deleting the integration deletes its X webhook', async () => {
    const webhookId = [...fake.webhooks.keys()][0]!;
    const res = await call('DELETE', `/v2/apps/${app.appId}/integrations/${integration.id}`, app.auth);
    expect(res.status).toBe(200);
    expect(fake.calls.some((c) => c.method === 'DELETE' && c.path === `/1.1/account_activity/webhooks/${webhookId}.json` && c.status === 204)).toBe(true);
    expect(fake.webhooks.size).toBe(0);
  });
});
