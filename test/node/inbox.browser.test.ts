/**
 * The demo's support inbox in Chromium, at a phone's 390 px (phone
 * emulation) and at 1366 px, used by keyboard alone: Tab reaches the
 * conversation list (a listbox) right after the header's link, the focused
 * row shows a visible focus ring, the arrows move between conversations,
 * Enter opens one and puts the cursor in the reply box, Enter there sends the
 * reply, Escape goes back to the list. The timestamps read at 4.5:1 or more,
 * nothing scrolls sideways (on the phone the list and the conversation take
 * the screen in turn), and axe-core finds nothing serious or critical in the
 * list or the conversation. Two visitors write through the widget's routes
 * from the storefront's origin, as in demo.test.ts. Screenshots go to
 * .parley/artifacts/inbox/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDemo, type Demo } from '../../scripts/demo/index';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { appWithKey, basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'inbox');
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

let appId = '';
let appKey = '';
let stateDir = '';
let demo: Demo;
let browser: Browser;
/** Each visitor's conversation and what they wrote first. */
const written = new Map<string, string>();
const pageErrors: string[] = [];

async function parley(method: string, p: string, body?: unknown, headers: Record<string, string> = { authorization: appKey }) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

/** A visitor of the storefront writes through the widget's routes; returns the conversation. */
async function visitorWrites(text: string): Promise<string> {
  const origin = { origin: demo.url };
  const session = await parley('POST', `/sdk/v2/apps/${appId}/sessions`, { integrationId: demo.integrationId, device: { currentUrl: `${demo.url}/` } }, origin);
  expect(session.status, JSON.stringify(session.body)).toBe(201);
  const conversationId: string = session.body.conversation.id;
  const sent = await parley('POST', `/sdk/v2/apps/${appId}/conversations/${conversationId}/messages`, { content: { type: 'text', text } }, { ...origin, authorization: `Bearer ${session.body.session.token}` });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  return conversationId;
}

/** WCAG contrast of each matching element's text against the first opaque background behind it. */
function contrasts(page: Page, selector: string): Promise<{ text: string; ratio: number }[]> {
  return page.evaluate((sel) => {
    const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const ch = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * ch(r!) + 0.7152 * ch(g!) + 0.0722 * ch(b!);
    };
    return Array.from(document.querySelectorAll<HTMLElement>(sel))
      .filter((el) => el.getClientRects().length > 0)
      .map((el) => {
        let bg: HTMLElement | null = el;
        while (bg && (rgb(getComputedStyle(bg).backgroundColor)[3] ?? 1) === 0) bg = bg.parentElement;
        const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(getComputedStyle(bg ?? document.body).backgroundColor))];
        return { text: el.textContent ?? '', ratio: Math.round(((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) * 100) / 100 };
      });
  }, selector);
}

/** No sideways scrolling, and no element past the viewport's right edge (a carousel's cards scroll inside their strip). */
async function expectFits(page: Page, width: number): Promise<void> {
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    outside: Array.from(document.querySelectorAll('body *'))
      .filter((el) => !el.closest('.cards'))
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && (r.left < -0.5 || r.right > window.innerWidth + 0.5))
      .map(({ el }) => `${el.tagName.toLowerCase()}.${el.className}`),
  }));
  expect(layout).toEqual({ scrollWidth: width, outside: [] });
}

const focused = (page: Page) => page.evaluate(() => ({ role: document.activeElement?.getAttribute('role'), id: (document.activeElement as HTMLElement | null)?.dataset.id ?? document.activeElement?.id, tag: document.activeElement?.tagName }));

const skip = browserSkipped();

describe.skipIf(skip)('the demo inbox by keyboard, on a phone and a desktop', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const key = await appWithKey(parleyUrl, account, 'Inbox browser suite');
    ({ appId, auth: appKey } = key);
    stateDir = mkdtempSync(path.join(tmpdir(), 'parley-inbox-'));
    demo = await startDemo({ parleyUrl, appId, keyId: key.keyId, keySecret: key.keySecret, port: 0, stateFile: path.join(stateDir, 'inbox.json'), warn: () => {} });
    for (const text of ['Is the Basecamp tent really a two-person tent? https://example.com/a-rather-long-link-that-must-wrap-on-a-phone', 'Where is my order #10023?']) written.set(await visitorWrites(text), text);
    // A carousel in each conversation, so a thread holds a strip of cards that scrolls sideways.
    for (const id of written.keys()) {
      const items = ['jacket', 'boots', 'tent'].map((p) => ({ title: p, mediaUrl: `${demo.url}/img/${p}.svg`, actions: [{ type: 'postback', text: 'Add to cart', payload: p }] }));
      expect((await parley('POST', `/v2/apps/${appId}/conversations/${id}/messages`, { author: { type: 'business', displayName: 'Acme support' }, content: { type: 'carousel', items } })).status).toBe(201);
    }
    for (const id of written.keys()) {
      const deadline = Date.now() + WAIT;
      while (!demo.webhookEvents().some((e) => e.type === 'conversation:message' && e.conversationId === id && e.payload?.message?.content?.type === 'carousel')) {
        if (Date.now() > deadline) throw new Error(`the inbox never heard of ${id}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  for (const { name, width, options } of [
    { name: 'phone', width: 390, options: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 } },
    { name: 'desktop', width: 1366, options: { viewport: { width: 1366, height: 768 } } },
  ]) {
    it(`${name} (${width} px): the list, then a conversation, by keyboard alone; readable timestamps; nothing scrolls sideways; axe finds nothing serious`, async () => {
      const context = await browser.newContext({ locale: 'en-US', ...options });
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(`${name}: ${err.message}`));
      await page.goto(demo.inboxUrl);
      const rows = page.locator('#list [role="option"]');
      await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(2);
      // Newest activity first: the order the keyboard walks.
      const order = await rows.evaluateAll((all) => all.map((r) => (r as HTMLElement).dataset.id!));
      expect(await page.locator('#list').getAttribute('role')).toBe('listbox');
      expect(await page.locator('#list').getAttribute('aria-label')).toBe('Conversations');
      await expectFits(page, width);
      for (const { text, ratio } of await contrasts(page, '#list time')) expect(ratio, `timestamp "${text}"`).toBeGreaterThanOrEqual(4.5);
      await expectAccessible(page, `the inbox's list at ${width} px`);
      await page.screenshot({ path: path.join(ARTIFACTS, `list-${width}.png`) });

      // Tab order: the header's link, then the list (one tab stop, on its first row).
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toContain('Open the storefront');
      await page.keyboard.press('Tab');
      expect(await focused(page)).toEqual({ role: 'option', id: order[0], tag: 'LI' });
      const ring = await page.evaluate(() => {
        const style = getComputedStyle(document.activeElement!);
        return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
      });
      expect(ring.style).not.toBe('none');
      expect(ring.width).toBeGreaterThanOrEqual(2);
      await page.keyboard.press('ArrowDown');
      const chosen = order[1]!;
      expect(await focused(page)).toEqual({ role: 'option', id: chosen, tag: 'LI' });

      // Enter opens it and puts the cursor in the reply box.
      await page.keyboard.press('Enter');
      await expect.poll(() => page.locator(`#list [data-id="${chosen}"]`).getAttribute('aria-selected')).toBe('true');
      await expect.poll(() => page.locator('#messages .msg').filter({ hasText: written.get(chosen)! }).count(), { timeout: WAIT }).toBe(1);
      expect(await page.locator('#messages .cards .item').count()).toBe(3);
      expect(await focused(page)).toMatchObject({ id: 'text', tag: 'TEXTAREA' });
      if (name === 'phone') {
        expect(await page.locator('.col.list').isVisible(), 'on a phone the conversation takes the screen').toBe(false);
        expect(await page.getByRole('button', { name: 'Back to the conversations' }).isVisible()).toBe(true);
      }
      const reply = `Yes, two people and their packs (${name})`;
      await page.keyboard.type(reply);
      await page.keyboard.press('Enter');
      await expect.poll(() => page.locator('#messages .msg.business').filter({ hasText: reply }).count(), { timeout: WAIT }).toBe(1);
      const stored = await parley('GET', `/v2/apps/${appId}/conversations/${chosen}/messages`);
      expect(stored.body.messages.at(-1)).toMatchObject({ author: { type: 'business' }, content: { text: reply } });
      await expectFits(page, width);
      for (const { text, ratio } of await contrasts(page, '#messages .meta, #messages .day')) expect(ratio, `timestamp "${text}"`).toBeGreaterThanOrEqual(4.5);
      await expectAccessible(page, `the inbox's conversation at ${width} px`);
      await page.screenshot({ path: path.join(ARTIFACTS, `conversation-${width}.png`) });

      // Escape: back to the list, on the conversation's row.
      await page.keyboard.press('Escape');
      expect(await focused(page)).toEqual({ role: 'option', id: chosen, tag: 'LI' });
      expect(await page.locator('.col.list').isVisible()).toBe(true);
      await context.close();
    });
  }

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

if (skip) {
  describe('the demo inbox by keyboard, on a phone and a desktop', () => {
    it.skip('SKIPPED because PARLEY_SKIP_BROWSER=1', () => {});
  });
}
