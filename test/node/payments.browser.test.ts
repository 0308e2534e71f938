/**
 * A buy action in the Web Messenger, in Chromium at phone width (390 px) and
 * on a desktop: the business posts a text with a buy action through the v2
 * API; the widget shows it live as a button with its price; tapping it opens
 * a new tab on the pay page made for this visitor, which sends the tab on to
 * Stripe Checkout (the Stripe fake, served on loopback) for the action's
 * amount; when the fake "pays", its signed event reaches Parley and the
 * payment is recorded. Screenshots go to .parley/artifacts/payments/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDemo, type Demo } from '../../scripts/demo/index';
import { serveFake, type ServedFake } from '../fakes/serve';
import { StripeFake } from '../fakes/stripe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { Widget } from './browser/widget';
import { appWithKey, basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'payments');
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

let appId = '';
let appKey = '';
let stateDir = '';
let demo: Demo;
let browser: Browser;
let served: ServedFake & { handler: unknown };
let stripe: StripeFake;

async function parley(method: string, p: string, body?: unknown, authorization = appKey) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = WAIT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const skip = browserSkipped();

describe.skipIf(skip)('a buy action in the Web Messenger', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const key = await appWithKey(parleyUrl, account, 'Payments browser suite');
    ({ appId, auth: appKey } = key);
    served = await serveFake((origin) => (stripe = new StripeFake({ origin })));
    const integration = await parley('POST', `/v2/apps/${appId}/integrations`, { type: 'stripe', secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBaseUrl: served.url });
    expect(integration.status, JSON.stringify(integration.body)).toBe(201);
    stripe.endpoint = integration.body.integration.webhookUrl;
    stateDir = mkdtempSync(path.join(tmpdir(), 'parley-payments-'));
    demo = await startDemo({ parleyUrl, appId, keyId: key.keyId, keySecret: key.keySecret, port: 0, stateFile: path.join(stateDir, 'inbox.json'), warn: () => {} });
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    await served?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  for (const [name, viewport] of [
    ['phone (390 px)', { width: 390, height: 844 }],
    ['desktop', { width: 1280, height: 800 }],
  ] as const) {
    it(`${name}: shows the buy button with its price; tapping it opens the pay page in a new tab, which goes on to Stripe Checkout`, async () => {
      const context = await browser.newContext({ viewport, locale: 'en-US' });
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (err) => errors.push(err.message));
        await page.goto(demo.url);
        const widget = new Widget(page);
        await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
        await widget.launcher.click();
        await expect.poll(() => widget.composer.isEditable(), { timeout: WAIT }).toBe(true);
        const hello = `I would like a cake (${name}) ${Date.now()}`;
        await widget.composer.fill(hello);
        await widget.sendButton.click();
        const event = await eventually('the visitor message webhook', () => demo.webhookEvents().find((e) => e.type === 'conversation:message' && e.payload?.message?.content?.text === hello));
        const conversationId = event.payload.conversation.id as string;
        const userId = event.payload.message.author.userId as string;

        const text = `Chocolate cake for you (${name})`;
        const sent = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, {
          author: { type: 'business', displayName: 'Cake shop' },
          content: { type: 'text', text, actions: [{ type: 'link', text: 'Recipe', uri: 'https://example.com/recipe' }, { type: 'buy', text: 'Buy cake', amount: 999, currency: 'usd' }] },
        });
        expect(sent.status, JSON.stringify(sent.body)).toBe(201);
        const messageId = sent.body.messages[0].id as string;

        const row = widget.message(text);
        const buy = row.locator('button[data-action="buy"]');
        await buy.waitFor({ state: 'visible', timeout: WAIT });
        expect(await buy.textContent()).toBe('Buy cake · $9.99');
        const box = (await buy.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
        await page.screenshot({ path: path.join(ARTIFACTS, `buy-button-${viewport.width}.png`) });

        const before = stripe.sessions.size;
        // Watched on the context, so the new tab's first request is seen however fast it goes.
        const requested: string[] = [];
        context.on('request', (r) => requested.push(r.url()));
        const [tab] = await Promise.all([context.waitForEvent('page', { timeout: WAIT }), buy.click()]);
        await tab.waitForURL(/\/c\/pay\/cs_test_/, { timeout: WAIT });
        // The tab went through the pay page made for this visitor, which sent it on to Checkout for the action.
        expect(requested.some((u) => u.startsWith(`${parleyUrl}/pages/pay/`))).toBe(true);
        expect(stripe.sessions.size).toBe(before + 1);
        const session = stripe.lastSession()!;
        expect(tab.url()).toBe(session.url);
        expect(session).toMatchObject({ amount_total: 999, currency: 'usd', metadata: { appId, conversationId, messageId, userId, action: '1' } });
        expect(await tab.evaluate(() => window.opener)).toBeNull();
        expect(errors).toEqual([]);

        // Paying at the fake Checkout sends the signed event; Parley takes it and the pay link now says so.
        const { statuses } = await stripe.pay(session.id);
        expect(statuses).toEqual([200]);
        const again = await tab.goto(requested.find((u) => u.startsWith(`${parleyUrl}/pages/pay/`))!);
        expect(again!.status()).toBe(409);
        expect(await tab.getByRole('heading', { name: 'Already paid' }).isVisible()).toBe(true);
        await tab.screenshot({ path: path.join(ARTIFACTS, `already-paid-${viewport.width}.png`) });
      } finally {
        await context.close();
      }
    });
  }
});
