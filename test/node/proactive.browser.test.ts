/**
 * Proactive messages in a real browser (Chromium): the business writes first.
 * - An anonymous visitor whose widget started the conversation
 *   (`ParleyMessenger.startConversation()`, no message written) gets a
 *   business message posted through the v2 API while the widget is closed:
 *   the launcher's badge counts it, opening shows it. After a reload (the
 *   session comes from storage, still nothing written) the next one is
 *   counted and shown the same way, and so is one written while no page of
 *   the site was open, on the next visit.
 * - A user the business created and messaged through the v2 API before they
 *   ever opened the widget logs in (`ParleyMessenger.login` with a JWT the
 *   "business server" signed) and finds the messages, counted on the badge.
 * Both at phone width (390 px) and on a desktop (1366 px). The page embedding
 * the widget is served from another loopback origin than Parley's, as a
 * customer's site is. Screenshots go to .parley/artifacts/web-messenger/.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { browserSkipped, launchChromium } from './browser/chromium';
import { hostSite, type Site } from './browser/site';
import { Widget } from './browser/widget';
import { basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'web-messenger');
/** Waits on conditions, never on the clock: generous, because wrangler dev on a busy two-core machine is slow. */
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

let appId = '';
let key = { id: '', secret: '' };
let appKey = '';
let integrationId = '';
let site: Site;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

async function parley(method: string, p: string, body?: unknown, authorization = appKey) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

/** A business message through the public API, as the customer's server sends one. */
async function businessSays(conversationId: string, text: string): Promise<number> {
  const sent = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, { author: { type: 'business', displayName: 'Acme support' }, content: { type: 'text', text } });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  return sent.body.messages[0].seq;
}

/** The login JWT the customer's server signs with an app key (HS256, kid = key id). */
function userJwt(externalId: string): string {
  const part = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
  const head = `${part({ alg: 'HS256', typ: 'JWT', kid: key.id })}.${part({ scope: 'user', external_id: externalId, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${head}.${createHmac('sha256', key.secret).update(head).digest('base64url')}`;
}

/** The customer's page: the widget embedded with one tag and one call. */
const PAGE = () => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme outdoor</title></head>
<body style="font-family: sans-serif; margin: 2rem"><h1>Acme outdoor</h1><p>Jackets, boots and packs for every trail.</p>
<script src="${parleyUrl}/web-messenger.js"></script>
<script>ParleyMessenger.init(${JSON.stringify({ appId, integrationId })});</script>
</body></html>`;

async function openSite(width: number, height: number): Promise<Widget> {
  const context = await browser.newContext({ viewport: { width, height }, locale: 'en-US', ...(width < 500 ? { isMobile: true, hasTouch: true } : {}) });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  await page.goto(site.url);
  const widget = new Widget(page);
  await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
  return widget;
}

/** The session the widget keeps for this app and integration. */
const storedSession = (page: Page) =>
  page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? 'null') as { conversationId: string; userId: string; externalId?: string } | null, `parley:${appId}:${integrationId}`);

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, name) });

async function expectBadge(widget: Widget, count: number) {
  await expect.poll(() => widget.badge.textContent(), { timeout: WAIT }).toBe(String(count));
  expect(await widget.badge.isVisible()).toBe(true);
  expect(await widget.launcher.getAttribute('aria-label')).toMatch(new RegExp(`^Open chat \\(${count} unread messages?\\)$`));
}

async function openAndSee(widget: Widget, texts: string[]) {
  await widget.launcher.click();
  await expect.poll(() => widget.panel.isVisible(), { timeout: WAIT }).toBe(true);
  for (const text of texts) {
    await expect.poll(() => widget.message(text).count(), { timeout: WAIT }).toBe(1);
    expect(await widget.message(text).getAttribute('data-author')).toBe('business');
    expect(await widget.message(text).isVisible()).toBe(true);
  }
  await expect.poll(() => widget.badge.isVisible()).toBe(false);
  // The panel has finished opening (its transition), so a screenshot shows it as the visitor does.
  await expect.poll(() => widget.panel.evaluate((el) => getComputedStyle(el).opacity), { timeout: WAIT }).toBe('1');
}

async function close(widget: Widget) {
  await widget.page.keyboard.press('Escape');
  await expect.poll(() => widget.launcher.getAttribute('aria-expanded'), { timeout: WAIT }).toBe('false');
  await expect.poll(() => widget.panel.isVisible(), { timeout: WAIT }).toBe(false);
}

const skip = browserSkipped();

describe.skipIf(skip)('proactive messages in the Web Messenger', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const app = await parley('POST', '/v2/apps', { displayName: 'Proactive browser suite' }, account);
    appId = app.body.app.id;
    const created = await parley('POST', `/v2/apps/${appId}/keys`, { displayName: 'proactive suite' }, account);
    key = created.body.key;
    appKey = basicAuth(key.id, key.secret);
    const web = await parley('POST', `/v2/apps/${appId}/integrations`, { type: 'web', displayName: 'Acme site', businessName: 'Acme' });
    expect(web.status, JSON.stringify(web.body)).toBe(201);
    integrationId = web.body.integration.id;
    site = await hostSite((url) => (url.pathname === '/' ? PAGE() : undefined));
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await site?.close();
  });

  for (const [width, height] of [
    [390, 844],
    [1366, 768],
  ] as const) {
    describe(`at ${width} px`, () => {
      it('an anonymous visitor who never wrote gets the business message on the badge while closed, and sees it on opening; again after a reload', async () => {
        const widget = await openSite(width, height);
        const { page } = widget;
        expect(await storedSession(page)).toBeNull();
        await page.evaluate(() => (window as any).ParleyMessenger.startConversation());
        const session = await storedSession(page);
        expect(session?.conversationId).toEqual(expect.any(String));
        // Nothing was written: the conversation is empty until the business writes.
        const before = await parley('GET', `/v2/apps/${appId}/conversations/${session!.conversationId}/messages`);
        expect(before.body.messages).toEqual([]);
        expect(await widget.badge.isVisible()).toBe(false);

        const first = `Hi there! Need help finding the right size? (${width})`;
        await businessSays(session!.conversationId, first);
        await expectBadge(widget, 1);
        await shot(page, `proactive-anonymous-badge-${width}.png`);
        await openAndSee(widget, [first]);
        await shot(page, `proactive-anonymous-open-${width}.png`);
        await close(widget);

        // Back later: the session comes from storage, still nothing written, the widget closed.
        await page.reload();
        await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
        expect(await widget.badge.isVisible()).toBe(false);
        const second = `Your cart is saved for 7 days. (${width})`;
        // The reloaded widget's socket may still be connecting: the message must arrive either way (live or by replay).
        await businessSays(session!.conversationId, second);
        await expectBadge(widget, 1);
        await openAndSee(widget, [first, second]);
        expect((await storedSession(page))?.conversationId).toBe(session!.conversationId);
        await close(widget);

        // Written while no page of the site was open: the next visit counts it before anything is opened.
        const context = page.context();
        await page.close();
        const third = `Sizes M and L are back in stock. (${width})`;
        await businessSays(session!.conversationId, third);
        const later = await context.newPage();
        later.on('pageerror', (err) => pageErrors.push(`${later.url()}: ${err.message}`));
        await later.goto(site.url);
        const again = new Widget(later);
        await again.launcher.waitFor({ state: 'visible', timeout: WAIT });
        await expectBadge(again, 1);
        await openAndSee(again, [first, second, third]);
        const after = await parley('GET', `/v2/apps/${appId}/conversations/${session!.conversationId}/messages`);
        expect(after.body.messages.map((m: { author: { type: string } }) => m.author.type)).toEqual(['business', 'business', 'business']);
      });

      it('a user the business created and messaged before they opened the widget sees the messages, counted, once logged in', async () => {
        const externalId = `lin-${width}`;
        const user = await parley('POST', `/v2/apps/${appId}/users`, { externalId, profile: { givenName: 'Lin' } });
        expect(user.status, JSON.stringify(user.body)).toBe(201);
        const conversation = await parley('POST', `/v2/apps/${appId}/conversations`, { type: 'personal', participants: [{ userExternalId: externalId }] });
        expect(conversation.status, JSON.stringify(conversation.body)).toBe(201);
        const conversationId: string = conversation.body.conversation.id;
        const texts = [`Hi Lin, your order #1042 has shipped. (${width})`, 'Reply here if anything is wrong with it.'];
        for (const text of texts) await businessSays(conversationId, text);

        const widget = await openSite(width, height);
        const { page } = widget;
        expect(await widget.badge.isVisible()).toBe(false);
        await page.evaluate(([id, jwt]) => (window as any).ParleyMessenger.login(id, jwt), [externalId, userJwt(externalId)]);
        const session = await storedSession(page);
        expect(session).toMatchObject({ conversationId, userId: user.body.user.id, externalId });
        await expectBadge(widget, 2);
        await shot(page, `proactive-login-badge-${width}.png`);
        await openAndSee(widget, texts);
        await shot(page, `proactive-login-open-${width}.png`);

        // And the next business message arrives live in the open widget.
        const next = `Delivery is planned for tomorrow. (${width})`;
        const seq = await businessSays(conversationId, next);
        await expect.poll(() => widget.message(next).getAttribute('data-seq'), { timeout: WAIT }).toBe(String(seq));
      });
    });
  }

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

// Registered only when skipped, so a normal run reports nothing skipped and a skipped one says why in the report.
if (skip) {
  describe('proactive messages in the Web Messenger', () => {
    it.skip('SKIPPED because PARLEY_SKIP_BROWSER=1', () => {});
  });
}
