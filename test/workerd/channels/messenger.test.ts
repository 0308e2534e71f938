/** The Messenger adapter against the Graph fake: config, setup, handshake, signatures, every inbound kind, every part kind, failures. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { messenger, type MessengerConfig } from '../../../src/channels/messenger';
import { describeIssue } from '../../../src/schema/common';
import { MetaFake } from '../../fakes/meta';

const API = 'https://meta.fake';
const WEBHOOK = 'https://parley.test/hooks/int_messenger';
const HOUR = 60 * 60 * 1000;
const PSID = '6543210987654321';

const fetcherFor = (fake: MetaFake) => ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;

async function inbound(request: Request): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now: Date.now() };
}

const createBody = (fake: MetaFake, extra: Record<string, unknown> = {}) => ({ pageAccessToken: fake.page.accessToken, appId: '1517776481860111', appSecret: fake.appSecret, apiBaseUrl: API, ...extra });

/** A Page set up through the adapter's own setup, as the API layer does on create. */
async function connected(options: { now?: () => number } = {}) {
  const fake = new MetaFake(options);
  const fetch = fetcherFor(fake);
  const created = v.parse(messenger.createSchema, createBody(fake));
  const outcome = await messenger.setup!({ config: created, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  const config: MessengerConfig = { ...created, ...outcome.config };
  const ctx: ChannelContext<MessengerConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

const parsed = async (config: MessengerConfig, request: Promise<Request>) => messenger.parse(await inbound(await request), config);
const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const lastBody = (fake: MetaFake) => fake.calls.at(-1)?.body as Record<string, any>;
/** The user wrote a minute ago, on both the fake's clock and Parley's. */
async function userWrote(fake: MetaFake, config: MessengerConfig) {
  await parsed(config, fake.messenger.text(WEBHOOK, PSID, 'hi'));
  return { externalId: PSID, lastInboundAt: Date.now() - 60_000 };
}

describe('messenger config', () => {
  it('requires pageAccessToken, appId and appSecret and names each', () => {
    const result = v.safeParse(messenger.createSchema, {});
    expect(result.success).toBe(false);
    expect(result.issues!.map(describeIssue)).toEqual(expect.arrayContaining(['pageAccessToken: is required', 'appId: is required', 'appSecret: is required']));
  });

  it('takes the read-only Page fields from setup only, never from the body', () => {
    const config = v.parse(messenger.createSchema, { pageAccessToken: 't', appId: '1', appSecret: 's', pageId: 'spoofed', pageName: 'Spoofed' });
    expect(config).not.toHaveProperty('pageId');
    expect(config).not.toHaveProperty('pageName');
  });

  it('lets a PATCH rotate only the page token (and the verify token)', () => {
    expect(v.parse(messenger.updateSchema, { pageAccessToken: 'new', appSecret: 'nope', appId: '2', verifyToken: 'new-verify-token' })).toEqual({
      pageAccessToken: 'new',
      verifyToken: 'new-verify-token',
    });
  });

  it('never shows a secret in the view', () => {
    const config: MessengerConfig = { pageAccessToken: 'SECRET-A', appId: '1', appSecret: 'SECRET-B', pageId: '42', pageName: 'Tacos', verifyToken: 'verify-token' };
    expect(JSON.stringify(messenger.view(config))).not.toMatch(/SECRET/);
    expect(messenger.view(config)).toMatchObject({ appId: '1', pageId: '42', pageName: 'Tacos', verifyToken: 'verify-token' });
  });
});

describe('messenger setup', () => {
  it('learns the Page id and name from the token', async () => {
    const { fake, config } = await connected();
    expect(config).toMatchObject({ pageId: fake.page.id, pageName: fake.page.name, verifyToken: expect.stringMatching(/^[0-9a-f]{48}$/) });
    expect(fake.calls[0]).toMatchObject({ method: 'GET', path: '/v21.0/me', body: { fields: 'id,name' }, headers: { authorization: `Bearer ${fake.page.accessToken}` } });
  });

  it('reports a bad token (Graph 190) as an error status with an actionable message', async () => {
    const fake = new MetaFake();
    const config = v.parse(messenger.createSchema, createBody(fake, { pageAccessToken: 'expired' }));
    const outcome = await messenger.setup!({ config, fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/Graph error 190: Invalid OAuth access token.*pages_messaging/);
    expect(outcome.config).not.toHaveProperty('pageId');
  });
});

describe('messenger handshake and signature', () => {
  it('echoes the challenge for the right verify token and refuses others', async () => {
    const { fake, config } = await connected();
    const ok = await messenger.handshake!(new URL(fake.handshake(WEBHOOK, config.verifyToken!, '987654').url), config);
    expect([ok.status, await ok.text()]).toEqual([200, '987654']);
    expect((await messenger.handshake!(new URL(fake.handshake(WEBHOOK, 'wrong-token').url), config)).status).toBe(403);
  });

  it('verifies the reference vector and parses its empty batch to nothing', async () => {
    const raw = new TextEncoder().encode('{"object":"page","entry":[]}');
    const config = { appSecret: 'app_secret_123' } as MessengerConfig;
    const request = (headers: Record<string, string>): InboundRequest => ({ method: 'POST', url: WEBHOOK, headers: new Headers(headers), raw, now: Date.now() });
    expect(await messenger.verify(request({ 'x-hub-signature-256': 'sha256=3b38910fd4c2e5c834930c9fd805f746ee525de8bee6b29c36fbabcbb61670c2' }), config)).toEqual({ ok: true });
    expect(await messenger.verify(request({ 'x-hub-signature': 'sha1=916533047d1e7e5aa678b11464e91a934a76171f' }), config)).toEqual({ ok: true });
    expect(await messenger.verify(request({ 'x-hub-signature-256': 'sha256=3b38910fd4c2e5c834930c9fd805f746ee525de8bee6b29c36fbabcbb61670c3' }), config)).toMatchObject({ ok: false, status: 403 });
    expect(await messenger.verify(request({}), config)).toMatchObject({ ok: false, status: 401 });
    expect(messenger.parse(request({}), config)).toEqual([]);
  });

  it("verifies the fake's signed requests and refuses them under another secret", async () => {
    const { fake, config } = await connected();
    const req = await inbound(await fake.messenger.text(WEBHOOK, PSID, 'Grüße'));
    expect(new TextDecoder().decode(req.raw)).toContain('Gr\\u00fc\\u00dfe');
    expect(await messenger.verify(req, config)).toEqual({ ok: true });
    expect(await messenger.verify(req, { ...config, appSecret: 'another' })).toMatchObject({ ok: false, status: 403 });
  });
});

describe('messenger inbound', () => {
  it('turns a text into a message keyed by mid, with the PSID and the millisecond timestamp', async () => {
    const now = Date.UTC(2026, 0, 15, 12, 0, 0, 123);
    const { fake, config } = await connected({ now: () => now });
    const events = await parsed(config, fake.messenger.text(WEBHOOK, PSID, 'hello', { mid: 'm_abc' }));
    expect(events).toEqual([{ kind: 'message', channelMessageId: 'm_abc', content: { type: 'text', text: 'hello' }, user: { externalId: PSID }, timestamp: now }]);
  });

  it('carries the replied-to mid', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.messenger.text(WEBHOOK, PSID, 'this', { replyTo: 'm_original' }));
    expect(event).toMatchObject({ quotedChannelMessageId: 'm_original' });
  });

  it('turns attachments into media by CDN URL, stickers into images, shared links into text', async () => {
    const { fake, config } = await connected();
    for (const type of ['image', 'video', 'audio', 'file'] as const) {
      const [event] = await parsed(config, fake.messenger.attachment(WEBHOOK, PSID, type));
      expect(event).toMatchObject({ kind: 'message', content: { type: 'media', media: { kind: type, ref: expect.stringMatching(/^https:\/\/meta\.fake\/cdn\//) } } });
    }
    const [sticker] = await parsed(config, fake.messenger.attachment(WEBHOOK, PSID, 'sticker'));
    expect(sticker).toMatchObject({ content: { type: 'media', media: { kind: 'image' } } });
    const [link] = await parsed(config, fake.messenger.attachment(WEBHOOK, PSID, 'fallback', { url: 'https://news.test/a', title: 'A story' }));
    expect(link).toMatchObject({ content: { type: 'text', text: 'A story\nhttps://news.test/a' } });
  });

  it('turns a legacy location attachment into a location', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.messenger.location(WEBHOOK, PSID, 52.52, 13.4, 'Berlin'));
    expect(event).toMatchObject({ content: { type: 'location', lat: 52.52, long: 13.4, name: 'Berlin' } });
  });

  it('gives each of several attachments of one mid its own dedupe key', async () => {
    const { fake, config } = await connected();
    const events = await parsed(config, fake.messenger.attachments(WEBHOOK, PSID, ['image', 'image', 'video']));
    const ids = events.map((e) => (e as { channelMessageId: string }).channelMessageId);
    expect(ids).toEqual([ids[0], `${ids[0]}:1`, `${ids[0]}:2`]);
  });

  it('turns a quick-reply tap into a text message with its payload, and #n into a choice', async () => {
    const { fake, config } = await connected();
    const [reply] = await parsed(config, fake.messenger.quickReply(WEBHOOK, PSID, 'Red', 'COLOR_RED'));
    expect(reply).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Red', payload: 'COLOR_RED' } });
    const [choice] = await parsed(config, fake.messenger.quickReply(WEBHOOK, PSID, 'Long one', '#4'));
    expect(choice).toMatchObject({ kind: 'postback', choice: 4, text: 'Long one' });
  });

  it('turns a postback into a postback, and a referral it carries into a referral', async () => {
    const { fake, config } = await connected();
    const [postback] = await parsed(config, fake.messenger.postback(WEBHOOK, PSID, 'Buy', 'BUY_1'));
    expect(postback).toMatchObject({ kind: 'postback', payload: 'BUY_1', text: 'Buy', channelMessageId: expect.stringMatching(/^m_/) });
    const events = await parsed(config, fake.messenger.postback(WEBHOOK, PSID, 'Get Started', 'GET_STARTED', { referral: { ref: 'spring-sale', source: 'SHORTLINK', type: 'OPEN_THREAD' } }));
    expect(events.map((e) => e.kind)).toEqual(['postback', 'referral']);
    expect(events[1]).toMatchObject({ ref: 'spring-sale', source: 'SHORTLINK', referralType: 'OPEN_THREAD' });
  });

  it('turns an m.me referral into a referral event', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.messenger.referral(WEBHOOK, PSID, 'promo-42'));
    expect(event).toMatchObject({ kind: 'referral', ref: 'promo-42', source: 'SHORTLINK', referralType: 'OPEN_THREAD', user: { externalId: PSID } });
  });

  it('turns delivery and read watermarks into receipts for our messages', async () => {
    const { fake, config } = await connected();
    const [delivered] = await parsed(config, fake.messenger.delivery(WEBHOOK, PSID, 1458668856253, ['m_1']));
    expect(delivered).toMatchObject({ kind: 'delivery', status: 'delivered', watermark: 1458668856253 });
    const [read] = await parsed(config, fake.messenger.read(WEBHOOK, PSID, { watermark: 1458668856300 }));
    expect(read).toMatchObject({ kind: 'delivery', status: 'read', watermark: 1458668856300 });
  });

  it('ignores echoes of our own sends and reactions', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.messenger.echo(WEBHOOK, PSID, 'we said this'))).toEqual([]);
    expect(await parsed(config, fake.messenger.reaction(WEBHOOK, PSID, 'm_1', '❤'))).toEqual([]);
  });

  it("reads every entry of a batch, and ignores another Page's entries", async () => {
    const { fake, config } = await connected();
    const batch = fake.messenger.webhook(WEBHOOK, [
      fake.messenger.item(PSID, { message: { mid: 'm_1', text: 'one' } }),
      fake.messenger.item('777', { message: { mid: 'm_2', text: 'two' } }),
    ]);
    expect((await parsed(config, batch)).map((e) => (e as { channelMessageId: string }).channelMessageId)).toEqual(['m_1', 'm_2']);
    const other = fake.messenger.webhook(WEBHOOK, [fake.messenger.item(PSID, { message: { mid: 'm_3', text: 'x' } })], { entryId: '999' });
    expect(await parsed(config, other)).toEqual([]);
    // Before setup has learned the Page there is nothing to filter by.
    const again = fake.messenger.webhook(WEBHOOK, [fake.messenger.item(PSID, { message: { mid: 'm_3', text: 'x' } })], { entryId: '999' });
    expect(await parsed({ ...config, pageId: undefined }, again)).toHaveLength(1);
  });

  it('ignores Instagram and WhatsApp bodies', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.instagram.text(WEBHOOK, PSID, 'x'))).toEqual([]);
    expect(await parsed(config, fake.whatsapp.text(WEBHOOK, { waId: '1555' }, 'x'))).toEqual([]);
  });

  it('throws a 400 naming what is malformed', async () => {
    const { fake, config } = await connected();
    const noSender = fake.messenger.webhook(WEBHOOK, [{ recipient: { id: fake.page.id }, timestamp: 1, message: { mid: 'm', text: 'x' } }]);
    await expect(parsed(config, noSender)).rejects.toThrow('entry[0].messaging[0]: sender: is required');
    const raw: InboundRequest = { method: 'POST', url: WEBHOOK, headers: new Headers(), raw: new TextEncoder().encode('{"object":"page","entry":{}}'), now: 0 };
    expect(() => messenger.parse(raw, config)).toThrow('Webhook body: entry: must be an array');
  });
});

describe('messenger media download', () => {
  it('downloads a CDN attachment without a token', async () => {
    const { fake, ctx, config } = await connected();
    const bytes = new TextEncoder().encode('PNGDATA');
    const [event] = await parsed(config, fake.messenger.attachment(WEBHOOK, PSID, 'image', { bytes, mimeType: 'image/png' }));
    const response = await messenger.fetchMedia!(ctx, (event as { content: { media: { ref: string } } }).content.media.ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    expect(fake.calls.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('throws a clear error for an expired link', async () => {
    const { ctx } = await connected();
    await expect(messenger.fetchMedia!(ctx, 'https://meta.fake/cdn/gone')).rejects.toThrow('Meta media download answered HTTP 403');
  });
});

describe('messenger send', () => {
  it('sends text as a RESPONSE inside the window to the Page endpoint with the page token', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    const outcome = await messenger.send(ctx, to, text('Hello'));
    expect(outcome).toEqual({ ok: true, channelMessageId: expect.stringMatching(/^m_/) });
    const call = fake.calls.at(-1)!;
    expect(call.path).toBe(`/v21.0/${fake.page.id}/messages`);
    expect(call.headers.authorization).toBe(`Bearer ${fake.page.accessToken}`);
    expect(call.body).toEqual({ messaging_type: 'RESPONSE', recipient: { id: PSID }, message: { text: 'Hello' } });
  });

  it('sends through /me/messages before the Page is known', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    await messenger.send({ ...ctx, config: { ...config, pageId: undefined } }, to, text('Hello'));
    expect(fake.calls.at(-1)).toMatchObject({ path: '/v21.0/me/messages', status: 200 });
  });

  it('tags sends after the 24-hour window as HUMAN_AGENT, which Meta accepts for 7 days', async () => {
    let now = Date.now();
    const { fake, ctx, config } = await connected({ now: () => now });
    await userWrote(fake, config);
    now += 3 * 24 * HOUR;
    const to = { externalId: PSID, lastInboundAt: Date.now() - 3 * 24 * HOUR };
    expect((await messenger.send(ctx, to, text('Following up'))).ok).toBe(true);
    expect(lastBody(fake)).toMatchObject({ messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' });
    now += 5 * 24 * HOUR;
    expect(await messenger.send(ctx, { externalId: PSID, lastInboundAt: Date.now() - 8 * 24 * HOUR }, text('Too late'))).toMatchObject({
      ok: false,
      retryable: false,
      code: '10',
      message: expect.stringContaining('subcode 2018278'),
    });
  });

  it('sends quick replies with their payloads and icons, #choice when a payload is over 1,000 characters', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    const outcome = await messenger.send(
      ctx,
      to,
      text('Color?', {
        replies: [
          { text: 'Red', payload: 'RED', choice: 1, iconUrl: 'https://x.test/red.png' },
          { text: 'Long', payload: 'x'.repeat(1001), choice: 2 },
        ],
      }),
    );
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake).message).toEqual({
      text: 'Color?',
      quick_replies: [
        { content_type: 'text', title: 'Red', payload: 'RED', image_url: 'https://x.test/red.png' },
        { content_type: 'text', title: 'Long', payload: '#2' },
      ],
    });
  });

  it('sends postback and link buttons together as a button template, quick replies on the same message', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    const outcome = await messenger.send(
      ctx,
      to,
      text('Choose', {
        buttons: [
          { kind: 'postback', text: 'Buy', payload: 'BUY', choice: 1 },
          { kind: 'link', text: 'Site', uri: 'https://x.test' },
        ],
        replies: [{ text: 'Later', payload: 'LATER', choice: 2 }],
      }),
    );
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake).message).toEqual({
      attachment: {
        type: 'template',
        payload: {
          template_type: 'button',
          text: 'Choose',
          buttons: [
            { type: 'postback', title: 'Buy', payload: 'BUY' },
            { type: 'web_url', title: 'Site', url: 'https://x.test' },
          ],
        },
      },
      quick_replies: [{ content_type: 'text', title: 'Later', payload: 'LATER' }],
    });
  });

  it('sends the head of text longer than a button template holds as plain text first', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    const long = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    const before = fake.calls.length;
    const outcome = await messenger.send(ctx, to, text(long, { buttons: [{ kind: 'postback', text: 'OK', payload: 'OK', choice: 1 }] }));
    expect(outcome.ok).toBe(true);
    const [head, tail] = fake.calls.slice(before).map((c) => (c.body as Record<string, any>).message);
    expect(tail.attachment.payload.text.length).toBeLessThanOrEqual(640);
    expect(`${head.text} ${tail.attachment.payload.text}`).toBe(long);
  });

  it('sends every media kind as a reusable attachment, quick replies riding along', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    for (const kind of ['image', 'file', 'video', 'audio'] as const) {
      const outcome = await messenger.send(ctx, to, { kind: 'media', media: kind, url: `https://x.test/${kind}`, buttons: [], replies: [] });
      expect(outcome.ok).toBe(true);
      expect(lastBody(fake).message).toEqual({ attachment: { type: kind, payload: { url: `https://x.test/${kind}`, is_reusable: true } } });
    }
    await messenger.send(ctx, to, { kind: 'media', media: 'image', url: 'https://x.test/i', buttons: [], replies: [{ text: 'More', payload: 'MORE', choice: 1 }] });
    expect(lastBody(fake).message.quick_replies).toEqual([{ content_type: 'text', title: 'More', payload: 'MORE' }]);
  });

  it('sends a carousel as a generic template', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    const outcome = await messenger.send(ctx, to, {
      kind: 'carousel',
      cards: [
        { title: 'Taco', description: 'Spicy', mediaUrl: 'https://x.test/taco.jpg', defaultUri: 'https://x.test/taco', buttons: [{ kind: 'postback', text: 'Order', payload: 'TACO', choice: 1 }] },
        { title: 'Burrito', buttons: [{ kind: 'link', text: 'Menu', uri: 'https://x.test/menu' }] },
      ],
    });
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake).message.attachment).toEqual({
      type: 'template',
      payload: {
        template_type: 'generic',
        elements: [
          {
            title: 'Taco',
            subtitle: 'Spicy',
            image_url: 'https://x.test/taco.jpg',
            default_action: { type: 'web_url', url: 'https://x.test/taco' },
            buttons: [{ type: 'postback', title: 'Order', payload: 'TACO' }],
          },
          { title: 'Burrito', buttons: [{ type: 'web_url', title: 'Menu', url: 'https://x.test/menu' }] },
        ],
      },
    });
  });

  it('sends a native override as the message, or as the whole body with our recipient', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    await messenger.send(ctx, to, { kind: 'native', payload: { text: 'raw message' } });
    expect(lastBody(fake)).toEqual({ messaging_type: 'RESPONSE', recipient: { id: PSID }, message: { text: 'raw message' } });
    await messenger.send(ctx, to, { kind: 'native', payload: { messaging_type: 'UPDATE', recipient: { id: 'other' }, message: { text: 'whole body' } } });
    expect(lastBody(fake)).toEqual({ messaging_type: 'UPDATE', recipient: { id: PSID }, message: { text: 'whole body' } });
  });

  it('shows and hides the typing indicator', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    await messenger.typing!(ctx, to, true);
    expect(lastBody(fake)).toEqual({ recipient: { id: PSID }, sender_action: 'typing_on' });
    await messenger.typing!(ctx, to, false);
    expect(lastBody(fake)).toEqual({ recipient: { id: PSID }, sender_action: 'typing_off' });
  });
});

describe('messenger send failures', () => {
  it('retries rate limits after a back-off and temporary errors', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    fake.errorNext('613');
    expect(await messenger.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '613', retryAfterMs: 60_000 });
    fake.errorNext('4', 1, { 'retry-after': '30' });
    expect(await messenger.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '4', retryAfterMs: 30_000 });
    fake.errorNext('2');
    expect(await messenger.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '2' });
    fake.failNext(1, { status: 500, body: { oops: 1 } });
    expect(await messenger.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_500' });
  });

  it('retries timeouts', async () => {
    const { ctx } = await connected();
    const timeout = (() => Promise.reject(new DOMException('timed out', 'TimeoutError'))) as typeof fetch;
    expect(await messenger.send({ ...ctx, fetch: timeout }, { externalId: PSID }, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'timeout' });
  });

  it('keeps a revoked token, an unknown user and the closed window permanent', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    expect(await messenger.send({ ...ctx, config: { ...config, pageAccessToken: 'revoked' } }, to, text('x'))).toMatchObject({ ok: false, retryable: false, code: '190' });
    expect(await messenger.send(ctx, { externalId: 'never-wrote', lastInboundAt: Date.now() }, text('x'))).toMatchObject({
      ok: false,
      retryable: false,
      code: '100',
      message: '(#100) No matching user found (subcode 2018001)',
    });
    fake.errorNext('10/2018278');
    expect(await messenger.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: false, code: '10' });
  });
});
