/**
 * The one Stripe API call Parley makes: create a Checkout Session
 * (`POST /v1/checkout/sessions`), form-encoded with Stripe's bracketed keys
 * (`line_items[0][price_data][currency]=usd`), Bearer-authenticated with the
 * integration's secret key, with an `Idempotency-Key` so a repeated tap gets
 * the same session back. It goes through the outbound policy like every call
 * to a configured URL; Stripe's own origin is trusted (no DNS check spent).
 * Failures come back as values carrying Stripe's `{error: {type, code, message}}`.
 */
import type { Env } from '../env';
import { outboundFetch, outboundPolicy } from '../http/outbound';
import { STRIPE_API, type StripeAccount } from './stripe-integration';

type FormValue = string | number | boolean | null | undefined | FormValue[] | { [key: string]: FormValue };

/** Stripe's form encoding: nested objects and arrays as `a[b][0][c]=v`; null and undefined are left out. */
export function stripeForm(params: Record<string, FormValue>): string {
  const out = new URLSearchParams();
  const walk = (key: string, value: FormValue) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) value.forEach((item, i) => walk(`${key}[${i}]`, item));
    else if (typeof value === 'object') for (const [k, item] of Object.entries(value)) walk(`${key}[${k}]`, item);
    else out.append(key, String(value));
  };
  for (const [key, value] of Object.entries(params)) walk(key, value);
  return out.toString();
}

/** The fields of a Checkout Session Parley reads. */
export interface CheckoutSession {
  id: string;
  object: 'checkout.session';
  url: string | null;
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  status?: 'open' | 'complete' | 'expired';
  client_reference_id: string | null;
  metadata: Record<string, string>;
  amount_total: number | null;
  currency: string | null;
  payment_intent: string | { id: string } | null;
}

export interface StripeFailure {
  ok: false;
  /** Stripe's HTTP status, or 0 when Stripe could not be reached. */
  status: number;
  type: string;
  code?: string;
  message: string;
}

export interface CheckoutRequest {
  name: string;
  amount: number;
  currency: string;
  successUrl: string;
  cancelUrl: string;
  clientReferenceId: string;
  metadata: Record<string, string>;
  idempotencyKey: string;
}

const TRUSTED = new Set([STRIPE_API]);
/** Stripe answers session creation within seconds; a user waits on this page. */
const TIMEOUT_MS = 10_000;

export async function createCheckoutSession(env: Env, account: StripeAccount, req: CheckoutRequest): Promise<{ ok: true; session: CheckoutSession } | StripeFailure> {
  const body = stripeForm({
    mode: 'payment',
    line_items: [{ price_data: { currency: req.currency, unit_amount: req.amount, product_data: { name: req.name } }, quantity: 1 }],
    success_url: req.successUrl,
    cancel_url: req.cancelUrl,
    client_reference_id: req.clientReferenceId,
    metadata: req.metadata,
  });
  let res: Response;
  try {
    res = await outboundFetch(outboundPolicy(env, TRUSTED), `${account.apiBase}/v1/checkout/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${account.secretKey}`, 'content-type': 'application/x-www-form-urlencoded', 'idempotency-key': req.idempotencyKey },
      body,
      timeoutMs: TIMEOUT_MS,
    });
  } catch (err) {
    return { ok: false, status: 0, type: 'api_connection_error', message: err instanceof Error ? err.message : String(err) };
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed as { error?: { type?: string; code?: string; message?: string } } | undefined)?.error;
    return { ok: false, status: res.status, type: error?.type ?? 'api_error', ...(error?.code ? { code: error.code } : {}), message: error?.message ?? `Stripe answered ${res.status}` };
  }
  const session = parsed as CheckoutSession | undefined;
  if (!session || session.object !== 'checkout.session' || typeof session.id !== 'string') return { ok: false, status: res.status, type: 'api_error', message: 'Stripe answered without a Checkout Session' };
  return { ok: true, session };
}
