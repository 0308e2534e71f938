/**
 * X (Twitter) DMs through the whole product against the X API v2 fake:
 * integration setup (OAuth 1.0a as the account, the app's Bearer token for
 * webhooks, X's CRC answered by Parley's own /hooks endpoint while the
 * webhook registers), signed Account Activity bodies to /hooks/{id} deduped by
 * their 64-bit event ids, replays and forgeries refused, private DM media
 * copied into R2, business messages sent as v2 DMs through the deliveries
 * queue (choices as numbered text answered by number, images through X's
 * chunked upload), X's errors turned into delivery failures, and the webhook
 * removed on delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { FileHost, noisePng, TwitterFake, xErrors, type XUser } from '../../fakes/twitter';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://api.twitter.test';
/** X's CRC and every callback reach Parley's own /hooks endpoint (the integration is stored before its setup runs); the test Worker answers on http. */
const fake = new TwitterFake({ origin: API, webhookFetch: (request) => hook(request), httpsOnly: false });
const receiver = new WebhookReceiver();
/** Where the business's images live. */
const files = new FileHost();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string };

const ann: XUser = { id: '9007199254740993', name: 'Ann Lee', screen_name: 'annlee', profile_image_url_https: 'https://pbs.twimg.com/profile_images/1/ann_normal.jpg' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver, [files.origin]: files });
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

/** A digest to compare a megabyte by (a deep equality of the bytes walks them one by one). */
const sha256 = async (bytes: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('');

/** The DMs X accepted for a user whose text matches. */
const sentTo = (userId: string, match: (text: string) => boolean) => (fake.sent.get(userId) ?? []).filter((e) => match(e.text ?? ''));
const dmCalls = (userId: string, match: string) => fake.callsTo(fake.dmPath(userId)).filter((c) => JSON.stringify(c.body).includes(match));

describe('twitter integration', () => {
  it('is created active: the webhook passed X\'s CRC through /hooks, the account is subscribed and shown, no secret comes back', () => {
    expect(integration).toMatchObject({ type: 'twitter', status: 'active', displayName: 'Taco DMs', tier: 'enterprise', consumerKey: fake.consumerKey, userId: fake.account.id_str, screenName: 'TacoSupport' });
    expect(fake.crcChecks).toEqual([{ url: integration.webhookUrl, status: 200, valid: true }]);
    expect([...fake.webhooks.values()]).toEqual([{ url: integration.webhookUrl, valid: true, created_at: expect.any(String) }]);
    expect(fake.subscriptions).toEqual(new Set([`${[...fake.webhooks.keys()][0]}:${fake.account.id_str}`]));
    expect(fake.calls.map((c) => `${c.method} ${c.path.replace(/\d{10,}/, 'ID')} ${c.auth}`)).toEqual([
      'GET /2/users/me user',
      'POST /oauth2/token basic',
      'POST /2/webhooks app',
      'POST /2/account_activity/webhooks/ID/subscriptions/all user',
    ]);
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
  it('a business text goes out as a v2 DM; X\'s dm_event_id is the delivery\'s external id; a read raises conversation:read', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Hi Ann, how can we help?' });
    const delivered = await eventFor('conversation:message:delivery:channel', id);
    const [sent] = sentTo(ann.id, (t) => t === 'Hi Ann, how can we help?');
    expect(dmCalls(ann.id, 'Hi Ann, how can we help?').map((c) => [c.status, c.auth, c.body])).toEqual([[201, 'user', { text: 'Hi Ann, how can we help?' }]]);
    expect(delivered.payload).toMatchObject({ destination: { type: 'twitter', integrationId: integration.id }, externalMessages: [{ id: sent!.id }] });
    const readsBefore = receiver.ofType('conversation:read').length;
    expect((await hook(await fake.read(integration.webhookUrl, ann, sent!.id))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:read').length).toBe(readsBefore + 1));
  });

  it('quick replies go out as numbered lines (v2 DMs have none), and the typed number is stored as the user\'s answer carrying its payload', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes please', payload: 'SPICY_YES' }, { type: 'reply', text: 'No', payload: 'SPICY_NO' }] });
    await eventFor('conversation:message:delivery:channel', id);
    expect(sentTo(ann.id, (t) => t.startsWith('Spicy?')).map((e) => e.text)).toEqual(['Spicy?\n\n1. Yes please\n2. No\n\nReply with the number of your choice.']);
    expect((await hook(await fake.text(integration.webhookUrl, ann, '1'))).status).toBe(200);
    await eventually(async () => {
      const answer = (await messages(app.appId, app.auth, conversationId)).at(-1)!;
      expect(answer).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: '1', payload: 'SPICY_YES' } });
    });
  });

  it('postback buttons become numbered lines and a typed number answers; link buttons become "Label: url" lines', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, {
      type: 'text',
      text: 'Which size?',
      actions: [{ type: 'postback', text: 'Small', payload: 'SIZE_S' }, { type: 'postback', text: 'Large', payload: 'SIZE_L' }, { type: 'link', text: 'Size guide', uri: 'https://tacos.example/sizes' }],
    });
    await eventFor('conversation:message:delivery:channel', id);
    expect(dmCalls(ann.id, 'Which size?').map((c) => c.body)).toEqual([{ text: 'Which size?\n\n1. Small\n2. Large\n\nSize guide: https://tacos.example/sizes\n\nReply with the number of your choice.' }]);
    expect((await hook(await fake.text(integration.webhookUrl, ann, '2'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'SIZE_L', text: 'Large' }));
  });

  it('an image goes up through X\'s chunked upload and out attached to the DM, its text as the caption', async () => {
    const conversationId = await conversationOf(ann.id);
    const png = await noisePng(600, 600, 7);
    const mediaUrl = files.add('special.png', png, 'image/png');
    const id = await post(conversationId, { type: 'image', mediaUrl, text: 'Today only' });
    await eventFor('conversation:message:delivery:channel', id);
    const [sent] = sentTo(ann.id, (t) => t === 'Today only');
    expect(sent!.media).toMatchObject({ type: 'image/png' });
    expect(sent!.media!.bytes.byteLength).toBe(png.byteLength);
    expect(await sha256(sent!.media!.bytes)).toBe(await sha256(png));
    const upload = fake.callsTo(/^\/2\/media\/upload/).filter((c) => c.path.includes(sent!.media!.id) || c.path.endsWith('/initialize'));
    expect(upload.map((c) => `${c.path.replace(sent!.media!.id, 'ID')} ${c.status}`)).toEqual(['/2/media/upload/initialize 200', '/2/media/upload/ID/append 200', '/2/media/upload/ID/append 200', '/2/media/upload/ID/finalize 200']);
    expect(dmCalls(ann.id, 'Today only').map((c) => c.body)).toEqual([{ text: 'Today only', attachments: [{ media_id: sent!.media!.id }] }]);
  });

  it('a 429 is retried after x-rate-limit-reset, then the DM goes out once', async () => {
    const conversationId = await conversationOf(ann.id);
    fake.failNext(1, { status: 429, body: xErrors(88, 'Rate limit exceeded'), headers: { 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000)) } });
    const id = await post(conversationId, { type: 'text', text: 'after the limit' });
    await eventFor('conversation:message:delivery:channel', id);
    expect(dmCalls(ann.id, 'after the limit').map((c) => [c.status, c.code])).toEqual([[429, '88'], [201, undefined]]);
    expect(sentTo(ann.id, (t) => t === 'after the limit')).toHaveLength(1);
  });

  it('a user who does not accept DMs fails the delivery for good with X\'s answer', async () => {
    const conversationId = await conversationOf(ann.id);
    fake.closed.add(ann.id);
    try {
      const id = await post(conversationId, { type: 'text', text: 'are you there?' });
      const failure = await eventFor('conversation:message:delivery:failure', id);
      expect(failure.payload.error).toEqual({ code: 'http_403', message: 'You are not permitted to create a DM with the specified participant.' });
      expect(dmCalls(ann.id, 'are you there?')).toHaveLength(1);
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
  it('deleting the integration unsubscribes the account and deletes its X webhook', async () => {
    const webhookId = [...fake.webhooks.keys()][0]!;
    const res = await call('DELETE', `/v2/apps/${app.appId}/integrations/${integration.id}`, app.auth);
    expect(res.status).toBe(200);
    expect(fake.calls.find((c) => c.method === 'DELETE' && c.path === `/2/webhooks/${webhookId}`)).toMatchObject({ status: 200, auth: 'app' });
    expect(fake.webhooks.size).toBe(0);
    expect(fake.subscriptions.size).toBe(0);
  });
});
