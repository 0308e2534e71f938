/**
 * A stand-in for the WeChat Official Account API, speaking its real protocol:
 * `POST /cgi-bin/stable_token` (and the older `GET /cgi-bin/token`) handing out
 * access tokens with `expires_in`, `POST /cgi-bin/message/custom/send`,
 * `POST /cgi-bin/message/custom/typing`, `POST /cgi-bin/media/upload`
 * (multipart `media`) and `GET /cgi-bin/media/get`,
 * each taking `access_token` in the query and answering HTTP 200 with
 * `{errcode, errmsg}` for logical errors (40001/42001 for a bad or expired
 * token, 45015 outside the 48-hour window, 40007 unknown media, ...).
 *
 * It also plays WeChat's side of the server configuration: the signed GET
 * with `echostr`, and XML callbacks signed with SHA-1 over the sorted token,
 * timestamp and nonce, in plain, compatible or safe mode (AES envelope and
 * `msg_signature`), with 64-bit MsgIds above 2^53.
 *
 * Web-standard APIs only, so it runs in workerd tests and behind a Node loopback server.
 */
import { toBase64 } from '../../src/channels/signing';
import { aesKey, BLOCK, concat, wechatSignature } from '../../src/channels/wechat-crypto';

type Json = Record<string, unknown>;

/** The `Encrypt` value WeChat sends for this XML (safe mode): 16 random bytes, length, XML, AppId, 32-byte PKCS#7, AES-256-CBC. */
export async function encryptMessage(encodingAesKey: string, xml: string, appId: string, random: Uint8Array = crypto.getRandomValues(new Uint8Array(16))): Promise<string> {
  const { key, iv } = await aesKey(encodingAesKey);
  const text = new TextEncoder().encode(xml);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, text.byteLength);
  const body = concat(random, length, text, new TextEncoder().encode(appId));
  const pad = BLOCK - (body.byteLength % BLOCK);
  const padded = concat(body, new Uint8Array(pad).fill(pad));
  // Web Crypto adds a block of its own padding; CBC leaves the blocks before it as they would be without it.
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv }, key, padded)).slice(0, padded.byteLength);
  return toBase64(cipher);
}

/** A value as WeChat writes it: CDATA, with any `]]>` split across two sections. */
export const cdata = (s: string) => `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

export interface FakeCall {
  /** The API path (`/cgi-bin/message/custom/send`), or `file` for the public file host. */
  path: string;
  query: Record<string, string>;
  body: Json | undefined;
  status: number;
  errcode?: number;
}

export type Failure = { errcode: number; errmsg?: string } | { http: number };
export type Mode = 'plain' | 'compatible' | 'safe';

export interface WeChatFakeOptions {
  appId?: string;
  appSecret?: string;
  /** The account's original id (gh_…), the ToUserName of callbacks. */
  originalId?: string;
  origin?: string;
  now?: () => number;
  /** How callbacks reach Parley (defaults to the global fetch). */
  webhookFetch?: (request: Request) => Promise<Response>;
}

const ERRMSG: Record<number, string> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40007: 'invalid media_id',
  40008: 'invalid message type',
  40013: 'invalid appid',
  40125: 'invalid appsecret',
  41001: 'access_token missing',
  41005: 'media data missing',
  42001: 'access_token expired',
  44004: 'empty content',
  45009: 'reach max api daily quota limit',
  45015: 'response out of time limit or subscription is canceled',
  45047: 'out of response count limit',
  47001: 'data format error',
};

const WINDOW_MS = 48 * 3_600_000;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const json = (body: Json, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; encoding=utf-8' } });
const error = (errcode: number, errmsg?: string) => json({ errcode, errmsg: `${errmsg ?? ERRMSG[errcode] ?? 'error'} rid: 6752e1f0-0a1b2c3d-${errcode}` });

export class WeChatFake {
  readonly appId: string;
  readonly appSecret: string;
  readonly originalId: string;
  readonly origin: string;
  /** The server configuration the customer typed into the console: Token, and EncodingAESKey with the mode. */
  server: { token: string; encodingAesKey?: string; mode: Mode } = { token: '', mode: 'plain' };
  readonly calls: FakeCall[] = [];
  /** Customer-service messages accepted, per openid, in order. */
  readonly sent = new Map<string, Json[]>();
  /** Seconds a token lives; a test may shorten it. */
  ttlSeconds = 7200;
  /** Every token handed out; the current one is last. */
  readonly issued: string[] = [];
  /** Whether each user sees the account typing. */
  readonly typingState = new Map<string, boolean>();

  private readonly now: () => number;
  private readonly webhookFetch: (request: Request) => Promise<Response>;
  private readonly failures: Failure[] = [];
  private current: { token: string; expiresAt: number } | undefined;
  /** When each user last interacted (message, subscribe, click, scan): the customer-service window. */
  private readonly lastInbound = new Map<string, number>();
  private readonly media = new Map<string, { bytes: Uint8Array; type: string; video?: boolean }>();
  private readonly files = new Map<string, { bytes: Uint8Array; type: string }>();
  private nextMsgId = 9_007_199_254_740_993n;
  private seq = 0;

  constructor(options: WeChatFakeOptions = {}) {
    this.appId = options.appId ?? 'wx2c2769f8efd9abc2';
    this.appSecret = options.appSecret ?? '3c2b8e1f0a9d4c7b6e5f4a3b2c1d0e9f';
    this.originalId = options.originalId ?? 'gh_10f6c3c3ac5a';
    this.origin = options.origin ?? 'https://api.weixin.test';
    this.now = options.now ?? (() => Date.now());
    this.webhookFetch = options.webhookFetch ?? ((request) => fetch(request));
  }

  // ---- programming the fake ------------------------------------------------------------

  /** The next n custom/send calls answer with this failure (default: errcode -1, system busy). */
  failNext(n: number, failure: Failure = { errcode: -1 }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** The current access token stops working, as at the end of its 7,200 s; the next stable_token call issues another. */
  expireToken(): void {
    if (this.current) this.current.expiresAt = this.now() - 1;
  }

  callsTo(path: string): FakeCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  /** Serves bytes on the fake's public file host (an image a business sends by URL). */
  addFile(bytes: Uint8Array, type: string, name: string): string {
    const path = `/files/${this.files.size + 1}/${name}`;
    this.files.set(path, { bytes, type });
    return `${this.origin}${path}`;
  }

  // ---- the API ------------------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const query = Object.fromEntries(url.searchParams);
    if (url.pathname.startsWith('/files/') || url.pathname.startsWith('/video/')) return this.download(url, query);
    const isMultipart = /multipart\/form-data/i.test(request.headers.get('content-type') ?? '');
    const form = isMultipart ? await request.formData() : undefined;
    let body: Json | undefined;
    if (!isMultipart && request.method === 'POST') {
      try {
        const parsed: unknown = JSON.parse(await request.text());
        body = isObject(parsed) ? parsed : undefined;
      } catch {
        body = undefined;
      }
    }
    const response = await this.route(request.method, url.pathname, query, body, form);
    const answer = response.headers.get('content-type')?.includes('json') ? ((await response.clone().json()) as Json) : undefined;
    this.calls.push({ path: url.pathname, query, body, status: response.status, ...(typeof answer?.errcode === 'number' ? { errcode: answer.errcode } : {}) });
    return response;
  }

  private async route(method: string, path: string, query: Record<string, string>, body: Json | undefined, form: FormData | undefined): Promise<Response> {
    switch (`${method} ${path}`) {
      case 'POST /cgi-bin/stable_token':
        if (!body) return error(47001);
        if (body.grant_type !== 'client_credential') return error(40002);
        return this.issue(String(body.appid), String(body.secret), body.force_refresh === true);
      case 'GET /cgi-bin/token':
        if (query.grant_type !== 'client_credential') return error(40002);
        return this.issue(query.appid ?? '', query.secret ?? '', true);
      case 'POST /cgi-bin/message/custom/send':
        return this.checkToken(query) ?? this.customSend(body);
      case 'POST /cgi-bin/message/custom/typing':
        return this.checkToken(query) ?? this.typing(body);
      case 'POST /cgi-bin/media/upload':
        return this.checkToken(query) ?? this.upload(query.type ?? '', form);
      case 'GET /cgi-bin/media/get':
        return this.checkToken(query) ?? this.mediaGet(query.media_id ?? '');
      default:
        return new Response('Not Found', { status: 404 });
    }
  }

  /** stable_token's normal mode returns the live token; only a new one when it expired (or on force_refresh). */
  private issue(appid: string, secret: string, force: boolean): Response {
    if (appid !== this.appId) return error(40013);
    if (secret !== this.appSecret) return error(40125);
    const now = this.now();
    if (force || !this.current || this.current.expiresAt <= now) {
      const token = `ACCESS_TOKEN_${++this.seq}_${crypto.randomUUID().replace(/-/g, '')}`;
      this.current = { token, expiresAt: now + this.ttlSeconds * 1000 };
      this.issued.push(token);
    }
    return json({ access_token: this.current.token, expires_in: Math.max(1, Math.round((this.current.expiresAt - now) / 1000)) });
  }

  private checkToken(query: Record<string, string>): Response | undefined {
    const token = query.access_token;
    if (!token) return error(41001);
    if (this.current?.token === token && this.current.expiresAt <= this.now()) return error(42001);
    if (this.current?.token !== token) return error(40001);
    return undefined;
  }

  private customSend(body: Json | undefined): Response {
    if (!body) return error(47001);
    const failure = this.failures.shift();
    if (failure && 'http' in failure) return new Response('Bad Gateway', { status: failure.http });
    if (failure) return error(failure.errcode, failure.errmsg);
    const touser = body.touser;
    if (typeof touser !== 'string' || touser === '') return error(40003, 'invalid openid');
    const last = this.lastInbound.get(touser);
    if (last === undefined || this.now() - last > WINDOW_MS) return error(45015);
    const problem = checkMessage(body, (id) => this.media.has(id));
    if (problem !== undefined) return error(problem);
    this.sent.set(touser, [...(this.sent.get(touser) ?? []), body]);
    return json({ errcode: 0, errmsg: 'ok' });
  }

  private typing(body: Json | undefined): Response {
    if (!body || typeof body.touser !== 'string') return error(47001);
    if (body.command !== 'Typing' && body.command !== 'CancelTyping') return error(45072, 'invalid command');
    const last = this.lastInbound.get(body.touser);
    if (last === undefined || this.now() - last > 30_000) return error(45080, 'need sending message to user first');
    this.typingState.set(body.touser, body.command === 'Typing');
    return json({ errcode: 0, errmsg: 'ok' });
  }

  private upload(type: string, form: FormData | undefined): Promise<Response> | Response {
    const file = form?.get('media');
    if (!file || typeof file === 'string') return error(41005);
    if (!['image', 'voice', 'video', 'thumb'].includes(type)) return error(40004, 'invalid media type');
    return file.arrayBuffer().then((buffer) => {
      const mediaId = `MEDIA_${++this.seq}_${crypto.randomUUID().replace(/-/g, '')}`;
      this.media.set(mediaId, { bytes: new Uint8Array(buffer), type: file.type || 'application/octet-stream' });
      return json({ type, media_id: mediaId, created_at: Math.floor(this.now() / 1000) });
    });
  }

  /** Media by id: the bytes, except a video, whose answer names a download URL. */
  private mediaGet(mediaId: string): Response {
    const item = this.media.get(mediaId);
    if (!item) return error(40007);
    // WeChat's video_url is plain http: its docs say video files cannot be downloaded over https.
    if (item.video) return json({ video_url: `${this.origin.replace(/^https:/, 'http:')}/video/${mediaId}` });
    return new Response(item.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': item.type, 'content-disposition': `attachment; filename="${mediaId}"` } });
  }

  private download(url: URL, query: Record<string, string>): Response {
    const item = url.pathname.startsWith('/video/') ? this.media.get(url.pathname.slice(7)) : this.files.get(url.pathname);
    const response = item ? new Response(item.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': item.type } }) : new Response('Not Found', { status: 404 });
    this.calls.push({ path: 'file', query, body: { path: url.pathname }, status: response.status });
    return response;
  }

  /** A file a user sent: kept as temporary media, fetched with media/get. */
  addMedia(bytes: Uint8Array, type: string, video = false): string {
    const mediaId = `USER_MEDIA_${++this.seq}_${crypto.randomUUID().replace(/-/g, '')}`;
    this.media.set(mediaId, { bytes, type, video });
    return mediaId;
  }

  // ---- WeChat's side of the server configuration ----------------------------------------

  msgId(): bigint {
    return this.nextMsgId++;
  }

  private timestampAndNonce(at?: number) {
    return { timestamp: String(Math.floor((at ?? this.now()) / 1000)), nonce: String(1_000_000_000 + Math.floor(Math.random() * 1_000_000_000)) };
  }

  /** The GET WeChat makes when the customer submits the server configuration. */
  async verifyServer(url: string, echostr = String(Math.floor(Math.random() * 1e18))): Promise<Request> {
    const { timestamp, nonce } = this.timestampAndNonce();
    const signature = await wechatSignature(this.server.token, timestamp, nonce);
    return new Request(`${url}?${new URLSearchParams({ signature, echostr, timestamp, nonce })}`, { method: 'GET' });
  }

  /**
   * A callback as WeChat posts it: the XML, signed, and in safe or compatible
   * mode encrypted (compatible also keeps the plaintext fields beside Encrypt).
   */
  async callback(url: string, fields: Record<string, string | number | bigint>, options: { at?: number } = {}): Promise<Request> {
    const xml = `<xml>${Object.entries(fields)
      .map(([k, v]) => (typeof v === 'string' ? `<${k}>${cdata(v)}</${k}>` : `<${k}>${v}</${k}>`))
      .join('')}</xml>`;
    const { timestamp, nonce } = this.timestampAndNonce(options.at);
    const { token, encodingAesKey, mode } = this.server;
    const query = new URLSearchParams({ signature: await wechatSignature(token, timestamp, nonce), timestamp, nonce });
    if (typeof fields.FromUserName === 'string') query.set('openid', fields.FromUserName);
    let body = xml;
    if (mode !== 'plain') {
      if (!encodingAesKey) throw new Error(`${mode} mode needs an EncodingAESKey`);
      const encrypt = await encryptMessage(encodingAesKey, xml, this.appId);
      query.set('encrypt_type', 'aes');
      query.set('msg_signature', await wechatSignature(token, timestamp, nonce, encrypt));
      const plain = mode === 'compatible' ? xml.slice('<xml>'.length, -'</xml>'.length) : `<ToUserName>${cdata(this.originalId)}</ToUserName>`;
      body = `<xml>${plain}<Encrypt>${cdata(encrypt)}</Encrypt></xml>`;
    }
    return new Request(`${url}?${query}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body });
  }

  /** Sends a request through the configured webhookFetch, as WeChat does. */
  deliver(request: Request): Promise<Response> {
    return this.webhookFetch(request);
  }

  private message(url: string, openid: string, type: string, fields: Record<string, string | number | bigint>, msgId = this.msgId()): Promise<Request> {
    this.lastInbound.set(openid, this.now());
    return this.callback(url, { ToUserName: this.originalId, FromUserName: openid, CreateTime: Math.floor(this.now() / 1000), MsgType: type, ...fields, MsgId: msgId });
  }

  text(url: string, openid: string, content: string, options: { msgId?: bigint } = {}): Promise<Request> {
    return this.message(url, openid, 'text', { Content: content }, options.msgId);
  }

  image(url: string, openid: string, bytes = new TextEncoder().encode('fake jpeg bytes')): Promise<Request> {
    const mediaId = this.addMedia(bytes, 'image/jpeg');
    return this.message(url, openid, 'image', { PicUrl: `http://mmbiz.qpic.test/mmbiz/${mediaId}/0`, MediaId: mediaId });
  }

  voice(url: string, openid: string, recognition?: string): Promise<Request> {
    const mediaId = this.addMedia(new TextEncoder().encode('#!AMR fake'), 'audio/amr');
    return this.message(url, openid, 'voice', { MediaId: mediaId, Format: 'amr', ...(recognition !== undefined ? { Recognition: recognition } : {}) });
  }

  video(url: string, openid: string, bytes = new TextEncoder().encode('fake mp4 bytes')): Promise<Request> {
    const mediaId = this.addMedia(bytes, 'video/mp4', true);
    return this.message(url, openid, 'video', { MediaId: mediaId, ThumbMediaId: this.addMedia(new Uint8Array(8), 'image/jpeg') });
  }

  location(url: string, openid: string, lat: number, long: number, label: string): Promise<Request> {
    return this.message(url, openid, 'location', { Location_X: lat, Location_Y: long, Scale: 20, Label: label });
  }

  link(url: string, openid: string, title: string, href: string): Promise<Request> {
    return this.message(url, openid, 'link', { Title: title, Description: 'shared link', Url: href });
  }

  /** A tap on an option of the last msgmenu sent to this user: text with the option's content and `bizmsgmenuid`. */
  tapMenu(url: string, openid: string, label: string, options: { msgId?: bigint } = {}): Promise<Request> {
    const menu = [...(this.sent.get(openid) ?? [])].reverse().find((m) => m.msgtype === 'msgmenu')?.msgmenu as { list: { id: string; content: string }[] } | undefined;
    const option = menu?.list.find((o) => o.content === label);
    if (!option) throw new Error(`The last menu sent to ${openid} has no option "${label}"`);
    return this.message(url, openid, 'text', { Content: option.content, bizmsgmenuid: option.id }, options.msgId);
  }

  /** An event push: subscribe (EventKey qrscene_… from a QR code), unsubscribe, SCAN, CLICK, VIEW, LOCATION. */
  event(url: string, openid: string, event: string, eventKey?: string, options: { at?: number } = {}): Promise<Request> {
    if (['subscribe', 'SCAN', 'CLICK'].includes(event)) this.lastInbound.set(openid, this.now());
    const at = options.at ?? this.now();
    return this.callback(
      url,
      { ToUserName: this.originalId, FromUserName: openid, CreateTime: Math.floor(at / 1000), MsgType: 'event', Event: event, ...(eventKey !== undefined ? { EventKey: eventKey } : {}) },
      { at },
    );
  }
}

/** The per-type checks custom/send applies; an errcode for the first problem. */
function checkMessage(body: Json, hasMedia: (id: string) => boolean): number | undefined {
  const part = body[String(body.msgtype)];
  switch (body.msgtype) {
    case 'text':
      return isObject(part) && typeof part.content === 'string' && part.content !== '' ? undefined : 44004;
    case 'image':
    case 'voice':
      return isObject(part) && typeof part.media_id === 'string' && hasMedia(part.media_id) ? undefined : 40007;
    case 'msgmenu': {
      if (!isObject(part) || !Array.isArray(part.list) || part.list.length === 0) return 47001;
      return part.list.every((o) => isObject(o) && typeof o.id === 'string' && typeof o.content === 'string' && o.content !== '') ? undefined : 47001;
    }
    case 'news':
      return isObject(part) && Array.isArray(part.articles) && part.articles.length === 1 ? undefined : 45008;
    default:
      return 40008;
  }
}
