/** The Apple Messages for Business adapter against the MSP REST API fake: config, JWT verification, gzip, every inbound kind, encodings by device capability, failures, encrypted files both ways (streamed in, uploaded out). */
import * as v from 'valibot';
import { describe, expect, it, vi } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { apple, downloadMessageRef, type AppleConfig } from '../../../src/channels/apple';
import { aesCtr, ctrStream, newFileKey } from '../../../src/channels/apple-cipher';
import { attachmentBody, transferDeadlineMs, TRANSFER_MAX_MS, UNSTATED_MAX_BYTES } from '../../../src/channels/apple-media';
import { mspToken, stableUuid } from '../../../src/channels/apple-wire';
import { decodeJwt } from '../../../src/auth/jwt';
import { describeIssue } from '../../../src/schema/common';
import { AppleFake, type AppleCustomer } from '../../fakes/apple';

const API = 'https://mspgw.apple.test';
const WEBHOOK = 'https://parley.test/hooks/int_apple';
const ANN: AppleCustomer = { id: 'urn:mbid:AQAAY2Fubm90LWJlLXJlYWwtYW5u', locale: 'en_GB', deviceAgent: 'iPhone OS' };
/** The business's public file host: each path answers what the test put there. */
const CDN = 'https://cdn.taco.test';
const cdn = new Map<string, () => Response>();

async function inbound(request: Request, now = Date.now()): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

function connected(options: ConstructorParameters<typeof AppleFake>[0] = {}) {
  const fake = new AppleFake({ origin: API, ...options });
  const config = v.parse(apple.createSchema, { businessId: fake.businessId, mspId: fake.mspId, apiSecret: fake.apiSecret, apiBaseUrl: API });
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.origin !== CDN) return fake.fetch(request);
    return cdn.get(url.pathname)?.() ?? new Response('Not Found', { status: 404 });
  }) as typeof globalThis.fetch;
  const ctx: ChannelContext<AppleConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, config, ctx };
}

/** What /hooks does: verify, then parse the same request object. */
async function received(config: AppleConfig, request: Promise<Request> | Request) {
  const req = await inbound(await request);
  const verdict = await apple.verify(req, config);
  if (!verdict.ok) throw new Error(`refused: ${verdict.reason}`);
  return apple.parse(req, config);
}

const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const every = { externalId: ANN.id, raw: { capabilityList: ['QUICK', 'LIST', 'TIME', 'AUTH2', 'FORM'] } };
const bare = { externalId: ANN.id, raw: { capabilityList: [] } };
const sentTo = (fake: AppleFake, id = ANN.id) => fake.sent.get(id) ?? [];

describe('apple config', () => {
  it('requires businessId, apiSecret and mspId, naming the field', () => {
    const result = v.safeParse(apple.createSchema, { businessId: 'b', mspId: 'm' });
    expect(result.issues!.map(describeIssue)).toContain('apiSecret: is required');
  });

  it('takes the secret as base64 only, and authenticationMessageSecret of at least 88 characters', () => {
    expect(describeIssue(v.safeParse(apple.createSchema, { businessId: 'b', mspId: 'm', apiSecret: 'not base64!' }).issues![0])).toMatch(/^apiSecret: must be the base64 API secret/);
    const short = v.safeParse(apple.createSchema, { businessId: 'b', mspId: 'm', apiSecret: 'YW4gTVNQIHNlY3JldCBvZiB0aGlydHktdHdvIGIhISE=', authenticationMessageSecret: 'x'.repeat(87) });
    expect(describeIssue(short.issues![0])).toBe('authenticationMessageSecret: must be at least 88 characters long');
    expect(v.safeParse(apple.updateSchema, { authenticationMessageSecret: 'x'.repeat(88) }).success).toBe(true);
  });

  it('seals both secrets and shows only the ids; it cannot start a conversation', () => {
    const { config } = connected();
    expect(apple.secretFields).toEqual(['apiSecret', 'authenticationMessageSecret']);
    expect(apple.view(config)).toEqual({ businessId: config.businessId, mspId: config.mspId });
    expect(apple.notificationRecipient).toBeUndefined();
  });
});

describe('apple verification', () => {
  it('accepts Apple\'s HS256 token keyed by the decoded secret with aud = the MSP id', async () => {
    const { fake, config } = connected();
    expect(await apple.verify(await inbound(await fake.text(WEBHOOK, ANN, 'hi')), config)).toEqual({ ok: true });
  });

  it('refuses a request without a bearer token with 401', async () => {
    const { fake, config } = connected();
    const req = await fake.text(WEBHOOK, ANN, 'hi');
    req.headers.delete('authorization');
    expect(await apple.verify(await inbound(req), config)).toEqual({ ok: false, status: 401, reason: 'Missing Authorization: Bearer <JWT>' });
  });

  it('refuses with 403 a token signed with the secret as text, another secret, a tampered signature, alg none, or another aud', async () => {
    const { fake, config } = connected();
    const asText = await (await import('../../../src/auth/jwt')).signJwt({ alg: 'HS256' }, { aud: fake.mspId, iat: Math.floor(Date.now() / 1000) }, fake.apiSecret);
    const other = await fake.token({ secret: btoa('a different MSP secret, 32 byte') });
    const good = await fake.token();
    const tampered = good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA');
    const none = `${btoa(JSON.stringify({ alg: 'none' })).replace(/=+$/, '')}.${good.split('.')[1]}.`;
    const wrongAud = await fake.token({ aud: 'another-msp' });
    for (const token of [asText, other, tampered, none, wrongAud]) {
      expect(await apple.verify(await inbound(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'hi' }, { token })), config)).toMatchObject({ ok: false, status: 403 });
    }
    expect(await apple.verify(await inbound(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'x' }, { token: none })), config)).toMatchObject({ reason: 'JWT alg must be HS256, not "none"' });
  });

  it('refuses a stale token (a replay) and one for another business', async () => {
    const { fake, config } = connected();
    const stale = await fake.token({ iat: Math.floor(Date.now() / 1000) - 7200 });
    expect(await apple.verify(await inbound(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'x' }, { token: stale })), config)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/replay/) });
    const req = await fake.text(WEBHOOK, ANN, 'x');
    req.headers.set('destination-id', 'another-business');
    expect(await apple.verify(await inbound(req), config)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/another business/) });
    const unrouted = await fake.text(WEBHOOK, ANN, 'x');
    unrouted.headers.delete('destination-id');
    expect(await apple.verify(await inbound(unrouted), config)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/destination-id header is required/) });
  });

  it('binds a token and message id to the body and routing they came with: the replay guard\'s nonce and digest', async () => {
    const { fake, config } = connected();
    const token = await fake.token();
    const id = crypto.randomUUID();
    const guard = async (request: Request) => {
      const req = await inbound(request);
      expect((await apple.verify(req, config)).ok).toBe(true);
      return apple.replayGuard!(req);
    };
    const genuine = await guard(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'pay 10' }, { id, token }));
    expect(genuine!.nonce).toMatch(new RegExp(`^[0-9a-f]{64}:${id}$`));
    // Apple's redelivery: the same bytes, the same guard.
    expect(await guard(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'pay 10' }, { id, token }))).toEqual(genuine);
    // The same token and id with another body, or for another customer: the nonce the pipeline knows, another digest.
    const swapped = await guard(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'pay 99' }, { id, token }));
    const moved = await guard(await fake.request(WEBHOOK, { id: 'urn:mbid:AQAAbWFsbG9yeQ==' }, { type: 'text', body: 'pay 10' }, { id, token }));
    for (const other of [swapped, moved]) expect(other).toMatchObject({ nonce: genuine!.nonce, digest: expect.not.stringMatching(genuine!.digest) });
    // Another spelling of the same signature (base64's spare bits in its last character) is the same nonce.
    const [head, payload, sig] = token.split('.') as [string, string, string];
    const last = 'AEIMQUYcgkosw048'.indexOf(sig.at(-1)!);
    const respelled = `${head}.${payload}.${sig.slice(0, -1)}${'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[last * 4 + 1]}`;
    expect((await guard(await fake.request(WEBHOOK, ANN, { type: 'text', body: 'pay 10' }, { id, token: respelled })))!.nonce).toBe(genuine!.nonce);
  });

  it('signs its own calls with iss = the MSP id and the decoded secret, which the fake checks', async () => {
    const { config } = connected();
    const jwt = decodeJwt(await mspToken(config))!;
    expect(jwt.header).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(jwt.payload).toEqual({ iss: config.mspId, iat: expect.any(Number) });
  });
});

describe('apple inbound', () => {
  it('reads a gzipped text into a message keyed by the id header, the customer by source-id, capabilities into raw', async () => {
    const { fake, config } = connected();
    const id = crypto.randomUUID();
    const events = await received(config, fake.text(WEBHOOK, { ...ANN, capabilities: ['LIST', 'QUICK'] }, 'Hello business', { id }));
    expect(events).toEqual([
      {
        kind: 'message',
        channelMessageId: id,
        user: { externalId: ANN.id, locale: 'en-GB', raw: { capabilityList: ['LIST', 'QUICK'], deviceAgent: 'iPhone OS', locale: 'en_GB' } },
        content: { type: 'text', text: 'Hello business' },
      },
    ]);
  });

  it('reads an uncompressed body as well', async () => {
    const { fake, config } = connected();
    expect(await received(config, fake.text(WEBHOOK, ANN, 'plain', { gzip: false }))).toMatchObject([{ kind: 'message', content: { text: 'plain' } }]);
  });

  it('reads attachments as media whose ref locates the encrypted file, without the U+FFFC placeholder', async () => {
    const { fake, config } = connected();
    const [caption, media] = await received(config, fake.attachment(WEBHOOK, ANN, new TextEncoder().encode('jpeg'), 'image/jpeg', 'IMG_1.JPG', 'look'));
    expect(caption).toMatchObject({ kind: 'message', content: { type: 'text', text: 'look' } });
    expect(media).toMatchObject({ kind: 'message', content: { type: 'media', media: { kind: 'image', mimeType: 'image/jpeg', fileName: 'IMG_1.JPG', size: 4 } } });
    const ref = JSON.parse((media as { content: { media: { ref: string } } }).content.media.ref);
    expect(Object.keys(ref).sort()).toEqual(['key', 'owner', 'signature', 'size', 'url']);
  });

  it('turns typing_start and typing_end into typing, and stores (and logs) nothing for close', async () => {
    const { fake, config } = connected();
    expect(await received(config, fake.typing(WEBHOOK, ANN, true))).toMatchObject([{ kind: 'typing', state: 'start' }]);
    expect(await received(config, fake.typing(WEBHOOK, ANN, false))).toMatchObject([{ kind: 'typing', state: 'stop' }]);
    const logs = [vi.spyOn(console, 'log'), vi.spyOn(console, 'info'), vi.spyOn(console, 'warn'), vi.spyOn(console, 'error')];
    try {
      expect(await received(config, fake.close(WEBHOOK, ANN))).toEqual([]);
      // The customer's opaque id is personal data: closing is not worth a log line carrying it.
      for (const log of logs) expect(JSON.stringify(log.mock.calls)).not.toContain(ANN.id);
    } finally {
      for (const log of logs) log.mockRestore();
    }
  });

  it('reads a list picker selection as the payload it carries, and a quick reply tap as the choice Parley offered', async () => {
    const { fake, config, ctx } = connected();
    await apple.send(ctx, every, text('Size?', { buttons: [{ kind: 'postback', text: 'S', payload: 'SIZE_S', choice: 1 }, { kind: 'postback', text: 'M', payload: 'SIZE_M', choice: 2 }] }));
    expect(await received(config, fake.listPickerReply(WEBHOOK, ANN, ['M']))).toMatchObject([{ kind: 'postback', payload: 'SIZE_M', text: 'M' }]);
    await apple.send(ctx, every, text('Spicy?', { replies: [{ text: 'Yes', payload: 'Y', choice: 1 }, { text: 'No', payload: 'N', choice: 2 }] }));
    expect(await received(config, fake.quickReply(WEBHOOK, ANN, 'No'))).toMatchObject([{ kind: 'postback', choice: 2 }]);
  });

  it('reads an identifier Parley did not make (a native override) as the payload', async () => {
    const { fake, config } = connected();
    const events = await received(config, fake.request(WEBHOOK, ANN, { type: 'interactive', interactiveData: { bid: 'x', data: { 'quick-reply': { selectedIdentifier: 'BOOK', items: [{ identifier: 'BOOK', title: 'Book' }] } } } }));
    expect(events).toMatchObject([{ kind: 'postback', payload: 'BOOK', text: 'Book' }]);
  });

  it('stores an interactive data reference as a message whose payload is the download body\'s apple field', async () => {
    const { fake, config } = connected();
    const { request, ref } = await fake.largeInteractive(WEBHOOK, ANN, { data: { listPicker: {} } });
    const [event] = await received(config, request);
    expect(event).toMatchObject({ kind: 'message', content: { type: 'text', text: '[Apple interactive message]' } });
    const { size: _size, ...downloadFields } = ref as Record<string, unknown>;
    expect(JSON.parse((event as { content: { payload: string } }).content.payload)).toEqual({ apple: { interactiveDataRef: downloadFields } });
  });

  it('keeps a reference too large for an ordinary payload, so the business can still download it', async () => {
    const { fake, config } = connected();
    const { ref } = await fake.largeInteractive(WEBHOOK, ANN, { data: { listPicker: {} } });
    // Apple's storage URLs are long signed URLs: past 1,000 characters, the reference was dropped.
    const long = { ...ref, url: `${String(ref.url)}?${'sig='.padEnd(1000, 'x')}` };
    const [event] = await received(config, fake.request(WEBHOOK, ANN, { type: 'interactive', interactiveDataRef: long }));
    const payload = (event as { content: { payload?: string } }).content.payload;
    expect(payload).toBeDefined();
    expect(JSON.parse(payload!).apple.interactiveDataRef).toEqual({ url: long.url, bid: ref.bid, key: ref.key, signature: ref.signature, owner: ref.owner });
  });

  it('refuses a gzip body that does not inflate as a bad request, after verifying its token', async () => {
    const { fake, config } = connected();
    const good = new Uint8Array(await (await fake.text(WEBHOOK, ANN, 'hello')).arrayBuffer());
    const broken = good.slice(0, good.byteLength - 12);
    const req = await inbound(new Request(WEBHOOK, { method: 'POST', headers: { authorization: `Bearer ${await fake.token()}`, 'source-id': ANN.id, 'destination-id': fake.businessId, id: crypto.randomUUID(), 'content-encoding': 'gzip' }, body: broken }));
    expect((await apple.verify(req, config)).ok).toBe(true);
    expect(() => apple.parse(req, config)).toThrow(/could not be read/);
  });

  it('refuses a body that is not JSON, and a message without its id', async () => {
    const { fake, config } = connected();
    const junk = await inbound(new Request(WEBHOOK, { method: 'POST', headers: { authorization: `Bearer ${await fake.token()}`, 'source-id': ANN.id, 'destination-id': fake.businessId, id: crypto.randomUUID() }, body: '{nope' }));
    expect((await apple.verify(junk, config)).ok).toBe(true);
    expect(() => apple.parse(junk, config)).toThrow(/not valid JSON/);
    const req = await inbound(await fake.text(WEBHOOK, ANN, 'x', { gzip: false }));
    req.headers.delete('id');
    const withoutId = { ...req, raw: new TextEncoder().encode(JSON.stringify({ v: 1, type: 'text', body: 'x' })) };
    expect(() => apple.parse(withoutId, config)).toThrow(/id header is required/);
  });
});

describe('apple send', () => {
  it('sends text to /v1/message with Apple\'s headers and body, under an id stable per delivery part', async () => {
    const { fake, ctx } = connected();
    const outcome = await apple.send(ctx, { ...every, deliveryKey: 'msg1:client1:0' }, text('Hi Ann'));
    const id = await stableUuid('msg1:client1:0:0');
    expect(outcome).toEqual({ ok: true, channelMessageId: id });
    const call = fake.callsTo('message').at(-1)!;
    expect(call.headers).toMatchObject({ id, 'source-id': fake.businessId, 'destination-id': ANN.id, 'content-type': 'application/json' });
    expect(call.body).toEqual({ type: 'text', body: 'Hi Ann', v: 1, id, sourceId: fake.businessId, destinationId: ANN.id });
  });

  it('sends postbacks as a list picker, quick replies as a quick reply, links as rich links, where the device has LIST and QUICK', async () => {
    const { fake, ctx } = connected();
    const part = text('Pick one', {
      buttons: [
        { kind: 'postback', text: 'Tacos', payload: 'T', choice: 1 },
        { kind: 'postback', text: 'Ramen', payload: 'R', choice: 2 },
        { kind: 'link', text: 'Menu', uri: 'https://food.example/menu' },
      ],
      replies: [
        { text: 'Later', payload: 'L', choice: 3 },
        { text: 'Never', payload: 'N', choice: 4 },
      ],
    });
    const outcome = await apple.send(ctx, { ...every, deliveryKey: 'k' }, part);
    expect((outcome as { channelMessageIds: string[] }).channelMessageIds).toHaveLength(4);
    const [t, list, quick, link] = sentTo(fake).slice(-4);
    expect(t).toMatchObject({ type: 'text', body: 'Pick one' });
    expect(list!.interactiveData).toEqual({
      bid: 'com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension',
      data: {
        version: '1.0',
        requestIdentifier: expect.stringMatching(/^[0-9a-f-]{36}$/),
        listPicker: { sections: [{ order: 0, title: 'Pick one', multipleSelection: false, items: [{ identifier: '1:T', order: 0, style: 'default', title: 'Tacos' }, { identifier: '2:R', order: 1, style: 'default', title: 'Ramen' }] }] },
      },
      receivedMessage: { title: 'Pick one', style: 'small' },
      replyMessage: { title: 'Selected', style: 'small' },
    });
    expect(quick!.interactiveData.data['quick-reply']).toEqual({ summaryText: 'Pick one', items: [{ identifier: '3', title: 'Later' }, { identifier: '4', title: 'Never' }] });
    expect(link).toMatchObject({ type: 'richLink', richLinkData: { url: 'https://food.example/menu', title: 'Menu' } });
  });

  it('falls back to text when the device lacks LIST and QUICK: postbacks numbered by their choice, quick replies as labels', async () => {
    const { fake, ctx } = connected();
    const part = text('Pick one', {
      buttons: [
        { kind: 'postback', text: 'Tacos', payload: 'T', choice: 1 },
        { kind: 'postback', text: 'Ramen', payload: 'R', choice: 2 },
      ],
      replies: [
        { text: 'Later', payload: 'L', choice: 3 },
        { text: 'Never', payload: 'N', choice: 4 },
      ],
    });
    expect(await apple.send(ctx, bare, part)).toMatchObject({ ok: true });
    expect(sentTo(fake).at(-1)).toMatchObject({ type: 'text', body: 'Pick one\n\n1. Tacos\n2. Ramen\n\nReply with the number of your choice.\n\nLater\nNever' });
    // A client whose raw says nothing (no capability list) is treated the same; a single quick reply is below Apple's minimum of two.
    await apple.send(ctx, { externalId: ANN.id, raw: { capabilityList: ['QUICK'] } }, text('Ok?', { replies: [{ text: 'Ok', payload: 'OK', choice: 1 }] }));
    expect(sentTo(fake).at(-1)).toEqual(expect.objectContaining({ type: 'text', body: 'Ok?\n\nOk' }));
  });

  it('resends the same ids on a retry and resumes after the messages already sent', async () => {
    const { fake, ctx } = connected();
    const part = text('Pick', { buttons: [{ kind: 'postback', text: 'A', payload: 'A', choice: 1 }, { kind: 'postback', text: 'B', payload: 'B', choice: 2 }] });
    fake.failNext(1, 503);
    const first = fake.calls.length;
    await apple.send(ctx, { ...every, deliveryKey: 'retry' }, part, 1);
    await apple.send(ctx, { ...every, deliveryKey: 'retry' }, part, 1);
    const tries = fake.calls.slice(first);
    expect(tries.map((c) => [c.body!.type, c.status])).toEqual([['interactive', 503], ['interactive', 200]]);
    expect(tries[0]!.headers.id).toBe(tries[1]!.headers.id);
    expect(tries[0]!.body!.interactiveData.data.requestIdentifier).toBe(tries[1]!.body!.interactiveData.data.requestIdentifier);
  });

  it('retries 429 (with Retry-After) and 5xx; 410 (closed), 400 and 403 are final, with the HTTP status as the code', async () => {
    const { fake, ctx } = connected();
    fake.failNext(1, 503);
    expect(await apple.send(ctx, every, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_503' });
    fake.failNext(1, 429);
    expect(await apple.send(ctx, every, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_429', retryAfterMs: 2000 });
    fake.closed.add(ANN.id);
    expect(await apple.send(ctx, every, text('x'))).toEqual({ ok: false, retryable: false, code: 'http_410', message: expect.stringMatching(/closed the conversation/) });
    fake.closed.delete(ANN.id);
    expect(await apple.send(ctx, every, { kind: 'native', payload: { type: 'text' } })).toMatchObject({ ok: false, retryable: false, code: 'http_400' });
    const wrong = connected().ctx;
    const stranger = { ...ctx, config: { ...ctx.config, apiSecret: wrong.config.apiSecret.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } };
    expect(await apple.send(stranger, every, text('x'))).toMatchObject({ ok: false, retryable: false, code: 'http_403' });
  });

  it('checks native payloads, pins ids and destination, and refuses parts it never declared', async () => {
    const { fake, ctx } = connected();
    expect(apple.checkNative({ type: 'text', body: 'x', url: 'https://evil' })).toMatch(/override\.apple\.payload\.url is not allowed/);
    expect(apple.checkNative({ type: 'close' })).toMatch(/type must be one of/);
    await apple.send(ctx, every, { kind: 'native', payload: { type: 'text', body: 'native', destinationId: 'someone-else', id: 'mine' } });
    expect(sentTo(fake).at(-1)).toMatchObject({ type: 'text', body: 'native', destinationId: ANN.id, id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(await apple.send(ctx, every, { kind: 'location', lat: 1, long: 2 })).toMatchObject({ ok: false, retryable: false, code: 'invalid_part' });
  });

  it('shows and hides the business typing indicator', async () => {
    const { fake, ctx } = connected();
    await apple.typing!(ctx, every, true);
    await apple.typing!(ctx, every, false);
    expect(sentTo(fake).slice(-2).map((m) => m.type)).toEqual(['typing_start', 'typing_end']);
  });
});

describe('apple encrypted files', () => {
  it('decrypts AES-256-CTR with a zero IV and the key\'s leading 00 dropped, as OpenSSL encrypts it', async () => {
    // Ciphertext from OpenSSL (Node's aes-256-ctr, 16 zero bytes of IV), the cipher Apple's attachment_cipher.py uses.
    const key = '00603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
    const encrypted = Uint8Array.from('a41886edf1ef17a2632c2fa82e75c620b17767296e09333bacb8c2b7cb4c71907f6f4df11c32b7f538a369a819a5a7702323'.match(/../g)!, (h) => parseInt(h, 16));
    expect(new TextDecoder().decode(await aesCtr(key, encrypted))).toBe('Apple attachment bytes, longer than one AES block.');
    expect(new TextDecoder().decode(await aesCtr(key.slice(2), encrypted))).toBe('Apple attachment bytes, longer than one AES block.');
  });

  it('downloads an attachment through preDownload with MMCS headers and decrypts it', async () => {
    const { fake, config, ctx } = connected();
    const bytes = new TextEncoder().encode('the real picture');
    const [media] = await received(config, fake.attachment(WEBHOOK, ANN, bytes, 'image/png', 'a.png'));
    const ref = (media as { content: { media: { ref: string } } }).content.media.ref;
    const response = await apple.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    const pre = fake.callsTo('preDownload').at(-1)!;
    const parsed = JSON.parse(ref);
    expect(pre.headers).toMatchObject({ 'source-id': fake.businessId, 'mmcs-url': parsed.url, 'mmcs-owner': parsed.owner });
    expect(pre.headers['mmcs-signature']).toBe(btoa(String.fromCharCode(...parsed.signature.match(/../g).map((h: string) => parseInt(h, 16)))));
    expect(fake.callsTo('download').at(-1)!.headers).not.toHaveProperty('authorization');
    await expect(apple.fetchMedia!(ctx, JSON.stringify({ ...parsed, owner: 'someone.else' }))).rejects.toThrow(/preDownload answered HTTP 400/);
  });

  it('resolves an interactive data reference: download, decrypt, then decodePayload with the bid', async () => {
    const { fake, ctx } = connected();
    const data = { bid: 'x', data: { listPicker: { sections: [{ items: [{ identifier: '1', title: 'Tacos' }] }] } } };
    const { ref } = await fake.largeInteractive(WEBHOOK, ANN, data);
    expect(await downloadMessageRef(ctx, ref as never)).toEqual(data);
    expect(fake.callsTo('decodePayload').at(-1)!.headers).toMatchObject({ bid: ref.bid, 'source-id': fake.businessId });
  });
});

/** A digest to compare big files by: deep equality over megabytes of elements is too slow to be useful. */
const digest = async (bytes: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('') + `/${bytes.byteLength}`;

/** n random bytes (getRandomValues fills at most 64 KiB a call). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

/** Runs `data` through a stream in chunks of the given sizes (the rest in one). */
async function throughStream(stream: TransformStream<Uint8Array, Uint8Array>, data: Uint8Array, sizes: number[]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const n of sizes) chunks.push(data.slice(at, (at += n)));
  if (at < data.byteLength) chunks.push(data.slice(at));
  const source = new ReadableStream<Uint8Array>({ start: (c) => (chunks.forEach((x) => c.enqueue(x)), c.close()) });
  return new Uint8Array(await new Response(source.pipeThrough(stream)).arrayBuffer());
}

describe('apple streamed files', () => {
  it('the stream cipher equals the one-shot cipher for chunks on and off block boundaries', async () => {
    const key = newFileKey();
    expect(key).toMatch(/^00[0-9a-f]{64}$/);
    const data = randomBytes(5000);
    const whole = await aesCtr(key, data);
    for (const sizes of [[1, 15, 17, 33], [16, 16, 4000], [4999], [7, 7, 7, 7, 7, 7, 7, 7, 7, 7]]) expect(await throughStream(ctrStream(key, 5000), data, sizes)).toEqual(whole);
    expect(await throughStream(ctrStream(key), whole, [100, 3])).toEqual(data);
  });

  it('errors when the bytes run past or stop short of the length announced', async () => {
    const key = newFileKey();
    await expect(throughStream(ctrStream(key, 10), randomBytes(11), [5])).rejects.toThrow(/longer than the 10 bytes announced/);
    await expect(throughStream(ctrStream(key, 10), randomBytes(9), [5])).rejects.toThrow(/ended after 9 of the 10 bytes announced/);
  });

  it('decrypts an inbound attachment while it downloads: the first bytes come out before the last are fetched', async () => {
    const { fake, config, ctx } = connected();
    const bytes = randomBytes(3 * 1024 * 1024 + 5);
    const [media] = await received(config, fake.attachment(WEBHOOK, ANN, bytes, 'video/mp4', 'clip.mp4'));
    const response = await apple.fetchMedia!(ctx, (media as { content: { media: { ref: string } } }).content.media.ref);
    expect(response.headers.get('content-length')).toBe(String(bytes.byteLength));
    const served = fake.downloadsServed.at(-1)!;
    expect(served.chunks).toBe(49);
    const reader = response.body!.getReader();
    const first = await reader.read();
    // Had fetchMedia held the file, every chunk would have been pulled before the first plain byte came out.
    expect(served.pulled).toBeLessThan(served.chunks / 2);
    const parts = [first.value!];
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    expect(served.pulled).toBe(served.chunks);
    expect(await digest(new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer()))).toBe(await digest(bytes));
  });

  it('refuses a file whose stored length is not the size the message announced', async () => {
    const { fake, config, ctx } = connected();
    const [media] = await received(config, fake.attachment(WEBHOOK, ANN, new TextEncoder().encode('twelve bytes'), 'text/plain', 'a.txt'));
    const ref = JSON.parse((media as { content: { media: { ref: string } } }).content.media.ref);
    expect(ref.size).toBe(12);
    await expect(apple.fetchMedia!(ctx, JSON.stringify({ ...ref, size: 13 }))).rejects.toThrow(/is 12 bytes, not the 13 the message announced/);
  });

  it('reads an attachment size Apple writes as a string', async () => {
    const { fake, config } = connected();
    const file = await fake.storeFile(new TextEncoder().encode('hello'));
    const [media] = await received(config, fake.request(WEBHOOK, ANN, { type: 'text', body: '\uFFFC', attachments: [{ name: 'h.txt', mimeType: 'text/plain', ...file, size: '5' }] }));
    expect(media).toMatchObject({ content: { type: 'media', media: { kind: 'file', size: 5 } } });
  });
});

const image = (url: string, extra: Partial<Extract<Part, { kind: 'media' }>> = {}): Part => ({ kind: 'media', media: 'image', url, buttons: [], replies: [], ...extra });

describe('apple outbound attachments', () => {
  it('declares every media kind natively, with the caption in the same message', () => {
    expect(apple.capabilities.media).toEqual(['image', 'video', 'audio', 'file']);
    expect(apple.capabilities.captionMax).toBe(3000);
  });

  it('encrypts under a fresh key, preUploads the size, uploads, and attaches the file where U+FFFC stands; the fake decrypts it to the original', async () => {
    const { fake, ctx } = connected();
    const png = randomBytes(200_000);
    cdn.set('/menu.png', () => new Response(png, { headers: { 'content-type': 'image/png', 'content-length': String(png.byteLength) } }));
    const result = await apple.send(ctx, every, image(`${CDN}/menu.png`, { caption: "Today's menu" }));
    expect(result).toMatchObject({ ok: true });
    const pre = fake.callsTo('preUpload').at(-1)!;
    expect(pre.headers).toMatchObject({ 'source-id': fake.businessId, 'mmcs-size': '200000', authorization: expect.stringMatching(/^Bearer /) });
    expect(fake.callsTo('upload').at(-1)!).toMatchObject({ status: 200 });
    expect(fake.callsTo('upload').at(-1)!.headers).not.toHaveProperty('authorization');
    const sent = sentTo(fake).at(-1)!;
    expect(sent.body).toBe("Today's menu\n\uFFFC");
    const [attachment] = sent.attachments;
    expect(attachment).toEqual({ name: 'menu.png', mimeType: 'image/png', size: '200000', 'signature-base64': expect.any(String), url: expect.any(String), owner: expect.any(String), key: expect.stringMatching(/^00[0-9a-f]{64}$/) });
    expect(await digest(fake.received.get(attachment.url)!)).toBe(await digest(png));
    // A second send of the same file is encrypted under another key.
    await apple.send(ctx, every, image(`${CDN}/menu.png`));
    expect(sentTo(fake).at(-1)!.body).toBe('\uFFFC');
    expect(sentTo(fake).at(-1)!.attachments[0].key).not.toBe(attachment.key);
  });

  it('reads a file whose download states no length into memory, then uploads it the same way', async () => {
    const { fake, ctx } = connected();
    const pdf = randomBytes(70_001);
    cdn.set('/menu', () => new Response(new Blob([pdf as Uint8Array<ArrayBuffer>]).stream(), { headers: { 'content-type': 'application/pdf; charset=binary' } }));
    expect(await apple.send(ctx, every, { kind: 'media', media: 'file', url: `${CDN}/menu`, fileName: 'Menu.pdf', buttons: [], replies: [] })).toMatchObject({ ok: true });
    const [attachment] = sentTo(fake).at(-1)!.attachments;
    expect(attachment).toMatchObject({ name: 'Menu.pdf', mimeType: 'application/pdf', size: '70001' });
    expect(fake.callsTo('preUpload').at(-1)!.headers['mmcs-size']).toBe('70001');
    expect(await digest(fake.received.get(attachment.url)!)).toBe(await digest(pdf));
  });

  it('retries a preUpload 5xx; a 4xx fails for good with Apple\'s status as the code, and no message goes out', async () => {
    const { fake, ctx } = connected();
    cdn.set('/a.png', () => new Response(new Uint8Array([1, 2, 3]), { headers: { 'content-type': 'image/png', 'content-length': '3' } }));
    fake.failNextPreUpload(1, 503);
    expect(await apple.send(ctx, every, image(`${CDN}/a.png`))).toMatchObject({ ok: false, retryable: true, code: 'http_503', message: expect.stringMatching(/^Apple preUpload answered HTTP 503/) });
    fake.failNextPreUpload(1, 400);
    expect(await apple.send(ctx, every, image(`${CDN}/a.png`))).toEqual({ ok: false, retryable: false, code: 'http_400', message: 'Apple preUpload answered HTTP 400: Apple found the request malformed' });
    expect(fake.callsTo('upload')).toHaveLength(0);
    expect(sentTo(fake)).toHaveLength(0);
  });

  it('a file Parley cannot download fails for good (404) or is retried (503), an empty one fails for good, naming the URL and what to do', async () => {
    const { fake, ctx } = connected();
    expect(await apple.send(ctx, every, image(`${CDN}/gone.png?sig=secret`))).toEqual({ ok: false, retryable: false, code: 'media_unavailable', message: `Downloading ${CDN}/gone.png?… to send it to Apple answered HTTP 404; make the file reachable at that URL, or send it from another one` });
    cdn.set('/busy.png', () => new Response(null, { status: 503 }));
    expect(await apple.send(ctx, every, image(`${CDN}/busy.png`))).toMatchObject({ ok: false, retryable: true, code: 'media_unavailable' });
    cdn.set('/empty.png', () => new Response(new Uint8Array(0), { headers: { 'content-type': 'image/png', 'content-length': '0' } }));
    cdn.set('/empty-unstated.png', () => new Response(new Blob([]).stream(), { headers: { 'content-type': 'image/png' } }));
    for (const path of ['/empty.png', '/empty-unstated.png']) expect(await apple.send(ctx, every, image(`${CDN}${path}`))).toEqual({ ok: false, retryable: false, code: 'media_empty', message: `${CDN}${path} answered an empty file: there is nothing to attach` });
    expect(fake.callsTo('preUpload')).toHaveLength(0);
  });

  it('sends a file over Apple\'s 100 MB as its link, with the caption', async () => {
    const { fake, ctx } = connected();
    let cancelled = false;
    const body = new ReadableStream({ pull: () => undefined, cancel: () => void (cancelled = true) });
    cdn.set('/huge.mov', () => new Response(body, { headers: { 'content-type': 'video/quicktime', 'content-length': String(101 * 1024 * 1024) } }));
    expect(await apple.send(ctx, every, { kind: 'media', media: 'video', url: `${CDN}/huge.mov`, caption: 'The ad', buttons: [], replies: [] })).toMatchObject({ ok: true });
    expect(sentTo(fake).at(-1)).toMatchObject({ type: 'text', body: `The ad\n${CDN}/huge.mov` });
    expect(sentTo(fake).at(-1)).not.toHaveProperty('attachments');
    expect(fake.callsTo('preUpload')).toHaveLength(0);
    expect(cancelled).toBe(true);
  });
});

/** A download body handed out in `chunk`-byte pieces, each only when pulled and (with `gapMs`) after a pause; `stallAfter` pieces and it never sends another. */
function paced(bytes: Uint8Array, chunk: number, options: { gapMs?: number; stallAfter?: number } = {}) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (options.stallAfter !== undefined && state.pulled >= options.stallAfter) return new Promise<void>(() => undefined);
      if (options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
      const piece = bytes.subarray(state.pulled * chunk, (state.pulled + 1) * chunk);
      state.pulled++;
      if (piece.byteLength) controller.enqueue(piece.slice());
      if (state.pulled * chunk >= bytes.byteLength) controller.close();
    },
    cancel: () => void (state.cancelled = true),
  });
  return { stream, state };
}

describe('apple outbound attachments: memory and deadline', () => {
  it('gives a transfer a minute plus a second per MiB, an unstated length counting as the 32 MiB buffer, capped at ten minutes', () => {
    expect(UNSTATED_MAX_BYTES).toBe(32 * 1024 * 1024);
    expect(transferDeadlineMs(0)).toBe(60_000);
    expect(transferDeadlineMs(1)).toBe(61_000);
    expect(transferDeadlineMs(1024 * 1024)).toBe(61_000);
    expect(transferDeadlineMs(1024 * 1024 + 1)).toBe(62_000);
    expect(transferDeadlineMs(100 * 1024 * 1024)).toBe(160_000);
    expect(transferDeadlineMs(undefined)).toBe(92_000);
    expect(transferDeadlineMs(1024 * 1024 * 1024)).toBe(TRANSFER_MAX_MS);
    expect(TRANSFER_MAX_MS).toBe(600_000);
  });

  it('buffers a download of unstated length only up to 32 MiB: past it the file goes as a link and the download is cancelled', async () => {
    const { fake, ctx } = connected();
    const mib = 1024 * 1024;
    const { stream, state } = paced(new Uint8Array(40 * mib), mib);
    cdn.set('/long.mp4', () => new Response(stream, { headers: { 'content-type': 'video/mp4' } }));
    expect(await apple.send(ctx, every, { kind: 'media', media: 'video', url: `${CDN}/long.mp4`, caption: 'Tour', buttons: [], replies: [] })).toMatchObject({ ok: true });
    expect(sentTo(fake).at(-1)).toMatchObject({ type: 'text', body: `Tour\n${CDN}/long.mp4` });
    expect(sentTo(fake).at(-1)).not.toHaveProperty('attachments');
    expect(fake.callsTo('preUpload')).toHaveLength(0);
    expect(state.cancelled).toBe(true);
    // Read to just past the cap (33 MiB, plus what the streams' queues pull ahead), never to the 40 MiB end.
    expect(state.pulled).toBeGreaterThanOrEqual(33);
    expect(state.pulled).toBeLessThanOrEqual(36);
  });

  it('a gzip-encoded download (its content-length ignored) arriving in chunks off the 16-byte blocks is encrypted as it comes and uploaded whole', async () => {
    const { fake, ctx } = connected();
    const doc = randomBytes(50_003);
    const { stream, state } = paced(doc, 1_000);
    cdn.set('/doc.bin', () => new Response(stream, { headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip', 'content-length': '999' } }));
    expect(await apple.send(ctx, every, { kind: 'media', media: 'file', url: `${CDN}/doc.bin`, buttons: [], replies: [] })).toMatchObject({ ok: true });
    expect(state.pulled).toBe(51);
    const [attachment] = sentTo(fake).at(-1)!.attachments;
    expect(attachment).toMatchObject({ name: 'doc.bin', size: '50003' });
    expect(fake.callsTo('preUpload').at(-1)!.headers['mmcs-size']).toBe('50003');
    expect(await digest(fake.received.get(attachment.url)!)).toBe(await digest(doc));
  });

  it('sizes the deadline to the stated length: a slow but steady download outlasting the zero-byte deadline still goes through', async () => {
    const { fake, ctx } = connected();
    const clip = randomBytes(4_000);
    // 10 pieces, 25 ms apart: at least 250 ms, five times the 50 ms a zero-byte file gets; the stated 4000 bytes get 10 s.
    const { stream, state } = paced(clip, 400, { gapMs: 25 });
    cdn.set('/clip.m4a', () => new Response(stream, { headers: { 'content-type': 'audio/mp4', 'content-length': '4000' } }));
    const asked: (number | undefined)[] = [];
    const deadline = (bytes: number | undefined) => (asked.push(bytes), 50 + (bytes ?? 0) * 2.5);
    const prepared = await attachmentBody(ctx, API, { kind: 'media', media: 'audio', url: `${CDN}/clip.m4a`, buttons: [], replies: [] }, deadline);
    expect(prepared).toMatchObject({ ok: true, body: { type: 'text', body: '\uFFFC', attachments: [{ size: '4000', mimeType: 'audio/mp4' }] } });
    expect(asked).toEqual([0, 4000]);
    expect(state.pulled).toBe(10);
    if (!prepared.ok || prepared.body.type !== 'text') throw new Error('not prepared');
    const [attachment] = prepared.body.attachments as { url: string; key: string }[];
    expect(await digest((await fake.opened(attachment!.url, attachment!.key)) ?? new Uint8Array())).toBe(await digest(clip));
  });

  it('a download that stalls past its deadline fails as a retryable timeout, cancelled, with nothing uploaded, stated length or not', async () => {
    for (const stated of [true, false]) {
      const { fake, ctx } = connected();
      const { stream, state } = paced(randomBytes(4_000), 400, { stallAfter: 2 });
      cdn.set('/stuck.pdf', () => new Response(stream, { headers: stated ? { 'content-length': '4000' } : {} }));
      const prepared = await attachmentBody(ctx, API, { kind: 'media', media: 'file', url: `${CDN}/stuck.pdf`, buttons: [], replies: [] }, () => 100);
      expect(prepared).toEqual({ ok: false, outcome: { ok: false, retryable: true, code: 'timeout', message: `Could not download ${CDN}/stuck.pdf, encrypt it and upload it to Apple within 100 ms` } });
      expect(state.cancelled).toBe(true);
      expect(fake.callsTo('preUpload')).toHaveLength(stated ? 1 : 0);
      expect(fake.storedFiles).toBe(0);
    }
  });
});
