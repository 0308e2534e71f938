/**
 * The Web Messenger's conversation list in Chromium, at 390 px (phone
 * emulation) and 1366 px, after the web integration's
 * `canUserSeeConversationList` and `canUserCreateMoreConversations`:
 * - both allowed: the header's button opens the list (the user's
 *   conversations through GET /sdk/v2/apps/{appId}/conversations, newest
 *   first, each with its newest message and unread count); "New
 *   conversation" starts one (POST …/conversations) and shows it empty; a
 *   business message to the other conversation shows there as unread; picking
 *   it by keyboard (Tab, Enter) shows its messages live again; axe-core finds
 *   nothing serious or critical in the list;
 * - the defaults (list yes, more conversations no) with one conversation:
 *   neither the list button nor "new conversation" shows;
 * - list off, more conversations on: no list, a "new conversation" button in
 *   the header.
 * The page embedding the widget is served from another loopback origin than
 * Parley's. Screenshots go to .parley/artifacts/conversation-list/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { hostSite, type Site } from './browser/site';
import { Widget } from './browser/widget';
import { appWithKey, basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'conversation-list');
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

let appId = '';
let appKey = '';
let site: Site;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];
/** Integration ids by what they allow. */
const integrations: Record<'both' | 'defaults' | 'createOnly', string> = { both: '', defaults: '', createOnly: '' };

async function parley(method: string, p: string, body?: unknown, authorization = appKey) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

/** The customer's page, for the integration named in the query. */
const PAGE = (integrationId: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme outdoor</title></head>
<body style="font-family: sans-serif; margin: 2rem"><main><h1>Acme outdoor</h1><p>Jackets, boots and packs for every trail.</p></main>
<script src="${parleyUrl}/web-messenger.js"></script>
<script>ParleyMessenger.init(${JSON.stringify({ appId, integrationId })});</script>
</body></html>`;

async function openSite(which: keyof typeof integrations, width: number): Promise<Widget> {
  const mobile = width < 500;
  const context = await browser.newContext({ viewport: { width, height: mobile ? 844 : 768 }, locale: 'en-US', ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 3 } : {}) });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  await page.goto(`${site.url}?i=${integrations[which]}`);
  const widget = new Widget(page);
  await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
  return widget;
}

/** The session the widget keeps for this integration. */
const stored = (page: Page, which: keyof typeof integrations) =>
  page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? 'null') as { conversationId: string; userId: string } | null, `parley:${appId}:${integrations[which]}`);

async function write(widget: Widget, text: string): Promise<void> {
  await expect.poll(() => widget.composer.isEditable(), { timeout: WAIT }).toBe(true);
  await widget.composer.fill(text);
  await widget.page.keyboard.press('Enter');
  await expect.poll(() => widget.message(text).getAttribute('data-status'), { timeout: WAIT }).toBe('sent');
}

async function businessSays(conversationId: string, text: string): Promise<void> {
  const sent = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, { author: { type: 'business', displayName: 'Acme support' }, content: { type: 'text', text } });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
}

const parts = (page: Page) => ({
  listButton: page.getByTestId('conversations-button'),
  headerCreate: page.getByTestId('new-conversation-header'),
  list: page.getByTestId('conversations'),
  rows: page.getByTestId('conversation'),
  create: page.getByTestId('new-conversation'),
});

const skip = browserSkipped();

describe.skipIf(skip)('the conversation list in the Web Messenger', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const key = await appWithKey(parleyUrl, account, 'Conversation list suite');
    ({ appId, auth: appKey } = key);
    for (const [which, settings] of [
      ['both', { canUserSeeConversationList: true, canUserCreateMoreConversations: true }],
      ['defaults', {}],
      ['createOnly', { canUserSeeConversationList: false, canUserCreateMoreConversations: true }],
    ] as const) {
      const web = await parley('POST', `/v2/apps/${appId}/integrations`, { type: 'web', displayName: `Acme ${which}`, businessName: 'Acme support', ...settings });
      expect(web.status, JSON.stringify(web.body)).toBe(201);
      integrations[which] = web.body.integration.id;
    }
    site = await hostSite((url) => {
      const id = url.searchParams.get('i');
      return id ? PAGE(id) : undefined;
    });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await site?.close();
  });

  for (const width of [390, 1366]) {
    it(`${width} px: lists the user's conversations newest first with previews and unread counts, starts a new one, and switches back by keyboard`, async () => {
      const widget = await openSite('both', width);
      const { page } = widget;
      const { listButton, list, rows, create } = parts(page);
      await widget.launcher.click();
      expect(await listButton.isVisible(), 'no session yet: nothing to list').toBe(false);
      const first = `Do you ship to Norway? (${width})`;
      await write(widget, first);
      const one = (await stored(page, 'both'))!;
      await businessSays(one.conversationId, `We do, in 3 to 5 days. (${width})`);
      await expect.poll(() => widget.message(`We do, in 3 to 5 days. (${width})`).count(), { timeout: WAIT }).toBe(1);

      await expect.poll(() => listButton.isVisible(), { timeout: WAIT }).toBe(true);
      expect(await listButton.getAttribute('aria-label')).toBe('Your conversations');
      await listButton.click();
      await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(1);
      expect(await rows.first().innerText()).toContain(`We do, in 3 to 5 days. (${width})`);
      expect(await rows.first().getAttribute('aria-current')).toBe('true');
      expect(await widget.composer.isVisible(), 'the list takes the conversation’s place').toBe(false);

      // A new conversation: empty, the cursor in the composer; the visitor writes in it.
      await create.click();
      await expect.poll(() => list.isVisible(), { timeout: WAIT }).toBe(false);
      await expect.poll(async () => (await stored(page, 'both'))?.conversationId, { timeout: WAIT }).not.toBe(one.conversationId);
      const two = (await stored(page, 'both'))!;
      expect(two.userId).toBe(one.userId);
      expect(await widget.messages.count()).toBe(0);
      expect(await widget.composer.evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement)).toBe(true);
      const second = `And a question about returns (${width})`;
      await write(widget, second);
      const listed = await parley('GET', `/v2/apps/${appId}/conversations?filter[userId]=${one.userId}`);
      expect(listed.body.conversations.map((c: any) => c.id).sort()).toEqual([one.conversationId, two.conversationId].sort());

      // The business answers in the first conversation while the visitor is in the second: unread there.
      const news = `Your parcel left the warehouse (${width})`;
      await businessSays(one.conversationId, news);
      await listButton.click();
      await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(2);
      await expect.poll(() => rows.first().innerText(), { timeout: WAIT }).toContain(news);
      const top = rows.first();
      expect(await top.getAttribute('data-id')).toBe(one.conversationId);
      expect(await top.locator('.conv-unread').innerText()).toBe('1');
      expect(await top.locator('.sr').innerText()).toBe('1 unread message');
      expect(await rows.nth(1).innerText()).toContain(`You: ${second}`);
      expect(await rows.nth(1).getAttribute('aria-current')).toBe('true');
      await expect.poll(() => list.evaluate((el) => getComputedStyle(el.closest('.panel')!).opacity)).toBe('1');
      const box = (await list.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(width);
      await page.screenshot({ path: path.join(ARTIFACTS, `list-${width}.png`) });
      await expectAccessible(page, `the conversation list at ${width} px`);

      // By keyboard: the current row has the focus; Shift+Tab goes up to the other one, Enter opens it.
      expect(await rows.nth(1).evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement)).toBe(true);
      await page.keyboard.press('Shift+Tab');
      expect(await top.evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement)).toBe(true);
      await page.keyboard.press('Enter');
      await expect.poll(() => list.isVisible(), { timeout: WAIT }).toBe(false);
      for (const text of [first, news]) await expect.poll(() => widget.message(text).count(), { timeout: WAIT }).toBe(1);
      expect(await widget.message(second).count()).toBe(0);
      expect((await stored(page, 'both'))?.conversationId).toBe(one.conversationId);
      await page.screenshot({ path: path.join(ARTIFACTS, `switched-${width}.png`) });

      // Read now that it shows (Parley's unread count for the user is back to 0), and live again.
      const token = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)!).token as string, `parley:${appId}:${integrations.both}`);
      const unread = async () => {
        const res = await fetch(`${parleyUrl}/sdk/v2/apps/${appId}/conversations`, { headers: { authorization: `Bearer ${token}` } });
        return ((await res.json()) as any).conversations.find((c: any) => c.id === one.conversationId)?.unreadCount;
      };
      await expect.poll(unread, { timeout: WAIT }).toBe(0);
      const live = `Tracking number: AC123 (${width})`;
      await businessSays(one.conversationId, live);
      await expect.poll(() => widget.message(live).count(), { timeout: WAIT }).toBe(1);
      await listButton.click();
      await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(2);
      await expect.poll(() => rows.first().innerText(), { timeout: WAIT }).toContain(live);
      await page.getByTestId('back-to-chat').click();
      await expect.poll(() => widget.composer.isVisible()).toBe(true);
    });
  }

  it('with the defaults (a list, no more conversations) and one conversation, offers neither the list nor a new conversation', async () => {
    const widget = await openSite('defaults', 390);
    const { listButton, headerCreate } = parts(widget.page);
    await widget.launcher.click();
    await write(widget, 'Just one question');
    const session = (await stored(widget.page, 'defaults'))!;
    // Opened again with a session, the widget counts the user's conversations: one, so nothing to list.
    await widget.page.reload();
    await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
    const counted = widget.page.waitForResponse((r) => r.url().endsWith(`/sdk/v2/apps/${appId}/conversations`), { timeout: WAIT });
    await widget.launcher.click();
    expect((await counted).status()).toBe(200);
    await expect.poll(() => widget.message('Just one question').count(), { timeout: WAIT }).toBe(1);
    expect(await listButton.isVisible()).toBe(false);
    expect(await headerCreate.isVisible()).toBe(false);
    expect((await parley('GET', `/v2/apps/${appId}/conversations?filter[userId]=${session.userId}`)).body.conversations).toHaveLength(1);
  });

  it('with the list off and more conversations on, offers "new conversation" in the header and no list', async () => {
    const widget = await openSite('createOnly', 1366);
    const { page } = widget;
    const { listButton, headerCreate } = parts(page);
    await widget.launcher.click();
    await write(widget, 'About my first order');
    const one = (await stored(page, 'createOnly'))!;
    await expect.poll(() => headerCreate.isVisible(), { timeout: WAIT }).toBe(true);
    expect(await listButton.isVisible()).toBe(false);
    expect(await headerCreate.getAttribute('aria-label')).toBe('New conversation');
    await headerCreate.click();
    await expect.poll(async () => (await stored(page, 'createOnly'))?.conversationId, { timeout: WAIT }).not.toBe(one.conversationId);
    expect(await widget.messages.count()).toBe(0);
    await write(widget, 'About something else');
    expect(await listButton.isVisible()).toBe(false);
    await page.screenshot({ path: path.join(ARTIFACTS, 'create-only-1366.png') });
  });

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

if (skip) {
  describe('the conversation list in the Web Messenger', () => {
    it.skip('SKIPPED because PARLEY_SKIP_BROWSER=1', () => {});
  });
}
