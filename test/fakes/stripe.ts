/**
 * A stand-in for Stripe: the Checkout Sessions API (`POST
 * /v1/checkout/sessions`, `GET /v1/checkout/sessions/{id}`) with Stripe's
 * form encoding of nested keys (`line_items[0][price_data][currency]`),
 * Bearer auth answered with Stripe's 401 error body, Stripe's
 * `Idempotency-Key` semantics (the same key and parameters replay the first
 * answer with `Idempotent-Replayed: true`; the same key with other
 * parameters is a 400 `idempotency_error`), programmable failures, and a
 * hosted checkout page at each session's `url`. When a test "pays" a
 * session, the fake sends the signed `checkout.session.completed` event
 * (`Stripe-Signature: t=…,v1=<hex HMAC-SHA256 of "t.body" under whsec_…>`)
 * to the endpoint, with duplicates and retries on demand. Web-standard APIs
 * only, so it runs inside workerd and under Node alike.
 */
import { hmacHex } from '../../src/channels/signing';

type Json = Record<string, any>;

export interface StripeFailure {
  status: number;
  error: { type: string; code?: string; message: string; decline_code?: string };
}

export interface RecordedStripeCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The form body as Stripe parses it (nested keys expanded). */
  params: Json;
  /** The raw form body. */
  raw: string;
  status: number;
}

export interface StripeSession {
  id: string;
  object: 'checkout.session';
  url: string | null;
  status: 'open' | 'complete' | 'expired';
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  mode: string;
  client_reference_id: string | null;
  metadata: Record<string, string>;
  amount_total: number;
  amount_subtotal: number;
  currency: string;
  payment_intent: string | null;
  success_url: string;
  cancel_url: string | null;
  line_items: Json[];
  livemode: false;
  created: number;
  expires_at: number;
}

export interface StripeFakeOptions {
  origin?: string;
  secretKey?: string;
  webhookSecret?: string;
  /** Sends events to the endpoint (default: global fetch). */
  deliver?: (request: Request) => Promise<Response>;
  now?: () => number;
}

const rand = (n: number) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => alphabet[b % alphabet.length]).join('');
};

/** Stripe's decoding of a form body: `a[b][0][c]=v` → `{a: {b: [{c: 'v'}]}}` (numeric keys make arrays). */
export function parseStripeForm(raw: string): Json {
  const root: Json = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
    if (!m) continue;
    const path = [m[1]!, ...[...m[2]!.matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1]!)];
    let at: any = root;
    path.forEach((segment, i) => {
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[i + 1]!);
      const k: string | number = Array.isArray(at) ? (segment === '' ? at.length : Number(segment)) : segment;
      if (last) at[k] = value;
      else at = at[k] ??= nextIsIndex || path[i + 1] === '' ? [] : {};
    });
  }
  return root;
}

const stripeError = (status: number, type: string, message: string, extra: Json = {}) =>
  Response.json({ error: { type, message, ...extra } }, { status, headers: { 'request-id': `req_${rand(14)}` } });

/** Stripe's canonical JSON for a set of parameters, to tell whether an idempotent replay carries the same ones. */
const fingerprint = (raw: string) => [...new URLSearchParams(raw)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join('&');

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export class StripeFake {
  readonly origin: string;
  readonly secretKey: string;
  webhookSecret: string;
  /** Extra secrets the fake also signs with (a rolled secret still valid): each adds a v1 value. */
  extraSigningSecrets: string[] = [];
  readonly sessions = new Map<string, StripeSession>();
  readonly calls: RecordedStripeCall[] = [];
  /** Answers for the next API calls, in order, instead of the real behaviour. */
  readonly failures: StripeFailure[] = [];
  /** Where events go: the URL Parley shows as the integration's webhookUrl. */
  endpoint?: string;
  /** Every event delivery: the request sent and Parley's status. */
  readonly deliveries: { event: Json; status: number; body: string }[] = [];
  private readonly idempotency = new Map<string, { fingerprint: string; status: number; body: string }>();
  private readonly deliver: (request: Request) => Promise<Response>;
  private readonly now: () => number;

  constructor(opts: StripeFakeOptions = {}) {
    this.origin = opts.origin ?? 'https://stripe.fake.test';
    this.secretKey = opts.secretKey ?? `sk_test_${rand(24)}`;
    this.webhookSecret = opts.webhookSecret ?? `whsec_${rand(32)}`;
    this.deliver = opts.deliver ?? ((r) => fetch(r));
    this.now = opts.now ?? (() => Date.now());
  }

  /** Makes the next API call fail the way Stripe does, e.g. `fail(402, 'card_error', 'Your card was declined.', 'card_declined')`. */
  fail(status: number, type: string, message: string, code?: string): void {
    this.failures.push({ status, error: { type, message, ...(code ? { code } : {}) } });
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith('/c/pay/')) {
      const id = url.pathname.slice('/c/pay/'.length);
      if (request.method === 'GET') return this.checkoutPage(id);
      if (request.method === 'POST') return this.payFromPage(id);
    }
    // Decoded by hand: workerd warns when .text() reads a form body.
    const raw = request.method === 'POST' ? new TextDecoder().decode(await request.arrayBuffer()) : '';
    const headers = Object.fromEntries(request.headers);
    const record = (status: number) => this.calls.push({ method: request.method, path: url.pathname, headers, params: parseStripeForm(raw), raw, status });
    const auth = request.headers.get('authorization') ?? '';
    if (!auth) {
      record(401);
      return stripeError(
        401,
        'invalid_request_error',
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
      );
    }
    const key = /^Bearer (.+)$/.exec(auth)?.[1];
    if (key !== this.secretKey) {
      record(401);
      return stripeError(401, 'invalid_request_error', `Invalid API Key provided: ${(key ?? '').slice(0, 8)}${'*'.repeat(12)}${(key ?? '').slice(-4)}`, { code: 'api_key_invalid' });
    }
    const failure = this.failures.shift();
    if (failure) {
      record(failure.status);
      return Response.json({ error: failure.error }, { status: failure.status });
    }
    if (request.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      const idemKey = request.headers.get('idempotency-key');
      if (idemKey) {
        const seen = this.idempotency.get(idemKey);
        if (seen) {
          record(seen.fingerprint === fingerprint(raw) ? seen.status : 400);
          if (seen.fingerprint !== fingerprint(raw)) {
            return stripeError(400, 'idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.`);
          }
          return new Response(seen.body, { status: seen.status, headers: { 'content-type': 'application/json', 'idempotent-replayed': 'true', 'idempotency-key': idemKey } });
        }
      }
      const res = this.createSession(parseStripeForm(raw));
      const body = await res.clone().text();
      if (idemKey) this.idempotency.set(idemKey, { fingerprint: fingerprint(raw), status: res.status, body });
      record(res.status);
      return res;
    }
    const retrieve = /^\/v1\/checkout\/sessions\/(cs_[A-Za-z0-9_]+)$/.exec(url.pathname);
    if (request.method === 'GET' && retrieve) {
      record(this.sessions.has(retrieve[1]!) ? 200 : 404);
      const s = this.sessions.get(retrieve[1]!);
      return s ? Response.json(s) : stripeError(404, 'invalid_request_error', `No such checkout.session: '${retrieve[1]}'`, { code: 'resource_missing', param: 'session' });
    }
    record(404);
    return stripeError(404, 'invalid_request_error', `Unrecognized request URL (${request.method}: ${url.pathname}).`);
  }

  private createSession(p: Json): Response {
    const missing = (param: string) => stripeError(400, 'invalid_request_error', `Missing required param: ${param}.`, { code: 'parameter_missing', param });
    if (!p.mode) return missing('mode');
    if (!p.success_url) return missing('success_url');
    const items = p.line_items as Json[] | undefined;
    if (!Array.isArray(items) || items.length === 0) return missing('line_items');
    let total = 0;
    let currency = '';
    for (const [i, item] of items.entries()) {
      const price = item.price_data as Json | undefined;
      if (!price?.currency) return missing(`line_items[${i}][price_data][currency]`);
      if (!price.product_data?.name) return missing(`line_items[${i}][price_data][product_data][name]`);
      const unit = Number(price.unit_amount);
      if (!Number.isInteger(unit) || unit < 0) return stripeError(400, 'invalid_request_error', 'Invalid integer: unit_amount', { code: 'parameter_invalid_integer', param: `line_items[${i}][price_data][unit_amount]` });
      total += unit * Number(item.quantity ?? 1);
      currency = price.currency;
    }
    const id = `cs_test_${rand(58)}`;
    const created = Math.floor(this.now() / 1000);
    const session: StripeSession = {
      id,
      object: 'checkout.session',
      url: `${this.origin}/c/pay/${id}`,
      status: 'open',
      payment_status: 'unpaid',
      mode: p.mode,
      client_reference_id: p.client_reference_id ?? null,
      metadata: p.metadata ?? {},
      amount_total: total,
      amount_subtotal: total,
      currency,
      payment_intent: null,
      success_url: p.success_url,
      cancel_url: p.cancel_url ?? null,
      line_items: items,
      livemode: false,
      created,
      expires_at: created + 24 * 3600,
    };
    this.sessions.set(id, session);
    // The API answer has no line_items (they are expandable); the fake keeps them for tests.
    const { line_items: _items, ...answer } = session;
    return Response.json(answer);
  }

  private checkoutPage(id: string): Response {
    const s = this.sessions.get(id);
    if (!s) return new Response('Something went wrong', { status: 404 });
    const name = (s.line_items[0]?.price_data?.product_data?.name as string | undefined) ?? '';
    const pay = s.status === 'open' ? `<form method="post"><button type="submit">Pay ${s.amount_total} ${s.currency}</button></form>` : '<p>This checkout is complete.</p>';
    return new Response(`<!doctype html><title>Pay</title><h1>${escapeHtml(name)}</h1><p>${s.amount_total} ${s.currency}</p>${pay}`, { headers: { 'content-type': 'text/html' } });
  }

  /** The payer pressed Pay on the hosted page: the session is paid, its event sent, and the browser goes to success_url, as Checkout does. */
  private async payFromPage(id: string): Promise<Response> {
    const s = this.sessions.get(id);
    if (!s) return new Response('Something went wrong', { status: 404 });
    if (s.status === 'open') await this.pay(id);
    return new Response(null, { status: 303, headers: { location: s.success_url.replace('{CHECKOUT_SESSION_ID}', id) } });
  }

  /** The payer completed the checkout page: the session turns paid and its event goes to the endpoint; answers the event and each delivery's status. */
  async pay(sessionId: string, opts: { deliveries?: number; eventType?: string; paymentStatus?: 'paid' | 'unpaid' } = {}): Promise<{ event: Json; statuses: number[] }> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new Error(`no session ${sessionId}`);
    const paid = (opts.paymentStatus ?? 'paid') === 'paid';
    Object.assign(s, { status: 'complete', payment_status: paid ? 'paid' : 'unpaid', payment_intent: s.payment_intent ?? `pi_${rand(24)}`, url: null });
    const event = this.event(opts.eventType ?? 'checkout.session.completed', s);
    const statuses: number[] = [];
    for (let i = 0; i < (opts.deliveries ?? 1); i++) statuses.push((await this.send(event)).status);
    return { event, statuses };
  }

  /** A Stripe event object for a session, as Stripe builds it. */
  event(type: string, session: StripeSession): Json {
    const { line_items: _items, ...object } = session;
    return {
      id: `evt_${rand(24)}`,
      object: 'event',
      api_version: '2024-06-20',
      created: Math.floor(this.now() / 1000),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
  }

  /** `t=…,v1=…[,v1=…]` for this body, signed with the endpoint secret (and any extra ones) at `timestamp`. */
  async signature(body: string, timestamp = Math.floor(this.now() / 1000), secrets = [this.webhookSecret, ...this.extraSigningSecrets]): Promise<string> {
    const sigs = await Promise.all(secrets.map((secret) => hmacHex('SHA-256', secret, `${timestamp}.${body}`)));
    return [`t=${timestamp}`, ...sigs.map((s) => `v1=${s}`)].join(',');
  }

  /** The signed POST of an event (or of any raw body) to the endpoint, as Stripe sends it; `header` overrides the signature. */
  async signedRequest(event: Json | string, opts: { header?: string | null; timestamp?: number } = {}): Promise<Request> {
    if (!this.endpoint) throw new Error('no endpoint configured on the Stripe fake');
    const body = typeof event === 'string' ? event : JSON.stringify(event, null, 2);
    const header = opts.header === undefined ? await this.signature(body, opts.timestamp) : opts.header;
    return new Request(this.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)', ...(header !== null ? { 'stripe-signature': header } : {}) },
      body,
    });
  }

  /** Delivers one event (a retry or duplicate is simply another call); answers Parley's response. */
  async send(event: Json, opts: { header?: string | null; timestamp?: number } = {}): Promise<Response> {
    const res = await this.deliver(await this.signedRequest(event, opts));
    const body = await res.text();
    this.deliveries.push({ event, status: res.status, body });
    return new Response(body, { status: res.status, headers: res.headers });
  }

  /** The session Parley's last Checkout call created. */
  lastSession(): StripeSession | undefined {
    return [...this.sessions.values()].at(-1);
  }
}
