/**
 * The demo shop and the Web Messenger on a phone, in Chromium with phone
 * emulation (390 x 844, isMobile, touch, 3x pixels: isMobile is what lets a
 * page wider than the screen widen the layout viewport, the 864 px bug a
 * plain 390 px window hides), and on a 1366 px desktop:
 * - the shop fits the screen: no horizontal scroll, no element past the edge;
 * - the open widget fills the phone's screen with its close button and
 *   composer on it, nothing in it wider than the screen, the launcher gone,
 *   and the page behind not scrolling; it follows the visible area when that
 *   shrinks (as when the on-screen keyboard opens), and still fits on a host
 *   page that is itself wider than the screen; closing gives the page back
 *   its scrolling, where it was;
 * - with business buttons, a carousel, quick replies and a form in the log,
 *   axe-core finds nothing serious or critical, at both widths, nor on the
 *   shop itself.
 * Screenshots go to .parley/artifacts/phone/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDemo, type Demo } from '../../scripts/demo/index';
import { richContent } from '../../scripts/demo/rich';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { Widget } from './browser/widget';
import { appWithKey, basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'phone');
const WAIT = 20_000;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 };
const DESKTOP = { viewport: { width: 1366, height: 768 } };

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

let appId = '';
let appKey = '';
let stateDir = '';
let demo: Demo;
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

async function openShop(options: typeof PHONE | typeof DESKTOP, init?: () => void): Promise<Widget> {
  const context = await browser.newContext({ locale: 'en-US', ...options });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  if (init) await page.addInitScript(init);
  await page.goto(demo.url);
  const widget = new Widget(page);
  await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
  return widget;
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, name) });

/** The document does not scroll sideways and no element of the page reaches past the viewport's right edge. */
async function expectPageFits(page: Page): Promise<void> {
  const layout = await page.evaluate(() => {
    const width = window.innerWidth;
    const outside = Array.from(document.querySelectorAll('body *'))
      .filter((el) => el.id !== 'parley-messenger')
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && (r.left < -0.5 || r.right > width + 0.5))
      .map(({ el, r }) => `${el.tagName.toLowerCase()}.${el.className}: ${Math.round(r.left)}..${Math.round(r.right)}`);
    return { innerWidth: width, scrollWidth: document.documentElement.scrollWidth, outside };
  });
  expect(layout.outside).toEqual([]);
  expect(layout).toMatchObject({ innerWidth: 390, scrollWidth: 390 });
}

/** Every visible part of the widget lies within the viewport (a carousel's track scrolls inside itself and is left out), and neither the panel nor its log scrolls sideways. */
async function expectWidgetFits(page: Page): Promise<void> {
  const layout = await page.evaluate(() => {
    const shadow = document.getElementById('parley-messenger')!.shadowRoot!;
    const width = window.visualViewport?.width ?? window.innerWidth;
    const outside = Array.from(shadow.querySelectorAll('.panel *'))
      .filter((el) => !el.closest('.track'))
      .map((el) => ({ el, r: el.getBoundingClientRect() }))
      .filter(({ r }) => r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > width + 0.5))
      .map(({ el, r }) => `${el.tagName.toLowerCase()}.${el.getAttribute('class')}: ${Math.round(r.left)}..${Math.round(r.right)}`);
    const sideways = ['.panel', '.scroller', '.foot'].filter((s) => {
      const el = shadow.querySelector(s)!;
      return el.scrollWidth > el.clientWidth + 1;
    });
    return { outside, sideways };
  });
  expect(layout).toEqual({ outside: [], sideways: [] });
}

/** Within the visible area of the screen, fully. */
async function expectOnScreen(page: Page, what: string, box: { x: number; y: number; width: number; height: number } | null): Promise<void> {
  const vv = await page.evaluate(() => ({ w: window.visualViewport!.width, h: window.visualViewport!.height }));
  expect(box, what).not.toBeNull();
  expect([box!.x >= -0.5, box!.y >= -0.5, box!.x + box!.width <= vv.w + 0.5, box!.y + box!.height <= vv.h + 0.5], `${what} at ${JSON.stringify(box)} in ${vv.w}x${vv.h}`).toEqual([true, true, true, true]);
}

/** The visitor writes, then the business answers with every kind of content that has buttons: a text with buttons, a carousel, quick replies and a form. */
async function fillConversation(widget: Widget, label: string): Promise<void> {
  await widget.composer.fill(`Hello from the ${label}`);
  await widget.page.keyboard.press('Enter');
  await expect.poll(() => widget.message(`Hello from the ${label}`).getAttribute('data-status'), { timeout: WAIT }).toBe('sent');
  const stored = await widget.page.evaluate((k) => JSON.parse(localStorage.getItem(k) ?? 'null'), `parley:${appId}:${demo.integrationId}`);
  const conversationId = stored.conversationId as string;
  const contents = [
    {
      type: 'text',
      text: `Our return policy, for the ${label}: 60 days, free of charge. Anything else?`,
      actions: [
        { type: 'postback', text: 'Start a return', payload: 'RETURN' },
        { type: 'link', text: 'Read the policy', uri: 'https://example.com/returns' },
      ],
    },
    richContent('carousel', demo.url),
    richContent('quickReplies', demo.url),
    richContent('form', demo.url),
  ];
  for (const content of contents) {
    const sent = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, { author: { type: 'business', displayName: 'Acme support' }, content });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    const row = widget.log.locator(`[data-testid="message"][data-seq="${sent.body.messages[0].seq}"]`);
    await expect.poll(() => row.getAttribute('data-type'), { timeout: WAIT }).toBe(content.type);
  }
  await expect.poll(() => widget.carousel.getByTestId('carousel-item').first().locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), { timeout: WAIT }).toBe(true);
  // At rest: the panel's opening transition is over, so axe and the screenshot see what the visitor sees.
  await expect.poll(() => widget.panel.evaluate((el) => getComputedStyle(el).opacity), { timeout: WAIT }).toBe('1');
}

async function openWidget(widget: Widget): Promise<void> {
  await widget.launcher.click();
  await expect.poll(() => widget.panel.isVisible(), { timeout: WAIT }).toBe(true);
  await expect.poll(() => widget.composer.isEditable(), { timeout: WAIT }).toBe(true);
  await expect.poll(() => widget.panel.evaluate((el) => getComputedStyle(el).opacity), { timeout: WAIT }).toBe('1');
}

const skip = browserSkipped();

describe.skipIf(skip)('the demo shop and the Web Messenger on a phone', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const key = await appWithKey(parleyUrl, account, 'Phone browser suite');
    ({ appId, auth: appKey } = key);
    stateDir = mkdtempSync(path.join(tmpdir(), 'parley-phone-'));
    demo = await startDemo({ parleyUrl, appId, keyId: key.keyId, keySecret: key.keySecret, port: 0, stateFile: path.join(stateDir, 'inbox.json'), warn: () => {} });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await demo?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('the shop fits a 390 px phone: no horizontal scroll, nothing past the edge, the launcher on screen; axe finds nothing serious', async () => {
    const { page, launcher } = await openShop(PHONE);
    await expectPageFits(page);
    await expectOnScreen(page, 'the launcher', await launcher.boundingBox());
    await expectAccessible(page, 'the demo shop at 390 px');
    await page.screenshot({ path: path.join(ARTIFACTS, 'shop-390.png'), fullPage: true });
  });

  it('the open widget fills the phone screen with its close button and composer on it, stops the page behind from scrolling, and holds buttons, a carousel and a form without overflowing; axe finds nothing serious', async () => {
    const widget = await openShop(PHONE);
    const { page } = widget;
    await page.evaluate(() => window.scrollTo(0, 400));
    await openWidget(widget);
    expect(await widget.panel.boundingBox()).toEqual({ x: 0, y: 0, width: 390, height: 844 });
    await expectOnScreen(page, 'the close button', await page.getByTestId('close').boundingBox());
    await expectOnScreen(page, 'the composer', await widget.composer.boundingBox());
    await expectOnScreen(page, 'the send button', await widget.sendButton.boundingBox());
    expect(await widget.launcher.isVisible(), 'the panel covers the launcher; its close button takes over').toBe(false);

    await fillConversation(widget, 'phone');
    await expectWidgetFits(page);
    await expectOnScreen(page, 'the composer', await widget.composer.boundingBox());
    await shot(page, 'widget-390-end.png');
    await widget.log.evaluate((log) => log.closest('.scroller')!.scrollTo(0, 0));
    await shot(page, 'widget-390-top.png');
    await expectAccessible(page, 'the open widget at 390 px with buttons, a carousel, quick replies and a form');

    // The page behind stays where it was under a swipe or the wheel.
    await page.mouse.move(200, 30);
    await page.mouse.wheel(0, 600);
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => window.scrollY)).toBe(400);

    await page.getByTestId('close').click();
    await expect.poll(() => widget.panel.isVisible(), { timeout: WAIT }).toBe(false);
    expect(await page.evaluate(() => [window.scrollY, document.documentElement.style.overflow])).toEqual([400, '']);
    await page.mouse.wheel(0, 300);
    await expect.poll(() => page.evaluate(() => window.scrollY)).toBeGreaterThan(400);
  });

  it('when the visible area shrinks (as when the on-screen keyboard opens), the panel follows it and the composer stays above', async () => {
    const widget = await openShop(PHONE);
    const { page } = widget;
    await openWidget(widget);
    await widget.composer.focus();
    await page.setViewportSize({ width: 390, height: 480 });
    await expect.poll(async () => (await widget.panel.boundingBox())?.height, { timeout: WAIT }).toBe(480);
    await expectOnScreen(page, 'the composer above the keyboard', await widget.composer.boundingBox());
    await expectOnScreen(page, 'the close button', await page.getByTestId('close').boundingBox());
    await shot(page, 'widget-390-keyboard.png');
    await page.setViewportSize(PHONE.viewport);
    await expect.poll(async () => (await widget.panel.boundingBox())?.height, { timeout: WAIT }).toBe(844);
  });

  it('on a host page wider than the screen (the old 864 px shop), the open widget still fits the screen', async () => {
    const widget = await openShop(PHONE, () => {
      document.addEventListener('DOMContentLoaded', () => {
        const wide = document.createElement('div');
        wide.style.cssText = 'width:864px;height:8px';
        document.body.prepend(wide);
      });
    });
    const { page } = widget;
    expect(await page.evaluate(() => window.innerWidth), 'the emulated phone widened its layout to the page').toBe(864);
    await page.evaluate(() => (window as any).ParleyMessenger.open());
    await expect.poll(() => widget.panel.isVisible(), { timeout: WAIT }).toBe(true);
    await expect.poll(() => widget.panel.evaluate((el) => getComputedStyle(el).opacity), { timeout: WAIT }).toBe('1');
    const box = await widget.panel.boundingBox();
    expect([box!.width, box!.height]).toEqual([390, 844]);
    await expectOnScreen(page, 'the close button', await page.getByTestId('close').boundingBox());
    await expectOnScreen(page, 'the composer', await widget.composer.boundingBox());
    await shot(page, 'widget-390-wide-host.png');
  });

  it('at 1366 px the widget is a panel beside the page, which keeps scrolling; axe finds nothing serious with the same content', async () => {
    const widget = await openShop(DESKTOP);
    const { page } = widget;
    await openWidget(widget);
    const box = (await widget.panel.boundingBox())!;
    expect(box.width).toBe(380);
    expect(box.x + box.width).toBe(1366 - 20);
    expect(await widget.launcher.isVisible()).toBe(true);
    expect(await page.evaluate(() => document.documentElement.style.overflow)).toBe('');
    await fillConversation(widget, 'desktop');
    await expectWidgetFits(page);
    await shot(page, 'widget-1366.png');
    await expectAccessible(page, 'the demo shop at 1366 px with the widget open on buttons, a carousel, quick replies and a form');
  });

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

if (skip) {
  describe('the demo shop and the Web Messenger on a phone', () => {
    it.skip('SKIPPED because PARLEY_SKIP_BROWSER=1', () => {});
  });
}
