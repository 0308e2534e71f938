/**
 * `/media` serves bytes whose type the channel chose, so it must serve them as
 * `/attachments` serves uploads: never sniffed, sandboxed, and anything that a
 * browser could run as a page on Parley's origin only as a download.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { TelegramFake, type TelegramUser } from '../../fakes/telegram';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://telegram.test';
const fake = new TelegramFake({ webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
const bea: TelegramUser = { id: 7301, first_name: 'Bea' };
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: { id: string; webhookUrl: string };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('media headers');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: fake.token, apiBaseUrl: API });
  expect(res.status).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

/** Sends Bea's document with the channel's type and name and returns the response to its Parley media URL. */
async function servedDocument(mimeType: string, fileName: string, bytes: string): Promise<Response> {
  expect((await hook(fake.document(integration.webhookUrl, bea, { mimeType, fileName, bytes: new TextEncoder().encode(bytes) }))).status).toBe(200);
  const stored = await eventually(() => {
    const e = receiver.ofType('conversation:message').find((ev) => (ev.payload.message as { content: { altText?: string } }).content.altText === fileName);
    if (!e) throw new Error('not stored yet');
    return e.payload.message as { content: { mediaUrl: string } };
  });
  return hook(new Request(String(stored.content.mediaUrl)));
}

const SANDBOX = /(^|;)\s*sandbox\s*(;|$)/;

describe('/media and the type a channel chose', () => {
  for (const [mimeType, fileName] of [
    ['text/html', 'page.html'],
    ['image/svg+xml', 'logo.svg'],
    ['application/javascript', 'app.js'],
  ] as const) {
    it(`a Telegram document of type ${mimeType} is served as a sandboxed, never sniffed download`, async () => {
      const res = await servedDocument(mimeType, fileName, '<script>parent.document.cookie</script>');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${fileName}"`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toMatch(SANDBOX);
      expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      await res.arrayBuffer();
    });
  }

  for (const [mimeType, fileName] of [
    ['image/png', 'shot.png'],
    ['image/jpeg', 'photo.jpg'],
  ] as const) {
    it(`a Telegram document of type ${mimeType} is shown in place, still sandboxed and never sniffed`, async () => {
      const res = await servedDocument(mimeType, fileName, 'picture bytes');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(mimeType);
      expect(res.headers.get('content-disposition')).toBe(`inline; filename="${fileName}"`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toMatch(SANDBOX);
      expect(await res.text()).toBe('picture bytes');
    });
  }

  it('a type with parameters or capitals is judged by its essence: TEXT/HTML; charset=utf-8 is a download', async () => {
    const res = await servedDocument('TEXT/HTML; charset=utf-8', 'shout.html', '<b>hi</b>');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="shout.html"');
    await res.arrayBuffer();
  });
});
