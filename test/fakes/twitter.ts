/**
 * A stand-in for X's v1.1 API as the DM channel uses it, speaking its real
 * protocol: every call must carry a valid OAuth 1.0a HMAC-SHA1 user-context
 * signature (checked with the app's and the account's secrets, timestamps
 * within 5 minutes, nonces single use), answers and errors in X's shapes
 * (`{errors:[{code, message}]}`, 429 with `x-rate-limit-reset` in epoch
 * seconds), the Account Activity webhook registration that runs a CRC
 * (`GET ?crc_token=`, answer checked) against the URL while the request waits,
 * subscriptions, `direct_messages/events/new` checked against X's documented
 * limits, the typing indicator, and DM media on a private host that refuses
 * unsigned downloads. It also plays X's side of the webhook: Account Activity
 * bodies signed with `x-twitter-webhooks-signature` (base64 HMAC-SHA256 of the
 * exact bytes, keyed by the consumer secret), 64-bit event ids as strings.
 *
 * Web-standard APIs only, so it runs in workerd tests and behind a Node loopback server.
 */
import { oauthSignature } from '../../src/channels/oauth1';
import { hmacBase64 } from '../../src/channels/signing';

type Json = Record<string, unknown>;

/** The parameters of an `OAuth k="v", ...` header, decoded, as X reads them; undefined when it is not one. */
export function parseAuthorizationHeader(header: string | null): Map<string, string> | undefined {
  if (!header || !/^OAuth\s/i.test(header)) return undefined;
  const params = new Map<string, string>();
  for (const m of header.slice(6).matchAll(/([A-Za-z0-9_%.-]+)="([^"]*)"/g)) {
    try {
      params.set(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
    } catch {
      return undefined;
    }
  }
  return params;
}

export interface XUser {
  id: string;
  name?: string;
  screen_name?: string;
  profile_image_url_https?: string;
}

export interface TwitterCall {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
  status: number;
  /** X's error code when the answer was an error. */
  code?: number;
}

/** A programmed failure for the next DM sends. */
export interface TwitterFailure {
  status: number;
  code: number;
  message: string;
  headers?: Record<string, string>;
}

export interface TwitterFakeOptions {
  consumerKey?: string;
  consumerSecret?: string;
  accessToken?: string;
  accessTokenSecret?: string;
  /** Where the fake lives (its DM media links point here, as ton.twitter.com's do in production). */
  origin?: string;
  now?: () => number;
  /** How CRC checks and callbacks reach Parley (defaults to the global fetch). */
  webhookFetch?: (request: Request) => Promise<Response>;
  /** X refuses webhook URLs that are not https; the test Worker answers on http://parley.test. */
  httpsOnly?: boolean;
  /** Webhooks the app may hold (enterprise packages; a sandbox environment holds one). */
  maxWebhooks?: number;
}

const error = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  Response.json({ errors: [{ code, message }] }, { status, headers });
const NOT_FOUND = () => error(404, 34, 'Sorry, that page does not exist.');
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

export class TwitterFake {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly accessToken: string;
  readonly accessTokenSecret: string;
  readonly origin: string;
  /** The account the access token belongs to; its id is above 2^53. */
  readonly account = { id_str: '1318622958123456789', id: 1318622958123456789n, screen_name: 'TacoSupport', name: 'Taco Support' };
  readonly calls: TwitterCall[] = [];
  readonly webhooks = new Map<string, { url: string; env?: string; valid: boolean }>();
  /** `${webhookId}:${userId}` (enterprise) or `env:${envName}:${userId}` of every subscription. */
  readonly subscriptions = new Set<string>();
  /** Every CRC X made, with the status it got and whether the response_token was right. */
  readonly crcChecks: { url: string; status: number; valid: boolean }[] = [];
  /** DMs the account sent, per recipient, in order. */
  readonly sent = new Map<string, Json[]>();
  /** Users who do not accept DMs from the account (error 349). */
  readonly closed = new Set<string>();

  private readonly now: () => number;
  private readonly webhookFetch: (request: Request) => Promise<Response>;
  private readonly httpsOnly: boolean;
  private readonly maxWebhooks: number;
  private readonly failures: TwitterFailure[] = [];
  private readonly nonces = new Set<string>();
  private readonly media = new Map<string, { bytes: Uint8Array; mimeType: string }>();
  private nextId = 9_007_199_254_740_993n;

  constructor(options: TwitterFakeOptions = {}) {
    this.consumerKey = options.consumerKey ?? 'xvz1evFS4wEEPTGEFPHBog';
    this.consumerSecret = options.consumerSecret ?? 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw';
    this.accessToken = options.accessToken ?? '1318622958123456789-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb';
    this.accessTokenSecret = options.accessTokenSecret ?? 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE';
    this.origin = options.origin ?? 'https://api.twitter.test';
    this.now = options.now ?? (() => Date.now());
    this.webhookFetch = options.webhookFetch ?? ((request) => fetch(request));
    this.httpsOnly = options.httpsOnly ?? true;
    this.maxWebhooks = options.maxWebhooks ?? 2;
  }

  /** A fresh 64-bit id, as a string (X's `id_str`). */
  newId(): string {
    return String(this.nextId++);
  }

  failNext(n: number, failure: TwitterFailure = { status: 503, code: 130, message: 'Over capacity' }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  callsTo(path: string): TwitterCall[] {
    return this.calls.filter((c) => c.path === path);
  }

  // ---- the REST API ------------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const text = request.method === 'GET' || request.method === 'HEAD' ? '' : await request.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const response = await this.route(request, url, body);
    let code: number | undefined;
    if (!response.ok && response.headers.get('content-type')?.includes('json')) code = ((await response.clone().json()) as { errors?: { code: number }[] }).errors?.[0]?.code;
    this.calls.push({ method: request.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: Object.fromEntries(request.headers), body, status: response.status, ...(code !== undefined ? { code } : {}) });
    return response;
  }

  /** The OAuth 1.0a check X makes on every call: 32 for a bad signature or key, 135 for a clock off by more than 5 minutes. */
  private async authenticate(request: Request): Promise<Response | undefined> {
    const params = parseAuthorizationHeader(request.headers.get('authorization'));
    const bad = () => error(401, 32, 'Could not authenticate you.');
    if (!params || params.get('oauth_signature_method') !== 'HMAC-SHA1' || params.get('oauth_version') !== '1.0') return bad();
    if (params.get('oauth_consumer_key') !== this.consumerKey || params.get('oauth_token') !== this.accessToken) return bad();
    const timestamp = Number(params.get('oauth_timestamp'));
    if (!Number.isFinite(timestamp) || Math.abs(timestamp * 1000 - this.now()) > 300_000) return error(401, 135, 'Timestamp out of bounds.');
    const nonce = params.get('oauth_nonce') ?? '';
    if (!nonce || this.nonces.has(nonce)) return bad();
    const given = params.get('oauth_signature');
    const signed = [...params.entries()].filter(([k]) => k !== 'oauth_signature');
    const expected = await oauthSignature(request.method, request.url, signed, this.consumerSecret, this.accessTokenSecret);
    if (given !== expected) return bad();
    this.nonces.add(nonce);
    return undefined;
  }

  private async route(request: Request, url: URL, body: unknown): Promise<Response> {
    const refused = await this.authenticate(request);
    if (refused) return refused;
    const path = url.pathname;
    const method = request.method;
    if (method === 'GET' && path.startsWith('/1.1/ton/data/dm/')) return this.download(path);
    if (method === 'GET' && path === '/1.1/account/verify_credentials.json') {
      return Response.json({ id: this.account.id.toString(), id_str: this.account.id_str, screen_name: this.account.screen_name, name: this.account.name, protected: false }, { headers: { 'content-type': 'application/json' } });
    }
    if (method === 'POST' && path === '/1.1/direct_messages/events/new.json') return this.sendDm(request, body);
    if (method === 'POST' && path === '/1.1/direct_messages/indicate_typing.json') {
      return /^\d+$/.test(url.searchParams.get('recipient_id') ?? '') ? new Response(null, { status: 204 }) : error(400, 214, 'recipient_id is required.');
    }
    const hooks = /^\/1\.1\/account_activity\/(?:all\/([A-Za-z0-9_-]+)\/)?webhooks(?:\/(\d+))?(\/subscriptions\/all)?\.json$/.exec(path);
    if (hooks) {
      const [, env, webhookId, subscribe] = hooks;
      if (method === 'POST' && !webhookId) return this.register(url.searchParams.get('url'), env);
      if (method === 'DELETE' && webhookId && !subscribe) return this.webhooks.delete(webhookId) ? new Response(null, { status: 204 }) : error(404, 34, 'Webhook does not exist or is associated with a different twitter application.');
      // Enterprise subscriptions name the webhook; they belong to the token's user.
      if (method === 'POST' && webhookId && subscribe && !env) {
        if (!this.webhooks.has(webhookId)) return error(404, 34, 'Webhook does not exist or is associated with a different twitter application.');
        return this.subscribe(webhookId);
      }
    }
    // A dev environment's subscriptions belong to the environment: they outlive its webhook.
    const premium = /^\/1\.1\/account_activity\/all\/([A-Za-z0-9_-]+)\/subscriptions\.json$/.exec(path);
    if (premium && method === 'POST') {
      const hook = [...this.webhooks.entries()].find(([, h]) => h.env === premium[1]);
      return hook ? this.subscribe(`env:${premium[1]}`) : error(403, 200, 'Forbidden.');
    }
    return NOT_FOUND();
  }

  /** Subscribes the token's user under a webhook id (enterprise) or `env:<name>` (premium, sandbox). */
  private subscribe(scope: string): Response {
    const key = `${scope}:${this.account.id_str}`;
    if (this.subscriptions.has(key)) return error(409, 355, 'Subscription already exists.');
    this.subscriptions.add(key);
    return new Response(null, { status: 204 });
  }

  /** Registers a webhook only after its CRC passed, as X does while the request waits. */
  private async register(target: string | null, env: string | undefined): Promise<Response> {
    if (!target || !URL.canParse(target) || (this.httpsOnly && new URL(target).protocol !== 'https:')) return error(403, 214, 'Webhook URL does not meet the requirements. Please use HTTPS.');
    const held = [...this.webhooks.values()].filter((h) => h.env === env).length;
    if (held >= (env ? 1 : this.maxWebhooks)) return error(403, 214, 'Too many resources already created.');
    const check = await this.crc(target);
    if (check.status !== 200) return error(403, 214, 'Non-200 response code during CRC GET request (i.e. 404, 500, etc).');
    if (!check.valid) return error(403, 214, 'Webhook URL does not meet the requirements. Invalid CRC token or json response format.');
    const id = this.newId();
    this.webhooks.set(id, { url: target, valid: true, ...(env ? { env } : {}) });
    return Response.json({ id, url: target, valid: true, created_timestamp: '2026-12-06 21:00:00 +0000' });
  }

  /** A Challenge-Response Check against a URL (registration, X's periodic re-check). */
  async crc(target: string): Promise<{ status: number; valid: boolean }> {
    const token = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))));
    const u = new URL(target);
    u.searchParams.set('crc_token', token);
    let status = 0;
    let valid = false;
    try {
      const res = await this.webhookFetch(new Request(u, { method: 'GET' }));
      status = res.status;
      const answer = (await res.json().catch(() => undefined)) as { response_token?: unknown } | undefined;
      valid = answer?.response_token === `sha256=${await hmacBase64('SHA-256', this.consumerSecret, token)}`;
    } catch {
      status = 0;
    }
    this.crcChecks.push({ url: target, status, valid });
    return { status, valid };
  }

  private sendDm(request: Request, body: unknown): Response {
    if (!request.headers.get('content-type')?.includes('application/json')) return error(415, 38, 'Content-Type must be application/json.');
    const failure = this.failures.shift();
    if (failure) return error(failure.status, failure.code, failure.message, failure.headers);
    const event = isObject(body) && isObject(body.event) ? body.event : undefined;
    const create = event?.type === 'message_create' && isObject(event.message_create) ? event.message_create : undefined;
    const recipient = create && isObject(create.target) ? create.target.recipient_id : undefined;
    const data = create && isObject(create.message_data) ? create.message_data : undefined;
    if (!create || typeof recipient !== 'string' || !/^\d+$/.test(recipient) || !data) return error(400, 214, 'event.message_create.target.recipient_id: field is required');
    const problem = checkMessageData(data);
    if (problem) return error(400, 214, problem);
    if (this.closed.has(recipient)) return error(403, 349, 'You cannot send messages to this user.');
    const sent = { type: 'message_create', id: this.newId(), created_timestamp: String(this.now()), message_create: { target: { recipient_id: recipient }, sender_id: this.account.id_str, source_app_id: '268278', message_data: data } };
    this.sent.set(recipient, [...(this.sent.get(recipient) ?? []), sent]);
    return Response.json({ event: sent });
  }

  // ---- DM media (ton.twitter.com in production) -------------------------------------------

  private download(path: string): Response {
    const file = this.media.get(path);
    return file ? new Response(file.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': file.mimeType, 'content-length': String(file.bytes.byteLength) } }) : new Response('Not Found', { status: 404 });
  }

  /** Serves bytes at a private DM media URL: only OAuth-signed GETs get them. */
  addMedia(bytes: Uint8Array, mimeType: string, name: string, dmId: string): string {
    const path = `/1.1/ton/data/dm/${dmId}/${this.newId()}/${name}`;
    this.media.set(path, { bytes, mimeType });
    return `${this.origin}${path}`;
  }

  // ---- X's side of the webhook --------------------------------------------------------------

  /** An Account Activity POST: the exact bytes, signed with the consumer secret. */
  async signed(url: string, body: Json | string, secret = this.consumerSecret): Promise<Request> {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const signature = `sha256=${await hmacBase64('SHA-256', secret, raw)}`;
    return new Request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-twitter-webhooks-signature': signature }, body: raw });
  }

  deliver(request: Request): Promise<Response> {
    return this.webhookFetch(request);
  }

  private users(...list: XUser[]): Json {
    const me = { id: this.account.id_str, name: this.account.name, screen_name: this.account.screen_name, profile_image_url_https: 'https://pbs.twimg.com/profile_images/1/taco_normal.jpg' };
    return Object.fromEntries([...list.map((u) => [u.id, { screen_name: `user${u.id.slice(-4)}`, name: 'X user', profile_image_url_https: null, ...u }]), [me.id, me]]);
  }

  /** A DM from `user` to the account (or, with `echo`, from the account to `user`). */
  message(url: string, user: XUser, messageData: Json, options: { id?: string; createdAt?: number; echo?: boolean; forUserId?: string } = {}): Promise<Request> {
    const id = options.id ?? this.newId();
    const [from, to] = options.echo ? [this.account.id_str, user.id] : [user.id, this.account.id_str];
    return this.signed(url, {
      for_user_id: options.forUserId ?? this.account.id_str,
      direct_message_events: [
        { type: 'message_create', id, created_timestamp: String(options.createdAt ?? this.now()), message_create: { target: { recipient_id: to }, sender_id: from, source_app_id: '3033300', message_data: { entities: { hashtags: [], symbols: [], user_mentions: [], urls: [] }, ...messageData } } },
      ],
      users: this.users(user),
    });
  }

  text(url: string, user: XUser, text: string, options: { id?: string; createdAt?: number; echo?: boolean; forUserId?: string } = {}): Promise<Request> {
    return this.message(url, user, { text }, options);
  }

  /** A photo as X delivers it: the text ends with the media's t.co link, the image behind OAuth on the media host. */
  photo(url: string, user: XUser, options: { caption?: string; bytes?: Uint8Array } = {}): Promise<Request> {
    const id = this.newId();
    const bytes = options.bytes ?? new TextEncoder().encode('fake jpeg bytes');
    const mediaUrl = this.addMedia(bytes, 'image/jpeg', 'oP5p359h.jpg', id);
    const tco = 'https://t.co/M9Ow7yZxkQ';
    return this.message(
      url,
      user,
      {
        text: [options.caption, tco].filter(Boolean).join(' '),
        attachment: { type: 'media', media: { id: Number(this.nextId), id_str: this.newId(), media_url: mediaUrl, media_url_https: mediaUrl, url: tco, display_url: 'pic.twitter.com/M9Ow7yZxkQ', type: 'photo', sizes: {} } },
      },
      { id },
    );
  }

  /** A tap on a quick reply option of the last DM the account sent this user: the label as text, the option's metadata returned. */
  tap(url: string, user: XUser, label: string, event: { id?: string } = {}): Promise<Request> {
    const last = [...(this.sent.get(user.id) ?? [])].reverse().find((e) => isObject((e.message_create as Json).message_data) && ((e.message_create as Json).message_data as Json).quick_reply);
    const options = (((last?.message_create as Json | undefined)?.message_data as Json | undefined)?.quick_reply as { options: { label: string; metadata?: string }[] } | undefined)?.options ?? [];
    const option = options.find((o) => o.label === label);
    if (!option) throw new Error(`The account's last quick reply to ${user.id} has no option "${label}"`);
    return this.message(url, user, { text: label, quick_reply_response: { type: 'options', ...(option.metadata !== undefined ? { metadata: option.metadata } : {}) } }, event);
  }

  typing(url: string, user: XUser): Promise<Request> {
    return this.signed(url, { for_user_id: this.account.id_str, direct_message_indicate_typing_events: [{ created_timestamp: String(this.now()), sender_id: user.id, target: { recipient_id: this.account.id_str } }], users: this.users(user) });
  }

  read(url: string, user: XUser, lastReadEventId: string): Promise<Request> {
    return this.signed(url, {
      for_user_id: this.account.id_str,
      direct_message_mark_read_events: [{ created_timestamp: String(this.now()), sender_id: user.id, target: { recipient_id: this.account.id_str }, last_read_event_id: lastReadEventId }],
      users: this.users(user),
    });
  }
}

/** X's documented limits on message_data; the first problem as X's message. */
function checkMessageData(data: Json): string | undefined {
  if (typeof data.text !== 'string' || (data.text === '' && !isObject(data.attachment))) return 'event.message_create.message_data.text: field is required';
  if ([...data.text].length > 10_000) return 'event.message_create.message_data.text: must be at most 10000 characters';
  if (data.quick_reply !== undefined) {
    const q = data.quick_reply;
    if (!isObject(q) || q.type !== 'options' || !Array.isArray(q.options) || q.options.length === 0 || q.options.length > 20) return 'quick_reply: must have type options and 1 to 20 options';
    const withDescription = q.options.filter((o) => isObject(o) && o.description !== undefined).length;
    if (withDescription !== 0 && withDescription !== q.options.length) return 'quick_reply.options: description must be set on every option or none';
    for (const o of q.options) {
      if (!isObject(o) || typeof o.label !== 'string' || o.label === '' || o.label.length > 36) return 'quick_reply.options.label: must be 1 to 36 characters';
      if (/https?:\/\//i.test(o.label)) return 'quick_reply.options.label: must not contain a URL';
      if (o.metadata !== undefined && (typeof o.metadata !== 'string' || o.metadata.length > 1000)) return 'quick_reply.options.metadata: must be at most 1000 characters';
      if (o.description !== undefined && (typeof o.description !== 'string' || o.description.length > 72)) return 'quick_reply.options.description: must be at most 72 characters';
    }
  }
  if (data.ctas !== undefined) {
    const ctas = data.ctas;
    if (!Array.isArray(ctas) || ctas.length === 0 || ctas.length > 3) return 'ctas: 1 to 3 buttons';
    for (const c of ctas) {
      if (!isObject(c) || c.type !== 'web_url' || typeof c.url !== 'string' || !URL.canParse(c.url) || typeof c.label !== 'string' || c.label === '' || c.label.length > 36) return 'ctas: each must be a web_url with a label and a url';
    }
  }
  return undefined;
}
