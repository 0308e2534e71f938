/**
 * The Web Messenger's pay link, `POST /sdk/v2/apps/{appId}/conversations/{id}/pay`:
 * the widget names a message and the position of its buy action and gets the
 * signed pay page link made for its own session user, which pays through
 * Stripe like a channel's link; no link for another user's conversation, a
 * position that is not a buy action, or a message that is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPageToken } from '../../../src/content/page-links';
import { env } from 'cloudflare:test';
import { call } from '../helpers';
import { routeFetch } from '../channels/harness';
import { StripeFake } from '../../fakes/stripe';
import { browser, say, startSession, webApp, type Visitor, type WebApp } from '../web/web';
import { open } from './world';

const STRIPE = 'https://stripe.sdk.test';
const stripe = new StripeFake({ origin: STRIPE });
let app: WebApp;
let visitor: Visitor;
let restore: () => void;

beforeAll(async () => {
  const spy = routeFetch({ [STRIPE]: stripe });
  restore = () => spy.mockRestore();
  app = await webApp();
  const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'stripe', secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBaseUrl: STRIPE });
  expect(created.status).toBe(201);
  visitor = await startSession(app);
  await say(app, visitor, 'hello');
});

afterAll(() => restore());

const payPath = (conversationId: string) => `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/pay`;

async function businessBuy(): Promise<string> {
  const res = await call('POST', `/v2/apps/${app.appId}/conversations/${visitor.conversationId}/messages`, app.auth, {
    author: { type: 'business' },
    content: { type: 'text', text: 'Socks', actions: [{ type: 'link', text: 'Info', uri: 'https://example.org' }, { type: 'buy', text: 'Buy socks', amount: 1500, currency: 'usd' }] },
  });
  expect(res.status).toBe(201);
  return res.body.messages[0].id;
}

describe('the widget pay link', () => {
  it("answers the session user's signed pay link, which opens Stripe Checkout for the action", async () => {
    const messageId = await businessBuy();
    const res = await browser('POST', payPath(visitor.conversationId), visitor.token, { messageId, action: 1 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeTruthy();
    const url = res.body.url as string;
    expect(url).toMatch(/^http:\/\/parley\.test\/pages\/pay\//);
    expect(await readPageToken(env, 'pay', url.split('/pages/pay/')[1]!)).toEqual({
      kind: 'pay',
      appId: app.appId,
      conversationId: visitor.conversationId,
      messageId,
      userId: visitor.userId,
      action: 1,
    });
    const page = await open(url);
    expect(page.status, page.html).toBe(303);
    expect(stripe.lastSession()).toMatchObject({ amount_total: 1500, metadata: { userId: visitor.userId, messageId, action: '1' } });
  });

  it('refuses a position that is no buy action, a message that is gone, and another user', async () => {
    const messageId = await businessBuy();
    const notBuy = await browser('POST', payPath(visitor.conversationId), visitor.token, { messageId, action: 0 });
    expect(notBuy.status).toBe(400);
    expect(notBuy.body.errors[0].title).toMatch(/no buy action/);
    const missing = await browser('POST', payPath(visitor.conversationId), visitor.token, { messageId: 'a'.repeat(24), action: 1 });
    expect(missing.status).toBe(404);
    const bad = await browser('POST', payPath(visitor.conversationId), visitor.token, { messageId, action: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].title).toMatch(/action/);
    const stranger = await startSession(app);
    const theirs = await browser('POST', payPath(visitor.conversationId), stranger.token, { messageId, action: 1 });
    expect(theirs.status).toBe(403);
    expect((await browser('POST', payPath(visitor.conversationId), undefined, { messageId, action: 1 })).status).toBe(401);
  });
});
