/** The LINE adapter against the Messaging API fake: config, setup, signatures, every event kind, reply-then-push, retry keys, rendering, failures. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part, Recipient } from '../../../src/channels/adapter';
import { line, retryKey, type LineConfig } from '../../../src/channels/line';
import { render } from '../../../src/channels/render';
import { hmacBase64 } from '../../../src/channels/signing';
import { describeIssue } from '../../../src/schema/common';
import type { Content } from '../../../src/schema/content';
import { LineFake, lineUserId } from '../../fakes/line';

const API = 'http://line.fake';
const WEBHOOK = 'https://parley.test/hooks/int_line';

const fetcherFor = (fake: LineFake) => ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;

async function connected(options: ConstructorParameters<typeof LineFake>[0] = {}) {
  const fake = new LineFake(options);
  const fetch = fetcherFor(fake);
  const created: LineConfig = { channelId: '1657000000', channelSecret: fake.channelSecret, channelAccessToken: fake.channelAccessToken, apiBaseUrl: API };
  const outcome = await line.setup!({ config: created, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  const config: LineConfig = { ...created, ...outcome.config };
  const ctx: ChannelContext<LineConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

async function inbound(request: Request, now = Date.now()): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const pushes = (fake: LineFake) => fake.callsTo('/v2/bot/message/push');
const replies = (fake: LineFake) => fake.callsTo('/v2/bot/message/reply');
const lastMessages = (fake: LineFake, path: string) => (fake.callsTo(path).at(-1)?.body as { messages: Record<string, any>[] }).messages;

/** Renders v2 content for LINE and sends every part to the user, as the deliveries consumer does. */
async function deliver(ctx: ChannelContext<LineConfig>, to: Recipient, content: Content) {
  const { parts, choices } = render({ content }, line.capabilities, 'line');
  const outcomes = [];
  for (const part of parts) outcomes.push(await line.send(ctx, to, part));
  return { parts, choices, outcomes };
}

describe('line config', () => {
  it('requires the channel access token and names the field', () => {
    const result = v.safeParse(line.createSchema, {});
    expect(result.success).toBe(false);
    expect(result.issues!.map(describeIssue)).toContain('channelAccessToken: is required');
  });

  it('takes the official client fields; channelId and channelSecret may come later', () => {
    const config = v.parse(line.createSchema, { channelAccessToken: 't', serviceCode: 'svc', lineId: '@forged', botUserId: 'Uforged' });
    expect(config).toEqual({ channelAccessToken: 't', serviceCode: 'svc' });
    expect(v.safeParse(line.createSchema, { channelAccessToken: 't', channelId: 'abc' }).success).toBe(false);
  });

  it('keeps the secrets sealed and out of the view', () => {
    expect(line.secretFields).toEqual(['channelSecret', 'channelAccessToken', 'switcherSecret']);
    const view = line.view({ channelId: '1', channelSecret: 's', channelAccessToken: 't', switcherSecret: 'w', serviceCode: 'c', lineId: '@parley', botUserId: 'U1' });
    expect(view).toEqual({ channelId: '1', serviceCode: 'c', qrCodeUrl: undefined, lineId: '@parley', botUserId: 'U1' });
  });
});

describe('line setup', () => {
  it('reads the bot info and sets the webhook endpoint with the Bearer token', async () => {
    const { fake, config } = await connected();
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual(['GET /v2/bot/info', 'PUT /v2/bot/channel/webhook/endpoint']);
    expect(fake.calls[1]!.body).toEqual({ endpoint: WEBHOOK });
    expect(fake.calls[1]!.headers.authorization).toBe(`Bearer ${fake.channelAccessToken}`);
    expect(fake.endpoint).toBe(WEBHOOK);
    expect(config).toMatchObject({ lineId: '@parley', botUserId: fake.bot.userId });
  });

  it('answers a refused token with an error status saying what to do', async () => {
    const fake = new LineFake();
    const outcome = await line.setup!({ config: { channelAccessToken: 'wrong', apiBaseUrl: API }, fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/refused the channelAccessToken \(Authentication failed.*\); issue a long-lived/);
    expect(fake.endpoint).toBeNull();
  });
});

describe('line signature', () => {
  it("matches the reference's test vector", async () => {
    const raw = '{"destination":"U1234567890abcdef1234567890abcdef","events":[]}';
    const request = new Request(WEBHOOK, { method: 'POST', body: raw, headers: { 'x-line-signature': 'lmcv5Ea0ltowrp8sS07Lx18WU9cEEwmtOib4H5dXlG0=' } });
    expect(await hmacBase64('SHA-256', 'line_channel_secret', raw)).toBe('lmcv5Ea0ltowrp8sS07Lx18WU9cEEwmtOib4H5dXlG0=');
    expect(await line.verify(await inbound(request), { channelAccessToken: 't', channelSecret: 'line_channel_secret' })).toEqual({ ok: true });
  });

  it('accepts a signed body, refuses a tampered one with 403 and an unsigned one with 401', async () => {
    const { fake, config } = await connected();
    const signed = await fake.text(WEBHOOK, lineUserId(), 'hi');
    const raw = await signed.clone().text();
    expect(await line.verify(await inbound(signed), config)).toEqual({ ok: true });
    const tampered = new Request(WEBHOOK, { method: 'POST', headers: signed.headers, body: raw.replace('"hi"', '"hI"') });
    expect(await line.verify(await inbound(tampered), config)).toMatchObject({ ok: false, status: 403 });
    const unsigned = new Request(WEBHOOK, { method: 'POST', body: raw });
    expect(await line.verify(await inbound(unsigned), config)).toEqual({ ok: false, status: 401, reason: 'Missing X-Line-Signature' });
  });

  it('refuses everything while the integration has no channelSecret', async () => {
    const { fake, config } = await connected();
    const { channelSecret: _, ...unset } = config;
    expect(await line.verify(await inbound(await fake.text(WEBHOOK, lineUserId(), 'hi')), unset)).toMatchObject({ ok: false, status: 401 });
  });
});

describe('line inbound events', () => {
  const parse = async (request: Request, config: LineConfig) => line.parse(await inbound(request), config);

  it('turns a text message into a message keyed by its LINE message id', async () => {
    const { fake, config } = await connected();
    const ann = lineUserId();
    const request = await fake.text(WEBHOOK, ann, 'hello');
    const { events } = await request.clone().json<{ events: { message: { id: string }; timestamp: number }[] }>();
    expect(await parse(request, config)).toEqual([
      { kind: 'message', channelMessageId: events[0]!.message.id, timestamp: events[0]!.timestamp, user: { externalId: ann, raw: { type: 'user', userId: ann } }, content: { type: 'text', text: 'hello' } },
    ]);
  });

  it('answers the verification request (no events) with nothing to store', async () => {
    const { fake, config } = await connected();
    expect(await parse(await fake.verification(WEBHOOK), config)).toEqual([]);
  });

  it('carries image, video, audio and file as media downloaded by message id', async () => {
    const { fake, config } = await connected();
    const kinds = [];
    for (const type of ['image', 'video', 'audio', 'file'] as const) {
      const [event] = await parse(await fake.media(WEBHOOK, lineUserId(), type), config);
      kinds.push((event as { content: { media: { kind: string; ref: string } } }).content.media);
    }
    expect(kinds.map((m) => m.kind)).toEqual(['image', 'video', 'audio', 'file']);
    expect(kinds.every((m) => /^\d+$/.test(m.ref))).toBe(true);
  });

  it('downloads content from the data API path with the Bearer token', async () => {
    const { fake, ctx, config } = await connected();
    const [event] = await parse(await fake.image(WEBHOOK, lineUserId(), { bytes: new Uint8Array([9, 8, 7]), contentType: 'image/png' }), config);
    const ref = (event as { content: { media: { ref: string } } }).content.media.ref;
    const response = await line.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(new Uint8Array([9, 8, 7]));
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(fake.calls.at(-1)).toMatchObject({ method: 'GET', path: `/v2/bot/message/${ref}/content`, headers: { authorization: `Bearer ${fake.channelAccessToken}` } });
  });

  it('reads a location with its title and address; drops a sticker as unsupported content', async () => {
    const { fake, config } = await connected();
    const [place] = await parse(await fake.location(WEBHOOK, lineUserId(), 35.65, 139.7, 'HQ', 'Tokyo'), config);
    expect((place as { content: unknown }).content).toEqual({ type: 'location', lat: 35.65, long: 139.7, name: 'HQ', address: 'Tokyo' });
    expect(await parse(await fake.sticker(WEBHOOK, lineUserId()), config)).toEqual([]);
  });

  it('turns postback data into the payload, and #N into choice N', async () => {
    const { fake, config } = await connected();
    const [plain] = await parse(await fake.postback(WEBHOOK, lineUserId(), 'action=buy&id=1'), config);
    expect(plain).toMatchObject({ kind: 'postback', payload: 'action=buy&id=1' });
    const [numbered] = await parse(await fake.postback(WEBHOOK, lineUserId(), '#3'), config);
    expect(numbered).toMatchObject({ kind: 'postback', choice: 3 });
    expect(numbered).not.toHaveProperty('payload');
  });

  it('turns a follow into a referral without a message, and ignores an unfollow', async () => {
    const { fake, config } = await connected();
    const ann = lineUserId();
    const request = await fake.follow(WEBHOOK, ann);
    const { events } = await request.clone().json<{ events: { webhookEventId: string }[] }>();
    expect(await parse(request, config)).toEqual([
      { kind: 'referral', channelMessageId: events[0]!.webhookEventId, ref: '', source: 'LINE', referralType: 'follow', user: expect.objectContaining({ externalId: ann }), timestamp: expect.any(Number) },
    ]);
    expect(await parse(await fake.unfollow(WEBHOOK, ann), config)).toEqual([]);
  });

  it('keys a redelivered event exactly as its first delivery', async () => {
    const { fake, config } = await connected();
    const first = await fake.postback(WEBHOOK, lineUserId(), 'X');
    const again = await fake.redelivery(first.clone());
    expect(await line.verify(await inbound(again.clone()), config)).toEqual({ ok: true });
    const [a] = await parse(first, config);
    const [b] = await parse(again, config);
    expect((b as { channelMessageId: string }).channelMessageId).toBe((a as { channelMessageId: string }).channelMessageId);
  });

  it("ignores another bot's events and standby events", async () => {
    const { fake, config } = await connected();
    expect(await parse(await fake.text(WEBHOOK, lineUserId(), 'hi'), { ...config, botUserId: lineUserId() })).toEqual([]);
    const standby = await fake.webhook(WEBHOOK, [{ ...fake.event(lineUserId(), 'message', { message: { type: 'text', id: '1', text: 'x' } }), mode: 'standby' }]);
    expect(await parse(standby, config)).toEqual([]);
  });
});

describe('line sending: reply token, then push with a retry key', () => {
  it('answers with the fresh reply token first, then pushes', async () => {
    const { fake, ctx, config } = await connected();
    const ann = lineUserId();
    await line.parse(await inbound(await fake.text(WEBHOOK, ann, 'hi')), config);
    const first = await line.send(ctx, { externalId: ann }, text('one'));
    const second = await line.send(ctx, { externalId: ann }, text('two'));
    expect(first).toMatchObject({ ok: true, channelMessageId: expect.stringMatching(/^\d+$/) });
    expect(second).toMatchObject({ ok: true });
    expect(replies(fake)).toHaveLength(1);
    expect(lastMessages(fake, '/v2/bot/message/reply')).toEqual([{ type: 'text', text: 'one' }]);
    expect(pushes(fake).at(-1)!.body).toEqual({ to: ann, messages: [{ type: 'text', text: 'two' }] });
    expect(fake.sent.get(ann)!.map((s) => s.via)).toEqual(['reply', 'push']);
  });

  it('does not try a reply token older than the limit, nor one from a redelivered event', async () => {
    const { fake, ctx, config } = await connected({ now: () => Date.now() - 70_000 });
    const ann = lineUserId();
    await line.parse(await inbound(await fake.text(WEBHOOK, ann, 'late')), config);
    await line.send(ctx, { externalId: ann }, text('answer'));
    const bo = lineUserId();
    const fresh = await connected();
    await line.parse(await inbound(await fresh.fake.redelivery(await fresh.fake.text(WEBHOOK, bo, 'again'))), fresh.config);
    await line.send(fresh.ctx, { externalId: bo }, text('answer'));
    expect([replies(fake).length, replies(fresh.fake).length]).toEqual([0, 0]);
    expect([pushes(fake).length, pushes(fresh.fake).length]).toEqual([1, 1]);
  });

  it('falls back to push when LINE says the reply token is invalid', async () => {
    const { fake, ctx, config } = await connected({ replyTokenTtlMs: -1 });
    const ann = lineUserId();
    await line.parse(await inbound(await fake.text(WEBHOOK, ann, 'hi')), config);
    expect(await line.send(ctx, { externalId: ann }, text('still here'))).toMatchObject({ ok: true });
    expect(replies(fake).map((c) => c.status)).toEqual([400]);
    expect(pushes(fake).map((c) => c.status)).toEqual([200]);
  });

  it('keeps the X-Line-Retry-Key of a delivery across retries, and a 409 on it counts as sent', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    const to = { externalId: ann, deliveryKey: 'msg_1:client_1:0' };
    fake.acceptThenFailNext();
    const first = await line.send(ctx, to, text('exactly once'));
    expect(first).toMatchObject({ ok: false, retryable: true, code: '500' });
    const retried = await line.send(ctx, to, text('exactly once'));
    expect(retried).toMatchObject({ ok: true });
    const keys = pushes(fake).map((c) => c.headers['x-line-retry-key']);
    expect(keys[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(pushes(fake).map((c) => c.status)).toEqual([500, 409]);
    expect(fake.sent.get(ann)).toHaveLength(1);
    // Another delivery gets another key.
    expect(await retryKey('msg_2:client_1:0:0')).not.toBe(keys[0]);
  });
});

describe('line rendering', () => {
  it('sends quick replies as postback items with the choice number, and a location request as a location item', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    const { choices } = await deliver(ctx, { externalId: ann }, {
      type: 'text',
      text: 'Pick one',
      actions: [{ type: 'reply', text: 'Yes', payload: 'YES' }, { type: 'reply', text: 'No', payload: 'NO' }, { type: 'locationRequest', text: 'Send location' }],
    } as Content);
    const sent = fake.sent.get(ann)!.map((s) => s.message);
    expect(sent[0]).toEqual({
      type: 'text',
      text: 'Pick one',
      quickReply: { items: [
        { type: 'action', action: { type: 'postback', label: 'Yes', data: '#1', displayText: 'Yes' } },
        { type: 'action', action: { type: 'postback', label: 'No', data: '#2', displayText: 'No' } },
      ] },
    });
    expect(sent[1]).toMatchObject({ type: 'text', quickReply: { items: [{ type: 'action', action: { type: 'location', label: 'Send location' } }] } });
    expect(choices.map((c) => [c.number, c.payload])).toEqual([[1, 'YES'], [2, 'NO']]);
  });

  it('sends postback and link buttons as a buttons template, two as a confirm, more than four as Flex', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    const button = (i: number) => ({ type: 'postback', text: `Option ${i}`, payload: `P${i}` });
    await deliver(ctx, { externalId: ann }, { type: 'text', text: 'Menu', actions: [button(1), button(2), { type: 'link', text: 'Site', uri: 'https://example.org' }] } as Content);
    await deliver(ctx, { externalId: ann }, { type: 'text', text: 'Sure?', actions: [button(1), button(2)] } as Content);
    await deliver(ctx, { externalId: ann }, { type: 'text', text: 'Many', actions: [button(1), button(2), button(3), button(4), { type: 'link', text: 'Site', uri: 'https://example.org' }] } as Content);
    const [buttons, confirm, flex] = fake.sent.get(ann)!.map((s) => s.message);
    expect(buttons).toEqual({
      type: 'template',
      altText: 'Menu',
      template: { type: 'buttons', text: 'Menu', actions: [
        { type: 'postback', label: 'Option 1', data: 'P1', displayText: 'Option 1' },
        { type: 'postback', label: 'Option 2', data: 'P2', displayText: 'Option 2' },
        { type: 'uri', label: 'Site', uri: 'https://example.org' },
      ] },
    });
    expect(confirm).toMatchObject({ type: 'template', template: { type: 'confirm', text: 'Sure?' } });
    expect(flex).toMatchObject({ type: 'flex', altText: 'Many', contents: { type: 'bubble', footer: { contents: expect.arrayContaining([expect.objectContaining({ type: 'button' })]) } } });
    expect((flex!.contents as { footer: { contents: unknown[] } }).footer.contents).toHaveLength(5);
  });

  it('sends a carousel as a template carousel, ten columns at most per message', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    const items = Array.from({ length: 12 }, (_, i) => ({ title: `Card ${i + 1}`, description: 'Tasty', mediaUrl: `https://cdn.example.org/${i}.jpg`, actions: [{ type: 'postback', text: 'Pick', payload: `C${i + 1}` }] }));
    const { outcomes } = await deliver(ctx, { externalId: ann }, { type: 'carousel', items } as Content);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const [first, second] = fake.sent.get(ann)!.map((s) => s.message) as Record<string, any>[];
    expect(first!.template.type).toBe('carousel');
    expect(first!.template.columns).toHaveLength(10);
    expect(second!.template.columns).toHaveLength(2);
    expect(first!.template.columns[0]).toEqual({
      thumbnailImageUrl: 'https://cdn.example.org/0.jpg',
      title: 'Card 1',
      text: 'Tasty',
      actions: [{ type: 'postback', label: 'Pick', data: 'C1', displayText: 'Pick' }],
    });
  });

  it('falls back where LINE cannot show it: uneven cards as a Flex carousel, files, video and audio as links, a location pin natively', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    const items = [
      { title: 'One', actions: [{ type: 'postback', text: 'A', payload: 'A' }, { type: 'link', text: 'More', uri: 'https://example.org/1' }] },
      { title: 'Two', actions: [] },
    ];
    await deliver(ctx, { externalId: ann }, { type: 'carousel', items } as Content);
    await deliver(ctx, { externalId: ann }, { type: 'file', mediaUrl: 'https://cdn.example.org/report.pdf', text: 'Your report' } as Content);
    await deliver(ctx, { externalId: ann }, { type: 'file', mediaUrl: 'https://cdn.example.org/clip.mp4' } as Content);
    await deliver(ctx, { externalId: ann }, { type: 'location', coordinates: { lat: 35.65, long: 139.7 }, location: { name: 'HQ' } } as Content);
    const sent = fake.sent.get(ann)!.map((s) => s.message) as Record<string, any>[];
    expect(sent[0]).toMatchObject({ type: 'flex', altText: 'One, Two', contents: { type: 'carousel' } });
    // Cards alike in buttons but not in images or descriptions: LINE refuses such a template, so Flex too.
    await deliver(ctx, { externalId: ann }, {
      type: 'carousel',
      items: [
        { title: 'A', description: 'with text', mediaUrl: 'https://cdn.example.org/a.jpg', actions: [{ type: 'postback', text: 'Pick', payload: 'A' }] },
        { title: 'B', actions: [{ type: 'postback', text: 'Pick', payload: 'B' }] },
      ],
    } as Content);
    const mixed = fake.sent.get(ann)!.at(-1)!.message as Record<string, any>;
    expect(mixed).toMatchObject({ type: 'flex', contents: { type: 'carousel' } });
    expect(fake.sent.get(ann)!.filter((s) => (s.message as Record<string, any>).template?.type === 'carousel')).toEqual([]);
    expect(sent[0]!.contents.contents).toHaveLength(2);
    expect(sent[1]).toEqual({ type: 'text', text: 'Your report\nhttps://cdn.example.org/report.pdf' });
    expect(sent[2]).toEqual({ type: 'text', text: 'https://cdn.example.org/clip.mp4' });
    expect(sent[3]).toEqual({ type: 'location', title: 'HQ', address: '35.65, 139.7', latitude: 35.65, longitude: 139.7 });
  });

  it('sends an image natively with itself as the preview', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    await deliver(ctx, { externalId: ann }, { type: 'image', mediaUrl: 'https://cdn.example.org/cat.jpg' } as Content);
    expect(fake.sent.get(ann)![0]!.message).toEqual({ type: 'image', originalContentUrl: 'https://cdn.example.org/cat.jpg', previewImageUrl: 'https://cdn.example.org/cat.jpg' });
  });

  it('takes a native payload of up to five messages, and refuses one that names the recipient', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    const payload = { messages: [{ type: 'sticker', packageId: '446', stickerId: '1988' }, { type: 'text', text: 'hi' }] };
    expect(line.checkNative(payload)).toBeUndefined();
    expect(await line.send(ctx, { externalId: ann }, { kind: 'native', payload })).toMatchObject({ ok: true });
    expect(fake.sent.get(ann)).toHaveLength(2);
    expect(line.checkNative({ to: lineUserId(), type: 'text', text: 'x' })).toMatch(/override\.line\.payload\.to is not allowed/);
    expect(line.checkNative({ messages: Array.from({ length: 6 }, () => ({ type: 'text', text: 'x' })) })).toMatch(/1 to 5/);
  });
});

describe('line failures', () => {
  it("retries 429 and 5xx with LINE's Retry-After; the monthly quota and other 4xx are permanent with LINE's message", async () => {
    const { fake, ctx } = await connected();
    const to = { externalId: lineUserId() };
    fake.rateLimitNext(3);
    expect(await line.send(ctx, to, text('a'))).toEqual({ ok: false, retryable: true, code: '429', message: 'The API rate limit has been exceeded. Try again later.', retryAfterMs: 3000 });
    fake.failNext(1);
    expect(await line.send(ctx, to, text('b'))).toMatchObject({ ok: false, retryable: true, code: '500' });
    fake.failNext(1, { status: 429, body: { message: 'You have reached your monthly limit.' } });
    expect(await line.send(ctx, to, text('c'))).toMatchObject({ ok: false, retryable: false, code: '429', message: 'You have reached your monthly limit.' });
    expect(await line.send(ctx, to, { kind: 'media', media: 'image', url: 'http://insecure.example.org/a.jpg', buttons: [], replies: [] })).toEqual({
      ok: false,
      retryable: false,
      code: '400',
      message: 'The request body has 2 error(s) (messages[0].originalContentUrl: must be https; messages[0].previewImageUrl: must be https)',
    });
  });

  it('shows the loading animation for typing in a 1:1 chat', async () => {
    const { fake, ctx } = await connected();
    const ann = lineUserId();
    await line.typing!(ctx, { externalId: ann }, true);
    expect(fake.callsTo('/v2/bot/chat/loading/start').at(-1)).toMatchObject({ status: 202, body: { chatId: ann, loadingSeconds: 20 } });
  });

  it('names a LINE user id as a notification recipient, and refuses anything else', () => {
    const id = lineUserId();
    expect(line.notificationRecipient!(id)).toEqual({ externalId: id });
    expect(line.notificationRecipient!('+14155550100')).toMatch(/LINE user id/);
  });
});
