/**
 * Telegram Bot API adapter. One bot token is one integration: setup checks the
 * token with getMe and points the bot's webhook at Parley with a generated
 * secret, which Telegram echoes in `X-Telegram-Bot-Api-Secret-Token` on every
 * update. Updates become normalized events keyed by `update_id`; parts go out
 * through `sendMessage`/`sendPhoto`/... with inline keyboards for buttons and a
 * one-time reply keyboard for quick replies.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { describeIssue, uri } from '../schema/common';
import {
  apiBase,
  type Button,
  type Capabilities,
  type ChannelAdapter,
  type ChannelContext,
  type ChannelUser,
  type InboundContent,
  type InboundEvent,
  type InboundMedia,
  type InboundRequest,
  type MediaKind,
  type Part,
  type QuickReply,
  type SendOutcome,
} from './adapter';
import { defined } from './defined';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS, retryAfterMs } from './http';
import { safeEqual, toBase64Url } from './signing';

// ---- config ------------------------------------------------------------------------

const token = v.pipe(
  v.string('must be a string'),
  v.maxLength(256, 'must be at most 256 characters long'),
  v.regex(/^\d+:[A-Za-z0-9_-]{30,}$/, 'must be a Telegram bot token such as 123456789:AAH... (the token @BotFather gave you)'),
);

const createSchema = v.object(
  {
    token,
    apiBaseUrl: v.optional(uri()),
    // Written by setup, never by the customer: the API layer only stores what setup returns.
    secretToken: v.optional(v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 characters from A-Z a-z 0-9 _ -'))),
    username: v.optional(v.string('must be a string')),
    botId: v.optional(v.string('must be a string')),
  },
  'must be an object',
);

const updateSchema = v.object({ token: v.optional(token) }, 'must be an object');

export type TelegramConfig = v.InferOutput<typeof createSchema>;

type Ctx = ChannelContext<TelegramConfig>;

const SECRET_HEADER = 'x-telegram-bot-api-secret-token';
const ALLOWED_UPDATES = ['message', 'edited_message', 'callback_query'];
const CALLBACK_DATA_MAX_BYTES = 64;

const capabilities: Capabilities = {
  textMax: 4096,
  captionMax: 1024,
  media: ['image', 'file', 'video', 'audio'],
  postbackButtons: 8,
  linkButtons: 8,
  mixedButtons: true,
  buttonTextMax: 64,
  quickReplies: 12,
  locationRequest: true,
  carousel: null,
  location: true,
  templates: false,
  markup: 'html',
};

/** 32 random bytes as base64url: 43 characters, all within setWebhook's secret_token alphabet. */
function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return toBase64Url(bytes);
}

// ---- calling the Bot API -------------------------------------------------------------

const ErrorEnvelope = v.looseObject({
  ok: v.literal(false),
  error_code: v.number(),
  description: v.optional(v.string()),
  parameters: v.optional(v.looseObject({ retry_after: v.optional(v.number()), migrate_to_chat_id: v.optional(v.number()) })),
});

type Failure = SendOutcome & { ok: false };
type ApiResult = { ok: true; result: unknown } | { ok: false; outcome: Failure };

/** Telegram's error envelope first (429 retry_after, error_code), HTTP status when the body is not Telegram's. */
function classify(response: Response, body: unknown): Failure {
  const parsed = v.safeParse(ErrorEnvelope, body);
  const status = parsed.success ? parsed.output.error_code : response.status;
  const code = parsed.success ? String(parsed.output.error_code) : `http_${response.status}`;
  let message = parsed.success ? (parsed.output.description ?? `Telegram error ${status}`) : `Telegram answered HTTP ${response.status}`;
  if (status === 429 || status >= 500 || response.status === 429 || response.status >= 500) {
    const seconds = parsed.success ? parsed.output.parameters?.retry_after : undefined;
    const after = seconds !== undefined ? seconds * 1000 : retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  const migrated = parsed.success ? parsed.output.parameters?.migrate_to_chat_id : undefined;
  if (migrated !== undefined) message += ` (the group is now chat ${migrated})`;
  return { ok: false, retryable: false, code, message };
}

async function call(ctx: Ctx, method: string, params: Record<string, unknown>, httpMethod: 'GET' | 'POST' = 'POST'): Promise<ApiResult> {
  const base = `${apiBase(telegram, ctx.config)}/bot${ctx.config.token}/${method}`;
  const answer =
    httpMethod === 'GET'
      ? await callChannel(ctx.fetch, `${base}?${new URLSearchParams(params as Record<string, string>)}`, { method: 'GET' })
      : await callChannel(ctx.fetch, base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
  if (!answer.ok) return answer;
  const body = await jsonBody(answer.response);
  if (answer.response.ok && typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === true) {
    return { ok: true, result: (body as { result?: unknown }).result };
  }
  if (answer.response.ok) {
    // A 2xx that is not Telegram's envelope (a captive proxy page): whether it was sent is unknown, so don't resend blindly.
    return { ok: false, outcome: { ok: false, retryable: false, code: `http_${answer.response.status}`, message: 'Telegram answered with an unreadable body' } };
  }
  return { ok: false, outcome: classify(answer.response, body) };
}

/** The Message id (per chat) of a send; sendMediaGroup answers with an array, the first one stands for it. */
function messageId(result: unknown): string {
  const first = Array.isArray(result) ? result[0] : result;
  const id = typeof first === 'object' && first !== null ? (first as { message_id?: unknown }).message_id : undefined;
  return id === undefined ? '' : String(id);
}

// ---- outbound encoding -----------------------------------------------------------------

const utf8Length = (s: string) => new TextEncoder().encode(s).byteLength;

/** callback_data holds 1-64 bytes; longer payloads (and ones that look like our `#N`) travel as the choice number. */
function callbackData(payload: string, choice: number): string {
  const fits = payload.length > 0 && utf8Length(payload) <= CALLBACK_DATA_MAX_BYTES && !/^#\d+$/.test(payload);
  return fits ? payload : `#${choice}`;
}

/**
 * A message carries one reply_markup: an inline keyboard or a reply keyboard.
 * Buttons win because they belong to the message; quick replies then ride as
 * inline callback buttons with `#choice`, which the conversation maps back to
 * the reply, and a location request (reply keyboard only) cannot be offered.
 */
function replyMarkup(buttons: Button[], replies: QuickReply[]): Record<string, unknown> | undefined {
  const inline: Record<string, unknown>[][] = [];
  const keyboard: Record<string, unknown>[][] = replies.map((r) => [{ text: r.text }]);
  for (const b of buttons) {
    if (b.kind === 'postback') inline.push([{ text: b.text, callback_data: callbackData(b.payload, b.choice) }]);
    else if (b.kind === 'link') inline.push([{ text: b.text, url: b.uri }]);
    else keyboard.push([{ text: b.text, request_location: true }]);
  }
  if (inline.length > 0) {
    for (const r of replies) inline.push([{ text: r.text, callback_data: `#${r.choice}` }]);
    return { inline_keyboard: inline };
  }
  if (keyboard.length > 0) return { keyboard, one_time_keyboard: true, resize_keyboard: true };
  return undefined;
}

const TAG_RENAMES: Record<string, string> = { strong: 'b', em: 'i', ins: 'u', strike: 's', del: 's' };
const TELEGRAM_TAGS = new Set(['b', 'i', 'u', 's', 'a', 'code', 'pre', 'blockquote']);

/**
 * Reduces HTML to the tag set Telegram's parse_mode HTML accepts; anything
 * else makes Telegram refuse the whole message ("can't parse entities").
 * Only &lt; &gt; &amp; &quot; and numeric entities are understood there.
 */
export function toTelegramHtml(html: string): string {
  return html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|li|h[1-6])\s*>/gi, '\n')
    .replace(/<(\/?)([a-zA-Z][\w-]*)([^>]*)>/g, (_, close: string, name: string, attrs: string) => {
      const tag = TAG_RENAMES[name.toLowerCase()] ?? name.toLowerCase();
      if (!TELEGRAM_TAGS.has(tag)) return '';
      if (tag !== 'a' || close) return `<${close}${tag}>`;
      const href = /href\s*=\s*(?:"([^"]*)"|'([^']*)')/i.exec(attrs);
      return `<a href="${(href?.[1] ?? href?.[2] ?? '').replace(/"/g, '&quot;')}">`;
    })
    .replace(/&nbsp;/g, ' ')
    .replace(/&apos;/g, '&#39;')
    .replace(/&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)/g, '&amp;')
    .replace(/\n+$/, '');
}

const MEDIA_METHODS: Record<MediaKind, { method: string; field: string }> = {
  image: { method: 'sendPhoto', field: 'photo' },
  file: { method: 'sendDocument', field: 'document' },
  video: { method: 'sendVideo', field: 'video' },
  audio: { method: 'sendAudio', field: 'audio' },
};

const withMarkup = (params: Record<string, unknown>, markup: Record<string, unknown> | undefined) => (markup ? { ...params, reply_markup: markup } : params);

async function sendPart(ctx: Ctx, chatId: string, part: Part): Promise<SendOutcome> {
  let sent: ApiResult;
  switch (part.kind) {
    case 'text': {
      const markup = replyMarkup(part.buttons, part.replies);
      const plain = withMarkup({ chat_id: chatId, text: part.text }, markup);
      sent = part.html ? await call(ctx, 'sendMessage', { ...plain, text: toTelegramHtml(part.html), parse_mode: 'HTML' }) : await call(ctx, 'sendMessage', plain);
      // HTML Telegram cannot parse (unbalanced tags from a customer) still reaches the user, as plain text.
      if (part.html && !sent.ok && sent.outcome.code === '400' && /can't parse entities/i.test(sent.outcome.message)) {
        sent = await call(ctx, 'sendMessage', plain);
      }
      break;
    }
    case 'media': {
      const { method, field } = MEDIA_METHODS[part.media];
      const params: Record<string, unknown> = { chat_id: chatId, [field]: part.url };
      if (part.caption) params.caption = part.caption;
      sent = await call(ctx, method, withMarkup(params, replyMarkup(part.buttons, part.replies)));
      break;
    }
    case 'location': {
      if (part.name === undefined && part.address === undefined) {
        sent = await call(ctx, 'sendLocation', { chat_id: chatId, latitude: part.lat, longitude: part.long });
      } else {
        // sendVenue requires both title and address; the coordinates stand in for a missing address.
        const address = part.address ?? `${part.lat}, ${part.long}`;
        sent = await call(ctx, 'sendVenue', { chat_id: chatId, latitude: part.lat, longitude: part.long, title: part.name ?? address, address });
      }
      break;
    }
    case 'native': {
      const problem = checkNative(part.payload);
      if (problem) return { ok: false, retryable: false, code: 'invalid_native_payload', message: problem };
      // Like a webhook reply, the native payload may name its send method; sendMessage otherwise. The chat is always this one.
      const { method = 'sendMessage', ...params } = part.payload as Record<string, unknown>;
      sent = await call(ctx, method as string, { ...params, chat_id: chatId });
      break;
    }
    default:
      return { ok: false, retryable: false, code: 'unsupported_part', message: `Telegram integrations do not send ${part.kind} parts` };
  }
  return sent.ok ? { ok: true, channelMessageId: messageId(sent.result) } : sent.outcome;
}

/**
 * The Bot API methods a native payload may name: those that send one message
 * to the conversation's chat. Anything else (setWebhook, logOut, copyMessage
 * from another chat) would act on the bot with the integration's token.
 */
const NATIVE_METHODS = new Set(['sendMessage', 'sendPhoto', 'sendAudio', 'sendDocument', 'sendVideo', 'sendAnimation', 'sendVoice', 'sendVideoNote', 'sendMediaGroup', 'sendLocation', 'sendVenue', 'sendContact', 'sendPoll', 'sendDice', 'sendSticker']);

function checkNative(payload: unknown): string | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return 'override.telegram.payload must be an object';
  const { method = 'sendMessage' } = payload as Record<string, unknown>;
  if (typeof method !== 'string' || !NATIVE_METHODS.has(method)) return `override.telegram.payload.method must be one of ${[...NATIVE_METHODS].join(', ')}`;
  return undefined;
}

// ---- inbound parsing ------------------------------------------------------------------

const TgUser = v.looseObject({
  id: v.number(),
  is_bot: v.optional(v.boolean()),
  first_name: v.optional(v.string()),
  last_name: v.optional(v.string()),
  username: v.optional(v.string()),
  language_code: v.optional(v.string()),
});
const TgChat = v.looseObject({ id: v.number(), type: v.string(), title: v.optional(v.string()) });
const TgFile = v.looseObject({
  file_id: v.string(),
  mime_type: v.optional(v.string()),
  file_name: v.optional(v.string()),
  file_size: v.optional(v.number()),
});
const TgPhotoSize = v.looseObject({ file_id: v.string(), width: v.number(), height: v.number(), file_size: v.optional(v.number()) });
const TgLocation = v.looseObject({ latitude: v.number(), longitude: v.number() });
const TgMessage = v.looseObject({
  message_id: v.number(),
  date: v.number(),
  from: v.optional(TgUser),
  chat: TgChat,
  text: v.optional(v.string()),
  caption: v.optional(v.string()),
  photo: v.optional(v.array(TgPhotoSize)),
  document: v.optional(TgFile),
  video: v.optional(TgFile),
  audio: v.optional(TgFile),
  voice: v.optional(TgFile),
  animation: v.optional(TgFile),
  sticker: v.optional(v.looseObject({ ...TgFile.entries, is_animated: v.optional(v.boolean()), is_video: v.optional(v.boolean()) })),
  location: v.optional(TgLocation),
  venue: v.optional(v.looseObject({ location: TgLocation, title: v.string(), address: v.string() })),
  contact: v.optional(v.looseObject({ phone_number: v.string(), first_name: v.string(), last_name: v.optional(v.string()) })),
});
const TgCallbackQuery = v.looseObject({
  id: v.string(),
  from: TgUser,
  message: v.optional(v.looseObject({ chat: TgChat, reply_markup: v.optional(v.unknown()) })),
  data: v.optional(v.string()),
});
const TgUpdate = v.looseObject({
  update_id: v.number(),
  message: v.optional(TgMessage),
  edited_message: v.optional(v.unknown()),
  callback_query: v.optional(TgCallbackQuery),
});

type TgUser = v.InferOutput<typeof TgUser>;
type TgChat = v.InferOutput<typeof TgChat>;
type TgMessage = v.InferOutput<typeof TgMessage>;
type TgFile = v.InferOutput<typeof TgFile>;

function readUpdate(raw: Uint8Array): v.InferOutput<typeof TgUpdate> {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw badRequest('Telegram update is not valid JSON');
  }
  const parsed = v.safeParse(TgUpdate, body);
  if (!parsed.success) throw badRequest(`Telegram update ${describeIssue(parsed.issues[0])}`);
  return parsed.output;
}

/**
 * The address is the chat: sendMessage needs chat.id, which equals the user id
 * in private chats. In groups the client stands for the group, named by its
 * title; the person who wrote stays in `raw`.
 */
function channelUser(from: TgUser | undefined, chat: TgChat): ChannelUser {
  const name = [from?.first_name, from?.last_name].filter(Boolean).join(' ');
  const isPrivate = chat.type === 'private';
  const info: Record<string, string> = {};
  if (from?.username) info.username = from.username;
  if (from?.language_code) info.languageCode = from.language_code;
  return defined({
    externalId: String(chat.id),
    displayName: isPrivate ? name || undefined : chat.title,
    givenName: isPrivate ? from?.first_name : undefined,
    surname: isPrivate ? from?.last_name : undefined,
    locale: isPrivate ? from?.language_code : undefined,
    info: Object.keys(info).length > 0 ? info : undefined,
    raw: from ? { ...from } : undefined,
  });
}

const media = (kind: MediaKind, file: TgFile, caption: string | undefined, mimeType = file.mime_type): InboundContent => {
  const m: InboundMedia = defined({ kind, ref: file.file_id, mimeType, fileName: file.file_name, size: file.file_size });
  return caption ? { type: 'media', media: m, text: caption } : { type: 'media', media: m };
};

/** What one message says, or undefined for service messages (joins, pins, polls...) Parley does not carry. */
function messageContent(m: TgMessage): InboundContent | undefined {
  const caption = m.caption || undefined;
  if (m.text !== undefined) return { type: 'text', text: m.text };
  if (m.photo && m.photo.length > 0) {
    // One photo in several sizes; the largest is the one worth keeping. Telegram re-encodes photos as JPEG.
    const largest = m.photo.reduce((best, p) => (p.width * p.height >= best.width * best.height ? p : best));
    return media('image', largest, caption, 'image/jpeg');
  }
  // An animation also carries `document` for old clients, so it must be read first.
  if (m.animation) return media('video', m.animation, caption);
  if (m.video) return media('video', m.video, caption);
  if (m.audio) return media('audio', m.audio, caption);
  if (m.voice) return media('audio', m.voice, caption);
  if (m.document) return media('file', m.document, caption);
  if (m.sticker) return media(m.sticker.is_video ? 'video' : m.sticker.is_animated ? 'file' : 'image', m.sticker, undefined);
  // A venue also carries `location`, so it is read first to keep its name and address.
  if (m.venue) return { type: 'location', lat: m.venue.location.latitude, long: m.venue.location.longitude, name: m.venue.title, address: m.venue.address };
  if (m.location) return { type: 'location', lat: m.location.latitude, long: m.location.longitude };
  if (m.contact) {
    const { first_name, last_name, phone_number } = m.contact;
    return { type: 'text', text: [first_name, last_name, phone_number].filter(Boolean).join(' ') };
  }
  return undefined;
}

/** The label of the inline button the user tapped, found in the message's own keyboard. */
function tappedLabel(replyMarkup: unknown, data: string): string | undefined {
  const rows = (replyMarkup as { inline_keyboard?: unknown } | undefined)?.inline_keyboard;
  if (!Array.isArray(rows)) return undefined;
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    for (const button of row as { text?: unknown; callback_data?: unknown }[]) {
      if (button?.callback_data === data && typeof button.text === 'string') return button.text;
    }
  }
  return undefined;
}

function parseUpdate(request: InboundRequest): InboundEvent[] {
  const update = readUpdate(request.raw);
  const channelMessageId = String(update.update_id);
  if (update.message) {
    const m = update.message;
    if (m.from?.is_bot) return [];
    const content = messageContent(m);
    if (!content) return [];
    return [{ kind: 'message', channelMessageId, user: channelUser(m.from, m.chat), timestamp: m.date * 1000, content }];
  }
  if (update.callback_query) {
    const q = update.callback_query;
    // Game callbacks carry no data.
    if (q.from.is_bot || q.data === undefined) return [];
    // Any client can put any data in a callback query; the message the button was on is Telegram's own copy, so only
    // data one of its buttons carries is a choice the business offered. Inline-mode taps come with no message (and
    // Parley sends none), so nothing vouches for theirs.
    const text = q.message ? tappedLabel(q.message.reply_markup, q.data) : undefined;
    if (!q.message || text === undefined) return [];
    const choice = /^#(\d+)$/.exec(q.data);
    return [
      {
        kind: 'postback' as const,
        channelMessageId,
        user: channelUser(q.from, q.message.chat),
        ...(choice ? { choice: Number(choice[1]) } : { payload: q.data }),
        text,
      },
    ];
  }
  // Edits would rewrite history Parley has already delivered; other update kinds were not subscribed to.
  return [];
}

// ---- the adapter ------------------------------------------------------------------------

export const telegram: ChannelAdapter<TelegramConfig> = {
  type: 'telegram',
  capabilities,
  defaultApiBase: 'https://api.telegram.org',
  createSchema,
  updateSchema,
  secretFields: ['token', 'secretToken'],
  view: (config) => ({ username: config.username, botId: config.botId }),

  async setup(ctx) {
    const me = await call(ctx, 'getMe', {});
    if (!me.ok) {
      const refused = me.outcome.code === '401' || me.outcome.code === '404';
      return {
        status: 'error',
        error: refused
          ? `Telegram refused the bot token (${me.outcome.message}); check the token @BotFather gave you`
          : `Could not check the bot token with Telegram (${me.outcome.message}); retry later`,
      };
    }
    const bot = v.safeParse(v.looseObject({ id: v.number(), username: v.optional(v.string()) }), me.result);
    if (!bot.success) return { status: 'error', error: 'Telegram answered getMe without a bot id; retry later' };
    // A fresh secret per registration: a rotated token also retires the secret Telegram held for it.
    const secretToken = randomSecret();
    const hook = await call(ctx, 'setWebhook', { url: ctx.webhookUrl, secret_token: secretToken, allowed_updates: ALLOWED_UPDATES, drop_pending_updates: false });
    if (!hook.ok) return { status: 'error', error: `Telegram refused the webhook ${ctx.webhookUrl} (${hook.outcome.message})` };
    return { status: 'active', config: defined({ secretToken, username: bot.output.username, botId: String(bot.output.id) }) };
  },

  async teardown(ctx) {
    const done = await call(ctx, 'deleteWebhook', { drop_pending_updates: false });
    if (!done.ok) throw new Error(`Telegram deleteWebhook failed: ${done.outcome.code} ${done.outcome.message}`);
  },

  async verify(request, config) {
    const given = request.headers.get(SECRET_HEADER);
    if (!config.secretToken) return { ok: false, status: 401, reason: 'The integration has no webhook secret yet' };
    if (given === null) return { ok: false, status: 401, reason: 'Missing X-Telegram-Bot-Api-Secret-Token' };
    if (!safeEqual(given, config.secretToken)) return { ok: false, status: 401, reason: 'Wrong X-Telegram-Bot-Api-Secret-Token' };
    return { ok: true };
  },

  parse: (request) => parseUpdate(request),

  async afterInbound(ctx, request) {
    // Until answered, the user's client shows a spinner on the tapped button.
    const update = readUpdate(request.raw);
    if (update.callback_query) await call(ctx, 'answerCallbackQuery', { callback_query_id: update.callback_query.id });
  },

  checkNative,
  send: (ctx, to, part) => sendPart(ctx, to.externalId, part),

  async typing(ctx, to, on) {
    // A chat action lasts about 5 s and cannot be cancelled: "off" is simply not renewing it.
    if (on) await call(ctx, 'sendChatAction', { chat_id: to.externalId, action: 'typing' });
  },

  async fetchMedia(ctx, ref) {
    const file = await call(ctx, 'getFile', { file_id: ref }, 'GET');
    if (!file.ok) throw new Error(`Telegram getFile failed: ${file.outcome.code} ${file.outcome.message}`);
    const path = (file.result as { file_path?: unknown } | undefined)?.file_path;
    if (typeof path !== 'string') throw new Error('Telegram getFile answered without a file_path (files over 20 MB cannot be downloaded by bots)');
    const download = await callChannel(ctx.fetch, `${apiBase(telegram, ctx.config)}/file/bot${ctx.config.token}/${path}`, { method: 'GET' }, MEDIA_TIMEOUT_MS);
    if (!download.ok) throw new Error(`Telegram file download failed: ${download.outcome.message}`);
    if (!download.response.ok) throw new Error(`Telegram file download failed: HTTP ${download.response.status}`);
    return download.response;
  },
  // A bot may write first only to a chat that has talked to it; the id is the chat's.
  notificationRecipient: (destinationId) => (/^-?\d{1,20}$/.test(destinationId) ? { externalId: destinationId } : 'must be a Telegram chat id (digits)'),
};
