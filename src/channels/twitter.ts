/**
 * X (Twitter) Direct Messages through X API v2 and the v2 Account Activity
 * API, the integration Sunshine calls `twitter`. One integration is one X
 * account (the access token's user) under one X app (the consumer key).
 * Calls and X's errors: twitter-api.ts; attaching media: twitter-media.ts.
 *
 * What X documents, and what Parley does with it:
 * - Auth per endpoint (X's OpenAPI `security`, github.com/xdevplatform/xdk
 *   latest-openapi.json, v2.159; docs.x.com/x-api/account-activity/quickstart):
 *   `GET /2/users/me`, `POST|GET /2/account_activity/webhooks/{id}/subscriptions/all`,
 *   `POST /2/dm_conversations/with/{participant_id}/messages` and the
 *   `/2/media/upload` family take OAuth 1.0a user context (or an OAuth 2.0
 *   user token); `POST|PUT|DELETE /2/webhooks` take the app's Bearer token
 *   (the spec also lists user context; docs.x.com/x-api/webhooks/quickstart
 *   says app-only for all), `GET /2/webhooks` and
 *   `DELETE …/subscriptions/{user_id}/all` app-only. Parley keeps the four
 *   keys Sunshine takes: user calls are signed with them, and the app token
 *   comes from `POST /oauth2/token` with the consumer key and secret
 *   (docs.x.com/fundamentals/authentication/oauth-2-0/application-only).
 * - Setup: `GET /2/users/me` (data.id, data.username); `POST /2/webhooks`
 *   `{url}` → `{data: {id, url, valid, created_at}}` after X's CRC of the URL;
 *   a URL X already holds (`DuplicateUrlFailed`) is found with `GET /2/webhooks`
 *   and re-checked with `PUT /2/webhooks/{id}`; then the account subscribes
 *   (`{data: {subscribed: true}}`; `DuplicateSubscriptionFailed` is confirmed
 *   with the GET). Teardown unsubscribes and deletes the webhook
 *   (`{data: {deleted: true}}`) (docs.x.com/x-api/webhooks/quickstart,
 *   docs.x.com/x-api/account-activity/quickstart).
 * - `tier` and `envName` (v1.1's enterprise / premium / sandbox products):
 *   v2 has one webhook API for every plan and no dev environments
 *   (docs.x.com/x-api/account-activity/migrate/overview), so both are still
 *   accepted (the official client's `twitter` create sends `tier`) and shown,
 *   but unused. An integration set up under v1.1 keeps its webhook until its
 *   access token is PATCHed, which runs setup again on v2.
 * - CRC and signatures are unchanged in v2 (docs.x.com/x-api/webhooks/quickstart):
 *   `GET ?crc_token=` answered `{response_token: "sha256=" + base64 HMAC-SHA256
 *   of the token, keyed by the consumer secret}`, at registration, on
 *   `PUT /2/webhooks/{id}` and hourly; each POST carries
 *   `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256 of the raw body>`.
 *   The signature covers no time: Parley dedupes by the DM event id (X says
 *   duplicates happen: "deduplicate by event ID") and refuses a body holding
 *   an event older than 7 days (X's replay goes back 5 days).
 * - Inbound payloads keep v1.1's shape in v2 (docs.x.com/x-api/account-activity/introduction):
 *   `for_user_id`, `direct_message_events` (`message_create` with
 *   `sender_id`, `target.recipient_id`, `message_data`), typing and read
 *   events, and `users` keyed by id; DMs the account sends (from Parley or
 *   another client) come back too and are ignored, as are other accounts'.
 * - Sends: v2 DMs take only `text` and `attachments: [{media_id}]`, one
 *   attachment, answered `201 {data: {dm_conversation_id, dm_event_id}}`
 *   (OpenAPI CreateMessageRequest, CreateDmEventResponse;
 *   docs.x.com/x-api/direct-messages/manage/integrate). v1.1's quick replies
 *   and `ctas` have no v2 equivalent, so the capabilities declare no buttons:
 *   the renderer numbers choices ("Reply with the number…") and writes links
 *   as "Label: url" lines. Text is capped at v1.1's 10,000 characters. Media
 *   is uploaded (twitter-media.ts) and attached with the caption as the text;
 *   a type or size X does not take goes as its link. X has no v2 typing
 *   indicator for these DMs, so Parley sends none. v2 DMs take no
 *   idempotency key: a DM POST that times out is retried and may reach the
 *   user twice.
 * - Errors (docs.x.com/x-api/fundamentals/response-codes-and-errors,
 *   docs.x.com/fundamentals/rate-limits): v2 problems `{title, detail, type,
 *   status}` and the older `{errors: [{code, message}]}`; 429 with
 *   `x-rate-limit-reset` (epoch seconds) is retried after it.
 * - Inbound media (`ton.twitter.com/1.1/ton/data/dm/…` in the payload) is
 *   private and fetched with the account's OAuth header.
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
import { jsonBody, MEDIA_TIMEOUT_MS } from './http';
import { authorizationHeader } from './oauth1';
import { hmacBase64, safeEqual } from './signing';
import { appCall, appToken, dataOf, failureOf, userCall, X_API_BASE, type Failure } from './twitter-api';
import { uploadMedia } from './twitter-media';

export { failureOf } from './twitter-api';

// ---- config ------------------------------------------------------------------------

/** v1.1's products, as Sunshine's TierEnum names them; kept for the official client, unused by v2. */
export const TIERS = ['enterprise', 'premium', 'sandbox'] as const;
const secret = (pattern: RegExp, what: string) => v.pipe(v.string('must be a string'), v.maxLength(200, 'must be at most 200 characters long'), v.regex(pattern, what));
const consumerKey = secret(/^[A-Za-z0-9]{10,}$/, "must be your X app's API key (consumer key) from the developer portal's Keys and tokens tab");
const consumerSecret = secret(/^[A-Za-z0-9]{10,}$/, "must be your X app's API key secret (consumer secret)");
const accessTokenKey = secret(/^\d{1,20}-[A-Za-z0-9]{10,}$/, "must be the account's access token, such as 370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb");
const accessTokenSecret = secret(/^[A-Za-z0-9]{10,}$/, "must be the account's access token secret");
const envName = v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be the dev environment label (letters, digits, - and _)'));

/** Learned from X in setup; never taken from the customer (v.object drops them from the body). */
type ReadOnly = { userId?: string; screenName?: string; webhookId?: string };

const createSchema = v.pipe(
  v.object(
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
  ),
  v.transform((config) => config as typeof config & ReadOnly),
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
/** A tap on a quick reply a v1.1 DM offered (before the move to v2) still maps back to its choice. */
export const CHOICE_PREFIX = 'parley:choice:';
/** Older events are refused as replays: beyond X's retries and its 5-day replay, inside the 8-day dedupe memory. */
export const MAX_EVENT_AGE_MS = 7 * 24 * 3_600_000;
export const TEXT_MAX = 10_000;

const capabilities: Capabilities = {
  textMax: TEXT_MAX,
  captionMax: TEXT_MAX,
  media: ['image', 'video'],
  postbackButtons: 0,
  linkButtons: 0,
  mixedButtons: false,
  buttonTextMax: TEXT_MAX,
  quickReplies: 0,
  locationRequest: false,
  carousel: null,
  location: false,
  templates: false,
  markup: 'plain',
};

// ---- sending -------------------------------------------------------------------------

type Body = { text?: string; attachments?: { media_id: string }[] };

/** Fields a native payload may set: the v2 DM body; the recipient is always the conversation's. */
const NATIVE_KEYS = new Set(['text', 'attachments']);
const checkNative = (payload: unknown) => nativeKeysProblem('twitter', payload, NATIVE_KEYS);

/** The DM body for one part: text, uploaded media with its caption, or the native body. */
async function bodyFor(ctx: Ctx, part: Part, deliveryKey: string | undefined): Promise<{ ok: true; body: Body } | { ok: false; outcome: Failure }> {
  switch (part.kind) {
    case 'text':
      return { ok: true, body: { text: part.text } };
    case 'media': {
      const uploaded = await uploadMedia(ctx, part.url, part.mimeType, deliveryKey);
      // X does not take this type or size: the link goes out instead, under the caption (nothing is lost).
      if (!uploaded.ok && 'asLink' in uploaded) return { ok: true, body: { text: [part.caption, part.url].filter(Boolean).join('\n') } };
      if (!uploaded.ok) return uploaded;
      return { ok: true, body: { ...(part.caption ? { text: part.caption } : {}), attachments: [{ media_id: uploaded.mediaId }] } };
    }
    case 'native': {
      const problem = checkNative(part.payload);
      return problem ? { ok: false, outcome: { ok: false, retryable: false, code: 'invalid_part', message: problem } } : { ok: true, body: part.payload as Body };
    }
    default:
      // The capabilities promise none of these: the renderer turned them into text.
      return { ok: false, outcome: { ok: false, retryable: false, code: 'invalid_part', message: `X Direct Messages cannot carry a ${part.kind} part` } };
  }
}

const DM_EVENT_ID = /^\d{1,19}$/;

async function send(ctx: Ctx, recipientId: string, part: Part, deliveryKey?: string): Promise<SendOutcome> {
  const body = await bodyFor(ctx, part, deliveryKey);
  if (!body.ok) return body.outcome;
  const answer = await userCall(ctx, 'POST', `/2/dm_conversations/with/${encodeURIComponent(recipientId)}/messages`, { json: body.body });
  if (!answer.ok) return answer.outcome;
  if (!answer.response.ok) return failureOf(answer.response);
  const eventId = (await dataOf(answer.response))?.dm_event_id;
  // Accepted but unreadable: whether it went out is unknown, so it is not resent blindly.
  if (typeof eventId !== 'string' || !DM_EVENT_ID.test(eventId)) return { ok: false, retryable: false, code: 'bad_response', message: 'X accepted the message but returned no dm_event_id' };
  return { ok: true, channelMessageId: eventId };
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

const isId = (x: unknown): x is string => typeof x === 'string' && /^\d{1,20}$/.test(x);
const mentions = (f: Failure, reason: string) => f.message.includes(reason) || f.code === reason;
type Setup = Awaited<ReturnType<NonNullable<ChannelAdapter<TwitterConfig>['setup']>>>;
const setupError = (error: string, config?: Partial<TwitterConfig>): Setup => ({ status: 'error', error, ...(config ? { config } : {}) });

/** Deletes a webhook the app registered; one X no longer knows (`WebhookIdInvalid`, 404) is what was asked. */
async function removeWebhook(ctx: Ctx, token: string, webhookId: string): Promise<Failure | undefined> {
  const answer = await appCall(ctx, token, 'DELETE', `/2/webhooks/${webhookId}`);
  if (!answer.ok) return answer.outcome;
  if (answer.response.ok) return void (await answer.response.body?.cancel());
  const failure = await failureOf(answer.response);
  return answer.response.status === 404 || mentions(failure, 'WebhookIdInvalid') ? undefined : failure;
}

/** Registers the URL (X runs its CRC meanwhile); a URL the app already holds is found and re-checked instead. */
async function register(ctx: Ctx, token: string): Promise<{ ok: true; webhookId: string } | { ok: false; failure: Failure }> {
  const created = await appCall(ctx, token, 'POST', '/2/webhooks', { json: { url: ctx.webhookUrl } });
  if (!created.ok) return { ok: false, failure: created.outcome };
  if (created.response.ok) {
    // The quickstart shows the webhook under `data`; X's OpenAPI schema puts it at the top: both are read.
    const body = await jsonBody(created.response);
    const hookId = ((body as { data?: { id?: unknown } } | undefined)?.data ?? (body as { id?: unknown } | undefined))?.id;
    return isId(hookId) ? { ok: true, webhookId: hookId } : { ok: false, failure: { ok: false, retryable: false, code: 'bad_response', message: 'X registered the webhook without returning its id' } };
  }
  const failure = await failureOf(created.response);
  if (!mentions(failure, 'DuplicateUrlFailed')) return { ok: false, failure };
  const listed = await appCall(ctx, token, 'GET', '/2/webhooks');
  if (!listed.ok) return { ok: false, failure: listed.outcome };
  if (!listed.response.ok) return { ok: false, failure: await failureOf(listed.response) };
  const hooks = ((await jsonBody(listed.response)) as { data?: { id?: unknown; url?: unknown }[] } | undefined)?.data ?? [];
  const held = hooks.find((h) => h.url === ctx.webhookUrl);
  if (!held || !isId(held.id)) return { ok: false, failure };
  const checked = await appCall(ctx, token, 'PUT', `/2/webhooks/${held.id}`);
  if (!checked.ok) return { ok: false, failure: checked.outcome };
  if (!checked.response.ok) return { ok: false, failure: await failureOf(checked.response) };
  // `valid` is the webhook's state after the CRC (the spec's `attempted` alone says nothing against it).
  if ((await dataOf(checked.response))?.valid === false) return { ok: false, failure: { ok: false, retryable: false, code: 'CrcValidationFailed', message: `X's CRC of ${ctx.webhookUrl} failed` } };
  return { ok: true, webhookId: held.id };
}

/** Subscribes the account; one already subscribed is confirmed with X's validate GET. */
async function subscribe(ctx: Ctx, webhookId: string): Promise<Failure | undefined> {
  const path = `/2/account_activity/webhooks/${webhookId}/subscriptions/all`;
  const answer = await userCall(ctx, 'POST', path, { json: {} });
  if (!answer.ok) return answer.outcome;
  if (answer.response.ok && (await dataOf(answer.response))?.subscribed === true) return undefined;
  const failure = answer.response.ok ? { ok: false as const, retryable: false, code: 'bad_response', message: 'X did not confirm the subscription' } : await failureOf(answer.response);
  if (!mentions(failure, 'DuplicateSubscriptionFailed')) return failure;
  const check = await userCall(ctx, 'GET', path);
  if (!check.ok) return check.outcome;
  if (!check.response.ok) return failureOf(check.response);
  return (await dataOf(check.response))?.subscribed === true ? undefined : failure;
}

async function setup(ctx: Ctx): Promise<Setup> {
  const me = await userCall(ctx, 'GET', '/2/users/me');
  if (!me.ok) return setupError(`Could not reach X to check the credentials (${me.outcome.message}); retry later`);
  if (!me.response.ok) {
    const f = await failureOf(me.response);
    return setupError(`X refused the credentials (${f.code}: ${f.message}); use your app's API key and secret and the account's access token and secret, with Read, write and Direct Messages permission`);
  }
  const account = await dataOf(me.response);
  if (!account || !isId(account.id)) return setupError('X answered /2/users/me without the account id; retry later');
  const userId: string = account.id;
  const learned = defined({ userId, screenName: typeof account.username === 'string' ? account.username : undefined });
  const handle = `@${learned.screenName ?? learned.userId}`;

  const token = await appToken(ctx);
  if (!token.ok) return setupError(`X did not give the app a Bearer token for its API key and secret (${token.outcome.code}: ${token.outcome.message})`);
  // Setting up again (a new access token): the webhook registered before goes first, or X counts it against the app's limit.
  if (ctx.config.webhookId) await removeWebhook(ctx, token.token, ctx.config.webhookId);
  const hook = await register(ctx, token.token);
  if (!hook.ok && mentions(hook.failure, 'WebhookLimitExceeded')) {
    return setupError(`X refused the webhook ${ctx.webhookUrl} (WebhookLimitExceeded): the X app (consumer key ${ctx.config.consumerKey}) already has as many webhooks as its plan allows (one on Pro), and every Parley X integration registers its own; use a separate X app for each account, or a plan that allows more webhooks, or delete the app's other webhook`);
  }
  if (!hook.ok) return setupError(`X refused the webhook ${ctx.webhookUrl} (${hook.failure.code}: ${hook.failure.message}); X checks it with a CRC GET and needs a public https URL without a port`);
  const config = { ...learned, webhookId: hook.webhookId };
  const failure = await subscribe(ctx, hook.webhookId);
  if (failure) return setupError(`X did not subscribe ${handle} to the webhook (${failure.code}: ${failure.message})`, config);
  return { status: 'active', config };
}

async function teardown(ctx: Ctx): Promise<void> {
  if (!ctx.config.webhookId) return;
  const token = await appToken(ctx);
  if (!token.ok) throw new Error(`X webhook removal failed: no Bearer token (${token.outcome.code} ${token.outcome.message})`);
  // Unsubscribing first stops deliveries even if the webhook outlives this call; a failure here is left to the webhook's removal.
  if (ctx.config.userId) {
    const answer = await appCall(ctx, token.token, 'DELETE', `/2/account_activity/webhooks/${ctx.config.webhookId}/subscriptions/${ctx.config.userId}/all`);
    if (answer.ok) await answer.response.body?.cancel();
  }
  const failure = await removeWebhook(ctx, token.token, ctx.config.webhookId);
  if (failure) throw new Error(`X webhook removal failed: ${failure.code} ${failure.message}`);
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
  defaultApiBase: X_API_BASE,
  createSchema,
  updateSchema,
  secretFields: ['consumerSecret', 'accessTokenKey', 'accessTokenSecret'],
  view: (c) => ({ tier: c.tier, envName: c.envName, consumerKey: c.consumerKey, userId: c.userId, screenName: c.screenName }),

  setup,
  teardown,

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
  send: (ctx, to, part) => send(ctx, to.externalId, part, to.deliveryKey),

  async fetchMedia(ctx, ref) {
    const url = new URL(ref);
    if (!mayCarryCredentials(url, ctx.config)) throw new Error(`X media ${url.origin} is not an X host; the account's credentials are not sent there`);
    const c = ctx.config;
    const authorization = await authorizationHeader({ consumerKey: c.consumerKey, consumerSecret: c.consumerSecret, token: c.accessTokenKey, tokenSecret: c.accessTokenSecret }, 'GET', ref);
    const response = await ctx.fetch(ref, { headers: { authorization }, timeoutMs: MEDIA_TIMEOUT_MS });
    if (!response.ok) throw new Error(`X media download answered HTTP ${response.status}`);
    return response;
  },
};
