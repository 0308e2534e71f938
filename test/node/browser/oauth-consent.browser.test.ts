/**
 * The OAuth consent page in Chromium, at a desktop width (1280 px) and a
 * phone's (390 px): a partner sends the app's owner to /oauth/authorize on the
 * suite's Parley; the page names the partner and what its token may do; a
 * wrong secret is refused on the page (the secret not kept); the right app key
 * sends the browser back to the partner with a code that buys a working
 * token, by mouse at one width and by keyboard alone at the other; denying
 * sends it back with access_denied. At every step nothing overflows the
 * viewport, no resource outside Parley is requested, the page's CSP reports
 * nothing, and no cookie or storage holds anything. The partner is a local
 * HTTP server. Screenshots go to .parley/artifacts/oauth-consent/.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { browserSkipped, launchChromium } from './chromium';
import { basicAuth } from '../rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'oauth-consent');
const WAIT = 20_000;

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
/** Long enough to wrap on a phone; a name a partner could really register. */
const PARTNER_NAME = 'Northwind Omnichannel Customer-Engagement Suite (EU)';

async function rest(method: string, p: string, authorization: string, body?: unknown) {
  const res = await fetch(`${parleyUrl}${p}`, { method, headers: { authorization, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as any };
}

/** The partner's web server: its callback page records the query it was sent back with. */
let partner: Server;
let partnerOrigin = '';
const callbacks: URL[] = [];

let browser: Browser;
let appId = '';
let appKey = { id: '', secret: '' };
let client = { id: '', secret: '' };

const skip = browserSkipped();

const authorizeUrl = (state: string) => `${parleyUrl}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.id, state, redirect_uri: `${partnerOrigin}/oauth/callback` })}`;

/** A fresh browser profile per viewport, watching for CSP reports, page errors and requests to anywhere but Parley and the partner. */
async function openContext(viewport: { width: number; height: number }, mobile: boolean) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: mobile ? 3 : 1, isMobile: mobile, hasTouch: mobile });
  const problems: string[] = [];
  const allowed = new Set([new URL(parleyUrl).origin, partnerOrigin]);
  context.on('request', (request) => {
    if (!allowed.has(new URL(request.url()).origin)) problems.push(`request to ${request.url()}`);
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { context, page, problems };
}

/** Everything on the page lies within the viewport's width, and nothing but a text field scrolls sideways inside itself. */
async function expectNothingCutOff(page: Page): Promise<void> {
  const layout = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const outside: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const r = el.getBoundingClientRect();
      const label = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}: ${(el.textContent ?? '').trim().slice(0, 40)}`;
      if (r.width > 0 && (r.left < -0.5 || r.right > width + 0.5)) outside.push(`${label} spans ${r.left}..${r.right}`);
      if (el.tagName !== 'INPUT' && el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline') outside.push(`${label} overflows its box`);
    }
    return { width, scrollWidth: document.documentElement.scrollWidth, outside };
  });
  expect(layout.outside).toEqual([]);
  expect(layout.scrollWidth).toBeLessThanOrEqual(layout.width);
}

/** Cookies, storage: the key's ID and secret must leave no trace in the browser. */
async function expectNoTrace(context: BrowserContext, page: Page): Promise<void> {
  expect(await context.cookies()).toEqual([]);
  expect(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length])).toEqual(['', 0, 0]);
}

/** The problems seen, less Chromium's console line for a status the step answers on purpose (401 for a wrong key, 400 for a refused request). */
const unexpected = (problems: string[], ...statuses: number[]) => problems.filter((p) => !statuses.some((s) => p === `console: Failed to load resource: the server responded with a status of ${s} (${s === 401 ? 'Unauthorized' : 'Bad Request'})`));

async function exchange(code: string): Promise<string> {
  const res = await fetch(`${parleyUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(client.id, client.secret) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code }),
  });
  const body = (await res.json()) as Record<string, string>;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

const VIEWPORTS = [
  { name: 'desktop', viewport: { width: 1280, height: 800 }, mobile: false, by: 'mouse' as const },
  { name: 'phone', viewport: { width: 390, height: 844 }, mobile: true, by: 'keyboard' as const },
];

describe.skipIf(skip)('the OAuth consent page in Chromium', () => {
  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    partner = createServer((req, res) => {
      callbacks.push(new URL(req.url!, partnerOrigin));
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>Partner</title><h1>Back at the partner</h1>');
    });
    await new Promise<void>((resolve) => partner.listen(0, '127.0.0.1', resolve));
    partnerOrigin = `http://127.0.0.1:${(partner.address() as AddressInfo).port}`;
    const app = await rest('POST', '/v2/apps', account, { displayName: 'Consent page suite' });
    appId = app.body.app.id;
    appKey = (await rest('POST', `/v2/apps/${appId}/keys`, account, { displayName: 'owner' })).body.key;
    const registered = await rest('POST', '/v2/oauth/clients', account, { name: PARTNER_NAME, redirectUris: [`${partnerOrigin}/oauth/callback`] });
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    client = registered.body.client;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    partner?.closeAllConnections();
    await new Promise<void>((resolve) => (partner ? partner.close(() => resolve()) : resolve()));
  });

  describe.each(VIEWPORTS)('at $viewport.width px ($name)', ({ name, viewport, mobile, by }) => {
    const shot = (page: Page, file: string) => page.screenshot({ path: path.join(ARTIFACTS, `${name}-${file}.png`), fullPage: true });

    it(`names the partner and what its token may do, refuses a wrong secret on the page, and with the right key returns to the partner with a code (${by})`, async () => {
      const { context, page, problems } = await openContext(viewport, mobile);
      const response = await page.goto(authorizeUrl(`${name}-approve`));
      expect(response!.status()).toBe(200);
      expect(await page.getAttribute('html', 'lang')).toBe('en');
      await expect.poll(() => page.getByRole('heading', { level: 1 }).innerText()).toContain(PARTNER_NAME);
      const may = await page.getByRole('list').first().getByRole('listitem').allInnerTexts();
      expect(may).toContain('upload attachments');
      expect(await page.getByRole('list').nth(1).innerText()).toContain('configure the switchboard');
      const allow = page.getByRole('button', { name: 'Allow access' });
      const deny = page.getByRole('button', { name: 'Deny' });
      const [allowBox, denyBox] = [await allow.boundingBox(), await deny.boundingBox()];
      for (const box of [allowBox!, denyBox!]) expect(box.height).toBeGreaterThanOrEqual(44);
      // Stacked, full width on a phone; side by side from 40rem up.
      if (mobile) expect([denyBox!.y > allowBox!.y + allowBox!.height - 1, Math.round(denyBox!.x)]).toEqual([true, Math.round(allowBox!.x)]);
      else expect(Math.round(denyBox!.y)).toBe(Math.round(allowBox!.y));
      await expectNothingCutOff(page);
      await shot(page, 'consent');

      await page.getByLabel('App key ID').fill(appKey.id);
      await page.getByLabel('Secret').fill('not-the-secret');
      const refused = page.waitForResponse((r) => r.url().endsWith('/oauth/authorize') && r.request().method() === 'POST');
      await allow.click();
      expect((await refused).status()).toBe(401);
      await expect.poll(() => page.getByRole('alert').innerText()).toMatch(/do not match/);
      expect(await page.getByLabel('App key ID').inputValue()).toBe(appKey.id);
      expect(await page.getByLabel('Secret').inputValue()).toBe('');
      expect(await page.getByLabel('Secret').getAttribute('aria-invalid')).toBe('true');
      expect(await page.content()).not.toContain('not-the-secret');
      await expectNothingCutOff(page);
      await shot(page, 'wrong-key');

      if (by === 'keyboard') {
        // The secret field has focus after a refusal; typing the secret and pressing Enter submits with the first button, Allow.
        expect(await page.evaluate(() => document.activeElement?.id)).toBe('key_secret');
        await page.keyboard.type(appKey.secret);
        await page.keyboard.press('Enter');
      } else {
        await page.getByLabel('Secret').fill(appKey.secret);
        await allow.click();
      }
      await page.waitForURL(`${partnerOrigin}/oauth/callback?**`, { timeout: WAIT });
      const back = new URL(page.url());
      expect(back.searchParams.get('state')).toBe(`${name}-approve`);
      expect(callbacks.map((u) => u.searchParams.get('code'))).toContain(back.searchParams.get('code'));
      const token = await exchange(back.searchParams.get('code')!);
      const user = await rest('POST', `/v2/apps/${appId}/users`, `Bearer ${token}`, { externalId: `${name}-via-oauth` });
      expect(user.status, JSON.stringify(user.body)).toBe(201);
      await expectNoTrace(context, page);
      expect(unexpected(problems, 401)).toEqual([]);
      await context.close();
    });

    it('denying returns to the partner with error=access_denied and the state, without asking for a key', async () => {
      const { context, page, problems } = await openContext(viewport, mobile);
      await page.goto(authorizeUrl(`${name}-deny`));
      const deny = page.getByRole('button', { name: 'Deny' });
      if (mobile) await deny.tap();
      else await deny.click();
      await page.waitForURL(`${partnerOrigin}/oauth/callback?**`, { timeout: WAIT });
      const back = new URL(page.url());
      expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'access_denied', state: `${name}-deny` });
      await expectNoTrace(context, page);
      expect(problems).toEqual([]);
      await context.close();
    });

    it('an unregistered redirect URI gets an error page that stays on Parley and fits the screen', async () => {
      const { context, page, problems } = await openContext(viewport, mobile);
      const evil = `${parleyUrl}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: client.id, redirect_uri: 'https://attacker.example/steal-the-code' })}`;
      const response = await page.goto(evil);
      expect(response!.status()).toBe(400);
      expect(new URL(page.url()).origin).toBe(new URL(parleyUrl).origin);
      await expect.poll(() => page.getByRole('alert').innerText()).toContain('https://attacker.example/steal-the-code is not registered');
      await expectNothingCutOff(page);
      await shot(page, 'error');
      expect(unexpected(problems, 400)).toEqual([]);
      await context.close();
    });
  });
});
