/**
 * Viber REST Bot API adapter (reference §7). One bot token is one integration:
 * setup reads the bot with `get_account_info` and points its webhook at
 * Parley with `set_webhook`, during which Viber calls the URL with
 * `{"event":"webhook"}` and keeps the webhook only if that call got a 200
 * (parse answers it with no events, so nothing is stored). Callbacks are
 * signed with `X-Viber-Content-Signature`, hex HMAC-SHA256 of the raw body
 * keyed by the token. `message_token` is a 64-bit integer: it is read from
 * the raw text as a string, never through a JSON number, so dedupe and
 * receipts keep every digit.
 *
 * Buttons and quick replies travel as one Viber keyboard. A quick reply's
 * ActionBody is its label, so the tap reads like the typed answer and the
 * conversation maps the label back to the reply (as with Telegram's reply
 * keyboard); a postback's ActionBody is `parley:choice:<n>`, a silent tap the
 * conversation maps back to the payload it offered, so no typed text can
 * stand in for a payload the business never offered. Carousels go out as
 * `rich_media`. Every send must name a sender: the integration's `senderName`,
 * else the bot's own name learned in setup, else "Parley" (an adapter is not
 * handed the integration's displayName).
 *
 * Viber answers HTTP 200 with a non-zero `status` for logical errors: only 12
 * (tooManyRequests), HTTP 5xx and timeouts are retried; any other status is
 * permanent and is the failure's code. There is no notificationRecipient:
 * Viber lets a bot write only to users who subscribed by writing first.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { boundedString, describeIssue, uri } from '../schema/common';
import {
  apiBase,
  nativeKeysProblem,
  type Button,
  type Capabilities,
  type ChannelAdapter,
  type ChannelContext,
  type ChannelUser,
  type InboundContent,
  type InboundEvent,
  type InboundRequest,
  type Part,
  type QuickReply,
  type SendOutcome,
} from './adapter';
import { defined } from './defined';
import { callChannel, MEDIA_TIMEOUT_MS } from './http';
import { hmacHex, safeEqual } from './signing';

// ---- config ------------------------------------------------------------------------

const token = v.pipe(
  v.string('must be a string'),
  v.maxLength(256, 'must be at most 256 characters long'),
  v.regex(/^[A-Za-z0-9]{8,}(-[A-Za-z0-9]{8,})*$/, "must be a Viber bot authentication token such as 4a5b6c7d8e9f0a1b-2c3d4e5f6a7b8c9d-0e1f2a3b4c5d6e7f (the bot's Edit info screen)"),
);
/** Viber shows at most 28 characters of a sender name. */
const senderName = boundedString(1, 28);

/** Learned from Viber in setup; never taken from the customer (v.object drops them from the body). */
type ReadOnly = { accountId?: string; uri?: string; accountName?: string };

const createFields = v.object(
  {
    token,
    senderName: v.optional(senderName),
    senderAvatar: v.optional(uri()),
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);
const createSchema = v.pipe(
  createFields,
  v.transform((config): v.InferOutput<typeof createFields> & ReadOnly => config),
);
const updateSchema = v.object({ token: v.optional(token), senderName: v.optional(senderName), senderAvatar: v.optional(uri()) }, 'must be an object');

export type ViberConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<ViberConfig>;

const SIGNATURE_HEADER = 'x-viber-content-signature';
export const EVENT_TYPES = ['delivered', 'seen', 'failed', 'subscribed', 'unsubscribed', 'conversation_started'];
/** 12 is tooManyRequests; every other non-zero status says the request itself cannot succeed. */
const RETRYABLE_STATUS = new Set([12]);
export const CHOICE_PREFIX = 'parley:choice:';
const PICTURE_TEXT_MAX = 120;

const capabilities: Capabilities = {
  textMax: 7000,
  captionMax: PICTURE_TEXT_MAX,
  // Audio is sent as a file (§17): Viber has no audio message.
  media: ['image', 'video', 'file'],
  postbackButtons: 6,
  linkButtons: 6,
  mixedButtons: true,
  buttonTextMax: 128,
  quickReplies: 12,
  locationRequest: true,
  // A rich_media message holds 6 button groups; each card is one group of 7 rows (image 3, text, buttons 1 each).
  carousel: { maxItems: 6, maxButtons: 3 },
  location: true,
  templates: false,
  markup: 'plain',
};

// ---- calling the API -------------------------------------------------------------------

type Failure = SendOutcome & { ok: false };
type ApiResult = { ok: true; body: Record<string, unknown> } | { ok: false; outcome: Failure };

/** Quotes every `message_token` integer in a Viber JSON text, so JSON.parse keeps all 64 bits as a string. */
export function quoteTokens(text: string): string {
  return text.replace(/(?<!\\)"message_token"\s*:\s*(-?\d+)/g, '"message_token":"$1"');
}

function readJson(text: string): unknown {
  try {
    return JSON.parse(quoteTokens(text));
  } catch {
    return undefined;
  }
}

const Answer = v.looseObject({ status: v.number(), status_message: v.optional(v.string()), message_token: v.optional(v.string()) });

/** POSTs to `/pa/<method>` with the token header; a 200 with a non-zero status is a failure with that status as its code. */
async function call(ctx: Ctx, method: string, body: Record<string, unknown>): Promise<ApiResult> {
  const answer = await callChannel(ctx.fetch, `${apiBase(viber, ctx.config)}/pa/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-viber-auth-token': ctx.config.token },
    body: JSON.stringify(body),
  });
  if (!answer.ok) return answer;
  const { response } = answer;
  const parsed = v.safeParse(Answer, readJson(await response.text()));
  if (!response.ok || !parsed.success) {
    const code = `http_${response.status}`;
    if (response.status >= 500 || response.status === 429) return { ok: false, outcome: { ok: false, retryable: true, code, message: `Viber answered HTTP ${response.status}` } };
    // A 2xx that is not Viber's answer (a proxy's page): whether it was sent is unknown, so don't resend blindly.
    return { ok: false, outcome: { ok: false, retryable: false, code, message: response.ok ? 'Viber answered with an unreadable body' : `Viber answered HTTP ${response.status}` } };
  }
  const { status, status_message: said } = parsed.output;
  if (status === 0) return { ok: true, body: parsed.output };
  const message = said ? `Viber status ${status}: ${said}` : `Viber status ${status}`;
  return { ok: false, outcome: RETRYABLE_STATUS.has(status) ? { ok: false, retryable: true, code: String(status), message } : { ok: false, retryable: false, code: String(status), message } };
}

// ---- outbound encoding -----------------------------------------------------------------

type Body = Record<string, unknown>;

const row = (text: string, ActionType: string, ActionBody: string, extra: Body = {}): Body => ({ Columns: 6, Rows: 1, ActionType, ActionBody, Text: text, ...extra });

/** A button of a keyboard or a card: postbacks as silent encoded replies, links as open-url, a location request as the picker. */
function viberButton(b: Button): Body {
  if (b.kind === 'postback') return row(b.text, 'reply', `${CHOICE_PREFIX}${b.choice}`, { Silent: true });
  if (b.kind === 'link') return row(b.text, 'open-url', b.uri);
  return row(b.text, 'location-picker', 'location');
}

/** One keyboard for a message's buttons and quick replies; a quick reply answers with its label, as if typed. */
function keyboard(buttons: Button[], replies: QuickReply[]): Body | undefined {
  const rows = [...buttons.map(viberButton), ...replies.map((r) => row(r.text, 'reply', r.text))];
  return rows.length ? { Type: 'keyboard', DefaultHeight: false, Buttons: rows } : undefined;
}

const GROUP_ROWS = 7;
const IMAGE_ROWS = 3;

const escapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Each card is one 6×7 group: its image, its title and description, then one row per button. */
function richMedia(cards: Extract<Part, { kind: 'carousel' }>['cards']): Body {
  const Buttons = cards.flatMap((card) => {
    const image = card.mediaUrl ? [{ Columns: 6, Rows: IMAGE_ROWS, ActionType: card.defaultUri ? 'open-url' : 'none', ActionBody: card.defaultUri ?? 'none', Image: card.mediaUrl }] : [];
    const textRows = GROUP_ROWS - image.length * IMAGE_ROWS - card.buttons.length;
    const text = `<b>${escapeText(card.title)}</b>${card.description ? `<br>${escapeText(card.description)}` : ''}`;
    return [
      ...image,
      { Columns: 6, Rows: textRows, ActionType: card.defaultUri ? 'open-url' : 'none', ActionBody: card.defaultUri ?? 'none', Text: text, TextVAlign: 'top', TextHAlign: 'left' },
      ...card.buttons.map(viberButton),
    ];
  });
  return { Type: 'rich_media', ButtonsGroupColumns: 6, ButtonsGroupRows: GROUP_ROWS, BgColor: '#FFFFFF', Buttons };
}

const fileNameOf = (url: string) => {
  const last = url.split(/[?#]/)[0]!.split('/').pop() || '';
  try {
    return decodeURIComponent(last) || 'file';
  } catch {
    // A stray % in the URL: the name as written.
    return last || 'file';
  }
};

/** The `{"event":"webhook"}` check Viber makes during set_webhook. */
function isWebhookCheck(raw: Uint8Array): boolean {
  try {
    return (JSON.parse(new TextDecoder().decode(raw)) as { event?: unknown }).event === 'webhook';
  } catch {
    return false;
  }
}

/** Viber wants a video's or file's size; the URL's own Content-Length says it, else 0 (best effort, unverified whether Viber checks it). */
async function sizeOf(ctx: Ctx, url: string): Promise<number> {
  try {
    const head = await ctx.fetch(url, { method: 'HEAD', timeoutMs: 5_000 });
    const length = Number(head.headers.get('content-length'));
    return head.ok && Number.isSafeInteger(length) && length >= 0 ? length : 0;
  } catch {
    return 0;
  }
}

/** The send_message bodies one part becomes, in order (receiver and sender are added to each). */
async function encode(ctx: Ctx, part: Part): Promise<Body[] | { error: string }> {
  const withKeyboard = (body: Body, buttons: Button[], replies: QuickReply[]): Body => {
    const kb = keyboard(buttons, replies);
    if (!kb) return body;
    const picker = buttons.some((b) => b.kind === 'locationRequest');
    return { ...body, keyboard: kb, ...(picker ? { min_api_version: 3 } : {}) };
  };
  switch (part.kind) {
    case 'text':
      return [withKeyboard({ type: 'text', text: part.text }, part.buttons, part.replies)];
    case 'media': {
      if (part.media === 'image') return [withKeyboard({ type: 'picture', media: part.url, text: part.caption ?? '' }, part.buttons, part.replies)];
      const size = await sizeOf(ctx, part.url);
      const media: Body = part.media === 'video' ? { type: 'video', media: part.url, size } : { type: 'file', media: part.url, size, file_name: (part.fileName ?? fileNameOf(part.url)).slice(0, 256) };
      // Only pictures take a caption: the caption follows as text, carrying the keyboard.
      if (!part.caption) return [withKeyboard(media, part.buttons, part.replies)];
      return [media, withKeyboard({ type: 'text', text: part.caption }, part.buttons, part.replies)];
    }
    case 'location': {
      const label = [part.name, part.address].filter(Boolean).join('\n');
      const pin = { type: 'location', location: { lat: part.lat, lon: part.long } };
      return label ? [{ type: 'text', text: label }, pin] : [pin];
    }
    case 'carousel': {
      const alt = part.cards.map((c) => c.title).join('\n');
      return [{ type: 'rich_media', min_api_version: 2, rich_media: richMedia(part.cards), alt_text: alt }];
    }
    case 'native': {
      const problem = checkNative(part.payload);
      return problem ? { error: problem } : [part.payload as Body];
    }
    case 'template':
      return { error: 'Viber has no templates' };
  }
}

/** send_message fields a native payload may set; `receiver` may be named but is always replaced by the conversation's. */
const NATIVE_KEYS = new Set([
  'receiver',
  'type',
  'text',
  'media',
  'thumbnail',
  'size',
  'duration',
  'file_name',
  'location',
  'contact',
  'sticker_id',
  'rich_media',
  'alt_text',
  'keyboard',
  'tracking_data',
  'min_api_version',
  'sender',
]);
const checkNative = (payload: unknown) => nativeKeysProblem('viber', payload, NATIVE_KEYS);

function sender(config: ViberConfig): Body {
  const name = (config.senderName ?? config.accountName ?? 'Parley').slice(0, 28);
  return { name, ...(config.senderAvatar ? { avatar: config.senderAvatar } : {}) };
}

async function send(ctx: Ctx, receiver: string, part: Part, skip = 0): Promise<SendOutcome> {
  const bodies = await encode(ctx, part);
  if ('error' in bodies) return { ok: false, retryable: false, code: 'invalid_part', message: bodies.error };
  const ids: string[] = [];
  for (const body of bodies.slice(skip)) {
    const result = await call(ctx, 'send_message', { sender: sender(ctx.config), ...body, receiver });
    if (!result.ok) return ids.length ? { ...result.outcome, sent: ids } : result.outcome;
    const id = result.body.message_token;
    if (typeof id !== 'string') return { ok: false, retryable: false, code: 'bad_response', message: 'Viber accepted the message but returned no message_token', ...(ids.length ? { sent: ids } : {}) };
    ids.push(id);
  }
  return { ok: true, channelMessageId: ids[ids.length - 1] ?? '', ...(ids.length > 1 ? { channelMessageIds: ids } : {}) };
}

// ---- inbound parsing ---------------------------------------------------------------------

const ViberUser = v.looseObject({
  id: v.string('must be a string'),
  name: v.optional(v.string()),
  avatar: v.optional(v.string()),
  country: v.optional(v.string()),
  language: v.optional(v.string()),
  api_version: v.optional(v.number()),
});
type ViberUser = v.InferOutput<typeof ViberUser>;

const ViberMessage = v.looseObject({
  type: v.string('must be a string'),
  text: v.optional(v.string()),
  media: v.optional(v.string()),
  file_name: v.optional(v.string()),
  size: v.optional(v.number()),
  location: v.optional(v.looseObject({ lat: v.number('must be a number'), lon: v.number('must be a number'), address: v.optional(v.string()) })),
  contact: v.optional(v.looseObject({ name: v.optional(v.string()), phone_number: v.optional(v.string()) })),
  sticker_id: v.optional(v.number()),
});
type ViberMessage = v.InferOutput<typeof ViberMessage>;

const Callback = v.looseObject({
  event: v.string('must be a string'),
  timestamp: v.optional(v.number()),
  message_token: v.optional(v.pipe(v.string(), v.regex(/^-?\d{1,20}$/, 'must be an integer'))),
  sender: v.optional(ViberUser),
  user: v.optional(ViberUser),
  user_id: v.optional(v.string()),
  message: v.optional(ViberMessage),
  context: v.optional(v.string()),
  type: v.optional(v.string()),
  desc: v.optional(v.string()),
});
type Callback = v.InferOutput<typeof Callback>;

function readCallback(raw: Uint8Array): Callback {
  const body = readJson(new TextDecoder().decode(raw));
  if (body === undefined) throw badRequest('Viber callback is not valid JSON');
  const parsed = v.safeParse(Callback, body);
  if (!parsed.success) throw badRequest(`Viber callback ${describeIssue(parsed.issues[0])}`);
  return parsed.output;
}

function channelUser(u: ViberUser): ChannelUser {
  const info = defined({ country: u.country, language: u.language });
  return defined({
    externalId: u.id,
    displayName: u.name || undefined,
    avatarUrl: u.avatar || undefined,
    locale: u.language || undefined,
    info: Object.keys(info).length ? (info as Record<string, string>) : undefined,
    raw: { ...u },
  });
}

/** What one message says, or undefined for a type Parley does not carry. */
function messageContent(m: ViberMessage): InboundContent | undefined {
  const caption = m.text || undefined;
  const media = (kind: 'image' | 'video' | 'file', fileName?: string): InboundContent | undefined => {
    if (!m.media) return undefined;
    const item = defined({ kind, ref: m.media, fileName, size: m.size });
    return caption ? { type: 'media', media: item, text: caption } : { type: 'media', media: item };
  };
  switch (m.type) {
    case 'text':
      return m.text === undefined ? undefined : { type: 'text', text: m.text };
    case 'picture':
      return media('image', m.file_name);
    case 'video':
      return media('video', m.file_name);
    case 'file':
      return media('file', m.file_name);
    case 'location':
      return m.location ? defined({ type: 'location' as const, lat: m.location.lat, long: m.location.lon, address: m.location.address || undefined }) : undefined;
    case 'contact':
      return m.contact ? { type: 'text', text: [m.contact.name, m.contact.phone_number].filter(Boolean).join(' ') } : undefined;
    case 'url':
      return m.media ? { type: 'text', text: m.media } : undefined;
    case 'sticker':
      // A sticker's picture is stored like the other channels' stickers; one without a picture is still something the user said.
      return m.media ? { type: 'media', media: { kind: 'image', ref: m.media } } : { type: 'text', text: '[sticker]' };
    default:
      return undefined;
  }
}

const RECEIPTS: Record<string, 'delivered' | 'read' | 'failed'> = { delivered: 'delivered', seen: 'read', failed: 'failed' };

function parseCallback(request: InboundRequest): InboundEvent[] {
  const c = readCallback(request.raw);
  const timestamp = c.timestamp !== undefined ? { timestamp: c.timestamp } : {};
  const need = <T>(value: T | undefined, field: string): T => {
    if (value === undefined) throw badRequest(`Viber ${c.event} callback: ${field} is required`);
    return value;
  };
  switch (c.event) {
    case 'message': {
      const channelMessageId = need(c.message_token, 'message_token');
      const user = channelUser(need(c.sender, 'sender'));
      const m = need(c.message, 'message');
      const choice = m.type === 'text' && m.text?.startsWith(CHOICE_PREFIX) ? /^\d{1,4}$/.exec(m.text.slice(CHOICE_PREFIX.length))?.[0] : undefined;
      // A tap on a postback button: the conversation maps the number to the payload it offered, or to nothing.
      if (choice !== undefined) return [{ kind: 'postback', channelMessageId, user, choice: Number(choice), ...timestamp }];
      const content = messageContent(m);
      return content ? [{ kind: 'message', channelMessageId, user, content, ...timestamp }] : [];
    }
    case 'delivered':
    case 'seen':
    case 'failed':
      return [
        {
          kind: 'delivery',
          status: RECEIPTS[c.event]!,
          channelMessageId: need(c.message_token, 'message_token'),
          user: { externalId: need(c.user_id, 'user_id') },
          ...timestamp,
          ...(c.event === 'failed' ? { error: { code: 'failed', message: c.desc ?? 'Viber could not deliver the message' } } : {}),
        },
      ];
    case 'conversation_started': {
      // The user opened the chat (from a deep link when `context` is set); it is not a message, and they may not have subscribed yet.
      if (!c.context) return [];
      return [{ kind: 'referral', channelMessageId: need(c.message_token, 'message_token'), user: channelUser(need(c.user, 'user')), ref: c.context, ...(c.type ? { referralType: c.type } : {}), ...timestamp }];
    }
    default:
      // `webhook` (set_webhook's check), subscribed, unsubscribed, client_status and action carry nothing Parley stores.
      return [];
  }
}

// ---- the adapter --------------------------------------------------------------------------

export const viber: ChannelAdapter<ViberConfig> = {
  type: 'viber',
  capabilities,
  defaultApiBase: 'https://chatapi.viber.com',
  createSchema,
  updateSchema,
  secretFields: ['token'],
  view: (c) => ({ uri: c.uri, accountId: c.accountId, senderName: c.senderName, senderAvatar: c.senderAvatar }),

  async setup(ctx) {
    const account = await call(ctx, 'get_account_info', {});
    if (!account.ok) {
      const refused = account.outcome.code === '2';
      return {
        status: 'error',
        error: refused
          ? `Viber refused the token (${account.outcome.message}); use the authentication token from your bot's Edit info screen`
          : `Could not check the token with Viber (${account.outcome.message}); retry later`,
      };
    }
    const info = v.safeParse(v.looseObject({ id: v.string(), name: v.optional(v.string()), uri: v.optional(v.string()) }), account.body);
    if (!info.success) return { status: 'error', error: 'Viber answered get_account_info without an account id; retry later' };
    const hook = await call(ctx, 'set_webhook', { url: ctx.webhookUrl, event_types: EVENT_TYPES, send_name: true, send_photo: true });
    if (!hook.ok) return { status: 'error', error: `Viber refused the webhook ${ctx.webhookUrl} (${hook.outcome.message}); Viber checks it with a callback that must answer 200` };
    return { status: 'active', config: defined({ accountId: info.output.id, uri: info.output.uri, accountName: info.output.name }) };
  },

  async teardown(ctx) {
    const done = await call(ctx, 'set_webhook', { url: '' });
    if (!done.ok) throw new Error(`Viber set_webhook (remove) failed: ${done.outcome.code} ${done.outcome.message}`);
  },

  async verify(request, config) {
    const given = request.headers.get(SIGNATURE_HEADER);
    if (given === null) return { ok: false, status: 401, reason: 'Missing X-Viber-Content-Signature' };
    const expected = await hmacHex('SHA-256', config.token, request.raw);
    if (safeEqual(given.trim().toLowerCase(), expected)) return { ok: true };
    // Viber's check during set_webhook after a token change (PATCH) is signed with the new token while this
    // integration still holds the old one; it is answered 200 and stores nothing (parse yields no events), so a
    // forged one gains nothing.
    if (isWebhookCheck(request.raw)) return { ok: true };
    return { ok: false, status: 403, reason: 'X-Viber-Content-Signature does not match the body' };
  },

  parse: (request) => parseCallback(request),
  // Viber reads a body on conversation_started as the welcome message; Parley sends none.
  acknowledge: () => new Response(null, { status: 200 }),

  checkNative,
  send: (ctx, to, part, skip) => send(ctx, to.externalId, part, skip),

  async fetchMedia(ctx, ref) {
    // Viber's media links are public and expire: no token goes with them.
    const response = await ctx.fetch(ref, { timeoutMs: MEDIA_TIMEOUT_MS });
    if (!response.ok) throw new Error(`Viber media download answered HTTP ${response.status} (Viber's links expire; the message may be too old)`);
    return response;
  },
};
