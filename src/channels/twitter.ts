/**
 * X (Twitter) Direct Messages through the Account Activity API (v1.1), the
 * integration Sunshine calls `twitter`. One integration is one X account (the
 * access token's user) under one X app (the consumer key), with every API
 * call signed OAuth 1.0a user-context (oauth1.ts).
 *
 * Setup reads the account (`account/verify_credentials`), registers Parley's
 * `/hooks/{id}` as a webhook (enterprise: `account_activity/webhooks`;
 * premium and sandbox: `account_activity/all/:env_name/webhooks`) and
 * subscribes the account to it. Registering makes X call the URL with a CRC
 * (`GET ?crc_token=`), answered by `handshake` with base64 HMAC-SHA256 of the
 * token keyed by the consumer secret; X repeats the check periodically.
 *
 * Callbacks carry `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256
 * of the raw body, keyed by the consumer secret>`. The signature covers no
 * time, so a captured body could be posted again forever: Parley dedupes by
 * the DM event id (kept for 8 days even after a message is deleted) and
 * refuses a body holding any event older than 7 days (X retries for 4 hours
 * and its Replay API goes back 5 days). Events the account itself sent and
 * events for another subscribed account (`for_user_id`) are ignored.
 *
 * Sends are `direct_messages/events/new` with quick replies (options whose
 * metadata is `parley:choice:<n>`, so a tap maps back to the choice offered
 * even when its label was truncated) and up to three URL buttons (`ctas`).
 * X has no postback button, carousel, or location message: the renderer
 * numbers postbacks and splits cards. Media goes out as a link in the text:
 * attaching needs X's chunked upload of the bytes, which Parley does not do.
 * Inbound media (ton.twitter.com) is private and fetched with OAuth.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { describeIssue, uri } from '../schema/common';
import {
  apiBase,
  nativeKeysProblem,
  type Capabilities,
  type ChannelAdapter,
  type ChannelContext,
  type ChannelUser,
  type InboundContent,
  type InboundEvent,
  type InboundRequest,
  type Part,
  type SendOutcome,
} from './adapter';
import { defined } from './defined';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS, type ChannelResponse } from './http';
import { authorizationHeader, percentEncode, type OAuthCredentials } from './oauth1';
import { hmacBase64, safeEqual } from './signing';

// ---- config ------------------------------------------------------------------------

export const TIERS = ['enterprise', 'premium', 'sandbox'] as const;
const secret = (pattern: RegExp, what: string) => v.pipe(v.string('must be a string'), v.maxLength(200, 'must be at most 200 characters long'), v.regex(pattern, what));
const consumerKey = secret(/^[A-Za-z0-9]{10,}$/, "must be your X app's API key (consumer key) from the developer portal's Keys and tokens tab");
const consumerSecret = secret(/^[A-Za-z0-9]{10,}$/, "must be your X app's API key secret (consumer secret)");
const accessTokenKey = secret(/^\d{1,20}-[A-Za-z0-9]{10,}$/, "must be the account's access token, such as 370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb");
const accessTokenSecret = secret(/^[A-Za-z0-9]{10,}$/, "must be the account's access token secret");
/** A dev environment label goes into API paths: letters, digits, - and _ only. */
const envName = v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the dev environment label (letters, digits, - and _)'));

/** Learned from X in setup; never taken from the customer (v.object drops them from the body). */
type ReadOnly = { userId?: string; screenName?: string; webhookId?: string };

const createFields = v.object(
  {
    tier: v.picklist(TIERS, `must be one of ${TIERS.join(', ')}`),
    envName: v.optional(envName),
    consumerKey,
    consumerSecret,
    accessTokenKey,
    accessTokenSecret,
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);
const createSchema = v.pipe(
  createFields,
  v.check((c) => c.tier === 'enterprise' || c.envName !== undefined, 'envName: is required for the premium and sandbox tiers'),
  v.transform((config): v.InferOutput<typeof createFields> & ReadOnly => config),
);
/**
 * Sunshine's TwitterUpdate takes none of these; Parley also lets the access
 * token be rotated (setup runs again). Not the consumer secret: X checks the
 * re-registered webhook with a CRC that /hooks answers with the stored
 * secret, so a new app means a new integration.
 */
const updateSchema = v.object({ accessTokenKey: v.optional(accessTokenKey), accessTokenSecret: v.optional(accessTokenSecret) }, 'must be an object');

export type TwitterConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<TwitterConfig>;

const SIGNATURE_HEADER = 'x-twitter-webhooks-signature';
const CRC_TOKEN = /^[A-Za-z0-9+/=_-]{1,255}$/;
export const CHOICE_PREFIX = 'parley:choice:';
/** Older events are refused as replays: beyond X's retries (4 h) and Replay API (5 days), inside the 8-day dedupe memory. */
export const MAX_EVENT_AGE_MS = 7 * 24 * 3_600_000;
/** 88 rate limit, 130 over capacity, 131 internal error: the same call may succeed later. */
const RETRYABLE_CODES = new Set([88, 130, 131]);
const QUICK_REPLY_LABEL_MAX = 36;

const capabilities: Capabilities = {
  textMax: 10_000,
  captionMax: 0,
  media: [],
  postbackButtons: 0,
  linkButtons: 3,
  mixedButtons: true,
  buttonTextMax: QUICK_REPLY_LABEL_MAX,
  quickReplies: 20,
  locationRequest: false,
  carousel: null,
  location: false,
  templates: false,
  markup: 'plain',
};

// ---- calling the API ------------------------------------------------------------------

type Failure = SendOutcome & { ok: false };
const credentials = (c: TwitterConfig): OAuthCredentials => ({ consumerKey: c.consumerKey, consumerSecret: c.consumerSecret, token: c.accessTokenKey, tokenSecret: c.accessTokenSecret });

/** A signed call; the query is encoded by RFC 3986 (as signed), never with URLSearchParams' `+` for spaces. */
async function call(ctx: Ctx, method: string, path: string, options: { query?: Record<string, string>; json?: unknown } = {}): Promise<ChannelResponse> {
  const query = Object.entries(options.query ?? {}).map(([k, x]) => `${percentEncode(k)}=${percentEncode(x)}`).join('&');
  const url = `${apiBase(twitter, ctx.config)}${path}${query ? `?${query}` : ''}`;
  const headers: Record<string, string> = { authorization: await authorizationHeader(credentials(ctx.config), method, url) };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  return callChannel(ctx.fetch, url, { method, headers, ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}) });
}

const ErrorBody = v.looseObject({ errors: v.array(v.looseObject({ code: v.number(), message: v.optional(v.string()) })) });

/** X's `{errors:[{code, message}]}` as an outcome: rate limits, capacity and 5xx retry; the rest is permanent, coded by X. */
export async function failureOf(response: Response, now = Date.now()): Promise<Failure> {
  const parsed = v.safeParse(ErrorBody, await jsonBody(response));
  const first = parsed.success ? parsed.output.errors[0] : undefined;
  const code = first ? String(first.code) : `http_${response.status}`;
  const message = first?.message ?? `X answered HTTP ${response.status}`;
  if (response.status === 429 || first?.code === 88) {
    const reset = Number(response.headers.get('x-rate-limit-reset'));
    return { ok: false, retryable: true, code, message, ...(reset > 0 ? { retryAfterMs: Math.max(0, reset * 1000 - now) } : {}) };
  }
  if (response.status >= 500 || (first && RETRYABLE_CODES.has(first.code))) return { ok: false, retryable: true, code, message };
  return { ok: false, retryable: false, code, message };
}

// ---- outbound encoding -----------------------------------------------------------------

type Body = Record<string, unknown>;

/** The message_data of a text part: its quick replies as options, its links as ctas (the only buttons the renderer hands X). */
function messageData(part: Extract<Part, { kind: 'text' }>): Body {
  const ctas = part.buttons.flatMap((b) => (b.kind === 'link' ? [{ type: 'web_url', label: b.text, url: b.uri }] : []));
  const options = part.replies.map((r) => ({ label: r.text.slice(0, QUICK_REPLY_LABEL_MAX), metadata: `${CHOICE_PREFIX}${r.choice}` }));
  return {
    text: part.text,
    ...(options.length ? { quick_reply: { type: 'options', options } } : {}),
    ...(ctas.length ? { ctas } : {}),
  };
}

/** message_data fields a native payload may set; the recipient is always the conversation's. */
const NATIVE_KEYS = new Set(['text', 'quick_reply', 'ctas', 'attachment']);
const checkNative = (payload: unknown) => nativeKeysProblem('twitter', payload, NATIVE_KEYS);

function encode(part: Part): Body | { error: string } {
  switch (part.kind) {
    case 'text':
      return messageData(part);
    case 'native': {
      const problem = checkNative(part.payload);
      return problem ? { error: problem } : (part.payload as Body);
    }
    default:
      // The capabilities promise none of these: the renderer turned them into text.
      return { error: `X Direct Messages cannot carry a ${part.kind} part` };
  }
}

const SentEvent = v.looseObject({ event: v.looseObject({ id: v.pipe(v.string(), v.regex(/^\d{1,20}$/)) }) });

async function send(ctx: Ctx, recipientId: string, part: Part): Promise<SendOutcome> {
  const data = encode(part);
  if ('error' in data) return { ok: false, retryable: false, code: 'invalid_part', message: String(data.error) };
  const answer = await call(ctx, 'POST', '/1.1/direct_messages/events/new.json', {
    json: { event: { type: 'message_create', message_create: { target: { recipient_id: recipientId }, message_data: data } } },
  });
  if (!answer.ok) return answer.outcome;
  if (!answer.response.ok) return failureOf(answer.response);
  const sent = v.safeParse(SentEvent, await jsonBody(answer.response));
  // Accepted but unreadable: whether it went out is unknown, so it is not resent blindly.
  if (!sent.success) return { ok: false, retryable: false, code: 'bad_response', message: 'X accepted the message but returned no event id' };
  return { ok: true, channelMessageId: sent.output.event.id };
}

// ---- inbound parsing ---------------------------------------------------------------------

const id = v.pipe(v.string('must be a string'), v.regex(/^\d{1,20}$/, 'must be a numeric id string'));
const XUser = v.looseObject({ id: v.optional(v.string()), name: v.optional(v.string()), screen_name: v.optional(v.string()), profile_image_url_https: v.optional(v.nullable(v.string())) });
type XUser = v.InferOutput<typeof XUser>;

const Media = v.looseObject({
  id_str: v.optional(v.string()),
  media_url_https: v.string(),
  url: v.optional(v.string()),
  type: v.optional(v.string()),
  video_info: v.optional(v.looseObject({ variants: v.optional(v.array(v.looseObject({ bitrate: v.optional(v.number()), content_type: v.optional(v.string()), url: v.string() }))) })),
});
type Media = v.InferOutput<typeof Media>;

const DmEvent = v.looseObject({
  type: v.string(),
  id: v.optional(id),
  created_timestamp: v.optional(v.string()),
  message_create: v.optional(
    v.looseObject({
      target: v.looseObject({ recipient_id: id }),
      sender_id: id,
      message_data: v.looseObject({
        text: v.optional(v.string()),
        entities: v.optional(v.looseObject({ urls: v.optional(v.array(v.looseObject({ url: v.string(), expanded_url: v.optional(v.nullable(v.string())) }))) })),
        quick_reply_response: v.optional(v.looseObject({ type: v.optional(v.string()), metadata: v.optional(v.string()) })),
        attachment: v.optional(v.looseObject({ type: v.string(), media: v.optional(Media) })),
      }),
    }),
  ),
});
type DmEvent = v.InferOutput<typeof DmEvent>;

const Indicator = v.looseObject({ created_timestamp: v.optional(v.string()), sender_id: id, target: v.looseObject({ recipient_id: id }), last_read_event_id: v.optional(id) });

/** `for_user_id` names the subscribed account; X's `user_event` (an account revoking the app) carries none. */
const Payload = v.looseObject({
  for_user_id: v.optional(id),
  direct_message_events: v.optional(v.array(DmEvent)),
  direct_message_indicate_typing_events: v.optional(v.array(Indicator)),
  direct_message_mark_read_events: v.optional(v.array(Indicator)),
  users: v.optional(v.record(v.string(), XUser)),
});
type Payload = v.InferOutput<typeof Payload>;

function readPayload(raw: Uint8Array): Payload {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw badRequest('X webhook body is not valid JSON');
  }
  const parsed = v.safeParse(Payload, body);
  if (!parsed.success) throw badRequest(`X webhook ${describeIssue(parsed.issues[0])}`);
  return parsed.output;
}

function channelUser(userId: string, users: Payload['users']): ChannelUser {
  const u: XUser | undefined = users?.[userId];
  if (!u) return { externalId: userId };
  return defined({
    externalId: userId,
    displayName: u.name || u.screen_name || undefined,
    avatarUrl: u.profile_image_url_https || undefined,
    info: u.screen_name ? { screenName: u.screen_name } : undefined,
    raw: { ...u },
  });
}

const epochMs = (s: string | undefined) => (s !== undefined && /^\d{1,16}$/.test(s) ? Number(s) : undefined);

/** What a photo, video or GIF is fetched from: a video's best MP4 variant, else the media URL. */
function mediaRef(m: Media): { kind: 'image' | 'video'; ref: string; mimeType?: string } {
  if (m.type === 'video' || m.type === 'animated_gif') {
    const best = (m.video_info?.variants ?? []).filter((x) => x.content_type === 'video/mp4').sort((a, b) => (b.bitrate ?? 0) - (a.bitrate ?? 0))[0];
    if (best) return { kind: 'video', ref: best.url, mimeType: 'video/mp4' };
  }
  return { kind: 'image', ref: m.media_url_https };
}

/** The text as the user wrote it: t.co links expanded, the attached media's own t.co link dropped. */
function textOf(data: NonNullable<DmEvent['message_create']>['message_data']): string {
  let text = data.text ?? '';
  const mediaLink = data.attachment?.media?.url;
  if (mediaLink) text = text.split(mediaLink).join('');
  for (const u of data.entities?.urls ?? []) if (u.expanded_url) text = text.split(u.url).join(u.expanded_url);
  return text.trim();
}

function dmEvent(e: DmEvent, p: Payload): InboundEvent | undefined {
  const m = e.message_create;
  if (e.type !== 'message_create' || !m || e.id === undefined) return undefined;
  // The account's own messages (sent by Parley or from X's app) come back too; so could another subscribed account's DMs.
  if (m.sender_id === p.for_user_id || m.target.recipient_id !== p.for_user_id) return undefined;
  const base = { channelMessageId: e.id, user: channelUser(m.sender_id, p.users), ...defined({ timestamp: epochMs(e.created_timestamp) }) };
  const data = m.message_data;
  const text = textOf(data);
  const metadata = data.quick_reply_response?.metadata;
  const choice = metadata?.startsWith(CHOICE_PREFIX) ? /^\d{1,4}$/.exec(metadata.slice(CHOICE_PREFIX.length))?.[0] : undefined;
  // A tapped quick reply Parley sent: the conversation maps the number back to the option it offered.
  if (choice !== undefined) return { kind: 'postback', ...base, choice: Number(choice), ...(text ? { text } : {}) };
  const media = data.attachment?.type === 'media' ? data.attachment.media : undefined;
  let content: InboundContent;
  if (media) {
    const { kind, ref, mimeType } = mediaRef(media);
    content = { type: 'media', media: defined({ kind, ref, mimeType }), ...(text ? { text } : {}) };
  } else {
    content = { type: 'text', text, ...(metadata ? { payload: metadata } : {}) };
  }
  return { kind: 'message', ...base, content };
}

function parsePayload(request: InboundRequest, config: TwitterConfig): InboundEvent[] {
  const p = readPayload(request.raw);
  // Nothing Parley stores comes without the account it is for: a revoke (`user_event`) and any other account-less body are ignored.
  if (p.for_user_id === undefined) return [];
  // Another account subscribed to the same webhook (or a misrouted body): not this integration's.
  if (config.userId !== undefined && p.for_user_id !== config.userId) return [];
  const events: InboundEvent[] = [];
  for (const e of p.direct_message_events ?? []) {
    const event = dmEvent(e, p);
    if (event) events.push(event);
  }
  for (const t of p.direct_message_indicate_typing_events ?? []) {
    if (t.sender_id === p.for_user_id) continue;
    events.push({ kind: 'typing', state: 'start', user: channelUser(t.sender_id, p.users), ...defined({ timestamp: epochMs(t.created_timestamp) }) });
  }
  for (const r of p.direct_message_mark_read_events ?? []) {
    if (r.sender_id === p.for_user_id) continue;
    events.push({ kind: 'read', user: channelUser(r.sender_id, p.users), ...defined({ channelMessageId: r.last_read_event_id, timestamp: epochMs(r.created_timestamp) }) });
  }
  return events;
}

/** The oldest event time in a body (DMs, typing, reads), for the replay window; undefined when none is readable. */
function oldestEvent(raw: Uint8Array): number | undefined {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder().decode(raw)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const times: number[] = [];
  for (const key of ['direct_message_events', 'direct_message_indicate_typing_events', 'direct_message_mark_read_events']) {
    const list = body?.[key];
    if (!Array.isArray(list)) continue;
    for (const e of list) {
      const at = epochMs((e as { created_timestamp?: unknown })?.created_timestamp as string | undefined);
      if (at !== undefined) times.push(at);
    }
  }
  return times.length ? Math.min(...times) : undefined;
}

// ---- setup ---------------------------------------------------------------------------------

/** Where this tier keeps webhooks: the app's (enterprise) or the dev environment's (premium, sandbox). */
const webhooksPath = (c: TwitterConfig) => (c.tier === 'enterprise' ? '/1.1/account_activity/webhooks' : `/1.1/account_activity/all/${c.envName}/webhooks`);
const subscriptionPath = (c: TwitterConfig, webhookId: string) =>
  c.tier === 'enterprise' ? `/1.1/account_activity/webhooks/${webhookId}/subscriptions/all.json` : `/1.1/account_activity/all/${c.envName}/subscriptions.json`;

const Account = v.looseObject({ id_str: id, screen_name: v.optional(v.string()) });
const Webhook = v.looseObject({ id: id, url: v.optional(v.string()), valid: v.optional(v.boolean()) });

async function removeWebhook(ctx: Ctx, webhookId: string): Promise<Failure | undefined> {
  const answer = await call(ctx, 'DELETE', `${webhooksPath(ctx.config)}/${webhookId}.json`);
  if (!answer.ok) return answer.outcome;
  // 34: the webhook is already gone, which is what was asked.
  if (answer.response.ok) return undefined;
  const failure = await failureOf(answer.response);
  return failure.code === '34' ? undefined : failure;
}

async function setup(ctx: Ctx) {
  const who = await call(ctx, 'GET', '/1.1/account/verify_credentials.json');
  if (!who.ok) return { status: 'error' as const, error: `Could not reach X to check the credentials (${who.outcome.message}); retry later` };
  if (!who.response.ok) {
    const f = await failureOf(who.response);
    return { status: 'error' as const, error: `X refused the credentials (${f.code}: ${f.message}); use your app's API key and secret and the account's access token and secret, with Read, write and Direct Messages permission` };
  }
  const account = v.safeParse(Account, await jsonBody(who.response));
  if (!account.success) return { status: 'error' as const, error: 'X answered verify_credentials without the account id; retry later' };
  // A PATCH with a new access token sets up again: the webhook registered before goes first, or X counts it against the app's limit.
  if (ctx.config.webhookId) await removeWebhook(ctx, ctx.config.webhookId);
  const registered = await call(ctx, 'POST', `${webhooksPath(ctx.config)}.json`, { query: { url: ctx.webhookUrl } });
  if (!registered.ok) return { status: 'error' as const, error: `Could not reach X to register the webhook (${registered.outcome.message}); retry later` };
  if (!registered.response.ok) {
    const f = await failureOf(registered.response);
    return { status: 'error' as const, error: `X refused the webhook ${ctx.webhookUrl} (${f.code}: ${f.message}); X checks it with a CRC GET that must answer within 3 seconds` };
  }
  const hook = v.safeParse(Webhook, await jsonBody(registered.response));
  if (!hook.success) return { status: 'error' as const, error: 'X registered the webhook without returning its id; retry later' };
  const subscribed = await call(ctx, 'POST', subscriptionPath(ctx.config, hook.output.id));
  const learned = defined({ userId: account.output.id_str, screenName: account.output.screen_name, webhookId: hook.output.id });
  if (!subscribed.ok || !subscribed.response.ok) {
    const f = subscribed.ok ? await failureOf(subscribed.response) : subscribed.outcome;
    // 355: the account is already subscribed (a dev environment keeps its subscriptions across webhooks).
    if (f.code === '355') return { status: 'active' as const, config: learned };
    return { status: 'error' as const, config: learned, error: `X did not subscribe @${account.output.screen_name ?? account.output.id_str} to the webhook (${f.code}: ${f.message})` };
  }
  return { status: 'active' as const, config: learned };
}

// ---- the adapter --------------------------------------------------------------------------

/** Hosts that may receive the account's OAuth header with a media download: X's own and the API base (a fake in tests). */
function mayCarryCredentials(ref: URL, config: TwitterConfig): boolean {
  if (ref.origin === new URL(apiBase(twitter, config)).origin) return true;
  return ref.protocol === 'https:' && /(^|\.)(twitter\.com|x\.com|twimg\.com)$/.test(ref.hostname);
}

export const twitter: ChannelAdapter<TwitterConfig> = {
  type: 'twitter',
  capabilities,
  defaultApiBase: 'https://api.twitter.com',
  createSchema,
  updateSchema,
  secretFields: ['consumerSecret', 'accessTokenKey', 'accessTokenSecret'],
  view: (c) => ({ tier: c.tier, envName: c.envName, consumerKey: c.consumerKey, userId: c.userId, screenName: c.screenName }),

  setup,

  async teardown(ctx) {
    if (!ctx.config.webhookId) return;
    const failure = await removeWebhook(ctx, ctx.config.webhookId);
    if (failure) throw new Error(`X webhook removal failed: ${failure.code} ${failure.message}`);
  },

  async handshake(url, config) {
    const token = url.searchParams.get('crc_token');
    if (!token) throw badRequest('crc_token is required: X checks this webhook with GET ?crc_token=...');
    // The CRC answer is the same HMAC that signs POST bodies: answering any string would sign a forged body for anyone.
    // X's tokens are short opaque ids (9b4507b3-9040-4669-9ca3-6b94edb50553), never JSON.
    if (!CRC_TOKEN.test(token)) throw badRequest('crc_token must be an opaque token of letters, digits, "-", "_", "+", "/" or "=" (at most 255)');
    return Response.json({ response_token: `sha256=${await hmacBase64('SHA-256', config.consumerSecret, token)}` });
  },

  async verify(request, config) {
    const given = request.headers.get(SIGNATURE_HEADER);
    if (given === null) return { ok: false, status: 401, reason: 'Missing X-Twitter-Webhooks-Signature' };
    const expected = `sha256=${await hmacBase64('SHA-256', config.consumerSecret, request.raw)}`;
    if (!safeEqual(given.trim(), expected)) return { ok: false, status: 403, reason: 'X-Twitter-Webhooks-Signature does not match the body' };
    const oldest = oldestEvent(request.raw);
    if (oldest !== undefined && oldest < request.now - MAX_EVENT_AGE_MS) return { ok: false, status: 403, reason: 'The events are older than 7 days: refused as a replay' };
    return { ok: true };
  },

  parse: (request, config) => parsePayload(request, config),

  checkNative,
  send: (ctx, to, part) => send(ctx, to.externalId, part),

  async typing(ctx, to, on) {
    // X shows the indicator for a few seconds and has no "stop".
    if (!on) return;
    await call(ctx, 'POST', '/1.1/direct_messages/indicate_typing.json', { query: { recipient_id: to.externalId } });
  },

  async fetchMedia(ctx, ref) {
    const url = new URL(ref);
    if (!mayCarryCredentials(url, ctx.config)) throw new Error(`X media ${url.origin} is not an X host; the account's credentials are not sent there`);
    const authorization = await authorizationHeader(credentials(ctx.config), 'GET', ref);
    const response = await ctx.fetch(ref, { headers: { authorization }, timeoutMs: MEDIA_TIMEOUT_MS });
    if (!response.ok) throw new Error(`X media download answered HTTP ${response.status}`);
    return response;
  },
};
