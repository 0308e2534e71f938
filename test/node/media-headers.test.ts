/**
 * The headers a real `wrangler dev` Parley sends with `/media`: a Telegram
 * document the channel calls text/html, fetched by Parley from the Telegram
 * fake over loopback and served back, must arrive as a sandboxed, never
 * sniffed download, whatever the runtime adds or drops on the way.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TelegramFake } from '../fakes/telegram';
import { Receiver, waitFor } from './receiver';
import { appWithKey, basicAuth, rest } from './rest';

const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
const telegram = new TelegramFake();
const receiver = new Receiver();
let served: ServedFake;
let auth = '';
let appId = '';
let webhookUrl = '';

const api = (method: string, path: string, body?: unknown, as = auth) => rest(url, method, path, as, body);

beforeAll(async () => {
  served = await serveFake(telegram);
  await receiver.listen();
  ({ appId, auth } = await appWithKey(url, account, 'media headers'));
  expect((await api('POST', `/v2/apps/${appId}/integrations`, { type: 'custom', webhooks: [{ target: receiver.url, triggers: ['conversation:message'] }] })).status).toBe(201);
  const integration = await api('POST', `/v2/apps/${appId}/integrations`, { type: 'telegram', token: telegram.token, apiBaseUrl: served.url });
  expect(integration.status, JSON.stringify(integration.body)).toBe(201);
  webhookUrl = integration.body.integration.webhookUrl;
});

afterAll(async () => {
  await receiver.close();
  await served?.close();
});

describe('/media on the real runtime', () => {
  it('a Telegram document of type text/html arrives as an attachment with nosniff and a sandboxing CSP', async () => {
    const update = telegram.document(webhookUrl, { id: 7401, first_name: 'Cy' }, { mimeType: 'text/html', fileName: 'page.html', bytes: new TextEncoder().encode('<script>alert(document.domain)</script>') });
    expect((await fetch(update)).status).toBe(200);
    const event = await waitFor('the document message', () => receiver.events().find((e) => e.payload.message?.content?.altText === 'page.html'));
    const mediaUrl = String(event.payload.message.content.mediaUrl);
    expect(mediaUrl).toContain('/media/');
    const res = await fetch(mediaUrl);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<script>');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="page.html"');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*; sandbox$/);
  });
});
