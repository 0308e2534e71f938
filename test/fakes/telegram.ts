/**
 * A stand-in for the Telegram Bot API, speaking its real protocol: the token in
 * the path (`/bot<token>/<method>`, `/file/bot<token>/<path>`), JSON, form or
 * multipart parameters, `{ok, result}` answers with real Message objects and
 * `{ok:false, error_code, description, parameters}` failures. It also plays
 * Telegram's side of the webhook: it builds Updates for the URL and secret
 * that setWebhook registered and delivers them with redelivery on non-2xx,
 * one chat at a time, as Telegram does.
 *
 * Web-standard APIs only, so the same class runs in workerd tests and behind
 * a Node loopback server for the local simulator.
 */

export interface TelegramUser {
  id: number;
  is_bot?: boolean;
  first_name?: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export interface TelegramChat {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string;
  first_name?: string;
  last_name?: string;
  username?: string;
}

type Json = Record<string, unknown>;
type Message = Json & { message_id: number; chat: TelegramChat; date: number };

export interface FakeCall {
  /** The Bot API method as called (`sendMessage`), or `file` for downloads. */
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The parameters as sent: the JSON object, or the form/query fields as strings. */
  body: unknown;
  /** What the fake answered. */
  status: number;
}

export interface Failure {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface TelegramFakeOptions {
  token?: string;
  bot?: { id?: number; first_name?: string; username?: string };
  /** Wall clock in ms; message dates are its seconds. */
  now?: () => number;
  /** How deliveries reach Parley (defaults to the global fetch). */
  webhookFetch?: (request: Request) => Promise<Response>;
}

export interface DeliverOptions {
  fetch?: (request: Request) => Promise<Response>;
  /** Attempts before Telegram gives up on the update (its real count is undocumented). */
  attempts?: number;
  /** Wait before attempt n+1 after attempt n failed. */
  delayMs?: (attempt: number) => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface Delivery {
  delivered: boolean;
  attempts: number;
  statuses: number[];
}

interface StoredFile {
  file_id: string;
  file_unique_id: string;
  file_path: string;
  bytes: Uint8Array;
  mime_type: string;
}

interface MediaOptions {
  caption?: string;
  bytes?: Uint8Array;
  mimeType?: string;
  fileName?: string;
  chat?: TelegramChat;
}

const DEFAULT_TOKEN = '123456789:AAHfakeTelegramTokenForTests_0123456789';
const enc = new TextEncoder();

const error = (status: number, description: string, parameters?: Json) =>
  Response.json({ ok: false, error_code: status, description, ...(parameters ? { parameters } : {}) }, { status });
const ok = (result: unknown, description?: string) => Response.json({ ok: true, result, ...(description ? { description } : {}) });

/** Form fields arrive as strings; Telegram reads these as JSON-serialized values. */
const JSON_FIELDS = new Set(['reply_markup', 'allowed_updates', 'entities', 'caption_entities', 'reply_parameters', 'link_preview_options', 'media']);

// Tags parse_mode HTML accepts (Bot API "HTML style").
const HTML_TAGS = new Set(['b', 'strong', 'i', 'em', 'u', 'ins', 's', 'strike', 'del', 'span', 'tg-spoiler', 'a', 'tg-emoji', 'code', 'pre', 'blockquote']);

/** Telegram's HTML check: known tags, properly nested; returns the error description or the visible text. */
function parseHtml(html: string): { error: string } | { text: string } {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)[^>]*>|</g;
  let m: RegExpExecArray | null;
  while ((m = tag.exec(html))) {
    const offset = enc.encode(html.slice(0, m.index)).byteLength;
    if (!m[2]) return { error: `Bad Request: can't parse entities: Unexpected end of name token at byte offset ${offset}` };
    const name = m[2].toLowerCase();
    if (!HTML_TAGS.has(name)) return { error: `Bad Request: can't parse entities: Unsupported start tag "${name}" at byte offset ${offset}` };
    if (!m[1]) stack.push(name);
    else if (stack.pop() !== name) return { error: `Bad Request: can't parse entities: Unmatched end tag at byte offset ${offset}, expected "</${stack.at(-1) ?? ''}>", found "</${name}>"` };
  }
  if (stack.length > 0) return { error: `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "${stack.at(-1)}"` };
  const text = html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
  return { text };
}

export class TelegramFake {
  readonly token: string;
  readonly bot: { id: number; is_bot: true; first_name: string; username: string };
  readonly calls: FakeCall[] = [];
  /** What setWebhook registered; null after deleteWebhook. */
  webhook: { url: string; secretToken?: string; allowedUpdates?: string[]; lastErrorDate?: number; lastErrorMessage?: string } | null = null;
  /** Messages the bot sent, per chat id, in order. */
  readonly sent = new Map<string, Message[]>();
  /** Callback queries answered with answerCallbackQuery. */
  readonly answered = new Set<string>();

  private readonly now: () => number;
  private readonly webhookFetch: (request: Request) => Promise<Response>;
  private readonly failures: Failure[] = [];
  private readonly blocked = new Set<string>();
  private readonly chats = new Map<string, TelegramChat>();
  private readonly replyKeyboards = new Map<string, Json>();
  private readonly lastMessageId = new Map<string, number>();
  private readonly files = new Map<string, StoredFile>();
  private readonly callbacks = new Set<string>();
  private readonly chatQueues = new Map<string, Promise<unknown>>();
  private updateId = 500_000;
  private fileCounter = 0;
  private callbackCounter = 0;
  private pending = 0;

  constructor(options: TelegramFakeOptions = {}) {
    this.token = options.token ?? DEFAULT_TOKEN;
    this.bot = { id: options.bot?.id ?? Number(this.token.split(':')[0]), is_bot: true, first_name: options.bot?.first_name ?? 'Parley Test Bot', username: options.bot?.username ?? 'parley_test_bot' };
    this.now = options.now ?? (() => Date.now());
    this.webhookFetch = options.webhookFetch ?? ((request) => fetch(request));
  }

  // ---- programming failures ----------------------------------------------------------

  /** The next n accepted calls answer with this failure instead (default: Telegram's 500). */
  failNext(n: number, failure: Failure = { status: 500 }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** The next call answers 429 with `parameters.retry_after`, as flood control does. */
  rateLimitNext(seconds: number): void {
    this.failNext(1, { status: 429, body: { ok: false, error_code: 429, description: `Too Many Requests: retry after ${seconds}`, parameters: { retry_after: seconds } } });
  }

  /** Sends to this chat answer 403 from now on, as when the user blocks the bot. */
  blockUser(chatId: number | string): void {
    this.blocked.add(String(chatId));
  }

  // ---- the Bot API ---------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const file = /\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) return this.download(request, url, decodeURIComponent(file[1]!), decodeURIComponent(file[2]!));
    const route = /\/bot([^/]+)\/([A-Za-z]*)$/.exec(url.pathname);
    if (!route) return error(404, 'Not Found');
    if (decodeURIComponent(route[1]!) !== this.token) return error(401, 'Unauthorized');
    const handler = this.methods[route[2]!.toLowerCase()];
    if (!handler) return error(404, 'Not Found');

    const { raw, params } = await readParams(request, url);
    const failure = this.failures.shift();
    const response = failure
      ? Response.json(failure.body ?? { ok: false, error_code: failure.status, description: failure.status >= 500 ? 'Internal Server Error' : 'Bad Request' }, { status: failure.status, headers: failure.headers })
      : handler(params);
    this.calls.push({ method: route[2]!, path: url.pathname, headers: Object.fromEntries(request.headers), body: raw, status: response.status });
    return response;
  }

  /** Calls made to one method, in order (case-insensitive like the real API). */
  callsTo(method: string): FakeCall[] {
    return this.calls.filter((c) => c.method.toLowerCase() === method.toLowerCase());
  }

  private readonly methods: Record<string, (p: Json) => Response> = {
    getme: () => ok({ ...this.bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false }),
    setwebhook: (p) => {
      const url = typeof p.url === 'string' ? p.url : '';
      if (url === '') {
        this.webhook = null;
        return ok(true, 'Webhook was deleted');
      }
      if (!URL.canParse(url)) return error(400, 'Bad Request: bad webhook: Failed to resolve host: Name or service not known');
      const secret = p.secret_token;
      if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(secret))) {
        return error(400, 'Bad Request: secret token contains unallowed characters');
      }
      this.webhook = { url, ...(secret ? { secretToken: secret } : {}), ...(Array.isArray(p.allowed_updates) ? { allowedUpdates: p.allowed_updates as string[] } : {}) };
      return ok(true, 'Webhook was set');
    },
    deletewebhook: () => {
      const had = this.webhook !== null;
      this.webhook = null;
      return ok(true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
    },
    getwebhookinfo: () =>
      ok({
        url: this.webhook?.url ?? '',
        has_custom_certificate: false,
        pending_update_count: this.pending,
        max_connections: 40,
        ...(this.webhook?.allowedUpdates ? { allowed_updates: this.webhook.allowedUpdates } : {}),
        ...(this.webhook?.lastErrorDate ? { last_error_date: this.webhook.lastErrorDate, last_error_message: this.webhook.lastErrorMessage } : {}),
      }),
    sendmessage: (p) =>
      this.send(p, () => {
        let text = typeof p.text === 'string' ? p.text : '';
        if (p.parse_mode === 'HTML') {
          const html = parseHtml(text);
          if ('error' in html) return error(400, html.error);
          text = html.text;
        }
        if (text.trim() === '') return error(400, 'Bad Request: message text is empty');
        if (text.length > 4096) return error(400, 'Bad Request: message is too long');
        return { text };
      }),
    sendphoto: (p) => this.sendMedia(p, 'photo'),
    senddocument: (p) => this.sendMedia(p, 'document'),
    sendvideo: (p) => this.sendMedia(p, 'video'),
    sendaudio: (p) => this.sendMedia(p, 'audio'),
    sendlocation: (p) =>
      this.send(p, () => {
        const location = coordinates(p);
        return location ? { location } : error(400, 'Bad Request: wrong latitude or longitude specified');
      }),
    sendvenue: (p) =>
      this.send(p, () => {
        const location = coordinates(p);
        if (!location) return error(400, 'Bad Request: wrong latitude or longitude specified');
        if (typeof p.title !== 'string' || p.title === '') return error(400, 'Bad Request: title is empty');
        if (typeof p.address !== 'string' || p.address === '') return error(400, 'Bad Request: address is empty');
        return { location, venue: { location, title: p.title, address: p.address } };
      }),
    sendchataction: (p) => {
      const chat = this.chatFor(p.chat_id);
      if (chat instanceof Response) return chat;
      const actions = ['typing', 'upload_photo', 'record_video', 'upload_video', 'record_voice', 'upload_voice', 'upload_document', 'choose_sticker', 'find_location', 'record_video_note', 'upload_video_note'];
      return actions.includes(String(p.action)) ? ok(true) : error(400, 'Bad Request: wrong parameter action in request');
    },
    answercallbackquery: (p) => {
      const id = String(p.callback_query_id ?? '');
      if (!this.callbacks.has(id) || this.answered.has(id)) return error(400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
      this.answered.add(id);
      return ok(true);
    },
    getfile: (p) => {
      const stored = this.files.get(String(p.file_id ?? ''));
      if (!stored) return error(400, 'Bad Request: invalid file_id');
      return ok({ file_id: stored.file_id, file_unique_id: stored.file_unique_id, file_size: stored.bytes.byteLength, file_path: stored.file_path });
    },
  };

  private download(request: Request, url: URL, token: string, path: string): Response {
    if (token !== this.token) return error(401, 'Unauthorized');
    const stored = [...this.files.values()].find((f) => f.file_path === path);
    const response = stored ? new Response(stored.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': stored.mime_type, 'content-length': String(stored.bytes.byteLength) } }) : error(404, 'Not Found');
    this.calls.push({ method: 'file', path: url.pathname, headers: Object.fromEntries(request.headers), body: undefined, status: response.status });
    return response;
  }

  /** Resolves chat_id to a chat the bot may write to, or Telegram's refusal. */
  private chatFor(chatId: unknown): TelegramChat | Response {
    const key = String(chatId ?? '');
    if (key === '') return error(400, 'Bad Request: chat_id is empty');
    if (!/^-?\d+$/.test(key)) return error(400, 'Bad Request: chat not found');
    if (this.blocked.has(key)) return error(403, 'Forbidden: bot was blocked by the user');
    return this.chats.get(key) ?? { id: Number(key), type: 'private' };
  }

  /** Common send path: chat checks, reply_markup checks, then a Message with the next per-chat id. */
  private send(p: Json, content: () => Json | Response): Response {
    const chat = this.chatFor(p.chat_id);
    if (chat instanceof Response) return chat;
    const markupError = checkMarkup(p.reply_markup);
    if (markupError) return error(400, markupError);
    const body = content();
    if (body instanceof Response) return body;
    const message: Message = { message_id: this.nextMessageId(chat.id), from: this.bot, chat, date: this.seconds(), ...body };
    const key = String(chat.id);
    // Only inline keyboards are part of the Message; a reply keyboard stays on the user's client until replaced.
    if (isObject(p.reply_markup) && Array.isArray(p.reply_markup.inline_keyboard)) message.reply_markup = { inline_keyboard: p.reply_markup.inline_keyboard };
    else if (isObject(p.reply_markup) && Array.isArray(p.reply_markup.keyboard)) this.replyKeyboards.set(key, p.reply_markup);
    else if (isObject(p.reply_markup) && p.reply_markup.remove_keyboard === true) this.replyKeyboards.delete(key);
    this.sent.set(key, [...(this.sent.get(key) ?? []), message]);
    return ok(message);
  }

  private sendMedia(p: Json, field: 'photo' | 'document' | 'video' | 'audio'): Response {
    return this.send(p, () => {
      const value = p[field];
      if (value === undefined || value === '') return error(400, `Bad Request: there is no ${field} in the request`);
      const caption = typeof p.caption === 'string' ? p.caption : undefined;
      if (caption && caption.length > 1024) return error(400, 'Bad Request: message caption is too long');
      const source = typeof value === 'string' ? value : 'upload';
      if (typeof value === 'string' && !URL.canParse(value) && !this.files.has(value)) return error(400, 'Bad Request: wrong file identifier/HTTP URL specified');
      const mime = { photo: 'image/jpeg', document: 'application/octet-stream', video: 'video/mp4', audio: 'audio/mpeg' }[field];
      const name = source.split('/').pop() || field;
      const file = this.files.get(source) ?? this.addFile(new Uint8Array(0), { mimeType: mime, fileName: name, folder: `${field}s` });
      const described =
        field === 'photo'
          ? { photo: [{ file_id: file.file_id, file_unique_id: file.file_unique_id, width: 1280, height: 960, file_size: file.bytes.byteLength }] }
          : { [field]: { file_id: file.file_id, file_unique_id: file.file_unique_id, file_name: name, mime_type: file.mime_type, file_size: file.bytes.byteLength } };
      return { ...described, ...(caption ? { caption } : {}) };
    });
  }

  // ---- Telegram's side of the webhook ---------------------------------------------------

  /** Stores bytes as a file the bot can getFile and download; returns its file_id. */
  addFile(bytes: Uint8Array, options: { mimeType?: string; fileName?: string; folder?: string } = {}): StoredFile {
    const n = ++this.fileCounter;
    const name = options.fileName ?? `file_${n}`;
    const file: StoredFile = {
      file_id: `AgAC${n.toString().padStart(6, '0')}fakeFileId`,
      file_unique_id: `AQAD${n}`,
      file_path: `${options.folder ?? 'documents'}/file_${n}${name.includes('.') ? name.slice(name.lastIndexOf('.')) : ''}`,
      bytes,
      mime_type: options.mimeType ?? 'application/octet-stream',
    };
    this.files.set(file.file_id, file);
    return file;
  }

  text(webhookUrl: string, user: TelegramUser, text: string, options: { chat?: TelegramChat } = {}): Request {
    return this.messageUpdate(webhookUrl, user, options.chat, { text });
  }

  photo(webhookUrl: string, user: TelegramUser, options: MediaOptions = {}): Request {
    const bytes = options.bytes ?? enc.encode('fake jpeg bytes');
    // Telegram sends every photo in several sizes, smallest first.
    const sizes = [
      [90, 68],
      [320, 240],
      [1280, 960],
    ].map(([width, height]) => {
      const f = this.addFile(bytes, { mimeType: 'image/jpeg', fileName: 'photo.jpg', folder: 'photos' });
      return { file_id: f.file_id, file_unique_id: f.file_unique_id, width, height, file_size: bytes.byteLength };
    });
    return this.messageUpdate(webhookUrl, user, options.chat, { photo: sizes, ...captioned(options) });
  }

  document(webhookUrl: string, user: TelegramUser, options: MediaOptions = {}): Request {
    return this.mediaUpdate(webhookUrl, user, 'document', options, { mimeType: 'application/pdf', fileName: 'report.pdf' });
  }

  video(webhookUrl: string, user: TelegramUser, options: MediaOptions = {}): Request {
    return this.mediaUpdate(webhookUrl, user, 'video', options, { mimeType: 'video/mp4', fileName: 'clip.mp4' }, { width: 640, height: 360, duration: 5 });
  }

  audio(webhookUrl: string, user: TelegramUser, options: MediaOptions = {}): Request {
    return this.mediaUpdate(webhookUrl, user, 'audio', options, { mimeType: 'audio/mpeg', fileName: 'song.mp3' }, { duration: 120 });
  }

  voice(webhookUrl: string, user: TelegramUser, options: MediaOptions = {}): Request {
    // Voice notes have no file name.
    return this.mediaUpdate(webhookUrl, user, 'voice', options, { mimeType: 'audio/ogg' }, { duration: 3 });
  }

  /** An animation (GIF) also carries `document`, for clients that predate animations. */
  animation(webhookUrl: string, user: TelegramUser, options: MediaOptions = {}): Request {
    const bytes = options.bytes ?? enc.encode('fake mp4 bytes');
    const f = this.addFile(bytes, { mimeType: options.mimeType ?? 'video/mp4', fileName: options.fileName ?? 'funny.gif.mp4', folder: 'animations' });
    const described = { file_id: f.file_id, file_unique_id: f.file_unique_id, file_name: options.fileName ?? 'funny.gif.mp4', mime_type: f.mime_type, file_size: bytes.byteLength };
    return this.messageUpdate(webhookUrl, user, options.chat, { animation: { ...described, width: 320, height: 240, duration: 2 }, document: described, ...captioned(options) });
  }

  sticker(webhookUrl: string, user: TelegramUser, options: { emoji?: string; animated?: boolean; video?: boolean; chat?: TelegramChat } = {}): Request {
    const f = this.addFile(enc.encode('fake webp bytes'), { mimeType: 'image/webp', fileName: 'sticker.webp', folder: 'stickers' });
    const sticker = {
      file_id: f.file_id,
      file_unique_id: f.file_unique_id,
      type: 'regular',
      width: 512,
      height: 512,
      is_animated: options.animated ?? false,
      is_video: options.video ?? false,
      emoji: options.emoji ?? '👍',
      file_size: f.bytes.byteLength,
    };
    return this.messageUpdate(webhookUrl, user, options.chat, { sticker });
  }

  location(webhookUrl: string, user: TelegramUser, latitude: number, longitude: number, options: { chat?: TelegramChat } = {}): Request {
    return this.messageUpdate(webhookUrl, user, options.chat, { location: { latitude, longitude } });
  }

  /** A venue also carries `location`, as Telegram sends it. */
  venue(webhookUrl: string, user: TelegramUser, venue: { latitude: number; longitude: number; title: string; address: string }, options: { chat?: TelegramChat } = {}): Request {
    const location = { latitude: venue.latitude, longitude: venue.longitude };
    return this.messageUpdate(webhookUrl, user, options.chat, { location, venue: { location, title: venue.title, address: venue.address } });
  }

  contact(webhookUrl: string, user: TelegramUser, contact: { phone_number: string; first_name: string; last_name?: string; user_id?: number }, options: { chat?: TelegramChat } = {}): Request {
    return this.messageUpdate(webhookUrl, user, options.chat, { contact });
  }

  /**
   * A tap on an inline button. The message defaults to the bot's last message in
   * the chat, so it carries the keyboard Telegram would send back.
   */
  callbackQuery(webhookUrl: string, user: TelegramUser, data: string, options: { chat?: TelegramChat; message?: Json } = {}): Request {
    const chat = this.chatOf(user, options.chat);
    const message = options.message ?? this.sent.get(String(chat.id))?.at(-1) ?? { message_id: this.nextMessageId(chat.id), from: this.bot, chat, date: this.seconds(), text: '…' };
    const id = `${this.bot.id}${String(++this.callbackCounter).padStart(8, '0')}`;
    this.callbacks.add(id);
    return this.request(webhookUrl, { update_id: ++this.updateId, callback_query: { id, from: withDefaults(user), message, chat_instance: `-${chat.id}`, data } });
  }

  /**
   * What a user's tap on a labelled button produces: a callback query for an
   * inline button of the bot's last message in the chat, a plain text message
   * for a button of the chat's reply keyboard (Telegram sends the label, no payload).
   */
  tap(webhookUrl: string, user: TelegramUser, label: string, options: { chat?: TelegramChat } = {}): Request {
    const chat = this.chatOf(user, options.chat);
    const last = this.sent.get(String(chat.id))?.at(-1);
    const inline = (last?.reply_markup as { inline_keyboard?: Json[][] } | undefined)?.inline_keyboard?.flat().find((b) => b.text === label);
    if (inline && typeof inline.callback_data === 'string') return this.callbackQuery(webhookUrl, user, inline.callback_data, options);
    const reply = (this.replyKeyboards.get(String(chat.id))?.keyboard as Json[][] | undefined)?.flat().find((b) => b.text === label);
    if (reply && !reply.request_location) return this.text(webhookUrl, user, label, options);
    throw new Error(`The bot's last message in chat ${chat.id} has no tappable button "${label}"`);
  }

  editedMessage(webhookUrl: string, user: TelegramUser, text: string, options: { chat?: TelegramChat; messageId?: number } = {}): Request {
    const chat = this.chatOf(user, options.chat);
    const message = { message_id: options.messageId ?? this.lastMessageId.get(String(chat.id)) ?? 1, from: withDefaults(user), chat, date: this.seconds() - 60, edit_date: this.seconds(), text };
    return this.request(webhookUrl, { update_id: ++this.updateId, edited_message: message });
  }

  /** Any body, as given (a malformed update, an update kind not built above), with the secret header. */
  update(webhookUrl: string, body: unknown): Request {
    return this.request(webhookUrl, body);
  }

  /** The next update_id (for bodies built by hand). */
  nextUpdateId(): number {
    return ++this.updateId;
  }

  /**
   * Delivers an update as Telegram does: until a 2xx, with waits between
   * attempts, and one update at a time per chat (a failing update holds back
   * that chat's later ones).
   */
  async deliver(request: Request, options: DeliverOptions = {}): Promise<Delivery> {
    const key = await chatKey(request.clone());
    const previous = this.chatQueues.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.attempt(request, options));
    this.chatQueues.set(
      key,
      run.catch(() => undefined),
    );
    return run;
  }

  private async attempt(request: Request, options: DeliverOptions): Promise<Delivery> {
    const send = options.fetch ?? this.webhookFetch;
    const attempts = options.attempts ?? 5;
    const delay = options.delayMs ?? ((n: number) => Math.min(60_000, 1000 * 2 ** (n - 1)));
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const statuses: number[] = [];
    this.pending++;
    try {
      for (let n = 1; n <= attempts; n++) {
        let message: string;
        try {
          const response = await send(request.clone());
          await response.arrayBuffer();
          statuses.push(response.status);
          if (response.ok) return { delivered: true, attempts: n, statuses };
          message = `Wrong response from the webhook: ${response.status} ${response.statusText}`.trim();
        } catch (err) {
          statuses.push(0);
          message = `Connection failed: ${err instanceof Error ? err.message : String(err)}`;
        }
        if (this.webhook) Object.assign(this.webhook, { lastErrorDate: this.seconds(), lastErrorMessage: message });
        if (n < attempts) await sleep(delay(n));
      }
      return { delivered: false, attempts, statuses };
    } finally {
      this.pending--;
    }
  }

  // ---- building updates ----------------------------------------------------------------

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** message_id counts per chat, shared by the user's and the bot's messages. */
  private nextMessageId(chatId: number): number {
    const key = String(chatId);
    const next = (this.lastMessageId.get(key) ?? 0) + 1;
    this.lastMessageId.set(key, next);
    return next;
  }

  /** The chat an update comes from: the given group, or the user's private chat (whose id is the user's). */
  private chatOf(user: TelegramUser, chat?: TelegramChat): TelegramChat {
    const u = withDefaults(user);
    const resolved = chat ?? { id: u.id, type: 'private' as const, first_name: u.first_name, ...(u.last_name ? { last_name: u.last_name } : {}), ...(u.username ? { username: u.username } : {}) };
    this.chats.set(String(resolved.id), resolved);
    return resolved;
  }

  private messageUpdate(webhookUrl: string, user: TelegramUser, chat: TelegramChat | undefined, content: Json): Request {
    const c = this.chatOf(user, chat);
    const message = { message_id: this.nextMessageId(c.id), from: withDefaults(user), chat: c, date: this.seconds(), ...content };
    return this.request(webhookUrl, { update_id: ++this.updateId, message });
  }

  private mediaUpdate(
    webhookUrl: string,
    user: TelegramUser,
    field: 'document' | 'video' | 'audio' | 'voice',
    options: MediaOptions,
    defaults: { mimeType: string; fileName?: string },
    extra: Json = {},
  ): Request {
    const bytes = options.bytes ?? enc.encode(`fake ${field} bytes`);
    const fileName = options.fileName ?? defaults.fileName;
    const f = this.addFile(bytes, { mimeType: options.mimeType ?? defaults.mimeType, ...(fileName ? { fileName } : {}), folder: `${field}s` });
    const described = { file_id: f.file_id, file_unique_id: f.file_unique_id, ...(fileName ? { file_name: fileName } : {}), mime_type: f.mime_type, file_size: bytes.byteLength, ...extra };
    return this.messageUpdate(webhookUrl, user, options.chat, { [field]: described, ...captioned(options) });
  }

  private request(webhookUrl: string, body: unknown): Request {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.webhook?.secretToken) headers['x-telegram-bot-api-secret-token'] = this.webhook.secretToken;
    return new Request(webhookUrl, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  }
}

// ---- helpers ---------------------------------------------------------------------------

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

const withDefaults = (user: TelegramUser) => ({ is_bot: false, first_name: 'Test', ...user });

const captioned = (options: MediaOptions) => (options.caption ? { caption: options.caption } : {});

function coordinates(p: Json): { latitude: number; longitude: number } | undefined {
  const latitude = Number(p.latitude);
  const longitude = Number(p.longitude);
  if (p.latitude === undefined || p.longitude === undefined || !Number.isFinite(latitude) || !Number.isFinite(longitude)) return undefined;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return undefined;
  return { latitude, longitude };
}

/** The keyboard checks the real API applies before sending anything. */
function checkMarkup(markup: unknown): string | undefined {
  if (markup === undefined) return undefined;
  if (!isObject(markup)) return "Bad Request: can't parse reply keyboard markup JSON object";
  const rows = markup.inline_keyboard ?? markup.keyboard;
  if (rows === undefined) return markup.remove_keyboard === true || markup.force_reply === true ? undefined : 'Bad Request: object expected as reply markup';
  if (!Array.isArray(rows) || rows.some((row) => !Array.isArray(row))) return 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays';
  for (const button of rows.flat() as unknown[]) {
    if (!isObject(button) || typeof button.text !== 'string' || button.text === '') return 'Bad Request: text buttons are unallowed in the inline keyboard';
    if (markup.inline_keyboard) {
      if (button.callback_data === undefined && button.url === undefined) return 'Bad Request: text buttons are unallowed in the inline keyboard';
      if (typeof button.callback_data === 'string' && (button.callback_data === '' || enc.encode(button.callback_data).byteLength > 64)) return 'Bad Request: BUTTON_DATA_INVALID';
      if (button.url !== undefined && (typeof button.url !== 'string' || !URL.canParse(button.url))) return 'Bad Request: BUTTON_URL_INVALID';
    }
  }
  return undefined;
}

/** Parameters from the query string and a JSON, urlencoded or multipart body, as the Bot API accepts them. */
async function readParams(request: Request, url: URL): Promise<{ raw: unknown; params: Json }> {
  const query = Object.fromEntries(url.searchParams);
  const type = request.headers.get('content-type') ?? '';
  let raw: unknown = query;
  let fields: Json = { ...query };
  if (request.method === 'POST' && type.includes('application/json')) {
    raw = await request.json().catch(() => undefined);
    fields = { ...query, ...(isObject(raw) ? raw : {}) };
  } else if (request.method === 'POST' && (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data'))) {
    const form = await request.formData();
    const entries: Record<string, string> = {};
    form.forEach((value, key) => {
      entries[key] = typeof value === 'string' ? value : `attach://${(value as File).name}`;
    });
    raw = entries;
    fields = { ...query, ...entries };
    for (const key of Object.keys(fields)) {
      const value = fields[key];
      if (JSON_FIELDS.has(key) && typeof value === 'string') {
        try {
          fields[key] = JSON.parse(value);
        } catch {
          // Left as a string: the method's own check answers for it.
        }
      }
    }
  }
  return { raw, params: fields };
}

/** Which chat an update belongs to, for per-chat ordering; updates without one share a queue. */
async function chatKey(request: Request): Promise<string> {
  try {
    const update = (await request.json()) as { message?: { chat?: { id?: number } }; edited_message?: { chat?: { id?: number } }; callback_query?: { message?: { chat?: { id?: number } }; from?: { id?: number } } };
    const id = update.message?.chat?.id ?? update.edited_message?.chat?.id ?? update.callback_query?.message?.chat?.id ?? update.callback_query?.from?.id;
    return id === undefined ? '' : String(id);
  } catch {
    return '';
  }
}
