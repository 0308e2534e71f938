/** The X (Twitter) DM adapter against the X fake: OAuth 1.0a signing (X's test vector), config, setup with its CRC, signatures and replays, every inbound kind, send encodings and fallbacks, failures, media. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { authorizationHeader, oauthSignature, signatureBaseString } from '../../../src/channels/oauth1';
import { render } from '../../../src/channels/render';
import { hmacBase64 } from '../../../src/channels/signing';
import { CHOICE_PREFIX, failureOf, MAX_EVENT_AGE_MS, twitter, type TwitterConfig } from '../../../src/channels/twitter';
import { describeIssue } from '../../../src/schema/common';
import { parseAuthorizationHeader, TwitterFake, type XUser } from '../../fakes/twitter';

const API = 'https://api.twitter.test';
const WEBHOOK = 'https://parley.test/hooks/int_twitter';
const ANN: XUser = { id: '9007199254740993', name: 'Ann Lee', screen_name: 'annlee', profile_image_url_https: 'https://pbs.twimg.com/profile_images/1/ann_normal.jpg' };

async function inbound(request: Request, now = Date.now()): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

const fetchVia = (fake: TwitterFake) => ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof globalThis.fetch;

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
async function connected(extra: Record<string, unknown> = {}) {
  let config: TwitterConfig | undefined;
  const fake = new TwitterFake({ origin: API, webhookFetch: parleyCrc(() => config!) });
  config = configFor(fake, extra);
  const fetch = fetchVia(fake);
  const outcome = await twitter.setup!({ config, fetch, webhookUrl: WEBHOOK });
  expect(outcome).toMatchObject({ status: 'active' });
  config = { ...config, ...outcome.config };
  const ctx: ChannelContext<TwitterConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

const parsed = async (config: TwitterConfig, request: Promise<Request>) => twitter.parse(await inbound(await request), config);
const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const lastSent = (fake: TwitterFake, to = ANN.id) => (fake.sent.get(to)!.at(-1)!.message_create as { message_data: Record<string, unknown> }).message_data;

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

  it('requires envName for the premium and sandbox tiers, and keeps it to a path-safe label', () => {
    const fake = new TwitterFake();
    expect(() => configFor(fake, { tier: 'sandbox' })).toThrow();
    expect(describeIssue(v.safeParse(twitter.createSchema, { ...configFor(fake), tier: 'premium' }).issues![0])).toBe('envName: is required for the premium and sandbox tiers');
    expect(describeIssue(v.safeParse(twitter.createSchema, { ...configFor(fake), tier: 'premium', envName: '../webhooks' }).issues![0])).toMatch(/^envName: must be the dev environment label/);
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
});

describe('twitter setup, CRC and teardown', () => {
  it('enterprise: reads the account, registers the webhook after X\'s CRC, subscribes the account to it', async () => {
    const { fake, config } = await connected();
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /1.1/account/verify_credentials.json',
      'POST /1.1/account_activity/webhooks.json',
      `POST /1.1/account_activity/webhooks/${config.webhookId}/subscriptions/all.json`,
    ]);
    expect(fake.calls[1]!.query).toEqual({ url: WEBHOOK });
    expect(fake.calls.every((c) => c.status < 300 && c.headers.authorization!.startsWith('OAuth '))).toBe(true);
    expect(fake.crcChecks).toEqual([{ url: WEBHOOK, status: 200, valid: true }]);
    expect(fake.subscriptions).toEqual(new Set([`${config.webhookId}:${fake.account.id_str}`]));
    // The account id is above 2^53: kept from id_str, every digit.
    expect(config).toMatchObject({ userId: '1318622958123456789', screenName: 'TacoSupport' });
  });

  it('premium and sandbox: the dev environment\'s webhook and subscription endpoints; setting up again finds the subscription kept (355)', async () => {
    const { fake, ctx, config } = await connected({ tier: 'sandbox', envName: 'dev' });
    expect(fake.calls.slice(1).map((c) => `${c.method} ${c.path}`)).toEqual(['POST /1.1/account_activity/all/dev/webhooks.json', 'POST /1.1/account_activity/all/dev/subscriptions.json']);
    expect(fake.webhooks.get(config.webhookId!)).toMatchObject({ env: 'dev', url: WEBHOOK });
    const again = await twitter.setup!(ctx);
    expect(fake.calls.slice(-3).map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      `DELETE /1.1/account_activity/all/dev/webhooks/${config.webhookId}.json 204`,
      'POST /1.1/account_activity/all/dev/webhooks.json 200',
      'POST /1.1/account_activity/all/dev/subscriptions.json 409',
    ]);
    expect(again).toMatchObject({ status: 'active', config: { userId: fake.account.id_str } });
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

  it('is an error naming X\'s code when the CRC fails, and nothing is registered', async () => {
    const fake = new TwitterFake({ origin: API, webhookFetch: async () => Response.json({ response_token: 'sha256=wrong' }) });
    const outcome = await twitter.setup!({ config: configFor(fake), fetch: fetchVia(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/X refused the webhook .* \(214: Webhook URL does not meet the requirements\. Invalid CRC token/);
    expect(fake.webhooks.size).toBe(0);
  });

  it('is an error pointing at the keys when X cannot authenticate the call (a wrong secret breaks the signature)', async () => {
    const fake = new TwitterFake({ origin: API });
    const outcome = await twitter.setup!({ config: { ...configFor(fake), accessTokenSecret: 'WrongSecretWrongSecret' }, fetch: fetchVia(fake), webhookUrl: WEBHOOK });
    expect(outcome).toEqual({ status: 'error', error: expect.stringMatching(/^X refused the credentials \(32: Could not authenticate you\.\)/) });
    expect(fake.calls).toHaveLength(1);
  });

  it('setting up again (new keys) removes the webhook it registered before; teardown deletes the webhook', async () => {
    const { fake, ctx } = await connected();
    const first = ctx.config.webhookId!;
    const again = await twitter.setup!(ctx);
    expect(fake.calls.some((c) => c.method === 'DELETE' && c.path === `/1.1/account_activity/webhooks/${first}.json` && c.status === 204)).toBe(true);
    expect([...fake.webhooks.keys()]).toEqual([again.config!.webhookId]);
    await twitter.teardown!({ ...ctx, config: { ...ctx.config, ...again.config } });
    expect(fake.webhooks.size).toBe(0);
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
  it('sends text as a message_create event and returns X\'s 64-bit event id as a string', async () => {
    const { fake, ctx } = await connected();
    const outcome = await twitter.send(ctx, { externalId: ANN.id }, text('Hi Ann'));
    const sent = fake.sent.get(ANN.id)![0]!;
    expect(outcome).toEqual({ ok: true, channelMessageId: sent.id });
    expect(BigInt(sent.id as string)).toBeGreaterThan(2n ** 53n);
    expect(fake.callsTo('/1.1/direct_messages/events/new.json').at(-1)!.body).toEqual({
      event: { type: 'message_create', message_create: { target: { recipient_id: ANN.id }, message_data: { text: 'Hi Ann' } } },
    });
  });

  it('puts quick replies in options whose metadata names the choice, and links in ctas', async () => {
    const { fake, ctx } = await connected();
    await twitter.send(ctx, { externalId: ANN.id }, text('Spicy?', {
      replies: [{ text: 'Yes', payload: 'SPICY_YES', choice: 1 }, { text: 'No', payload: 'SPICY_NO', choice: 2 }],
      buttons: [{ kind: 'link', text: 'Menu', uri: 'https://tacos.example/menu' }],
    }));
    expect(lastSent(fake)).toEqual({
      text: 'Spicy?',
      quick_reply: { type: 'options', options: [{ label: 'Yes', metadata: `${CHOICE_PREFIX}1` }, { label: 'No', metadata: `${CHOICE_PREFIX}2` }] },
      ctas: [{ type: 'web_url', label: 'Menu', url: 'https://tacos.example/menu' }],
    });
  });

  it('falls back for what X cannot show: a carousel becomes one text per card, postbacks numbered, links as ctas, images as links', async () => {
    const { fake, ctx } = await connected();
    const { parts, choices } = render(
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
    expect(parts.map((p) => p.kind)).toEqual(['text', 'text']);
    for (const part of parts) expect(await twitter.send(ctx, { externalId: ANN.id }, part)).toMatchObject({ ok: true });
    const [first, second] = fake.sent.get(ANN.id)!.map((e) => (e.message_create as { message_data: Record<string, unknown> }).message_data);
    expect(first).toEqual({ text: 'Tacos\nCrunchy\n\n1. Order tacos\n\nReply with the number of your choice.', ctas: [{ type: 'web_url', label: 'Menu', url: 'https://tacos.example/menu' }] });
    expect(second).toEqual({ text: 'Ramen\n\n2. Order ramen\n\nReply with the number of your choice.' });
    expect(choices.map((c) => [c.number, c.payload, c.numbered])).toEqual([[1, 'ORDER_TACOS', true], [2, 'ORDER_RAMEN', true]]);
    const image = render({ content: { type: 'image', mediaUrl: 'https://cdn.example/a.jpg', text: 'look' } as never }, twitter.capabilities, 'twitter');
    expect(image.parts).toEqual([{ kind: 'text', text: 'look\nhttps://cdn.example/a.jpg', buttons: [], replies: [] }]);
  });

  it('keeps 20 quick replies native and truncates long labels to 36 characters; the 21st makes them numbered', async () => {
    const { fake, ctx } = await connected();
    const replies = Array.from({ length: 20 }, (_, i) => ({ type: 'reply', text: `Option number ${i + 1} with a rather long label`, payload: `P${i}` }));
    const native = render({ content: { type: 'text', text: 'Pick', actions: replies } as never }, twitter.capabilities, 'twitter');
    expect(await twitter.send(ctx, { externalId: ANN.id }, native.parts[0]!)).toMatchObject({ ok: true });
    const options = (lastSent(fake).quick_reply as { options: { label: string }[] }).options;
    expect(options).toHaveLength(20);
    expect(options[0]!.label).toHaveLength(36);
    const tooMany = render({ content: { type: 'text', text: 'Pick', actions: [...replies, { type: 'reply', text: 'one more', payload: 'P20' }] } as never }, twitter.capabilities, 'twitter');
    expect(tooMany.parts[0]).toMatchObject({ replies: [] });
    expect((tooMany.parts[0] as { text: string }).text).toMatch(/^Pick\n\n1\. Option number 1/);
  });

  it('classifies X\'s errors: 429 retries after x-rate-limit-reset, 130/131 and 5xx retry, 349 and the rest are permanent with X\'s code', async () => {
    const { fake, ctx } = await connected();
    const to = { externalId: ANN.id };
    const reset = Math.floor(Date.now() / 1000) + 120;
    fake.failNext(1, { status: 429, code: 88, message: 'Rate limit exceeded', headers: { 'x-rate-limit-reset': String(reset) } });
    const limited = await twitter.send(ctx, to, text('x'));
    expect(limited).toMatchObject({ ok: false, retryable: true, code: '88', message: 'Rate limit exceeded' });
    expect((limited as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect((limited as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(120_000);
    fake.failNext(1, { status: 503, code: 130, message: 'Over capacity' });
    expect(await twitter.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: true, code: '130', message: 'Over capacity' });
    fake.failNext(1, { status: 500, code: 131, message: 'Internal error' });
    expect(await twitter.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '131' });
    fake.closed.add(ANN.id);
    expect(await twitter.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: false, code: '349', message: 'You cannot send messages to this user.' });
    fake.failNext(1, { status: 403, code: 150, message: 'You cannot send messages to users who are not following you.' });
    expect(await twitter.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: false, code: '150' });
    expect(await failureOf(new Response('<html>bad gateway</html>', { status: 502 }))).toEqual({ ok: false, retryable: true, code: 'http_502', message: 'X answered HTTP 502' });
  });

  it('sends a native payload as message_data with the conversation\'s recipient, and refuses fields message_data does not have', async () => {
    const { fake, ctx } = await connected();
    expect(twitter.checkNative({ text: 'x', target: { recipient_id: '1' } })).toMatch(/override\.twitter\.payload\.target is not allowed/);
    await twitter.send(ctx, { externalId: ANN.id }, { kind: 'native', payload: { text: 'Pick a bird', quick_reply: { type: 'options', options: [{ label: 'Red Bird', description: 'A red bird', metadata: 'external_id_1' }] } } });
    expect(lastSent(fake)).toMatchObject({ text: 'Pick a bird', quick_reply: { options: [{ label: 'Red Bird', metadata: 'external_id_1' }] } });
    expect(fake.sent.get(ANN.id)!.at(-1)!.message_create).toMatchObject({ target: { recipient_id: ANN.id } });
  });

  it('shows the typing indicator (X has no stop)', async () => {
    const { fake, ctx } = await connected();
    await twitter.typing!(ctx, { externalId: ANN.id }, true);
    await twitter.typing!(ctx, { externalId: ANN.id }, false);
    const calls = fake.callsTo('/1.1/direct_messages/indicate_typing.json');
    expect(calls.map((c) => [c.method, c.query, c.status])).toEqual([['POST', { recipient_id: ANN.id }, 204]]);
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
