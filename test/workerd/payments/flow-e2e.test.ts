/**
 * A buy action paid end to end, against the fakes: the business posts a
 * text with a buy action; Telegram receives a URL button and Twilio SMS a
 * "Label: url" line, both to the signed pay page; opening it creates a Stripe
 * Checkout Session with the action's amount, currency and Parley's metadata
 * and redirects (303) to the fake's checkout page; the fake "pays" and sends
 * the signed `checkout.session.completed` event; Parley records the payment
 * once and the customer receives `conversation:payment` (v2) and
 * `payment:success` (v1). Then everything that must stop a payment: a forged
 * or altered token, a deleted message, Stripe's 402 and 5xx, a second
 * payment for the same action, another app's token.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageUrl } from '../../../src/content/page-links';
import { call, newApp } from '../helpers';
import { eventually } from '../channels/harness';
import { makeWorld, open, postBusiness, smsPayLink, smsUser, telegramPayLink, telegramUser, type World } from './world';

type Json = Record<string, any>;

let w: World;
let tgUser: { conversationId: string; userId: string };
let smsPerson: { conversationId: string; userId: string };

beforeAll(async () => {
  w = await makeWorld('flow');
  tgUser = await telegramUser(w, 7101, 'Pat');
  smsPerson = await smsUser(w, '+15550101010');
});

afterAll(() => w.restore());

const paymentEvents = (messageId: string) => w.receiver.ofType('conversation:payment').filter((e) => (e.payload.message as Json).id === messageId);

/** Opens the pay link and answers the Checkout Session the fake made for it. */
async function checkout(url: string) {
  const before = w.stripe.calls.length;
  const page = await open(url);
  expect(page.status, page.html).toBe(303);
  const call = w.stripe.calls.slice(before).find((c) => c.path === '/v1/checkout/sessions');
  expect(call).toBeDefined();
  const session = w.stripe.sessions.get(/\/c\/pay\/(cs_test_\w+)$/.exec(page.location!)![1]!)!;
  expect(page.location).toBe(`${w.stripe.origin}/c/pay/${session.id}`);
  return { session, call: call! };
}

describe('paying for a buy action', () => {
  it('on Telegram: URL button → pay page → Stripe Checkout with the right amount and metadata → paid → recorded, v2 and v1 events', async () => {
    const messageId = await postBusiness(w, tgUser.conversationId, { type: 'text', text: 'A cake for you', actions: [{ type: 'buy', text: 'Buy cake', amount: 999, currency: 'usd', metadata: { sku: 'CAKE-1' } }] });
    const url = await telegramPayLink(w, 'A cake for you', 'Buy cake');
    expect(url).toMatch(/^http:\/\/parley\.test\/pages\/pay\//);

    const { session, call: stripeCall } = await checkout(url);
    // Stripe's own form encoding, Bearer auth and an idempotency key.
    expect(stripeCall.raw).toContain('line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=999');
    expect(stripeCall.headers.authorization).toBe(`Bearer ${w.stripe.secretKey}`);
    expect(stripeCall.headers['idempotency-key']).toMatch(/^parley-pay-[0-9a-f]{48}$/);
    expect(stripeCall.params).toMatchObject({
      mode: 'payment',
      line_items: [{ price_data: { currency: 'usd', unit_amount: '999', product_data: { name: 'Buy cake' } }, quantity: '1' }],
      client_reference_id: messageId,
      metadata: { appId: w.app.appId, conversationId: tgUser.conversationId, messageId, userId: tgUser.userId, action: '0' },
    });
    expect(stripeCall.params.success_url).toBe(`${url}/done?session_id={CHECKOUT_SESSION_ID}`);
    expect(stripeCall.params.cancel_url).toBe(`${url}/cancelled`);
    expect(session).toMatchObject({ amount_total: 999, currency: 'usd', payment_status: 'unpaid' });

    const { statuses } = await w.stripe.pay(session.id);
    expect(statuses).toEqual([200]);
    const row = await env.DB.prepare('SELECT status, amount, currency, payment_intent FROM payments WHERE session_id = ?').bind(session.id).first<Json>();
    expect(row).toMatchObject({ status: 'paid', amount: 999, currency: 'usd', payment_intent: w.stripe.sessions.get(session.id)!.payment_intent });

    const [event] = await eventually(() => {
      const found = paymentEvents(messageId);
      if (found.length === 0) throw new Error('no conversation:payment yet');
      return found;
    });
    expect(event!.payload).toMatchObject({
      conversation: { id: tgUser.conversationId },
      user: { id: tgUser.userId },
      message: { id: messageId },
      action: { type: 'buy', text: 'Buy cake', amount: 999, currency: 'usd', metadata: { sku: 'CAKE-1' } },
      payment: { provider: 'stripe', integrationId: w.stripeIntegration.id, checkoutSessionId: session.id, paymentIntentId: expect.stringMatching(/^pi_/), amount: 999, currency: 'usd', status: 'paid' },
    });
    const v1 = await eventually(() => {
      const found = w.v1.ofTrigger('payment:success').find((b) => b.payments?.[0]?.message?._id === messageId);
      if (!found) throw new Error('no v1 payment:success yet');
      return found;
    });
    expect(v1).toMatchObject({
      trigger: 'payment:success',
      version: 'v1',
      app: { _id: w.app.appId },
      conversation: { _id: tgUser.conversationId },
      appUser: { _id: tgUser.userId },
      payments: [{ source: { type: 'stripe' }, action: { type: 'buy', amount: 999 }, charge: { id: expect.stringMatching(/^pi_/) } }],
    });

    // The payer comes back to Parley's success page, and the pay link now says "already paid".
    const done = await open(`${url}/done?session_id=${session.id}`);
    expect(done.status).toBe(200);
    expect(done.html).toContain('Payment received');
    expect(done.html).toContain('$9.99');
    const again = await open(url);
    expect(again.status).toBe(409);
    expect(again.html).toContain('Already paid');
    expect(again.location).toBeNull();
  });

  it('on Twilio SMS: a "Label: url" line → pay page → paid → event', async () => {
    const messageId = await postBusiness(w, smsPerson.conversationId, { type: 'text', text: 'Tickets', actions: [{ type: 'buy', text: 'Ticket', amount: 2500, currency: 'eur' }] });
    const { body, url } = await smsPayLink(w, '+15550101010', 'Ticket');
    expect(body).toBe(`Tickets\n\nTicket: ${url}`);
    const { session, call: stripeCall } = await checkout(url);
    expect(stripeCall.params.line_items[0].price_data).toMatchObject({ currency: 'eur', unit_amount: '2500' });
    expect(stripeCall.params.metadata).toMatchObject({ userId: smsPerson.userId, conversationId: smsPerson.conversationId, messageId });
    expect((await w.stripe.pay(session.id)).statuses).toEqual([200]);
    const event = await eventually(() => {
      const e = paymentEvents(messageId)[0];
      if (!e) throw new Error('no event yet');
      return e;
    });
    expect(event.payload).toMatchObject({ user: { id: smsPerson.userId }, payment: { amount: 2500, currency: 'eur', checkoutSessionId: session.id } });
  });

  it('a buy action of a carousel item pays that item', async () => {
    const messageId = await postBusiness(w, tgUser.conversationId, {
      type: 'carousel',
      items: [
        { title: 'Tea', actions: [{ type: 'postback', text: 'Info', payload: 'TEA' }] },
        { title: 'Coffee', actions: [{ type: 'postback', text: 'Info', payload: 'COFFEE' }, { type: 'buy', text: 'Buy coffee', amount: 450, currency: 'usd' }] },
      ],
    });
    const url = await pageUrl(env, 'http://parley.test', { kind: 'pay', appId: w.app.appId, conversationId: tgUser.conversationId, messageId, userId: tgUser.userId, item: 1, action: 1 });
    const { call: stripeCall } = await checkout(url);
    expect(stripeCall.params.line_items[0].price_data).toMatchObject({ unit_amount: '450', product_data: { name: 'Buy coffee' } });
    expect(stripeCall.params.metadata.action).toBe('1.1');
    // The postback beside it is no buy action.
    const notBuy = await pageUrl(env, 'http://parley.test', { kind: 'pay', appId: w.app.appId, conversationId: tgUser.conversationId, messageId, userId: tgUser.userId, item: 1, action: 0 });
    expect((await open(notBuy)).status).toBe(404);
  });

  it('a double tap gets the same Checkout Session (Idempotency-Key)', async () => {
    await postBusiness(w, tgUser.conversationId, { type: 'text', text: 'Double tap', actions: [{ type: 'buy', text: 'Buy twice?', amount: 100, currency: 'usd' }] });
    const url = await telegramPayLink(w, 'Double tap', 'Buy twice?');
    const first = await open(url);
    const second = await open(url);
    expect(first.status).toBe(303);
    expect(second.location).toBe(first.location);
    const keys = w.stripe.calls.filter((c) => c.path === '/v1/checkout/sessions').slice(-2).map((c) => c.headers['idempotency-key']);
    expect(keys[0]).toBe(keys[1]);
  });

  it('the cancel page says nothing was charged and offers to try again', async () => {
    await postBusiness(w, tgUser.conversationId, { type: 'text', text: 'Maybe later', actions: [{ type: 'buy', text: 'Buy later', amount: 100 }] });
    const url = await telegramPayLink(w, 'Maybe later', 'Buy later');
    const page = await open(`${url}/cancelled`);
    expect(page.status).toBe(200);
    expect(page.html).toContain('Payment cancelled');
    expect(page.html).toContain('nothing was charged');
    expect(page.html).toContain(`href="${url}"`);
    expect(page.html).toMatch(/<html lang="en">/);
    expect(page.html).toContain('name="viewport"');
  });
});

describe('what stops a payment, with a page that says why', () => {
  async function buyLink(text: string, amount = 500) {
    const messageId = await postBusiness(w, tgUser.conversationId, { type: 'text', text, actions: [{ type: 'buy', text: `Buy ${text}`, amount, currency: 'usd' }] });
    return { messageId, url: await telegramPayLink(w, text, `Buy ${text}`) };
  }

  it('a forged or altered token: 404, and Stripe is never called', async () => {
    const { url } = await buyLink('forged');
    const before = w.stripe.calls.length;
    const [head, sig] = url.split('/pages/pay/')[1]!.split('.');
    const altered = await open(`http://parley.test/pages/pay/${head}x.${sig}`);
    expect(altered.status).toBe(404);
    expect(altered.html).toContain('This payment link is not valid');
    expect(altered.html).toContain('role="alert"');
    expect((await open(`http://parley.test/pages/pay/${head}.${'A'.repeat(32)}`)).status).toBe(404);
    expect((await open('http://parley.test/pages/pay/nonsense')).status).toBe(404);
    // A form link is not a pay link.
    const form = await pageUrl(env, 'http://parley.test', { kind: 'form', appId: w.app.appId, conversationId: tgUser.conversationId, messageId: 'a'.repeat(24), userId: tgUser.userId });
    expect((await open(form.replace('/pages/form/', '/pages/pay/'))).status).toBe(404);
    expect(w.stripe.calls.length).toBe(before);
  });

  it('a deleted message: 410', async () => {
    const { messageId, url } = await buyLink('deleted');
    expect((await call('DELETE', `/v2/apps/${w.app.appId}/conversations/${tgUser.conversationId}/messages/${messageId}`, w.app.auth)).status).toBe(200);
    const before = w.stripe.calls.length;
    const page = await open(url);
    expect(page.status).toBe(410);
    expect(page.html).toContain('no longer available');
    expect(w.stripe.calls.length).toBe(before);
  });

  it("Stripe's 402: the page shows Stripe's message; nothing recorded", async () => {
    const { messageId, url } = await buyLink('declined');
    w.stripe.fail(402, 'card_error', 'Your card was declined.', 'card_declined');
    const page = await open(url);
    expect(page.status).toBe(402);
    expect(page.html).toContain('Your card was declined.');
    expect(page.html).toContain('Nothing was charged');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM payments WHERE message_id = ?').bind(messageId).first('n')).toBe(0);
  });

  it("Stripe's 5xx and 429: 503 with Retry-After, try again later", async () => {
    const { url } = await buyLink('down');
    w.stripe.fail(500, 'api_error', 'Something went wrong on our end.');
    const down = await open(url);
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toBe('60');
    expect(down.html).toContain('Payments are unavailable right now');
    w.stripe.fail(429, 'rate_limit_error', 'Too many requests.', 'rate_limit');
    expect((await open(url)).status).toBe(503);
    // Once Stripe is back, the same link works.
    expect((await open(url)).status).toBe(303);
  });

  it("Stripe refusing the key (401): 502 naming Stripe's reason", async () => {
    const { url } = await buyLink('badkey');
    w.stripe.fail(401, 'invalid_request_error', 'Invalid API Key provided: sk_test_****abcd', 'api_key_invalid');
    const page = await open(url);
    expect(page.status).toBe(502);
    expect(page.html).toContain('Invalid API Key provided');
  });

  it("app B's token cannot pay app A's message, and an app without Stripe takes no payment", async () => {
    const { messageId } = await buyLink('walls');
    const other = await newApp('payments other app');
    // B's app id with A's conversation and message: B's object for that id is empty.
    const crossed = await pageUrl(env, 'http://parley.test', { kind: 'pay', appId: other.appId, conversationId: tgUser.conversationId, messageId, userId: tgUser.userId, action: 0 });
    const before = w.stripe.calls.length;
    const page = await open(crossed);
    expect(page.status).toBe(404);
    expect(page.html).toContain('Payments are not available');
    expect(w.stripe.calls.length).toBe(before);
  });
});
