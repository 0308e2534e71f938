/**
 * Proactive web campaigns in a real browser (Chromium), at phone width
 * (390 px, touch) and on a desktop (1366 px). The customer's page is served
 * from another loopback origin than Parley's; campaigns are made through the
 * REST API, and a real local receiver takes the customer's webhooks.
 * - A visitor with no session gets the campaign: counted on the launcher's
 *   badge while the widget is closed, shown as the business's message on
 *   opening, and nothing exists on the server for them (no session, no user).
 *   Answering it (a quick reply at 390 px, typing at 1366 px) opens the
 *   conversation: `conversation:create` says `proactiveMessaging` with the
 *   campaign in its source, and the conversation holds [campaign message,
 *   answer] once each, as the widget shows them. A reload shows them once
 *   more, and a visitor with a session is offered no campaign.
 * - oncePerVisitor: shown once, not answered, a later page load in the same
 *   browser (a new context with its localStorage) skips it and shows the next
 *   campaign, an everyPageLoad one, which shows on every load.
 * - A campaigns request that fails leaves a widget that works.
 * axe-core finds nothing serious or critical with the campaign showing.
 * Screenshots go to .parley/artifacts/campaigns/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { hostSite, type Site } from './browser/site';
import { Widget } from './browser/widget';
import { Receiver, waitFor } from './receiver';
import { basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'campaigns');
/** Waits on conditions, never on the clock: generous, because wrangler dev on a busy two-core machine is slow. */
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

interface App {
  appId: string;
  auth: string;
  integrationId: string;
}

let site: Site;
let browser: Browser;
const receiver = new Receiver();
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

async function parley(method: string, p: string, body?: unknown, authorization = account) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, body: json, text };
}

/** An app of its own per test, so counting its users counts only what that test's visitor did; its webhook goes to the receiver. */
async function freshApp(name: string): Promise<App> {
  const app = await parley('POST', '/v2/apps', { displayName: `Campaigns suite: ${name}` });
  expect(app.status, app.text).toBe(201);
  const appId: string = app.body.app.id;
  const key = await parley('POST', `/v2/apps/${appId}/keys`, { displayName: 'campaigns suite' });
  const auth = basicAuth(key.body.key.id, key.body.key.secret);
  const web = await parley('POST', `/v2/apps/${appId}/integrations`, { type: 'web', displayName: 'Acme site', businessName: 'Acme' }, auth);
  expect(web.status, web.text).toBe(201);
  const hook = await parley(
    'POST',
    `/v2/apps/${appId}/integrations`,
    { type: 'custom', displayName: 'Acme server', webhooks: [{ target: receiver.url, triggers: ['conversation:create', 'conversation:message'] }] },
    auth,
  );
  expect(hook.status, hook.text).toBe(201);
  return { appId, auth, integrationId: web.body.integration.id };
}

async function createCampaign(app: App, body: Record<string, unknown>): Promise<string> {
  const res = await parley('POST', `/v2/apps/${app.appId}/campaigns`, { integrationId: app.integrationId, ...body }, app.auth);
  expect(res.status, res.text).toBe(201);
  return res.body.campaign.id;
}

/** The app's users, from the users export (read from D1, where a web session writes its user before answering). */
async function userCount(app: App): Promise<number> {
  const res = await parley('GET', `/v2/apps/${app.appId}/exports/users?format=ndjson`, undefined, app.auth);
  expect(res.status, res.text).toBe(200);
  return res.text.split('\n').filter((line) => line.trim()).length;
}

/** The customer's page, at any path: the widget embedded with one tag and one call. */
const PAGE = (app: App) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme outdoor</title></head>
<body style="font-family: sans-serif; margin: 2rem"><main><h1>Acme outdoor</h1><p>Jackets, boots and tents for every trail.</p></main>
<script src="${parleyUrl}/web-messenger.js"></script>
<script>ParleyMessenger.init(${JSON.stringify({ appId: app.appId, integrationId: app.integrationId })});</script>
</body></html>`;

/** Which app a page path belongs to: /{appId}/... */
const apps = new Map<string, App>();

const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 };
const DESKTOP: BrowserContextOptions = { viewport: { width: 1366, height: 768 } };

async function newContext(width: number, storageState?: BrowserContextOptions['storageState']): Promise<BrowserContext> {
  const context = await browser.newContext({ locale: 'en-US', ...(width < 500 ? PHONE : DESKTOP), ...(storageState ? { storageState } : {}) });
  contexts.push(context);
  return context;
}

/** Every request the page made to Parley's /sdk routes, in the order the browser sent them. */
function sdkCalls(page: Page): string[] {
  const calls: string[] = [];
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.pathname.startsWith('/sdk/')) calls.push(`${req.method()} ${url.pathname}`);
  });
  return calls;
}

async function visit(context: BrowserContext, app: App, pagePath: string): Promise<{ widget: Widget; calls: string[] }> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  const calls = sdkCalls(page);
  await page.goto(`${site.url}${app.appId}/${pagePath}`);
  const widget = new Widget(page);
  await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
  return { widget, calls };
}

const storedSession = (page: Page, app: App) =>
  page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? 'null') as { conversationId: string; userId: string } | null, `parley:${app.appId}:${app.integrationId}`);

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, name) });

async function expectBadge(widget: Widget, count: number) {
  await expect.poll(() => widget.badge.textContent(), { timeout: WAIT }).toBe(String(count));
  expect(await widget.badge.isVisible()).toBe(true);
  expect(await widget.launcher.getAttribute('aria-label')).toBe(`Open chat (${count} unread message${count === 1 ? '' : 's'})`);
}

async function open(widget: Widget) {
  await widget.launcher.click();
  await expect.poll(() => widget.panel.isVisible(), { timeout: WAIT }).toBe(true);
  // The panel has finished opening (its transition), so a screenshot or scan sees it as the visitor does.
  await expect.poll(() => widget.panel.evaluate((el) => getComputedStyle(el).opacity), { timeout: WAIT }).toBe('1');
}

/** The campaign's bubble as the visitor sees it: once, the business's, not stored anywhere yet (no seq). */
async function expectPreview(widget: Widget, text: string) {
  await expect.poll(() => widget.message(text).count(), { timeout: WAIT }).toBe(1);
  const row = widget.message(text);
  expect(await row.getAttribute('data-author')).toBe('business');
  expect(await row.getAttribute('data-seq')).toBeNull();
  expect(await row.isVisible()).toBe(true);
}

/** The conversation's messages as the customer's server reads them. */
async function storedMessages(app: App, conversationId: string) {
  const res = await parley('GET', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, undefined, app.auth);
  expect(res.status, res.text).toBe(200);
  return (res.body.messages as { seq: number; author: { type: string; displayName?: string }; content: { text?: string } }[]).map((m) => ({
    seq: m.seq,
    author: m.author.type,
    text: m.content.text,
  }));
}

const eventsOf = (app: App, type: string) => receiver.uniqueDeliveries().filter((r) => r.json?.app?.id === app.appId).flatMap((r) => (r.json.events as any[]).filter((e) => e.type === type));

const skip = browserSkipped();

describe.skipIf(skip)('proactive web campaigns in the Web Messenger', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    await receiver.listen();
    site = await hostSite((url) => {
      const app = apps.get(url.pathname.split('/')[1] ?? '');
      return app && PAGE(app);
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await site?.close();
    await receiver.close();
  });

  for (const width of [390, 1366]) {
    describe(`at ${width} px`, () => {
      it('a visitor without a session sees the campaign (badge, then bubble) with nothing created, and answering it opens the conversation with it, once', async () => {
        const app = await freshApp(`answer ${width}`);
        apps.set(app.appId, app);
        const offer = `Looking for boots? 20% off today. (${width})`;
        const campaignId = await createCampaign(app, {
          displayName: 'Boots offer',
          message: {
            author: { displayName: 'Maya from Acme' },
            content: { type: 'text', text: offer, actions: [{ type: 'reply', text: 'Yes please', payload: 'BOOTS_YES' }] },
          },
          rules: { urlContains: '/boots', delaySeconds: 1 },
          frequency: 'oncePerVisitor',
        });
        // Another campaign for another page: not this one's.
        await createCampaign(app, { displayName: 'Tents', message: { content: { type: 'text', text: `Tents are in. (${width})` } }, rules: { urlContains: '/tents' } });

        const context = await newContext(width);
        const { widget, calls } = await visit(context, app, 'boots/hiking');
        const { page } = widget;
        await expectBadge(widget, 1);
        await shot(page, `campaign-badge-${width}.png`);
        // Shown, and still nothing on the server: no session call was made, none is stored, the app has no user.
        expect(calls).toEqual([`GET /sdk/v2/apps/${app.appId}/integrations/${app.integrationId}/config`, `GET /sdk/v2/apps/${app.appId}/integrations/${app.integrationId}/campaigns`]);
        expect(await storedSession(page, app)).toBeNull();
        expect(await userCount(app)).toBe(0);

        await open(widget);
        await expectPreview(widget, offer);
        expect(await widget.message(`Tents are in. (${width})`).count()).toBe(0);
        await expect.poll(() => widget.badge.isVisible()).toBe(false);
        expect(await widget.launcher.getAttribute('aria-label')).toBe('Close chat');
        // The business name the campaign gives heads its bubble, as for any business message.
        expect(await widget.message(offer).locator('.name').textContent()).toBe('Maya from Acme');
        await widget.watchOrder();
        await expectAccessible(page, `the widget with a campaign showing at ${width} px`);
        await shot(page, `campaign-open-${width}.png`);
        expect(await userCount(app)).toBe(0);

        // The visitor answers: a quick reply on the phone, typing on the desktop.
        const answer = width < 500 ? 'Yes please' : 'Do you have them in size 44?';
        if (width < 500) await page.getByTestId('quick-reply').filter({ hasText: 'Yes please' }).click();
        else {
          await widget.composer.fill(answer);
          await widget.composer.press('Enter');
        }

        const created = await waitFor('conversation:create of the answered campaign', () => eventsOf(app, 'conversation:create')[0], WAIT);
        expect(created.payload).toMatchObject({ creationReason: 'proactiveMessaging', source: { type: 'web', integrationId: app.integrationId, campaign: { id: campaignId } } });
        const conversationId: string = created.payload.conversation.id;
        await expect.poll(() => storedSession(page, app).then((s) => s?.conversationId), { timeout: WAIT }).toBe(conversationId);

        const expected = [
          { seq: 1, author: 'business', text: offer },
          { seq: 2, author: 'user', text: answer },
        ];
        await expect.poll(() => storedMessages(app, conversationId), { timeout: WAIT }).toEqual(expected);
        // The widget shows the stored campaign message in the preview's place, then the answer: once each, in order.
        await expect.poll(() => widget.seqs(), { timeout: WAIT }).toEqual([1, 2]);
        expect(await widget.message(offer).count()).toBe(1);
        expect(await widget.message(offer).getAttribute('data-author')).toBe('business');
        expect(await widget.message(answer).count()).toBe(1);
        expect(await widget.orderFaults()).toEqual([]);
        expect(await userCount(app)).toBe(1);
        await shot(page, `campaign-answered-${width}.png`);

        // A reload: the history from storage and the server, once; a visitor with a session is offered no campaign.
        const reloadCalls = sdkCalls(page);
        await page.reload();
        await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
        await open(widget);
        await widget.watchOrder();
        await expect.poll(() => widget.seqs(), { timeout: WAIT }).toEqual([1, 2]);
        expect(await widget.message(offer).count()).toBe(1);
        expect(await widget.message(answer).count()).toBe(1);
        // A message after the reload: whatever the page asked at start, it asked before this, so the list below is complete up to it.
        await widget.composer.fill('Thanks!');
        await widget.composer.press('Enter');
        await expect.poll(() => widget.seqs(), { timeout: WAIT }).toEqual([1, 2, 3]);
        await expect.poll(() => storedMessages(app, conversationId), { timeout: WAIT }).toEqual([...expected, { seq: 3, author: 'user', text: 'Thanks!' }]);
        expect(reloadCalls.some((c) => c.endsWith('/campaigns'))).toBe(false);
        expect(reloadCalls).toContain(`POST /sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`);
        expect(await widget.orderFaults()).toEqual([]);
        expect(eventsOf(app, 'conversation:create')).toHaveLength(1);
        expect(await userCount(app)).toBe(1);
      });

      it('oncePerVisitor: a campaign shown and not answered is skipped on the next page load of that browser, which gets the everyPageLoad one, every time', async () => {
        const app = await freshApp(`frequency ${width}`);
        apps.set(app.appId, app);
        const once = `First visit? Here is 10% off. (${width})`;
        const always = `Free returns on every order. (${width})`;
        const onceId = await createCampaign(app, { displayName: 'Welcome', message: { content: { type: 'text', text: once } }, rules: { urlContains: '/tents' }, frequency: 'oncePerVisitor' });
        await createCampaign(app, { displayName: 'Returns', message: { content: { type: 'text', text: always } }, rules: { urlContains: '/tents' }, frequency: 'everyPageLoad' });

        const first = await visit(await newContext(width), app, 'tents');
        await expectBadge(first.widget, 1);
        await open(first.widget);
        await expectPreview(first.widget, once);
        expect(await first.widget.message(always).count()).toBe(0);
        const remembered = await first.widget.page.evaluate((k) => localStorage.getItem(k), `parley:campaigns:${app.appId}:${app.integrationId}`);
        expect(JSON.parse(remembered ?? '[]')).toEqual([onceId]);
        const storage = await first.widget.page.context().storageState();

        // The same browser later (a new context holding its localStorage): the next campaign, not the one already shown.
        for (const visitNo of [2, 3]) {
          const later = await visit(await newContext(width, storage), app, 'tents');
          await expectBadge(later.widget, 1);
          await open(later.widget);
          await expectPreview(later.widget, always);
          expect(await later.widget.message(once).count()).toBe(0);
          if (visitNo === 2) await shot(later.widget.page, `campaign-second-visit-${width}.png`);
          expect(await storedSession(later.widget.page, app)).toBeNull();
        }
        expect(await userCount(app)).toBe(0);
        expect(eventsOf(app, 'conversation:create')).toEqual([]);
      });
    });
  }

  it('a campaigns request that fails leaves a widget that works: no campaign, and the first message opens a plain conversation', async () => {
    const app = await freshApp('failing campaigns request');
    apps.set(app.appId, app);
    await createCampaign(app, { displayName: 'Never seen', message: { content: { type: 'text', text: 'You should not see this.' } } });
    const context = await newContext(1366);
    let refused = 0;
    await context.route(
      (url) => url.pathname.endsWith('/campaigns'),
      (route) => {
        refused++;
        return route.abort('connectionfailed');
      },
    );
    const { widget } = await visit(context, app, 'boots');
    await open(widget);
    await widget.composer.fill('Hello, anyone there?');
    await widget.composer.press('Enter');
    const created = await waitFor('conversation:create', () => eventsOf(app, 'conversation:create')[0], WAIT);
    expect(created.payload.creationReason).toBe('startConversation');
    expect(created.payload.source.campaign).toBeUndefined();
    await expect.poll(() => storedMessages(app, created.payload.conversation.id), { timeout: WAIT }).toEqual([{ seq: 1, author: 'user', text: 'Hello, anyone there?' }]);
    await expect.poll(() => widget.seqs(), { timeout: WAIT }).toEqual([1]);
    expect(refused).toBe(1);
    expect(await widget.message('You should not see this.').count()).toBe(0);
  });

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

// Registered only when skipped, so a normal run reports nothing skipped and a skipped one says why in the report.
if (skip) {
  describe('proactive web campaigns in the Web Messenger', () => {
    it.skip('SKIPPED because PARLEY_SKIP_BROWSER=1', () => {});
  });
}
