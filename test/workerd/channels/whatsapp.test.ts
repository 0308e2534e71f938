/** The WhatsApp Cloud API adapter against the Graph fake: config, setup, handshake, signatures, every inbound kind, every part kind, failures. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { hmacHex } from '../../../src/channels/signing';
import { toWhatsAppMarkdown, whatsapp, type WhatsAppConfig } from '../../../src/channels/whatsapp';
import { describeIssue } from '../../../src/schema/common';
import { MetaFake } from '../../fakes/meta';

const API = 'https://meta.fake';
const WEBHOOK = 'https://parley.test/hooks/int_whatsapp';
const HOUR = 60 * 60 * 1000;
const ANN = { waId: '16505551234', name: 'Ann Lee' };

const fetcherFor = (fake: MetaFake) => ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;

async function inbound(request: Request): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now: Date.now() };
}

/** A number set up through the adapter's own setup, as the API layer does on create. */
async function connected(options: { now?: () => number } = {}) {
  const fake = new MetaFake(options);
  const fetch = fetcherFor(fake);
  const created = v.parse(whatsapp.createSchema, { phoneNumberId: fake.wa.phoneNumberId, accessToken: fake.wa.accessToken, appSecret: fake.appSecret, apiBaseUrl: API });
  const outcome = await whatsapp.setup!({ config: created, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  const config: WhatsAppConfig = { ...created, ...outcome.config };
  const ctx: ChannelContext<WhatsAppConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

const parsed = async (config: WhatsAppConfig, request: Promise<Request>) => whatsapp.parse(await inbound(await request), config);
const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const lastBody = (fake: MetaFake) => fake.calls.at(-1)?.body as Record<string, unknown>;
/** Ann wrote a minute ago: the customer-service window is open on both sides. */
async function annWrote(fake: MetaFake, config: WhatsAppConfig) {
  await parsed(config, fake.whatsapp.text(WEBHOOK, ANN, 'hi'));
  return { externalId: ANN.waId, lastInboundAt: Date.now() - 60_000 };
}

describe('whatsapp config', () => {
  it('requires phoneNumberId, accessToken and appSecret and names each', () => {
    const result = v.safeParse(whatsapp.createSchema, {});
    expect(result.success).toBe(false);
    const issues = result.issues!.map(describeIssue);
    expect(issues).toContain('phoneNumberId: is required');
    expect(issues).toContain('accessToken: is required');
    expect(issues).toContain('appSecret: is required');
  });

  it('defaults hsmFallbackLanguage to en_US and drops read-only fields from the body', () => {
    const config = v.parse(whatsapp.createSchema, { phoneNumberId: '123', accessToken: 't', appSecret: 's', phoneNumber: '+1999' });
    expect(config.hsmFallbackLanguage).toBe('en_US');
    expect(config).not.toHaveProperty('phoneNumber');
  });

  it('refuses a short verifyToken, a bad graphVersion and a non-numeric phoneNumberId', () => {
    const issues = (body: Record<string, unknown>) => v.safeParse(whatsapp.createSchema, { phoneNumberId: '123', accessToken: 't', appSecret: 's', ...body }).issues?.map(describeIssue);
    expect(issues({ verifyToken: 'short' })).toEqual(['verifyToken: must be at least 8 characters long']);
    expect(issues({ graphVersion: '21' })).toEqual(["graphVersion: must be a Graph API version such as 'v21.0'"]);
    expect(issues({ phoneNumberId: '+1 555' })).toEqual(['phoneNumberId: must be the numeric Phone number ID from WhatsApp Manager']);
    expect(issues({ hsmFallbackLanguage: 'english' })?.[0]).toMatch(/^hsmFallbackLanguage: must be a WhatsApp template language code/);
  });

  it('lets a PATCH change only the contract subset and the credentials', () => {
    expect(v.parse(whatsapp.updateSchema, { hsmFallbackLanguage: 'de', accessToken: 'new', phoneNumberId: '999' })).toEqual({ hsmFallbackLanguage: 'de', accessToken: 'new' });
  });

  it('never shows a secret in the view, but shows the verify token to paste into Meta', () => {
    const config: WhatsAppConfig = {
      hsmFallbackLanguage: 'en_US',
      phoneNumberId: '1',
      accessToken: 'SECRET-A',
      appSecret: 'SECRET-B',
      accountManagementAccessToken: 'SECRET-C',
      accountId: 'waba',
      verifyToken: 'verify-me-please',
      phoneNumber: '+15550783881',
    };
    const view = JSON.stringify(whatsapp.view(config));
    expect(view).not.toMatch(/SECRET/);
    expect(whatsapp.view(config)).toMatchObject({ hsmFallbackLanguage: 'en_US', accountId: 'waba', phoneNumber: '+15550783881', verifyToken: 'verify-me-please' });
    expect(whatsapp.secretFields).toEqual(expect.arrayContaining(['accessToken', 'appSecret', 'accountManagementAccessToken']));
  });
});

describe('whatsapp setup', () => {
  it('reads the display phone number with the Bearer token and generates a verify token', async () => {
    const { fake, config } = await connected();
    expect(config.phoneNumber).toBe('+15550783881');
    expect(config.verifyToken).toMatch(/^[0-9a-f]{48}$/);
    const call = fake.calls[0]!;
    expect(call.path).toBe(`/v21.0/${fake.wa.phoneNumberId}`);
    expect(call.body).toEqual({ fields: 'display_phone_number' });
    expect(call.headers.authorization).toBe(`Bearer ${fake.wa.accessToken}`);
  });

  it('keeps the verify token the customer chose and the graph version they pinned', async () => {
    const fake = new MetaFake();
    const config = v.parse(whatsapp.createSchema, {
      phoneNumberId: fake.wa.phoneNumberId,
      accessToken: fake.wa.accessToken,
      appSecret: fake.appSecret,
      apiBaseUrl: API,
      verifyToken: 'my-own-verify-token',
      graphVersion: 'v19.0',
    });
    const outcome = await whatsapp.setup!({ config, fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(outcome.config?.verifyToken).toBe('my-own-verify-token');
    expect(fake.calls[0]!.path).toBe(`/v19.0/${fake.wa.phoneNumberId}`);
  });

  it('reports a refused token as an error status with an actionable message', async () => {
    const fake = new MetaFake();
    const config = v.parse(whatsapp.createSchema, { phoneNumberId: fake.wa.phoneNumberId, accessToken: 'wrong', appSecret: 's', apiBaseUrl: API });
    const outcome = await whatsapp.setup!({ config, fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/Graph error 190: Invalid OAuth access token.*check both in WhatsApp Manager/);
    // The token to paste into Meta's dashboard exists even before the credentials work.
    expect(outcome.config?.verifyToken).toMatch(/^[0-9a-f]{48}$/);
  });

  it('reports an unknown phone number id as an error status', async () => {
    const fake = new MetaFake();
    const config = v.parse(whatsapp.createSchema, { phoneNumberId: '999', accessToken: fake.wa.accessToken, appSecret: 's', apiBaseUrl: API });
    const outcome = await whatsapp.setup!({ config, fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/phoneNumberId 999/);
  });
});

describe('whatsapp handshake', () => {
  it('echoes hub.challenge as text/plain when the verify token matches', async () => {
    const { fake, config } = await connected();
    const request = fake.handshake(WEBHOOK, config.verifyToken!, '1158201444');
    const response = await whatsapp.handshake!(new URL(request.url), config);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(await response.text()).toBe('1158201444');
  });

  it('answers 403 for a wrong token, a wrong mode, or no token configured', async () => {
    const { fake, config } = await connected();
    expect((await whatsapp.handshake!(new URL(fake.handshake(WEBHOOK, 'not-the-token').url), config)).status).toBe(403);
    const url = new URL(fake.handshake(WEBHOOK, config.verifyToken!).url);
    url.searchParams.set('hub.mode', 'unsubscribe');
    expect((await whatsapp.handshake!(url, config)).status).toBe(403);
    expect((await whatsapp.handshake!(new URL(fake.handshake(WEBHOOK, 'anything').url), { ...config, verifyToken: undefined })).status).toBe(403);
  });
});

describe('whatsapp signature (reference §1.2)', () => {
  const RAW = '{"object":"page","entry":[]}';
  const SHA256 = 'sha256=3b38910fd4c2e5c834930c9fd805f746ee525de8bee6b29c36fbabcbb61670c2';
  const SHA1 = 'sha1=916533047d1e7e5aa678b11464e91a934a76171f';
  const config = { appSecret: 'app_secret_123' } as WhatsAppConfig;
  const request = (headers: Record<string, string>, raw = RAW): InboundRequest => ({
    method: 'POST',
    url: WEBHOOK,
    headers: new Headers(headers),
    raw: new TextEncoder().encode(raw),
    now: Date.now(),
  });

  it('reproduces the reference test vectors with the shared signing primitives', async () => {
    expect(`sha256=${await hmacHex('SHA-256', 'app_secret_123', RAW)}`).toBe(SHA256);
    expect(`sha1=${await hmacHex('SHA-1', 'app_secret_123', RAW)}`).toBe(SHA1);
  });

  it('accepts the vector on X-Hub-Signature-256', async () => {
    expect(await whatsapp.verify(request({ 'x-hub-signature-256': SHA256 }), config)).toEqual({ ok: true });
  });

  it('accepts the SHA-1 vector only when the SHA-256 header is absent', async () => {
    expect(await whatsapp.verify(request({ 'x-hub-signature': SHA1 }), config)).toEqual({ ok: true });
    const forged = await whatsapp.verify(request({ 'x-hub-signature-256': 'sha256=00', 'x-hub-signature': SHA1 }), config);
    expect(forged).toMatchObject({ ok: false, status: 403 });
  });

  it('refuses a tampered body, a wrong secret and a missing header', async () => {
    expect(await whatsapp.verify(request({ 'x-hub-signature-256': SHA256 }, '{"object":"page","entry":[{}]}'), config)).toMatchObject({ ok: false, status: 403 });
    expect(await whatsapp.verify(request({ 'x-hub-signature-256': SHA256 }), { appSecret: 'other_secret' } as WhatsAppConfig)).toMatchObject({ ok: false, status: 403 });
    expect(await whatsapp.verify(request({}), config)).toMatchObject({ ok: false, status: 401, reason: 'X-Hub-Signature-256 header is missing' });
  });

  it("verifies the fake's escaped-unicode bytes as sent and parses them back", async () => {
    const { fake, config } = await connected();
    const req = await inbound(await fake.whatsapp.text(WEBHOOK, ANN, 'äöå 👍 https://x.test/a'));
    const raw = new TextDecoder().decode(req.raw);
    expect(raw).toContain('\\u00e4\\u00f6\\u00e5 \\ud83d\\udc4d https:\\/\\/x.test\\/a');
    expect(await whatsapp.verify(req, config)).toEqual({ ok: true });
    expect(whatsapp.parse(req, config)[0]).toMatchObject({ content: { type: 'text', text: 'äöå 👍 https://x.test/a' } });
  });
});

describe('whatsapp inbound', () => {
  it('turns a text into a message keyed by wamid, with the profile name, phone and time', async () => {
    const now = Date.UTC(2026, 0, 15, 12, 0, 0);
    const { fake, config } = await connected({ now: () => now });
    const [event] = await parsed(config, fake.whatsapp.text(WEBHOOK, ANN, 'Does it come in another color?'));
    expect(event).toEqual({
      kind: 'message',
      channelMessageId: expect.stringMatching(/^wamid\./),
      content: { type: 'text', text: 'Does it come in another color?' },
      user: { externalId: ANN.waId, displayName: 'Ann Lee', info: { phoneNumber: '+16505551234' }, raw: { profile: { name: 'Ann Lee' }, wa_id: ANN.waId } },
      timestamp: now,
    });
  });

  it('carries the replied-to message id', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.whatsapp.text(WEBHOOK, ANN, 'this one', { replyTo: 'wamid.ORIGINAL' }));
    expect(event).toMatchObject({ kind: 'message', quotedChannelMessageId: 'wamid.ORIGINAL' });
  });

  it('turns every media type into media by id, with caption, mime type and file name', async () => {
    const { fake, config } = await connected();
    const image = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'image', { caption: 'look' }));
    expect(image[0]).toMatchObject({ content: { type: 'media', media: { kind: 'image', ref: expect.stringMatching(/^\d+$/), mimeType: 'image/jpeg' }, text: 'look' } });
    const doc = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'document', { filename: 'invoice.pdf' }));
    expect(doc[0]).toMatchObject({ content: { type: 'media', media: { kind: 'file', fileName: 'invoice.pdf', mimeType: 'application/pdf' } } });
    const video = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'video'));
    expect(video[0]).toMatchObject({ content: { media: { kind: 'video', mimeType: 'video/mp4' } } });
    const audio = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'audio'));
    expect(audio[0]).toMatchObject({ content: { media: { kind: 'audio', mimeType: 'audio/ogg' } } });
    const sticker = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'sticker'));
    expect(sticker[0]).toMatchObject({ content: { media: { kind: 'image', mimeType: 'image/webp' } } });
  });

  it('turns a shared location into a location', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.whatsapp.location(WEBHOOK, ANN, { latitude: 37.48, longitude: -122.14, name: 'HQ', address: '1 Hacker Way' }));
    expect(event).toMatchObject({ kind: 'message', content: { type: 'location', lat: 37.48, long: -122.14, name: 'HQ', address: '1 Hacker Way' } });
  });

  it('reads reply-button ids back as the kind of action that was sent', async () => {
    const { fake, config } = await connected();
    const reply = await parsed(config, fake.whatsapp.buttonReply(WEBHOOK, ANN, 'r:YES', 'Yes'));
    expect(reply[0]).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Yes', payload: 'YES' } });
    const postback = await parsed(config, fake.whatsapp.buttonReply(WEBHOOK, ANN, 'p:BUY', 'Buy'));
    expect(postback[0]).toMatchObject({ kind: 'postback', payload: 'BUY', text: 'Buy', channelMessageId: expect.stringMatching(/^wamid\./) });
    const long = await parsed(config, fake.whatsapp.buttonReply(WEBHOOK, ANN, '#3', 'Third'));
    expect(long[0]).toMatchObject({ kind: 'postback', choice: 3, text: 'Third' });
    expect(long[0]).not.toHaveProperty('payload');
    const foreign = await parsed(config, fake.whatsapp.buttonReply(WEBHOOK, ANN, 'native-id', 'Native'));
    expect(foreign[0]).toMatchObject({ kind: 'postback', payload: 'native-id' });
  });

  it('reads list picks the same way', async () => {
    const { fake, config } = await connected();
    const row = await parsed(config, fake.whatsapp.listReply(WEBHOOK, ANN, 'r:SIZE_M', 'Medium', 'fits most'));
    expect(row[0]).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Medium', payload: 'SIZE_M' } });
    const pick = await parsed(config, fake.whatsapp.listReply(WEBHOOK, ANN, 'p:PLAN_B', 'Plan B'));
    expect(pick[0]).toMatchObject({ kind: 'postback', payload: 'PLAN_B' });
  });

  it("turns a template's quick-reply button into a postback with its payload", async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.whatsapp.templateButton(WEBHOOK, ANN, 'CONFIRM_ORDER', 'Confirm'));
    expect(event).toMatchObject({ kind: 'postback', payload: 'CONFIRM_ORDER', text: 'Confirm' });
  });

  it('ignores reactions', async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.whatsapp.reaction(WEBHOOK, ANN, 'wamid.X', '👍'))).toEqual([]);
  });

  it('turns statuses into delivery receipts for our messages, failures with their code', async () => {
    const { fake, config } = await connected();
    for (const status of ['sent', 'delivered', 'read'] as const) {
      const [event] = await parsed(config, fake.whatsapp.status(WEBHOOK, { id: 'wamid.OURS', status, recipientId: ANN.waId }));
      expect(event).toMatchObject({ kind: 'delivery', status, channelMessageId: 'wamid.OURS', user: { externalId: ANN.waId }, timestamp: expect.any(Number) });
    }
    const [failed] = await parsed(config, fake.whatsapp.status(WEBHOOK, { id: 'wamid.OURS', status: 'failed', recipientId: ANN.waId, errors: [{ code: 131026, title: 'Message undeliverable' }] }));
    expect(failed).toMatchObject({ kind: 'delivery', status: 'failed', error: { code: '131026', message: 'Message undeliverable' } });
  });

  it('reads every entry of a batched webhook, in order', async () => {
    const { fake, config } = await connected();
    const request = fake.whatsapp.webhook(WEBHOOK, [
      fake.whatsapp.messageValue(ANN, { type: 'text', text: { body: 'one' } }),
      fake.whatsapp.statusValue({ id: 'wamid.OURS', status: 'read', recipientId: ANN.waId }),
      fake.whatsapp.messageValue({ waId: '4915112345678', name: 'Bo' }, { type: 'text', text: { body: 'two' } }),
    ]);
    const events = await parsed(config, request);
    expect(events.map((e) => e.kind)).toEqual(['message', 'delivery', 'message']);
    expect(events[2]).toMatchObject({ user: { externalId: '4915112345678', displayName: 'Bo' }, content: { text: 'two' } });
  });

  it("ignores another phone number's events and other objects", async () => {
    const { fake, config } = await connected();
    const other = fake.whatsapp.webhook(WEBHOOK, [fake.whatsapp.messageValue(ANN, { type: 'text', text: { body: 'x' } }, '999999')]);
    expect(await parsed(config, other)).toEqual([]);
    expect(await parsed(config, fake.messenger.text(WEBHOOK, 'psid', 'x'))).toEqual([]);
  });

  it('throws a 400 naming what is malformed', async () => {
    const { fake, config } = await connected();
    const raw = (body: string): InboundRequest => ({ method: 'POST', url: WEBHOOK, headers: new Headers(), raw: new TextEncoder().encode(body), now: Date.now() });
    expect(() => whatsapp.parse(raw('not json'), config)).toThrow('Webhook body is not JSON');
    expect(() => whatsapp.parse(raw('{"object":"whatsapp_business_account"}'), config)).toThrow('Webhook body: entry: is required');
    const noFrom = fake.whatsapp.webhook(WEBHOOK, [{ ...fake.whatsapp.messageValue(ANN, {}), messages: [{ id: 'wamid.1', type: 'text', text: { body: 'x' } }] }]);
    await expect(parsed(config, noFrom)).rejects.toThrow('entry[0].changes[0].value.messages[0]: from: is required');
    const noImage = () => fake.whatsapp.webhook(WEBHOOK, [fake.whatsapp.messageValue(ANN, { type: 'image' })]);
    await expect(parsed(config, noImage())).rejects.toThrow('entry[0].changes[0].value.messages[0].image is required for type image');
    await expect(parsed(config, noImage())).rejects.toMatchObject({ status: 400 });
  });
});

describe('whatsapp media download', () => {
  it('looks the media id up and downloads the URL, both with the Bearer token', async () => {
    const { fake, ctx, config } = await connected();
    const bytes = new TextEncoder().encode('JPEGDATA');
    const [event] = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'image', { bytes }));
    const ref = (event as { content: { media: { ref: string } } }).content.media.ref;
    const before = fake.calls.length;
    const response = await whatsapp.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    const [lookup, download] = fake.calls.slice(before);
    expect(lookup).toMatchObject({ path: `/v21.0/${ref}`, status: 200, headers: { authorization: `Bearer ${fake.wa.accessToken}` } });
    expect(download).toMatchObject({ path: '/whatsapp_business/attachments/', status: 200, headers: { authorization: `Bearer ${fake.wa.accessToken}` } });
  });

  it('throws a clear error when the token is refused', async () => {
    const { fake, ctx, config } = await connected();
    const [event] = await parsed(config, fake.whatsapp.media(WEBHOOK, ANN, 'image'));
    const ref = (event as { content: { media: { ref: string } } }).content.media.ref;
    await expect(whatsapp.fetchMedia!({ ...ctx, config: { ...config, accessToken: 'wrong' } }, ref)).rejects.toThrow(`WhatsApp media ${ref}: lookup answered HTTP 401`);
  });
});

describe('whatsapp send', () => {
  it('sends text inside the window and returns the wamid', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const outcome = await whatsapp.send(ctx, to, text('Hello Ann'));
    expect(outcome).toEqual({ ok: true, channelMessageId: expect.stringMatching(/^wamid\./) });
    const call = fake.calls.at(-1)!;
    expect(call.path).toBe(`/v21.0/${fake.wa.phoneNumberId}/messages`);
    expect(call.headers.authorization).toBe(`Bearer ${fake.wa.accessToken}`);
    expect(call.body).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: ANN.waId, type: 'text', text: { body: 'Hello Ann', preview_url: false } });
  });

  it("converts the markdown form to WhatsApp's own emphasis", async () => {
    expect(toWhatsAppMarkdown('**bold**, *italic*, ~~gone~~ and [docs](https://x.test)')).toBe('*bold*, _italic_, ~gone~ and docs (https://x.test)');
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    await whatsapp.send(ctx, to, text('bold', { markdown: '**bold** https://x.test' }));
    expect(lastBody(fake).text).toEqual({ body: '*bold* https://x.test', preview_url: true });
  });

  it('refuses free-form parts outside the 24-hour window without calling Meta', async () => {
    const { fake, ctx } = await connected();
    const before = fake.calls.length;
    const expected = {
      ok: false,
      retryable: false,
      code: '131047',
      message: 'Re-engagement message: more than 24 hours have passed since the user last wrote; send a template',
    };
    expect(await whatsapp.send(ctx, { externalId: ANN.waId, lastInboundAt: Date.now() - 25 * HOUR }, text('hi'))).toEqual(expected);
    expect(await whatsapp.send(ctx, { externalId: ANN.waId }, { kind: 'media', media: 'image', url: 'https://x.test/a.jpg', buttons: [], replies: [] })).toEqual(expected);
    expect(fake.calls.length).toBe(before);
  });

  it('sends templates outside the window, in the fallback language unless one is given', async () => {
    const { fake, ctx } = await connected();
    const to = { externalId: ANN.waId, lastInboundAt: Date.now() - 48 * HOUR };
    const components = [{ type: 'body', parameters: [{ type: 'text', text: 'John' }] }];
    const outcome = await whatsapp.send(ctx, to, { kind: 'template', template: { namespace: 'ns', name: 'order_update', components } });
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake)).toEqual({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: ANN.waId,
      type: 'template',
      template: { name: 'order_update', language: { code: 'en_US' }, components },
    });
    await whatsapp.send({ ...ctx, config: { ...ctx.config, hsmFallbackLanguage: 'de' } }, to, { kind: 'template', template: { name: 'hello', language: { policy: 'deterministic', code: 'pt_BR' } } });
    expect((lastBody(fake).template as Record<string, unknown>).language).toEqual({ code: 'pt_BR' });
    await whatsapp.send({ ...ctx, config: { ...ctx.config, hsmFallbackLanguage: 'de' } }, to, { kind: 'template', template: { name: 'hello' } });
    expect((lastBody(fake).template as Record<string, unknown>).language).toEqual({ code: 'de' });
  });

  it('sends a native override as the message body, with our recipient; a native template passes the window', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    await whatsapp.send(ctx, to, { kind: 'native', payload: { type: 'sticker', sticker: { link: 'https://x.test/s.webp' }, to: 'someone-else' } });
    expect(lastBody(fake)).toEqual({ messaging_product: 'whatsapp', recipient_type: 'individual', to: ANN.waId, type: 'sticker', sticker: { link: 'https://x.test/s.webp' } });
    const old = { externalId: ANN.waId, lastInboundAt: Date.now() - 48 * HOUR };
    const outcome = await whatsapp.send(ctx, old, { kind: 'native', payload: { type: 'template', template: { name: 'hello', language: { code: 'en_US' } } } });
    expect(outcome.ok).toBe(true);
  });

  it('sends up to three postbacks as reply buttons with p: ids, and #choice when the payload is too long', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const long = 'x'.repeat(255);
    const outcome = await whatsapp.send(
      ctx,
      to,
      text('Pick one', {
        buttons: [
          { kind: 'postback', text: 'Buy', payload: 'BUY', choice: 1 },
          { kind: 'postback', text: 'Long', payload: long, choice: 2 },
        ],
      }),
    );
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake)).toMatchObject({
      type: 'interactive',
      interactive: {
        type: 'button',
        body: { text: 'Pick one' },
        action: { buttons: [{ type: 'reply', reply: { id: 'p:BUY', title: 'Buy' } }, { type: 'reply', reply: { id: '#2', title: 'Long' } }] },
      },
    });
  });

  it('sends up to three quick replies as reply buttons and four to ten as a list', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const replies = (n: number) => Array.from({ length: n }, (_, i) => ({ text: `Option ${i + 1}`, payload: `OPT_${i + 1}`, choice: i + 1 }));
    await whatsapp.send(ctx, to, text('Size?', { replies: replies(3) }));
    expect(lastBody(fake).interactive).toMatchObject({ type: 'button', action: { buttons: [{ reply: { id: 'r:OPT_1' } }, { reply: { id: 'r:OPT_2' } }, { reply: { id: 'r:OPT_3' } }] } });
    const outcome = await whatsapp.send(ctx, to, text('Size?', { replies: replies(10) }));
    expect(outcome.ok).toBe(true);
    const interactive = lastBody(fake).interactive as { type: string; body: unknown; action: { button: string; sections: { rows: { id: string; title: string }[] }[] } };
    expect(interactive.type).toBe('list');
    expect(interactive.body).toEqual({ text: 'Size?' });
    expect(interactive.action.button).toBe('Options');
    expect(interactive.action.sections[0]!.rows).toHaveLength(10);
    expect(interactive.action.sections[0]!.rows[9]).toEqual({ id: 'r:OPT_10', title: 'Option 10' });
  });

  it('sends three postbacks and ten replies as a button message and a list', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const before = fake.calls.length;
    const buttons = [1, 2, 3].map((i) => ({ kind: 'postback' as const, text: `B${i}`, payload: `B${i}`, choice: i }));
    const replies = Array.from({ length: 10 }, (_, i) => ({ text: `R${i}`, payload: `R${i}`, choice: i + 4 }));
    const outcome = await whatsapp.send(ctx, to, text('Everything', { buttons, replies }));
    expect(outcome.ok).toBe(true);
    const bodies = fake.calls.slice(before).map((c) => (c.body as { interactive: { type: string; body: { text: string } } }).interactive);
    expect(bodies.map((b) => [b.type, b.body.text])).toEqual([
      ['button', 'Everything'],
      ['list', 'Choose an option'],
    ]);
  });

  it('sends a link button as a CTA URL message and a location request natively', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    await whatsapp.send(ctx, to, text('Our site', { buttons: [{ kind: 'link', text: 'Visit', uri: 'https://x.test' }] }));
    expect(lastBody(fake).interactive).toEqual({
      type: 'cta_url',
      body: { text: 'Our site' },
      action: { name: 'cta_url', parameters: { display_text: 'Visit', url: 'https://x.test' } },
    });
    await whatsapp.send(ctx, to, text('Where are you?', { buttons: [{ kind: 'locationRequest', text: 'Send location' }] }));
    expect(lastBody(fake).interactive).toEqual({ type: 'location_request_message', body: { text: 'Where are you?' }, action: { name: 'send_location' } });
  });

  it('sends the head of a long text first when an interactive body would exceed 1,024 characters', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const before = fake.calls.length;
    const long = Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ');
    const outcome = await whatsapp.send(ctx, to, text(long, { replies: [{ text: 'OK', payload: 'OK', choice: 1 }] }));
    expect(outcome.ok).toBe(true);
    const [head, tail] = fake.calls.slice(before).map((c) => c.body as Record<string, any>);
    expect(head!.type).toBe('text');
    expect(tail!.type).toBe('interactive');
    expect(tail!.interactive.body.text.length).toBeLessThanOrEqual(1024);
    expect(`${head!.text.body} ${tail!.interactive.body.text}`).toBe(long);
  });

  it('sends every media kind by link, captions where WhatsApp takes them', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    const media = (kind: 'image' | 'file' | 'video' | 'audio', extra: Record<string, string> = {}): Part => ({ kind: 'media', media: kind, url: `https://x.test/${kind}`, buttons: [], replies: [], ...extra });
    await whatsapp.send(ctx, to, media('image', { caption: 'A cat' }));
    expect(lastBody(fake)).toMatchObject({ type: 'image', image: { link: 'https://x.test/image', caption: 'A cat' } });
    await whatsapp.send(ctx, to, media('file', { fileName: 'invoice.pdf', caption: 'Your invoice' }));
    expect(lastBody(fake)).toMatchObject({ type: 'document', document: { link: 'https://x.test/file', filename: 'invoice.pdf', caption: 'Your invoice' } });
    await whatsapp.send(ctx, to, media('video'));
    expect(lastBody(fake)).toMatchObject({ type: 'video', video: { link: 'https://x.test/video' } });
    const before = fake.calls.length;
    const outcome = await whatsapp.send(ctx, to, media('audio', { caption: 'Listen' }));
    expect(outcome.ok).toBe(true);
    expect(fake.calls.slice(before).map((c) => c.body)).toMatchObject([
      { type: 'text', text: { body: 'Listen' } },
      { type: 'audio', audio: { link: 'https://x.test/audio' } },
    ]);
  });

  it('sends a location pin', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    await whatsapp.send(ctx, to, { kind: 'location', lat: 37.48, long: -122.14, name: 'HQ', address: '1 Hacker Way' });
    expect(lastBody(fake)).toMatchObject({ type: 'location', location: { latitude: 37.48, longitude: -122.14, name: 'HQ', address: '1 Hacker Way' } });
  });
});

describe('whatsapp send failures', () => {
  it('retries throughput and pair-rate limits after the time Meta implies', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    fake.errorNext('130429');
    expect(await whatsapp.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '130429', retryAfterMs: 1000 });
    fake.errorNext('131056');
    expect(await whatsapp.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '131056', retryAfterMs: 6000 });
  });

  it("prefers an HTTP Retry-After over the code's default", async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    fake.errorNext('4', 1, { 'retry-after': '7' });
    expect(await whatsapp.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '4', retryAfterMs: 7000 });
  });

  it('retries 5xx answers and temporary codes, with or without a Graph body', async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    fake.errorNext('2');
    expect(await whatsapp.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '2' });
    fake.errorNext('131000');
    expect(await whatsapp.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '131000' });
    fake.failNext(1, { status: 502, body: { oops: true } });
    expect(await whatsapp.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_502' });
  });

  it('retries timeouts and network faults', async () => {
    const { ctx } = await connected();
    const to = { externalId: ANN.waId, lastInboundAt: Date.now() };
    const timeout = (() => Promise.reject(new DOMException('timed out', 'TimeoutError'))) as typeof fetch;
    expect(await whatsapp.send({ ...ctx, fetch: timeout }, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'timeout' });
    const down = (() => Promise.reject(new TypeError('connection refused'))) as typeof fetch;
    expect(await whatsapp.send({ ...ctx, fetch: down }, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'network_error' });
  });

  it("keeps Meta's permanent codes permanent, with Meta's message", async () => {
    const { fake, ctx, config } = await connected();
    const to = await annWrote(fake, config);
    fake.errorNext('131026');
    expect(await whatsapp.send(ctx, to, text('x'))).toEqual({
      ok: false,
      retryable: false,
      code: '131026',
      message: '(#131026) Message Undeliverable. (Message failed to send because the recipient is not on WhatsApp.)',
    });
    const badToken = await whatsapp.send({ ...ctx, config: { ...config, accessToken: 'expired' } }, to, text('x'));
    expect(badToken).toMatchObject({ ok: false, retryable: false, code: '190' });
    expect(fake.calls.at(-1)!.status).toBe(401);
  });

  it("maps the fake's own window enforcement (131047) to a permanent failure", async () => {
    let now = Date.now();
    const { fake, ctx, config } = await connected({ now: () => now });
    await annWrote(fake, config);
    now += 25 * HOUR;
    // Parley believes the window is open (a stale lastInboundAt); Meta has the last word.
    const outcome = await whatsapp.send(ctx, { externalId: ANN.waId, lastInboundAt: Date.now() }, text('late'));
    expect(outcome).toMatchObject({ ok: false, retryable: false, code: '131047' });
    const template = await whatsapp.send(ctx, { externalId: ANN.waId, lastInboundAt: Date.now() }, { kind: 'template', template: { name: 'hello' } });
    expect(template.ok).toBe(true);
  });
});
