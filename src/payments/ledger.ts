/**
 * Payments in D1 (migration 0011): one row per Checkout Session Parley made
 * for a buy action, written `open` by the pay page with the action as it was
 * then, turned `paid` exactly once by the first verified webhook that says
 * so, and marked `raised` once its event is in the conversation's stream.
 * Also the Stripe event ids each integration has seen, with a digest of their
 * body, so a redelivery is taken and a same-id event with another body is not.
 * Every query names the app (or, for Stripe's events, the integration).
 */
import type { Env } from '../env';
import type { Action } from '../schema/content';

export type BuyAction = Extract<Action, { type: 'buy' }>;

export interface Payment {
  sessionId: string;
  appId: string;
  integrationId: string;
  conversationId: string;
  messageId: string;
  userId: string;
  /** `{action}` for a message-level action, `{item}.{action}` for an item's. */
  actionRef: string;
  action: BuyAction;
  amount: number;
  currency: string;
  status: 'open' | 'paid';
  paymentIntent: string | null;
  eventId: string | null;
  paidAt: string | null;
  raisedAt: string | null;
}

interface Row {
  session_id: string;
  app_id: string;
  integration_id: string;
  conversation_id: string;
  message_id: string;
  user_id: string;
  action_ref: string;
  action: string;
  amount: number;
  currency: string;
  status: string;
  payment_intent: string | null;
  event_id: string | null;
  paid_at: string | null;
  raised_at: string | null;
}

const toPayment = (r: Row): Payment => ({
  sessionId: r.session_id,
  appId: r.app_id,
  integrationId: r.integration_id,
  conversationId: r.conversation_id,
  messageId: r.message_id,
  userId: r.user_id,
  actionRef: r.action_ref,
  action: JSON.parse(r.action) as BuyAction,
  amount: r.amount,
  currency: r.currency,
  status: r.status as Payment['status'],
  paymentIntent: r.payment_intent,
  eventId: r.event_id,
  paidAt: r.paid_at,
  raisedAt: r.raised_at,
});

export const actionRef = (item: number | undefined, action: number | undefined) => (item !== undefined ? `${item}.${action ?? 0}` : String(action ?? 0));

/** The session the pay page sent the user to; a replayed session (same id) changes nothing. */
export async function openPayment(env: Env, p: Omit<Payment, 'status' | 'paymentIntent' | 'eventId' | 'paidAt' | 'raisedAt'>): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO payments (session_id, app_id, integration_id, conversation_id, message_id, user_id, action_ref, action, amount, currency, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(session_id) DO NOTHING`,
  )
    .bind(p.sessionId, p.appId, p.integrationId, p.conversationId, p.messageId, p.userId, p.actionRef, JSON.stringify(p.action), p.amount, p.currency, new Date().toISOString())
    .run();
}

/** A completed payment of this user for this action of this message, if any. */
export async function paidFor(env: Env, appId: string, messageId: string, ref: string, userId: string): Promise<Payment | undefined> {
  const row = await env.DB.prepare(`SELECT * FROM payments WHERE app_id = ? AND message_id = ? AND action_ref = ? AND user_id = ? AND status = 'paid' LIMIT 1`)
    .bind(appId, messageId, ref, userId)
    .first<Row>();
  return row ? toPayment(row) : undefined;
}

/** The session's payment, if Parley made that session for this app through this integration. */
export async function paymentBySession(env: Env, appId: string, integrationId: string, sessionId: string): Promise<Payment | undefined> {
  const row = await env.DB.prepare('SELECT * FROM payments WHERE session_id = ? AND app_id = ? AND integration_id = ?').bind(sessionId, appId, integrationId).first<Row>();
  return row ? toPayment(row) : undefined;
}

/** Marks the session paid; true only for the call that did it (a retry or duplicate finds it paid already). */
export async function markPaid(env: Env, appId: string, sessionId: string, paymentIntent: string | null, eventId: string): Promise<boolean> {
  const res = await env.DB.prepare(`UPDATE payments SET status = 'paid', payment_intent = ?, event_id = ?, paid_at = ? WHERE session_id = ? AND app_id = ? AND status = 'open'`)
    .bind(paymentIntent, eventId, new Date().toISOString(), sessionId, appId)
    .run();
  return res.meta.changes > 0;
}

/**
 * Claims the raising of the session's event for `leaseMs`: true for the one
 * delivery that may raise it now; false while another holds the lease or
 * once it was raised. A lease left by a crash lapses, and the next retry claims it.
 */
export async function claimRaise(env: Env, appId: string, sessionId: string, leaseMs: number): Promise<boolean> {
  const now = Date.now();
  const res = await env.DB.prepare(
    `UPDATE payments SET raising_until = ? WHERE session_id = ? AND app_id = ? AND status = 'paid' AND raised_at IS NULL AND (raising_until IS NULL OR raising_until < ?)`,
  )
    .bind(now + leaseMs, sessionId, appId, now)
    .run();
  return res.meta.changes > 0;
}

export async function markRaised(env: Env, appId: string, sessionId: string): Promise<void> {
  await env.DB.prepare('UPDATE payments SET raised_at = ? WHERE session_id = ? AND app_id = ? AND raised_at IS NULL').bind(new Date().toISOString(), sessionId, appId).run();
}

/**
 * Remembers a verified Stripe event: `new` the first time, `same` for a
 * redelivery with the same body, `conflict` for the same id with another body.
 */
export async function rememberEvent(env: Env, integrationId: string, eventId: string, digest: string): Promise<'new' | 'same' | 'conflict'> {
  const inserted = await env.DB.prepare('INSERT INTO stripe_events (integration_id, event_id, digest, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING')
    .bind(integrationId, eventId, digest, new Date().toISOString())
    .run();
  if (inserted.meta.changes > 0) return 'new';
  const seen = await env.DB.prepare('SELECT digest FROM stripe_events WHERE integration_id = ? AND event_id = ?').bind(integrationId, eventId).first<{ digest: string }>();
  return seen?.digest === digest ? 'same' : 'conflict';
}
