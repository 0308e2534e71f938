/** The X (Twitter) DM adapter against the X v2 fake: OAuth 1.0a signing (X's test vector), config, v2 setup with its CRC and app token, signatures and replays, every inbound kind, v2 DM sends with choices as numbered text, media through X's chunked upload, failures, media downloads. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { authorizationHeader, oauthSignature, signatureBaseString } from '../../../src/channels/oauth1';
import { render } from '../../../src/channels/render';
import { hmacBase64 } from '../../../src/channels/signing';
import { CHOICE_PREFIX, failureOf, MAX_EVENT_AGE_MS, twitter, type TwitterConfig } from '../../../src/channels/twitter';
import { CHUNK_BYTES } from '../../../src/channels/twitter-media';
import { describeIssue } from '../../../src/schema/common';
import { FileHost, noisePng, parseAuthorizationHeader, TwitterFake, xErrors, xProblem, type XUser } from '../../fakes/twitter';

const API = 'https://api.twitter.test';
const WEBHOOK = 'https://parley.test/hooks/int_twitter';
const ANN: XUser = { id: '9007199254740993', name: 'Ann Lee', screen_name: 'annlee', profile_image_url_https: 'https://pbs.twimg.com/profile_images/1/ann_normal.jpg' };

async function inbound(request: Request, now = Date.now()): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

/** The adapter's fetch: X's API to the fake, the business's files to a file host. */
const fetchVia = (fake: TwitterFake, files = new FileHost()) =>
  ((input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    return new URL(request.url).origin === files.origin ? files.fetch(request) : fake.fetch(request);
  }) as typeof globalThis.fetch;

/** What Parley's /hooks endpoint does with X's CRC GET: the adapter's handshake. */
const parleyCrc = (config: () => TwitterConfig) => async (request: Request) => twitter.handshake!(new URL(request.url), config());

function configFor(fake: TwitterFake, extra: Record<string, unknown> = {}): TwitterConfig {
  return v.parse(twitter.createSchema, {
    tier: 'enterprise',
    consumerKey: fake.consumerKey,
    consumerSecret: fake.consumerSecret,
    accessTokenKey: fake.accessToken,
    accessTokenSecret: fake.accessTokenSecret,
    apiBaseUrl: API,
    ...extra,
  });
}

/** An account set up through the adapter's own setup, X's CRC answered by the adapter as Parley would. */
async function connected(extra: Record<string, unknown> = {}, options: ConstructorParameters<typeof TwitterFake>[0] = {}) {
  let config: TwitterConfig | undefined;
  const fake = new TwitterFake({ origin: API, webhookFetch: parleyCrc(() => config!), ...options });
  const files = new FileHost();
  config = configFor(fake, extra);
  const fetch = fetchVia(fake, files);
  const outcome = await twitter.setup!({ config, fetch, webhookUrl: WEBHOOK });
  expect(outcome).toMatchObject({ status: 'active' });
  config = { ...config, ...outcome.config };
  const ctx: ChannelContext<TwitterConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config, files };
}

const parsed = async (config: TwitterConfig, request: Promise<Request>) => twitter.parse(await inbound(await request), config);
const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const media = (url: string, extra: Partial<Extract<Part, { kind: 'media' }>> = {}): Part => ({ kind: 'media', media: 'image', url, buttons: [], replies: [], ...extra });
const lastSent = (fake: TwitterFake, to = ANN.id) => fake.sent.get(to)!.at(-1)!;
const DM = `/2/dm_conversations/with/${ANN.id}/messages`;
/** A digest to compare a megabyte by (a deep equality of the bytes walks them one by one). */
const sha256 = async (bytes: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('');

describe('OAuth 1.0a', () => {
  // X's "Creating a signature" page: POST statuses/update with these parameters and secrets.
  const params: [string, string][] = [
    ['status', 'Hello Ladies + Gentlemen, a signed OAuth request!'],
    ['oauth_consumer_key', 'xvz1evFS4wEEPTGEFPHBog'],
    ['oauth_nonce', 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg'],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', '1318622958'],
    ['oauth_token', '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb'],
    ['oauth_version', '1.0'],
  ];
  const CONSUMER_SECRET = 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw';
  const TOKEN_SECRET = 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE';

  it('builds X\'s example signature base string, query parameters included and sorted', () => {
    expect(signatureBaseString('post', 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true', params)).toBe(
      'POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521',
    );
  });

  it('matches X\'s published signatures for the v1.1 URL on both hosts (and the original v1 one)', async () => {
    const sign = (url: string) => oauthSignature('POST', `${url}?include_entities=true`, params, CONSUMER_SECRET, TOKEN_SECRET);
    expect(await sign('https://api.twitter.com/1.1/statuses/update.json')).toBe('hCtSmYh+iHYCEqBWrE7C7hYmtUk=');
    expect(await sign('https://api.x.com/1.1/statuses/update.json')).toBe('Ls93hJiZbQ3akF3HF3x1Bz8/zU4=');
    expect(await sign('https://api.twitter.com/1/statuses/update.json')).toBe('tnnArxj06cWHq44gCs1OSKk/jLY=');
  });

  it('writes the Authorization header X expects, every value percent-encoded, and reads it back', async () => {
    const creds = { consumerKey: 'xvz1evFS4wEEPTGEFPHBog', consumerSecret: CONSUMER_SECRET, token: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb', tokenSecret: TOKEN_SECRET };
    const header = await authorizationHeader(creds, 'POST', 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true', {
      nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
      timestamp: 1318622958,
      bodyParams: [['status', 'Hello Ladies + Gentlemen, a signed OAuth request!']],
    });
    expect(header).toMatch(/^OAuth oauth_consumer_key="xvz1evFS4wEEPTGEFPHBog", oauth_nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", oauth_signature_method="HMAC-SHA1", oauth_timestamp="1318622958", /);
    expect(header).toContain('oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"');
    expect(parseAuthorizationHeader(header)!.get('oauth_signature')).toBe('hCtSmYh+iHYCEqBWrE7C7hYmtUk=');
  });
});

describe('twitter config', () => {
  it('requires the tier and the four keys, naming each field', () => {
    const issues = v.safeParse(twitter.createSchema, {}).issues!.map(describeIssue);
    expect(issues).toEqual(expect.arrayContaining(['tier: is required', 'consumerKey: is required', 'consumerSecret: is required', 'accessTokenKey: is required', 'accessTokenSecret: is required']));
  });

  it('still takes v1.1\'s tiers and envName (the official client sends them), which v2 no longer uses', () => {
    const fake = new TwitterFake();
    expect(configFor(fake, { tier: 'premium' })).toMatchObject({ tier: 'premium' });
    expect(configFor(fake, { tier: 'sandbox', envName: 'dev' })).toMatchObject({ tier: 'sandbox', envName: 'dev' });
    expect(describeIssue(v.safeParse(twitter.createSchema, { ...configFor(fake), envName: '../webhooks' }).issues![0])).toMatch(/^envName: must be the dev environment label/);
    expect(describeIssue(v.safeParse(twitter.createSchema, { ...configFor(fake), tier: 'gold' }).issues![0])).toBe('tier: must be one of enterprise, premium, sandbox');
  });

  it('lets a PATCH rotate the access token only (the consumer secret answers the CRC, so a new app is a new integration)', () => {
    const fake = new TwitterFake();
    expect(v.parse(twitter.updateSchema, { accessTokenKey: fake.accessToken, consumerSecret: 'NewConsumerSecret0000', tier: 'sandbox' })).toEqual({ accessTokenKey: fake.accessToken });
    expect(describeIssue(v.safeParse(twitter.updateSchema, { accessTokenKey: 'not-a-token' }).issues![0])).toMatch(/^accessTokenKey: must be the account's access token/);
  });

  it('never takes what setup learns from the body, seals the secrets, and shows the account', () => {
    const fake = new TwitterFake();
    expect(configFor(fake, { userId: '1', screenName: 'evil', webhookId: '2' })).not.toHaveProperty('userId');
    expect(twitter.secretFields).toEqual(['consumerSecret', 'accessTokenKey', 'accessTokenSecret']);
    const view = twitter.view({ ...configFor(fake), userId: '42', screenName: 'TacoSupport', webhookId: '7' });
    expect(view).toEqual({ tier: 'enterprise', envName: undefined, consumerKey: fake.consumerKey, userId: '42', screenName: 'TacoSupport' });
    expect(JSON.stringify(view)).not.toContain(fake.consumerSecret);
  });

  it('declares no buttons or quick replies (v2 DMs carry text and one attachment) and images and videos as media', () => {
    expect(twitter.capabilities).toMatchObject({ textMax: 10_000, captionMax: 10_000, media: ['image', 'video'], postbackButtons: 0, linkButtons: 0, quickReplies: 0, carousel: null });
    expect(twitter.defaultApiBase).toBe('https://api.x.com');
    expect(twitter.typing).toBeUndefined();
  });
});

describe('twitter setup, CRC and teardown', () => {
  it('reads the account as the user, gets the app\'s Bearer token, registers the webhook as the app after X\'s CRC, subscribes as the user', async () => {
    const { fake, config } = await connected();
    expect(fake.calls.map((c) => `${c.method} ${c.path} ${c.status} ${c.auth}`)).toEqual([
      'GET /2/users/me 200 user',
      'POST /oauth2/token 200 basic',
      'POST /2/webhooks 200 app',
      `POST /2/account_activity/webhooks/${config.webhookId}/subscriptions/all 200 user`,
    ]);
    expect(fake.calls[1]!.body).toBe('grant_type=client_credentials');
    expect(fake.calls[2]!.body).toEqual({ url: WEBHOOK });
    expect(fake.calls[3]!.body).toEqual({});
    expect(fake.crcChecks).toEqual([{ url: WEBHOOK, status: 200, valid: true }]);
    expect(fake.subscriptions).toEqual(new Set([`${config.webhookId}:${fake.account.id_str}`]));
    // The account id is above 2^53: kept as X's string, every digit.
    expect(config).toMatchObject({ userId: '1318622958123456789', screenName: 'TacoSupport' });
  });

  it('sets up a premium or sandbox integration the same way: v2 has no dev environments', async () => {
    const { fake } = await connected({ tier: 'sandbox', envName: 'dev' });
    expect(fake.calls.map((c) => c.path).filter((p) => p.includes('dev') || p.startsWith('/1.1/'))).toEqual([]);
    expect(fake.webhooks.size).toBe(1);
  });

  it('answers a CRC with base64 HMAC-SHA256 of the token keyed by the consumer secret, and refuses a GET without one', async () => {
    const config = configFor(new TwitterFake());
    const res = await twitter.handshake!(new URL(`${WEBHOOK}?crc_token=challenge%2B1`), config);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ response_token: `sha256=${await hmacBase64('SHA-256', config.consumerSecret, 'challenge+1')}` });
    // X's own example answer shape: "sha256=" then 44 base64 characters.
    expect(((await (await twitter.handshake!(new URL(`${WEBHOOK}?crc_token=x`), config)).json()) as { response_token: string }).response_token).toMatch(/^sha256=[A-Za-z0-9+/]{43}=$/);
    await expect(Promise.resolve().then(() => twitter.handshake!(new URL(WEBHOOK), config))).rejects.toThrow(/crc_token is required/);
  });

  it('refuses a crc_token that could be a body: the CRC answer must never sign a forged webhook', async () => {
    const fake = new TwitterFake();
    const config = configFor(fake);
    const forged = JSON.stringify({ for_user_id: fake.account.id_str, direct_message_events: [{ type: 'message_create', id: '1', created_timestamp: String(Date.now()), message_create: { target: { recipient_id: fake.account.id_str }, sender_id: '999', message_data: { text: 'forged by a stranger' } } }] });
    await expect(Promise.resolve().then(() => twitter.handshake!(new URL(`${WEBHOOK}?crc_token=${encodeURIComponent(forged)}`), config))).rejects.toThrow(/opaque token/);
    await expect(Promise.resolve().then(() => twitter.handshake!(new URL(`${WEBHOOK}?crc_token=${'a'.repeat(256)}`), config))).rejects.toThrow(/opaque token/);
    // X's own token shape still passes.
    expect((await twitter.handshake!(new URL(`${WEBHOOK}?crc_token=9b4507b3-9040-4669-9ca3-6b94edb50553`), config)).status).toBe(200);
  });

  it('is an error naming X\'s reason when the CRC fails, and nothing is registered', async () => {
    const fake = new TwitterFake({ origin: API, webhookFetch: async () => Response.json({ response_token: 'sha256=wrong' }) });
    const outcome = await twitter.setup!({ config: configFor(fake), fetch: fetchVia(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/^X refused the webhook https:\/\/parley\.test\/hooks\/int_twitter \(invalid-request: One or more parameters to your request was invalid\.: CrcValidationFailed\)/);
    expect(fake.webhooks.size).toBe(0);
    expect(fake.subscriptions.size).toBe(0);
  });

  it('says what to do when the X app already has its one webhook (X Pro): a second account under the same app is not set up', async () => {
    const { fake, ctx } = await connected();
    const second = await twitter.setup!({ ...ctx, config: { ...ctx.config, webhookId: undefined }, webhookUrl: 'https://parley.test/hooks/int_twitter_2' });
    expect(second.status).toBe('error');
    expect(second.error).toBe(
      `X refused the webhook https://parley.test/hooks/int_twitter_2 (WebhookLimitExceeded): the X app (consumer key ${fake.consumerKey}) already has as many webhooks as its plan allows (one on Pro), and every Parley X integration registers its own; use a separate X app for each account, or a plan that allows more webhooks, or delete the app's other webhook`,
    );
    expect(fake.callsTo('/2/webhooks').at(-1)).toMatchObject({ method: 'POST', status: 400 });
    expect([...fake.webhooks.values()].map((h) => h.url)).toEqual([WEBHOOK]);
  });

  it('is an error pointing at the keys when X cannot authenticate the user (a wrong secret breaks the signature)', async () => {
    const fake = new TwitterFake({ origin: API });
    const outcome = await twitter.setup!({ config: { ...configFor(fake), accessTokenSecret: 'WrongSecretWrongSecret' }, fetch: fetchVia(fake), webhookUrl: WEBHOOK });
    expect(outcome).toEqual({ status: 'error', error: expect.stringMatching(/^X refused the credentials \(http_401: Unauthorized\); use your app's API key/) });
    expect(fake.calls).toHaveLength(1);
  });

  it('is an error when X will not give the app a Bearer token for its keys, and no webhook is registered', async () => {
    const fake = new TwitterFake({ origin: API });
    // The account's signature passes (its keys are right), but X's token exchange for this app refuses.
    const refusing = ((input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input, init);
      return new URL(request.url).pathname === '/oauth2/token' ? Promise.resolve(Response.json(xErrors(99, 'Unable to verify your credentials'), { status: 403 })) : fake.fetch(request);
    }) as typeof globalThis.fetch;
    const outcome = await twitter.setup!({ config: configFor(fake), fetch: refusing, webhookUrl: WEBHOOK });
    expect(outcome).toEqual({ status: 'error', error: 'X did not give the app a Bearer token for its API key and secret (99: Unable to verify your credentials)' });
    expect(fake.webhooks.size).toBe(0);
  });

  it('setting up again removes the webhook it registered before (as the app); teardown unsubscribes and deletes the webhook', async () => {
    const { fake, ctx } = await connected();
    const first = ctx.config.webhookId!;
    const again = await twitter.setup!(ctx);
    expect(fake.calls.find((c) => c.method === 'DELETE' && c.path === `/2/webhooks/${first}`)).toMatchObject({ status: 200, auth: 'app' });
    expect([...fake.webhooks.keys()]).toEqual([again.config!.webhookId]);
    const next = { ...ctx, config: { ...ctx.config, ...again.config } };
    await twitter.teardown!(next);
    expect(fake.calls.slice(-3).map((c) => `${c.method} ${c.path} ${c.status} ${c.auth}`)).toEqual([
      'POST /oauth2/token 200 basic',
      `DELETE /2/account_activity/webhooks/${next.config.webhookId}/subscriptions/${fake.account.id_str}/all 200 app`,
      `DELETE /2/webhooks/${next.config.webhookId} 200 app`,
    ]);
    expect(fake.webhooks.size).toBe(0);
    expect(fake.subscriptions.size).toBe(0);
    // A webhook X no longer knows (set up under v1.1, or removed by hand) is already gone: teardown succeeds.
    await expect(twitter.teardown!(next)).resolves.toBeUndefined();
  });

  it('reuses a webhook X already holds for the URL (found with GET /2/webhooks, re-checked with PUT) and confirms an existing subscription', async () => {
    const { fake, ctx } = await connected();
    // Setup runs again without knowing the webhook it made (as after a failed save).
    const again = await twitter.setup!({ ...ctx, config: { ...ctx.config, webhookId: undefined } });
    expect(again).toMatchObject({ status: 'active', config: { webhookId: ctx.config.webhookId } });
    expect(fake.calls.slice(-5).map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'POST /2/webhooks 400',
      'GET /2/webhooks 200',
      `PUT /2/webhooks/${ctx.config.webhookId} 200`,
      `POST /2/account_activity/webhooks/${ctx.config.webhookId}/subscriptions/all 400`,
      `GET /2/account_activity/webhooks/${ctx.config.webhookId}/subscriptions/all 200`,
    ]);
    expect(fake.crcChecks).toHaveLength(2);
  });
});

describe('twitter signatures and replays', () => {
  it('accepts X\'s signature over the exact bytes; refuses a tampered body (403), a missing header (401), another app\'s secret (403)', async () => {
    const { fake, config } = await connected();
    const signed = await fake.text(WEBHOOK, ANN, 'pay 10');
    expect(await twitter.verify(await inbound(signed.clone()), config)).toEqual({ ok: true });
    const tampered = new Request(WEBHOOK, { method: 'POST', headers: signed.headers, body: (await signed.clone().text()).replace('pay 10', 'pay 99') });
    expect(await twitter.verify(await inbound(tampered), config)).toMatchObject({ ok: false, status: 403 });
    const unsigned = new Request(WEBHOOK, { method: 'POST', body: await signed.clone().text() });
    expect(await twitter.verify(await inbound(unsigned), config)).toEqual({ ok: false, status: 401, reason: 'Missing X-Twitter-Webhooks-Signature' });
    const other = await fake.signed(WEBHOOK, await signed.clone().text(), 'AnotherAppsConsumerSecret0000');
    expect(await twitter.verify(await inbound(other), config)).toMatchObject({ ok: false, status: 403 });
  });

  it('refuses a correctly signed body holding an event older than 7 days as a replay; X\'s 4-hour retries still pass', async () => {
    const { fake, config } = await connected();
    const now = Date.now();
    const old = await fake.text(WEBHOOK, ANN, 'old', { createdAt: now - MAX_EVENT_AGE_MS - 60_000 });
    expect(await twitter.verify(await inbound(old, now), config)).toEqual({ ok: false, status: 403, reason: 'The events are older than 7 days: refused as a replay' });
    const retried = await fake.text(WEBHOOK, ANN, 'retried', { createdAt: now - 4 * 3_600_000 });
    expect(await twitter.verify(await inbound(retried, now), config)).toEqual({ ok: true });
  });
});

describe('twitter inbound', () => {
  it('turns a DM into a message from its sender, keyed by the 64-bit event id as a string, in epoch ms', async () => {
    const { fake, config } = await connected();
    const id = '1318622958999999999';
    const [event] = await parsed(config, fake.text(WEBHOOK, ANN, 'Hello from X', { id, createdAt: 1_765_000_000_123 }));
    expect(event).toEqual({
      kind: 'message',
      channelMessageId: id,
      timestamp: 1_765_000_000_123,
      user: { externalId: ANN.id, displayName: 'Ann Lee', avatarUrl: ANN.profile_image_url_https, info: { screenName: 'annlee' }, raw: { ...ANN } },
      content: { type: 'text', text: 'Hello from X' },
    });
  });

  it('expands t.co links in the text to what the user typed', async () => {
    const { fake, config } = await connected();
    const req = fake.message(WEBHOOK, ANN, { text: 'see https://t.co/abc123', entities: { urls: [{ url: 'https://t.co/abc123', expanded_url: 'https://tacos.example/menu', indices: [4, 23] }] } });
    expect((await parsed(config, req))[0]).toMatchObject({ content: { type: 'text', text: 'see https://tacos.example/menu' } });
  });

  it('reads a photo as image media whose ref is the private media URL, the caption without the media\'s own t.co link', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.photo(WEBHOOK, ANN, { caption: 'my cat' }));
    expect(event).toMatchObject({ kind: 'message', content: { type: 'media', text: 'my cat', media: { kind: 'image', ref: expect.stringMatching(new RegExp(`^${API}/1\\.1/ton/data/dm/\\d+/\\d+/oP5p359h\\.jpg$`)) } } });
  });

  it('reads a video by its best MP4 variant', async () => {
    const { fake, config } = await connected();
    const media = {
      media_url_https: 'https://pbs.twimg.com/dm_video_thumb/1/img/x.jpg',
      url: 'https://t.co/v',
      type: 'video',
      video_info: { variants: [{ bitrate: 256000, content_type: 'video/mp4', url: 'https://video.twimg.com/dm_video/1/vid/low.mp4' }, { content_type: 'application/x-mpegURL', url: 'https://video.twimg.com/dm_video/1/pl/x.m3u8' }, { bitrate: 832000, content_type: 'video/mp4', url: 'https://video.twimg.com/dm_video/1/vid/high.mp4' }] },
    };
    const [event] = await parsed(config, fake.message(WEBHOOK, ANN, { text: 'https://t.co/v', attachment: { type: 'media', media } }));
    expect(event).toMatchObject({ content: { type: 'media', media: { kind: 'video', ref: 'https://video.twimg.com/dm_video/1/vid/high.mp4', mimeType: 'video/mp4' } } });
    expect((event as { content: { text?: string } }).content.text).toBeUndefined();
  });

  it('reads a tapped quick reply Parley sent as that choice; another app\'s metadata stays the message\'s payload', async () => {
    const { fake, config } = await connected();
    const ours = fake.message(WEBHOOK, ANN, { text: 'Extra spicy', quick_reply_response: { type: 'options', metadata: `${CHOICE_PREFIX}3` } });
    expect(await parsed(config, ours)).toEqual([expect.objectContaining({ kind: 'postback', choice: 3, text: 'Extra spicy' })]);
    const theirs = fake.message(WEBHOOK, ANN, { text: 'Yes', quick_reply_response: { type: 'options', metadata: 'external_id_2' } });
    expect((await parsed(config, theirs))[0]).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Yes', payload: 'external_id_2' } });
  });

  it('turns typing and read events into typing and read', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.typing(WEBHOOK, ANN))).toEqual([expect.objectContaining({ kind: 'typing', state: 'start', user: expect.objectContaining({ externalId: ANN.id }) })]);
    expect(await parsed(config, fake.read(WEBHOOK, ANN, '1318622958000000001'))).toEqual([expect.objectContaining({ kind: 'read', channelMessageId: '1318622958000000001' })]);
  });

  it('ignores the account\'s own DMs (echoes) and events for another subscribed account', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.text(WEBHOOK, ANN, 'sent from the X app', { echo: true }))).toEqual([]);
    expect(await parsed(config, fake.text(WEBHOOK, ANN, 'for someone else', { forUserId: '783214' }))).toEqual([]);
    // Other activity (tweets, follows) is not for this channel.
    expect(await parsed(config, fake.signed(WEBHOOK, { for_user_id: config.userId!, follow_events: [{ type: 'follow' }] }))).toEqual([]);
  });

  it('refuses a body that is not an Account Activity payload as a bad request', async () => {
    const { fake, config } = await connected();
    await expect(parsed(config, fake.signed(WEBHOOK, { for_user_id: 42, direct_message_events: [] }))).rejects.toThrow(/for_user_id/);
    await expect(parsed(config, fake.signed(WEBHOOK, 'not json'))).rejects.toThrow(/not valid JSON/);
  });

  it("ignores an account revoking the app (user_event, which names no for_user_id) instead of refusing X's delivery", async () => {
    const { fake, config } = await connected();
    // X's example revoke payload (Account Activity data objects: user_event).
    const revoke = { user_event: { revoke: { date_time: '2018-05-24T09:48:12+00:00', target: { app_id: '13090192' }, source: { user_id: config.userId } } } };
    expect(await parsed(config, fake.signed(WEBHOOK, revoke))).toEqual([]);
  });
});

describe('twitter send', () => {
  it('sends text as a v2 DM to the participant, signed as the account, and returns X\'s 64-bit dm_event_id as a string', async () => {
    const { fake, ctx } = await connected();
    const outcome = await twitter.send(ctx, { externalId: ANN.id }, text('Hi Ann'));
    const sent = lastSent(fake);
    expect(outcome).toEqual({ ok: true, channelMessageId: sent.id });
    expect(BigInt(sent.id)).toBeGreaterThan(2n ** 53n);
    expect(fake.callsTo(DM).at(-1)).toMatchObject({ method: 'POST', status: 201, auth: 'user', body: { text: 'Hi Ann' } });
  });

  it('writes choices X cannot show as numbered lines and links as "Label: url" lines, in one DM', async () => {
    const { fake, ctx } = await connected();
    const { parts, choices } = render(
      { content: { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes please', payload: 'SPICY_YES' }, { type: 'postback', text: 'Ask me later', payload: 'LATER' }, { type: 'link', text: 'Menu', uri: 'https://tacos.example/menu' }] } as never },
      twitter.capabilities,
      'twitter',
    );
    expect(parts).toHaveLength(1);
    expect(await twitter.send(ctx, { externalId: ANN.id }, parts[0]!)).toMatchObject({ ok: true });
    expect(fake.callsTo(DM).at(-1)!.body).toEqual({ text: 'Spicy?\n\n1. Ask me later\n2. Yes please\n\nMenu: https://tacos.example/menu\n\nReply with the number of your choice.' });
    expect(choices.map((c) => [c.number, c.payload, c.numbered])).toEqual([[1, 'LATER', true], [2, 'SPICY_YES', true]]);
  });

  it('turns a carousel into one numbered text', async () => {
    const { fake, ctx } = await connected();
    const { parts } = render(
      {
        content: {
          type: 'carousel',
          items: [
            { title: 'Tacos', description: 'Crunchy', mediaUrl: 'https://cdn.example/tacos.jpg', actions: [{ type: 'postback', text: 'Order tacos', payload: 'ORDER_TACOS' }, { type: 'link', text: 'Menu', uri: 'https://tacos.example/menu' }] },
            { title: 'Ramen', actions: [{ type: 'postback', text: 'Order ramen', payload: 'ORDER_RAMEN' }] },
          ],
        } as never,
      },
      twitter.capabilities,
      'twitter',
    );
    expect(parts.map((p) => p.kind)).toEqual(['text']);
    expect(await twitter.send(ctx, { externalId: ANN.id }, parts[0]!)).toMatchObject({ ok: true });
    expect(lastSent(fake).text).toBe('Tacos\nCrunchy\n1. Order tacos\nMenu: https://tacos.example/menu\n\nRamen\n2. Order ramen\n\nReply with the number of your choice.');
  });

  it('classifies X\'s errors: 429 retries after x-rate-limit-reset, 5xx and capacity retry, the rest is permanent with X\'s code', async () => {
    const { fake, ctx } = await connected();
    const to = { externalId: ANN.id };
    const reset = Math.floor(Date.now() / 1000) + 120;
    fake.failNext(1, { status: 429, body: xErrors(88, 'Rate limit exceeded'), headers: { 'x-rate-limit-reset': String(reset) } });
    const limited = await twitter.send(ctx, to, text('x'));
    expect(limited).toMatchObject({ ok: false, retryable: true, code: '88', message: 'Rate limit exceeded' });
    expect((limited as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect((limited as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(120_000);
    fake.failNext(1, { status: 429, body: xProblem(429, 'Too Many Requests', 'Too Many Requests'), headers: { 'x-rate-limit-reset': String(reset) } });
    expect(await twitter.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_429', message: 'Too Many Requests', retryAfterMs: expect.any(Number) });
    fake.failNext(1);
    expect(await twitter.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: true, code: 'http_503', message: 'Service Unavailable' });
    fake.failNext(1, { status: 503, body: xErrors(130, 'Over capacity') });
    expect(await twitter.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: true, code: '130', message: 'Over capacity' });
    fake.closed.add(ANN.id);
    expect(await twitter.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: false, code: 'http_403', message: 'You are not permitted to create a DM with the specified participant.' });
    fake.closed.delete(ANN.id);
    expect(await twitter.send(ctx, to, text('x'.repeat(10_001)))).toMatchObject({ ok: false, retryable: false, code: 'invalid-request', message: 'One or more parameters to your request was invalid.: $.text: must be at most 10000 characters' });
    expect(await failureOf(new Response('<html>bad gateway</html>', { status: 502 }))).toEqual({ ok: false, retryable: true, code: 'http_502', message: 'X answered HTTP 502' });
    expect(fake.sent.get(ANN.id)).toBeUndefined();
  });

  it('sends a native payload as the v2 DM body to the conversation\'s participant, and refuses fields v2 DMs do not have', async () => {
    const { fake, ctx } = await connected();
    expect(twitter.checkNative({ text: 'x', quick_reply: { type: 'options', options: [] } })).toBe('override.twitter.payload.quick_reply is not allowed (allowed: text, attachments)');
    expect(twitter.checkNative({ text: 'x', participant_id: '1' })).toMatch(/participant_id is not allowed/);
    expect(await twitter.send(ctx, { externalId: ANN.id }, { kind: 'native', payload: { text: 'From the override' } })).toMatchObject({ ok: true });
    expect(lastSent(fake)).toMatchObject({ text: 'From the override' });
    expect(await twitter.send(ctx, { externalId: ANN.id }, { kind: 'native', payload: { ctas: [] } })).toMatchObject({ ok: false, retryable: false, code: 'invalid_part' });
  });
});

describe('twitter media out', () => {
  it('uploads a real PNG through X\'s chunked upload (initialize, two 1 MiB appends, finalize) and attaches it with the caption as the text', async () => {
    const { fake, ctx, files } = await connected();
    const png = await noisePng(600, 600);
    expect(png.byteLength).toBeGreaterThan(CHUNK_BYTES);
    const url = files.add('menu.png', png, 'image/png');
    const outcome = await twitter.send(ctx, { externalId: ANN.id }, media(url, { caption: "Today's menu" }));
    expect(outcome).toMatchObject({ ok: true });
    const upload = fake.callsTo(/^\/2\/media\/upload/);
    const mediaId = (lastSent(fake).media ?? { id: '' }).id;
    expect(upload.map((c) => `${c.method} ${c.path} ${c.status} ${c.auth}`)).toEqual([
      'POST /2/media/upload/initialize 200 user',
      `POST /2/media/upload/${mediaId}/append 200 user`,
      `POST /2/media/upload/${mediaId}/append 200 user`,
      `POST /2/media/upload/${mediaId}/finalize 200 user`,
    ]);
    expect(upload[0]!.body).toEqual({ media_type: 'image/png', total_bytes: png.byteLength, media_category: 'dm_image' });
    expect(upload.slice(1, 3).map((c) => (c.body as Record<string, string>).segment_index)).toEqual(['0', '1']);
    expect(fake.callsTo(DM).at(-1)!.body).toEqual({ text: "Today's menu", attachments: [{ media_id: mediaId }] });
    // X received the image byte for byte.
    expect(lastSent(fake).media!.bytes.byteLength).toBe(png.byteLength);
    expect(await sha256(lastSent(fake).media!.bytes)).toBe(await sha256(png));
    expect(lastSent(fake).media!.type).toBe('image/png');
  });

  it('waits for X to process a video (STATUS after check_after_secs) before attaching it', async () => {
    const { fake, ctx, files } = await connected();
    const url = files.add('clip.mp4', new TextEncoder().encode('\x00\x00\x00\x18ftypmp42 a short clip'), 'video/mp4');
    expect(await twitter.send(ctx, { externalId: ANN.id }, media(url, { media: 'video' }))).toMatchObject({ ok: true });
    const calls = fake.callsTo(/^\/2\/media\/upload/);
    expect(calls.map((c) => `${c.method} ${c.path.replace(/\d{10,}/, 'ID')}`)).toEqual(['POST /2/media/upload/initialize', 'POST /2/media/upload/ID/append', 'POST /2/media/upload/ID/finalize', 'GET /2/media/upload']);
    expect(calls[0]!.body).toMatchObject({ media_type: 'video/mp4', media_category: 'dm_video' });
    expect(calls[3]!.query).toEqual({ command: 'STATUS', media_id: lastSent(fake).media!.id });
    expect(fake.callsTo(DM).at(-1)!.body).toEqual({ attachments: [{ media_id: lastSent(fake).media!.id }] });
  });

  it('sends the link instead when X does not take the file type: one X does not document (no upload), or one X refuses at initialize', async () => {
    const { fake, ctx, files } = await connected({}, { mediaTypes: ['image/jpeg', 'image/png', 'video/mp4'] });
    const bmp = files.add('scan.bmp', new Uint8Array([0x42, 0x4d, 1, 2, 3]), 'image/bmp');
    expect(await twitter.send(ctx, { externalId: ANN.id }, media(bmp, { caption: 'The scan' }))).toMatchObject({ ok: true });
    expect(lastSent(fake)).toEqual({ id: expect.any(String), text: `The scan\n${bmp}` });
    expect(fake.callsTo(/^\/2\/media\/upload/)).toHaveLength(0);
    expect(files.gets).toEqual(['/scan.bmp']);

    const webp = files.add('logo.webp', new TextEncoder().encode('RIFF....WEBPVP8 '), 'image/webp');
    expect(await twitter.send(ctx, { externalId: ANN.id }, media(webp))).toMatchObject({ ok: true });
    expect(fake.callsTo('/2/media/upload/initialize').map((c) => [c.status, c.code])).toEqual([[400, 'https://api.twitter.com/2/problems/invalid-request']]);
    expect(lastSent(fake)).toEqual({ id: expect.any(String), text: webp });
  });

  it('sends the caption and the link over X\'s size limit (nothing lost); fails for good when the file is gone; nothing is uploaded', async () => {
    const { fake, ctx, files } = await connected();
    const big = files.add('huge.jpg', new Uint8Array(5 * 1024 * 1024 + 1), 'image/jpeg');
    const gif = files.add('loop.gif', new Uint8Array(15 * 1024 * 1024 + 1), 'image/gif');
    expect(await twitter.send(ctx, { externalId: ANN.id }, media(big, { caption: 'The big one' }))).toMatchObject({ ok: true });
    expect(await twitter.send(ctx, { externalId: ANN.id }, media(gif))).toMatchObject({ ok: true });
    expect(fake.sent.get(ANN.id)!.map((m) => m.text)).toEqual([`The big one\n${big}`, gif]);
    expect(await twitter.send(ctx, { externalId: ANN.id }, media(`${files.origin}/gone.png`))).toMatchObject({ ok: false, retryable: false, code: 'media_unavailable' });
    expect(fake.callsTo(/^\/2\/media\/upload/)).toHaveLength(0);
    expect(fake.sent.get(ANN.id)).toHaveLength(2);
  });
});

describe('twitter media', () => {
  it('downloads DM media with an OAuth-signed GET; the host refuses an unsigned one', async () => {
    const { fake, ctx, config } = await connected();
    const bytes = new TextEncoder().encode('jpeg!');
    const [event] = await parsed(config, fake.photo(WEBHOOK, ANN, { bytes }));
    const ref = (event as { content: { media: { ref: string } } }).content.media.ref;
    const response = await twitter.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    expect(fake.calls.at(-1)!.headers.authorization).toMatch(/^OAuth /);
    expect((await fake.fetch(new Request(ref))).status).toBe(401);
  });

  it('never sends the account\'s OAuth header to a host that is not X\'s', async () => {
    const { ctx } = await connected();
    await expect(twitter.fetchMedia!(ctx, 'https://evil.example/steal.jpg')).rejects.toThrow(/not an X host/);
  });
});
