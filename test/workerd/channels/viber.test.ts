/** The Viber adapter against the REST Bot API fake: config, setup and its webhook check, signatures, 64-bit tokens, every callback kind, every part kind, failures. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { hmacHex } from '../../../src/channels/signing';
import { CHOICE_PREFIX, quoteTokens, viber, type ViberConfig } from '../../../src/channels/viber';
import { describeIssue } from '../../../src/schema/common';
import { ViberFake, type ViberUser } from '../../fakes/viber';

const API = 'https://viber.fake';
const WEBHOOK = 'https://parley.test/hooks/int_viber';
const ANN: ViberUser = { id: '01234567890A=', name: 'Ann Lee', avatar: 'https://avatar.viber.test/ann.jpg', language: 'en', country: 'GB' };

async function inbound(request: Request): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now: Date.now() };
}

/** What Parley's /hooks endpoint does with a callback: verify, parse, answer 200 only when both pass. */
const parley = (config: () => ViberConfig, seen: unknown[][] = []) => async (request: Request) => {
  const req = await inbound(request);
  if (!(await viber.verify(req, config())).ok) return new Response(null, { status: 401 });
  seen.push(viber.parse(req, config()));
  return viber.acknowledge!();
};

/** A bot set up through the adapter's own setup, its webhook check answered by the adapter as Parley would. */
async function connected() {
  let config = v.parse(viber.createSchema, { token: '4a5b6c7d8e9f0a1b-2c3d4e5f6a7b8c9d-0e1f2a3b4c5d6e7f', apiBaseUrl: API });
  const checks: unknown[][] = [];
  const fake = new ViberFake({ token: config.token, webhookFetch: parley(() => config, checks) });
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof globalThis.fetch;
  const outcome = await viber.setup!({ config, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  config = { ...config, ...outcome.config };
  const ctx: ChannelContext<ViberConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config, checks };
}

const parsed = async (config: ViberConfig, request: Promise<Request>) => viber.parse(await inbound(await request), config);
const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const lastSend = (fake: ViberFake) => fake.callsTo('send_message').at(-1)!.body as Record<string, any>;
/** Ann wrote first: Viber lets the bot write to her. */
const annWrote = async (fake: ViberFake, config: ViberConfig) => {
  await parsed(config, fake.text(WEBHOOK, ANN, 'hi'));
  return { externalId: ANN.id };
};

describe('viber config', () => {
  it('requires the token and names the field', () => {
    const result = v.safeParse(viber.createSchema, {});
    expect(result.issues!.map(describeIssue)).toContain('token: is required');
  });

  it('refuses something that is not a bot token, pointing at the Edit info screen', () => {
    const result = v.safeParse(viber.createSchema, { token: 'not a token!' });
    expect(describeIssue(result.issues![0])).toMatch(/^token: must be a Viber bot authentication token.*Edit info/);
  });

  it('never takes what setup learns from the request body', () => {
    const config = v.parse(viber.createSchema, { token: '4a5b6c7d8e9f0a1b-2c3d4e5f6a7b8c9d-0e1f2a3b4c5d6e7f', accountId: 'pa:evil', uri: 'evil', accountName: 'Evil' });
    expect(config).toEqual({ token: '4a5b6c7d8e9f0a1b-2c3d4e5f6a7b8c9d-0e1f2a3b4c5d6e7f' });
  });

  it('keeps the token sealed and out of the view, which shows the bot uri and account id', () => {
    expect(viber.secretFields).toEqual(['token']);
    expect(viber.view({ token: 'secret-secret-secret', uri: 'tacobot', accountId: 'pa:1', senderName: 'Tacos' })).toEqual({ uri: 'tacobot', accountId: 'pa:1', senderName: 'Tacos', senderAvatar: undefined });
  });

  it('has no way to reach a user who has not written first', () => {
    expect(viber.notificationRecipient).toBeUndefined();
  });
});

describe('viber setup and teardown', () => {
  it('reads the account, then sets the webhook; Viber checks it with a signed callback that parses to nothing', async () => {
    const { fake, config, checks } = await connected();
    expect(fake.calls.map((c) => c.method)).toEqual(['get_account_info', 'set_webhook']);
    expect(fake.calls.every((c) => c.headers['x-viber-auth-token'] === config.token)).toBe(true);
    expect(fake.callsTo('set_webhook')[0]!.body).toEqual({
      url: WEBHOOK,
      event_types: ['delivered', 'seen', 'failed', 'subscribed', 'unsubscribed', 'conversation_started'],
      send_name: true,
      send_photo: true,
    });
    expect(fake.checks).toEqual([{ url: WEBHOOK, status: 200 }]);
    expect(checks).toEqual([[]]);
    expect(config).toMatchObject({ accountId: fake.account.id, uri: fake.account.uri, accountName: fake.account.name });
  });

  it('is an error naming the webhook when Viber\'s check does not get a 200', async () => {
    const fake = new ViberFake({ webhookFetch: async () => new Response('Not Found', { status: 404 }) });
    const fetch = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof globalThis.fetch;
    const outcome = await viber.setup!({ config: { token: fake.token, apiBaseUrl: API }, fetch, webhookUrl: WEBHOOK });
    expect(outcome).toEqual({ status: 'error', error: expect.stringContaining(`Viber refused the webhook ${WEBHOOK}`) });
    expect(outcome.error).toMatch(/HttpResponse\(404\)/);
    expect(fake.webhook).toBeNull();
  });

  it('is an error pointing at the token when Viber refuses it', async () => {
    const fake = new ViberFake();
    const fetch = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof globalThis.fetch;
    const outcome = await viber.setup!({ config: { token: '0000000000000000-0000000000000000-0000000000000000', apiBaseUrl: API }, fetch, webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/refused the token \(Viber status 2: invalidAuthToken\)/);
    expect(fake.callsTo('set_webhook')).toHaveLength(0);
  });

  it('removes the webhook on teardown', async () => {
    const { fake, ctx } = await connected();
    await viber.teardown!(ctx);
    expect(fake.callsTo('set_webhook').at(-1)!.body).toEqual({ url: '' });
    expect(fake.webhook).toBeNull();
  });
});

describe('viber signatures', () => {
  it('matches the reference test vector (hex HMAC-SHA256 of the raw body keyed by the token)', async () => {
    const raw = '{"event":"webhook","timestamp":1457764197627,"chat_hostname":"SN-123_","message_token":241256543215}';
    expect(await hmacHex('SHA-256', 'viber_auth_token', raw)).toBe('fe9b6b0901a1f7710af59eb2494900d66b965fdd0ee54c42aa0a308dcceb7c0e');
    const request = new Request(WEBHOOK, { method: 'POST', body: raw, headers: { 'x-viber-content-signature': 'fe9b6b0901a1f7710af59eb2494900d66b965fdd0ee54c42aa0a308dcceb7c0e' } });
    expect(await viber.verify(await inbound(request), { token: 'viber_auth_token' })).toEqual({ ok: true });
  });

  it('refuses a tampered body with 403 and an unsigned one with 401', async () => {
    const { fake, config } = await connected();
    const signed = await fake.text(WEBHOOK, ANN, 'pay 10');
    const tampered = new Request(WEBHOOK, { method: 'POST', headers: signed.headers, body: (await signed.text()).replace('pay 10', 'pay 99') });
    expect(await viber.verify(await inbound(tampered), config)).toMatchObject({ ok: false, status: 403 });
    const unsigned = await fake.text(WEBHOOK, ANN, 'hi');
    unsigned.headers.delete('x-viber-content-signature');
    expect(await viber.verify(await inbound(unsigned), config)).toEqual({ ok: false, status: 401, reason: 'Missing X-Viber-Content-Signature' });
  });

  it('refuses a body signed with another bot\'s token', async () => {
    const { config } = await connected();
    const other = new ViberFake({ token: 'ffffffffffffffff-ffffffffffffffff-ffffffffffffffff' });
    expect(await viber.verify(await inbound(await other.text(WEBHOOK, ANN, 'hi')), config)).toMatchObject({ ok: false, status: 403 });
  });
});

describe('viber callbacks', () => {
  it('keeps every digit of a 64-bit message_token, so neighbouring tokens stay apart', async () => {
    const { fake, config } = await connected();
    const token = 9_007_199_254_740_993n; // 2^53 + 1: a JSON number reads it as 2^53
    const [a] = await parsed(config, fake.text(WEBHOOK, ANN, 'one', { token }));
    const [b] = await parsed(config, fake.text(WEBHOOK, ANN, 'two', { token: token + 1n }));
    expect(a).toMatchObject({ kind: 'message', channelMessageId: '9007199254740993' });
    expect(b).toMatchObject({ kind: 'message', channelMessageId: '9007199254740994' });
    expect(quoteTokens('{"text":"\\"message_token\\":5","message_token":12345678901234567890}')).toBe('{"text":"\\"message_token\\":5","message_token":"12345678901234567890"}');
  });

  it('turns a text message into a message from its sender, in epoch ms', async () => {
    const { fake, config } = await connected();
    const request = await fake.text(WEBHOOK, ANN, 'hello');
    const body = await request.clone().text();
    const [event] = await parsed(config, Promise.resolve(request));
    expect(event).toEqual({
      kind: 'message',
      channelMessageId: /"message_token":(\d+)/.exec(body)![1],
      timestamp: JSON.parse(body).timestamp,
      user: { externalId: ANN.id, displayName: 'Ann Lee', avatarUrl: ANN.avatar, locale: 'en', info: { country: 'GB', language: 'en' }, raw: { api_version: 10, ...ANN } },
      content: { type: 'text', text: 'hello' },
    });
  });

  it('reads pictures, videos and files as media whose ref is Viber\'s link', async () => {
    const { fake, config } = await connected();
    const [picture] = await parsed(config, fake.picture(WEBHOOK, ANN, { caption: 'my cat' }));
    expect(picture).toMatchObject({ content: { type: 'media', media: { kind: 'image', ref: expect.stringMatching(/^https:\/\/dl-media\.viber\.test\//), fileName: 'photo.jpg' }, text: 'my cat' } });
    const [video] = await parsed(config, fake.video(WEBHOOK, ANN));
    expect(video).toMatchObject({ content: { type: 'media', media: { kind: 'video' } } });
    const [file] = await parsed(config, fake.file(WEBHOOK, ANN, 'invoice.pdf'));
    expect(file).toMatchObject({ content: { type: 'media', media: { kind: 'file', fileName: 'invoice.pdf', size: 14 } } });
  });

  it('reads a location, a contact card, a sticker and a shared url', async () => {
    const { fake, config } = await connected();
    expect((await parsed(config, fake.location(WEBHOOK, ANN, 51.5, -0.12)))[0]).toMatchObject({ content: { type: 'location', lat: 51.5, long: -0.12 } });
    expect((await parsed(config, fake.contact(WEBHOOK, ANN, { name: 'Bo', phone_number: '+447700900123' })))[0]).toMatchObject({ content: { type: 'text', text: 'Bo +447700900123' } });
    expect((await parsed(config, fake.sticker(WEBHOOK, ANN)))[0]).toMatchObject({ content: { type: 'text', text: '[sticker]' } });
    const url = await fake.callback(WEBHOOK, { event: 'message', timestamp: 1, message_token: 5n, sender: ANN, message: { type: 'url', media: 'https://tacos.example/menu' } });
    expect((await parsed(config, Promise.resolve(url)))[0]).toMatchObject({ content: { type: 'text', text: 'https://tacos.example/menu' } });
  });

  it('reads a tap on a postback button as that choice, whatever label it had', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.text(WEBHOOK, ANN, `${CHOICE_PREFIX}2`))).toEqual([expect.objectContaining({ kind: 'postback', choice: 2 })]);
    // Only our exact encoding is a tap; anything else the user types is text.
    expect((await parsed(config, fake.text(WEBHOOK, ANN, `${CHOICE_PREFIX}two`)))[0]).toMatchObject({ kind: 'message' });
  });

  it('turns delivered, seen and failed into receipts for the sent token', async () => {
    const { fake, config } = await connected();
    const token = '5741311803571721087';
    expect(await parsed(config, fake.receipt(WEBHOOK, 'delivered', ANN.id, token))).toEqual([expect.objectContaining({ kind: 'delivery', status: 'delivered', channelMessageId: token, user: { externalId: ANN.id } })]);
    expect(await parsed(config, fake.receipt(WEBHOOK, 'seen', ANN.id, token))).toEqual([expect.objectContaining({ kind: 'delivery', status: 'read', channelMessageId: token })]);
    expect(await parsed(config, fake.receipt(WEBHOOK, 'failed', ANN.id, token, 'user blocked'))).toEqual([
      expect.objectContaining({ kind: 'delivery', status: 'failed', channelMessageId: token, error: { code: 'failed', message: 'user blocked' } }),
    ]);
  });

  it('turns conversation_started with a deep-link context into a referral, and stores no message for it', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.conversationStarted(WEBHOOK, ANN, { context: 'spring-promo' }))).toEqual([
      expect.objectContaining({ kind: 'referral', ref: 'spring-promo', referralType: 'open', user: expect.objectContaining({ externalId: ANN.id }) }),
    ]);
    expect(await parsed(config, fake.conversationStarted(WEBHOOK, ANN))).toEqual([]);
  });

  it('answers webhook checks, subscribed and unsubscribed with no events, and with an empty 200', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.subscribedEvent(WEBHOOK, ANN))).toEqual([]);
    expect(await parsed(config, fake.unsubscribedEvent(WEBHOOK, ANN.id))).toEqual([]);
    expect(await parsed(config, fake.callback(WEBHOOK, { event: 'webhook', timestamp: 1, message_token: 241256543215n }))).toEqual([]);
    const ack = viber.acknowledge!();
    expect(ack.status).toBe(200);
    expect(await ack.text()).toBe('');
  });

  it('refuses a message callback without its token as a bad request', async () => {
    const { fake, config } = await connected();
    await expect(parsed(config, fake.callback(WEBHOOK, { event: 'message', sender: ANN, message: { type: 'text', text: 'x' } }))).rejects.toThrow(/message_token is required/);
  });
});

describe('viber send', () => {
  it('sends text as the bot, named as Viber knows it, and returns the 64-bit token as a string', async () => {
    const { fake, ctx, config } = await connected();
    const outcome = await viber.send(ctx, await annWrote(fake, config), text('Hello Ann'));
    expect(outcome).toEqual({ ok: true, channelMessageId: fake.sent.get(ANN.id)![0]!.message_token });
    expect(BigInt((outcome as { channelMessageId: string }).channelMessageId)).toBeGreaterThan(2n ** 53n);
    expect(lastSend(fake)).toEqual({ sender: { name: 'Taco Bot' }, type: 'text', text: 'Hello Ann', receiver: ANN.id });
  });

  it('names the sender by senderName when the integration sets one', async () => {
    const { fake, ctx, config } = await connected();
    await viber.send({ ...ctx, config: { ...config, senderName: 'Support', senderAvatar: 'https://tacos.example/a.png' } }, await annWrote(fake, config), text('hi'));
    expect(lastSend(fake).sender).toEqual({ name: 'Support', avatar: 'https://tacos.example/a.png' });
  });

  it('puts postbacks, links, a location request and quick replies on one keyboard', async () => {
    const { fake, ctx, config } = await connected();
    await viber.send(ctx, await annWrote(fake, config), text('Pick', {
      buttons: [{ kind: 'postback', text: 'Buy', payload: 'BUY', choice: 1 }, { kind: 'link', text: 'Site', uri: 'https://tacos.example' }],
      replies: [{ text: 'Yes', payload: 'YES', choice: 2 }],
    }));
    expect(lastSend(fake).keyboard).toEqual({
      Type: 'keyboard',
      DefaultHeight: false,
      Buttons: [
        { Columns: 6, Rows: 1, ActionType: 'reply', ActionBody: `${CHOICE_PREFIX}1`, Text: 'Buy', Silent: true },
        { Columns: 6, Rows: 1, ActionType: 'open-url', ActionBody: 'https://tacos.example', Text: 'Site' },
        { Columns: 6, Rows: 1, ActionType: 'reply', ActionBody: 'Yes', Text: 'Yes' },
      ],
    });
    await viber.send(ctx, { externalId: ANN.id }, text('Where are you?', { buttons: [{ kind: 'locationRequest', text: 'Send location' }] }));
    expect(lastSend(fake)).toMatchObject({ min_api_version: 3, keyboard: { Buttons: [{ ActionType: 'location-picker', Text: 'Send location' }] } });
  });

  it('sends a carousel as rich_media: one 6×7 group per card, PascalCase keys, the titles as alt_text', async () => {
    const { fake, ctx, config } = await connected();
    const outcome = await viber.send(ctx, await annWrote(fake, config), {
      kind: 'carousel',
      cards: [
        { title: 'Tacos', description: 'Crunchy', mediaUrl: 'https://cdn.example/tacos.jpg', buttons: [{ kind: 'postback', text: 'Order', payload: 'ORDER_TACOS', choice: 1 }, { kind: 'link', text: 'Menu', uri: 'https://tacos.example/menu' }] },
        { title: 'Ramen', buttons: [] },
      ],
    });
    expect(outcome.ok).toBe(true);
    expect(lastSend(fake)).toEqual({
      sender: { name: 'Taco Bot' },
      receiver: ANN.id,
      type: 'rich_media',
      min_api_version: 2,
      alt_text: 'Tacos\nRamen',
      rich_media: {
        Type: 'rich_media',
        ButtonsGroupColumns: 6,
        ButtonsGroupRows: 7,
        BgColor: '#FFFFFF',
        Buttons: [
          { Columns: 6, Rows: 3, ActionType: 'none', ActionBody: 'none', Image: 'https://cdn.example/tacos.jpg' },
          { Columns: 6, Rows: 2, ActionType: 'none', ActionBody: 'none', Text: '<b>Tacos</b><br>Crunchy', TextVAlign: 'top', TextHAlign: 'left' },
          { Columns: 6, Rows: 1, ActionType: 'reply', ActionBody: `${CHOICE_PREFIX}1`, Text: 'Order', Silent: true },
          { Columns: 6, Rows: 1, ActionType: 'open-url', ActionBody: 'https://tacos.example/menu', Text: 'Menu' },
          { Columns: 6, Rows: 7, ActionType: 'none', ActionBody: 'none', Text: '<b>Ramen</b>', TextVAlign: 'top', TextHAlign: 'left' },
        ],
      },
    });
  });

  it('sends pictures with their caption, files with name and size, and a named location as text then pin', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    await viber.send(ctx, to, { kind: 'media', media: 'image', url: 'https://cdn.example/a.jpg', caption: 'look', buttons: [], replies: [] });
    expect(lastSend(fake)).toMatchObject({ type: 'picture', media: 'https://cdn.example/a.jpg', text: 'look' });
    const pdf = fake.addMedia(new Uint8Array(1234), 'application/pdf', 'menu.pdf');
    await viber.send(ctx, to, { kind: 'media', media: 'file', url: pdf, buttons: [], replies: [] });
    expect(lastSend(fake)).toMatchObject({ type: 'file', media: pdf, size: 1234, file_name: 'menu.pdf' });
    const outcome = await viber.send(ctx, to, { kind: 'location', lat: 51.5, long: -0.12, name: 'Taco Town', address: '1 Main St' });
    expect(fake.callsTo('send_message').slice(-2).map((c) => c.body)).toMatchObject([{ type: 'text', text: 'Taco Town\n1 Main St' }, { type: 'location', location: { lat: 51.5, lon: -0.12 } }]);
    expect((outcome as { channelMessageIds: string[] }).channelMessageIds).toHaveLength(2);
  });

  it('retries status 12 (tooManyRequests) and HTTP 5xx; every other status is permanent with Viber\'s status as the code', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    fake.failNext(1, { viberStatus: 12 });
    expect(await viber.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: true, code: '12', message: 'Viber status 12: tooManyRequests' });
    fake.failNext(1, { http: 503 });
    expect(await viber.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_503' });
    fake.failNext(1, { viberStatus: 5 });
    expect(await viber.send(ctx, to, text('x'))).toEqual({ ok: false, retryable: false, code: '5', message: 'Viber status 5: receiverNotRegistered' });
    expect(await viber.send(ctx, { externalId: 'never-wrote=' }, text('x'))).toMatchObject({ ok: false, retryable: false, code: '6' });
  });

  it('resumes a two-message part after the message already sent', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const part: Part = { kind: 'location', lat: 1, long: 2, name: 'Here' };
    const before = fake.callsTo('send_message').length;
    await viber.send(ctx, to, part, 1);
    expect(fake.callsTo('send_message').slice(before).map((c) => c.body!.type)).toEqual(['location']);
  });

  it('refuses a native payload that names fields send_message does not have, and pins the receiver', async () => {
    const { fake, ctx, config } = await connected();
    expect(viber.checkNative({ type: 'text', text: 'x', url: 'https://evil' })).toMatch(/override\.viber\.payload\.url is not allowed/);
    await viber.send(ctx, await annWrote(fake, config), { kind: 'native', payload: { type: 'sticker', sticker_id: 40133, receiver: 'someone-else=' } });
    expect(lastSend(fake)).toMatchObject({ type: 'sticker', sticker_id: 40133, receiver: ANN.id });
  });
});

describe('viber media', () => {
  it('downloads a user\'s picture from Viber\'s link without sending the token there', async () => {
    const { fake, ctx, config } = await connected();
    const bytes = new TextEncoder().encode('jpeg!');
    const [event] = await parsed(config, fake.picture(WEBHOOK, ANN, { bytes }));
    const ref = (event as { content: { media: { ref: string } } }).content.media.ref;
    const response = await viber.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    expect(fake.callsTo('media').at(-1)!.headers).not.toHaveProperty('x-viber-auth-token');
    await expect(viber.fetchMedia!(ctx, `${fake.origin}/pg_download/404/gone.jpg`)).rejects.toThrow(/HTTP 404/);
  });
});
