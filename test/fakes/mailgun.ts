/**
 * A stand-in for Mailgun: the Routes API (`/v3/routes`, account-wide) and
 * the sending API (`POST /v3/{domain}/messages`, urlencoded or multipart)
 * behind HTTP Basic `api:<key>`, with Mailgun's answers (`{"id","message":
 * "Queued. Thank you."}`, `{"message": ...}` errors, a bare "Forbidden" 401,
 * 429), programmable failures, and builders of what Mailgun posts to a
 * route's `forward()` URL — the parsed mail as a form (multipart when it has
 * attachments) signed with timestamp, token and hex HMAC-SHA256(signing
 * key, timestamp + token) — and of its JSON event webhooks. `forward` also
 * retries as Mailgun does: any answer but 200 or 406 is tried again.
 * Web-standard APIs only, so it runs inside workerd and under Node alike.
 */
import { hmacHex } from '../../src/channels/signing';

export interface Failure {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RecordedCall {
  method: string;
  path: string;
  fields: Record<string, string[]>;
}

export interface Route {
  id: string;
  priority: number;
  description: string;
  expression: string;
  actions: string[];
  created_at: string;
}

export interface SentEmail {
  id: string;
  domain: string;
  from: string;
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  /** `h:` fields, by header name (`Reply-To`, `In-Reply-To`, `References`). */
  headers: Record<string, string>;
  attachments: string[];
}

export interface InboundMail {
  from: string;
  fromName?: string;
  /** The envelope sender; default: the From address. */
  sender?: string;
  recipient?: string;
  subject?: string;
  /** `body-plain`: the whole text, quotes and all. */
  text: string;
  /** `stripped-text`; omitted unless given, to exercise Parley's own stripping. */
  strippedText?: string;
  html?: string;
  messageId?: string;
  inReplyTo?: string;
  headers?: Record<string, string>;
  attachments?: { filename: string; contentType: string; body: Uint8Array }[];
}

export interface Signed {
  timestamp: string;
  token: string;
  signature: string;
}

export interface MailgunFakeOptions {
  apiKey?: string;
  signingKey?: string;
  domains?: string[];
  origin?: string;
  now?: () => number;
  /** Delivers forwarded mail and events to Parley (default: global fetch). */
  deliver?: (request: Request) => Promise<Response>;
}

const randomHex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');

/** Mailgun's webhook signature: hex HMAC-SHA256 of timestamp + token, keyed with the HTTP webhook signing key. */
export const mailgunSignature = (signingKey: string, timestamp: string, token: string) => hmacHex('SHA-256', signingKey, timestamp + token);

const message = (status: number, text: string, headers: Record<string, string> = {}) => Response.json({ message: text }, { status, headers });

export class MailgunFake {
  readonly apiKey: string;
  readonly signingKey: string;
  readonly origin: string;
  readonly domains: Set<string>;
  readonly routes = new Map<string, Route>();
  readonly sent: SentEmail[] = [];
  readonly calls: RecordedCall[] = [];
  private readonly failures: Failure[] = [];
  private readonly now: () => number;
  private readonly deliver: (request: Request) => Promise<Response>;
  private counter = 0;

  constructor(options: MailgunFakeOptions = {}) {
    this.apiKey = options.apiKey ?? `key-${randomHex(16)}`;
    this.signingKey = options.signingKey ?? randomHex(16);
    this.origin = (options.origin ?? 'https://api.mailgun.net').replace(/\/+$/, '');
    this.domains = new Set(options.domains ?? ['mg.example.com']);
    this.now = options.now ?? (() => Date.now());
    this.deliver = options.deliver ?? ((request) => fetch(request));
  }

  // ---- programmable failures ---------------------------------------------------------

  /** The next `n` authenticated API calls answer `failure` instead. */
  failNext(n: number, failure: Failure): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  rateLimitNext(seconds: number): void {
    this.failNext(1, { status: 429, body: { message: 'Too many requests' }, headers: { 'retry-after': String(seconds) } });
  }

  sentTo(address: string): SentEmail[] {
    return this.sent.filter((m) => m.to.includes(address));
  }

  // ---- the REST API ------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (!this.authorized(request)) return new Response('Forbidden', { status: 401, headers: { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="MG API"' } });
    const failure = this.failures.shift();
    if (failure) {
      const body = typeof failure.body === 'string' ? failure.body : JSON.stringify(failure.body);
      return new Response(body, { status: failure.status, headers: { 'content-type': 'application/json', ...failure.headers } });
    }
    const fields = request.method === 'POST' || request.method === 'PUT' ? await this.form(request) : new Map<string, string[]>();
    this.calls.push({ method: request.method, path, fields: Object.fromEntries(fields) });
    const one = (name: string) => fields.get(name)?.[0];

    if (path === '/v3/routes' && request.method === 'POST') {
      const expression = one('expression');
      const actions = fields.get('action') ?? [];
      if (!expression) return message(400, "Missing mandatory parameter: expression");
      if (actions.length === 0) return message(400, "Missing mandatory parameter: action");
      const route: Route = { id: randomHex(12), priority: Number(one('priority') ?? '0'), description: one('description') ?? '', expression, actions, created_at: new Date(this.now()).toUTCString() };
      this.routes.set(route.id, route);
      return Response.json({ message: 'Route has been created', route });
    }
    const route = /^\/v3\/routes\/([^/]+)$/.exec(path);
    if (route) {
      const found = this.routes.get(route[1]!);
      if (!found) return message(404, 'Route not found');
      if (request.method === 'GET') return Response.json({ route: found });
      if (request.method === 'DELETE') {
        this.routes.delete(found.id);
        return Response.json({ id: found.id, message: 'Route has been deleted' });
      }
    }
    const send = /^\/v3\/([^/]+)\/messages$/.exec(path);
    if (send && request.method === 'POST') return this.send(send[1]!, fields);
    return message(404, 'Not Found');
  }

  private send(domain: string, fields: Map<string, string[]>): Response {
    if (!this.domains.has(domain)) return message(404, `Domain not found: ${domain}`);
    const one = (name: string) => fields.get(name)?.[0];
    const from = one('from');
    const to = (fields.get('to') ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
    if (!from) return message(400, "'from' parameter is missing");
    if (to.length === 0) return message(400, "'to' parameter is missing");
    for (const address of [...to, from]) {
      if (!/^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$/.test(address.replace(/^.*<([^>]+)>$/, '$1'))) return message(400, `to parameter is not a valid address. please check documentation`);
    }
    if (!one('text') && !one('html') && !one('template')) return message(400, 'Need at least one of \'text\', \'html\' or \'template\' parameters specified');
    const headers: Record<string, string> = {};
    for (const [name, values] of fields) if (name.startsWith('h:')) headers[name.slice(2)] = values[0]!;
    const stamp = new Date(this.now()).toISOString().replace(/\D/g, '').slice(0, 14);
    const id = `<${stamp}.${++this.counter}.${randomHex(8).toUpperCase()}@${domain}>`;
    this.sent.push({ id, domain, from, to, subject: one('subject') ?? '', ...(one('text') !== undefined ? { text: one('text') } : {}), ...(one('html') !== undefined ? { html: one('html') } : {}), headers, attachments: fields.get('attachment') ?? [] });
    return Response.json({ id, message: 'Queued. Thank you.' });
  }

  private authorized(request: Request): boolean {
    const header = request.headers.get('authorization') ?? '';
    if (!header.startsWith('Basic ')) return false;
    try {
      return atob(header.slice(6)) === `api:${this.apiKey}`;
    } catch {
      return false;
    }
  }

  /** Both encodings Mailgun takes; files are recorded by name. */
  private async form(request: Request): Promise<Map<string, string[]>> {
    const type = request.headers.get('content-type') ?? '';
    const out = new Map<string, string[]>();
    const add = (k: string, val: string) => out.set(k, [...(out.get(k) ?? []), val]);
    if (/multipart\/form-data/i.test(type)) {
      for (const [k, val] of await request.formData()) add(k, typeof val === 'string' ? val : (val as File).name);
    } else {
      for (const [k, val] of new URLSearchParams(new TextDecoder().decode(await request.arrayBuffer()))) add(k, val);
    }
    return out;
  }

  // ---- what Mailgun posts to Parley -----------------------------------------------------

  /** Fresh signature fields, as on every POST Mailgun makes. */
  async sign(timestampMs = this.now(), token = randomHex(25)): Promise<Signed> {
    const timestamp = String(Math.floor(timestampMs / 1000));
    return { timestamp, token, signature: await mailgunSignature(this.signingKey, timestamp, token) };
  }

  /** The route's `forward()` POST for one mail: urlencoded, or multipart/form-data when it carries attachments. */
  async inbound(url: string, mail: InboundMail, signed?: Signed): Promise<Request> {
    const sig = signed ?? (await this.sign());
    const recipient = mail.recipient ?? [...this.routes.values()].map((r) => /match_recipient\("\^?(.*?)\$?"\)/.exec(r.expression)?.[1]?.replace(/\\(.)/g, '$1')).find(Boolean) ?? 'support@mg.example.com';
    const messageId = mail.messageId ?? `<${randomHex(8)}@mail.example.net>`;
    const fields: [string, string][] = [
      ['recipient', recipient],
      ['sender', mail.sender ?? mail.from],
      ['from', mail.fromName ? `${mail.fromName} <${mail.from}>` : mail.from],
      ['subject', mail.subject ?? ''],
      ['body-plain', mail.text],
      ...(mail.strippedText !== undefined ? ([['stripped-text', mail.strippedText]] as [string, string][]) : []),
      ...(mail.html !== undefined ? ([['body-html', mail.html]] as [string, string][]) : []),
      ['Message-Id', messageId],
      ...(mail.inReplyTo ? ([['In-Reply-To', mail.inReplyTo], ['References', mail.inReplyTo]] as [string, string][]) : []),
      ...Object.entries(mail.headers ?? {}),
      ['message-headers', JSON.stringify([['Message-Id', messageId], ['From', mail.from], ['Subject', mail.subject ?? '']])],
      ['timestamp', sig.timestamp],
      ['token', sig.token],
      ['signature', sig.signature],
    ];
    const files = mail.attachments ?? [];
    if (files.length === 0) {
      return new Request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
    }
    const form = new FormData();
    for (const [k, val] of fields) form.append(k, val);
    form.append('attachment-count', String(files.length));
    files.forEach((f, i) => form.append(`attachment-${i + 1}`, new File([f.body as Uint8Array<ArrayBuffer>], f.filename, { type: f.contentType })));
    // Serialized once, so a test can replay the exact bytes.
    const encoded = new Request(url, { method: 'POST', body: form });
    return new Request(url, { method: 'POST', headers: { 'content-type': encoded.headers.get('content-type')! }, body: await encoded.arrayBuffer() });
  }

  /** Forwards a mail as Mailgun does: re-signed on each attempt, retried unless Parley answers 200 or 406 (rejected). */
  async forward(url: string, mail: InboundMail, attempts = 3): Promise<number[]> {
    const statuses: number[] = [];
    const fixed = { ...mail, messageId: mail.messageId ?? `<${randomHex(8)}@mail.example.net>` };
    for (let i = 0; i < attempts; i++) {
      const res = await this.deliver(await this.inbound(url, fixed));
      statuses.push(res.status);
      if (res.status === 200 || res.status === 406) break;
    }
    return statuses;
  }

  /** A JSON event webhook (`delivered`, `failed`) about one of our sends. */
  async event(url: string, e: { event: 'delivered' | 'failed'; recipient: string; messageId: string; severity?: 'permanent' | 'temporary'; code?: number; description?: string }): Promise<Request> {
    const signature = await this.sign();
    const body = {
      signature,
      'event-data': {
        id: randomHex(11),
        event: e.event,
        timestamp: this.now() / 1000,
        recipient: e.recipient,
        ...(e.event === 'failed' ? { severity: e.severity ?? 'permanent', reason: 'bounce', 'delivery-status': { code: e.code ?? 550, description: e.description ?? 'mailbox unavailable', message: '' } } : {}),
        message: { headers: { 'message-id': e.messageId.replace(/^<|>$/g, '') } },
      },
    };
    return new Request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
}
