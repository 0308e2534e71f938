/**
 * `/docs` and `/` in Chromium at a phone's 390 px and a laptop's 1366 px:
 * the API reference renders from /openapi.json with the bundled Swagger UI
 * (nothing requested from another origin, no CSP violation), an operation
 * opens with its request body and answers, nothing is wider than the screen;
 * the landing page links the docs, the document and health and shows this
 * deployment's bindings. Screenshots go to .parley/artifacts/docs/; axe-core
 * finds nothing serious or critical on either page.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../../scripts/local.mjs';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';

const url = inject('parleyUrl');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'docs');
const WIDTHS = [390, 1366] as const;

let browser: Browser;
beforeAll(async () => {
  if (browserSkipped()) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
});
afterAll(async () => browser?.close());

/** A page that records every request to another origin, console error and CSP report. */
async function open(width: number): Promise<{ page: Page; foreign: string[]; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width, height: width < 600 ? 844 : 900 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const foreign: string[] = [];
  const problems: string[] = [];
  const origin = new URL(url).origin;
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol.startsWith('http') && u.origin !== origin) foreign.push(r.url());
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { page, foreign, problems };
}

const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

describe.skipIf(browserSkipped())('/docs in Chromium', () => {
  for (const width of WIDTHS) {
    it(`renders the reference from the bundled renderer at ${width} px, accessible`, { timeout: 90_000 }, async () => {
      const { page, foreign, problems } = await open(width);
      await page.goto(`${url}/docs`);
      await page.locator('.swagger-ui .info .title').waitFor({ timeout: 30_000 });
      await expect.poll(() => page.locator('.opblock-tag').count(), { timeout: 30_000 }).toBeGreaterThan(10);
      expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('Parley API');
      await page.screenshot({ path: path.join(ARTIFACTS, `docs-top-${width}.png`), fullPage: false });

      // Open the Messages tag and its "Post a message" operation: the body schema and the answers show.
      await page.locator('.opblock-tag[data-tag="Messages"]').click();
      const post = page.locator('.opblock-post', { hasText: '/v2/apps/{appId}/conversations/{conversationId}/messages' }).first();
      await post.locator('.opblock-summary').click();
      await post.locator('.opblock-body').waitFor();
      await expect.poll(() => post.locator('.responses-table').count()).toBeGreaterThan(0);
      expect(await post.locator('.opblock-body').textContent()).toContain('201');
      // The extension marker shows in the document the page loaded (Swagger UI does not draw x- fields by default).
      const marked = await page.evaluate(() => {
        const spec = (window as unknown as { ui: { specSelectors: { specJson(): { toJS(): { paths: Record<string, Record<string, { 'x-parley-extension'?: boolean }>> } } } } }).ui.specSelectors
          .specJson()
          .toJS();
        return spec.paths['/v1/apps/{appId}/notifications']?.post?.['x-parley-extension'];
      });
      expect(marked).toBe(true);

      expect(await overflow(page), 'page wider than the viewport').toBeLessThanOrEqual(0);
      await page.screenshot({ path: path.join(ARTIFACTS, `docs-${width}.png`), fullPage: false });
      await expectAccessible(page, `/docs at ${width} px`);
      expect(foreign, 'requests to other origins').toEqual([]);
      expect(problems.filter((p) => /Content Security Policy|Refused/i.test(p)), 'CSP violations').toEqual([]);
      await page.context().close();
    });
  }

  it('serves the renderer as cached assets with an ETag and a strict CSP on the page', async () => {
    const res = await fetch(`${url}/docs`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    const js = await fetch(`${url}/docs/swagger-ui.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('max-age=86400');
    const etag = js.headers.get('etag')!;
    expect((await fetch(`${url}/docs/swagger-ui.js`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetch(`${url}/docs/nothing.js`)).status).toBe(404);
  });
});

describe.skipIf(browserSkipped())('/ (the landing page) in Chromium', () => {
  for (const width of WIDTHS) {
    it(`links the docs, the document, health and the widget, and shows the bindings at ${width} px`, { timeout: 60_000 }, async () => {
      const { page, foreign, problems } = await open(width);
      await page.goto(`${url}/`);
      await expect.poll(() => page.locator('h1').textContent()).toBe('Parley');
      for (const href of ['/docs', '/openapi.json', '/healthz']) expect(await page.locator(`a[href="${href}"]`).count(), href).toBeGreaterThan(0);
      const table = await page.locator('table').textContent();
      for (const binding of ['DB', 'CONVERSATIONS', 'INDEX_QUEUE', 'WEBHOOKS_QUEUE', 'DELIVERIES_QUEUE', 'ATTACHMENTS']) expect(table).toContain(binding);
      expect(await page.locator('td.bad').count(), table ?? '').toBe(0);
      expect(await page.locator('pre').textContent()).toContain('/web-messenger.js');
      // Locally (npm start, the test Parley) the page points at the demo shop.
      expect(await page.locator('a[href^="http://127.0.0.1:"]').count()).toBeGreaterThan(0);
      expect(await overflow(page), 'page wider than the viewport').toBeLessThanOrEqual(0);
      await page.screenshot({ path: path.join(ARTIFACTS, `landing-${width}.png`), fullPage: true });
      await expectAccessible(page, `/ at ${width} px`);
      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
      await page.context().close();
    });
  }
});
