/**
 * A stand-in for Meta's Graph API as WhatsApp Cloud API, Messenger and
 * Instagram integrations use it: `/{version}/{PHONE_NUMBER_ID}/messages`,
 * `/{version}/{PAGE_ID}/messages` (and `/me/messages`), `/{version}/me`, the
 * phone-number and media lookups, the User Profile API of Messenger and
 * Instagram (`/{version}/{PSID|IGSID}?fields=`), the Bearer-protected WhatsApp
 * media download and an unauthenticated CDN for Messenger attachments. Answers and errors use
 * Graph's shapes (`{"error":{message,type,code,error_subcode,fbtrace_id}}`).
 *
 * It keeps Meta's messaging windows from the inbound events it built itself:
 * WhatsApp refuses non-template sends with 131047 once the user has been
 * silent for 24 hours; Messenger refuses RESPONSE sends after 24 hours and
 * HUMAN_AGENT-tagged sends after 7 days with 10/2018278.
 *
 * It also plays Meta's webhook side: `fake.whatsapp.*`, `fake.messenger.*`
 * and `fake.instagram.*` build inbound requests the way Meta sends them —
 * non-ASCII as lowercase `\u00e4` escapes, `/` as `\/`, signed with
 * `X-Hub-Signature-256` and `X-Hub-Signature` over exactly those bytes — and
 * `deliver` retries them with backoff on non-2xx. Web-standard APIs only, so
 * the same class runs in workerd tests and behind a Node loopback server.
 */
import { hmacHex, sha256Hex } from '../../src/channels/signing';

type Json = Record<string, unknown>;

export interface FakeCall {
  method: string;
  /** The path as called, without the query. */
  path: string;
  headers: Record<string, string>;
  /** The JSON body, or the query parameters of a GET. */
  body: unknown;
  /** What the fake answered. */
  status: number;
}

export interface Failure {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface WhatsAppUser {
  /** The user's WhatsApp id: their phone number in digits, without `+`. */
  waId: string;
  name?: string;
}

export interface MetaFakeOptions {
  /** Signs every webhook; Meta's App Secret. */
  appSecret?: string;
  /** Wall clock in ms: message times, the messaging windows. */
  now?: () => number;
  /** Where links to the fake's own CDN point (the served fake's address). */
  origin?: string;
  whatsapp?: { phoneNumberId?: string; displayPhoneNumber?: string; accessToken?: string; wabaId?: string; managementAccessToken?: string };
  page?: { id?: string; name?: string; accessToken?: string; instagram?: { id: string; username: string; name: string } | null };
}

export interface DeliverOptions {
  fetch?: (request: Request) => Promise<Response>;
  attempts?: number;
  /** Wait before attempt n+1 after attempt n failed (Meta: immediately, then less and less often). */
  delayMs?: (attempt: number) => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface Delivery {
  delivered: boolean;
  attempts: number;
  statuses: number[];
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * Graph errors the tests program by name, as Meta answers them. `190` is the
 * page-endpoint form; WhatsApp answers an invalid token with HTTP 401.
 */
export const GRAPH_ERRORS = {
  '131047': {
    status: 400,
    error: {
      message: '(#131047) Re-engagement message',
      type: 'OAuthException',
      code: 131047,
      error_data: { messaging_product: 'whatsapp', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
    },
  },
  '130429': {
    status: 400,
    error: { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, error_data: { messaging_product: 'whatsapp', details: 'Cloud API message throughput has been reached.' } },
  },
  '131056': {
    status: 400,
    error: {
      message: '(#131056) (Business Account, Consumer Account) pair rate limit hit',
      type: 'OAuthException',
      code: 131056,
      error_data: { messaging_product: 'whatsapp', details: 'Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.' },
    },
  },
  '131026': {
    status: 400,
    error: { message: '(#131026) Message Undeliverable.', type: 'OAuthException', code: 131026, error_data: { messaging_product: 'whatsapp', details: 'Message failed to send because the recipient is not on WhatsApp.' } },
  },
  '131000': {
    status: 500,
    error: { message: '(#131000) Something went wrong', type: 'OAuthException', code: 131000, error_data: { messaging_product: 'whatsapp', details: 'Message failed to send due to an unknown error.' } },
  },
  '10/2018278': { status: 400, error: { message: '(#10) This message is sent outside of allowed window.', type: 'OAuthException', code: 10, error_subcode: 2018278 } },
  '100/2018001': { status: 400, error: { message: '(#100) No matching user found', type: 'OAuthException', code: 100, error_subcode: 2018001 } },
  '190': { status: 400, error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190 } },
  '4': { status: 400, error: { message: '(#4) Application request limit reached', type: 'OAuthException', code: 4, is_transient: true } },
  '613': { status: 400, error: { message: '(#613) Calls to this api have exceeded the rate limit.', type: 'OAuthException', code: 613 } },
  '2': { status: 503, error: { message: 'An unexpected error has occurred. Please retry your request later.', type: 'OAuthException', code: 2, is_transient: true } },
} as const;
export type GraphErrorName = keyof typeof GRAPH_ERRORS;

/** Meta's webhook encoding: `/` and every non-ASCII code unit escaped, lowercase hex. */
export function metaJson(body: unknown): string {
  return JSON.stringify(body)
    .replace(/\//g, '\\/')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A message template as the Business Management API describes it (components in Meta's upper-case form). */
export interface WhatsAppTemplate {
  id: string;
  name: string;
  language: string;
  status: string;
  category: string;
  components: Record<string, unknown>[];
}

interface Stored {
  bytes: Uint8Array;
  mimeType: string;
}

interface Seen {
  channel: 'whatsapp' | 'page' | 'instagram';
  lastInbound: number;
}

export class MetaFake {
  readonly calls: FakeCall[] = [];
  readonly appSecret: string;
  readonly origin: string;
  readonly wa: { phoneNumberId: string; displayPhoneNumber: string; accessToken: string; wabaId: string; managementAccessToken: string };
  /** The WhatsApp Business Account's message templates, as `GET /{wabaId}/message_templates` lists them. */
  readonly templates: WhatsAppTemplate[] = [];
  readonly page: { id: string; name: string; accessToken: string; instagram: { id: string; username: string; name: string } | null };
  private readonly clock: () => number;
  private readonly failures: Failure[] = [];
  private readonly users = new Map<string, Seen>();
  private readonly profiles = new Map<string, Record<string, string | null>>();
  private readonly media = new Map<string, Stored>();
  private readonly cdn = new Map<string, Stored>();
  private counter = 0;

  /** Inbound builders per product; each returns a signed `Request` for Parley's webhook URL. */
  readonly whatsapp = this.whatsappBuilders();
  readonly messenger = this.pageBuilders('page');
  readonly instagram = this.pageBuilders('instagram');

  constructor(options: MetaFakeOptions = {}) {
    this.appSecret = options.appSecret ?? 'app_secret_123';
    this.clock = options.now ?? Date.now;
    this.origin = (options.origin ?? 'https://meta.fake').replace(/\/+$/, '');
    this.wa = {
      phoneNumberId: options.whatsapp?.phoneNumberId ?? '106540352242922',
      displayPhoneNumber: options.whatsapp?.displayPhoneNumber ?? '+1 555-078-3881',
      accessToken: options.whatsapp?.accessToken ?? 'EAAGwhatsappTestToken',
      wabaId: options.whatsapp?.wabaId ?? '102290129340398',
      managementAccessToken: options.whatsapp?.managementAccessToken ?? 'EAAGwabaManagementToken',
    };
    this.page = {
      id: options.page?.id ?? '110000000000001',
      name: options.page?.name ?? 'Parley Test Page',
      accessToken: options.page?.accessToken ?? 'EAAGpageTestToken',
      instagram: options.page?.instagram === undefined ? { id: '17841400000000001', username: 'parley.test', name: 'Parley Test' } : options.page.instagram,
    };
  }

  now(): number {
    return this.clock();
  }

  // ---- programming failures and windows --------------------------------------------------

  /** The next `n` API calls answer `failure` instead of being served. */
  failNext(n: number, failure: Failure = { status: 500 }): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** The next `n` API calls answer one of Meta's real error envelopes. */
  errorNext(name: GraphErrorName, n = 1, headers?: Record<string, string>): void {
    const { status, error } = GRAPH_ERRORS[name];
    this.failNext(n, { status, body: { error: { ...error, fbtrace_id: this.traceId() } }, ...(headers ? { headers } : {}) });
  }

  /** Records that a user wrote at `at` (defaults to now): opens their messaging window. */
  seen(userId: string, channel: Seen['channel'], at = this.now()): void {
    this.users.set(userId, { channel, lastInbound: at });
  }

  /** Successful message sends (not lookups, typing or failures). */
  sent(): FakeCall[] {
    return this.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/messages') && c.status === 200 && !('sender_action' in (c.body as Json)));
  }

  // ---- the Graph API -----------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => (headers[name] = value));
    const body = request.method === 'GET' ? Object.fromEntries(url.searchParams) : await request.text().then((t) => (t ? safeJson(t) : undefined));
    const failure = this.failures.shift();
    const response = failure
      ? Response.json(failure.body ?? { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 2, fbtrace_id: this.traceId() } }, {
          status: failure.status,
          headers: failure.headers ?? {},
        })
      : await this.route(request, url, body);
    this.calls.push({ method: request.method, path: url.pathname, headers, body, status: response.status });
    return response;
  }

  private async route(request: Request, url: URL, body: unknown): Promise<Response> {
    const path = url.pathname;
    if (request.method === 'GET' && path === '/whatsapp_business/attachments/') return this.download(request, url);
    if (request.method === 'GET' && path.startsWith('/cdn/')) return this.cdnFile(path.slice('/cdn/'.length));
    const m = /^\/(v\d+\.\d+)\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (!m) return this.graphError(400, { message: `Unknown path components: ${path}`, type: 'OAuthException', code: 2500 });
    const [, , node, edge] = m as unknown as [string, string, string, string | undefined];
    const isWhatsApp = node === this.wa.phoneNumberId || this.media.has(node);
    const isWaba = node === this.wa.wabaId;
    const token = bearer(request, url);
    if (token === undefined) return this.graphError(400, { message: 'An access token is required to request this resource.', type: 'OAuthException', code: 104 });
    const expected = isWaba ? this.wa.managementAccessToken : isWhatsApp ? this.wa.accessToken : this.page.accessToken;
    if (token !== expected) return this.graphError(isWhatsApp || isWaba ? 401 : 400, { ...GRAPH_ERRORS['190'].error });
    if (isWaba && edge === 'message_templates' && request.method === 'GET') return this.listTemplates(url);

    if (node === this.wa.phoneNumberId && edge === undefined && request.method === 'GET') {
      return Response.json({ display_phone_number: this.wa.displayPhoneNumber, id: this.wa.phoneNumberId });
    }
    if (node === this.wa.phoneNumberId && edge === 'messages' && request.method === 'POST') return this.whatsappSend(body);
    if (this.media.has(node) && edge === undefined && request.method === 'GET') return this.mediaLookup(url, node);
    if (node === 'me' && edge === undefined && request.method === 'GET') return this.me(url);
    const pageNodes = [this.page.id, 'me', ...(this.page.instagram ? [this.page.instagram.id] : [])];
    if (pageNodes.includes(node) && edge === 'messages' && request.method === 'POST') return this.pageSend(body);
    const person = this.users.get(node);
    if (person && person.channel !== 'whatsapp' && edge === undefined && request.method === 'GET') return this.userProfile(url, node, person.channel);
    return this.graphError(400, {
      message: `Unsupported ${request.method.toLowerCase()} request. Object with ID '${node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
      type: 'GraphMethodException',
      code: 100,
      error_subcode: 33,
    });
  }

  private graphError(status: number, error: Json): Response {
    return Response.json({ error: { ...error, fbtrace_id: this.traceId() } }, { status });
  }

  private named(name: GraphErrorName): Response {
    const { status, error } = GRAPH_ERRORS[name];
    return this.graphError(status, { ...error });
  }

  private invalid(message: string, code = 100): Response {
    return this.graphError(400, { message: `(#${code}) ${message}`, type: 'OAuthException', code });
  }

  private me(url: URL): Response {
    const fields = url.searchParams.get('fields') ?? 'id,name';
    const out: Json = { id: this.page.id };
    if (fields.includes('name')) out.name = this.page.name;
    if (fields.includes('instagram_business_account') && this.page.instagram) out.instagram_business_account = { ...this.page.instagram };
    return Response.json(out);
  }

  // ---- User Profile API (Messenger PSIDs, Instagram IGSIDs) -------------------------------------

  /** Sets what the User Profile API answers for a user (Messenger: first_name, last_name, profile_pic; Instagram: name, username, profile_pic). */
  setProfile(userId: string, profile: Record<string, string | null>): void {
    this.profiles.set(userId, profile);
  }

  /** Profile lookups made so far (GET on a user's node), optionally for one user. */
  profileLookups(userId?: string): FakeCall[] {
    return this.calls.filter((c) => c.method === 'GET' && /^\/v\d+\.\d+\/[^/]+$/.test(c.path) && c.path.split('/')[2] !== 'me' && (userId === undefined || c.path.split('/')[2] === userId) && 'fields' in (c.body as Json));
  }

  /**
   * `GET /{PSID|IGSID}?fields=...`, only for someone who wrote to the Page or
   * account (Meta: consent comes with the first message). The answer holds
   * the asked fields that are set, plus `id`; a field the node type does not
   * have is Graph's (#100) error.
   */
  private userProfile(url: URL, userId: string, channel: 'page' | 'instagram'): Response {
    const known = channel === 'page' ? ['id', 'first_name', 'last_name', 'name', 'profile_pic', 'locale', 'timezone', 'gender'] : ['id', 'name', 'username', 'profile_pic', 'follower_count', 'is_verified_user', 'is_user_follow_business', 'is_business_follow_user'];
    const fields = (url.searchParams.get('fields') ?? 'id').split(',').map((f) => f.trim()).filter(Boolean);
    const stray = fields.find((f) => !known.includes(f));
    if (stray) return this.invalid(`Tried accessing nonexisting field (${stray}) on node type (${channel === 'page' ? 'User' : 'InstagramUser'})`);
    const tail = userId.slice(-4);
    const profile = this.profiles.get(userId) ?? (channel === 'page' ? { first_name: 'Test', last_name: `User ${tail}`, profile_pic: `${this.origin}/cdn/profile-${userId}.jpg` } : { name: `Test User ${tail}`, username: `test.user.${tail}`, profile_pic: `${this.origin}/cdn/profile-${userId}.jpg` });
    const out: Json = { id: userId };
    for (const f of fields) if (f in profile && profile[f] !== null) out[f] = profile[f];
    return Response.json(out);
  }

  // ---- WhatsApp Cloud API ------------------------------------------------------------------

  private whatsappSend(raw: unknown): Response {
    const body = (raw ?? {}) as Json;
    if (body.messaging_product !== 'whatsapp') return this.invalid('The parameter messaging_product is required.');
    if (body.status === 'read') return typeof body.message_id === 'string' ? Response.json({ success: true }) : this.invalid('The parameter message_id is required.');
    if (typeof body.to !== 'string' || !/^\+?\d{5,20}$/.test(body.to)) return this.invalid('The parameter to is required.');
    const type = body.type;
    const known = ['text', 'image', 'audio', 'video', 'document', 'sticker', 'location', 'interactive', 'template', 'reaction', 'contacts'];
    if (typeof type !== 'string' || !known.includes(type)) return this.invalid(`Param type must be one of {${known.join(', ')}}`);
    const content = body[type] as Json | undefined;
    if (typeof content !== 'object' || content === null) return this.invalid(`The parameter ${type} is required.`);
    const problem = checkWhatsApp(type, content);
    if (problem) return this.graphError(400, { message: '(#131009) Parameter value is not valid', type: 'OAuthException', code: 131009, error_data: { messaging_product: 'whatsapp', details: problem } });
    const waId = body.to.replace(/^\+/, '');
    const seen = this.users.get(waId);
    if (type !== 'template' && (!seen || this.now() - seen.lastInbound > DAY)) return this.named('131047');
    return Response.json({
      messaging_product: 'whatsapp',
      contacts: [{ input: body.to, wa_id: waId }],
      messages: [{ id: `wamid.HBgL${this.next()}`, ...(type === 'template' ? { message_status: 'accepted' } : {}) }],
    });
  }

  private async mediaLookup(url: URL, id: string): Promise<Response> {
    const file = this.media.get(id)!;
    return Response.json({
      url: `${url.origin}/whatsapp_business/attachments/?mid=${id}&ext=${this.now()}&hash=fake`,
      mime_type: file.mimeType,
      sha256: await sha256Hex(file.bytes),
      file_size: file.bytes.byteLength,
      id,
      messaging_product: 'whatsapp',
    });
  }

  /** The lookaside download wants the same Bearer token as the lookup. */
  private download(request: Request, url: URL): Response {
    if (bearer(request, url) !== this.wa.accessToken) return new Response('Unauthorized', { status: 401 });
    const file = this.media.get(url.searchParams.get('mid') ?? '');
    if (!file) return new Response('Not Found', { status: 404 });
    return new Response(new Uint8Array(file.bytes), { headers: { 'content-type': file.mimeType, 'content-length': String(file.bytes.byteLength) } });
  }

  /** Stores media a user "uploaded"; returns its media id. */
  addMedia(bytes: Uint8Array, mimeType: string): string {
    const id = String(1_000_000_000_000 + this.next());
    this.media.set(id, { bytes, mimeType });
    return id;
  }

  /**
   * Business Management API template listing: filters by `name` (a substring,
   * as Meta matches it), `language`, `status` and `category`; `limit` (default
   * 25) with Graph cursor paging: `paging.cursors.{before,after}` always,
   * `paging.next` only when another page follows. Only `fields` named are returned (plus `id`).
   */
  private listTemplates(url: URL): Response {
    const q = url.searchParams;
    const limit = Math.min(Number(q.get('limit') ?? 25) || 25, 1000);
    const matches = this.templates.filter(
      (t) =>
        (!q.get('name') || t.name.includes(q.get('name')!)) &&
        (!q.get('language') || t.language === q.get('language')) &&
        (!q.get('status') || t.status === q.get('status')!.toUpperCase()) &&
        (!q.get('category') || t.category === q.get('category')!.toUpperCase()),
    );
    const cursor = (i: number) => btoa(String(i)).replace(/=+$/, '');
    const after = q.get('after');
    let start = 0;
    if (after) {
      const n = Number(atob(after));
      if (!Number.isInteger(n) || n < 0) return this.invalid('Invalid cursor', 100);
      start = n + 1;
    }
    const page = matches.slice(start, start + limit);
    const fields = (q.get('fields') ?? 'name,language,status,category,components').split(',');
    const data = page.map((t) => ({ ...Object.fromEntries(fields.filter((f) => f in t).map((f) => [f, (t as unknown as Json)[f]])), id: t.id }));
    const more = start + page.length < matches.length;
    const next = new URL(url);
    next.searchParams.set('after', cursor(start + page.length - 1));
    return Response.json({
      data,
      ...(page.length
        ? { paging: { cursors: { before: cursor(start), after: cursor(start + page.length - 1) }, ...(more ? { next: next.toString() } : {}) } }
        : {}),
    });
  }

  /** Adds an approved (by default) template to the account; returns its id. */
  addTemplate(template: Omit<WhatsAppTemplate, 'id' | 'status' | 'category'> & Partial<Pick<WhatsAppTemplate, 'status' | 'category'>>): string {
    const id = String(1_600_000_000_000_000 + this.next());
    this.templates.push({ status: 'APPROVED', category: 'UTILITY', ...template, id });
    return id;
  }

  // ---- Messenger Platform (Messenger and Instagram) ------------------------------------------

  private pageSend(raw: unknown): Response {
    const body = (raw ?? {}) as Json;
    const recipient = (body.recipient as Json | undefined)?.id;
    if (typeof recipient !== 'string') return this.invalid('The parameter recipient is required');
    const seen = this.users.get(recipient);
    if (!seen || seen.channel === 'whatsapp') return this.named('100/2018001');
    if (typeof body.sender_action === 'string') {
      if (!['typing_on', 'typing_off', 'mark_seen'].includes(body.sender_action)) return this.invalid('Param sender_action must be one of {typing_on, typing_off, mark_seen}');
      return Response.json({ recipient_id: recipient });
    }
    const message = body.message as Json | undefined;
    if (typeof message !== 'object' || message === null) return this.invalid('Must send either message or sender_action');
    const age = this.now() - seen.lastInbound;
    const tagged = body.messaging_type === 'MESSAGE_TAG';
    if (tagged && body.tag !== 'HUMAN_AGENT') return this.invalid('Param tag must be HUMAN_AGENT in this fake');
    if (age > (tagged ? 7 * DAY : DAY)) return this.named('10/2018278');
    const problem = checkPageMessage(message, seen.channel === 'instagram');
    if (problem) return this.invalid(problem);
    return Response.json({ recipient_id: recipient, message_id: `m_${seen.channel === 'instagram' ? 'aWdf' : ''}${this.next()}` });
  }

  private cdnFile(name: string): Response {
    const file = this.cdn.get(name);
    if (!file) return new Response('URL signature expired', { status: 403 });
    return new Response(new Uint8Array(file.bytes), { headers: { 'content-type': file.mimeType } });
  }

  /** Stores an attachment on the fake CDN; returns its signed-looking URL. */
  addCdnFile(bytes: Uint8Array, mimeType: string): string {
    const name = `f${this.next()}`;
    this.cdn.set(name, { bytes, mimeType });
    return `${this.origin}/cdn/${name}?_nc_oc=fake&oh=00_sig`;
  }

  // ---- webhooks ------------------------------------------------------------------------------

  /** Meta's subscription handshake, as the App Dashboard sends it when the callback URL is saved. */
  handshake(webhookUrl: string, verifyToken: string, challenge = '1158201444'): Request {
    const url = new URL(webhookUrl);
    url.searchParams.set('hub.mode', 'subscribe');
    url.searchParams.set('hub.challenge', challenge);
    url.searchParams.set('hub.verify_token', verifyToken);
    return new Request(url, { method: 'GET' });
  }

  /** A webhook POST exactly as Meta sends it: escaped JSON, both signature headers over those bytes. */
  async signed(webhookUrl: string, body: unknown, secret = this.appSecret): Promise<Request> {
    const raw = new TextEncoder().encode(metaJson(body));
    return new Request(webhookUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': `sha256=${await hmacHex('SHA-256', secret, raw)}`,
        'x-hub-signature': `sha1=${await hmacHex('SHA-1', secret, raw)}`,
      },
      body: raw,
    });
  }

  /** Posts a webhook until Parley answers 2xx, as Meta retries failed deliveries. */
  async deliver(request: Request, options: DeliverOptions = {}): Promise<Delivery> {
    const send = options.fetch ?? ((r: Request) => fetch(r));
    const attempts = options.attempts ?? 5;
    const delayMs = options.delayMs ?? ((n: number) => (n === 1 ? 0 : 1000 * 2 ** (n - 1)));
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const statuses: number[] = [];
    for (let n = 1; n <= attempts; n++) {
      try {
        const response = await send(request.clone());
        statuses.push(response.status);
        if (response.ok) return { delivered: true, attempts: n, statuses };
      } catch {
        statuses.push(0);
      }
      if (n < attempts) await sleep(delayMs(n));
    }
    return { delivered: false, attempts, statuses };
  }

  private whatsappBuilders() {
    const messageValue = (user: WhatsAppUser, message: Json, phoneNumberId = this.wa.phoneNumberId): Json => {
      this.seen(user.waId, 'whatsapp');
      return {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: this.wa.displayPhoneNumber.replace(/\D/g, ''), phone_number_id: phoneNumberId },
        contacts: [{ profile: { name: user.name ?? `User ${user.waId}` }, wa_id: user.waId }],
        messages: [{ from: user.waId, id: `wamid.HBgL${this.next()}`, timestamp: String(Math.floor(this.now() / 1000)), ...message }],
      };
    };
    const statusValue = (s: { id: string; status: 'sent' | 'delivered' | 'read' | 'failed'; recipientId: string; errors?: { code: number; title: string; details?: string }[] }): Json => ({
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: this.wa.displayPhoneNumber.replace(/\D/g, ''), phone_number_id: this.wa.phoneNumberId },
      statuses: [
        {
          id: s.id,
          status: s.status,
          timestamp: String(Math.floor(this.now() / 1000)),
          recipient_id: s.recipientId,
          ...(s.status === 'failed' ? {} : { conversation: { id: `conv${this.next()}`, origin: { type: 'service' } }, pricing: { billable: true, pricing_model: 'CBP', category: 'service' } }),
          ...(s.errors
            ? { errors: s.errors.map((e) => ({ code: e.code, title: e.title, message: e.title, error_data: { details: e.details ?? e.title } })) }
            : {}),
        },
      ],
    });
    /** Each value is its own entry, so a batch exercises `entry[]` iteration. */
    const webhook = (webhookUrl: string, values: Json[]) =>
      this.signed(webhookUrl, { object: 'whatsapp_business_account', entry: values.map((value) => ({ id: this.wa.wabaId, changes: [{ value, field: 'messages' }] })) });
    const one = (webhookUrl: string, user: WhatsAppUser, message: Json) => webhook(webhookUrl, [messageValue(user, message)]);
    const mediaMessage = (kind: 'image' | 'video' | 'audio' | 'document' | 'sticker', o: { caption?: string; filename?: string; mimeType?: string; bytes?: Uint8Array }) => {
      const mimeType = o.mimeType ?? { image: 'image/jpeg', video: 'video/mp4', audio: 'audio/ogg', document: 'application/pdf', sticker: 'image/webp' }[kind];
      const id = this.addMedia(o.bytes ?? new TextEncoder().encode(`${kind} bytes`), mimeType);
      return { type: kind, [kind]: { id, mime_type: mimeType, sha256: 'fake', ...(o.caption ? { caption: o.caption } : {}), ...(o.filename ? { filename: o.filename } : {}), ...(kind === 'sticker' ? { animated: false } : {}) } };
    };
    return {
      messageValue,
      statusValue,
      webhook,
      text: (webhookUrl: string, user: WhatsAppUser, text: string, o: { replyTo?: string } = {}) =>
        one(webhookUrl, user, { type: 'text', text: { body: text }, ...(o.replyTo ? { context: { from: this.wa.displayPhoneNumber.replace(/\D/g, ''), id: o.replyTo } } : {}) }),
      media: (webhookUrl: string, user: WhatsAppUser, kind: 'image' | 'video' | 'audio' | 'document' | 'sticker', o: { caption?: string; filename?: string; mimeType?: string; bytes?: Uint8Array } = {}) =>
        one(webhookUrl, user, mediaMessage(kind, o)),
      mediaMessage,
      location: (webhookUrl: string, user: WhatsAppUser, l: { latitude: number; longitude: number; name?: string; address?: string }) =>
        one(webhookUrl, user, { type: 'location', location: l }),
      buttonReply: (webhookUrl: string, user: WhatsAppUser, id: string, title: string) =>
        one(webhookUrl, user, { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title } } }),
      listReply: (webhookUrl: string, user: WhatsAppUser, id: string, title: string, description?: string) =>
        one(webhookUrl, user, { type: 'interactive', interactive: { type: 'list_reply', list_reply: { id, title, ...(description ? { description } : {}) } } }),
      templateButton: (webhookUrl: string, user: WhatsAppUser, payload: string, text: string) => one(webhookUrl, user, { type: 'button', button: { payload, text } }),
      reaction: (webhookUrl: string, user: WhatsAppUser, messageId: string, emoji: string) => one(webhookUrl, user, { type: 'reaction', reaction: { message_id: messageId, emoji } }),
      status: (webhookUrl: string, s: Parameters<typeof statusValue>[0]) => webhook(webhookUrl, [statusValue(s)]),
    };
  }

  private pageBuilders(object: 'page' | 'instagram') {
    const account = () => (object === 'page' ? this.page.id : (this.page.instagram?.id ?? 'no-instagram-account'));
    /** One `messaging[]` item from the user to the account; anything the user does opens the window. */
    const item = (userId: string, body: Json, o: { timestamp?: number; opensWindow?: boolean } = {}): Json => {
      if (o.opensWindow !== false) this.seen(userId, object);
      return { sender: { id: userId }, recipient: { id: account() }, timestamp: o.timestamp ?? this.now(), ...body };
    };
    const webhook = (webhookUrl: string, items: Json[], o: { entryId?: string } = {}) =>
      this.signed(webhookUrl, { object, entry: items.map((messaging) => ({ id: o.entryId ?? account(), time: this.now(), messaging: [messaging] })) });
    const one = (webhookUrl: string, body: Json, userId: string, o: { timestamp?: number; opensWindow?: boolean } = {}) => webhook(webhookUrl, [item(userId, body, o)]);
    const mid = () => (object === 'instagram' ? `aWdfZAG1faXRlbToxOk${this.next()}` : `m_${this.next()}`);
    const attachment = (type: string, o: { bytes?: Uint8Array; mimeType?: string; url?: string; title?: string } = {}) => {
      const mimeType = o.mimeType ?? ({ image: 'image/jpeg', video: 'video/mp4', audio: 'audio/mpeg', file: 'application/pdf' } as Record<string, string>)[type] ?? 'application/octet-stream';
      const url = o.url ?? this.addCdnFile(o.bytes ?? new TextEncoder().encode(`${type} bytes`), mimeType);
      return { type, payload: { url, ...(o.title ? { title: o.title } : {}) } };
    };
    return {
      item,
      webhook,
      mid,
      text: (webhookUrl: string, userId: string, text: string, o: { timestamp?: number; replyTo?: string; mid?: string } = {}) =>
        one(webhookUrl, { message: { mid: o.mid ?? mid(), text, ...(o.replyTo ? { reply_to: { mid: o.replyTo } } : {}) } }, userId, o),
      quickReply: (webhookUrl: string, userId: string, text: string, payload: string) => one(webhookUrl, { message: { mid: mid(), text, quick_reply: { payload } } }, userId),
      postback: (webhookUrl: string, userId: string, title: string, payload: string, o: { referral?: Json } = {}) =>
        one(webhookUrl, { postback: { mid: mid(), title, payload, ...(o.referral ? { referral: o.referral } : {}) } }, userId),
      /** `image`, `video`, `audio`, `file`, `sticker`, `fallback`; Instagram also `share`, `reel`, `ig_reel`, `story_mention`. */
      attachment: (webhookUrl: string, userId: string, type: string, o: { bytes?: Uint8Array; mimeType?: string; url?: string; title?: string; text?: string } = {}) =>
        one(webhookUrl, { message: { mid: mid(), ...(o.text ? { text: o.text } : {}), attachments: [attachment(type, o)] } }, userId),
      attachments: (webhookUrl: string, userId: string, types: string[]) => one(webhookUrl, { message: { mid: mid(), attachments: types.map((t) => attachment(t)) } }, userId),
      location: (webhookUrl: string, userId: string, lat: number, long: number, title?: string) =>
        one(webhookUrl, { message: { mid: mid(), attachments: [{ type: 'location', payload: { coordinates: { lat, long }, ...(title ? { title } : {}) } }] } }, userId),
      storyReply: (webhookUrl: string, userId: string, text: string, storyUrl: string) =>
        one(webhookUrl, { message: { mid: mid(), text, reply_to: { story: { url: storyUrl, id: `story${this.next()}` } } } }, userId),
      referral: (webhookUrl: string, userId: string, ref: string, source = 'SHORTLINK') => one(webhookUrl, { referral: { ref, source, type: 'OPEN_THREAD' } }, userId),
      delivery: (webhookUrl: string, userId: string, watermark: number, mids?: string[]) =>
        one(webhookUrl, { delivery: { ...(mids ? { mids } : {}), watermark } }, userId, { opensWindow: false }),
      /** Messenger reads carry a watermark; Instagram's `messaging_seen` names the message read. */
      read: (webhookUrl: string, userId: string, seen: { watermark?: number; mid?: string }) => one(webhookUrl, { read: seen }, userId, { opensWindow: false }),
      reaction: (webhookUrl: string, userId: string, messageId: string, emoji: string) =>
        one(webhookUrl, { reaction: { mid: messageId, action: 'react', emoji, reaction: 'love' } }, userId, { opensWindow: false }),
      /** Our own send, as Meta echoes it back: sender is the account, recipient the user. */
      echo: (webhookUrl: string, userId: string, text: string) =>
        webhook(webhookUrl, [{ sender: { id: account() }, recipient: { id: userId }, timestamp: this.now(), message: { mid: mid(), is_echo: true, app_id: 1517776481860111, text } }]),
    };
  }

  private next(): number {
    return ++this.counter;
  }

  private traceId(): string {
    return `A${this.next().toString(36).padStart(10, 'x')}`;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Graph takes the token as a Bearer header or an `access_token` query parameter. */
function bearer(request: Request, url: URL): string | undefined {
  const header = request.headers.get('authorization');
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length);
  return url.searchParams.get('access_token') ?? undefined;
}

const str = (x: unknown) => (typeof x === 'string' ? x : undefined);

/** WhatsApp's documented limits on what the adapter sends (§2.4). */
function checkWhatsApp(type: string, content: Json): string | undefined {
  if (type === 'text') {
    const body = str(content.body);
    if (!body) return 'text.body is required';
    if (body.length > 4096) return 'text.body must be at most 4096 characters';
  }
  if (['image', 'audio', 'video', 'document', 'sticker'].includes(type)) {
    if (!str(content.link) && !str(content.id)) return `${type}.link or ${type}.id is required`;
    if (type === 'audio' && 'caption' in content) return 'audio does not take a caption';
    if (str(content.caption) && str(content.caption)!.length > 1024) return 'caption must be at most 1024 characters';
  }
  if (type === 'location' && (typeof content.latitude !== 'number' || typeof content.longitude !== 'number')) return 'location.latitude and location.longitude are required';
  if (type === 'template') {
    if (!str(content.name)) return 'template.name is required';
    if (!str((content.language as Json | undefined)?.code)) return 'template.language.code is required';
  }
  if (type === 'interactive') {
    const bodyText = str((content.body as Json | undefined)?.text);
    const kind = content.type;
    if (!bodyText) return 'interactive.body.text is required';
    if (bodyText.length > 1024) return 'interactive.body.text must be at most 1024 characters';
    const action = (content.action ?? {}) as Json;
    if (kind === 'button') {
      const buttons = (action.buttons ?? []) as Json[];
      if (buttons.length < 1 || buttons.length > 3) return 'interactive buttons must number 1 to 3';
      for (const b of buttons) {
        const reply = (b.reply ?? {}) as Json;
        if (!str(reply.id) || str(reply.id)!.length > 256) return 'reply button id must be 1 to 256 characters';
        if (!str(reply.title) || str(reply.title)!.length > 20) return 'reply button title must be 1 to 20 characters';
      }
    } else if (kind === 'list') {
      if (!str(action.button) || str(action.button)!.length > 20) return 'list button must be 1 to 20 characters';
      const rows = ((action.sections ?? []) as Json[]).flatMap((s) => (s.rows ?? []) as Json[]);
      if (rows.length < 1 || rows.length > 10) return 'list rows must number 1 to 10';
      for (const r of rows) {
        if (!str(r.id) || str(r.id)!.length > 200) return 'list row id must be 1 to 200 characters';
        if (!str(r.title) || str(r.title)!.length > 24) return 'list row title must be 1 to 24 characters';
      }
    } else if (kind === 'cta_url') {
      const p = (action.parameters ?? {}) as Json;
      if (action.name !== 'cta_url' || !str(p.display_text) || !str(p.url)) return 'cta_url needs action.name cta_url, parameters.display_text and parameters.url';
    } else if (kind === 'location_request_message') {
      if (action.name !== 'send_location') return 'location_request_message needs action.name send_location';
    } else {
      return `interactive.type ${String(kind)} is not supported`;
    }
  }
  return undefined;
}

/** The Send API's documented limits (§3.4, §4.4). */
function checkPageMessage(message: Json, instagram: boolean): string | undefined {
  const text = str(message.text);
  const max = instagram ? 1000 : 2000;
  if (text !== undefined && text.length > max) return `Length of param message[text] must be less than or equal to ${max}`;
  const replies = message.quick_replies as Json[] | undefined;
  if (replies) {
    if (replies.length > 13) return 'param message[quick_replies] must have at most 13 items';
    for (const r of replies) if (!str(r.title) || str(r.title)!.length > 20 || !str(r.payload) || str(r.payload)!.length > 1000) return 'quick reply title must be 1 to 20 characters and payload 1 to 1000';
  }
  const attachment = message.attachment as Json | undefined;
  if (text === undefined && !attachment) return 'param message must contain text or attachment';
  if (!attachment) return undefined;
  const payload = (attachment.payload ?? {}) as Json;
  if (['image', 'video', 'audio', 'file'].includes(String(attachment.type))) {
    if (instagram && attachment.type === 'file') return 'Instagram does not support file attachments';
    return str(payload.url) ? undefined : 'param message[attachment][payload][url] is required';
  }
  if (attachment.type !== 'template') return `param message[attachment][type] ${String(attachment.type)} is not supported`;
  const checkButtons = (buttons: Json[] | undefined, min: number) => {
    if (!buttons || buttons.length < min || buttons.length > 3) return 'buttons must number 1 to 3';
    for (const b of buttons) {
      if (!str(b.title) || str(b.title)!.length > 20) return 'button title must be 1 to 20 characters';
      if (b.type === 'postback' && (!str(b.payload) || str(b.payload)!.length > 1000)) return 'postback payload must be 1 to 1000 characters';
      if (b.type === 'web_url' && !str(b.url)) return 'web_url button needs url';
      if (b.type !== 'postback' && b.type !== 'web_url') return `button type ${String(b.type)} is not supported`;
    }
    return undefined;
  };
  if (payload.template_type === 'button') {
    const t = str(payload.text);
    if (!t || t.length > 640) return 'button template text must be 1 to 640 characters';
    return checkButtons(payload.buttons as Json[] | undefined, 1);
  }
  if (payload.template_type === 'generic') {
    const elements = (payload.elements ?? []) as Json[];
    if (elements.length < 1 || elements.length > 10) return 'generic template elements must number 1 to 10';
    for (const e of elements) {
      if (!str(e.title) || str(e.title)!.length > 80) return 'element title must be 1 to 80 characters';
      if (e.buttons !== undefined) {
        const problem = checkButtons(e.buttons as Json[], 1);
        if (problem) return problem;
      }
    }
    return undefined;
  }
  return `template_type ${String(payload.template_type)} is not supported`;
}
