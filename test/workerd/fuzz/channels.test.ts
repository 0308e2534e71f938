/**
 * The channel endpoints `/hooks/{integrationId}` of Telegram, Twilio,
 * WhatsApp, Messenger and Instagram integrations (set up against the fakes,
 * as the e2e suites do) under generated webhooks: mutations of each channel's
 * real payloads, arbitrary JSON and form fields, text, bytes, deep and
 * oversize bodies. Unsigned or badly signed, every one is refused with the
 * channel's 401/403 and stores nothing. Signed exactly as the channel signs
 * (the secret-token header, X-Hub-Signature-256 over the raw bytes,
 * X-Twilio-Signature over the URL and sorted fields), none gets a 5xx, and a
 * refused one stores nothing either.
 */
import { env, SELF } from 'cloudflare:test';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { call, newApp } from '../helpers';
import { routeFetch } from '../channels/harness';
import { TelegramFake, type TelegramUser } from '../../fakes/telegram';
import { TwilioFake, twilioSignature } from '../../fakes/twilio';
import { MetaFake } from '../../fakes/meta';
import { hmacHex } from '../../../src/channels/signing';
import { bodyArb, describeBody, nastyString, type FuzzBody, type Json } from './arbitraries';
import { check, tally, timeoutFor } from './budget';
import { captureWorkerLog, expectNo5xx, expectNothingStored, expectV2Error, FingerprintCache, logMark, logSince, type Sent, type Watched } from './world';

const TELEGRAM = 'https://telegram.test';
const TWILIO = 'https://twilio.test';
const META = 'https://meta.test';
const META_APP_ID = '1517776481860111';

const hook = (request: Request) => SELF.fetch(request);
const telegram = new TelegramFake({ webhookFetch: hook });
const twilio = new TwilioFake({ origin: TWILIO, deliver: hook });
const meta = new MetaFake({ origin: META });

type Kind = 'telegram' | 'twilio' | 'whatsapp' | 'messenger' | 'instagram';
const KINDS: Kind[] = ['telegram', 'twilio', 'whatsapp', 'messenger', 'instagram'];

/** The channel user every template speaks for, so an accepted forgery would land in a watched conversation. */
const USERS: Record<Kind, string> = { telegram: '8001', twilio: '+15005550142', whatsapp: '15551230001', messenger: '24000000000001', instagram: '17840000000000001' };
const tgUser: TelegramUser = { id: 8001, first_name: 'Fuzz', last_name: 'Tester', username: 'fuzz' };

interface Channel {
  kind: Kind;
  id: string;
  url: string;
  /** Real payloads of this channel (JSON bodies, or Twilio's form fields), the seeds of the mutations. */
  templates: Json[];
  conversationId: string;
  verifyToken?: string;
}

let appId: string;
let auth: string;
const channels = {} as Record<Kind, Channel>;
const restores: (() => void)[] = [];
const watchedOf = (kind: Kind): Watched => ({ appId, auth, conversations: [channels[kind].conversationId] });
const stored = Object.fromEntries(KINDS.map((k) => [k, new FingerprintCache()])) as Record<Kind, FingerprintCache>;

const bodyOf = async (request: Request | Promise<Request>): Promise<Json> => JSON.parse(await (await request).text()) as Json;
// Decoded by hand: workerd warns on every .text() of a form body, which would flood a passing run.
const formOf = async (request: Request | Promise<Request>): Promise<Json> => Object.fromEntries(new URLSearchParams(new TextDecoder().decode(await (await request).arrayBuffer())));

async function templatesFor(kind: Kind, url: string): Promise<Json[]> {
  const u = USERS[kind];
  switch (kind) {
    case 'telegram':
      return Promise.all([
        bodyOf(telegram.text(url, tgUser, 'hello')),
        bodyOf(telegram.photo(url, tgUser, { caption: 'pic' })),
        bodyOf(telegram.document(url, tgUser)),
        bodyOf(telegram.voice(url, tgUser)),
        bodyOf(telegram.sticker(url, tgUser)),
        bodyOf(telegram.location(url, tgUser, 48.85, 2.35)),
        bodyOf(telegram.venue(url, tgUser, { latitude: 48.85, longitude: 2.35, title: 'Louvre', address: 'Rue de Rivoli' })),
        bodyOf(telegram.contact(url, tgUser, { phone_number: '+33123456789', first_name: 'Bob' })),
        bodyOf(telegram.callbackQuery(url, tgUser, 'BUY_NOW')),
        bodyOf(telegram.callbackQuery(url, tgUser, '#2')),
        bodyOf(telegram.editedMessage(url, tgUser, 'edited')),
        bodyOf(telegram.text(url, tgUser, 'in a group', { chat: { id: -1001234, type: 'supergroup', title: 'Fuzzers' } })),
      ]);
    case 'twilio':
      return Promise.all([
        formOf(twilio.text(url, { from: u }, 'hello')),
        formOf(twilio.text(url, { from: `whatsapp:${u}`, profileName: 'Fuzz' }, 'hi on whatsapp', { repliedTo: 'SM0123456789abcdef0123456789abcdef' })),
        formOf(twilio.media(url, { from: u }, [{ contentType: 'image/jpeg' }, { contentType: 'application/pdf' }], 'two files')),
        formOf(twilio.location(url, { from: `whatsapp:${u}` }, { lat: 45.5, long: -73.6, address: '1 rue', label: 'Home' })),
        formOf(twilio.buttonTap(url, { from: `whatsapp:${u}` }, { text: 'Yes', payload: 'YES' })),
        formOf(twilio.status(url, { sid: 'SM0123456789abcdef0123456789abcdef', to: u, status: 'delivered' })),
        formOf(twilio.status(url, { sid: 'SM0123456789abcdef0123456789abcdef', to: u, status: 'failed', errorCode: '30003', errorMessage: 'Unreachable' })),
      ]);
    case 'whatsapp': {
      const wa = meta.whatsapp;
      const user = { waId: u, name: 'Fuzz' };
      return Promise.all([
        bodyOf(wa.text(url, user, 'hello')),
        bodyOf(wa.text(url, user, 'a reply', { replyTo: 'wamid.HBgLMTU1NTEyMzAwMDEVAgARGBI' })),
        bodyOf(wa.media(url, user, 'image', { caption: 'pic' })),
        bodyOf(wa.media(url, user, 'document', { filename: 'a.pdf' })),
        bodyOf(wa.location(url, user, { latitude: 45.5, longitude: -73.6, name: 'Home', address: '1 rue' })),
        bodyOf(wa.buttonReply(url, user, 'YES', 'Yes')),
        bodyOf(wa.listReply(url, user, 'ROW1', 'Row one', 'the first')),
        bodyOf(wa.templateButton(url, user, 'PAYLOAD', 'Tap')),
        bodyOf(wa.reaction(url, user, 'wamid.x', '👍')),
        bodyOf(wa.status(url, { id: 'wamid.unknown', status: 'delivered', recipientId: u })),
        bodyOf(wa.status(url, { id: 'wamid.unknown', status: 'failed', recipientId: u, errors: [{ code: 131047, title: 'Re-engagement message' }] })),
      ]);
    }
    case 'messenger':
    case 'instagram': {
      const p = kind === 'messenger' ? meta.messenger : meta.instagram;
      return Promise.all([
        bodyOf(p.text(url, u, 'hello')),
        bodyOf(p.text(url, u, 'a reply', { replyTo: 'm_1' })),
        bodyOf(p.quickReply(url, u, 'Yes', 'YES')),
        bodyOf(p.postback(url, u, 'Buy', 'BUY_NOW', { referral: { ref: 'ad', source: 'ADS', type: 'OPEN_THREAD' } })),
        bodyOf(p.attachment(url, u, 'image', { text: 'pic' })),
        bodyOf(p.attachments(url, u, ['file', 'video'])),
        bodyOf(p.location(url, u, 45.5, -73.6, 'Home')),
        bodyOf(p.referral(url, u, 'promo')),
        bodyOf(p.delivery(url, u, Date.now(), ['m_1'])),
        bodyOf(p.read(url, u, { watermark: Date.now() })),
        bodyOf(p.reaction(url, u, 'm_1', '❤')),
        bodyOf(p.echo(url, u, 'our own send')),
        ...(kind === 'instagram' ? [bodyOf(p.storyReply(url, u, 'nice story', 'https://meta.test/story.jpg')), bodyOf(p.attachment(url, u, 'story_mention'))] : []),
      ]);
    }
  }
}

/** A valid first message from the channel user, so their conversation exists and is watched. */
async function firstContact(kind: Kind, url: string): Promise<Request> {
  const u = USERS[kind];
  if (kind === 'telegram') return telegram.text(url, tgUser, 'first contact');
  if (kind === 'twilio') return twilio.text(url, { from: u }, 'first contact');
  if (kind === 'whatsapp') return meta.whatsapp.text(url, { waId: u }, 'first contact');
  return (kind === 'messenger' ? meta.messenger : meta.instagram).text(url, u, 'first contact');
}

beforeAll(async () => {
  restores.push(captureWorkerLog());
  const spy = routeFetch({ [TELEGRAM]: telegram, [TWILIO]: twilio, [META]: meta });
  restores.push(() => spy.mockRestore());
  const app = await newApp('Fuzz channels');
  appId = app.appId;
  auth = app.auth;
  const bodies: Record<Kind, Json> = {
    telegram: { type: 'telegram', token: telegram.token, apiBaseUrl: TELEGRAM },
    twilio: { type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: [...twilio.phoneNumbers.keys()][0]!, apiBaseUrl: TWILIO },
    whatsapp: { type: 'whatsapp', phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, apiBaseUrl: META },
    messenger: { type: 'messenger', pageAccessToken: meta.page.accessToken, appId: META_APP_ID, appSecret: meta.appSecret, apiBaseUrl: META },
    instagram: { type: 'instagram', pageAccessToken: meta.page.accessToken, appId: META_APP_ID, appSecret: meta.appSecret, apiBaseUrl: META },
  };
  for (const kind of KINDS) {
    const res = await call('POST', `/v2/apps/${appId}/integrations`, auth, bodies[kind]);
    if (res.status !== 201 || res.body.integration.status !== 'active') throw new Error(`fuzz setup: ${kind} integration: ${JSON.stringify(res.body)}`);
    const { id, webhookUrl, verifyToken } = res.body.integration as { id: string; webhookUrl: string; verifyToken?: string };
    const first = await hook(await firstContact(kind, webhookUrl));
    if (first.status !== 200) throw new Error(`fuzz setup: ${kind} first contact answered ${first.status} ${await first.text()}`);
    const row = await env.DB.prepare('SELECT conversation_id FROM clients WHERE app_id = ? AND integration_id = ? AND external_id = ?').bind(appId, id, USERS[kind]).first<{ conversation_id: string }>();
    if (!row?.conversation_id) throw new Error(`fuzz setup: no conversation for the ${kind} user`);
    channels[kind] = { kind, id, url: webhookUrl, templates: await templatesFor(kind, webhookUrl), conversationId: row.conversation_id, ...(verifyToken ? { verifyToken } : {}) };
  }
}, 60_000);

afterAll(() => {
  for (const restore of restores.reverse()) restore();
});

// ---- generated webhooks --------------------------------------------------------------------

const enc = new TextEncoder();

/** The exact bytes a generated body puts on the wire (a streamed body materialized, so it can be signed). */
function bytesOf(b: FuzzBody): Uint8Array {
  if (b.bytes) return b.bytes;
  if (b.stream) return enc.encode(`{"pad":"${'x'.repeat(b.stream.chunks * b.stream.chunkSize)}"}`);
  return enc.encode(b.text ?? '');
}

/** Twilio posts form fields: a mutated template is encoded back into a form, arrays as repeated fields. */
function asForm(b: FuzzBody): FuzzBody {
  if (b.kind !== 'valid' && b.kind !== 'mutated') return b;
  try {
    const value = JSON.parse(b.text ?? '') as unknown;
    const params = new URLSearchParams();
    const put = (k: string, v: unknown) => params.append(k, v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (Array.isArray(v)) v.forEach((x) => put(k, x));
        else put(k, v);
      }
    } else put('Body', value);
    return { ...b, text: params.toString() };
  } catch {
    return b; // deep nesting spliced in: sent as the text it is
  }
}

/** A fresh channel message id on a template, so an accepted payload is new to the dedupe and reaches storage. */
function freshen(kind: Kind, template: Json, n: number): Json {
  const t = JSON.parse(JSON.stringify(template)) as Record<string, any>;
  if (kind === 'telegram') t.update_id = 900_000 + n;
  else if (kind === 'twilio') {
    const sid = `SM${n.toString(16).padStart(32, '0')}`;
    for (const key of ['MessageSid', 'SmsSid', 'SmsMessageSid']) if (key in t) t[key] = sid;
  } else if (kind === 'whatsapp') {
    const m = t.entry?.[0]?.changes?.[0]?.value?.messages?.[0];
    if (m) m.id = `wamid.fuzz${n}`;
  } else {
    const m = t.entry?.[0]?.messaging?.[0]?.message ?? t.entry?.[0]?.messaging?.[0]?.postback;
    if (m?.mid) m.mid = `m_fuzz${n}`;
  }
  return t;
}

const payload = (kind: Kind) =>
  fc
    .tuple(fc.nat({ max: 1000 }), fc.nat())
    .chain(([i, n]) => {
      const templates = channels[kind].templates;
      const valid = fc.constant(freshen(kind, templates[i % templates.length]!, n));
      return bodyArb(valid);
    })
    .map((b) => (kind === 'twilio' ? asForm(b) : b));

const contentTypeFor = (kind: Kind): fc.Arbitrary<string | undefined> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(kind === 'twilio' ? 'application/x-www-form-urlencoded' : 'application/json') },
    { weight: 2, arbitrary: fc.constantFrom(kind === 'twilio' ? 'application/x-www-form-urlencoded; charset=UTF-8' : 'application/json; charset=utf-8', 'APPLICATION/X-WWW-FORM-URLENCODED') },
    { weight: 2, arbitrary: fc.constantFrom<string | undefined>(undefined, '', 'text/plain', 'application/json', 'multipart/form-data; boundary=x', 'application/xml') },
  );

/** The signature headers the channel itself would send for these bytes. */
async function signature(c: Channel, raw: Uint8Array): Promise<Record<string, string>> {
  switch (c.kind) {
    case 'telegram':
      return { 'x-telegram-bot-api-secret-token': telegram.webhook!.secretToken! };
    case 'twilio':
      // Parley reads the fields as UTF-8 (bad bytes become U+FFFD): Twilio signs the same fields.
      return { 'x-twilio-signature': await twilioSignature(twilio.authToken, c.url, new URLSearchParams(new TextDecoder().decode(raw))) };
    default:
      return { 'x-hub-signature-256': `sha256=${await hmacHex('SHA-256', meta.appSecret, raw)}`, 'x-hub-signature': `sha1=${await hmacHex('SHA-1', meta.appSecret, raw)}` };
  }
}

type Forgery = { how: string; junk: string };

/** Ways to get the signature wrong: none, junk, the wrong secret, other bytes, the wrong URL, the wrong scheme prefix. */
const forgery: fc.Arbitrary<Forgery> = fc.record({
  how: fc.constantFrom('none', 'junk', 'wrongSecret', 'otherBytes', 'otherUrl', 'noPrefix', 'sha1Only', 'sha256WrongSha1Right', 'truncated', 'empty'),
  junk: fc.oneof(nastyString, fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 })),
});

/** Header values must be ByteStrings without line breaks; junk that is not gets percent-encoded. */
const headerSafe = (s: string) => (/^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(new TextDecoder().decode(enc.encode(s))));

async function forged(c: Channel, raw: Uint8Array, f: Forgery): Promise<Record<string, string>> {
  const junk = headerSafe(f.junk);
  const other = enc.encode(`${new TextDecoder().decode(raw)} `);
  switch (c.kind) {
    case 'telegram': {
      const secret = telegram.webhook!.secretToken!;
      const value = { none: undefined, junk, wrongSecret: `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`, otherBytes: secret.toUpperCase(), otherUrl: `Bearer ${secret}`, noPrefix: secret.slice(1), sha1Only: `${secret}${secret}`, sha256WrongSha1Right: junk || 'x', truncated: secret.slice(0, 16), empty: '' }[f.how];
      return value === undefined ? {} : { 'x-telegram-bot-api-secret-token': value };
    }
    case 'twilio': {
      const params = new URLSearchParams(new TextDecoder().decode(raw));
      const sig = (token: string, url: string, p: URLSearchParams) => twilioSignature(token, url, p);
      const value = {
        none: undefined,
        junk,
        wrongSecret: await sig('ffffffffffffffffffffffffffffffff', c.url, params),
        otherBytes: await sig(twilio.authToken, c.url, new URLSearchParams(new TextDecoder().decode(other) + '&Injected=1')),
        otherUrl: await sig(twilio.authToken, c.url.replace('http://', 'https://'), params),
        noPrefix: (await sig(twilio.authToken, c.url, params)).slice(1),
        sha1Only: await sig(twilio.authToken, `${c.url}/`, params),
        sha256WrongSha1Right: await sig(twilio.authToken, `${c.url}?x=1`, params),
        truncated: (await sig(twilio.authToken, c.url, params)).slice(0, 10),
        empty: '',
      }[f.how];
      return value === undefined ? {} : { 'x-twilio-signature': value };
    }
    default: {
      const right256 = await hmacHex('SHA-256', meta.appSecret, raw);
      const right1 = await hmacHex('SHA-1', meta.appSecret, raw);
      const headers: Record<string, Record<string, string>> = {
        none: {},
        junk: { 'x-hub-signature-256': `sha256=${junk}` },
        wrongSecret: { 'x-hub-signature-256': `sha256=${await hmacHex('SHA-256', 'not the app secret', raw)}` },
        otherBytes: { 'x-hub-signature-256': `sha256=${await hmacHex('SHA-256', meta.appSecret, other)}` },
        otherUrl: { 'x-hub-signature-256': `sha1=${right1}` },
        noPrefix: { 'x-hub-signature-256': right256 },
        sha1Only: { 'x-hub-signature': `sha1=${await hmacHex('SHA-1', 'not the app secret', raw)}` },
        sha256WrongSha1Right: { 'x-hub-signature-256': `sha256=${await hmacHex('SHA-256', meta.appSecret, other)}`, 'x-hub-signature': `sha1=${right1}` },
        truncated: { 'x-hub-signature-256': `sha256=${right256.slice(0, 63)}` },
        empty: { 'x-hub-signature-256': '' },
      };
      return headers[f.how]!;
    }
  }
}

/**
 * What a forged request must get: Telegram 401, Meta 401/403, Twilio 403 (400
 * first when the body is not a form at all). A body over the 1 MB cap is
 * refused with 413 before anything, signatures included, is looked at.
 */
function refusals(kind: Kind, contentType: string | undefined, size: number): number[] {
  if (size > 1024 * 1024) return [413];
  if (kind === 'telegram') return [401];
  if (kind === 'twilio') return /^application\/x-www-form-urlencoded\b/i.test(contentType ?? '') ? [403] : [400, 403];
  return [401, 403];
}

async function post(c: Channel, raw: Uint8Array, contentType: string | undefined, headers: Record<string, string>): Promise<Sent> {
  const res = await hook(new Request(c.url, { method: 'POST', headers: { ...(contentType !== undefined ? { 'content-type': contentType } : {}), ...headers }, body: raw }));
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body };
}

const describe_ = (c: Channel, contentType: string | undefined, b: FuzzBody, headers: Record<string, string>) =>
  `${c.kind} POST /hooks/${c.id} [content-type: ${JSON.stringify(contentType)}] ${JSON.stringify(headers).slice(0, 160)} ${describeBody(b)}`;

/** Messages already looked at, so each media URL Parley minted is fetched once. */
const mediaChecked = new Set<string>();

/**
 * Fetches the Parley media URL of every message the watched user got since the
 * last look: a media item the channel no longer has (a mutated file id, an
 * expired link) is a 502 bad_gateway, never a 500.
 */
async function checkNewMedia(kind: Kind): Promise<void> {
  const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${appId}/${channels[kind].conversationId}`));
  const page = await stub.listMessages({ size: 10 });
  if (!page.ok) return;
  for (const m of page.value.messages) {
    if (mediaChecked.has(m.id)) continue;
    mediaChecked.add(m.id);
    const url = (m.content as { mediaUrl?: string }).mediaUrl;
    if (!url?.startsWith('http://parley.test/media/')) continue;
    const mark = logMark();
    const res = await SELF.fetch(url);
    const text = res.headers.get('content-type')?.includes('json') ? await res.text() : (await res.arrayBuffer(), '');
    const sent: Sent = { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body: text ? JSON.parse(text) : undefined };
    const described = `GET ${new URL(url).pathname} (${m.content.type} from ${kind})`;
    if (res.status === 502) {
      // The channel could not provide the file (gone, expired, never there): a gateway error is the designed answer.
      tally(502);
      expectV2Error(sent, described);
      if ((sent.body as { errors: { code: string }[] }).errors[0]!.code !== 'bad_gateway') throw new Error(`502 without bad_gateway for ${described}: ${text}`);
      continue;
    }
    if (expectNo5xx(sent, described, mark) === 'known') continue;
    if (res.status >= 400) expectV2Error(sent, described);
  }
}

// ---- properties -------------------------------------------------------------------------------------

for (const kind of KINDS) {
  describe(`${kind} /hooks/{integrationId}`, () => {
    it('unsigned or badly signed: refused with 401/403, nothing stored', async () => {
      const arb = fc.record({ body: payload(kind), contentType: contentTypeFor(kind), forgery }).map((g) => Object.defineProperty(g, fc.toStringMethod, { value: () => `${g.forgery.how} ${JSON.stringify(g.contentType)} ${describeBody(g.body)}` }));
      await check(
        `${kind}: forged webhooks`,
        fc.asyncProperty(arb, async ({ body, contentType, forgery: f }) => {
          const c = channels[kind];
          const raw = bytesOf(body);
          const headers = await forged(c, raw, f);
          const described = describe_(c, contentType, body, headers);
          const before = await stored[kind].get(watchedOf(kind));
          stored[kind].forget();
          const mark = logMark();
          const res = await post(c, raw, contentType, headers).catch((err: unknown) => {
            throw new Error(`the request crashed: ${described}: ${String(err)}\nworker log: ${logSince(mark).join('\n')}`);
          });
          if (expectNo5xx(res, described, mark) === 'known') return;
          const expected = refusals(kind, contentType, raw.byteLength);
          if (!expected.includes(res.status)) throw new Error(`expected ${expected.join(' or ')}, got ${res.status} for ${described}: ${res.text.slice(0, 300)}`);
          expectV2Error(res, described);
          stored[kind].set(watchedOf(kind), await expectNothingStored(watchedOf(kind), before, described, res));
        }),
      );
    }, timeoutFor());

    it('signed as the channel signs, any payload: no 5xx; refused ones store nothing', async () => {
      const arb = fc.record({ body: payload(kind), contentType: contentTypeFor(kind) }).map((g) => Object.defineProperty(g, fc.toStringMethod, { value: () => `${JSON.stringify(g.contentType)} ${describeBody(g.body)}` }));
      await check(
        `${kind}: signed webhooks`,
        fc.asyncProperty(arb, async ({ body, contentType }) => {
          const c = channels[kind];
          const raw = bytesOf(body);
          const headers = await signature(c, raw);
          const described = describe_(c, contentType, body, headers);
          const before = await stored[kind].get(watchedOf(kind));
          stored[kind].forget();
          const mark = logMark();
          const res = await post(c, raw, contentType, headers).catch((err: unknown) => {
            throw new Error(`the request crashed: ${described}: ${String(err)}\nworker log: ${logSince(mark).join('\n')}`);
          });
          if (expectNo5xx(res, described, mark) === 'known') return;
          if (res.status === 401 || res.status === 403) throw new Error(`a correctly signed webhook was refused ${res.status}: ${described}: ${res.text.slice(0, 300)}`);
          if (res.status >= 400) {
            expectV2Error(res, described);
            stored[kind].set(watchedOf(kind), await expectNothingStored(watchedOf(kind), before, described, res));
          } else await checkNewMedia(kind);
        }),
      );
    }, timeoutFor());
  });
}

describe('GET /hooks/{integrationId} (the subscription handshake)', () => {
  it('any query on any channel: no 5xx; Meta echoes the challenge only for its verify token', async () => {
    const arb = fc.record({
      kind: fc.constantFrom(...KINDS),
      mode: fc.option(fc.oneof(fc.constant('subscribe'), nastyString), { nil: undefined }),
      token: fc.oneof(fc.constant<'right' | undefined>('right'), fc.constant(undefined), nastyString),
      challenge: fc.option(nastyString, { nil: undefined }),
      extra: fc.option(fc.tuple(nastyString, nastyString), { nil: undefined }),
    });
    await check(
      'handshake',
      fc.asyncProperty(arb, async (g) => {
        const c = channels[g.kind];
        const url = new URL(c.url);
        if (g.mode !== undefined) url.searchParams.set('hub.mode', g.mode);
        const token = g.token === 'right' ? c.verifyToken : g.token;
        if (token !== undefined) url.searchParams.set('hub.verify_token', token);
        if (g.challenge !== undefined) url.searchParams.set('hub.challenge', g.challenge);
        if (g.extra) url.searchParams.append(g.extra[0], g.extra[1]);
        const mark = logMark();
        const res = await SELF.fetch(url);
        const text = await res.text();
        const described = `${g.kind} GET ${url.pathname}${url.search.slice(0, 200)}`;
        expectNo5xx({ status: res.status, contentType: '', text, body: undefined }, described, mark);
        const metaKind = g.kind === 'whatsapp' || g.kind === 'messenger' || g.kind === 'instagram';
        const accepted = metaKind && g.mode === 'subscribe' && g.token === 'right' && g.challenge !== undefined;
        if (accepted && (res.status !== 200 || text !== new URL(url).searchParams.get('hub.challenge'))) throw new Error(`the right verify token was not answered with the challenge: ${described} → ${res.status} ${text.slice(0, 100)}`);
        if (!accepted && res.status === 200) throw new Error(`a handshake without the verify token was answered 200: ${described}`);
      }),
    );
  }, timeoutFor());
});
