/**
 * A stand-in for X API v2 as the DM channel uses it, speaking its real
 * protocol (paths, auth and shapes from X's OpenAPI, xdevplatform/xdk
 * latest-openapi.json v2.159, and the docs.x.com pages cited in
 * src/channels/twitter.ts):
 *
 * - Auth per endpoint as X's spec lists it. User context is OAuth 1.0a
 *   HMAC-SHA1, verified with the app's and the account's secrets (timestamps
 *   within 5 minutes, nonces single use); app-only is the Bearer token
 *   `POST /oauth2/token` hands out for HTTP Basic consumer key:secret and
 *   `grant_type=client_credentials`. A failed signature is v2's 401 problem;
 *   a Bearer token on a user-context endpoint is X's 403
 *   `unsupported-authentication` problem.
 * - `GET /2/users/me`; `POST|GET|PUT|DELETE /2/webhooks` (registration runs a
 *   CRC, `GET ?crc_token=` with the answer checked, against the URL while the
 *   request waits; https without a port; X's reasons `CrcValidationFailed`,
 *   `UrlValidationFailed`, `DuplicateUrlFailed`, `WebhookLimitExceeded`,
 *   `WebhookIdInvalid`); Account Activity subscriptions (create and validate
 *   as the user, delete app-only; `DuplicateSubscriptionFailed`).
 * - `POST /2/dm_conversations/with/{participant_id}/messages`: only `text`
 *   (non-empty; at most v1.1's 10,000 characters, which v2's spec leaves
 *   unstated) and one `attachments` media id, which must be
 *   the account's own finalized, processed upload; 201 with `dm_event_id`.
 * - The chunked media upload: `initialize` (JSON, no other fields,
 *   media_type from X's enum, the category's size limit), `append`
 *   (multipart `segment_index` 0-999 and `media`), `finalize` (the segments
 *   must add up to `total_bytes`; videos and GIFs answer `processing_info`
 *   pending) and `GET /2/media/upload?command=STATUS`.
 * - Errors as v2 problems (`{title, detail, type, status}`, an invalid
 *   request adding `errors: [{message, parameters}]`); programmed failures
 *   may use the older `{errors: [{code, message}]}` and 429 with
 *   `x-rate-limit-reset` in epoch seconds.
 * - DM media on a private host (ton.twitter.com in production) that refuses
 *   unsigned downloads, and X's side of the webhook: Account Activity bodies
 *   signed with `x-twitter-webhooks-signature` (base64 HMAC-SHA256 of the
 *   exact bytes, keyed by the consumer secret), 64-bit event ids as strings.
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
  /** How the call authenticated: `user` (OAuth 1.0a), `app` (Bearer), `basic` (the token exchange) or none. */
  auth?: 'user' | 'app' | 'basic';
  /** X's error code or problem type when the answer was an error. */
  code?: string;
}

/** A programmed failure for the next DM sends: the status and X's body (a problem or `{errors: [{code, message}]}`). */
export interface TwitterFailure {
  status: number;
  body: Json;
  headers?: Record<string, string>;
}

/** A v2 problem body (RFC 7807, as X's spec defines Problem). */
export const xProblem = (status: number, title: string, detail: string, type = 'about:blank', extra: Json = {}): Json => ({ title, detail, type, status, ...extra });
/** The older error body X still uses for auth, rate limits and capacity. */
export const xErrors = (code: number, message: string): Json => ({ errors: [{ code, message }] });

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
  /** X refuses webhook URLs that are not https or name a port; the test Worker answers on http://parley.test, a local one on a port. */
  httpsOnly?: boolean;
  /** Webhooks the app may hold (1 on Pay Per Use). */
  maxWebhooks?: number;
  /** Media types `initialize` takes (default: X's enum); a narrower list plays an X that refuses a type. */
  mediaTypes?: readonly string[];
}

/** X's media_type enum (MediaUploadConfigRequest) and the DM categories' limits (media best practices: 5 MB images, 15 MB GIFs, 512 MB video). */
export const X_MEDIA_TYPES = ['video/mp4', 'video/webm', 'video/mp2t', 'video/quicktime', 'text/srt', 'text/vtt', 'image/jpeg', 'image/gif', 'image/bmp', 'image/png', 'image/webp', 'image/pjpeg', 'image/tiff', 'model/gltf-binary', 'model/vnd.usdz+zip'] as const;
const MB = 1024 * 1024;
const CATEGORY_LIMITS: Record<string, number> = { dm_image: 5 * MB, dm_gif: 15 * MB, dm_video: 512 * MB, tweet_image: 5 * MB, tweet_gif: 15 * MB, tweet_video: 512 * MB, amplify_video: 512 * MB };
const INVALID_REQUEST = 'https://api.twitter.com/2/problems/invalid-request';

const json = (body: Json, status = 200, headers: Record<string, string> = {}) => Response.json(body, { status, headers });
const problem = (status: number, title: string, detail: string, type?: string, extra?: Json) => json(xProblem(status, title, detail, type, extra), status);
/** An invalid request naming what is wrong, as X's InvalidRequestProblem does. */
const invalid = (message: string, parameters: Record<string, string[]> = {}) =>
  problem(400, 'Invalid Request', 'One or more parameters to your request was invalid.', INVALID_REQUEST, { errors: [{ message, parameters }] });
const unauthorized = () => problem(401, 'Unauthorized', 'Unauthorized');
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
const ID = /^\d{1,19}$/;

type Auth = 'user' | 'app';
interface Upload {
  type: string;
  category: string;
  total: number;
  segments: Map<number, Uint8Array>;
  finalized: boolean;
  /** Status checks left before a video or GIF is processed. */
  pending: number;
}

export class TwitterFake {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly accessToken: string;
  readonly accessTokenSecret: string;
  readonly origin: string;
  /** The account the access token belongs to; its id is above 2^53. */
  readonly account = { id_str: '1318622958123456789', id: 1318622958123456789n, screen_name: 'TacoSupport', name: 'Taco Support' };
  /** The app's Bearer token, as `/oauth2/token` gives it (the same one until invalidated). */
  readonly bearerToken = 'AAAAAAAAAAAAAAAAAAAAAParleyFakeAppToken%2Fx18';
  readonly calls: TwitterCall[] = [];
  readonly webhooks = new Map<string, { url: string; valid: boolean; created_at: string }>();
  /** `${webhookId}:${userId}` of every subscription. */
  readonly subscriptions = new Set<string>();
  /** Every CRC X made, with the status it got and whether the response_token was right. */
  readonly crcChecks: { url: string; status: number; valid: boolean }[] = [];
  /** DMs the account sent, per recipient, in order: X's event id, the body's text and the attached media's bytes and type. */
  readonly sent = new Map<string, { id: string; text?: string; media?: { id: string; type: string; bytes: Uint8Array } }[]>();
  /** Users who do not accept DMs from the account. */
  readonly closed = new Set<string>();
  readonly uploads = new Map<string, Upload>();

  private readonly now: () => number;
  private readonly webhookFetch: (request: Request) => Promise<Response>;
  private readonly httpsOnly: boolean;
  private readonly maxWebhooks: number;
  private readonly mediaTypes: readonly string[];
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
    this.maxWebhooks = options.maxWebhooks ?? 1;
    this.mediaTypes = options.mediaTypes ?? X_MEDIA_TYPES;
  }

  /** A fresh 64-bit id, as a string (X's `id_str`). */
  newId(): string {
    return String(this.nextId++);
  }

  /** The next `n` DM sends fail with this answer (default: 503 Service Unavailable as a problem). */
  failNext(n: number, failure: TwitterFailure = { status: 503, body: xProblem(503, 'Service Unavailable', 'Service Unavailable') }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  callsTo(path: string | RegExp): TwitterCall[] {
    return this.calls.filter((c) => (typeof path === 'string' ? c.path === path : path.test(c.path)));
  }

  dmPath(userId: string): string {
    return `/2/dm_conversations/with/${userId}/messages`;
  }

  // ---- the REST API ------------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const type = request.headers.get('content-type') ?? '';
    let body: unknown;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (type.startsWith('multipart/form-data')) body = await request.formData().catch(() => undefined);
      else {
        const text = new TextDecoder().decode(await request.arrayBuffer());
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
      }
    }
    const auth = await this.authenticate(request, url);
    const response = auth.refused ?? (await this.route(request.method, url, body, auth.as));
    let code: string | undefined;
    if (!response.ok && response.headers.get('content-type')?.includes('json')) {
      const answer = (await response.clone().json()) as { errors?: { code?: number }[]; type?: string };
      code = answer.errors?.[0]?.code !== undefined ? String(answer.errors[0].code) : answer.type;
    }
    const recorded = body instanceof FormData ? Object.fromEntries([...body.entries()].map(([k, x]) => [k, typeof x === 'string' ? x : `<${x.size} bytes>`])) : body;
    this.calls.push({ method: request.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: Object.fromEntries(request.headers), body: recorded, status: response.status, ...(auth.as ? { auth: auth.as } : {}), ...(code !== undefined ? { code } : {}) });
    return response;
  }

  /** Who is calling: the account (a valid OAuth 1.0a signature), the app (its Bearer token), or the token exchange (Basic). */
  private async authenticate(request: Request, url: URL): Promise<{ as?: Auth | 'basic'; refused?: Response }> {
    const header = request.headers.get('authorization') ?? '';
    if (url.pathname === '/oauth2/token') {
      const basic = /^Basic\s+(\S+)$/i.exec(header);
      let decoded = '';
      try {
        decoded = basic ? atob(basic[1]!) : '';
      } catch {
        decoded = '';
      }
      const ok = decoded === `${encodeURIComponent(this.consumerKey)}:${encodeURIComponent(this.consumerSecret)}`;
      return ok ? { as: 'basic' } : { refused: json({ errors: [{ code: 99, label: 'authenticity_token_error', message: 'Unable to verify your credentials' }] }, 403) };
    }
    if (/^Bearer\s/i.test(header)) return header.slice(7).trim() === this.bearerToken ? { as: 'app' } : { refused: json(xErrors(89, 'Invalid or expired token'), 401) };
    const params = parseAuthorizationHeader(header);
    if (!params || params.get('oauth_signature_method') !== 'HMAC-SHA1' || params.get('oauth_version') !== '1.0') return { refused: unauthorized() };
    if (params.get('oauth_consumer_key') !== this.consumerKey || params.get('oauth_token') !== this.accessToken) return { refused: unauthorized() };
    const timestamp = Number(params.get('oauth_timestamp'));
    if (!Number.isFinite(timestamp) || Math.abs(timestamp * 1000 - this.now()) > 300_000) return { refused: unauthorized() };
    const nonce = params.get('oauth_nonce') ?? '';
    if (!nonce || this.nonces.has(nonce)) return { refused: unauthorized() };
    const signed = [...params.entries()].filter(([k]) => k !== 'oauth_signature');
    if (params.get('oauth_signature') !== (await oauthSignature(request.method, request.url, signed, this.consumerSecret, this.accessTokenSecret))) return { refused: unauthorized() };
    this.nonces.add(nonce);
    return { as: 'user' };
  }

  private async route(method: string, url: URL, body: unknown, as: Auth | 'basic' | undefined): Promise<Response> {
    const path = url.pathname;
    // X's OpenAPI `security` per endpoint: user context (OAuth 1.0a), app-only (Bearer), or either.
    const needs = (allowed: Auth[]): Response | undefined => {
      if (as && as !== 'basic' && allowed.includes(as)) return undefined;
      if (as === 'app') return problem(403, 'Unsupported Authentication', 'Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].', 'https://api.twitter.com/2/problems/unsupported-authentication');
      return problem(403, 'Unsupported Authentication', 'Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.  Supported authentication types are [OAuth 2.0 Application-Only].', 'https://api.twitter.com/2/problems/unsupported-authentication');
    };
    if (method === 'POST' && path === '/oauth2/token') {
      return body === 'grant_type=client_credentials' ? json({ token_type: 'bearer', access_token: this.bearerToken }) : json({ errors: [{ code: 170, label: 'forbidden_missing_parameter', message: 'Missing required parameter: grant_type' }] }, 403);
    }
    if (method === 'GET' && path.startsWith('/1.1/ton/data/dm/')) return needs(['user']) ?? this.download(path);
    if (method === 'GET' && path === '/2/users/me') return needs(['user']) ?? json({ data: { id: this.account.id_str, name: this.account.name, username: this.account.screen_name } });

    if (path === '/2/webhooks') {
      if (method === 'POST') return needs(['app', 'user']) ?? this.register(body);
      if (method === 'GET') return needs(['app']) ?? json({ data: [...this.webhooks.entries()].map(([id, h]) => ({ id, ...h })), meta: { result_count: this.webhooks.size } });
    }
    const hook = /^\/2\/webhooks\/(\d{1,19})$/.exec(path);
    if (hook && (method === 'PUT' || method === 'DELETE')) {
      const refused = needs(['app', 'user']);
      if (refused) return refused;
      const webhook = this.webhooks.get(hook[1]!);
      if (!webhook) return invalid('WebhookIdInvalid', { webhook_id: [hook[1]!] });
      if (method === 'DELETE') {
        this.webhooks.delete(hook[1]!);
        for (const s of [...this.subscriptions]) if (s.startsWith(`${hook[1]}:`)) this.subscriptions.delete(s);
        return json({ data: { deleted: true } });
      }
      const check = await this.crc(webhook.url);
      webhook.valid = check.status === 200 && check.valid;
      return webhook.valid ? json({ data: { valid: true } }) : invalid('CrcValidationFailed', { webhook_id: [hook[1]!] });
    }
    const subscription = /^\/2\/account_activity\/webhooks\/(\d{1,19})\/subscriptions\/(?:all|(\d{1,19})\/all)$/.exec(path);
    if (subscription) {
      const [, webhookId, userId] = subscription;
      if (!this.webhooks.has(webhookId!)) return needs(userId ? ['app'] : ['user']) ?? invalid('WebhookIdInvalid', { webhook_id: [webhookId!] });
      if (userId && method === 'DELETE') {
        const refused = needs(['app']);
        if (refused) return refused;
        return this.subscriptions.delete(`${webhookId}:${userId}`) ? json({ data: { subscribed: false } }) : invalid('SubscriptionNotFound', { user_id: [userId] });
      }
      if (!userId && (method === 'POST' || method === 'GET')) {
        const refused = needs(['user']);
        if (refused) return refused;
        const key = `${webhookId}:${this.account.id_str}`;
        if (method === 'GET') return json({ data: { subscribed: this.subscriptions.has(key) } });
        if (this.subscriptions.has(key)) return invalid('DuplicateSubscriptionFailed', { webhook_id: [webhookId!] });
        this.subscriptions.add(key);
        return json({ data: { subscribed: true } });
      }
    }
    const dm = /^\/2\/dm_conversations\/with\/([^/]+)\/messages$/.exec(path);
    if (dm && method === 'POST') return needs(['user']) ?? this.sendDm(decodeURIComponent(dm[1]!), body);

    if (method === 'POST' && path === '/2/media/upload/initialize') return needs(['user']) ?? this.initialize(body);
    const step = /^\/2\/media\/upload\/(\d{1,19})\/(append|finalize)$/.exec(path);
    if (step && method === 'POST') return needs(['user']) ?? (step[2] === 'append' ? this.append(step[1]!, body) : this.finalize(step[1]!));
    if (method === 'GET' && path === '/2/media/upload') return needs(['user']) ?? this.status(url.searchParams);
    return problem(404, 'Not Found Error', `Could not find ${method} ${path}.`);
  }

  // ---- webhooks --------------------------------------------------------------------------------

  /** Registers a webhook only after its CRC passed, as X does while the request waits. */
  private async register(body: unknown): Promise<Response> {
    const target = isObject(body) ? body.url : undefined;
    if (typeof target !== 'string' || target.length < 1 || target.length > 200 || !URL.canParse(target)) return invalid('UrlValidationFailed', { url: [String(target)] });
    const u = new URL(target);
    // X takes only https without a port; a fake serving a local Parley (httpsOnly off) takes its http://localhost:8787 too.
    if (this.httpsOnly && (u.protocol !== 'https:' || u.port !== '')) return invalid('UrlValidationFailed', { url: [target] });
    if ([...this.webhooks.values()].some((h) => h.url === target)) return invalid('DuplicateUrlFailed', { url: [target] });
    if (this.webhooks.size >= this.maxWebhooks) return invalid('WebhookLimitExceeded', { url: [target] });
    const check = await this.crc(target);
    if (check.status !== 200 || !check.valid) return invalid('CrcValidationFailed', { url: [target] });
    const id = this.newId();
    const created_at = new Date(this.now()).toISOString();
    this.webhooks.set(id, { url: target, valid: true, created_at });
    return json({ data: { id, url: target, valid: true, created_at } });
  }

  /** A Challenge-Response Check against a URL (registration, PUT, X's hourly re-check). */
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

  // ---- Direct Messages ---------------------------------------------------------------------------

  private sendDm(recipient: string, body: unknown): Response {
    const failure = this.failures.shift();
    if (failure) return json(failure.body, failure.status, failure.headers);
    if (!ID.test(recipient)) return invalid(`The \`participant_id\` query parameter value [${recipient}] is not valid`, { participant_id: [recipient] });
    if (!isObject(body)) return invalid('The request body is not a JSON object');
    const stray = Object.keys(body).find((k) => k !== 'text' && k !== 'attachments');
    if (stray) return invalid(`[${stray}] is not one of [text, attachments]`, { [stray]: [JSON.stringify(body[stray])] });
    const { text, attachments } = body;
    if (text !== undefined && (typeof text !== 'string' || text.length < 1)) return invalid('$.text: must be a non-empty string', { text: [String(text)] });
    if (typeof text === 'string' && [...text].length > 10_000) return invalid('$.text: must be at most 10000 characters', { text: ['…'] });
    if (text === undefined && attachments === undefined) return invalid('One of text or attachments is required');
    let media: { id: string; type: string; bytes: Uint8Array } | undefined;
    if (attachments !== undefined) {
      if (!Array.isArray(attachments) || attachments.length !== 1 || !isObject(attachments[0]) || typeof attachments[0].media_id !== 'string') return invalid('$.attachments: exactly one {media_id} is supported', { attachments: [JSON.stringify(attachments)] });
      const mediaId = attachments[0].media_id;
      const upload = this.uploads.get(mediaId);
      if (!upload || !upload.finalized || upload.pending > 0) return invalid(`Media id ${mediaId} is not a processed upload of this user`, { media_id: [mediaId] });
      media = { id: mediaId, type: upload.type, bytes: this.bytesOf(upload) };
    }
    if (this.closed.has(recipient)) return problem(403, 'Forbidden', 'You are not permitted to create a DM with the specified participant.');
    const id = this.newId();
    this.sent.set(recipient, [...(this.sent.get(recipient) ?? []), { id, ...(typeof text === 'string' ? { text } : {}), ...(media ? { media } : {}) }]);
    const [a, b] = [this.account.id_str, recipient].sort();
    return json({ data: { dm_conversation_id: `${a}-${b}`, dm_event_id: id } }, 201);
  }

  // ---- chunked media upload ---------------------------------------------------------------------

  private initialize(body: unknown): Response {
    if (!isObject(body)) return invalid('The request body is not a JSON object');
    const stray = Object.keys(body).find((k) => !['media_type', 'total_bytes', 'media_category', 'shared', 'additional_owners'].includes(k));
    if (stray) return invalid(`[${stray}] is not one of [additional_owners, media_category, media_type, shared, total_bytes]`, { [stray]: [String(body[stray])] });
    const { media_type: type, total_bytes: total, media_category: category } = body;
    if (typeof type !== 'string' || !this.mediaTypes.includes(type)) return invalid(`$.media_type: ${String(type)} is not a supported media type`, { media_type: [String(type)] });
    if (typeof category !== 'string' || !(category in CATEGORY_LIMITS)) return invalid(`$.media_category: ${String(category)} is not a supported media category`, { media_category: [String(category)] });
    const family = category.endsWith('_gif') ? type === 'image/gif' : category.endsWith('_image') ? type.startsWith('image/') && type !== 'image/gif' : type.startsWith('video/');
    if (!family) return invalid(`$.media_type: ${type} does not fit media_category ${category}`, { media_type: [type] });
    if (typeof total !== 'number' || !Number.isInteger(total) || total < 1 || total > CATEGORY_LIMITS[category]!) return invalid(`$.total_bytes: must be 1 to ${CATEGORY_LIMITS[category]} for ${category}`, { total_bytes: [String(total)] });
    const id = this.newId();
    this.uploads.set(id, { type, category, total, segments: new Map(), finalized: false, pending: category.endsWith('_video') || category.endsWith('_gif') ? 1 : 0 });
    return json({ data: { id, media_key: `16_${id}`, expires_after_secs: 86_400 } });
  }

  private async append(id: string, body: unknown): Promise<Response> {
    const upload = this.uploads.get(id);
    if (!upload || upload.finalized) return invalid(`Media id ${id} is not an upload in progress`, { id: [id] });
    if (!(body instanceof FormData)) return invalid('append takes multipart/form-data with segment_index and media');
    const index = body.get('segment_index');
    const media = body.get('media');
    if (typeof index !== 'string' || !/^\d{1,3}$/.test(index)) return invalid('$.segment_index: must be 0 to 999', { segment_index: [String(index)] });
    if (!(media instanceof Blob) || media.size === 0 || media.size > 5 * MB) return invalid('$.media: a file of 1 byte to 5 MB is required', { media: ['…'] });
    upload.segments.set(Number(index), new Uint8Array(await media.arrayBuffer()));
    return json({ data: { expires_at: Math.floor(this.now() / 1000) + 86_400 } });
  }

  private finalize(id: string): Response {
    const upload = this.uploads.get(id);
    if (!upload || upload.finalized) return invalid(`Media id ${id} is not an upload in progress`, { id: [id] });
    const indexes = [...upload.segments.keys()].sort((a, b) => a - b);
    const size = [...upload.segments.values()].reduce((n, s) => n + s.byteLength, 0);
    if (indexes.some((x, i) => x !== i) || size !== upload.total) return invalid('Segments do not add up to provided total file size.', { id: [id] });
    upload.finalized = true;
    const processing = upload.pending > 0 ? { processing_info: { state: 'pending', check_after_secs: 1 } } : {};
    return json({ data: { id, media_key: `16_${id}`, size, expires_after_secs: 86_400, ...processing } });
  }

  private status(query: URLSearchParams): Response {
    const id = query.get('media_id') ?? '';
    const upload = this.uploads.get(id);
    if (query.get('command') !== 'STATUS' || !upload || !upload.finalized) return invalid(`Media id ${id} has no status`, { media_id: [id] });
    if (upload.pending > 0) upload.pending--;
    const info = upload.pending > 0 ? { state: 'in_progress', check_after_secs: 1, progress_percent: 50 } : { state: 'succeeded', progress_percent: 100 };
    return json({ data: { id, media_key: `16_${id}`, processing_info: info } });
  }

  private bytesOf(upload: Upload): Uint8Array {
    const out = new Uint8Array(upload.total);
    let at = 0;
    for (const i of [...upload.segments.keys()].sort((a, b) => a - b)) {
      out.set(upload.segments.get(i)!, at);
      at += upload.segments.get(i)!.byteLength;
    }
    return out;
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

  /** A DM from `user` to the account (or, with `echo`, from the account to `user`), in the v2 Account Activity payload. */
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

/** A public file host standing in for wherever a business's media lives (a CDN): GET by path, nothing else. */
export class FileHost {
  readonly files = new Map<string, { bytes: Uint8Array; type: string }>();
  readonly gets: string[] = [];
  constructor(readonly origin = 'https://cdn.test') {}

  add(name: string, bytes: Uint8Array, type: string): string {
    this.files.set(`/${name}`, { bytes, type });
    return `${this.origin}/${name}`;
  }

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    this.gets.push(path);
    const file = this.files.get(path);
    if (request.method !== 'GET' || !file) return new Response('Not Found', { status: 404 });
    return new Response(file.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': file.type, 'content-length': String(file.bytes.byteLength) } });
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes: Uint8Array) => {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};

/**
 * A real PNG (RGB, 8 bits, deflated with the platform's zlib) of noise from a
 * seeded generator: noise does not compress, so its size follows its pixels
 * and a 600×600 image is over X's 1 MiB upload segment.
 */
export async function noisePng(width: number, height: number, seed = 1): Promise<Uint8Array> {
  const raw = new Uint8Array((width * 3 + 1) * height);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < raw.length; i++) {
    if (i % (width * 3 + 1) === 0) continue; // filter byte 0: none
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    raw[i] = x & 0xff;
  }
  const zlib = new Uint8Array(await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream('deflate'))).arrayBuffer());
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
    return out;
  };
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib), chunk('IEND', new Uint8Array())];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    png.set(p, at);
    at += p.length;
  }
  return png;
}
