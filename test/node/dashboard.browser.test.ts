/**
 * The dashboard (/dashboard) in Chromium against the suite's `wrangler dev`
 * Parley. An app gets real traffic over two channels (Twilio SMS and Telegram,
 * their fakes served on loopback): users write in, the business answers
 * (one Telegram user has blocked the bot, so one delivery fails), a webhook
 * receives events. Then a person signs in with the keyboard alone and sees
 * charts whose numbers (read from the DOM: the data tables and summaries) are
 * the stats route's; searches and sees the match highlighted while a message's
 * markup stays text; exports NDJSON whose rows are the export route's; a
 * wrong key shows a clear error; nothing lands in storage and reloading signs
 * out. At 390 px nothing scrolls sideways and the panels stack; at 1366 px
 * they sit in a grid. Screenshots go to .parley/artifacts/dashboard/; the
 * README's recompressed 1366 px one, docs/dashboard.png, is rewritten only with
 * PARLEY_UPDATE_SCREENSHOTS=1 (or when missing).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TelegramFake } from '../fakes/telegram';
import { TwilioFake } from '../fakes/twilio';
import { expectAccessible } from './browser/axe';
import { browserSkipped, launchChromium } from './browser/chromium';
import { Receiver, waitFor } from './receiver';
import { basicAuth, rest } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'dashboard');
const README_SHOT = path.join(ROOT, 'docs', 'dashboard.png');
const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

const skip = browserSkipped();
const receiver = new Receiver();
const servers: ServedFake[] = [];
let twilio: TwilioFake;
let telegram: TelegramFake;
let browser: Browser;
let appId = '';
let key = { id: '', secret: '' };
let auth = '';

const api = (method: string, p: string, body?: unknown) => rest(url, method, p, auth, body);
const SEARCH_WORD = 'zebracorn';
const TRAP = '<img src=x onerror="window.__xss=1">';
const DAY = 86_400_000;

/** The range the page shows by default: the last 14 UTC days, `until` exclusive. */
function defaultRange() {
  const today = new Date().toISOString().slice(0, 10);
  return { since: new Date(Date.parse(today) - 13 * DAY).toISOString(), until: new Date(Date.parse(today) + DAY).toISOString() };
}

/** The conversation a channel user's first message opened, from the webhook stream. */
async function conversationOf(match: (e: any) => boolean): Promise<string> {
  const ev = await waitFor('the user\'s message webhook', () => receiver.events().find((e) => e.type === 'conversation:message' && e.payload.message?.author?.type === 'user' && match(e)));
  return ev.payload.conversation.id;
}

async function reply(conversationId: string, text: string) {
  const posted = await api('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, { author: { type: 'business' }, content: { type: 'text', text } });
  expect(posted.status, JSON.stringify(posted.body)).toBe(201);
}

async function seed(): Promise<number> {
  const twilioHook = (await api('POST', `/v2/apps/${appId}/integrations`, { type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: [...twilio.phoneNumbers.keys()][0], apiBaseUrl: servers[0]!.url })).body.integration.webhookUrl as string;
  const tg = await api('POST', `/v2/apps/${appId}/integrations`, { type: 'telegram', token: telegram.token, apiBaseUrl: servers[1]!.url });
  expect(tg.status, JSON.stringify(tg.body)).toBe(201);
  const tgHook = tg.body.integration.webhookUrl as string;
  let messages = 0;
  // Three SMS users, two of them answered.
  for (let i = 0; i < 3; i++) {
    const from = `+1555020${1000 + i}`;
    const text = i === 0 ? `Where is my ${SEARCH_WORD} parcel? ${TRAP}` : `Hello from SMS user ${i}`;
    expect((await fetch(await twilio.text(twilioHook, { from }, text))).status).toBe(200);
    messages++;
    if (i < 2) {
      await reply(await conversationOf((e) => e.payload.message.source?.type === 'twilio' && e.payload.message.content.text === text), `Thanks, SMS user ${i}!`);
      messages++;
    }
  }
  // Two Telegram users; the second blocked the bot, so the reply's delivery fails.
  for (let i = 0; i < 2; i++) {
    const user = { id: 7100 + i, first_name: `Tg${i}` };
    const text = `Bonjour from Telegram ${i}`;
    if (i === 1) telegram.blockUser(user.id);
    expect((await fetch(telegram.text(tgHook, user, text))).status).toBe(200);
    messages++;
    await reply(await conversationOf((e) => e.payload.message.source?.type === 'telegram' && e.payload.message.content.text === text), `Merci Tg${i}`);
    messages++;
  }
  return messages;
}

/** The stats route's answer for the page's default range, once the index holds every seeded message. */
async function settledStats(total: number) {
  const { since, until } = defaultRange();
  let last: any;
  await waitFor(
    'the index to hold every message',
    () => {
      void api('GET', `/v2/apps/${appId}/stats?since=${since}&until=${until}&interval=day`).then((r) => (last = r));
      return last?.status === 200 && last.body.stats.reduce((n: number, b: any) => n + b.messages.inbound + b.messages.outbound, 0) === total && last;
    },
    30_000,
  );
  // Deliveries and webhooks settle a little after the messages: wait until two reads agree.
  let prev = '';
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = await api('GET', `/v2/apps/${appId}/stats?since=${since}&until=${until}&interval=day`);
    const text = JSON.stringify(now.body);
    if (text === prev && now.body.stats.some((b: any) => b.deliveries.failed > 0)) return now.body.stats as any[];
    prev = text;
  }
  return (await api('GET', `/v2/apps/${appId}/stats?since=${since}&until=${until}&interval=day`)).body.stats as any[];
}

const overflowsX = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const style = el ? getComputedStyle(el) : undefined;
    return { id: el?.id || el?.tagName.toLowerCase() || '', ring: !!style && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
  });

/** Signs in with the keyboard alone: Tab from the top of the page to each field, type, Enter. */
async function keyboardSignIn(page: Page, secret = key.secret) {
  await page.locator('body').focus();
  await page.keyboard.press('Tab'); // skip link
  for (const [id, value] of [
    ['app-id', appId],
    ['key-id', key.id],
    ['key-secret', secret],
  ] as const) {
    await page.keyboard.press('Tab');
    expect(await focused(page)).toEqual({ id, ring: true });
    await page.keyboard.type(value);
  }
  await page.keyboard.press('Enter');
}

/** A chart's data table as rows of cell texts (header row first). */
const table = (page: Page, key: string) =>
  page.evaluate((k) => [...document.querySelectorAll(`[data-chart="${k}"] table tr`)].map((tr) => [...tr.children].map((c) => c.textContent ?? '')), key);

async function signedInPage(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${url}/dashboard`);
  await keyboardSignIn(page);
  await page.locator('[data-chart="messages"]').waitFor();
  await page.locator('#body-usage dl').waitFor();
  return page;
}

/** Chromium writes PNGs fast, not small; re-deflating the pixel data at level 9 keeps the README image light. */
function recompressPng(png: Buffer): Buffer {
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    chunks.push({ type: png.toString('latin1', at + 4, at + 8), data: png.subarray(at + 8, at + 8 + len) });
    at += 12 + len;
  }
  const pixels = deflateSync(inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data))), { level: 9, memLevel: 9 });
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const tail = Buffer.alloc(4);
    tail.writeUInt32BE(crc(Buffer.concat([head.subarray(4), data])), 0);
    return Buffer.concat([head, data, tail]);
  };
  const out = [png.subarray(0, 8)];
  for (const c of chunks) {
    if (c.type === 'IDAT') continue;
    if (c.type === 'IEND') out.push(chunk('IDAT', pixels));
    out.push(chunk(c.type, c.data));
  }
  return Buffer.concat(out);
}

describe.skipIf(skip)('the dashboard in a browser', () => {
  let stats: any[] = [];
  let total = 0;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    servers.push(await serveFake((origin) => (twilio = new TwilioFake({ origin }))));
    servers.push(await serveFake(() => (telegram = new TelegramFake())));
    await receiver.listen();
    const app = await rest(url, 'POST', '/v2/apps', account, { displayName: 'dashboard browser' });
    appId = app.body.app.id;
    const made = await rest(url, 'POST', `/v2/apps/${appId}/keys`, account, { displayName: 'dashboard' });
    key = { id: made.body.key.id, secret: made.body.key.secret };
    auth = basicAuth(key.id, key.secret);
    expect((await api('POST', `/v2/apps/${appId}/integrations`, { type: 'custom', webhooks: [{ target: receiver.url, triggers: ['*'] }] })).status).toBe(201);
    total = await seed();
    stats = await settledStats(total);
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await receiver.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  it('at 1366 px: keyboard sign-in, charts with the stats route\'s numbers in a grid, usage, accessible, nothing stored', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: 'en-US' });
    const refused: string[] = [];
    const page = await context.newPage();
    page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && refused.push(m.text()));
    await page.goto(`${url}/dashboard`);
    await keyboardSignIn(page);
    await page.locator('[data-chart="messages"]').waitFor();
    await page.locator('#body-usage dl').waitFor();
    expect(await focused(page)).toMatchObject({ id: 'dash-h' });
    // Without a reduced-motion preference the bars grow in.
    expect(await page.locator('rect.bar').first().evaluate((e) => getComputedStyle(e).animationName)).toBe('grow');

    // Messages per day by channel: every row of the table is the route's byChannel inbound + outbound.
    const rows = await table(page, 'messages');
    const channels = rows[0]!.slice(1, -1);
    expect(new Set(channels)).toEqual(new Set(['twilio', 'telegram']));
    expect(rows.length - 1).toBe(stats.length);
    for (const [i, b] of stats.entries()) {
      const row = rows[i + 1]!;
      channels.forEach((ch, k) => expect(Number(row[k + 1]!.replace(/,/g, ''))).toBe((b.messages.byChannel[ch]?.inbound ?? 0) + (b.messages.byChannel[ch]?.outbound ?? 0)));
    }
    const inbound = stats.reduce((n, b) => n + b.messages.inbound, 0);
    const outbound = stats.reduce((n, b) => n + b.messages.outbound, 0);
    expect(inbound + outbound).toBe(total);
    expect(await page.locator('[data-kpi="messages"] .kpi-value').textContent()).toBe(String(total));
    expect(await page.locator('[data-summary="messages"]').textContent()).toContain(`${total} messages over 14 days: ${inbound} inbound, ${outbound} outbound.`);
    // The SVG's accessible description is the same summary.
    expect(await page.locator('[data-chart="messages"] svg desc').textContent()).toBe(await page.locator('[data-summary="messages"]').textContent());

    const sum = (f: (b: any) => number) => stats.reduce((n, b) => n + f(b), 0);
    const sent = sum((b) => b.deliveries.sent);
    const failed = sum((b) => b.deliveries.failed);
    expect(failed).toBeGreaterThan(0);
    expect(await page.locator('[data-summary="deliveries"]').textContent()).toContain(`${sent} deliveries sent, ${failed} failed`);
    expect(await page.locator('[data-kpi="failures"] .kpi-value').textContent()).toBe(String(failed));
    expect(await page.locator('[data-summary="webhooks"]').textContent()).toBe(
      `${sum((b) => b.webhooks.delivered)} webhooks delivered, ${sum((b) => b.webhooks.failed)} failed attempts, ${sum((b) => b.webhooks.deadLettered)} dead-lettered.`,
    );
    const users = await table(page, 'users');
    stats.forEach((b, i) => expect(users[i + 1]!.slice(1).map(Number)).toEqual([b.users.active, b.users.created]));
    const fr = await table(page, 'firstResponse');
    const answeredDays = stats.filter((b) => b.firstResponseMs.p50 !== null).length;
    expect(answeredDays).toBeGreaterThan(0);
    expect(fr.slice(1).filter((r) => r[1] !== '—').length).toBe(answeredDays);
    expect(await page.locator('[data-summary="firstResponse"]').textContent()).toContain(`On ${answeredDays} of 14 days`);
    // Bars are drawn: one rect per non-zero channel segment.
    const segments = stats.reduce((n, b) => n + channels.filter((ch) => (b.messages.byChannel[ch]?.inbound ?? 0) + (b.messages.byChannel[ch]?.outbound ?? 0) > 0).length, 0);
    expect(await page.locator('[data-chart="messages"] rect.bar').count()).toBe(segments);

    // Usage for this month: monthly active users, as the usage route says.
    const usage = (await api('GET', `/v2/apps/${appId}/usage`)).body.usage;
    expect(await page.locator('[data-usage="monthlyActiveUsers"]').textContent()).toBe(String(usage.monthlyActiveUsers));

    // A grid: first-response and active-users panels side by side.
    const a = await page.locator('#h-first').boundingBox();
    const b = await page.locator('#h-users').boundingBox();
    expect(Math.abs(a!.y - b!.y)).toBeLessThan(2);
    expect(b!.x).toBeGreaterThan(a!.x + 300);
    expect(await overflowsX(page)).toBe(false);

    // Nothing stored anywhere; no CSP refusal.
    expect(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie])).toEqual([0, 0, '']);
    expect((await context.cookies()).length).toBe(0);
    expect(refused).toEqual([]);
    await expectAccessible(page, 'dashboard at 1366 px');

    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-1366.png'), fullPage: true });
    // The README picture shows the page at rest, without the focus ring sign-in left on the heading.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    // The README's copy is refreshed on request only (or when missing), so a test run leaves the tracked file alone.
    const readme = recompressPng(await page.screenshot({ fullPage: false, animations: 'disabled' }));
    writeFileSync(path.join(ARTIFACTS, 'dashboard-readme.png'), readme);
    if (process.env.PARLEY_UPDATE_SCREENSHOTS === '1' || !existsSync(README_SHOT)) writeFileSync(README_SHOT, readme);

    // Reload signs out: the sign-in form is back and the key is gone.
    await page.reload();
    await expect.poll(() => page.locator('#signin').isVisible()).toBe(true);
    expect(await page.locator('#app').isVisible()).toBe(false);
    expect(await page.inputValue('#key-secret')).toBe('');
    await context.close();
  });

  it('search shows highlighted matches and keeps message markup as text', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await signedInPage(context);
    await page.fill('#q', SEARCH_WORD);
    await page.keyboard.press('Enter');
    await page.locator('#results li').first().waitFor();
    expect(await page.locator('#results li').count()).toBe(1);
    expect(await page.locator('#results mark').allTextContents()).toEqual([SEARCH_WORD]);
    const snippet = await page.locator('#results .snippet').textContent();
    expect(snippet).toContain(SEARCH_WORD);
    expect(snippet).toContain('<img');
    expect(await page.locator('#results img').count()).toBe(0);
    expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
    expect(await page.locator('#search-info').textContent()).toContain(`1 message found for “${SEARCH_WORD}”`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-search-1366.png'), fullPage: false });
    await context.close();
  });

  it('export downloads NDJSON whose rows are the export route\'s, the key sent as a header', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
    const page = await signedInPage(context);
    const requests: { url: string; auth: string | undefined }[] = [];
    page.on('request', (r) => r.url().includes('/exports/') && requests.push({ url: r.url(), auth: r.headers()['authorization'] }));
    await page.selectOption('#export-format', 'ndjson');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-go')]);
    const file = readFileSync((await download.path())!, 'utf8');
    const lines = file.trim().split('\n').map((l) => JSON.parse(l));
    expect(download.suggestedFilename()).toMatch(new RegExp(`^parley-messages-${appId}-.*\\.ndjson$`));
    const { since, until } = defaultRange();
    const direct = await fetch(`${url}/v2/apps/${appId}/exports/messages?format=ndjson&since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`, { headers: { authorization: auth } });
    const expected = (await direct.text()).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(expected);
    expect(lines.length).toBe(total);
    const types = new Set(lines.map((m) => m.source?.type));
    expect(types.has('twilio') && types.has('telegram')).toBe(true);
    expect(requests.length).toBeGreaterThan(0);
    for (const r of requests) {
      expect(r.auth).toBe(auth);
      expect(r.url).not.toContain(key.secret);
    }
    await expect.poll(() => page.locator('#export-info').textContent()).toContain(`${total} rows`);

    // CSV too: a header row and one record per message.
    await page.selectOption('#export-format', 'csv');
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#export-go')]);
    const text = readFileSync((await csv.path())!, 'utf8');
    // RFC 4180: records end with CRLF.
    expect(text.split('\r\n')[0]).toBe('id,conversationId,seq,received,authorType,userId,integrationType,contentType,text,mediaUrl');
    for (const m of lines) expect(text).toContain(m.id);
    expect(text.trim().split('\r\n')).toHaveLength(total + 1);
    await expect.poll(() => page.locator('#export-info').textContent()).toMatch(new RegExp(`\\.csv: ${total} rows`));

    // A resumable export: with limit=4 the route stops early and links the next page; the page follows every
    // `Link: rel="next"` (the key still in the header) and the file holds each row once, in order.
    await page.route('**/exports/messages?*', (route) => {
      const u = new URL(route.request().url());
      if (!u.searchParams.has('limit')) u.searchParams.set('limit', '4');
      return route.continue({ url: u.toString() });
    });
    requests.length = 0;
    await page.selectOption('#export-format', 'ndjson');
    const [paged] = await Promise.all([page.waitForEvent('download'), page.click('#export-go')]);
    const pagedLines = readFileSync((await paged.path())!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(pagedLines).toEqual(expected);
    expect(requests.length).toBe(Math.ceil(total / 4));
    expect(requests.slice(1).every((r) => r.url.includes('after=') && r.auth === auth)).toBe(true);
    await context.close();
  });

  it('a panel whose route this Parley lacks says "not available"; the rest still draws', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    await context.route('**/usage?*', (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ errors: [{ code: 'not_found', title: 'No route for GET /v2/apps/x/usage' }] }) }),
    );
    const page = await context.newPage();
    await page.goto(`${url}/dashboard`);
    await keyboardSignIn(page);
    await page.locator('[data-chart="messages"]').waitFor();
    const state = page.locator('#body-usage [data-state="unavailable"]');
    await state.waitFor();
    expect(await state.textContent()).toBe('Usage is not available on this Parley (its route is missing).');
    await context.close();
  });

  it('a wrong key shows a clear error and signs nobody in', async () => {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${url}/dashboard`);
    await keyboardSignIn(page, 'not-the-secret');
    const alert = page.locator('#signin-error');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('Sign-in failed: the key id or secret is wrong.');
    expect(await alert.getAttribute('role')).toBe('alert');
    expect(await page.locator('#app').isVisible()).toBe(false);
    expect(await focused(page)).toMatchObject({ id: 'key-secret', ring: true });
    expect(await page.getAttribute('#key-secret', 'aria-invalid')).toBe('true');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-wrong-key.png') });
    await context.close();
  });

  it('at 390 px: nothing scrolls sideways and the panels stack', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US', reducedMotion: 'reduce' });
    const page = await context.newPage();
    await page.goto(`${url}/dashboard`);
    expect(await overflowsX(page)).toBe(false);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-signin-390.png') });
    await keyboardSignIn(page);
    await page.locator('[data-chart="messages"]').waitFor();
    await page.locator('#body-usage dl').waitFor();
    await page.fill('#q', SEARCH_WORD);
    await page.keyboard.press('Enter');
    await page.locator('#results li').first().waitFor();
    expect(await overflowsX(page)).toBe(false);
    // prefers-reduced-motion: the bars appear without growing.
    expect(await page.locator('rect.bar').first().evaluate((e) => getComputedStyle(e).animationName)).toBe('none');
    // Charts are drawn for the panel's real width: axis labels stay readable on a phone, not shrunk to a few pixels.
    const labelPx = await page.locator('[data-chart="deliveries"] svg .grid text').first().evaluate((e) => e.getBoundingClientRect().height);
    expect(labelPx).toBeGreaterThanOrEqual(10);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-390.png'), fullPage: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-390-top.png') });
    // Open every data table too: they scroll inside their panel, never the page.
    for (const d of await page.locator('details').all()) await d.locator('summary').click();
    expect(await overflowsX(page)).toBe(false);
    const xs = await page.locator('section.panel').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().x)));
    expect(new Set(xs).size).toBe(1);
    const widths = await page.locator('section.panel').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    for (const w of widths) expect(w).toBeLessThanOrEqual(390);
    await expectAccessible(page, 'dashboard at 390 px');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-390-tables.png'), fullPage: true });
    await context.close();
  });
});
