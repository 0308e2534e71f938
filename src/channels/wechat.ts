/**
 * WeChat Official Account adapter. One official account (AppID + AppSecret)
 * is one integration. WeChat's server configuration has no API: the
 * customer pastes Parley's webhook URL and the integration's `token` (made
 * here at setup, shown in the integration) into the console, and WeChat checks
 * them with a signed GET (`echostr`, answered by `handshake`).
 *
 * Callbacks are XML. In plain mode WeChat signs only token, timestamp and
 * nonce (SHA-1 of the sorted strings), not the body: so a signature is bound
 * to the first body it arrives with (`replayGuard`) and stale timestamps are
 * refused. With an `encodingAesKey` the integration accepts only safe-mode
 * callbacks, whose `msg_signature` also covers the ciphertext, decrypted here
 * (wechat-crypto.ts) and checked against the AppID. WeChat retries a callback
 * not answered in 5 s three times: messages dedupe on MsgId (64-bit, kept as
 * the string WeChat wrote), events on event + user + CreateTime as WeChat advises.
 *
 * Sends use the customer-service API, allowed for 48 hours after the user
 * last wrote (checked before calling, as WeChat's 45015). Its access token
 * comes from the stable-token API: every isolate caches its own, and in
 * normal mode WeChat hands them all the same token instead of each fetch
 * invalidating the others' (as /cgi-bin/token does). An expired or revoked
 * token (40001, 40014, 42001) is fetched again once and the call retried.
 * Errors are HTTP 200 with `errcode`: -1 (busy) and the API quotas are
 * retried, the rest are permanent with the errcode as the failure's code.
 * Buttons and quick replies go out as a `msgmenu`: tappable options that
 * come back as text carrying `bizmsgmenuid`, the option's id. A menu stays in
 * the chat and may be tapped after newer options were offered, so the id
 * carries the option's kind, choice and payload (`p3:ORDER`, `r1:YES`) and a
 * late tap still means what it said; a payload too long for the id leaves the
 * bare choice number, and such a tap (or one on a menu a native payload
 * sent) is stored as the text the user tapped. Links go as `<a>` in text,
 * images are uploaded as temporary media first. Videos a user sends are only
 * served over plain http, which Parley's outbound policy refuses: they
 * cannot be copied (fetchMedia says so).
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { OutboundError, redactUrl } from '../http/outbound';
import { boundedString, uri } from '../schema/common';
import {
  apiBase,
  nativeKeysProblem,
  type Button,
  type Capabilities,
  type ChannelAdapter,
  type ChannelContext,
  type InboundContent,
  type InboundEvent,
  type InboundRequest,
  type Part,
  type QuickReply,
  type Recipient,
  type SendOutcome,
  type Verdict,
} from './adapter';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS } from './http';
import { insideWindow } from './meta';
import { safeEqual, sha256Hex, toHex } from './signing';
import { decryptMessage, ENCODING_AES_KEY, readXml, wechatSignature } from './wechat-crypto';

// ---- config ------------------------------------------------------------------------

const appId = v.pipe(v.string('must be a string'), v.regex(/^wx[0-9A-Za-z]{16}$/, 'must be the AppID from the Official Account Platform (wx followed by 16 characters)'));
const appSecret = boundedString(8, 128);
const encodingAesKey = v.pipe(v.string('must be a string'), v.regex(ENCODING_AES_KEY, 'must be the 43-character EncodingAESKey of the server configuration'));
/** WeChat's rule for the server configuration Token. */
const token = v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9]{3,32}$/, 'must be 3 to 32 letters and digits'));

const createSchema = v.object(
  {
    appId,
    appSecret,
    encodingAesKey: v.optional(encodingAesKey),
    // Made at setup when not given; given, it keeps a console configured elsewhere working.
    token: v.optional(token),
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);
const updateSchema = v.object({ appSecret: v.optional(appSecret), encodingAesKey: v.optional(encodingAesKey), token: v.optional(token) }, 'must be an object');

export type WeChatConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<WeChatConfig>;

/**
 * WeChat documents no text limit for this API (WeCom's twin takes 2,048
 * bytes); 680 characters fit 2,048 bytes even in Chinese. Images are uploaded;
 * other media go as links. Menu options are one list; links live in text.
 */
const capabilities: Capabilities = {
  textMax: 680,
  captionMax: 0,
  media: ['image'],
  postbackButtons: 10,
  linkButtons: 10,
  mixedButtons: false,
  buttonTextMax: 30,
  quickReplies: 10,
  locationRequest: false,
  carousel: null,
  location: false,
  templates: false,
  markup: 'plain',
};

/** WeChat retries within 15 s; a wider window only tolerates clock skew. */
export const REPLAY_WINDOW_MS = 5 * 60_000;
/** The customer-service window: 48 hours since the user last wrote. */
export const WINDOW_MS = 48 * 3_600_000;
const inWindow = (lastInboundAt: number | undefined) => insideWindow(lastInboundAt, Date.now(), WINDOW_MS);
const IMAGE_MAX_BYTES = 10 * 1024 * 1024;

/** Codes whose cause passes: -1 system busy, 45009 the daily API quota, 45011 the per-minute quota. */
const RETRYABLE = new Set([-1, 45009, 45011]);
const TOKEN_ERRORS = new Set([40001, 40014, 42001]);
/** What a customer can do about the codes they will meet most. */
const HINTS: Record<number, string> = {
  45015: 'the user has not written to the account in the last 48 hours',
  45047: 'more customer-service messages than WeChat allows since the user last wrote',
  40200: 'menu messages (buttons, quick replies) need a verified service account',
  40164: "WeChat refuses this caller's IP address: check the account's IP whitelist",
  40125: 'the appSecret is wrong',
  40013: 'the appId is wrong',
};

const OUTSIDE_WINDOW: SendOutcome = {
  ok: false,
  retryable: false,
  code: '45015',
  message: 'Outside the customer service window: the user has not written to the official account in the last 48 hours',
};

// ---- calling the API ------------------------------------------------------------------

type Failure = SendOutcome & { ok: false };
type Json = Record<string, unknown>;
type ApiResult = { ok: true; body: Json } | { ok: false; outcome: Failure; errcode?: number };

/** WeChat answers 200 with `errcode` for logical errors; HTTP 5xx and 429 are the network's. */
function readAnswer(response: Response, body: unknown): ApiResult {
  const code = `http_${response.status}`;
  if (response.status >= 500 || response.status === 429) return { ok: false, outcome: { ok: false, retryable: true, code, message: `WeChat answered HTTP ${response.status}` } };
  if (!response.ok) return { ok: false, outcome: { ok: false, retryable: false, code, message: `WeChat answered HTTP ${response.status}` } };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, outcome: { ok: false, retryable: false, code: 'bad_response', message: 'WeChat answered with an unreadable body' } };
  }
  const { errcode, errmsg } = body as Json;
  if (errcode === undefined || errcode === 0) return { ok: true, body: body as Json };
  const n = Number(errcode);
  const hint = HINTS[n];
  const message = `WeChat errcode ${n}: ${typeof errmsg === 'string' ? errmsg : 'error'}${hint ? ` (${hint})` : ''}`;
  const outcome: Failure = RETRYABLE.has(n)
    ? { ok: false, retryable: true, code: String(n), message, ...(n === 45011 ? { retryAfterMs: 60_000 } : {}) }
    : { ok: false, retryable: false, code: String(n), message };
  return { ok: false, outcome, errcode: n };
}

/**
 * This isolate's access tokens and the fetches under way (one per account at a
 * time), keyed by API base, AppID and AppSecret: another tenant's integration
 * naming the same AppID with a wrong secret must never borrow this one's token.
 */
const tokens = new Map<string, { token: string; until: number }>();
const fetching = new Map<string, Promise<TokenAnswer>>();
type TokenAnswer = { ok: true; token: string; until: number } | { ok: false; outcome: Failure; errcode?: number };

const tokenKey = (config: WeChatConfig) => `${apiBase(wechat, config)}\n${config.appId}\n${config.appSecret}`;

async function requestToken(ctx: Ctx): Promise<TokenAnswer> {
  const answer = await callChannel(ctx.fetch, `${apiBase(wechat, ctx.config)}/cgi-bin/stable_token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credential', appid: ctx.config.appId, secret: ctx.config.appSecret, force_refresh: false }),
  });
  if (!answer.ok) return answer;
  const result = readAnswer(answer.response, await jsonBody(answer.response));
  if (!result.ok) return result;
  const { access_token: got, expires_in: ttl } = result.body;
  if (typeof got !== 'string' || typeof ttl !== 'number') return { ok: false, outcome: { ok: false, retryable: false, code: 'bad_response', message: 'WeChat answered stable_token without access_token' } };
  // Used until a minute before it expires; WeChat hands out a fresh one in the last five.
  return { ok: true, token: got, until: Date.now() + Math.max(30, ttl - 60) * 1000 };
}

/** The account's access token: this isolate's while it lasts, else fetched (`fresh` after WeChat called it invalid). */
async function accessToken(ctx: Ctx, fresh = false): Promise<TokenAnswer> {
  const key = tokenKey(ctx.config);
  const kept = tokens.get(key);
  if (fresh) tokens.delete(key);
  else if (kept && kept.until > Date.now()) return { ok: true, ...kept };
  let pending = fetching.get(key);
  if (!pending) {
    pending = requestToken(ctx).finally(() => fetching.delete(key));
    fetching.set(key, pending);
  }
  const got = await pending;
  if (got.ok) tokens.set(key, { token: got.token, until: got.until });
  return got;
}

/** Calls `path` with the access token; a token WeChat calls invalid or expired is fetched again and the call made once more. */
async function api(ctx: Ctx, path: string, init: RequestInit, query: Record<string, string> = {}): Promise<ApiResult> {
  for (let attempt = 0; ; attempt++) {
    const got = await accessToken(ctx, attempt > 0);
    if (!got.ok) return got;
    const url = `${apiBase(wechat, ctx.config)}${path}?${new URLSearchParams({ access_token: got.token, ...query })}`;
    const answer = await callChannel(ctx.fetch, url, init);
    if (!answer.ok) return answer;
    const result = readAnswer(answer.response, await jsonBody(answer.response));
    if (result.ok || attempt > 0 || !TOKEN_ERRORS.has(result.errcode ?? 0)) return result;
  }
}

const postJson = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

// ---- outbound ---------------------------------------------------------------------------

type Option = { id: string; content: string; choice: number };

/**
 * WeChat documents no limit on a menu option's id for official accounts;
 * WeCom's customer-service twin takes 128 bytes, so ids are kept within that.
 */
const MENU_ID_MAX_BYTES = 128;
/** `p<choice>:<payload>` for a postback, `r<choice>:<payload>` for a quick reply. */
const MENU_ID = /^([pr])(\d{1,4}):([\s\S]+)$/;

/** An option's id: its kind, choice and payload, or the bare choice number when the payload does not fit. */
function menuId(kind: 'p' | 'r', choice: number, payload: string): string {
  const id = `${kind}${choice}:${payload}`;
  return new TextEncoder().encode(id).byteLength <= MENU_ID_MAX_BYTES ? id : String(choice);
}

/**
 * Text, with its links as `<a>` (WeChat text renders them), or, when it
 * offers options, a `msgmenu` whose option ids WeChat sends back as
 * `bizmsgmenuid` when one is tapped.
 */
function textBody(text: string, buttons: Button[], replies: QuickReply[]): Json {
  const links = buttons.filter((b): b is Extract<Button, { kind: 'link' }> => b.kind === 'link');
  const options: Option[] = [
    ...buttons.flatMap((b) => (b.kind === 'postback' ? [{ id: menuId('p', b.choice, b.payload), content: b.text, choice: b.choice }] : [])),
    ...replies.map((r) => ({ id: menuId('r', r.choice, r.payload), content: r.text, choice: r.choice })),
  ].sort((a, b) => a.choice - b.choice);
  if (options.length === 0) {
    const anchors = links.map((l) => `<a href="${l.uri.replace(/"/g, '%22')}">${l.text.replace(/[<>]/g, '')}</a>`);
    return { msgtype: 'text', text: { content: [text, ...anchors].filter(Boolean).join('\n') } };
  }
  const head = [text, ...links.map((l) => `${l.text}: ${l.uri}`)].filter(Boolean).join('\n');
  return { msgtype: 'msgmenu', msgmenu: { head_content: head, list: options.map(({ id, content }) => ({ id, content })), tail_content: '' } };
}

/**
 * A failed download of media to upload, classified as callChannel does: a
 * refused target or an image over WeChat's limit is permanent, a timeout or
 * a network or DNS fault passes. Messages name the URL without its query,
 * which may carry a signature.
 */
function downloadFailure(err: unknown, url: string): Failure {
  const where = redactUrl(url);
  if (err instanceof OutboundError && err.kind === 'too_large') return { ok: false, retryable: false, code: 'media_too_large', message: `${where} is larger than the ${IMAGE_MAX_BYTES} bytes WeChat takes for an image` };
  if (err instanceof OutboundError && err.kind === 'refused') return { ok: false, retryable: false, code: 'target_refused', message: err.message };
  const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
  const why = timedOut ? `no answer within ${MEDIA_TIMEOUT_MS} ms` : err instanceof Error ? err.message : String(err);
  return { ok: false, retryable: true, code: timedOut ? 'timeout' : 'network_error', message: `Could not download ${where} to upload it: ${why}` };
}

/** The file at `url`, uploaded as temporary media (kept three days by WeChat): its media_id. */
async function upload(ctx: Ctx, url: string, kind: 'image'): Promise<{ ok: true; mediaId: string } | { ok: false; outcome: Failure }> {
  let bytes: ArrayBuffer;
  let type: string;
  try {
    const file = await ctx.fetch(url, { timeoutMs: MEDIA_TIMEOUT_MS, maxBytes: IMAGE_MAX_BYTES, maxRedirects: 3 });
    if (!file.ok) {
      await file.body?.cancel();
      const retryable = file.status >= 500 || file.status === 429;
      return { ok: false, outcome: { ok: false, retryable, code: 'media_unavailable', message: `Downloading ${redactUrl(url)} to upload it answered HTTP ${file.status}` } };
    }
    type = file.headers.get('content-type') ?? 'image/jpeg';
    bytes = await file.arrayBuffer();
  } catch (err) {
    return { ok: false, outcome: downloadFailure(err, url) };
  }
  const name = (url.split(/[?#]/)[0]!.split('/').pop() || 'image').replace(/[^\w.-]/g, '_');
  const form = new FormData();
  form.append('media', new Blob([bytes], { type }), name);
  const result = await api(ctx, '/cgi-bin/media/upload', { method: 'POST', body: form }, { type: kind });
  if (!result.ok) return result;
  const mediaId = result.body.media_id;
  return typeof mediaId === 'string' ? { ok: true, mediaId } : { ok: false, outcome: { ok: false, retryable: false, code: 'bad_response', message: 'WeChat answered media/upload without a media_id' } };
}

/** custom/send fields a native payload may set; `touser` may be named but is always the conversation's. */
const NATIVE_KEYS = new Set(['touser', 'msgtype', 'text', 'image', 'voice', 'video', 'music', 'news', 'mpnews', 'mpnewsarticle', 'msgmenu', 'wxcard', 'miniprogrampage', 'customservice']);
const checkNative = (payload: unknown) => nativeKeysProblem('wechat', payload, NATIVE_KEYS);

async function body(ctx: Ctx, part: Part): Promise<{ ok: true; body: Json } | { ok: false; outcome: Failure }> {
  const invalid = (message: string) => ({ ok: false as const, outcome: { ok: false as const, retryable: false as const, code: 'invalid_part', message } });
  switch (part.kind) {
    case 'text':
      return { ok: true, body: textBody(part.text, part.buttons, part.replies) };
    case 'media': {
      if (part.media !== 'image') return invalid(`WeChat integrations send ${part.media} as a link`);
      const uploaded = await upload(ctx, part.url, 'image');
      return uploaded.ok ? { ok: true, body: { msgtype: 'image', image: { media_id: uploaded.mediaId } } } : uploaded;
    }
    case 'native': {
      const problem = checkNative(part.payload);
      return problem ? invalid(problem) : { ok: true, body: part.payload as Json };
    }
    default:
      return invalid(`WeChat integrations do not send ${part.kind} natively`);
  }
}

/** WeChat's answer carries no message id: the part's is drawn from its delivery key, the same on every attempt. */
async function sentId(deliveryKey: string | undefined): Promise<string> {
  return deliveryKey === undefined ? crypto.randomUUID().replace(/-/g, '') : (await sha256Hex(`wechat:${deliveryKey}`)).slice(0, 32);
}

/** Every part is one customer-service message. */
async function send(ctx: Ctx, to: Recipient, part: Part): Promise<SendOutcome> {
  if (!inWindow(to.lastInboundAt)) return OUTSIDE_WINDOW;
  const built = await body(ctx, part);
  if (!built.ok) return built.outcome;
  const result = await api(ctx, '/cgi-bin/message/custom/send', postJson({ ...built.body, touser: to.externalId }));
  return result.ok ? { ok: true, channelMessageId: await sentId(to.deliveryKey) } : result.outcome;
}

// ---- inbound ----------------------------------------------------------------------------

/** The XML verify decrypted from a safe-mode body, for parse (which is synchronous; Web Crypto is not). */
const opened = new WeakMap<InboundRequest, string>();
const isEncrypted = (url: string) => new URL(url).searchParams.get('encrypt_type') === 'aes';
const refuse = (status: 401 | 403, reason: string): Verdict => ({ ok: false, status, reason });

async function verify(request: InboundRequest, config: WeChatConfig): Promise<Verdict> {
  const q = new URL(request.url).searchParams;
  const aes = q.get('encrypt_type') === 'aes';
  const [given, timestamp, nonce] = [q.get(aes ? 'msg_signature' : 'signature'), q.get('timestamp'), q.get('nonce')];
  if (!config.token) return refuse(401, 'The integration has no token yet');
  if (!given || !timestamp || !nonce) return refuse(401, `Missing ${aes ? 'msg_signature' : 'signature'}, timestamp or nonce`);
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(request.now - Number(timestamp) * 1000) > REPLAY_WINDOW_MS) return refuse(403, 'timestamp is outside the 5-minute window (stale or replayed)');
  if (!aes) {
    // Plain callbacks sign no body: with a key, only safe mode (where the signature covers the ciphertext) is taken.
    if (config.encodingAesKey) return refuse(403, 'This integration has an encodingAesKey: WeChat must send safe-mode callbacks (encrypt_type=aes)');
    if (!safeEqual(given, await wechatSignature(config.token, timestamp, nonce))) return refuse(403, 'signature does not match');
    return { ok: true };
  }
  if (!config.encodingAesKey) return refuse(403, 'WeChat sent a safe-mode callback but the integration has no encodingAesKey');
  // Read before anything is verified: a pattern that only takes base64 stays linear on whatever a stranger posts.
  const encrypt = /<Encrypt>\s*<!\[CDATA\[([A-Za-z0-9+/=]+)\]\]>\s*<\/Encrypt>/.exec(new TextDecoder().decode(request.raw))?.[1];
  if (!encrypt) return refuse(403, 'safe-mode callback without an Encrypt element');
  if (!safeEqual(given.toLowerCase(), await wechatSignature(config.token, timestamp, nonce, encrypt))) return refuse(403, 'msg_signature does not match the body');
  let opening: { xml: string; appId: string };
  try {
    opening = await decryptMessage(config.encodingAesKey, encrypt);
  } catch (err) {
    return refuse(403, `Encrypt does not decrypt with the encodingAesKey (${err instanceof Error ? err.message : String(err)})`);
  }
  if (opening.appId !== config.appId) return refuse(403, 'the message was encrypted for another AppID');
  opened.set(request, opening.xml);
  return { ok: true };
}

const seconds = (s: string | undefined) => (s && /^\d{1,12}$/.test(s) ? Number(s) * 1000 : undefined);
const VOICE_TYPES: Record<string, string> = { amr: 'audio/amr', speex: 'audio/speex', mp3: 'audio/mpeg' };

/** What a message says; undefined for kinds Parley has no content for. */
function content(m: Record<string, string>): InboundContent | undefined {
  const media = (kind: 'image' | 'audio' | 'video', mimeType?: string, text?: string): InboundContent | undefined =>
    m.MediaId ? { type: 'media', media: { kind, ref: m.MediaId, ...(mimeType ? { mimeType } : {}) }, ...(text ? { text } : {}) } : undefined;
  switch (m.MsgType) {
    case 'text':
      return m.Content === undefined ? undefined : { type: 'text', text: m.Content };
    case 'image':
      return media('image');
    case 'voice':
      // Recognition: WeChat's transcript, when speech recognition is on for the account.
      return media('audio', VOICE_TYPES[(m.Format ?? '').toLowerCase()], m.Recognition);
    case 'video':
    case 'shortvideo':
      return media('video');
    case 'location': {
      const [lat, long] = [Number(m.Location_X), Number(m.Location_Y)];
      if (!Number.isFinite(lat) || !Number.isFinite(long) || !m.Location_X || !m.Location_Y) return undefined;
      return { type: 'location', lat, long, ...(m.Label ? { address: m.Label } : {}) };
    }
    case 'link':
      return m.Url ? { type: 'text', text: [m.Title, m.Url].filter(Boolean).join('\n') } : undefined;
    default:
      return undefined;
  }
}

function parse(request: InboundRequest): InboundEvent[] {
  const encrypted = isEncrypted(request.url);
  const xml = encrypted ? opened.get(request) : new TextDecoder().decode(request.raw);
  if (xml === undefined) throw badRequest('A safe-mode WeChat callback must be verified before it is parsed');
  const m = readXml(xml);
  if (!m.FromUserName || !m.MsgType) throw badRequest('WeChat callback has no FromUserName or MsgType');
  const base = { user: { externalId: m.FromUserName }, ...(seconds(m.CreateTime) !== undefined ? { timestamp: seconds(m.CreateTime)! } : {}) };
  // Events have no MsgId; WeChat advises deduping them on the user and CreateTime.
  const eventId = `${m.Event ?? m.MsgType}:${m.FromUserName}:${m.CreateTime ?? ''}`;
  if (m.MsgType === 'event') {
    const key = m.EventKey ?? '';
    switch ((m.Event ?? '').toLowerCase()) {
      case 'subscribe':
        // Following the account by a parametric QR code (EventKey qrscene_<scene>) is a referral; a plain follow refers to nothing.
        return key.startsWith('qrscene_') && key.length > 8 ? [{ ...base, kind: 'referral', channelMessageId: eventId, ref: key.slice(8), source: 'WeChat', referralType: 'subscribe' }] : [];
      case 'scan':
        return [{ ...base, kind: 'referral', channelMessageId: eventId, ref: key, source: 'WeChat', referralType: 'scan' }];
      case 'click':
        return key ? [{ ...base, kind: 'postback', channelMessageId: eventId, payload: key }] : [];
      default:
        // unsubscribe, VIEW (a menu link opened), LOCATION (the reported position), template and mass-send receipts.
        return [];
    }
  }
  const channelMessageId = m.MsgId || eventId;
  // A tapped msgmenu option: the option's text, and its id as bizmsgmenuid. A postback's tap raises its payload, a quick
  // reply's is the user's answer carrying it; any other id (a bare choice number, a native menu's) leaves the tapped text.
  const tapped = m.MsgType === 'text' && m.bizmsgmenuid ? MENU_ID.exec(m.bizmsgmenuid) : null;
  if (tapped) {
    const payload = tapped[3]!;
    const text = m.Content ?? '';
    if (tapped[1] === 'p') return [{ ...base, kind: 'postback', channelMessageId, payload, ...(text ? { text } : {}) }];
    return [{ ...base, kind: 'message', channelMessageId, content: { type: 'text', text: text || payload, payload } }];
  }
  const c = content(m);
  return c ? [{ ...base, kind: 'message', channelMessageId, content: c }] : [];
}

// ---- the adapter --------------------------------------------------------------------------

/**
 * A user's video, from the download URL media/get names. WeChat serves these
 * over plain http only (its docs: video files cannot be downloaded over
 * https), and Parley's outbound policy refuses plain http outside a local
 * loopback: such a video cannot be copied, and the error says why rather
 * than retrying what will never pass.
 */
async function downloadVideo(ctx: Ctx, url: string): Promise<Response> {
  let video: Response;
  try {
    video = await ctx.fetch(url, { timeoutMs: MEDIA_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof OutboundError && err.kind === 'refused' && url.startsWith('http:')) {
      throw new Error(`WeChat serves this video only over plain http (${redactUrl(url)}), which Parley's outbound policy refuses: the video cannot be copied (a permanent failure)`);
    }
    throw err;
  }
  if (!video.ok) throw new Error(`WeChat video download answered HTTP ${video.status}`);
  return video;
}

/** 32 hex digits: within WeChat's 3–32 letters and digits. */
const newToken = () => toHex(crypto.getRandomValues(new Uint8Array(16)));

export const wechat: ChannelAdapter<WeChatConfig> = {
  type: 'wechat',
  capabilities,
  defaultApiBase: 'https://api.weixin.qq.com',
  createSchema,
  updateSchema,
  secretFields: ['appSecret', 'encodingAesKey'],
  // The token is shown: the customer pastes it, with webhookUrl, into the server configuration.
  view: (c) => ({ appId: c.appId, token: c.token }),

  async setup(ctx) {
    const made = { token: ctx.config.token ?? newToken() };
    const got = await requestToken(ctx);
    if (!got.ok) {
      const refused = got.errcode !== undefined && got.errcode !== -1;
      return {
        status: 'error',
        config: made,
        error: refused
          ? `WeChat would not issue an access token for this appId and appSecret (${got.outcome.message})`
          : `Could not check the appId and appSecret with WeChat (${got.outcome.message}); retry with PATCH`,
      };
    }
    tokens.set(tokenKey(ctx.config), { token: got.token, until: got.until });
    return { status: 'active', config: made };
  },

  async handshake(url, config) {
    const q = url.searchParams;
    const [signature, timestamp, nonce, echostr] = ['signature', 'timestamp', 'nonce', 'echostr'].map((k) => q.get(k));
    const text = (body: string, status: number) => new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    if (!config.token || !signature || !timestamp || !nonce || echostr === null || echostr === undefined) return text('Unauthorized', 401);
    if (!safeEqual(signature.toLowerCase(), await wechatSignature(config.token, timestamp, nonce))) return text('Forbidden', 403);
    return text(echostr, 200);
  },

  verify,

  /** A plain-mode signature does not cover the body: it is good for the first body it came with (and that body's retries) only. */
  async replayGuard(request) {
    if (isEncrypted(request.url)) return undefined;
    const q = new URL(request.url).searchParams;
    // The signature follows from timestamp, nonce and the token: naming it in the nonce would let a re-cased copy pass as new.
    return { nonce: `${q.get('timestamp')}:${q.get('nonce')}`, digest: await sha256Hex(request.raw) };
  },

  parse,
  // WeChat shows the user "this account cannot provide service" unless it gets `success` (or a reply) within 5 s.
  acknowledge: () => new Response('success', { headers: { 'content-type': 'text/plain; charset=utf-8' } }),

  checkNative,
  send: (ctx, to, part) => send(ctx, to, part),

  /** WeChat shows "typing" for 15 s, and only within 30 s of the user's last message; best effort. */
  async typing(ctx, to, on) {
    if (inWindow(to.lastInboundAt)) await api(ctx, '/cgi-bin/message/custom/typing', postJson({ touser: to.externalId, command: on ? 'Typing' : 'CancelTyping' }));
  },

  /** media/get with the access token; a video answers with JSON naming its download URL. */
  async fetchMedia(ctx, ref) {
    for (let attempt = 0; ; attempt++) {
      const got = await accessToken(ctx, attempt > 0);
      if (!got.ok) throw new Error(got.outcome.message);
      const url = `${apiBase(wechat, ctx.config)}/cgi-bin/media/get?${new URLSearchParams({ access_token: got.token, media_id: ref })}`;
      const file = await ctx.fetch(url, { timeoutMs: MEDIA_TIMEOUT_MS, maxRedirects: 0 });
      if (!file.ok) throw new Error(`WeChat media/get answered HTTP ${file.status}`);
      if (!/json|text\/plain/i.test(file.headers.get('content-type') ?? '')) return file;
      const answer = (await jsonBody(file)) as Json | undefined;
      if (typeof answer?.video_url === 'string') return downloadVideo(ctx, answer.video_url);
      const errcode = Number(answer?.errcode);
      if (attempt === 0 && TOKEN_ERRORS.has(errcode)) continue;
      // 40007: temporary media is kept three days; an older message's file is gone.
      throw new Error(`WeChat media/get: errcode ${answer?.errcode ?? 'none'} ${String(answer?.errmsg ?? '')}`.trim());
    }
  },
};
