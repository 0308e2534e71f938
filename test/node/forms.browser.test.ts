/**
 * The hosted form page in Chromium, against the suite's `wrangler dev`
 * Parley: an SMS user (Twilio fake served on loopback) gets a form as text
 * and a link, opens it on a phone-sized (390 px) and a desktop (1366 px)
 * screen, and fills it in with the keyboard only. Pinned: no horizontal
 * scrolling at either width, every control labelled and reached by Tab in
 * order with a visible focus ring, errors announced (a focused role=alert
 * summary, aria-invalid and aria-describedby on each field), no script on the
 * page, and the answer stored as a formResponse. Screenshots go to
 * .parley/artifacts/forms/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TwilioFake } from '../fakes/twilio';
import { browserSkipped, launchChromium } from './browser/chromium';
import { Receiver, waitFor } from './receiver';
import { appWithKey, basicAuth, rest } from './rest';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, '.parley', 'artifacts', 'forms');
const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

const LONG_WORD = 'https://example.com/orders/' + 'x'.repeat(90);
const FORM = {
  type: 'form',
  text: `Tell us about your order. Reference: ${LONG_WORD}`,
  fields: [
    { type: 'text', name: 'name', label: 'Your name', placeholder: 'Ann Lee', minSize: 2, maxSize: 40 },
    { type: 'email', name: 'email', label: 'Email address', placeholder: 'ann@example.com' },
    { type: 'select', name: 'size', label: 'Size', placeholder: 'Pick a size', options: [{ name: 's', label: 'Small' }, { name: 'l', label: 'Large' }] },
    { type: 'text', name: 'qty', label: 'How many?', format: 'integer' },
  ],
};
const IDS = ['field-0', 'field-1', 'field-2', 'field-3'];

const skip = browserSkipped();
const receiver = new Receiver();
let served: ServedFake;
let twilio: TwilioFake;
let browser: Browser;
let appId = '';
let auth = '';
let webhookUrl = '';
let phone = 0;

const api = (method: string, p: string, body?: unknown) => rest(url, method, p, auth, body);
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });

/** A new SMS user writes in; the business posts the form; answers the page link the SMS carried and the conversation. */
async function formLink(): Promise<{ link: string; conversationId: string; formId: string }> {
  const from = `+1555010${String(1000 + phone++)}`;
  expect((await fetch(await twilio.text(webhookUrl, { from }, 'hi'))).status).toBe(200);
  const added = await waitFor('client:add', () => receiver.events().find((e) => e.type === 'client:add' && e.payload.client?.externalId === from));
  const list = await api('GET', `/v2/apps/${appId}/conversations?filter[userId]=${added.payload.user.id}`);
  const conversationId = list.body.conversations[0].id as string;
  const posted = await api('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, { author: { type: 'business' }, content: FORM });
  expect(posted.status, JSON.stringify(posted.body)).toBe(201);
  const sms = await waitFor('the form by SMS', () => [...twilio.messages.values()].find((m) => m.to === from));
  const link = /Fill in the form: (\S+)$/.exec(sms.body)?.[1];
  expect(link).toMatch(new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/pages/form/`));
  return { link: link!, conversationId, formId: posted.body.messages[0].id };
}

/** Whether the page scrolls sideways: the document is wider than the viewport. */
const overflowsX = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

/** The id (or tag) of the focused element and whether a focus ring of at least 2 px shows on it. */
const focused = (page: Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    const style = el ? getComputedStyle(el) : undefined;
    return { id: el?.id || el?.tagName.toLowerCase() || '', ring: !!style && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };
  });

async function tabOrder(page: Page, steps: number) {
  const seen: { id: string; ring: boolean }[] = [];
  for (let i = 0; i < steps; i++) {
    await page.keyboard.press('Tab');
    seen.push(await focused(page));
  }
  return seen;
}

describe.skipIf(skip)('the hosted form page in a browser', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    served = await serveFake((origin) => (twilio = new TwilioFake({ origin })));
    await receiver.listen();
    ({ appId, auth } = await appWithKey(url, account, 'hosted forms browser'));
    expect((await api('POST', `/v2/apps/${appId}/integrations`, { type: 'custom', webhooks: [{ target: receiver.url, triggers: ['*'] }] })).status).toBe(201);
    const phoneNumberSid = [...twilio.phoneNumbers.keys()][0]!;
    const created = await api('POST', `/v2/apps/${appId}/integrations`, { type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid, apiBaseUrl: served.url });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    webhookUrl = created.body.integration.webhookUrl;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await receiver.close();
    await served?.close();
  });

  it('on a 390 px phone: fits the screen, is filled in with the keyboard alone, announces errors, and stores the answer', async () => {
    const { link, conversationId, formId } = await formLink();
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' });
    const page = await context.newPage();
    // The page's own stylesheet must pass its CSP: Chromium reports any refusal on the console.
    const refused: string[] = [];
    page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && refused.push(m.text()));
    const res = await page.goto(link);
    expect(res!.status()).toBe(200);
    expect(await page.evaluate(() => document.scripts.length)).toBe(0);
    expect(await overflowsX(page)).toBe(false);
    // Every control is found by its label: the labels are bound.
    for (const f of FORM.fields) expect(await page.getByLabel(f.label, { exact: true }).getAttribute('id')).toBe(IDS[FORM.fields.indexOf(f)]);
    expect(await page.getByLabel('How many?').getAttribute('inputmode')).toBe('numeric');
    // Tap targets are at least 44 px high.
    for (const id of IDS) expect((await page.locator(`#${id}`).boundingBox())!.height).toBeGreaterThanOrEqual(44);
    await shot(page, 'form-390.png');

    // Tab walks the fields in order, then the button, each with a visible focus ring.
    const order = await tabOrder(page, 5);
    expect(order.map((o) => o.id)).toEqual([...IDS, 'button']);
    for (const o of order) expect(o.ring, `${o.id} shows a focus ring`).toBe(true);

    // Sending the empty form (Enter on the button): the summary takes the focus and is an alert; each field says what is wrong.
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await overflowsX(page)).toBe(false);
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toContain('Please check these 4 answers');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe('alert');
    for (const id of IDS) {
      const input = page.locator(`#${id}`);
      expect(await input.getAttribute('aria-invalid')).toBe('true');
      const describedBy = await input.getAttribute('aria-describedby');
      expect((await page.locator(`#${describedBy}`).textContent())!.length).toBeGreaterThan(0);
    }
    expect(await page.locator('#field-0-error').textContent()).toBe('This field is required.');
    await shot(page, 'form-390-errors.png');

    // Following a summary link moves to the field; then the whole form by keyboard.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    expect((await focused(page)).id).toBe('field-0');
    await page.keyboard.type('Ann Lee');
    await page.keyboard.press('Tab');
    await page.keyboard.type('ann@example.com');
    await page.keyboard.press('Tab');
    expect((await focused(page)).id).toBe('field-2');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    await page.keyboard.type('2');
    await page.keyboard.press('Tab');
    expect((await focused(page)).id).toBe('button');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Thank you');
    await shot(page, 'form-390-sent.png');

    const list = await api('GET', `/v2/apps/${appId}/conversations/${conversationId}/messages`);
    const answers = list.body.messages.filter((m: any) => m.content.type === 'formResponse');
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({
      source: { type: 'twilio' },
      quotedMessage: { message: { id: formId } },
      content: { textFallback: 'Your name: Ann Lee\nEmail address: ann@example.com\nSize: Large\nHow many?: 2' },
    });
    expect(refused).toEqual([]);
    await context.close();
  });

  it('on a 1366 px desktop: one readable column without sideways scrolling; sent again, it says already submitted', async () => {
    const { link } = await formLink();
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US' });
    const page = await context.newPage();
    expect((await page.goto(link))!.status()).toBe(200);
    expect(await overflowsX(page)).toBe(false);
    const card = (await page.locator('.card').boundingBox())!;
    expect(card.width).toBeLessThanOrEqual(36 * 16);
    expect(Math.abs(card.x - (1366 - card.x - card.width))).toBeLessThan(2);
    await shot(page, 'form-1366.png');
    await page.getByLabel('Your name').fill('Bo');
    await page.getByLabel('Email address').fill('bo@example');
    await page.getByLabel('Size').selectOption('s');
    await page.getByLabel('How many?').fill('1');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send' }).click()]);
    expect(await page.locator('#field-1-error').textContent()).toBe('Enter a valid email address.');
    expect(await page.getByLabel('Your name').inputValue()).toBe('Bo');
    await shot(page, 'form-1366-errors.png');
    await page.getByLabel('Email address').fill('bo@example.com');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send' }).click()]);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Thank you');
    const again = await page.goto(link);
    expect(again!.status()).toBe(409);
    expect(await page.locator('h1').textContent()).toBe('Already submitted');
    expect(await overflowsX(page)).toBe(false);
    await shot(page, 'form-1366-already.png');
    await context.close();
  });
});
