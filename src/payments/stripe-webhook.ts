/**
 * `POST /payments/stripe/{integrationId}`: where Stripe sends the events of
 * an app's Stripe integration. The raw body is verified against
 * `Stripe-Signature` before anything is read or stored (400 otherwise, as
 * Stripe's libraries refuse). A paid Checkout Session
 * (`checkout.session.completed` with `payment_status: paid`, or
 * `checkout.session.async_payment_succeeded` for delayed methods) is
 * recorded once and raises `conversation:payment` once (see record.ts);
 * every other event is answered 200 so Stripe stops sending it. An event id
 * seen before with another body is refused.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { sha256Hex } from '../channels/signing';
import { readBytes } from '../http/request';
import { recordPaidSession } from './record';
import { rememberEvent } from './ledger';
import type { CheckoutSession } from './stripe-api';
import { stripeById } from './stripe-integration';
import { verifyStripeSignature } from './stripe-signature';

/** Stripe events are a few KB; Stripe's own limit on a payload is far below this. */
const MAX_EVENT_BYTES = 256 * 1024;

const answer = (status: number, body: Record<string, unknown>) => Response.json(body, { status });
const refuse = (message: string) => answer(400, { error: { message } });

interface StripeEvent {
  id: string;
  object: 'event';
  type: string;
  data: { object: CheckoutSession };
}

function asEvent(raw: string): StripeEvent | undefined {
  try {
    const e = JSON.parse(raw) as StripeEvent;
    return e && typeof e.id === 'string' && typeof e.type === 'string' && e.data && typeof e.data.object === 'object' ? e : undefined;
  } catch {
    return undefined;
  }
}

function paidSession(e: StripeEvent): CheckoutSession | undefined {
  const session = e.data.object;
  if (session?.object !== 'checkout.session' || typeof session.id !== 'string') return undefined;
  if (e.type === 'checkout.session.async_payment_succeeded') return session;
  if (e.type === 'checkout.session.completed' && session.payment_status === 'paid') return session;
  return undefined;
}

export async function receiveStripeEvent(request: IRequest, env: Env): Promise<Response> {
  const account = await stripeById(env, request.params.integrationId!);
  if (!account) return answer(404, { error: { message: 'No Stripe integration at this URL' } });
  let raw: string;
  try {
    raw = new TextDecoder().decode(await readBytes(request, MAX_EVENT_BYTES));
  } catch {
    return answer(413, { error: { message: `Payload must be at most ${MAX_EVENT_BYTES} bytes` } });
  }
  const check = await verifyStripeSignature(raw, request.headers.get('stripe-signature'), account.webhookSecret);
  if (!check.ok) return refuse(check.reason);
  const event = asEvent(raw);
  if (!event) return refuse('The payload is not a Stripe event');
  const session = paidSession(event);
  // Events Parley does not act on are acknowledged and not remembered.
  if (!session) return answer(200, { received: true });
  const seen = await rememberEvent(env, account.id, event.id, await sha256Hex(raw));
  if (seen === 'conflict') return refuse(`Event ${event.id} was already received with another body`);
  const outcome = await recordPaidSession(env, account, session, event.id);
  return answer(200, { received: true, outcome });
}
