/**
 * The Twilio adapter against the Twilio fake: signature vectors, every inbound
 * kind and receipt, each sendable part in Twilio's form encoding, failure
 * classification, setup/teardown registration, media download and settings.
 */
import * as v from 'valibot';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { ChannelContext, InboundRequest, Part, Recipient } from '../../../src/channels/adapter';
import { channelContext } from '../../../src/channels/http';
import { twilio, type TwilioConfig } from '../../../src/channels/twilio';
import { StatusError } from '../../../src/http/errors';
import { describeIssue } from '../../../src/schema/common';
import { TwilioFake, twilioSignature } from '../../fakes/twilio';
import { routeFetch } from './harness';

const API = 'https://twilio.fake';
const WEBHOOK = 'https://parley.test/hooks/65f000000000000000000001';
const PN = 'PN0123456789abcdef0123456789abcdef';
const MG = 'MG0123456789abcdef0123456789abcdef';
const OUR_NUMBER = '+15005550001';
const USER = '+15005550006';

function setupFake(options: ConstructorParameters<typeof TwilioFake>[0] = {}) {
  const fake = new TwilioFake({ origin: API, phoneNumbers: { [PN]: OUR_NUMBER }, messagingServiceSids: [MG], ...options });
  const config: TwilioConfig = { accountSid: fake.accountSid, authToken: fake.authToken, phoneNumberSid: PN, phoneNumber: OUR_NUMBER, apiBaseUrl: API };
  const fetcher = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;
  const ctx = (over: Partial<TwilioConfig> = {}): ChannelContext<TwilioConfig> => ({ config: { ...config, ...over }, fetch: fetcher, webhookUrl: WEBHOOK });
  return { fake, config, ctx };
}

async function inbound(request: Request, now = 1_700_000_000_000): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

/** An inbound request built by hand, for the reference vectors and tampering. */
function rawInbound(url: string, fields: Record<string, string>, headers: Record<string, string>): InboundRequest {
  return {
    method: 'POST',
    url,
    headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded', ...headers }),
    raw: new TextEncoder().encode(new URLSearchParams(fields).toString()),
    now: 1_700_000_000_000,
  };
}

const sms: Recipient = { externalId: USER };
const wa: Recipient = { externalId: `whatsapp:${USER}` };
const text = (t: string): Part => ({ kind: 'text', text: t, buttons: [], replies: [] });

describe('Twilio signature (X-Twilio-Signature)', () => {
  const VECTOR_URL = 'https://example.com/twilio/sms?tenant=acme';
  const VECTOR_FIELDS = { Body: 'Hi', From: '+15005550006', MessageSid: 'SM0123456789abcdef0123456789abcdef', NumMedia: '0', To: '+15005550001' };
  const VECTOR_SIG = 'FebsyujPYFps6++Tz4gHEsiJkS0=';
  const vectorConfig = { accountSid: `AC${'0'.repeat(32)}`, authToken: 'twilio_auth_token', phoneNumberSid: PN } as TwilioConfig;

  it('accepts the reference test vector, and the fake signs it identically', async () => {
    expect(await twilioSignature('twilio_auth_token', VECTOR_URL, new URLSearchParams(VECTOR_FIELDS))).toBe(VECTOR_SIG);
    const verdict = await twilio.verify(rawInbound(VECTOR_URL, VECTOR_FIELDS, { 'x-twilio-signature': VECTOR_SIG }), vectorConfig);
    expect(verdict).toEqual({ ok: true });
  });

  it("accepts Twilio's own documentation sample (key order independent of the body)", async () => {
    const fields = { To: '+18005551212', Digits: '1234', CallSid: 'CA1234567890ABCDE', From: '+14158675309', Caller: '+14158675309' };
    const verdict = await twilio.verify(
      rawInbound('https://mycompany.com/myapp.php?foo=1&bar=2', fields, { 'x-twilio-signature': 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' }),
      { ...vectorConfig, authToken: '12345' },
    );
    expect(verdict).toEqual({ ok: true });
  });

  it('rejects a tampered body with 403', async () => {
    const verdict = await twilio.verify(rawInbound(VECTOR_URL, { ...VECTOR_FIELDS, Body: 'Hi!' }, { 'x-twilio-signature': VECTOR_SIG }), vectorConfig);
    expect(verdict).toMatchObject({ ok: false, status: 403 });
  });

  it('rejects a tampered URL (query string is signed) with 403', async () => {
    const verdict = await twilio.verify(rawInbound('https://example.com/twilio/sms?tenant=evil', VECTOR_FIELDS, { 'x-twilio-signature': VECTOR_SIG }), vectorConfig);
    expect(verdict).toMatchObject({ ok: false, status: 403 });
  });

  it('rejects a signature made with another auth token with 403', async () => {
    const verdict = await twilio.verify(rawInbound(VECTOR_URL, VECTOR_FIELDS, { 'x-twilio-signature': VECTOR_SIG }), { ...vectorConfig, authToken: 'other_token' });
    expect(verdict).toMatchObject({ ok: false, status: 403 });
  });

  it('rejects a missing signature with 403', async () => {
    const verdict = await twilio.verify(rawInbound(VECTOR_URL, VECTOR_FIELDS, {}), vectorConfig);
    expect(verdict).toEqual({ ok: false, status: 403, reason: 'missing X-Twilio-Signature' });
  });

  it('accepts a signature over the URL with the default port, and over the URL without its port', async () => {
    const { fake, config } = setupFake();
    const withPort = await fake.signed('https://parley.test:443/hooks/x?a=1', { Body: 'x', From: USER, To: OUR_NUMBER, MessageSid: 'SM1' });
    // The runtime drops the default port from request.url; the signature still matches the variant.
    expect(withPort.url).toBe('https://parley.test/hooks/x?a=1');
    expect(await twilio.verify(await inbound(withPort), config)).toEqual({ ok: true });

    const fields = { Body: 'x', From: USER, To: OUR_NUMBER, MessageSid: 'SM1' };
    const sig = await twilioSignature(config.authToken, 'http://127.0.0.1/hooks/x', new URLSearchParams(fields));
    expect(await twilio.verify(rawInbound('http://127.0.0.1:8787/hooks/x', fields, { 'x-twilio-signature': sig }), config)).toEqual({ ok: true });
  });

  it('signs repeated keys as each distinct value, sorted', async () => {
    const { config } = setupFake();
    const body = 'B=2&A=z&A=y&A=z';
    const sig = await twilioSignature(config.authToken, WEBHOOK, new URLSearchParams('A=y&B=2&A=z'));
    const request: InboundRequest = {
      method: 'POST',
      url: WEBHOOK,
      headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sig }),
      raw: new TextEncoder().encode(body),
      now: 0,
    };
    expect(await twilio.verify(request, config)).toEqual({ ok: true });
  });

  it('refuses a body that is not form-encoded with 400', async () => {
    const request = rawInbound(VECTOR_URL, VECTOR_FIELDS, { 'x-twilio-signature': VECTOR_SIG, 'content-type': 'application/json' });
    await expect(twilio.verify(request, vectorConfig)).rejects.toMatchObject({ status: 400, code: 'bad_request' });
  });

  it('verifies what the fake sends to the webhook URL', async () => {
    const { fake, config } = setupFake();
    expect(await twilio.verify(await inbound(await fake.text(WEBHOOK, { from: USER }, 'hello')), config)).toEqual({ ok: true });
    expect(await twilio.verify(await inbound(await fake.text(`${WEBHOOK}?v=1`, { from: USER }, 'hello')), config)).toEqual({ ok: true });
  });
});

describe('Twilio inbound parsing', () => {
  it('turns an SMS into a text message from the sender, with curated info and raw fields', async () => {
    const { fake, config } = setupFake();
    const request = await inbound(await fake.text(WEBHOOK, { from: USER }, 'Hello there'));
    const sid = new URLSearchParams(new TextDecoder().decode(request.raw)).get('MessageSid');
    expect(twilio.parse(request, config)).toEqual([
      {
        kind: 'message',
        channelMessageId: sid,
        content: { type: 'text', text: 'Hello there' },
        timestamp: request.now,
        user: {
          externalId: USER,
          displayName: USER,
          info: { phoneNumber: USER, city: 'SAN FRANCISCO', state: 'CA', country: 'US', zip: '94105' },
          raw: { From: USER, FromCity: 'SAN FRANCISCO', FromState: 'CA', FromCountry: 'US', FromZip: '94105' },
        },
      },
    ]);
  });

  it('turns an MMS into one media message per item, caption on the first, kinds from content types', async () => {
    const { fake, config } = setupFake();
    const request = await inbound(
      await fake.media(
        WEBHOOK,
        { from: USER },
        [{ contentType: 'image/jpeg' }, { contentType: 'video/mp4' }, { contentType: 'audio/ogg' }, { contentType: 'application/pdf' }],
        'Look at these',
      ),
    );
    const fields = new URLSearchParams(new TextDecoder().decode(request.raw));
    const sid = fields.get('MessageSid')!;
    const events = twilio.parse(request, config);
    expect(events.map((e) => (e.kind === 'message' ? [e.channelMessageId, e.content] : e.kind))).toEqual([
      [sid, { type: 'media', media: { kind: 'image', ref: fields.get('MediaUrl0'), mimeType: 'image/jpeg' }, text: 'Look at these' }],
      [`${sid}:1`, { type: 'media', media: { kind: 'video', ref: fields.get('MediaUrl1'), mimeType: 'video/mp4' } }],
      [`${sid}:2`, { type: 'media', media: { kind: 'audio', ref: fields.get('MediaUrl2'), mimeType: 'audio/ogg' } }],
      [`${sid}:3`, { type: 'media', media: { kind: 'file', ref: fields.get('MediaUrl3'), mimeType: 'application/pdf' } }],
    ]);
    expect(events.every((e) => e.user.externalId === USER)).toBe(true);
  });

  it('keeps the whatsapp: prefix in the id, names the user by ProfileName and carries the reply context', async () => {
    const { fake, config } = setupFake();
    const request = await inbound(await fake.text(WEBHOOK, { from: `whatsapp:${USER}`, profileName: 'Ada' }, 'Hi on WhatsApp', { repliedTo: 'SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' }));
    const [event] = twilio.parse(request, config);
    expect(event).toMatchObject({
      kind: 'message',
      content: { type: 'text', text: 'Hi on WhatsApp' },
      quotedChannelMessageId: 'SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
      user: { externalId: `whatsapp:${USER}`, displayName: 'Ada', info: { phoneNumber: USER }, raw: { From: `whatsapp:${USER}`, ProfileName: 'Ada', WaId: USER.slice(1) } },
    });
    // Empty geo fields are left out of the curated info.
    expect(event!.user.info).toEqual({ phoneNumber: USER });
  });

  it('turns a WhatsApp location share into a location message', async () => {
    const { fake, config } = setupFake();
    const request = await inbound(await fake.location(WEBHOOK, { from: `whatsapp:${USER}` }, { lat: 45.5017, long: -73.5673, address: '1 Place Ville Marie', label: 'Office' }));
    expect(twilio.parse(request, config)).toMatchObject([
      { kind: 'message', content: { type: 'location', lat: 45.5017, long: -73.5673, name: 'Office', address: '1 Place Ville Marie' } },
    ]);
  });

  it('turns a WhatsApp button tap into a postback with the payload', async () => {
    const { fake, config } = setupFake();
    const request = await inbound(await fake.buttonTap(WEBHOOK, { from: `whatsapp:${USER}` }, { text: 'Yes please', payload: 'CONFIRM_ORDER' }));
    const sid = new URLSearchParams(new TextDecoder().decode(request.raw)).get('MessageSid');
    expect(twilio.parse(request, config)).toMatchObject([{ kind: 'postback', channelMessageId: sid, payload: 'CONFIRM_ORDER', text: 'Yes please', user: { externalId: `whatsapp:${USER}` } }]);
  });

  it('turns status callbacks into delivery receipts for the recipient', async () => {
    const { fake, config } = setupFake();
    const sid = 'SM0123456789abcdef0123456789abcdef';
    for (const [status, expected] of [['sent', 'sent'], ['delivered', 'delivered'], ['read', 'read']] as const) {
      const request = await inbound(await fake.status(WEBHOOK, { sid, to: `whatsapp:${USER}`, status }));
      expect(twilio.parse(request, config)).toEqual([{ kind: 'delivery', status: expected, channelMessageId: sid, user: { externalId: `whatsapp:${USER}` }, timestamp: request.now }]);
    }
  });

  it('turns failed and undelivered callbacks into failed receipts with the Twilio error', async () => {
    const { fake, config } = setupFake();
    const failed = await inbound(await fake.status(WEBHOOK, { sid: 'SM1', to: USER, status: 'failed', errorCode: '30003', errorMessage: 'Unreachable destination handset' }));
    expect(twilio.parse(failed, config)).toMatchObject([
      { kind: 'delivery', status: 'failed', channelMessageId: 'SM1', user: { externalId: USER }, error: { code: '30003', message: 'Unreachable destination handset' } },
    ]);
    const undelivered = await inbound(await fake.status(WEBHOOK, { sid: 'SM2', to: USER, status: 'undelivered', errorCode: '30007' }));
    expect(twilio.parse(undelivered, config)).toMatchObject([{ kind: 'delivery', status: 'failed', error: { code: '30007' } }]);
  });

  it('ignores intermediate statuses that say nothing about the recipient', async () => {
    const { fake, config } = setupFake();
    for (const status of ['queued', 'accepted', 'sending']) {
      expect(twilio.parse(await inbound(await fake.status(WEBHOOK, { sid: 'SM1', to: USER, status })), config)).toEqual([]);
    }
  });

  it("ignores messages to another of the account's numbers, and receipts for another sender", async () => {
    const { fake, config } = setupFake();
    expect(twilio.parse(await inbound(await fake.text(WEBHOOK, { from: USER }, 'hi', { to: '+15005550999' })), config)).toEqual([]);
    expect(twilio.parse(await inbound(await fake.status(WEBHOOK, { sid: 'SM1', to: USER, from: '+15005550999', status: 'delivered' })), config)).toEqual([]);
  });

  it("ignores another account's events and another messaging service's", async () => {
    const { fake, config } = setupFake();
    const other = await inbound(
      await fake.signed(WEBHOOK, { MessageSid: 'SM1', AccountSid: `AC${'f'.repeat(32)}`, From: USER, To: OUR_NUMBER, Body: 'hi', NumMedia: '0' }),
    );
    expect(twilio.parse(other, config)).toEqual([]);

    const serviceConfig = { ...config, phoneNumberSid: undefined, phoneNumber: undefined, messagingServiceSid: MG };
    const fields = { MessageSid: 'SM1', AccountSid: fake.accountSid, From: USER, To: '+15005550777', Body: 'hi', NumMedia: '0' };
    expect(twilio.parse(await inbound(await fake.signed(WEBHOOK, { ...fields, MessagingServiceSid: `MG${'f'.repeat(32)}` })), serviceConfig)).toEqual([]);
    expect(twilio.parse(await inbound(await fake.signed(WEBHOOK, { ...fields, MessagingServiceSid: MG })), serviceConfig)).toMatchObject([
      { kind: 'message', content: { text: 'hi' } },
    ]);
  });

  it('throws 400 naming the field for bodies Twilio would never send', async () => {
    const { fake, config } = setupFake();
    const noFrom = await inbound(await fake.signed(WEBHOOK, { MessageSid: 'SM1', To: OUR_NUMBER, Body: 'hi' }));
    expect(() => twilio.parse(noFrom, config)).toThrow(/From: is required/);
    const noSid = await inbound(await fake.signed(WEBHOOK, { From: USER, To: OUR_NUMBER, Body: 'hi' }));
    expect(() => twilio.parse(noSid, config)).toThrow(/MessageSid is required/);
    const noMediaUrl = await inbound(await fake.signed(WEBHOOK, { MessageSid: 'MM1', From: USER, To: OUR_NUMBER, Body: '', NumMedia: '1' }));
    expect(() => twilio.parse(noMediaUrl, config)).toThrow(/MediaUrl0 is required/);
    const badLat = await inbound(await fake.signed(WEBHOOK, { MessageSid: 'SM1', From: USER, To: OUR_NUMBER, Latitude: 'north', Longitude: '2' }));
    expect(() => twilio.parse(badLat, config)).toThrow(StatusError);
  });

  it('acknowledges with empty TwiML', async () => {
    const response = twilio.acknowledge!();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/xml');
    expect(await response.text()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
  });
});

describe('Twilio send', () => {
  it('sends text from our number with a StatusCallback to our webhook, and returns the SM sid', async () => {
    const { fake, ctx } = setupFake();
    const outcome = await twilio.send(ctx(), sms, text('Hello from Parley'));
    expect(outcome).toMatchObject({ ok: true, channelMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/) });
    const call = fake.calls.at(-1)!;
    expect(call.method).toBe('POST');
    expect(call.path).toBe(`/2010-04-01/Accounts/${fake.accountSid}/Messages.json`);
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(call.body).toEqual({ Body: 'Hello from Parley', To: USER, From: OUR_NUMBER, StatusCallback: WEBHOOK });
  });

  it('sends WhatsApp recipients from the whatsapp: address of our number', async () => {
    const { fake, ctx } = setupFake();
    expect(await twilio.send(ctx(), wa, text('Hola'))).toMatchObject({ ok: true });
    expect(fake.calls.at(-1)!.body).toMatchObject({ To: `whatsapp:${USER}`, From: `whatsapp:${OUR_NUMBER}`, Body: 'Hola' });
  });

  it('sends through the Messaging Service when the integration has one', async () => {
    const { fake, ctx } = setupFake();
    const outcome = await twilio.send(ctx({ phoneNumberSid: undefined, phoneNumber: undefined, messagingServiceSid: MG }), sms, text('Via service'));
    expect(outcome.ok).toBe(true);
    expect(fake.calls.at(-1)!.body).toEqual({ Body: 'Via service', To: USER, MessagingServiceSid: MG, StatusCallback: WEBHOOK });
  });

  it('sends each media kind as MediaUrl, with the caption as Body', async () => {
    const { fake, ctx } = setupFake();
    for (const media of ['image', 'video', 'audio', 'file'] as const) {
      const url = `https://cdn.example/${media}.bin`;
      const outcome = await twilio.send(ctx(), sms, { kind: 'media', media, url, caption: `a ${media}`, buttons: [], replies: [] });
      expect(outcome).toMatchObject({ ok: true, channelMessageId: expect.stringMatching(/^MM/) });
      expect(fake.calls.at(-1)!.body).toEqual({ MediaUrl: url, Body: `a ${media}`, To: USER, From: OUR_NUMBER, StatusCallback: WEBHOOK });
    }
    await twilio.send(ctx(), sms, { kind: 'media', media: 'image', url: 'https://cdn.example/x.png', buttons: [], replies: [] });
    expect(fake.calls.at(-1)!.body).not.toHaveProperty('Body');
  });

  it('sends a native payload as extra form fields alongside To/From', async () => {
    const { fake, ctx } = setupFake();
    const payload = { ContentSid: 'HX0123456789abcdef0123456789abcdef', ContentVariables: { 1: 'Ada' }, To: '+19999999999' };
    expect(await twilio.send(ctx(), wa, { kind: 'native', payload })).toMatchObject({ ok: true });
    expect(fake.calls.at(-1)!.body).toEqual({
      ContentSid: 'HX0123456789abcdef0123456789abcdef',
      ContentVariables: '{"1":"Ada"}',
      To: `whatsapp:${USER}`,
      From: `whatsapp:${OUR_NUMBER}`,
      StatusCallback: WEBHOOK,
    });
  });

  it('refuses content it did not declare, without calling Twilio', async () => {
    const { fake, ctx } = setupFake();
    expect(await twilio.send(ctx(), sms, { kind: 'location', lat: 1, long: 2 })).toMatchObject({ ok: false, retryable: false, code: 'unsupported_content' });
    expect(await twilio.send(ctx(), sms, { kind: 'native', payload: 'not an object' })).toMatchObject({ ok: false, retryable: false });
    expect(fake.calls).toHaveLength(0);
  });

  it('429 / 20429 is retryable after Retry-After', async () => {
    const { fake, ctx } = setupFake();
    fake.rateLimitNext(30);
    expect(await twilio.send(ctx(), sms, text('hi'))).toEqual({ ok: false, retryable: true, code: '20429', message: 'Too Many Requests', retryAfterMs: 30_000 });
  });

  it('5xx is retryable with its code, or http_<status> without a Twilio body', async () => {
    const { fake, ctx } = setupFake();
    fake.failNext(1, { status: 503, body: '<html>Service Unavailable</html>', headers: { 'content-type': 'text/html' } });
    expect(await twilio.send(ctx(), sms, text('hi'))).toMatchObject({ ok: false, retryable: true, code: 'http_503' });
    fake.failNext(1, { status: 500, body: { code: 20500, message: 'Internal Server Error', more_info: 'https://www.twilio.com/docs/errors/20500', status: 500 } });
    expect(await twilio.send(ctx(), sms, text('hi'))).toMatchObject({ ok: false, retryable: true, code: '20500' });
  });

  it('timeouts and network faults are retryable', async () => {
    const { ctx } = setupFake();
    const timingOut = { ...ctx(), fetch: (() => Promise.reject(new DOMException('timed out', 'TimeoutError'))) as typeof fetch };
    expect(await twilio.send(timingOut, sms, text('hi'))).toMatchObject({ ok: false, retryable: true, code: 'timeout' });
    const down = { ...ctx(), fetch: (() => Promise.reject(new TypeError('connection refused'))) as typeof fetch };
    expect(await twilio.send(down, sms, text('hi'))).toMatchObject({ ok: false, retryable: true, code: 'network_error' });
  });

  it('63018 (WhatsApp rate limit) is retryable although it is a 4xx', async () => {
    const { fake, ctx } = setupFake();
    fake.failNext(1, { status: 400, body: { code: 63018, message: 'Rate limit exceeded for Channel', more_info: 'https://www.twilio.com/docs/errors/63018', status: 400 } });
    expect(await twilio.send(ctx(), wa, text('hi'))).toMatchObject({ ok: false, retryable: true, code: '63018' });
  });

  it("Twilio's permanent errors are not retryable and carry Twilio's code and message", async () => {
    const { fake, ctx } = setupFake();
    fake.unsubscribe(USER);
    expect(await twilio.send(ctx(), sms, text('hi'))).toEqual({ ok: false, retryable: false, code: '21610', message: 'Attempt to send to unsubscribed recipient' });
    expect(await twilio.send(ctx(), { externalId: '12345' }, text('hi'))).toMatchObject({ ok: false, retryable: false, code: '21211' });
    expect(await twilio.send(ctx(), { externalId: '+15005550123' }, text('x'.repeat(1601)))).toMatchObject({ ok: false, retryable: false, code: '21617' });
    expect(await twilio.send(ctx({ authToken: 'wrong' }), sms, text('hi'))).toEqual({ ok: false, retryable: false, code: '20003', message: 'Authenticate' });
    fake.failNext(1, { status: 400, body: { code: 63016, message: 'Failed to send freeform message because you are outside the allowed window.', status: 400 } });
    expect(await twilio.send(ctx(), wa, text('hi'))).toMatchObject({ ok: false, retryable: false, code: '63016' });
  });

  it('receipts for a send come back to the webhook, signed, and parse to the sent sid', async () => {
    const received: Request[] = [];
    const { fake, ctx, config } = setupFake({ deliver: async (r) => (received.push(r), twilio.acknowledge!()) });
    const outcome = await twilio.send(ctx(), sms, text('track me'));
    if (!outcome.ok) throw new Error('send failed');
    const responses = await fake.progress(outcome.channelMessageId, ['sent', 'delivered']);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(received.map((r) => r.url)).toEqual([WEBHOOK, WEBHOOK]);
    const events = [];
    for (const request of received) {
      const req = await inbound(request);
      expect(await twilio.verify(req, config)).toEqual({ ok: true });
      events.push(...twilio.parse(req, config));
    }
    expect(events).toMatchObject([
      { kind: 'delivery', status: 'sent', channelMessageId: outcome.channelMessageId, user: { externalId: USER } },
      { kind: 'delivery', status: 'delivered', channelMessageId: outcome.channelMessageId, user: { externalId: USER } },
    ]);
  });
});

describe('Twilio media download', () => {
  it('downloads inbound media with Basic auth, following the redirect to the media host without credentials', async () => {
    const { fake, config } = setupFake({ mediaOrigin: 'https://media.twilio.fake' });
    // The runtime's fetch under the outbound policy, as the media copy calls it: the policy follows the redirect.
    const spy = routeFetch({ [API]: fake, 'https://media.twilio.fake': fake });
    onTestFinished(() => spy.mockRestore());
    const request = await inbound(await fake.media(WEBHOOK, { from: USER }, [{ contentType: 'image/png', body: 'PNGDATA' }]));
    const [event] = twilio.parse(request, config);
    if (event?.kind !== 'message' || event.content.type !== 'media') throw new Error('expected a media message');
    const response = await twilio.fetchMedia!(channelContext({ PARLEY_ENV: 'local' }, twilio, config, WEBHOOK, { maxRedirects: 3 }), event.content.media.ref);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(new TextDecoder().decode(await response.arrayBuffer())).toBe('PNGDATA');
    const [api, cdn] = fake.calls;
    expect(api).toMatchObject({ method: 'GET', path: new URL(event.content.media.ref).pathname, headers: { authorization: `Basic ${btoa(`${fake.accountSid}:${fake.authToken}`)}` } });
    expect(cdn!.path).toMatch(/^\/media\/ME[0-9a-f]{32}$/);
    expect(cdn!.headers).not.toHaveProperty('authorization');
  });

  it('throws when Twilio refuses, and never sends credentials to another host', async () => {
    const { fake, ctx } = setupFake();
    const url = fake.addMedia('MM0123456789abcdef0123456789abcdef', 'x', 'image/png');
    await expect(twilio.fetchMedia!(ctx({ authToken: 'wrong' }), url)).rejects.toThrow(/HTTP 401/);
    await expect(twilio.fetchMedia!(ctx(), 'https://evil.example/2010-04-01/Accounts/x/Messages/y/Media/z')).rejects.toThrow(/not on the integration's API host/);
    expect(fake.calls).toHaveLength(0);
  });
});

describe('Twilio setup and teardown', () => {
  it("with a phone number: learns the number and registers our webhook as its incoming message URL", async () => {
    const { fake, ctx } = setupFake();
    const outcome = await twilio.setup!(ctx({ phoneNumber: undefined }));
    expect(outcome).toEqual({ status: 'active', config: { phoneNumber: OUR_NUMBER } });
    expect(fake.calls.map((c) => [c.method, c.path])).toEqual([
      ['GET', `/2010-04-01/Accounts/${fake.accountSid}/IncomingPhoneNumbers/${PN}.json`],
      ['POST', `/2010-04-01/Accounts/${fake.accountSid}/IncomingPhoneNumbers/${PN}.json`],
    ]);
    expect(fake.calls[1]!.body).toEqual({ SmsUrl: WEBHOOK, SmsMethod: 'POST' });
    expect(fake.phoneNumbers.get(PN)).toMatchObject({ smsUrl: WEBHOOK, smsMethod: 'POST' });
  });

  it('a wrong auth token is an error telling to check the Account SID / Auth Token', async () => {
    const { ctx } = setupFake();
    const outcome = await twilio.setup!(ctx({ authToken: 'wrong' }));
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/check the Account SID and Auth Token/);
  });

  it('an unknown phone number sid is an error naming phoneNumberSid', async () => {
    const { ctx } = setupFake();
    const outcome = await twilio.setup!(ctx({ phoneNumberSid: `PN${'f'.repeat(32)}` }));
    expect(outcome).toMatchObject({ status: 'error', error: expect.stringMatching(/check phoneNumberSid/) });
  });

  it('with a messaging service: only proves the credentials', async () => {
    const { fake, ctx } = setupFake();
    const service = { phoneNumberSid: undefined, phoneNumber: undefined, messagingServiceSid: MG };
    expect(await twilio.setup!(ctx(service))).toEqual({ status: 'active' });
    expect(fake.calls.map((c) => [c.method, c.path])).toEqual([['GET', `/2010-04-01/Accounts/${fake.accountSid}.json`]]);
    const refused = await twilio.setup!(ctx({ ...service, authToken: 'wrong' }));
    expect(refused).toMatchObject({ status: 'error', error: expect.stringMatching(/check the Account SID and Auth Token/) });
  });

  it('teardown clears the incoming URL only while it is still ours', async () => {
    const { fake, ctx } = setupFake();
    await twilio.setup!(ctx());
    await twilio.teardown!(ctx());
    expect(fake.phoneNumbers.get(PN)!.smsUrl).toBe('');

    fake.phoneNumbers.get(PN)!.smsUrl = 'https://customer.example/sms';
    await twilio.teardown!(ctx());
    expect(fake.phoneNumbers.get(PN)!.smsUrl).toBe('https://customer.example/sms');
  });
});

describe('Twilio settings', () => {
  const good = { accountSid: `AC${'a'.repeat(32)}`, authToken: 'token', phoneNumberSid: `PN${'b'.repeat(32)}` };
  const issues = (schema: v.GenericSchema, input: unknown) => {
    const result = v.safeParse(schema, input);
    return result.success ? [] : result.issues.map(describeIssue);
  };

  it('accepts an Account SID, token and one sender', () => {
    expect(issues(twilio.createSchema, good)).toEqual([]);
    expect(issues(twilio.createSchema, { accountSid: good.accountSid, authToken: 't', messagingServiceSid: `MG${'c'.repeat(32)}`, apiBaseUrl: 'http://127.0.0.1:9000' })).toEqual([]);
  });

  it('names missing and malformed fields', () => {
    expect(issues(twilio.createSchema, { authToken: 't', phoneNumberSid: good.phoneNumberSid })).toEqual(['accountSid: is required']);
    expect(issues(twilio.createSchema, { accountSid: good.accountSid, phoneNumberSid: good.phoneNumberSid })).toEqual(['authToken: is required']);
    expect(issues(twilio.createSchema, { ...good, accountSid: 'AC123' })[0]).toMatch(/^accountSid: must be a Twilio Account SID/);
    expect(issues(twilio.createSchema, { ...good, phoneNumberSid: 'PNxyz' })[0]).toMatch(/^phoneNumberSid: /);
    expect(issues(twilio.createSchema, { ...good, apiBaseUrl: 'not a url' })).toEqual(['apiBaseUrl: must be a valid URI']);
  });

  it('requires exactly one of phoneNumberSid and messagingServiceSid', () => {
    const message = 'exactly one of phoneNumberSid or messagingServiceSid is required';
    expect(issues(twilio.createSchema, { accountSid: good.accountSid, authToken: 't' })).toEqual([message]);
    expect(issues(twilio.createSchema, { ...good, messagingServiceSid: `MG${'c'.repeat(32)}` })).toEqual([message]);
  });

  it('updates only the auth token, seals it, and never shows it', () => {
    expect(v.parse(twilio.updateSchema, { authToken: 'new', accountSid: good.accountSid })).toEqual({ authToken: 'new' });
    expect(twilio.secretFields).toEqual(['authToken']);
    const view = twilio.view({ ...good, phoneNumber: OUR_NUMBER });
    expect(view).toEqual({ accountSid: good.accountSid, phoneNumberSid: good.phoneNumberSid, phoneNumber: OUR_NUMBER });
  });
});
