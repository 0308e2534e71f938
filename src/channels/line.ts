/**
 * LINE Messaging API adapter (reference §8). One LINE channel (a LINE Official
 * Account's Messaging API channel) is one integration: setup learns the bot
 * from `GET /v2/bot/info` and points the channel's webhook at Parley.
 * Webhooks are signed with the channel secret (`X-Line-Signature`, base64
 * HMAC-SHA256 of the raw body); events are keyed by LINE's message id or
 * `webhookEventId`, both stable across redelivery.
 *
 * Sends use a reply token while one is fresh (free, single use, about a
 * minute), else push (counted against the plan's quota). A push carries an
 * `X-Line-Retry-Key` derived from the delivery's identity when the caller
 * names it (`deliveryKey`), so a push retried after an unclear failure is
 * refused by LINE with 409 instead of shown twice; without one it is sent
 * at least once, like every other channel. Reply tokens arrive in the
 * webhook isolate and are kept in this isolate's memory only: a send served
 * elsewhere, or later than a minute, pushes, which is always correct.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { boundedString, describeIssue, uri } from '../schema/common';
import {
  apiBase,
  nativeKeysProblem,
  type Button,
  type Capabilities,
  type Card,
  type ChannelAdapter,
  type ChannelContext,
  type InboundContent,
  type InboundEvent,
  type InboundRequest,
  type Part,
  type QuickReply,
  type Recipient,
  type SendOutcome,
} from './adapter';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS, retryAfterMs } from './http';
import { choiceOf, OPTIONS_ONLY_TEXT, splitForBody } from './meta';
import { hmacBase64, safeEqual, sha256Hex } from './signing';

// ---- config ------------------------------------------------------------------------

/** Learned from LINE in setup: the bot's basic id (`@abc1234`, the contract's `lineId`) and its user id (webhooks' `destination`). */
type ReadOnly = { lineId?: string; botUserId?: string };

const channelId = v.pipe(v.string('must be a string'), v.regex(/^\d{1,20}$/, 'must be the numeric Channel ID from the LINE Developers Console'));
const secret = boundedString(1, 256);
const accessToken = boundedString(1, 2048);

const createFields = v.object(
  {
    // The contract lets channelId and channelSecret come later; until the secret is set every webhook is refused.
    channelId: v.optional(channelId),
    channelSecret: v.optional(secret),
    channelAccessToken: accessToken,
    serviceCode: v.optional(boundedString(1, 256)),
    // Kept for the contract (LINE's Switcher API); Parley does not switch.
    switcherSecret: v.optional(secret),
    qrCodeUrl: v.optional(uri()),
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);
const createSchema = v.pipe(
  createFields,
  v.transform((config): v.InferOutput<typeof createFields> & ReadOnly => config),
);

const updateSchema = v.object(
  {
    channelId: v.optional(channelId),
    channelSecret: v.optional(secret),
    channelAccessToken: v.optional(accessToken),
    serviceCode: v.optional(boundedString(1, 256)),
    switcherSecret: v.optional(secret),
    qrCodeUrl: v.optional(uri()),
  },
  'must be an object',
);

export type LineConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<LineConfig>;

/**
 * Video needs a preview image and audio its duration, neither of which a v2
 * message carries: both go as links (an override can send them natively).
 * More than four buttons, or cards whose button counts differ, go as Flex.
 */
const capabilities: Capabilities = {
  textMax: 5000,
  captionMax: 0,
  media: ['image'],
  postbackButtons: 4,
  linkButtons: 4,
  mixedButtons: true,
  buttonTextMax: 20,
  quickReplies: 13,
  locationRequest: true,
  carousel: { maxItems: 10, maxButtons: 3 },
  location: true,
  templates: false,
  markup: 'plain',
};

const DATA_API = 'https://api-data.line.me';
const MESSAGES_PER_CALL = 5;
const POSTBACK_DATA_MAX = 300;
const ALT_TEXT_MAX = 400;
const BUTTONS_TEXT_MAX = 160;
const CONFIRM_TEXT_MAX = 240;
/** LINE documents "about a minute" and people report 30 s; a token older than this is not tried. */
export const REPLY_TOKEN_TTL_MS = 50_000;

// ---- reply tokens ----------------------------------------------------------------------

/** The newest unused reply token per integration and chat, in this isolate. Bounded: the oldest entries go first. */
const replyTokens = new Map<string, { token: string; at: number }>();
const REPLY_TOKENS_MAX = 10_000;
const tokenKey = (hookUrl: string, chat: string) => `${new URL(hookUrl).pathname}\n${chat}`;

function keepReplyToken(key: string, token: string, at: number): void {
  replyTokens.delete(key);
  replyTokens.set(key, { token, at });
  if (replyTokens.size > REPLY_TOKENS_MAX) replyTokens.delete(replyTokens.keys().next().value!);
}

/** Takes the chat's token if it is fresh; taken means used, whether the reply then works or not. */
function takeReplyToken(key: string, now: number): string | undefined {
  const kept = replyTokens.get(key);
  replyTokens.delete(key);
  return kept && now - kept.at <= REPLY_TOKEN_TTL_MS ? kept.token : undefined;
}

// ---- calling the Messaging API -----------------------------------------------------------

type Failure = SendOutcome & { ok: false };
type Answer = { ok: true; status: number; body: unknown } | { ok: false; outcome: Failure };

const ErrorBody = v.looseObject({
  message: v.string(),
  details: v.optional(v.array(v.looseObject({ message: v.optional(v.string()), property: v.optional(v.string()) }))),
});

/** LINE's `{message, details}`: 429 and 5xx are retried (a 429 for the monthly quota is not: it lasts until next month). */
export function lineFailure(response: Response, body: unknown): Failure {
  const parsed = v.safeParse(ErrorBody, body);
  const details = parsed.success ? (parsed.output.details ?? []).map((d) => [d.property, d.message].filter(Boolean).join(': ')).join('; ') : '';
  const message = parsed.success ? `${parsed.output.message}${details ? ` (${details})` : ''}` : `LINE answered HTTP ${response.status}`;
  const code = String(response.status);
  const quota = response.status === 429 && /monthly limit/i.test(message);
  if ((response.status === 429 && !quota) || response.status >= 500) {
    const wait = retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  return { ok: false, retryable: false, code, message };
}

async function call(ctx: Ctx, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const answer = await callChannel(ctx.fetch, `${apiBase(line, ctx.config)}${path}`, {
    method,
    headers: { authorization: `Bearer ${ctx.config.channelAccessToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!answer.ok) return answer;
  const json = await jsonBody(answer.response);
  // 409 is the push retry key already accepted: the caller decides what it means.
  if (answer.response.ok || answer.response.status === 409) return { ok: true, status: answer.response.status, body: json };
  return { ok: false, outcome: lineFailure(answer.response, json) };
}

/**
 * A UUID (version 5 layout) named by the delivery and the call's place in it,
 * so every retry of that call carries the same key.
 */
export async function retryKey(seed: string): Promise<string> {
  const h = (await sha256Hex(seed)).slice(0, 32).split('');
  h[12] = '5';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

// ---- outbound encoding -----------------------------------------------------------------

type Msg = Record<string, unknown>;

const clip = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
/** The payload itself, or `#<choice>` when it is longer than LINE's 300 characters (or looks like our own `#n`). */
const postbackData = (payload: string, choice: number) => (payload.length > 0 && payload.length <= POSTBACK_DATA_MAX && choiceOf(payload) === undefined ? payload : `#${choice}`);

function action(b: Button): Msg | undefined {
  if (b.kind === 'postback') return { type: 'postback', label: clip(b.text, 20), data: postbackData(b.payload, b.choice), displayText: clip(b.text, 300) };
  if (b.kind === 'link') return { type: 'uri', label: clip(b.text, 20), uri: b.uri };
  return undefined;
}

/**
 * Quick replies are postback actions whose data is the choice number: the chat
 * shows the label as the user's words, and the conversation turns choice N
 * back into that reply's text and payload. A location request is a quick
 * reply too: LINE has no other way to ask for one.
 */
function quickReply(replies: QuickReply[], buttons: Button[]): Msg {
  const items: Msg[] = replies.map((r) => ({
    type: 'action',
    ...(r.iconUrl ? { imageUrl: r.iconUrl } : {}),
    action: { type: 'postback', label: clip(r.text, 20), data: `#${r.choice}`, displayText: clip(r.text, 300) },
  }));
  for (const b of buttons) if (b.kind === 'locationRequest') items.push({ type: 'action', action: { type: 'location', label: clip(b.text, 20) } });
  return items.length ? { quickReply: { items: items.slice(0, 13) } } : {};
}

/** A Flex bubble: title, text and a button per action; Flex takes what templates cannot (more buttons, uneven cards). */
function bubble(title: string | undefined, text: string | undefined, actions: Msg[], imageUrl?: string, defaultUri?: string): Msg {
  const body = [
    ...(title ? [{ type: 'text', text: title, weight: 'bold', wrap: true }] : []),
    ...(text ? [{ type: 'text', text, wrap: true }] : []),
  ];
  return {
    type: 'bubble',
    ...(imageUrl ? { hero: { type: 'image', url: imageUrl, size: 'full', aspectMode: 'cover', ...(defaultUri ? { action: { type: 'uri', uri: defaultUri } } : {}) } } : {}),
    body: { type: 'box', layout: 'vertical', contents: body.length ? body : [{ type: 'text', text: ' ' }] },
    ...(actions.length ? { footer: { type: 'box', layout: 'vertical', spacing: 'sm', contents: actions.map((a) => ({ type: 'button', style: 'link', height: 'sm', action: a })) } } : {}),
  };
}

/** Text with buttons: confirm for two, buttons template up to four, Flex past that; a text too long for a template goes first on its own. */
function textMessages(text: string, buttons: Button[], replies: QuickReply[]): Msg[] {
  const actions = buttons.map(action).filter((a): a is Msg => a !== undefined);
  const qr = quickReply(replies, buttons);
  if (actions.length === 0) return [{ type: 'text', text: text || OPTIONS_ONLY_TEXT, ...qr }];
  const altText = clip(text || OPTIONS_ONLY_TEXT, ALT_TEXT_MAX);
  if (actions.length > 4) return [{ type: 'flex', altText, contents: bubble(undefined, text || OPTIONS_ONLY_TEXT, actions), ...qr }];
  const max = actions.length === 2 ? CONFIRM_TEXT_MAX : BUTTONS_TEXT_MAX;
  const { head, body } = splitForBody(text || OPTIONS_ONLY_TEXT, max);
  const template = actions.length === 2 ? { type: 'confirm', text: body, actions } : { type: 'buttons', text: body, actions };
  return [...(head ? [{ type: 'text', text: head }] : []), { type: 'template', altText, template, ...qr }];
}

/**
 * A template carousel when LINE can show it (every card with the same number
 * of buttons, at least one, and all or none of them with an image and with a
 * description: LINE refuses mixed columns); otherwise the same cards as a Flex carousel.
 */
function carousel(cards: Card[]): Msg {
  const altText = clip(cards.map((c) => c.title).join(', '), ALT_TEXT_MAX);
  const counts = new Set(cards.map((c) => c.buttons.filter((b) => b.kind !== 'locationRequest').length));
  const uniform = (has: (c: Card) => boolean) => new Set(cards.map(has)).size === 1;
  const even = counts.size === 1 && !counts.has(0) && uniform((c) => Boolean(c.mediaUrl)) && uniform((c) => Boolean(c.description));
  if (!even) {
    return { type: 'flex', altText, contents: { type: 'carousel', contents: cards.map((c) => bubble(c.title, c.description, c.buttons.map(action).filter((a): a is Msg => a !== undefined), c.mediaUrl, c.defaultUri)) } };
  }
  const anyImage = cards.some((c) => c.mediaUrl);
  return {
    type: 'template',
    altText,
    template: {
      type: 'carousel',
      ...(anyImage ? { imageAspectRatio: 'rectangle', imageSize: 'cover' } : {}),
      columns: cards.map((c) => ({
        ...(c.mediaUrl ? { thumbnailImageUrl: c.mediaUrl } : {}),
        // Text is required; a card without a description shows its title there instead.
        ...(c.description ? { title: clip(c.title, 40), text: clip(c.description, 60) } : { text: clip(c.title, c.mediaUrl ? 60 : 120) }),
        ...(c.defaultUri ? { defaultAction: { type: 'uri', label: 'View', uri: c.defaultUri } } : {}),
        actions: c.buttons.map(action).filter((a): a is Msg => a !== undefined),
      })),
    },
  };
}

function encode(part: Part): Msg[] | { error: string } {
  switch (part.kind) {
    case 'text':
      return textMessages(part.text, part.buttons, part.replies);
    case 'media':
      if (part.media !== 'image') return { error: `LINE integrations send ${part.media} as a link` };
      return [{ type: 'image', originalContentUrl: part.url, previewImageUrl: part.url, ...quickReply(part.replies, part.buttons) }];
    case 'location': {
      // Both title and address are required; the coordinates stand in for what is missing.
      const address = part.address ?? `${part.lat}, ${part.long}`;
      return [{ type: 'location', title: clip(part.name ?? address, 100), address: clip(address, 100), latitude: part.lat, longitude: part.long }];
    }
    case 'carousel':
      return [carousel(part.cards)];
    case 'native': {
      const problem = checkNative(part.payload);
      if (problem) return { error: problem };
      const p = part.payload as Msg;
      return Array.isArray(p.messages) ? (p.messages as Msg[]) : [p];
    }
    case 'template':
      return { error: 'LINE has no WhatsApp templates' };
  }
}

const MESSAGE_TYPES = new Set(['text', 'textV2', 'sticker', 'image', 'video', 'audio', 'location', 'imagemap', 'template', 'flex']);
const MESSAGE_KEYS = new Set([
  'type', 'text', 'emojis', 'substitution', 'quoteToken', 'packageId', 'stickerId', 'originalContentUrl', 'previewImageUrl', 'trackingId', 'duration',
  'title', 'address', 'latitude', 'longitude', 'baseUrl', 'baseSize', 'video', 'actions', 'altText', 'template', 'contents', 'quickReply', 'sender',
]);

/** A native payload is one message object or `{messages: [...]}` (at most five); `to` and `replyToken` are always the conversation's. */
function checkNative(payload: unknown): string | undefined {
  const shape = nativeKeysProblem('line', payload, new Set(['messages', 'notificationDisabled', ...MESSAGE_KEYS]));
  if (shape) return shape;
  const p = payload as Msg;
  const list = p.messages === undefined ? [p] : p.messages;
  if (!Array.isArray(list) || list.length < 1 || list.length > MESSAGES_PER_CALL) return 'override.line.payload.messages must be an array of 1 to 5 messages';
  for (const [i, m] of list.entries()) {
    const where = p.messages === undefined ? 'override.line.payload' : `override.line.payload.messages[${i}]`;
    const problem = nativeKeysProblem('line', m, MESSAGE_KEYS);
    if (problem) return problem.replace('override.line.payload', where);
    if (!MESSAGE_TYPES.has(String((m as Msg).type))) return `${where}.type must be one of ${[...MESSAGE_TYPES].join(', ')}`;
  }
  return undefined;
}

/**
 * Push carries X-Line-Retry-Key derived from the delivery part's key (message,
 * client, part index: the same on every attempt), so a push retried after an
 * unclear failure is dropped by LINE as a replay (409, counted as sent). Never
 * from the content alone: LINE would then drop a second, identical message.
 */

const sentIds = (body: unknown): string[] => {
  const parsed = v.safeParse(v.looseObject({ sentMessages: v.array(v.looseObject({ id: v.string() })) }), body);
  return parsed.success ? parsed.output.sentMessages.map((m) => m.id) : [];
};

async function send(ctx: Ctx, to: Recipient, part: Part, skip = 0): Promise<SendOutcome> {
  const messages = encode(part);
  if ('error' in messages) return { ok: false, retryable: false, code: 'invalid_part', message: messages.error };
  const extra = part.kind === 'native' && (part.payload as Msg).notificationDisabled === true ? { notificationDisabled: true } : {};
  const ids: string[] = [];
  const key = tokenKey(ctx.webhookUrl, to.externalId);
  for (let at = skip; at < messages.length; at += MESSAGES_PER_CALL) {
    const chunk = messages.slice(at, at + MESSAGES_PER_CALL);
    const token = at === 0 ? takeReplyToken(key, Date.now()) : undefined;
    let answer: Answer | undefined;
    if (token) {
      answer = await call(ctx, 'POST', '/v2/bot/message/reply', { replyToken: token, messages: chunk, ...extra });
      // An expired or used token is no failure of the message: it goes by push instead.
      if (!answer.ok && answer.outcome.code === '400' && /reply token/i.test(answer.outcome.message)) answer = undefined;
    }
    if (!answer) {
      const seed = to.deliveryKey;
      const headers: Record<string, string> = seed ? { 'x-line-retry-key': await retryKey(`${seed}:${at}`) } : {};
      answer = await call(ctx, 'POST', '/v2/bot/message/push', { to: to.externalId, messages: chunk, ...extra }, headers);
    }
    if (!answer.ok) return ids.length ? { ...answer.outcome, sent: ids } : answer.outcome;
    // 409: an earlier attempt with this key was accepted; LINE sent it then, so it counts (its ids are lost with that answer).
    const got = sentIds(answer.body);
    ids.push(...(got.length ? got : chunk.map(() => '')));
  }
  const known = ids.filter(Boolean);
  return { ok: true, channelMessageId: known.at(-1) ?? '', ...(known.length > 1 ? { channelMessageIds: known } : {}) };
}

// ---- inbound parsing ------------------------------------------------------------------

const Source = v.looseObject({ type: v.string(), userId: v.optional(v.string()), groupId: v.optional(v.string()), roomId: v.optional(v.string()) });
const Message = v.looseObject({
  type: v.string(),
  id: v.string(),
  text: v.optional(v.string()),
  quotedMessageId: v.optional(v.string()),
  fileName: v.optional(v.string()),
  fileSize: v.optional(v.number()),
  contentProvider: v.optional(v.looseObject({ type: v.string(), originalContentUrl: v.optional(v.string()) })),
  title: v.optional(v.nullable(v.string())),
  address: v.optional(v.nullable(v.string())),
  latitude: v.optional(v.number()),
  longitude: v.optional(v.number()),
});
const Event = v.looseObject({
  type: v.string(),
  mode: v.optional(v.string()),
  timestamp: v.number(),
  webhookEventId: v.optional(v.string()),
  deliveryContext: v.optional(v.looseObject({ isRedelivery: v.optional(v.boolean()) })),
  source: v.optional(Source),
  replyToken: v.optional(v.string()),
  message: v.optional(Message),
  postback: v.optional(v.looseObject({ data: v.string(), params: v.optional(v.record(v.string(), v.unknown())) })),
  follow: v.optional(v.looseObject({ isUnblocked: v.optional(v.boolean()) })),
});
const Webhook = v.looseObject({ destination: v.optional(v.string()), events: v.array(v.unknown(), 'must be an array') });

type LineEvent = v.InferOutput<typeof Event>;
type LineMessage = v.InferOutput<typeof Message>;

function readJson(raw: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw badRequest('LINE webhook body is not valid JSON');
  }
}

function parseOrThrow<S extends v.GenericSchema>(schema: S, input: unknown, where: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (!result.success) throw badRequest(`${where} ${describeIssue(result.issues[0])}`);
  return result.output;
}

const MEDIA = { image: 'image', video: 'video', audio: 'audio', file: 'file' } as const;

/** What a message says; undefined for stickers and other kinds Parley has no content for (as Messenger's unsupported messages). */
function content(m: LineMessage): InboundContent | undefined {
  if (m.type === 'text') return m.text !== undefined ? { type: 'text', text: m.text } : undefined;
  if (Object.hasOwn(MEDIA, m.type)) {
    // `external` content lives at the sender's own URL; `line` content is downloaded from the data API by message id.
    const external = m.contentProvider?.type === 'external' ? m.contentProvider.originalContentUrl : undefined;
    const kind = MEDIA[m.type as keyof typeof MEDIA];
    return { type: 'media', media: { kind, ref: external ?? m.id, ...(m.fileName ? { fileName: m.fileName } : {}), ...(m.fileSize !== undefined ? { size: m.fileSize } : {}) } };
  }
  if (m.type === 'location' && m.latitude !== undefined && m.longitude !== undefined) {
    return { type: 'location', lat: m.latitude, long: m.longitude, ...(m.title ? { name: m.title } : {}), ...(m.address ? { address: m.address } : {}) };
  }
  return undefined;
}

function eventOf(e: LineEvent, chat: string): InboundEvent | undefined {
  const base = { user: { externalId: chat, ...(e.source ? { raw: { ...e.source } } : {}) }, timestamp: e.timestamp };
  // Events from before webhookEventId existed are keyed by what LINE repeats on redelivery.
  const eventId = e.webhookEventId ?? `${e.type}:${chat}:${e.timestamp}`;
  switch (e.type) {
    case 'message': {
      if (!e.message) throw badRequest('LINE message event has no message');
      const c = content(e.message);
      if (!c) return undefined;
      return { ...base, kind: 'message', channelMessageId: e.message.id, content: c, ...(e.message.quotedMessageId ? { quotedChannelMessageId: e.message.quotedMessageId } : {}) };
    }
    case 'postback': {
      if (!e.postback) throw badRequest('LINE postback event has no postback');
      const choice = choiceOf(e.postback.data);
      return { ...base, kind: 'postback', channelMessageId: eventId, ...(choice !== undefined ? { choice } : { payload: e.postback.data }) };
    }
    case 'follow':
      // Adding the account (or unblocking it) is how a LINE user arrives: the referral of a conversation with no message yet.
      return { ...base, kind: 'referral', channelMessageId: eventId, ref: '', source: 'LINE', referralType: e.follow?.isUnblocked ? 'unblocked' : 'follow' };
    default:
      // unfollow (the user blocked the account; pushes stop reaching them), join/leave, unsend, beacons: nothing to store.
      return undefined;
  }
}

function parse(request: InboundRequest, config: LineConfig): InboundEvent[] {
  const body = parseOrThrow(Webhook, readJson(request.raw), 'LINE webhook');
  // Another bot's events (a secret shared by mistake) are not this integration's.
  if (config.botUserId && body.destination && body.destination !== config.botUserId) return [];
  const events: InboundEvent[] = [];
  body.events.forEach((raw, i) => {
    const e = parseOrThrow(Event, raw, `LINE webhook events[${i}]`);
    // Standby: another module of the account is answering this chat.
    if (e.mode === 'standby' || !e.source) return;
    const chat = e.source.groupId ?? e.source.roomId ?? e.source.userId;
    if (!chat) return;
    // A redelivered event's token is stale by the time LINE retries; only a first delivery's is worth trying.
    if (e.replyToken && !e.deliveryContext?.isRedelivery) keepReplyToken(tokenKey(request.url, chat), e.replyToken, Math.min(e.timestamp, request.now));
    const event = eventOf(e, chat);
    if (event) events.push(event);
  });
  return events;
}

// ---- the adapter ------------------------------------------------------------------------

export const line: ChannelAdapter<LineConfig> = {
  type: 'line',
  capabilities,
  defaultApiBase: 'https://api.line.me',
  createSchema,
  updateSchema,
  secretFields: ['channelSecret', 'channelAccessToken', 'switcherSecret'],
  view: (c) => ({ channelId: c.channelId, serviceCode: c.serviceCode, qrCodeUrl: c.qrCodeUrl, lineId: c.lineId, botUserId: c.botUserId }),

  async setup(ctx) {
    const info = await call(ctx, 'GET', '/v2/bot/info');
    if (!info.ok) {
      const refused = info.outcome.code === '401' || info.outcome.code === '403';
      return {
        status: 'error',
        error: refused
          ? `LINE refused the channelAccessToken (${info.outcome.message}); issue a long-lived channel access token in the LINE Developers Console`
          : `Could not reach LINE to check the channelAccessToken (${info.outcome.message}); retry later`,
      };
    }
    const bot = v.safeParse(v.looseObject({ userId: v.string(), basicId: v.optional(v.string()) }), info.body);
    if (!bot.success) return { status: 'error', error: 'LINE answered the bot info request without a userId; retry later' };
    const learned = { botUserId: bot.output.userId, ...(bot.output.basicId ? { lineId: bot.output.basicId } : {}) };
    const hook = await call(ctx, 'PUT', '/v2/bot/channel/webhook/endpoint', { endpoint: ctx.webhookUrl });
    if (!hook.ok) return { status: 'error', config: learned, error: `LINE refused the webhook URL ${ctx.webhookUrl} (${hook.outcome.message})` };
    return { status: 'active', config: learned };
  },
  // No teardown: LINE has no call that removes a webhook URL (only the console's "Use webhook" switch); once the
  // integration is gone its URL answers 404 and LINE stops after its own failures.

  async verify(request, config) {
    if (!config.channelSecret) return { ok: false, status: 401, reason: 'The integration has no channelSecret yet' };
    const given = request.headers.get('x-line-signature');
    if (given === null) return { ok: false, status: 401, reason: 'Missing X-Line-Signature' };
    if (!safeEqual(given, await hmacBase64('SHA-256', config.channelSecret, request.raw))) return { ok: false, status: 403, reason: 'X-Line-Signature does not match the body' };
    return { ok: true };
  },

  parse,
  checkNative,
  send,

  async typing(ctx, to, on) {
    // The loading animation runs for its seconds or until a message arrives; it cannot be stopped early, and shows in 1:1 chats only.
    if (on && to.externalId.startsWith('U')) await call(ctx, 'POST', '/v2/bot/chat/loading/start', { chatId: to.externalId, loadingSeconds: 20 });
  },

  async fetchMedia(ctx, ref) {
    if (/^https:\/\//.test(ref)) {
      const file = await ctx.fetch(ref, { timeoutMs: MEDIA_TIMEOUT_MS });
      if (!file.ok) throw new Error(`LINE external content answered HTTP ${file.status}`);
      return file;
    }
    const base = ctx.config.apiBaseUrl ? apiBase(line, ctx.config) : DATA_API;
    const file = await ctx.fetch(`${base}/v2/bot/message/${encodeURIComponent(ref)}/content`, {
      headers: { authorization: `Bearer ${ctx.config.channelAccessToken}` },
      timeoutMs: MEDIA_TIMEOUT_MS,
      maxRedirects: 0,
    });
    // 202: LINE is still processing an uploaded video or audio; the first GET of the Parley URL tries again.
    if (file.status === 202) throw new Error(`LINE content ${ref} is still being prepared`);
    if (!file.ok) throw new Error(`LINE content ${ref} answered HTTP ${file.status}`);
    return file;
  },

  // Push reaches any user who has added the account as a friend; a LINE user id is U and 32 hex digits.
  notificationRecipient: (destinationId) => (/^U[0-9a-f]{32}$/.test(destinationId) ? { externalId: destinationId } : 'must be a LINE user id (U followed by 32 hex digits)'),
};
