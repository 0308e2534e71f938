/**
 * A stand-in for MessageBird's SMS REST API (`GET /balance`, `POST /messages`)
 * with `Authorization: AccessKey …`, MessageBird's `{errors:[{code,
 * description, parameter}]}` bodies and programmable failures, plus builders
 * of the webhooks MessageBird sends: inbound texts forwarded by a Flow
 * Builder "Call HTTP endpoint with SMS" step (JSON) and status reports to a
 * message's `reportUrl`, each signed with `MessageBird-Signature-JWT` (HS256
 * over the signing key; `url_hash` and `payload_hash` are SHA-256 hex of the
 * called URL and the raw body) exactly as messagebird-nodejs verifies them.
 * Web-standard APIs only, so it runs inside workerd and under Node alike.
 */
import { hmac, sha256Hex } from '../../src/channels/signing';

export interface Failure {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface SentMessage {
  id: string;
  originator: string;
  recipient: string;
  body: string;
  reportUrl?: string;
  /** The client reference the send carried: MessageBird reports the status only of messages that have one. */
  reference?: string;
}

export interface RecordedCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface MessageBirdFakeOptions {
  accessKey?: string;
  signingKey?: string;
  /** The account's virtual mobile number (MSISDN, no `+`). */
  number?: string;
  origin?: string;
  now?: () => number;
  /** Delivers status reports to Parley (default: global fetch). */
  deliver?: (request: Request) => Promise<Response>;
}

/** How a signed request is built; the defaults are what MessageBird sends. */
export interface SignOptions {
  /** Token lifetime from `nbf`, seconds. */
  ttl?: number;
  /** Shifts the token's clock (negative: an old, replayed token). */
  skewSeconds?: number;
  signingKey?: string;
  /** Sign a different URL than the one called. */
  signedUrl?: string;
}

const enc = new TextEncoder();
const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const hex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
const MSISDN = /^[1-9]\d{6,14}$/;

/** The value of `MessageBird-Signature-JWT` for a request to `url` with `body`. */
export async function messageBirdSignature(signingKey: string, url: string, body: Uint8Array | string, nowMs: number, ttl = 60): Promise<string> {
  const nbf = Math.floor(nowMs / 1000);
  const raw = typeof body === 'string' ? enc.encode(body) : body;
  const claims: Record<string, unknown> = { iss: 'MessageBird', nbf, exp: nbf + ttl, jti: crypto.randomUUID(), url_hash: await sha256Hex(url) };
  if (raw.byteLength > 0) claims.payload_hash = await sha256Hex(raw);
  const input = `${b64url(enc.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })))}.${b64url(enc.encode(JSON.stringify(claims)))}`;
  return `${input}.${b64url(await hmac('SHA-256', signingKey, input))}`;
}

const errors = (status: number, code: number, description: string, parameter: string | null = null, headers: Record<string, string> = {}) =>
  Response.json({ errors: [{ code, description, parameter }] }, { status, headers });

export class MessageBirdFake {
  accessKey: string;
  signingKey: string;
  readonly number: string;
  readonly origin: string;
  readonly calls: RecordedCall[] = [];
  readonly messages = new Map<string, SentMessage>();
  /** Recipients the carrier refuses: sends to them fail with code 9 (no correct recipients). */
  readonly refused = new Set<string>();
  private readonly failures: Failure[] = [];
  private readonly now: () => number;
  private readonly deliver: (request: Request) => Promise<Response>;

  constructor(options: MessageBirdFakeOptions = {}) {
    this.accessKey = options.accessKey ?? 'live_0123456789abcdefABCDEFGHI';
    this.signingKey = options.signingKey ?? '36efdd1aace2e26cd490f0d951138253bef2f7c6d34d18981da781555cc4cebb';
    this.number = options.number ?? '3197010260123';
    this.origin = (options.origin ?? 'https://rest.messagebird.com').replace(/\/+$/, '');
    this.now = options.now ?? (() => Date.now());
    this.deliver = options.deliver ?? ((request) => fetch(request));
  }

  // ---- programmable failures ---------------------------------------------------------

  failNext(n: number, failure: Failure): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  /** MessageBird's rate limit answer (its docs publish no Retry-After; the fake sends one when asked). */
  rateLimitNext(seconds?: number): void {
    this.failNext(1, { status: 429, body: { errors: [{ code: 429, description: 'Too many requests', parameter: null }] }, ...(seconds !== undefined ? { headers: { 'retry-after': String(seconds) } } : {}) });
  }

  refuse(recipient: string): void {
    this.refused.add(recipient.replace(/^\+/, ''));
  }

  // ---- the REST API ------------------------------------------------------------------

  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (request.headers.get('authorization') !== `AccessKey ${this.accessKey}`) {
      return errors(401, 2, 'Request not allowed (incorrect access_key)', 'access_key');
    }
    const failure = this.failures.shift();
    if (failure) {
      return new Response(typeof failure.body === 'string' ? failure.body : JSON.stringify(failure.body), { status: failure.status, headers: { 'content-type': 'application/json', ...failure.headers } });
    }
    if (path === '/balance' && request.method === 'GET') {
      this.calls.push({ method: 'GET', path, headers: Object.fromEntries(request.headers), body: undefined });
      return Response.json({ payment: 'prepaid', type: 'euros', amount: 42.5 });
    }
    if (path === '/messages' && request.method === 'POST') {
      let body: Record<string, unknown>;
      try {
        body = (await request.json()) as Record<string, unknown>;
      } catch {
        return errors(422, 21, 'Bad request (invalid JSON)');
      }
      this.calls.push({ method: 'POST', path, headers: Object.fromEntries(request.headers), body });
      return this.createMessage(body);
    }
    return errors(404, 20, 'message not found');
  }

  private createMessage(body: Record<string, unknown>): Response {
    const { originator, recipients, reportUrl } = body;
    const text = body.body;
    if (typeof originator !== 'string' || !originator) return errors(422, 9, 'originator is required', 'originator');
    if (typeof text !== 'string' || !text) return errors(422, 9, 'body is required', 'body');
    const list = (Array.isArray(recipients) ? recipients : [recipients]).map(String);
    if (!list.length || !list.every((r) => MSISDN.test(r))) return errors(422, 10, 'recipients is invalid', 'recipients');
    if (list.some((r) => this.refused.has(r))) return errors(422, 9, 'no (correct) recipients found', 'recipients');
    const id = hex(16);
    const created = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, '+00:00');
    for (const recipient of list) {
      this.messages.set(id, { id, originator, recipient, body: text, ...(typeof reportUrl === 'string' ? { reportUrl } : {}), ...(typeof body.reference === 'string' ? { reference: body.reference } : {}) });
    }
    return Response.json(
      {
        id,
        href: `${this.origin}/messages/${id}`,
        direction: 'mt',
        type: 'sms',
        originator,
        body: text,
        reference: body.reference ?? null,
        validity: null,
        gateway: 10,
        typeDetails: {},
        datacoding: 'plain',
        mclass: 1,
        scheduledDatetime: null,
        createdDatetime: created,
        recipients: { totalCount: list.length, totalSentCount: list.length, totalDeliveredCount: 0, totalDeliveryFailedCount: 0, items: list.map((r) => ({ recipient: Number(r), status: 'sent', statusDatetime: created })) },
      },
      { status: 201 },
    );
  }

  // ---- webhooks MessageBird sends ----------------------------------------------------

  /** A signed POST to `url`, exactly as MessageBird would send it. */
  async signed(url: string, body: string, contentType: string, options: SignOptions = {}): Promise<Request> {
    const at = this.now() + (options.skewSeconds ?? 0) * 1000;
    const token = await messageBirdSignature(options.signingKey ?? this.signingKey, options.signedUrl ?? url, body, at, options.ttl);
    return new Request(url, { method: 'POST', headers: { 'content-type': contentType, 'messagebird-signature-jwt': token }, body });
  }

  /** An inbound text from `from` (E.164 or MSISDN) to the account's number, as a Flow Builder "Forward to URL" POST with JSON. */
  async text(url: string, from: string, text: string, options: SignOptions & { id?: string; mediaUrls?: string[] } = {}): Promise<Request> {
    const payload = {
      id: options.id ?? hex(16),
      originator: from.replace(/^\+/, ''),
      recipient: this.number,
      body: text,
      createdDatetime: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
      ...(options.mediaUrls ? { mediaUrls: options.mediaUrls } : {}),
    };
    return this.signed(url, JSON.stringify(payload), 'application/json', options);
  }

  /**
   * A status report for message `id`, as MessageBird sends it by default: a
   * GET to the `reportUrl` with the report in the query, signed over that URL
   * and an empty body — and only for a message that carries a `reference`.
   */
  async statusReport(id: string, status: string, failure?: { statusErrorCode: number; statusReason: string }): Promise<Request> {
    const message = this.messages.get(id);
    if (!message?.reportUrl) throw new Error(`message ${id} has no reportUrl`);
    if (!message.reference) throw new Error(`message ${id} has no reference: MessageBird sends no status report for it`);
    const fields = new URLSearchParams({
      id,
      reference: message.reference,
      recipient: message.recipient,
      status,
      statusDatetime: new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, '+00:00'),
      ...(failure ? { statusReason: failure.statusReason, statusErrorCode: String(failure.statusErrorCode) } : { statusReason: 'successfully delivered' }),
    });
    const url = `${message.reportUrl}${message.reportUrl.includes('?') ? '&' : '?'}${fields}`;
    const token = await messageBirdSignature(this.signingKey, url, '', this.now());
    return new Request(url, { method: 'GET', headers: { 'messagebird-signature-jwt': token } });
  }

  /** Sends the message's status reports in order, as MessageBird does; returns Parley's answers. */
  async progress(id: string, statuses: string[], failure?: { statusErrorCode: number; statusReason: string }): Promise<Response[]> {
    const out: Response[] = [];
    for (const status of statuses) out.push(await this.deliver(await this.statusReport(id, status, status === 'delivery_failed' ? failure : undefined)).catch(() => new Response(null, { status: 599 })));
    return out;
  }
}
