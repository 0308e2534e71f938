/**
 * The attacker who owns a channel account (or signs their own Messenger
 * webhook) and wants Parley to fetch an address only Parley's egress reaches,
 * or to hand a channel token to a host of their choosing. Every URL that came
 * from input goes through src/http/outbound.ts: these tests play that
 * attacker against the policy itself, with the runtime's fetch routed so that
 * any attempt to reach a forbidden origin is seen (and never answered).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { checkOutbound, OutboundError, outboundFetch, type OutboundPolicy } from '../../../src/http/outbound';
import type { DnsLookup } from '../../../src/http/targets';
import { MetaFake } from '../../fakes/meta';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver, type FetchHandler } from '../channels/harness';
import { call, newApp } from '../helpers';

/** Origins a test's traffic reached, forbidden or not. */
let attempts: string[] = [];
let restore: (() => void) | undefined;
afterEach(() => restore?.());

function network(routes: Record<string, FetchHandler>) {
  attempts = [];
  const recorded = Object.fromEntries(
    Object.entries(routes).map(([origin, handler]) => [origin, { fetch: (r: Request) => handler.fetch(r) }]),
  );
  const spy = routeFetch(
    new Proxy(recorded, {
      get(target, origin: string) {
        attempts.push(origin);
        return target[origin];
      },
    }),
  );
  restore = () => spy.mockRestore();
}

const answer = (body: BodyInit | null, init: ResponseInit = {}): FetchHandler => ({ fetch: async () => new Response(body, init) });

/** A DNS-over-HTTPS stand-in: name → A/AAAA data, exactly as the JSON API would carry it. */
function zone(records: Record<string, { A?: string[]; AAAA?: string[] }>): DnsLookup {
  return async (name, type) => ({ Status: 0, Answer: (records[name]?.[type] ?? []).map((data) => ({ type: type === 'A' ? 1 : 28, data })) });
}

const production = (records: Record<string, { A?: string[]; AAAA?: string[] }> = {}): OutboundPolicy => ({ local: false, lookup: zone(records) });

describe('the outbound policy, as an attacker aims it', () => {
  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'link-local metadata over http'],
    ['https://169.254.169.254/latest/meta-data/', 'link-local metadata'],
    ['https://10.0.0.7/admin', 'a private address'],
    ['https://[::ffff:a00:7]/admin', 'an IPv4-mapped private address'],
    ['https://metadata.google.internal/', 'a name reserved for internal hosts'],
    ['https://user:pw@cdn.example.com/x', 'credentials in the URL'],
  ])('refuses %s (%s) without sending anything', async (url) => {
    network({});
    await expect(outboundFetch(production(), url)).rejects.toMatchObject({ name: 'OutboundError', kind: 'refused' });
    expect(attempts).toEqual([]);
  });

  it.each([
    ['rebind.example.com', { A: ['93.184.216.34', '10.0.0.7'] }],
    ['mapped.example.com', { AAAA: ['::ffff:127.0.0.1'] }],
    ['mapped-hex.example.com', { AAAA: ['::ffff:7f00:1'] }],
    ['garbled.example.com', { AAAA: ['not-an-address'] }],
    ['garbled-v4.example.com', { A: ['10.0.0.300'] }],
  ])('refuses %s in production, which resolves where it must not (%j)', async (host, records) => {
    network({});
    await expect(outboundFetch(production({ [host]: records }), `https://${host}/hook`)).rejects.toMatchObject({ kind: 'refused' });
    expect(attempts).toEqual([]);
  });

  it('turns a resolver that cannot answer into a retryable dns error, never into "safe"', async () => {
    network({});
    const down: OutboundPolicy = { local: false, lookup: async () => Promise.reject(new Error('resolver down')) };
    await expect(checkOutbound(down, new URL('https://unresolvable.example.com/x'))).rejects.toMatchObject({ kind: 'dns' });
    expect(attempts).toEqual([]);
  });

  it('checks every redirect hop, and a hop into a private network is refused before it is called', async () => {
    network({
      'https://cdn.example.com': answer(null, { status: 302, headers: { location: 'https://10.0.0.7/secret' } }),
      'https://10.0.0.7': answer('secret'),
    });
    const policy = production({ 'cdn.example.com': { A: ['93.184.216.34'] } });
    await expect(outboundFetch(policy, 'https://cdn.example.com/file', { maxRedirects: 3 })).rejects.toMatchObject({ kind: 'refused' });
    expect(attempts).toEqual(['https://cdn.example.com']);
  });

  it('never follows a redirect it was not asked to, and never carries credentials past one', async () => {
    const seen: (string | null)[] = [];
    network({
      'https://api.example.com': answer(null, { status: 307, headers: { location: 'https://files.example.com/blob' } }),
      'https://files.example.com': { fetch: async (r) => (seen.push(r.headers.get('authorization')), new Response('bytes')) },
    });
    const policy = production({ 'api.example.com': { A: ['93.184.216.34'] }, 'files.example.com': { A: ['93.184.216.35'] } });
    const unfollowed = await outboundFetch(policy, 'https://api.example.com/media', { headers: { authorization: 'Bearer TOKEN' } });
    expect(unfollowed.status).toBe(307);
    const followed = await outboundFetch(policy, 'https://api.example.com/media', { headers: { authorization: 'Bearer TOKEN' }, maxRedirects: 1 });
    expect(await followed.text()).toBe('bytes');
    expect(seen).toEqual([null]);
  });

  it('caps the body: a longer answer errors while it is read', async () => {
    network({ 'https://big.example.com': answer(new Uint8Array(64 * 1024)) });
    const res = await outboundFetch(production({ 'big.example.com': { A: ['93.184.216.34'] } }), 'https://big.example.com/', { maxBytes: 1024 });
    await expect(res.arrayBuffer()).rejects.toBeInstanceOf(OutboundError);
  });

  it('caps the time: an answer that never comes is abandoned', async () => {
    network({ 'https://slow.example.com': { fetch: (r) => new Promise((_, reject) => r.signal.addEventListener('abort', () => reject(r.signal.reason))) } });
    const started = Date.now();
    await expect(outboundFetch(production({ 'slow.example.com': { A: ['93.184.216.34'] } }), 'https://slow.example.com/', { timeoutMs: 100 })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('channel media an attacker points at Parley’s network', () => {
  const API = 'https://meta.test';
  const fake = new MetaFake({ origin: API });

  let receiver: WebhookReceiver;

  async function messengerApp() {
    const app = await newApp('outbound attacker');
    await subscribe(app.appId, app.auth);
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, {
      type: 'messenger',
      pageAccessToken: fake.page.accessToken,
      appId: '1517776481860111',
      appSecret: fake.appSecret,
      apiBaseUrl: API,
    });
    expect(res.status).toBe(201);
    return { app, webhookUrl: res.body.integration.webhookUrl as string };
  }

  /** The /media URL of the first stored message that has one, as the customer webhook carried it. */
  const storedMediaUrl = () =>
    eventually(() => {
      const found = receiver.ofType('conversation:message').find((e) => (e.payload.message as { content: { mediaUrl?: string } }).content.mediaUrl);
      if (!found) throw new Error('no media message yet');
      return String((found.payload.message as { content: { mediaUrl: string } }).content.mediaUrl);
    });

  it('a Messenger attachment whose payload.url names the metadata address is stored, but Parley never calls that address', async () => {
    receiver = new WebhookReceiver();
    network({ [API]: fake, [RECEIVER_ORIGIN]: receiver, 'https://169.254.169.254': answer('instance secrets') });
    const { app, webhookUrl } = await messengerApp();
    const res = await hook(await fake.messenger.attachment(webhookUrl, 'PSID_ATTACKER_1', 'image', { url: 'https://169.254.169.254/latest/meta-data/iam' }));
    expect(res.status).toBe(200);
    const media = await hook(new Request(await storedMediaUrl()));
    expect(media.status).toBe(502);
    expect(await media.text()).not.toContain('instance secrets');
    expect(attempts).not.toContain('https://169.254.169.254');
  });

  it('a WhatsApp media lookup that names a private host gets neither a request nor the access token', async () => {
    const lookups: FetchHandler = {
      async fetch(request) {
        // The Graph lookup of this one media id answers an attacker-chosen URL.
        if (/\/EVIL_MEDIA$/.test(new URL(request.url).pathname)) return Response.json({ url: 'https://10.1.2.3/steal', mime_type: 'image/jpeg', id: 'EVIL_MEDIA' });
        return fake.fetch(request);
      },
    };
    receiver = new WebhookReceiver();
    network({ [API]: lookups, [RECEIVER_ORIGIN]: receiver, 'https://10.1.2.3': answer('ok') });
    const app = await newApp('whatsapp attacker');
    await subscribe(app.appId, app.auth);
    const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'whatsapp', phoneNumberId: fake.wa.phoneNumberId, accessToken: fake.wa.accessToken, appSecret: fake.appSecret, apiBaseUrl: API });
    expect(created.status).toBe(201);
    const webhookUrl = created.body.integration.webhookUrl as string;
    const message = { type: 'image', image: { id: 'EVIL_MEDIA', mime_type: 'image/jpeg', sha256: 'x' } };
    expect((await hook(await fake.whatsapp.webhook(webhookUrl, [fake.whatsapp.messageValue({ waId: '15550009999' }, { ...message, from: '15550009999', id: 'wamid.EVIL1', timestamp: String(Math.floor(Date.now() / 1000)) })]))).status).toBe(200);
    const media = await hook(new Request(await storedMediaUrl()));
    expect(media.status).toBe(502);
    expect(attempts).not.toContain('https://10.1.2.3');
  });
});

describe('override: only the channel’s send calls, only to the conversation’s recipient', () => {
  async function conversation() {
    const app = await newApp('override attacker');
    const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'override-user' });
    const conv = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    return { app, path: `/v2/apps/${app.appId}/conversations/${conv.body.conversation.id}/messages` };
  }
  const post = (auth: string, path: string, override: unknown) => call('POST', path, auth, { author: { type: 'business' }, content: { type: 'text', text: 'hi' }, override });

  it.each([
    ['telegram', { method: 'setWebhook', url: 'https://attacker.example/hook' }, /override\.telegram\.payload\.method must be one of sendMessage/],
    ['telegram', { method: 'logOut' }, /override\.telegram\.payload\.method/],
    ['telegram', { method: 'copyMessage', from_chat_id: 1, message_id: 1 }, /override\.telegram\.payload\.method/],
    ['twilio', { Body: 'hi', ApplicationSid: 'AP0123456789abcdef0123456789abcdef' }, /override\.twilio\.payload\.ApplicationSid is not allowed/],
    ['whatsapp', { type: 'text', text: { body: 'x' }, phone_number_id: '1' }, /override\.whatsapp\.payload\.phone_number_id is not allowed/],
    ['messenger', { message: { text: 'x' }, access_token: 'other' }, /override\.messenger\.payload\.access_token is not allowed/],
    ['telegram', 'not an object', /override\.telegram\.payload must be an object/],
  ])('refuses override.%s payload %j with a 400 that names the field, and stores nothing', async (type, payload, title) => {
    const { app, path } = await conversation();
    const res = await post(app.auth, path, { [type]: { payload } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ code: 'bad_request', title: expect.stringMatching(title) });
    expect((await call('GET', path, app.auth)).body.messages).toEqual([]);
  });

  it('accepts a send method, with the recipient fields it will replace', async () => {
    const { app, path } = await conversation();
    const res = await post(app.auth, path, { telegram: { payload: { method: 'sendVenue', latitude: 1, longitude: 2, title: 'T', address: 'A', chat_id: 'ignored' } } });
    expect(res.status).toBe(201);
  });
});
