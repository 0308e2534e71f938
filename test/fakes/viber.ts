/**
 * A stand-in for the Viber REST Bot API, speaking its real protocol: POSTs to
 * `/pa/<method>` with the token in `X-Viber-Auth-Token`, JSON answers that are
 * HTTP 200 even for logical errors (`{"status": 2, "status_message": ...}`),
 * 64-bit `message_token` integers written as bare JSON numbers above 2^53,
 * and `set_webhook` that calls the URL with `{"event":"webhook"}` while the
 * request waits and keeps the webhook only if that call got a 200. It also
 * plays Viber's side of the webhook: signed callbacks (hex HMAC-SHA256 of the
 * raw body keyed by the token) for messages, keyboard taps, receipts and
 * conversation events, and a public media host for pictures users send.
 *
 * Web-standard APIs only, so it runs in workerd tests and behind a Node loopback server.
 */
import { hmacHex } from '../../src/channels/signing';

type Json = Record<string, unknown>;

export interface ViberUser {
  id: string;
  name?: string;
  avatar?: string;
  country?: string;
  language?: string;
  api_version?: number;
}

export interface FakeCall {
  /** The API method (`send_message`), or `media` for downloads. */
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Json | undefined;
  /** HTTP status, and Viber's `status` when the answer carried one. */
  status: number;
  viberStatus?: number;
}

/** A programmed answer: a Viber status in a 200 body, or an HTTP failure. */
export type Failure = { viberStatus: number; message?: string } | { http: number };

export interface ViberFakeOptions {
  token?: string;
  /** Where the fake's own links point (media the users send). */
  origin?: string;
  now?: () => number;
  /** How callbacks reach Parley (defaults to the global fetch). */
  webhookFetch?: (request: Request) => Promise<Response>;
}

const STATUS_MESSAGES: Record<number, string> = {
  1: 'invalidUrl',
  2: 'invalidAuthToken',
  3: 'badData',
  4: 'missingData',
  5: 'receiverNotRegistered',
  6: 'receiverNotSubscribed',
  10: 'webhookNotSet',
  12: 'tooManyRequests',
};

const DEFAULT_TOKEN = '4a5b6c7d8e9f0a1b-2c3d4e5f6a7b8c9d-0e1f2a3b4c5d6e7f';
const MESSAGE_TYPES = new Set(['text', 'picture', 'video', 'file', 'location', 'contact', 'sticker', 'url', 'rich_media']);
const ACTION_TYPES = new Set(['reply', 'open-url', 'location-picker', 'share-phone', 'none']);

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** JSON with every bigint written as a bare integer, as Viber writes message_token. */
export function viberJson(value: unknown): string {
  return JSON.stringify(value, (_, x) => (typeof x === 'bigint' ? `__big__${x}` : x)).replace(/"__big__(-?\d+)"/g, '$1');
}

const answer = (status: number, extra: Json = {}) => new Response(viberJson({ status, status_message: status === 0 ? 'ok' : (STATUS_MESSAGES[status] ?? 'generalError'), ...extra }), { headers: { 'content-type': 'application/json' } });

export class ViberFake {
  readonly token: string;
  readonly origin: string;
  readonly account = { id: 'pa:5765432109876543210', name: 'Taco Bot', uri: 'tacobot', icon: 'https://media-direct.cdn.viber.com/pg_download?id=tacobot' };
  readonly calls: FakeCall[] = [];
  /** What set_webhook registered; null after it was removed. */
  webhook: { url: string; eventTypes?: unknown; sendName?: unknown; sendPhoto?: unknown } | null = null;
  /** The callbacks set_webhook made, with the status each got. */
  readonly checks: { url: string; status: number }[] = [];
  /** Messages the bot sent, per receiver, in order, with the token Viber gave each. */
  readonly sent = new Map<string, (Json & { message_token: string })[]>();

  private readonly now: () => number;
  private readonly webhookFetch: (request: Request) => Promise<Response>;
  private readonly failures: Failure[] = [];
  private readonly subscribers = new Set<string>();
  private readonly media = new Map<string, { bytes: Uint8Array; mimeType: string }>();
  /** Above 2^53, one apart: read through a JSON number, neighbours collide. */
  private nextToken = 4_912_661_846_655_238_145n;

  constructor(options: ViberFakeOptions = {}) {
    this.token = options.token ?? DEFAULT_TOKEN;
    this.origin = options.origin ?? 'https://dl-media.viber.test';
    this.now = options.now ?? (() => Date.now());
    this.webhookFetch = options.webhookFetch ?? ((request) => fetch(request));
  }

  // ---- programming failures -----------------------------------------------------------

  /** The next n send_message calls answer with this failure (default: HTTP 500). */
  failNext(n: number, failure: Failure = { http: 500 }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** A user who can be written to, as after their first message. */
  subscribe(userId: string): void {
    this.subscribers.add(userId);
  }

  unsubscribe(userId: string): void {
    this.subscribers.delete(userId);
  }

  callsTo(method: string): FakeCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  token64(): bigint {
    return this.nextToken++;
  }

  // ---- the REST API ------------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === 'GET' || request.method === 'HEAD') return this.download(request, url);
    const method = /^\/pa\/([a-z_]+)$/.exec(url.pathname)?.[1];
    let body: Json | undefined;
    try {
      const parsed: unknown = JSON.parse((await request.text()) || '{}');
      body = isObject(parsed) ? parsed : undefined;
    } catch {
      body = undefined;
    }
    const record = (response: Response, viberStatus?: number) => {
      this.calls.push({ method: method ?? url.pathname, path: url.pathname, headers: Object.fromEntries(request.headers), body, status: response.status, ...(viberStatus !== undefined ? { viberStatus } : {}) });
      return response;
    };
    if (!method) return record(new Response('Not Found', { status: 404 }));
    if (request.headers.get('x-viber-auth-token') !== this.token) return record(answer(2), 2);
    if (!body) return record(answer(3), 3);
    if (method === 'send_message') {
      const failure = this.failures.shift();
      if (failure && 'http' in failure) return record(new Response('Internal Server Error', { status: failure.http }));
      if (failure) return record(new Response(viberJson({ status: failure.viberStatus, status_message: failure.message ?? STATUS_MESSAGES[failure.viberStatus] ?? 'generalError' }), { headers: { 'content-type': 'application/json' } }), failure.viberStatus);
    }
    const [response, status] = await this.handle(method, body);
    return record(response, status);
  }

  private async handle(method: string, body: Json): Promise<[Response, number]> {
    switch (method) {
      case 'get_account_info':
        return [answer(0, { ...this.account, category: 'Food', subcategory: 'Tacos', country: 'UK', webhook: this.webhook?.url ?? '', event_types: this.webhook?.eventTypes ?? [], subscribers_count: this.subscribers.size }), 0];
      case 'set_webhook':
        return this.setWebhook(body);
      case 'send_message':
        return this.sendMessage(body);
      default:
        return [answer(3), 3];
    }
  }

  private async setWebhook(body: Json): Promise<[Response, number]> {
    const url = typeof body.url === 'string' ? body.url : undefined;
    if (url === undefined) return [answer(4), 4];
    if (url === '') {
      this.webhook = null;
      return [answer(0), 0];
    }
    if (!URL.canParse(url)) return [answer(1), 1];
    // Viber checks the URL before keeping it: a signed `webhook` event that must get a 200.
    let status: number;
    try {
      const check = await this.webhookFetch(await this.callback(url, { event: 'webhook', timestamp: this.now(), chat_hostname: 'SN-CHAT-01_', message_token: this.token64() }));
      await check.arrayBuffer();
      status = check.status;
    } catch {
      status = 0;
    }
    this.checks.push({ url, status });
    if (status !== 200) return [new Response(viberJson({ status: 1, status_message: `Result[HttpResponse(${status})] url: ${url}` }), { headers: { 'content-type': 'application/json' } }), 1];
    this.webhook = { url, eventTypes: body.event_types, sendName: body.send_name, sendPhoto: body.send_photo };
    return [answer(0, { event_types: body.event_types ?? [] }), 0];
  }

  private sendMessage(body: Json): [Response, number] {
    if (!this.webhook) return [answer(10), 10];
    const receiver = body.receiver;
    if (typeof receiver !== 'string' || receiver === '') return [answer(4), 4];
    if (!isObject(body.sender) || typeof body.sender.name !== 'string' || body.sender.name === '' || body.sender.name.length > 28) return [answer(3), 3];
    if (typeof body.type !== 'string' || !MESSAGE_TYPES.has(body.type)) return [answer(3), 3];
    const problem = checkMessage(body);
    if (problem !== undefined) return [answer(problem), problem];
    if (!this.subscribers.has(receiver)) return [answer(6), 6];
    const token = this.token64();
    this.sent.set(receiver, [...(this.sent.get(receiver) ?? []), { ...body, message_token: String(token) }]);
    return [answer(0, { message_token: token, chat_hostname: 'SN-CHAT-05_', billing_status: 1 }), 0];
  }

  private download(request: Request, url: URL): Response {
    const file = this.media.get(url.pathname);
    const response = file
      ? new Response(request.method === 'HEAD' ? null : (file.bytes as Uint8Array<ArrayBuffer>), { headers: { 'content-type': file.mimeType, 'content-length': String(file.bytes.byteLength) } })
      : new Response('Not Found', { status: 404 });
    this.calls.push({ method: 'media', path: url.pathname, headers: Object.fromEntries(request.headers), body: undefined, status: response.status });
    return response;
  }

  /** Serves bytes at a public, expiring-looking link on the fake's media host. */
  addMedia(bytes: Uint8Array, mimeType: string, name: string): string {
    const path = `/pg_download/${this.media.size + 1}/${name}`;
    this.media.set(path, { bytes, mimeType });
    return `${this.origin}${path}?fltp=jpg&ts=${this.now()}`;
  }

  // ---- Viber's side of the webhook --------------------------------------------------------

  /** A callback as Viber posts it: raw JSON with 64-bit tokens as bare integers, signed over those exact bytes. */
  async callback(url: string, body: Json | string): Promise<Request> {
    const raw = typeof body === 'string' ? body : viberJson(body);
    const signature = await hmacHex('SHA-256', this.token, raw);
    return new Request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-viber-content-signature': signature }, body: raw });
  }

  /** Sends a callback through the configured webhookFetch, as Viber does. */
  async deliver(request: Request): Promise<Response> {
    return this.webhookFetch(request);
  }

  private message(url: string, user: ViberUser, message: Json, token = this.token64()): Promise<Request> {
    // A user's first message subscribes them silently (§7.7).
    this.subscribe(user.id);
    return this.callback(url, {
      event: 'message',
      timestamp: this.now(),
      chat_hostname: 'SN-CHAT-01_',
      message_token: token,
      sender: { name: 'Viber user', language: 'en', country: 'GB', api_version: 10, ...user },
      message,
      silent: false,
    });
  }

  text(url: string, user: ViberUser, text: string, options: { token?: bigint } = {}): Promise<Request> {
    return this.message(url, user, { type: 'text', text }, options.token);
  }

  picture(url: string, user: ViberUser, options: { caption?: string; bytes?: Uint8Array } = {}): Promise<Request> {
    const bytes = options.bytes ?? new TextEncoder().encode('fake jpeg bytes');
    const media = this.addMedia(bytes, 'image/jpeg', 'photo.jpg');
    return this.message(url, user, { type: 'picture', media, thumbnail: media, text: options.caption ?? '', file_name: 'photo.jpg', size: bytes.byteLength });
  }

  video(url: string, user: ViberUser): Promise<Request> {
    const bytes = new TextEncoder().encode('fake mp4 bytes');
    return this.message(url, user, { type: 'video', media: this.addMedia(bytes, 'video/mp4', 'clip.mp4'), size: bytes.byteLength, duration: 5 });
  }

  file(url: string, user: ViberUser, fileName = 'report.pdf'): Promise<Request> {
    const bytes = new TextEncoder().encode('fake pdf bytes');
    return this.message(url, user, { type: 'file', media: this.addMedia(bytes, 'application/pdf', fileName), file_name: fileName, size: bytes.byteLength });
  }

  location(url: string, user: ViberUser, lat: number, lon: number): Promise<Request> {
    return this.message(url, user, { type: 'location', location: { lat, lon } });
  }

  contact(url: string, user: ViberUser, contact: { name: string; phone_number: string }): Promise<Request> {
    return this.message(url, user, { type: 'contact', contact });
  }

  sticker(url: string, user: ViberUser, stickerId = 46105): Promise<Request> {
    return this.message(url, user, { type: 'sticker', sticker_id: stickerId });
  }

  /**
   * A tap on a `reply` button of the last keyboard the bot sent this user:
   * Viber sends a text message whose text is the button's ActionBody.
   */
  tap(url: string, user: ViberUser, label: string): Promise<Request> {
    const keyboard = [...(this.sent.get(user.id) ?? [])].reverse().find((m) => isObject(m.keyboard))?.keyboard as { Buttons: Json[] } | undefined;
    const button = keyboard?.Buttons.find((b) => b.Text === label);
    if (!button || button.ActionType !== 'reply') throw new Error(`The bot's last keyboard for ${user.id} has no reply button "${label}"`);
    return this.text(url, user, String(button.ActionBody));
  }

  /** A tap on a `reply` button of the last rich_media message the bot sent this user. */
  tapCard(url: string, user: ViberUser, label: string): Promise<Request> {
    const rich = [...(this.sent.get(user.id) ?? [])].reverse().find((m) => m.type === 'rich_media')?.rich_media as { Buttons: Json[] } | undefined;
    const button = rich?.Buttons.find((b) => b.Text === label);
    if (!button || button.ActionType !== 'reply') throw new Error(`The bot's last carousel for ${user.id} has no reply button "${label}"`);
    return this.text(url, user, String(button.ActionBody));
  }

  receipt(url: string, event: 'delivered' | 'seen' | 'failed', userId: string, messageToken: string, desc?: string): Promise<Request> {
    return this.callback(url, { event, timestamp: this.now(), chat_hostname: 'SN-CHAT-01_', message_token: BigInt(messageToken), user_id: userId, ...(desc ? { desc } : {}) });
  }

  conversationStarted(url: string, user: ViberUser, options: { context?: string; subscribed?: boolean } = {}): Promise<Request> {
    return this.callback(url, {
      event: 'conversation_started',
      timestamp: this.now(),
      chat_hostname: 'SN-CHAT-01_',
      message_token: this.token64(),
      type: 'open',
      ...(options.context !== undefined ? { context: options.context } : {}),
      user: { name: 'Viber user', language: 'en', country: 'GB', api_version: 10, ...user },
      subscribed: options.subscribed ?? false,
    });
  }

  subscribedEvent(url: string, user: ViberUser): Promise<Request> {
    this.subscribe(user.id);
    return this.callback(url, { event: 'subscribed', timestamp: this.now(), chat_hostname: 'SN-CHAT-01_', message_token: this.token64(), user: { name: 'Viber user', api_version: 10, ...user } });
  }

  unsubscribedEvent(url: string, userId: string): Promise<Request> {
    this.unsubscribe(userId);
    return this.callback(url, { event: 'unsubscribed', timestamp: this.now(), chat_hostname: 'SN-CHAT-01_', message_token: this.token64(), user_id: userId });
  }
}

/** The per-type checks send_message applies; a Viber status for the first problem. */
function checkMessage(body: Json): number | undefined {
  const str = (x: unknown) => typeof x === 'string' && x !== '';
  switch (body.type) {
    case 'text':
      if (!str(body.text)) return 4;
      if ((body.text as string).length > 7000) return 3;
      break;
    case 'picture':
      if (!str(body.media) || typeof body.text !== 'string') return 4;
      if (body.text.length > 120) return 3;
      break;
    case 'video':
      if (!str(body.media) || typeof body.size !== 'number') return 4;
      break;
    case 'file':
      if (!str(body.media) || typeof body.size !== 'number' || !str(body.file_name)) return 4;
      break;
    case 'location': {
      const l = body.location;
      if (!isObject(l) || typeof l.lat !== 'number' || typeof l.lon !== 'number') return 4;
      break;
    }
    case 'rich_media': {
      const r = body.rich_media;
      if (!isObject(r) || r.Type !== 'rich_media' || !Array.isArray(r.Buttons)) return 4;
      const columns = Number(r.ButtonsGroupColumns ?? 6);
      const rows = Number(r.ButtonsGroupRows ?? 7);
      if (!(columns >= 1 && columns <= 6 && rows >= 1 && rows <= 7)) return 3;
      const cells = (r.Buttons as Json[]).reduce((n, b) => n + Number(b.Columns ?? 6) * Number(b.Rows ?? 1), 0);
      // Groups are filled in order; a carousel holds at most 6 of them.
      if (cells % (columns * rows) !== 0 || cells / (columns * rows) > 6) return 3;
      if ((r.Buttons as Json[]).some((b) => !isButton(b, 7))) return 3;
      if (Number(body.min_api_version ?? 1) < 2) return 14;
      break;
    }
  }
  if (body.keyboard !== undefined) {
    const k = body.keyboard;
    if (!isObject(k) || k.Type !== 'keyboard' || !Array.isArray(k.Buttons) || k.Buttons.length === 0) return 3;
    if ((k.Buttons as Json[]).some((b) => !isButton(b, 2))) return 3;
  }
  return undefined;
}

function isButton(b: Json, maxRows: number): boolean {
  const columns = Number(b.Columns ?? 6);
  const rows = Number(b.Rows ?? 1);
  if (!(columns >= 1 && columns <= 6 && rows >= 1 && rows <= maxRows)) return false;
  if (b.ActionType !== undefined && !ACTION_TYPES.has(String(b.ActionType))) return false;
  if (b.ActionType === 'open-url' && (typeof b.ActionBody !== 'string' || !URL.canParse(b.ActionBody))) return false;
  return typeof b.ActionBody === 'string' && b.ActionBody !== '';
}
