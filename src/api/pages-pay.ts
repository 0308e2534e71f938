/**
 * The pay page behind a `buy` action's link, `GET /pages/pay/{token}`: the
 * signed token names the app, conversation, message, user and action; the
 * page reads the message from its conversation, checks the action is a buy,
 * the app has a Stripe integration and this user has not paid for it yet,
 * then creates a Stripe Checkout Session for the action's amount and sends
 * the browser there (303). Stripe sends the payer back to `/done` or
 * `/cancelled`, which say what happened. Anything that stops a payment is an
 * HTML page that says why, with a 4xx or 5xx status.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { readPageToken, type PageRef } from '../content/page-links';
import { sha256Hex } from '../channels/signing';
import { findBuyAction } from '../payments/buy-action';
import { actionRef, openPayment, paidFor, paymentBySession } from '../payments/ledger';
import { formatAmount, page } from '../payments/page';
import { createCheckoutSession, type StripeFailure } from '../payments/stripe-api';
import { stripeForApp } from '../payments/stripe-integration';
import { checkTarget, isLocal } from '../http/targets';

/** A double tap within this window gets the same Checkout Session back (Stripe keeps idempotency keys for 24 h). */
const IDEMPOTENCY_WINDOW_MS = 60 * 60 * 1000;

const publicBase = (request: Request, env: Env) => (env.PUBLIC_URL ?? new URL(request.url).origin).replace(/\/+$/, '');

const invalidLink = () =>
  page({ status: 404, tone: 'error', title: 'This payment link is not valid', lines: ['The link is incomplete or was changed. Go back to the conversation and tap the button again.'] });

async function readRef(request: IRequest, env: Env): Promise<PageRef | undefined> {
  return readPageToken(env, 'pay', request.params.token ?? '');
}

function stripeFailurePage(f: StripeFailure): Response {
  if (f.status === 402) {
    return page({ status: 402, tone: 'error', title: 'The payment could not be started', lines: [f.message, 'Nothing was charged.'] });
  }
  if (f.status === 0 || f.status === 429 || f.status >= 500) {
    return page({
      status: 503,
      tone: 'error',
      title: 'Payments are unavailable right now',
      lines: ['Stripe, our payment provider, could not be reached or is busy. Nothing was charged. Please try again in a minute.'],
      headers: { 'retry-after': '60' },
    });
  }
  // 400, 401, 403, 404: the business's Stripe setup refused the request; the payer can do nothing about it but say so.
  return page({
    status: 502,
    tone: 'error',
    title: 'The payment could not be started',
    lines: ['Stripe refused to start this payment, so nothing was charged. Please let the business know.', `Stripe said: ${f.message}`],
  });
}

export async function pay(request: IRequest, env: Env): Promise<Response> {
  const ref = await readRef(request, env);
  if (!ref) return invalidLink();
  const account = await stripeForApp(env, ref.appId);
  if (!account || account.status !== 'active') {
    return page({ status: 404, tone: 'error', title: 'Payments are not available', lines: ['This business does not take payments here at the moment. Nothing was charged.'] });
  }
  const found = await findBuyAction(env, ref);
  if (!found.ok) {
    return found.problem === 'message_gone'
      ? page({ status: 410, tone: 'error', title: 'This offer is no longer available', lines: ['The message with this offer was deleted. Nothing was charged.'] })
      : invalidLink();
  }
  const { action } = found;
  const key = actionRef(ref.item, ref.action);
  const currency = action.currency ?? 'usd';
  if (await paidFor(env, ref.appId, ref.messageId, key, ref.userId)) {
    return page({ status: 409, tone: 'success', title: 'Already paid', lines: [`You have already paid for ${action.text} (${formatAmount(action.amount, currency)}). You will not be charged again.`] });
  }
  const base = `${publicBase(request, env)}/pages/pay/${request.params.token}`;
  const result = await createCheckoutSession(env, account, {
    name: action.text,
    amount: action.amount,
    currency,
    successUrl: `${base}/done?session_id={CHECKOUT_SESSION_ID}`,
    cancelUrl: `${base}/cancelled`,
    clientReferenceId: ref.messageId,
    metadata: { appId: ref.appId, conversationId: ref.conversationId, messageId: ref.messageId, userId: ref.userId, action: key },
    idempotencyKey: `parley-pay-${(await sha256Hex(`${request.params.token}:${Math.floor(Date.now() / IDEMPOTENCY_WINDOW_MS)}`)).slice(0, 48)}`,
  });
  if (!result.ok) return stripeFailurePage(result);
  const { session } = result;
  if (!session.url || checkTarget(session.url, isLocal(env))) {
    return stripeFailurePage({ ok: false, status: 502, type: 'api_error', message: 'Stripe answered without a checkout page to send you to' });
  }
  await openPayment(env, {
    sessionId: session.id,
    appId: ref.appId,
    integrationId: account.id,
    conversationId: ref.conversationId,
    messageId: ref.messageId,
    userId: ref.userId,
    actionRef: key,
    action,
    amount: action.amount,
    currency,
  });
  return new Response(null, { status: 303, headers: { location: session.url, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } });
}

/** Stripe's success_url: says whether the payment is confirmed yet (the webhook may come a moment after the payer). */
export async function done(request: IRequest, env: Env): Promise<Response> {
  const ref = await readRef(request, env);
  if (!ref) return invalidLink();
  const sessionId = new URL(request.url).searchParams.get('session_id') ?? '';
  const account = await stripeForApp(env, ref.appId);
  const payment = account && /^cs_[A-Za-z0-9_]{1,250}$/.test(sessionId) ? await paymentBySession(env, ref.appId, account.id, sessionId) : undefined;
  const mine = payment && payment.messageId === ref.messageId && payment.userId === ref.userId ? payment : undefined;
  const what = mine ? `${mine.action.text} (${formatAmount(mine.amount, mine.currency)})` : 'your purchase';
  if (mine?.status === 'paid') {
    return page({ status: 200, tone: 'success', title: 'Payment received', lines: [`Thank you! Your payment for ${what} is confirmed.`, 'You can close this tab and go back to the conversation.'] });
  }
  return page({
    status: 200,
    tone: 'success',
    title: 'Thank you!',
    lines: [`Your payment for ${what} is being confirmed. The business is told as soon as Stripe confirms it.`, 'You can close this tab and go back to the conversation.'],
  });
}

/** Stripe's cancel_url: nothing was charged; the payer may try again. */
export async function cancelled(request: IRequest, env: Env): Promise<Response> {
  const ref = await readRef(request, env);
  if (!ref) return invalidLink();
  return page({
    status: 200,
    tone: 'info',
    title: 'Payment cancelled',
    lines: ['You cancelled the payment, so nothing was charged.', 'You can close this tab and go back to the conversation, or try again.'],
    link: { href: `${publicBase(request, env)}/pages/pay/${request.params.token}`, text: 'Try again' },
  });
}
