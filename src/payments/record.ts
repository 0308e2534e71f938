/**
 * A paid Checkout Session becomes one recorded payment and one
 * `conversation:payment` event, however often Stripe delivers it. The
 * session must be one Parley made for this app through this integration (its
 * D1 row), so a session from elsewhere on the same Stripe account, or one
 * claiming another app in its metadata, records nothing.
 *
 * Order: mark paid in D1; claim the raise (a short lease in D1, so two
 * concurrent deliveries never both raise); raise the event in the
 * conversation's object unless its stream already holds the event's id; mark
 * raised. Only then does Stripe get its 2xx. A crash anywhere in between is
 * made good by Stripe's retry: the row is paid but not raised, the lease
 * lapses, and the retry raises the event, or finds it already in the stream
 * (the id is made from the session) and only marks it raised. A delivery
 * that finds the lease held answers 503, so Stripe tries it again later.
 */
import type { Env } from '../env';
import { conversationStub } from '../api/context';
import { sha256Hex } from '../channels/signing';
import type { Conversation } from '../schema/conversation';
import { paymentEvent } from '../webhooks/events';
import { claimRaise, markPaid, markRaised, paymentBySession } from './ledger';
import { StatusError } from '../http/errors';
import type { CheckoutSession } from './stripe-api';
import type { StripeAccount } from './stripe-integration';

export type RecordOutcome = 'recorded' | 'already_recorded' | 'not_ours';

/** Longer than a raise ever takes (one object call); short enough that Stripe's next retry finds a crashed one lapsed. */
const RAISE_LEASE_MS = 30_000;

/** The event id for a session's payment: 24 hex characters like every Parley id, the same on every retry. */
export const paymentEventId = async (sessionId: string) => (await sha256Hex(`parley-payment:${sessionId}`)).slice(0, 24);

const intentId = (pi: CheckoutSession['payment_intent']) => (typeof pi === 'string' ? pi : (pi?.id ?? null));

export async function recordPaidSession(env: Env, account: StripeAccount, session: CheckoutSession, stripeEventId: string): Promise<RecordOutcome> {
  if (session.metadata?.appId !== undefined && session.metadata.appId !== account.appId) return 'not_ours';
  const payment = await paymentBySession(env, account.appId, account.id, session.id);
  if (!payment) return 'not_ours';
  const first = await markPaid(env, account.appId, session.id, intentId(session.payment_intent), stripeEventId);
  if (!first && payment.raisedAt) return 'already_recorded';
  if (!(await claimRaise(env, account.appId, session.id, RAISE_LEASE_MS))) {
    const now = await paymentBySession(env, account.appId, account.id, session.id);
    if (now?.raisedAt) return 'already_recorded';
    throw new StatusError(503, 'busy', 'This payment is being recorded by another delivery; retry later');
  }
  const stub = conversationStub(env, account.appId, payment.conversationId);
  const eventId = await paymentEventId(session.id);
  // Raised before a crash that kept it from being marked: the stream has it, and it must not go out twice.
  const already = (JSON.parse(await stub.eventsById([eventId])) as unknown[]).length > 0;
  if (!already) {
    const current = await stub.get();
    // The conversation may be gone since; the event still says which one it was.
    const conversation: Conversation = current.ok ? current.value.conversation : ({ id: payment.conversationId, type: 'personal' } as Conversation);
    const event = paymentEvent(eventId, conversation, { id: payment.userId }, payment.messageId, payment.action, {
      provider: 'stripe',
      integrationId: account.id,
      checkoutSessionId: session.id,
      paymentIntentId: intentId(session.payment_intent) ?? payment.paymentIntent,
      amount: session.amount_total ?? payment.amount,
      currency: session.currency ?? payment.currency,
      status: 'paid',
    });
    await stub.raiseUserEvent(account.appId, payment.conversationId, event);
  }
  await markRaised(env, account.appId, session.id);
  return first ? 'recorded' : 'already_recorded';
}
