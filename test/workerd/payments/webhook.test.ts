/**
 * Stripe's webhook at `/payments/stripe/{integrationId}`: the signature is
 * checked as Stripe's libraries check it (t=…,v1=… over "t.body", 300 s
 * tolerance, any of several v1 values) and a refused request stores nothing;
 * a paid session is recorded once and raises one `conversation:payment`
 * whatever Stripe retries or duplicates; a replayed event id with another
 * body is refused; events Parley does not act on are answered 200; a crash
 * between recording and raising is made good by Stripe's retry, and never
 * raises the event twice.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageUrl } from '../../../src/content/page-links';
import { verifyStripeSignature } from '../../../src/payments/stripe-signature';
import { hmacHex } from '../../../src/channels/signing';
import { eventually, hook } from '../channels/harness';
import { makeWorld, open, postBusiness, telegramUser, type World } from './world';

type Json = Record<string, any>;

let w: World;
let user: { conversationId: string; userId: string };

beforeAll(async () => {
  w = await makeWorld('hooks');
  user = await telegramUser(w, 7201, 'Sam');
});

afterAll(() => w.restore());

/** A fresh buy action opened on its pay page: the open Checkout Session for it. */
async function openSession(text = 'Widget', amount = 1200) {
  const messageId = await postBusiness(w, user.conversationId, { type: 'text', text, actions: [{ type: 'buy', text: `Buy ${text}`, amount, currency: 'usd' }] });
  const url = await pageUrl(env, 'http://parley.test', { kind: 'pay', appId: w.app.appId, conversationId: user.conversationId, messageId, userId: user.userId, action: 0 });
  const page = await open(url);
  expect(page.status, page.html).toBe(303);
  return { messageId, session: w.stripe.lastSession()! };
}

const counts = async () => ({
  events: Number(await env.DB.prepare('SELECT count(*) AS n FROM stripe_events').first('n')),
  paid: Number(await env.DB.prepare(`SELECT count(*) AS n FROM payments WHERE status = 'paid'`).first('n')),
});

const eventsFor = (messageId: string) => w.receiver.ofType('conversation:payment').filter((e) => (e.payload.message as Json).id === messageId);

/** Waits until the webhook events have settled, then answers the payment events of the message. */
async function settledEvents(messageId: string, expected: number) {
  await eventually(() => expect(eventsFor(messageId).length).toBeGreaterThanOrEqual(expected));
  await new Promise((r) => setTimeout(r, 300));
  return eventsFor(messageId);
}

describe('verifying Stripe-Signature (as stripe-node constructEvent does)', () => {
  const secret = 'whsec_test_secret_for_unit';
  const body = '{"id":"evt_1","object":"event"}';
  const now = 1_760_000_000;

  it('takes a good signature, any one of several v1 values, and ignores v0', async () => {
    const good = await hmacHex('SHA-256', secret, `${now}.${body}`);
    expect(await verifyStripeSignature(body, `t=${now},v1=${good}`, secret, now)).toEqual({ ok: true });
    expect(await verifyStripeSignature(body, `t=${now},v1=${'0'.repeat(64)},v1=${good},v0=${'f'.repeat(64)}`, secret, now + 299)).toEqual({ ok: true });
  });

  it('refuses missing, malformed, forged and stale signatures with stripe-node reasons', async () => {
    const good = await hmacHex('SHA-256', secret, `${now}.${body}`);
    expect(await verifyStripeSignature(body, null, secret, now)).toEqual({ ok: false, reason: 'No stripe-signature header value was provided.' });
    expect(await verifyStripeSignature(body, `v1=${good}`, secret, now)).toMatchObject({ reason: 'Unable to extract timestamp and signatures from header' });
    expect(await verifyStripeSignature(body, `t=${now},v0=${good}`, secret, now)).toMatchObject({ reason: 'No signatures found with expected scheme' });
    expect(await verifyStripeSignature(`${body} `, `t=${now},v1=${good}`, secret, now)).toMatchObject({ reason: expect.stringMatching(/^No signatures found matching/) });
    expect(await verifyStripeSignature(body, `t=${now},v1=${good}`, 'whsec_another', now)).toMatchObject({ ok: false });
    expect(await verifyStripeSignature(body, `t=${now},v1=${good}`, secret, now + 301)).toMatchObject({ reason: 'Timestamp outside the tolerance zone' });
    expect(await verifyStripeSignature(body, `t=${now},v1=${good}`, secret, now - 301)).toMatchObject({ reason: 'Timestamp outside the tolerance zone' });
  });
});

describe('the webhook endpoint', () => {
  it('refuses forged, stale, missing and wrong-secret signatures with 400 and stores nothing', async () => {
    const { session } = await openSession('Refused');
    w.stripe.sessions.get(session.id)!.payment_status = 'paid';
    const event = w.stripe.event('checkout.session.completed', w.stripe.sessions.get(session.id)!);
    const before = await counts();
    const forged = await w.stripe.send(event, { header: `t=${Math.floor(Date.now() / 1000)},v1=${'ab'.repeat(32)}` });
    expect(forged.status).toBe(400);
    expect((await forged.json()) as Json).toMatchObject({ error: { message: expect.stringMatching(/No signatures found matching/) } });
    expect((await w.stripe.send(event, { timestamp: Math.floor(Date.now() / 1000) - 600 })).status).toBe(400);
    expect((await w.stripe.send(event, { header: null })).status).toBe(400);
    const wrongSecret = await w.stripe.signature(JSON.stringify(event, null, 2), undefined, ['whsec_notTheRightOne123']);
    expect((await w.stripe.send(event, { header: wrongSecret })).status).toBe(400);
    expect(await counts()).toEqual(before);
    await new Promise((r) => setTimeout(r, 300));
    expect(eventsFor(session.metadata.messageId!)).toEqual([]);
  });

  it('takes an event signed with a rolled secret too (several v1 values)', async () => {
    const { messageId, session } = await openSession('Rolled');
    w.stripe.extraSigningSecrets = ['whsec_oldsecretstillvalid'];
    try {
      // The old secret signs first, as Stripe lists both while a roll is in progress.
      const s = w.stripe.sessions.get(session.id)!;
      Object.assign(s, { payment_status: 'paid', payment_intent: 'pi_rolled' });
      const event = w.stripe.event('checkout.session.completed', s);
      const body = JSON.stringify(event, null, 2);
      const header = await w.stripe.signature(body, undefined, ['whsec_oldsecretstillvalid', w.stripe.webhookSecret]);
      expect((await w.stripe.send(event, { header })).status).toBe(200);
    } finally {
      w.stripe.extraSigningSecrets = [];
    }
    expect(await settledEvents(messageId, 1)).toHaveLength(1);
  });

  it('records a payment once and raises one event, whatever Stripe retries or duplicates', async () => {
    const { messageId, session } = await openSession('Duplicated');
    const { event, statuses } = await w.stripe.pay(session.id, { deliveries: 3 });
    expect(statuses).toEqual([200, 200, 200]);
    // A second event for the same session (Stripe may send one per API version) records nothing more.
    const twin = w.stripe.event('checkout.session.completed', w.stripe.sessions.get(session.id)!);
    expect((await w.stripe.send(twin)).status).toBe(200);
    const rows = await env.DB.prepare('SELECT status, event_id FROM payments WHERE session_id = ?').bind(session.id).all<Json>();
    expect(rows.results).toEqual([{ status: 'paid', event_id: event.id }]);
    const raised = await settledEvents(messageId, 1);
    expect(raised).toHaveLength(1);
    await eventually(() => expect(w.v1.ofTrigger('payment:success').filter((b) => b.payments[0].message._id === messageId)).toHaveLength(1));
  });

  it('refuses a replayed event id carrying another body', async () => {
    const { messageId, session } = await openSession('Replayed', 700);
    const { event } = await w.stripe.pay(session.id);
    const altered = { ...event, data: { object: { ...event.data.object, amount_total: 1 } } };
    const res = await w.stripe.send(altered);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('already received with another body');
    const [raised] = await settledEvents(messageId, 1);
    expect((raised!.payload.payment as Json).amount).toBe(700);
  });

  it('an unpaid completion records nothing; async_payment_succeeded then records it', async () => {
    const { messageId, session } = await openSession('Delayed');
    const { statuses } = await w.stripe.pay(session.id, { paymentStatus: 'unpaid' });
    expect(statuses).toEqual([200]);
    expect(await env.DB.prepare('SELECT status FROM payments WHERE session_id = ?').bind(session.id).first('status')).toBe('open');
    const s = w.stripe.sessions.get(session.id)!;
    s.payment_status = 'paid';
    expect((await w.stripe.send(w.stripe.event('checkout.session.async_payment_succeeded', s))).status).toBe(200);
    expect(await env.DB.prepare('SELECT status FROM payments WHERE session_id = ?').bind(session.id).first('status')).toBe('paid');
    expect(await settledEvents(messageId, 1)).toHaveLength(1);
  });

  it('answers 200 to events Parley ignores, and to sessions it did not create, recording nothing', async () => {
    const before = await counts();
    const other = { id: 'evt_ignored_1', object: 'event', type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer' } } };
    expect((await w.stripe.send(other)).status).toBe(200);
    const foreign = {
      id: 'evt_foreign_1',
      object: 'event',
      type: 'checkout.session.completed',
      data: { object: { id: 'cs_test_notParleys', object: 'checkout.session', payment_status: 'paid', metadata: {}, amount_total: 5, currency: 'usd', payment_intent: 'pi_x' } },
    };
    const res = await w.stripe.send(foreign);
    expect(res.status).toBe(200);
    expect((await res.json()) as Json).toMatchObject({ outcome: 'not_ours' });
    expect((await counts()).paid).toBe(before.paid);
  });

  it('a session claiming another app in its metadata records nothing', async () => {
    const { session } = await openSession('Claimed');
    const s = w.stripe.sessions.get(session.id)!;
    Object.assign(s, { payment_status: 'paid', metadata: { ...s.metadata, appId: 'f'.repeat(24) } });
    const res = await w.stripe.send(w.stripe.event('checkout.session.completed', s));
    expect((await res.json()) as Json).toMatchObject({ outcome: 'not_ours' });
    expect(await env.DB.prepare('SELECT status FROM payments WHERE session_id = ?').bind(session.id).first('status')).toBe('open');
  });

  it('an unknown integration id answers 404', async () => {
    const res = await hook(new Request(`http://parley.test/payments/stripe/${'0'.repeat(24)}`, { method: 'POST', body: '{}' }));
    expect(res.status).toBe(404);
  });
});

describe('a crash between recording and raising', () => {
  it('recorded but not raised (crash before the raise): the retry raises it, once', async () => {
    const { messageId, session } = await openSession('Crash1');
    const s = w.stripe.sessions.get(session.id)!;
    Object.assign(s, { status: 'complete', payment_status: 'paid', payment_intent: 'pi_crash1' });
    const event = w.stripe.event('checkout.session.completed', s);
    // What a crash right after marking paid leaves behind: the row paid, the event id remembered, no event raised, no 2xx to Stripe.
    await env.DB.prepare(`UPDATE payments SET status = 'paid', payment_intent = 'pi_crash1', event_id = ? WHERE session_id = ?`).bind(event.id, session.id).run();
    expect((await w.stripe.send(event)).status).toBe(200);
    expect(await settledEvents(messageId, 1)).toHaveLength(1);
    expect(await env.DB.prepare('SELECT raised_at FROM payments WHERE session_id = ?').bind(session.id).first('raised_at')).not.toBeNull();
  });

  it('raised but not marked (crash after the raise): the retry does not raise it again', async () => {
    const { messageId, session } = await openSession('Crash2');
    const { event } = await w.stripe.pay(session.id);
    expect(await settledEvents(messageId, 1)).toHaveLength(1);
    // What a crash right after the raise leaves behind: not marked raised, and a lease that has lapsed since.
    await env.DB.prepare('UPDATE payments SET raised_at = NULL, raising_until = ? WHERE session_id = ?').bind(Date.now() - 1, session.id).run();
    expect((await w.stripe.send(event)).status).toBe(200);
    expect(await settledEvents(messageId, 1)).toHaveLength(1);
    expect(await env.DB.prepare('SELECT raised_at FROM payments WHERE session_id = ?').bind(session.id).first('raised_at')).not.toBeNull();
  });

  it('a delivery arriving while another one raises answers 503, and Stripe retries it later', async () => {
    const { messageId, session } = await openSession('Concurrent');
    const s = w.stripe.sessions.get(session.id)!;
    Object.assign(s, { status: 'complete', payment_status: 'paid', payment_intent: 'pi_concurrent' });
    const event = w.stripe.event('checkout.session.completed', s);
    // Another delivery of the same payment holds the raise right now.
    await env.DB.prepare(`UPDATE payments SET status = 'paid', event_id = ?, raising_until = ? WHERE session_id = ?`).bind(event.id, Date.now() + 30_000, session.id).run();
    expect((await w.stripe.send(event)).status).toBe(503);
    await new Promise((r) => setTimeout(r, 300));
    expect(eventsFor(messageId)).toEqual([]);
    // Its lease lapses without a raise (it crashed): Stripe's retry raises the event.
    await env.DB.prepare('UPDATE payments SET raising_until = ? WHERE session_id = ?').bind(Date.now() - 1, session.id).run();
    expect((await w.stripe.send(event)).status).toBe(200);
    expect(await settledEvents(messageId, 1)).toHaveLength(1);
  });
});
