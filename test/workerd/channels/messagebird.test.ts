/**
 * The MessageBird adapter against the MessageBird fake: the SDK's signature
 * reference vector, refusals (unsigned, tampered body or URL, expired, not yet
 * valid, wrong key), inbound texts, MMS and status reports, the JSON sends,
 * failure classification with MessageBird's codes, setup and settings.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { messagebird, type MessageBirdConfig } from '../../../src/channels/messagebird';
import { MessageBirdFake } from '../../fakes/messagebird';

const API = 'https://messagebird.fake';
const WEBHOOK = 'https://parley.test/hooks/65f000000000000000000002';
const NOW = 1_700_000_000_000;
const USER = '+31612345678';

function setupFake() {
  const fake = new MessageBirdFake({ origin: API, now: () => NOW });
  const config: MessageBirdConfig = { accessKey: fake.accessKey, signingKey: fake.signingKey, originator: `+${fake.number}`, apiBaseUrl: API };
  const fetcher = (input: string, init?: RequestInit) => fake.fetch(new Request(input, init));
  const ctx = (over: Partial<MessageBirdConfig> = {}): ChannelContext<MessageBirdConfig> => ({ config: { ...config, ...over }, fetch: fetcher, webhookUrl: WEBHOOK });
  return { fake, config, ctx };
}

async function inbound(request: Request, now = NOW): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

const text = (t: string): Part => ({ kind: 'text', text: t, buttons: [], replies: [] });

describe('MessageBird-Signature-JWT', () => {
  // messagebird-nodejs lib/testdata/webhook-signature-jwt-reference.json, "Valid JWT with URL parameters and payload - POST".
  const SECRET = '36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb';
  const URL_ = 'https://example.com/path?bar=1&foo=2';
  const TOKEN =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNZXNzYWdlQmlyZCIsIm5iZiI6MTYyNTQ3OTIwMCwiZXhwIjoxNjI1NDc5MjYwLCJqdGkiOiI5M2U1NTAwNi1hMGU4LTQ1MjYtYTE5MC1mYTVmZjAwZWExMTYiLCJ1cmxfaGFzaCI6IjQxZjA1ZjBkZGQwYTIyYWIyMDlhYzQ2ZjQ3YzQ1NzJkOWNlZmEyNTdlZDc0YjI0MDA0YmFlNzUzZWNlNmMyNjAiLCJwYXlsb2FkX2hhc2giOiJkZmZkNjAyMWJiMmJkNWIwYWY2NzYyOTA4MDllYzNhNTMxOTFkZDgxYzdmNzBhNGIyODY4OGEzNjIxODI5ODZmIn0._H--TOuYFLpeEH39-rg5E3IHVkjHozBcaKVWPRC5m9I';
  const AT = Date.parse('2021-07-05T12:00:00+02:00');
  const config = { accessKey: 'k', signingKey: SECRET, originator: '+31970102601' } as MessageBirdConfig;
  const vector = (over: Partial<InboundRequest> = {}): InboundRequest => ({
    method: 'POST',
    url: URL_,
    headers: new Headers({ 'messagebird-signature-jwt': TOKEN }),
    raw: new TextEncoder().encode('Hello, World!'),
    now: AT,
    ...over,
  });

  it('accepts the SDK reference vector', async () => {
    expect(await messagebird.verify(vector(), config)).toEqual({ ok: true });
  });

  it('refuses the vector with its body, URL or key changed', async () => {
    expect(await messagebird.verify(vector({ raw: new TextEncoder().encode('Hello, World?') }), config)).toMatchObject({ ok: false, status: 401, reason: expect.stringMatching(/payload_hash/) });
    expect(await messagebird.verify(vector({ url: 'https://example.com/path?foo=2&bar=1' }), config)).toMatchObject({ ok: false, reason: expect.stringMatching(/url_hash/) });
    expect(await messagebird.verify(vector(), { ...config, signingKey: 'another key' })).toMatchObject({ ok: false, reason: expect.stringMatching(/signing key/) });
  });

  it('refuses the vector once expired (past the 5 s leeway) and before its nbf', async () => {
    expect(await messagebird.verify(vector({ now: AT + 64_000 }), config)).toEqual({ ok: true });
    expect(await messagebird.verify(vector({ now: AT + 66_000 }), config)).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) });
    expect(await messagebird.verify(vector({ now: AT - 6_000 }), config)).toMatchObject({ ok: false, reason: expect.stringMatching(/not valid yet/) });
  });

  it('refuses a request without the header, and an unsigned (alg none) token', async () => {
    expect(await messagebird.verify(vector({ headers: new Headers() }), config)).toMatchObject({ ok: false, reason: expect.stringMatching(/missing/) });
    const [, claims] = TOKEN.split('.');
    const none = `${btoa(JSON.stringify({ alg: 'none', typ: 'JWT' })).replace(/=+$/, '')}.${claims}.`;
    expect(await messagebird.verify(vector({ headers: new Headers({ 'messagebird-signature-jwt': none }) }), config)).toMatchObject({ ok: false });
  });

  it('the fake signs what the adapter verifies', async () => {
    const { fake, config: c } = setupFake();
    expect(await messagebird.verify(await inbound(await fake.text(WEBHOOK, USER, 'hi')), c)).toEqual({ ok: true });
    expect(await messagebird.verify(await inbound(await fake.text(WEBHOOK, USER, 'hi', { signedUrl: 'https://evil.test/hook' })), c)).toMatchObject({ ok: false });
  });
});

describe('parse', () => {
  it('an inbound text becomes a message from the E.164 sender, keyed by MessageBird\'s id', async () => {
    const { fake, config } = setupFake();
    const events = messagebird.parse(await inbound(await fake.text(WEBHOOK, USER, 'Hello', { id: 'abc123' })), config);
    expect(events).toEqual([
      { kind: 'message', channelMessageId: 'abc123', user: { externalId: USER, displayName: USER, info: { phoneNumber: USER }, raw: { originator: '31612345678' } }, timestamp: NOW - (NOW % 1000), content: { type: 'text', text: 'Hello' } },
    ]);
  });

  it('a text to another number of the account is not this integration\'s', async () => {
    const { fake, config } = setupFake();
    expect(messagebird.parse(await inbound(await fake.text(WEBHOOK, USER, 'Hello')), { ...config, originator: '+31970000000' })).toEqual([]);
  });

  it('MMS media become one media message each, with their own dedupe keys', async () => {
    const { fake, config } = setupFake();
    const events = messagebird.parse(await inbound(await fake.text(WEBHOOK, USER, 'look', { id: 'mms1', mediaUrls: ['https://media.fake/a.jpg', 'https://media.fake/b.pdf'] })), config);
    expect(events.map((e) => (e.kind === 'message' ? [e.channelMessageId, e.content] : e.kind))).toEqual([
      ['mms1', { type: 'media', media: { kind: 'image', ref: 'https://media.fake/a.jpg' }, text: 'look' }],
      ['mms1:1', { type: 'media', media: { kind: 'file', ref: 'https://media.fake/b.pdf' } }],
    ]);
  });

  it('status reports become receipts; a failure carries MessageBird\'s statusErrorCode', async () => {
    const { fake, config, ctx } = setupFake();
    const sent = await messagebird.send(ctx(), { externalId: USER }, text('hi'));
    if (!sent.ok) throw new Error('send failed');
    const delivered = messagebird.parse(await inbound(await fake.statusReport(sent.channelMessageId, 'delivered')), config);
    expect(delivered).toMatchObject([{ kind: 'delivery', status: 'delivered', channelMessageId: sent.channelMessageId, user: { externalId: USER } }]);
    const failed = messagebird.parse(await inbound(await fake.statusReport(sent.channelMessageId, 'delivery_failed', { statusErrorCode: 104, statusReason: 'unknown subscriber' })), config);
    expect(failed).toMatchObject([{ kind: 'delivery', status: 'failed', error: { code: '104', message: 'unknown subscriber' } }]);
    expect(messagebird.parse(await inbound(await fake.statusReport(sent.channelMessageId, 'buffered')), config)).toEqual([]);
  });

  it('a body MessageBird would never send is a 400, not a crash', async () => {
    const { fake, config } = setupFake();
    const req = await fake.signed(WEBHOOK, JSON.stringify({ body: 'no sender' }), 'application/json');
    expect(() => messagebird.parse({ method: 'POST', url: WEBHOOK, headers: req.headers, raw: new TextEncoder().encode('{"body":"no sender"}'), now: NOW }, config)).toThrow(/originator/);
  });
});

describe('send', () => {
  it('posts JSON to /messages with AccessKey auth, our number, the MSISDN and the reportUrl', async () => {
    const { fake, ctx } = setupFake();
    const out = await messagebird.send(ctx(), { externalId: USER }, text('Your order shipped'));
    expect(out).toMatchObject({ ok: true, channelMessageId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(fake.calls.at(-1)).toMatchObject({
      method: 'POST',
      path: '/messages',
      headers: { authorization: `AccessKey ${fake.accessKey}` },
      body: { body: 'Your order shipped', originator: fake.number, recipients: ['31612345678'], reportUrl: WEBHOOK },
    });
  });

  it('429 and 5xx are retryable; other 4xx are permanent with MessageBird\'s code', async () => {
    const { fake, ctx } = setupFake();
    fake.rateLimitNext(2);
    expect(await messagebird.send(ctx(), { externalId: USER }, text('a'))).toMatchObject({ ok: false, retryable: true, code: '429', retryAfterMs: 2000 });
    fake.failNext(1, { status: 500, body: { errors: [{ code: 99, description: 'Internal error', parameter: null }] } });
    expect(await messagebird.send(ctx(), { externalId: USER }, text('a'))).toMatchObject({ ok: false, retryable: true, code: '99' });
    fake.refuse(USER);
    expect(await messagebird.send(ctx(), { externalId: USER }, text('a'))).toEqual({ ok: false, retryable: false, code: '9', message: 'no (correct) recipients found (recipients)' });
    expect(await messagebird.send(ctx({ accessKey: 'wrong' }), { externalId: '+31611111111' }, text('a'))).toMatchObject({ ok: false, retryable: false, code: '2' });
  });

  it('a native payload keeps its fields but never its recipients or sender', async () => {
    const { fake, ctx } = setupFake();
    expect(messagebird.checkNative({ body: 'x', groupIds: ['g'] })).toMatch(/groupIds is not allowed/);
    await messagebird.send(ctx(), { externalId: USER }, { kind: 'native', payload: { body: 'flash!', mclass: 0, recipients: ['31600000000'], originator: 'Evil' } });
    expect(fake.calls.at(-1)!.body).toMatchObject({ body: 'flash!', mclass: 0, recipients: ['31612345678'], originator: fake.number });
  });
});

describe('setup and settings', () => {
  it('setup proves the access key and generates the read-only webhookSecret', async () => {
    const { ctx } = setupFake();
    const ok = await messagebird.setup!(ctx());
    expect(ok).toMatchObject({ status: 'active', config: { webhookSecret: expect.stringMatching(/^[0-9a-f]{32}$/) } });
    expect(await messagebird.setup!(ctx({ accessKey: 'wrong' }))).toMatchObject({ status: 'error', error: expect.stringMatching(/access key/) });
  });

  it('the create schema takes the official fields and normalizes the originator; secrets stay out of the view', () => {
    const parsed = v.parse(messagebird.createSchema, { accessKey: 'a', signingKey: 's', originator: 31970102601 });
    expect(parsed).toEqual({ accessKey: 'a', signingKey: 's', originator: '+31970102601' });
    expect(v.safeParse(messagebird.createSchema, { accessKey: 'a', signingKey: 's', originator: 'ACME' }).success).toBe(false);
    expect(v.safeParse(messagebird.createSchema, { accessKey: 'a', originator: '+31970102601' }).success).toBe(false);
    expect(messagebird.secretFields).toEqual(['accessKey', 'signingKey']);
    expect(messagebird.view({ ...parsed, webhookSecret: 'w' })).toEqual({ originator: '+31970102601', webhookSecret: 'w' });
  });

  it('notifications reach E.164 numbers only', () => {
    expect(messagebird.notificationRecipient!('+31 6 1234 5678')).toEqual({ externalId: USER, displayName: USER, info: { phoneNumber: USER } });
    expect(messagebird.notificationRecipient!('31612345678')).toMatch(/E\.164/);
    expect(messagebird.notificationRecipient!('+0123')).toMatch(/E\.164/);
  });
});
