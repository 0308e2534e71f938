/**
 * A stand-in for the LINE Messaging API, speaking its real protocol: Bearer
 * channel access token, `/v2/bot/...` paths, JSON bodies checked against
 * LINE's documented limits, `{sentMessages}` answers and `{message, details}`
 * errors. Reply tokens are single use and expire; push honours
 * `X-Line-Retry-Key` (409 when the key was already accepted); content is
 * served on the data API's path (`/v2/bot/message/{id}/content`, on
 * api-data.line.me in production, on the apiBaseUrl here). It also plays
 * LINE's side of the webhook: builders for signed bodies (`X-Line-Signature`,
 * base64 HMAC-SHA256 of the exact bytes with the channel secret).
 *
 * Web-standard APIs only, so it runs in workerd tests and behind a Node
 * loopback server alike.
 */
import { hmacBase64 } from '../../src/channels/signing';

type Json = Record<string, unknown>;

export interface LineCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status: number;
}

export interface LineFailure {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface LineFakeOptions {
  channelSecret?: string;
  channelAccessToken?: string;
  /** Wall clock in ms: event timestamps and reply token expiry. */
  now?: () => number;
  /** How long a reply token stays usable (LINE: about a minute). */
  replyTokenTtlMs?: number;
}

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');
/** A LINE user id: U and 32 hex digits. */
export const lineUserId = () => `U${hex(16)}`;

const err = (status: number, message: string, details?: { message: string; property: string }[], headers?: Record<string, string>) =>
  Response.json({ message, ...(details ? { details } : {}) }, { status, headers });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** LINE's checks on message objects (the documented limits the adapter must respect); each problem names its property. */
function checkMessage(m: Json, at: string, problems: { message: string; property: string }[]): void {
  const need = (cond: boolean, property: string, message: string) => cond || problems.push({ message, property: `${at}.${property}` });
  const len = (s: unknown) => (typeof s === 'string' ? s.length : -1);
  const checkAction = (a: Json, where: string, inQuickReply = false) => {
    const label = a.label;
    if (a.type === 'postback') {
      need(len(a.data) >= 1 && len(a.data) <= 300, `${where}.data`, 'Length must be between 1 and 300');
    } else if (a.type === 'message') need(len(a.text) >= 1 && len(a.text) <= 300, `${where}.text`, 'Length must be between 1 and 300');
    else if (a.type === 'uri') need(/^(https?|line|tel):/.test(String(a.uri)), `${where}.uri`, 'invalid uri');
    else if (a.type === 'location') need(inQuickReply, `${where}.type`, 'location action is only allowed in quick replies');
    else need(false, `${where}.type`, 'invalid action type');
    if (label !== undefined) need(len(label) >= 1 && len(label) <= 20, `${where}.label`, 'Length must be between 1 and 20');
  };
  switch (m.type) {
    case 'text':
      need(len(m.text) >= 1 && len(m.text) <= 5000, 'text', 'Length must be between 1 and 5000');
      break;
    case 'image':
    case 'video':
      need(/^https:/.test(String(m.originalContentUrl)), 'originalContentUrl', 'must be https');
      need(/^https:/.test(String(m.previewImageUrl)), 'previewImageUrl', 'must be https');
      break;
    case 'audio':
      need(/^https:/.test(String(m.originalContentUrl)), 'originalContentUrl', 'must be https');
      need(typeof m.duration === 'number', 'duration', 'May not be empty');
      break;
    case 'location':
      need(len(m.title) >= 1 && len(m.title) <= 100, 'title', 'Length must be between 1 and 100');
      need(len(m.address) >= 1 && len(m.address) <= 100, 'address', 'Length must be between 1 and 100');
      need(typeof m.latitude === 'number' && typeof m.longitude === 'number', 'latitude', 'May not be empty');
      break;
    case 'template': {
      need(len(m.altText) >= 1 && len(m.altText) <= 400, 'altText', 'Length must be between 1 and 400');
      const t = (m.template ?? {}) as Json;
      const actions = (t.actions ?? []) as Json[];
      if (t.type === 'buttons') {
        const max = t.thumbnailImageUrl || t.title ? 60 : 160;
        need(len(t.text) >= 1 && len(t.text) <= max, 'template.text', `Length must be between 1 and ${max}`);
        need(actions.length >= 1 && actions.length <= 4, 'template.actions', 'Size must be between 1 and 4');
        actions.forEach((a, i) => checkAction(a, `template.actions[${i}]`));
      } else if (t.type === 'confirm') {
        need(len(t.text) >= 1 && len(t.text) <= 240, 'template.text', 'Length must be between 1 and 240');
        need(actions.length === 2, 'template.actions', 'Size must be 2');
        actions.forEach((a, i) => checkAction(a, `template.actions[${i}]`));
      } else if (t.type === 'carousel') {
        const columns = (t.columns ?? []) as Json[];
        need(columns.length >= 1 && columns.length <= 10, 'template.columns', 'Size must be between 1 and 10');
        const counts = new Set(columns.map((c) => ((c.actions ?? []) as unknown[]).length));
        need(counts.size <= 1, 'template.columns', 'The number of actions must be the same in every column');
        // LINE: if one column has an image or a title, every column must.
        need(new Set(columns.map((c) => Boolean(c.thumbnailImageUrl))).size <= 1, 'template.columns', 'thumbnailImageUrl must be set in every column or in none');
        need(new Set(columns.map((c) => Boolean(c.title))).size <= 1, 'template.columns', 'title must be set in every column or in none');
        columns.forEach((c, i) => {
          const max = c.thumbnailImageUrl || c.title ? 60 : 120;
          if (c.title !== undefined) need(len(c.title) >= 1 && len(c.title) <= 40, `template.columns[${i}].title`, 'Length must be between 1 and 40');
          need(len(c.text) >= 1 && len(c.text) <= max, `template.columns[${i}].text`, `Length must be between 1 and ${max}`);
          const acts = (c.actions ?? []) as Json[];
          need(acts.length >= 1 && acts.length <= 3, `template.columns[${i}].actions`, 'Size must be between 1 and 3');
          acts.forEach((a, j) => checkAction(a, `template.columns[${i}].actions[${j}]`));
        });
      } else need(false, 'template.type', 'invalid template type');
      break;
    }
    case 'flex': {
      need(len(m.altText) >= 1 && len(m.altText) <= 400, 'altText', 'Length must be between 1 and 400');
      const c = (m.contents ?? {}) as Json;
      need(c.type === 'bubble' || (c.type === 'carousel' && Array.isArray(c.contents) && c.contents.length <= 12), 'contents', 'invalid flex container');
      break;
    }
    case 'sticker':
    case 'imagemap':
    case 'textV2':
      break;
    default:
      need(false, 'type', 'invalid message type');
  }
  const qr = m.quickReply as { items?: Json[] } | undefined;
  if (qr) {
    const items = qr.items ?? [];
    need(items.length >= 1 && items.length <= 13, 'quickReply.items', 'Size must be between 1 and 13');
    items.forEach((item, i) => checkAction((item.action ?? {}) as Json, `quickReply.items[${i}].action`, true));
  }
}

export class LineFake {
  readonly channelSecret: string;
  readonly channelAccessToken: string;
  readonly bot = { userId: lineUserId(), basicId: '@parley', displayName: 'Parley Test', chatMode: 'chat', markAsReadMode: 'manual' };
  readonly calls: LineCall[] = [];
  /** What PUT webhook/endpoint registered. */
  endpoint: string | null = null;
  /** Messages the bot sent, per recipient, in order, with how they went out. */
  readonly sent = new Map<string, { via: 'reply' | 'push'; message: Json; id: string }[]>();

  private readonly now: () => number;
  private readonly ttl: number;
  private readonly failures: (LineFailure & { afterAccept?: boolean })[] = [];
  private readonly replyTokens = new Map<string, { to: string; issuedAt: number; used: boolean }>();
  private readonly retryKeys = new Map<string, { requestId: string }>();
  private readonly contents = new Map<string, { bytes: Uint8Array; type: string }>();
  private messageCounter = 470_000_000_000_000;
  private eventCounter = 0;

  constructor(options: LineFakeOptions = {}) {
    this.channelSecret = options.channelSecret ?? 'a'.repeat(32);
    this.channelAccessToken = options.channelAccessToken ?? `fake-line-token-${hex(16)}`;
    this.now = options.now ?? (() => Date.now());
    this.ttl = options.replyTokenTtlMs ?? 60_000;
  }

  // ---- programming failures ------------------------------------------------------------

  /** The next n message calls answer with this failure instead. */
  failNext(n: number, failure: LineFailure = { status: 500, body: { message: 'An error occurred in the internal server' } }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** The next message call answers 429 with Retry-After, as LINE's rate limit does. */
  rateLimitNext(seconds: number): void {
    this.failures.push({ status: 429, body: { message: 'The API rate limit has been exceeded. Try again later.' }, headers: { 'retry-after': String(seconds) } });
  }

  /** The next push is accepted (and shown) but answered 500, as when the answer is lost: a retry with its key gets 409. */
  acceptThenFailNext(): void {
    this.failures.push({ status: 500, body: { message: 'An error occurred in the internal server' }, afterAccept: true });
  }

  // ---- the Messaging API ---------------------------------------------------------------

  callsTo(path: string): LineCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const raw = request.method === 'GET' ? '' : await request.text();
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const response = await this.answer(request, url.pathname, body);
    this.calls.push({ method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers), body, status: response.status });
    return response;
  }

  private async answer(request: Request, path: string, body: unknown): Promise<Response> {
    if (request.headers.get('authorization') !== `Bearer ${this.channelAccessToken}`) {
      return err(401, 'Authentication failed. Confirm that the access token in the authorization header is valid.');
    }
    const content = /^\/v2\/bot\/message\/([^/]+)\/content$/.exec(path);
    if (content && request.method === 'GET') {
      const file = this.contents.get(decodeURIComponent(content[1]!));
      return file ? new Response(new Uint8Array(file.bytes), { headers: { 'content-type': file.type } }) : err(404, 'Not found');
    }
    const route = `${request.method} ${path}`;
    if (route === 'GET /v2/bot/info') return Response.json(this.bot);
    if (route === 'PUT /v2/bot/channel/webhook/endpoint') {
      const endpoint = (body as Json | undefined)?.endpoint;
      if (typeof endpoint !== 'string' || !URL.canParse(endpoint) || endpoint.length > 500) {
        return err(400, 'The request body has 1 error(s)', [{ message: 'Invalid webhook endpoint URL', property: 'endpoint' }]);
      }
      this.endpoint = endpoint;
      return Response.json({});
    }
    if (route === 'GET /v2/bot/channel/webhook/endpoint') return Response.json({ endpoint: this.endpoint ?? '', active: this.endpoint !== null });
    if (route === 'POST /v2/bot/chat/loading/start') return Response.json({}, { status: 202 });
    if (route === 'POST /v2/bot/message/reply') return this.reply(request, body as Json);
    if (route === 'POST /v2/bot/message/push') return this.push(request, body as Json);
    return err(404, 'Not found');
  }

  private checkMessages(messages: unknown): Response | undefined {
    if (!Array.isArray(messages) || messages.length < 1 || messages.length > 5) {
      return err(400, 'The request body has 1 error(s)', [{ message: 'Size must be between 1 and 5', property: 'messages' }]);
    }
    const problems: { message: string; property: string }[] = [];
    messages.forEach((m, i) => checkMessage(m as Json, `messages[${i}]`, problems));
    return problems.length ? err(400, `The request body has ${problems.length} error(s)`, problems) : undefined;
  }

  private deliver(to: string, via: 'reply' | 'push', messages: Json[]): Response {
    const list = this.sent.get(to) ?? [];
    const sentMessages = messages.map((message) => {
      const id = String(++this.messageCounter);
      list.push({ via, message, id });
      return { id, quoteToken: `q${hex(8)}` };
    });
    this.sent.set(to, list);
    return Response.json({ sentMessages });
  }

  private reply(request: Request, body: Json): Response {
    if (request.headers.has('x-line-retry-key')) return err(400, 'The retry key header is not supported for this API');
    const bad = this.checkMessages(body.messages);
    if (bad) return bad;
    const failure = this.failures.shift();
    if (failure) return Response.json(failure.body ?? {}, { status: failure.status, headers: failure.headers });
    const token = this.replyTokens.get(String(body.replyToken));
    if (!token || token.used || this.now() - token.issuedAt > this.ttl) return err(400, 'Invalid reply token');
    token.used = true;
    return this.deliver(token.to, 'reply', body.messages as Json[]);
  }

  private push(request: Request, body: Json): Response {
    const key = request.headers.get('x-line-retry-key');
    if (key !== null && !UUID.test(key)) return err(400, 'The value of the X-Line-Retry-Key header is invalid');
    if (key !== null && this.retryKeys.has(key)) {
      return err(409, 'The retry key is already accepted', undefined, { 'x-line-accepted-request-id': this.retryKeys.get(key)!.requestId });
    }
    if (typeof body.to !== 'string' || !/^[UCR][0-9a-f]{32}$/.test(body.to)) {
      return err(400, "The property, 'to', in the request body is invalid (line: -, column: -)");
    }
    const bad = this.checkMessages(body.messages);
    if (bad) return bad;
    const failure = this.failures.shift();
    if (failure && !failure.afterAccept) return Response.json(failure.body ?? {}, { status: failure.status, headers: failure.headers });
    const accepted = this.deliver(body.to, 'push', body.messages as Json[]);
    if (key !== null) this.retryKeys.set(key, { requestId: crypto.randomUUID() });
    return failure ? Response.json(failure.body ?? {}, { status: failure.status }) : accepted;
  }

  // ---- LINE's side of the webhook ----------------------------------------------------------

  /** A webhook POST to `url` carrying these events, signed over its exact bytes. */
  async webhook(url: string, events: Json[]): Promise<Request> {
    const raw = JSON.stringify({ destination: this.bot.userId, events });
    return new Request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'LineBotWebhook/2.0', 'x-line-signature': await hmacBase64('SHA-256', this.channelSecret, raw) },
      body: raw,
    });
  }

  /** The console's "Verify" request: signed, with no events. */
  verification(url: string): Promise<Request> {
    return this.webhook(url, []);
  }

  /** A webhook event from this user, with a fresh reply token the fake will honour once. */
  event(userId: string, type: string, fields: Json = {}, withReplyToken = true): Json {
    const timestamp = this.now();
    const replyToken = withReplyToken ? hex(16) : undefined;
    if (replyToken) this.replyTokens.set(replyToken, { to: userId, issuedAt: timestamp, used: false });
    return {
      type,
      mode: 'active',
      timestamp,
      source: { type: 'user', userId },
      webhookEventId: `01H${(++this.eventCounter).toString(36).toUpperCase().padStart(8, '0')}${hex(6).toUpperCase()}`.slice(0, 26),
      deliveryContext: { isRedelivery: false },
      ...(replyToken ? { replyToken } : {}),
      ...fields,
    };
  }

  private messageId(): string {
    return String(++this.messageCounter);
  }

  text(url: string, userId: string, text: string): Promise<Request> {
    return this.webhook(url, [this.event(userId, 'message', { message: { type: 'text', id: this.messageId(), quoteToken: `q${hex(8)}`, text } })]);
  }

  /** An image (or video, audio, file) the user sent; its bytes are served on the content path. */
  media(url: string, userId: string, type: 'image' | 'video' | 'audio' | 'file', options: { bytes?: Uint8Array; contentType?: string; fileName?: string } = {}): Promise<Request> {
    const id = this.messageId();
    const bytes = options.bytes ?? new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
    this.contents.set(id, { bytes, type: options.contentType ?? 'image/jpeg' });
    const extra = type === 'file' ? { fileName: options.fileName ?? 'file.pdf', fileSize: bytes.byteLength } : { contentProvider: { type: 'line' } };
    return this.webhook(url, [this.event(userId, 'message', { message: { type, id, ...extra } })]);
  }

  image(url: string, userId: string, options: { bytes?: Uint8Array; contentType?: string } = {}): Promise<Request> {
    return this.media(url, userId, 'image', options);
  }

  location(url: string, userId: string, latitude: number, longitude: number, title?: string, address?: string): Promise<Request> {
    return this.webhook(url, [this.event(userId, 'message', { message: { type: 'location', id: this.messageId(), latitude, longitude, ...(title ? { title } : {}), ...(address ? { address } : {}) } })]);
  }

  sticker(url: string, userId: string): Promise<Request> {
    return this.webhook(url, [this.event(userId, 'message', { message: { type: 'sticker', id: this.messageId(), packageId: '446', stickerId: '1988', stickerResourceType: 'STATIC' } })]);
  }

  postback(url: string, userId: string, data: string, params?: Json): Promise<Request> {
    return this.webhook(url, [this.event(userId, 'postback', { postback: { data, ...(params ? { params } : {}) } })]);
  }

  /** The user tapped the postback action carrying this label in what the bot last sent them: the webhook LINE sends for it. */
  tap(url: string, userId: string, label: string): Promise<Request> {
    const actions = (this.sent.get(userId) ?? []).flatMap(({ message }) => collectActions(message));
    const found = actions.reverse().find((a) => a.type === 'postback' && a.label === label);
    if (!found) throw new Error(`no postback action labelled ${label} was sent to ${userId}`);
    return this.postback(url, userId, String(found.data));
  }

  follow(url: string, userId: string, isUnblocked = false): Promise<Request> {
    return this.webhook(url, [this.event(userId, 'follow', { follow: { isUnblocked } })]);
  }

  unfollow(url: string, userId: string): Promise<Request> {
    return this.webhook(url, [this.event(userId, 'unfollow', {}, false)]);
  }

  /** The same events LINE failed to deliver, resent with `isRedelivery: true` (a new body, so a new signature). */
  async redelivery(request: Request): Promise<Request> {
    const body = (await request.clone().json()) as { events: Json[] };
    return this.webhook(request.url, body.events.map((e) => ({ ...e, deliveryContext: { isRedelivery: true } })));
  }
}

/** Every action in a message object: template actions, carousel columns, Flex buttons, quick replies. */
function collectActions(node: unknown): Json[] {
  if (Array.isArray(node)) return node.flatMap(collectActions);
  if (typeof node !== 'object' || node === null) return [];
  const o = node as Json;
  const own = typeof o.type === 'string' && ['postback', 'message', 'uri', 'location'].includes(o.type) && ('label' in o || 'data' in o) ? [o] : [];
  return [...own, ...Object.values(o).flatMap(collectActions)];
}
