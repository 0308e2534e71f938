/**
 * The Web Messenger end to end, in Chromium: the demo storefront embeds the
 * widget from the suite's Parley, a visitor opens it and writes, the message
 * reaches the customer webhook, the business answers through the public v2
 * API with a carousel and the widget shows it live, a second tab of the same
 * browser shares the session, and after a real network drop the messages sent
 * meanwhile show exactly once and in order. The widget reaches Parley through
 * a TCP link the test can cut (./browser/link.ts). Screenshots go to
 * .parley/artifacts/web-messenger/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDemo, type Demo } from '../../scripts/demo/index';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { startLink, type Link } from './browser/link';
import { Widget } from './browser/widget';
import { appWithKey, basicAuth } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'web-messenger');
/** Waits on conditions, never on the clock: generous, because wrangler dev on a busy two-core machine is slow. */
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

let appId = '';
let appKey = '';
let stateDir = '';
let link: Link;
let demo: Demo;
let browser: Browser;
let context: BrowserContext;
let conversationId = '';
let tab1: Widget;
let tab2: Widget;
const pageErrors: string[] = [];

async function parley(method: string, p: string, body?: unknown, authorization = appKey) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

/** A business message through the public API, as the customer's server sends one; returns its seq. */
async function answer(content: Record<string, unknown>): Promise<number> {
  const sent = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, { author: { type: 'business', displayName: 'Acme support' }, content });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  const seq = sent.body.messages[0].seq;
  expect(seq, 'a stored message carries its seq').toEqual(expect.any(Number));
  return seq;
}

/** The seqs Parley holds for the conversation, in order. */
async function storedSeqs(): Promise<number[]> {
  const page = await parley('GET', `/v2/apps/${appId}/conversations/${conversationId}/messages?page[size]=100`);
  expect(page.status, JSON.stringify(page.body)).toBe(200);
  return page.body.messages.map((m: any) => m.seq);
}

async function openTab(): Promise<Widget> {
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  await page.goto(demo.url);
  const widget = new Widget(page);
  await widget.launcher.waitFor({ state: 'visible', timeout: WAIT });
  return widget;
}

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = WAIT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; webhook events: ${JSON.stringify(demo.webhookEvents().map((e) => e.summary))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, name) });

const PRODUCTS = [
  ['jacket', 'Ridgeline Shell Jacket'],
  ['boots', 'Summit Hiking Boots'],
  ['backpack', 'Trailhead 28L Pack'],
] as const;
const TITLES = PRODUCTS.map(([, title]) => title);
const linkTo = (slug: string) => `https://example.com/${slug}`;

/** Three cards with images served by the demo (another origin than Parley's), a postback and a link button each. */
const carousel = () => ({
  type: 'carousel',
  items: PRODUCTS.map(([slug, title]) => ({
    title,
    description: `The ${title}, in stock in every size.`,
    mediaUrl: `${demo.url}/img/${slug}.svg`,
    mediaType: 'image/svg+xml',
    altText: title,
    actions: [
      { type: 'postback', text: 'Add to cart', payload: `ADD_TO_CART:${slug}` },
      { type: 'link', text: 'View details', uri: linkTo(slug) },
    ],
  })),
});

const skip = browserSkipped();

describe.skipIf(skip)('the Web Messenger in a browser', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const key = await appWithKey(parleyUrl, account, 'Web Messenger browser suite');
    ({ appId, auth: appKey } = key);
    link = await startLink(parleyUrl);
    stateDir = mkdtempSync(path.join(tmpdir(), 'parley-browser-'));
    demo = await startDemo({ parleyUrl: link.url, appId, keyId: key.keyId, keySecret: key.keySecret, port: 0, stateFile: path.join(stateDir, 'inbox.json'), warn: () => {} });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    tab1 = await openTab();
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    await link?.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('opens from a labelled launcher with the keyboard, logs messages in a role=log, and closes on Escape with focus back on the launcher', async () => {
    const { launcher, panel, log, composer, page } = tab1;
    await expect.poll(() => launcher.getAttribute('aria-label')).toBe('Open chat');
    expect(await launcher.getAttribute('aria-expanded')).toBe('false');
    expect(await panel.isVisible()).toBe(false);

    await launcher.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => launcher.getAttribute('aria-expanded'), { timeout: WAIT }).toBe('true');
    expect(await launcher.getAttribute('aria-label')).toBe('Close chat');
    await expect.poll(() => panel.isVisible()).toBe(true);
    expect(await panel.getAttribute('role')).toBe('dialog');
    expect(await log.getAttribute('role')).toBe('log');
    await expect.poll(() => composer.evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement), { timeout: WAIT }).toBe(true);

    await page.keyboard.press('Escape');
    await expect.poll(() => launcher.getAttribute('aria-expanded')).toBe('false');
    await expect.poll(() => panel.isVisible()).toBe(false);
    expect(await launcher.evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement)).toBe(true);
  });

  it('shows a message typed in the widget as sent, and the customer webhook receives it', async () => {
    const text = `Do the Summit boots run large? ${Date.now()}`;
    await tab1.launcher.click();
    await expect.poll(() => tab1.composer.isEditable(), { timeout: WAIT }).toBe(true);
    await tab1.composer.fill(text);
    await tab1.sendButton.click();

    const row = tab1.message(text);
    await expect.poll(() => row.getAttribute('data-status'), { timeout: WAIT }).toBe('sent');
    expect(await row.getAttribute('data-author')).toBe('user');
    expect(Number(await row.getAttribute('data-seq'))).toBeGreaterThan(0);
    expect(await tab1.composer.inputValue()).toBe('');

    const event = await eventually('the conversation:message webhook event', () =>
      demo.webhookEvents().find((e) => e.type === 'conversation:message' && e.payload?.message?.content?.text === text),
    );
    expect(event.payload.message).toMatchObject({ author: { type: 'user' }, source: { type: 'web', integrationId: demo.integrationId } });
    conversationId = event.payload.conversation.id;
    expect(event.conversationId).toBe(conversationId);
  });

  it('renders a business carousel sent through the v2 API live, without a reload: three cards with their titles, images and buttons', async () => {
    expect(conversationId, 'the previous test found the conversation').not.toBe('');
    await tab1.watchOrder();
    await tab1.page.evaluate(() => ((window as any).__sameDocument = true));
    const seq = await answer(carousel());

    const row = tab1.log.locator(`[data-testid="message"][data-seq="${seq}"]`);
    await expect.poll(() => row.getAttribute('data-type'), { timeout: WAIT }).toBe('carousel');
    const cards = row.getByTestId('carousel-item');
    expect(await cards.count()).toBe(3);
    for (const [i, title] of TITLES.entries()) {
      const card = cards.nth(i);
      expect(await card.getByRole('heading', { name: title }).isVisible()).toBe(true);
      expect(await card.locator('button[data-action="postback"]', { hasText: 'Add to cart' }).count()).toBe(1);
      expect(await card.locator('a[data-action="link"]', { hasText: 'View details' }).getAttribute('href')).toBe(linkTo(PRODUCTS[i]![0]));
    }
    // The first card is in view: its image has loaded from the demo's server, another origin than Parley's.
    await expect
      .poll(() => cards.first().locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), { timeout: WAIT })
      .toBe(true);
    expect(await tab1.page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    await shot(tab1.page, 'widget-open.png');
    await expectAccessible(tab1.page, 'the storefront with the widget open on a carousel');
  });

  it('shows the same history in a second tab of the same browser, and a new business message in both tabs', async () => {
    tab2 = await openTab();
    await tab2.launcher.click();
    await tab2.watchOrder();
    const stored = await storedSeqs();
    await expect.poll(() => tab2.seqs(), { timeout: WAIT }).toEqual(stored);
    expect(await tab2.carousel.getByTestId('carousel-item').count()).toBe(3);
    for (const title of TITLES) expect(await tab2.carousel.getByRole('heading', { name: title }).isVisible()).toBe(true);
    expect(await tab2.messages.first().getAttribute('data-author')).toBe('user');

    const text = 'Both tabs should show this.';
    const seq = await answer({ type: 'text', text });
    for (const tab of [tab1, tab2]) {
      await expect.poll(() => tab.message(text).getAttribute('data-seq'), { timeout: WAIT }).toBe(String(seq));
      await expect.poll(() => tab.seqs()).toEqual([...stored, seq]);
    }
  });

  it('after the network drops, shows the messages sent meanwhile exactly once and in seq order, in both tabs', async () => {
    const before = await storedSeqs();
    link.cut();
    for (const tab of [tab1, tab2]) await expect.poll(() => tab.reconnecting.isVisible(), { timeout: WAIT }).toBe(true);

    const texts = ['While you were away (1)', 'While you were away (2)', 'While you were away (3)'];
    const seqs: number[] = [];
    for (const text of texts) seqs.push(await answer({ type: 'text', text }));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // Proof the link was really down: nothing could reach the widget.
    for (const tab of [tab1, tab2]) expect(await tab.seqs()).toEqual(before);

    const acceptedBefore = link.accepted;
    link.restore();
    const after = await storedSeqs();
    expect(after).toEqual([...before, ...seqs]);
    for (const tab of [tab1, tab2]) {
      await expect.poll(() => tab.seqs(), { timeout: 40_000 }).toEqual(after);
      await expect.poll(() => tab.reconnecting.isVisible(), { timeout: WAIT }).toBe(false);
      for (const [i, text] of texts.entries()) {
        expect(await tab.message(text).count(), text).toBe(1);
        expect(await tab.message(text).getAttribute('data-seq')).toBe(String(seqs[i]));
      }
      expect(await tab.orderFaults(), 'rows out of order or duplicated at some point').toEqual([]);
    }
    expect(link.accepted, 'the widget reconnected through the link').toBeGreaterThan(acceptedBefore);
  });

  it('counts an answer that arrives while the widget is closed on the launcher badge', async () => {
    const { launcher, badge, composer, page, panel } = tab1;
    // A message is seen when any tab shows it (the tabs share the read state), so the second tab goes first.
    await tab2.page.close();
    // Headless Chromium only draws the front tab, and the panel's closing transition needs frames.
    await page.bringToFront();
    await composer.focus();
    await page.keyboard.press('Escape');
    await expect.poll(() => launcher.getAttribute('aria-expanded')).toBe('false');
    await expect.poll(() => panel.isVisible(), { timeout: WAIT }).toBe(false);
    expect(await badge.isVisible()).toBe(false);

    await answer({ type: 'text', text: 'Your order has shipped!' });
    await expect.poll(() => badge.textContent(), { timeout: WAIT }).toBe('1');
    expect(await badge.isVisible()).toBe(true);
    expect(await launcher.getAttribute('aria-label')).toMatch(/^Open chat \(1 unread messages?\)$/);
    await shot(page, 'launcher-unread.png');

    await launcher.click();
    await expect.poll(() => badge.isVisible()).toBe(false);
  });

  it('lists the conversation in the demo inbox, which shows its thread when selected', async () => {
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
    await page.goto(demo.inboxUrl);
    const item = page.locator(`#list li[data-id="${conversationId}"]`);
    await item.click({ timeout: WAIT });
    await expect.poll(() => item.getAttribute('aria-selected')).toBe('true');
    const messages = page.locator('#messages .msg');
    await expect.poll(() => messages.filter({ hasText: 'Your order has shipped!' }).count(), { timeout: WAIT }).toBe(1);
    expect(await page.locator('#messages .cards .item').count()).toBe(3);
    await shot(page, 'inbox.png');
    await expectAccessible(page, 'the demo inbox with a conversation open');
  });

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

// Registered only when skipped, so a normal run reports nothing skipped and a skipped one says why in the report.
if (skip) {
  describe('the Web Messenger in a browser', () => {
    it.skip('SKIPPED because PARLEY_SKIP_BROWSER=1', () => {});
  });
}
