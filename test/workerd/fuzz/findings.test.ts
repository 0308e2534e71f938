/**
 * What the fuzz suite found, as focused reproductions shrunk by hand from
 * fast-check's counterexamples. Findings that are fixed stay here as plain
 * regression tests. Open ones (known.ts) are `it.fails`: they state the
 * behaviour the contract wants and fail today; when the fix lands they turn
 * red, and the entry in known.ts goes away with the `.fails`. Setup lives in
 * beforeAll, so a broken setup fails loudly instead of passing as an
 * expected failure.
 */
import { env, SELF } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { expectError, raw } from '../fixtures';
import { routeFetch } from '../channels/harness';
import { TelegramFake } from '../../fakes/telegram';
import { MetaFake } from '../../fakes/meta';
import { hmacHex } from '../../../src/channels/signing';
import { captureWorkerLog } from './world';

const TELEGRAM = 'https://telegram.test';
const META = 'https://meta.test';
const telegram = new TelegramFake();
const meta = new MetaFake({ origin: META });

/** `[[[…]]]`, `depth` levels: far under the 100 KB body limit, and JSON.parse takes it. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

let app: Awaited<ReturnType<typeof newApp>>;
let conversationId: string;
let telegramHook: string;
let whatsappHook: string;
let messengerHook: string;
const restores: (() => void)[] = [];

beforeAll(async () => {
  restores.push(captureWorkerLog());
  const spy = routeFetch({ [TELEGRAM]: telegram, [META]: meta });
  restores.push(() => spy.mockRestore());
  app = await newApp('Fuzz findings');
  const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'finding' });
  const conv = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
  conversationId = conv.body.conversation.id;
  const channel = (body: Record<string, unknown>) => call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, body);
  const tg = await channel({ type: 'telegram', token: telegram.token, apiBaseUrl: TELEGRAM });
  const wa = await channel({ type: 'whatsapp', phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, apiBaseUrl: META });
  const ms = await channel({ type: 'messenger', pageAccessToken: meta.page.accessToken, appId: '1517776481860111', appSecret: meta.appSecret, apiBaseUrl: META });
  expect([conv.status, tg.body.integration?.status, wa.body.integration?.status, ms.body.integration?.status]).toEqual([201, 'active', 'active', 'active']);
  telegramHook = tg.body.integration.webhookUrl;
  whatsappHook = wa.body.integration.webhookUrl;
  messengerHook = ms.body.integration.webhookUrl;
});

afterAll(() => {
  for (const restore of restores.reverse()) restore();
});

const messagesPath = () => `/v2/apps/${app.appId}/conversations/${conversationId}/messages`;
const postMessage = (body: string) => raw('POST', messagesPath(), { headers: { authorization: app.auth, 'content-type': 'application/json' }, body });
const messageIds = async () => (await call('GET', messagesPath(), app.auth)).body.messages.map((m: { id: string }) => m.id);

const telegramUpdate = (updateId: number, fields: { from: string; date?: number }) =>
  SELF.fetch(telegramHook, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': telegram.webhook!.secretToken! },
    body: `{"update_id":${updateId},"message":{"message_id":${updateId},"from":${fields.from},"chat":{"id":8101,"type":"private","first_name":"Deep"},"date":${fields.date ?? 1767225600},"text":"hi"}}`,
  });

const signedMeta = async (url: string, body: string) => {
  const bytes = new TextEncoder().encode(body);
  return SELF.fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${await hmacHex('SHA-256', meta.appSecret, bytes)}` }, body: bytes });
};

const clientOf = (externalId: string) => env.DB.prepare('SELECT id, conversation_id FROM clients WHERE app_id = ? AND external_id = ?').bind(app.appId, externalId).first<{ id: string; conversation_id: string }>();

// ---- fixed (fa20ebc): regression tests ----------------------------------------------------------

describe('deep nesting is refused at the edge (it used to overflow the stack on the RPC to the ConversationDO: 500)', () => {
  it('POST .../messages with override.whatsapp.payload nested 10,000 deep: 400, nothing stored', async () => {
    const before = await messageIds();
    expectError(await postMessage(`{"author":{"type":"business"},"content":{"type":"text","text":"hi"},"override":{"whatsapp":{"payload":${nested(10_000)}}}}`), 400, 'bad_request');
    expect(await messageIds()).toEqual(before);
  });

  it('POST .../messages with template components carrying an extra field nested 10,000 deep: 400', async () => {
    expectError(await postMessage(`{"author":{"type":"business"},"schema":"whatsapp","content":{"type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"body","x":${nested(10_000)}}]}}}`), 400, 'bad_request');
  });

  it('a modestly nested override payload (32 levels) is still accepted', async () => {
    expect((await postMessage(`{"author":{"type":"business"},"content":{"type":"text","text":"hi"},"override":{"whatsapp":{"payload":{"interactive":${nested(31)}}}}}`)).status).toBe(201);
  });

  it("a signed Telegram update whose `from` has an extra field nested 10,000 deep is refused below 500 and creates no client, so the user's ordinary updates still go through", async () => {
    const deep = await telegramUpdate(700_001, { from: `{"id":8101,"is_bot":false,"first_name":"Deep","x":${nested(10_000)}}` });
    expect({ status: deep.status < 500, client: await clientOf('8101') }).toEqual({ status: true, client: null });
    expect((await telegramUpdate(700_002, { from: '{"id":8101,"is_bot":false,"first_name":"Deep"}' })).status).toBe(200);
  });

  it('a signed WhatsApp webhook whose contacts[0].profile has an extra field nested 10,000 deep is refused below 500', async () => {
    const body = JSON.parse(await (await meta.whatsapp.text(whatsappHook, { waId: '15550008101', name: 'Deep' }, 'hi')).text());
    body.entry[0].changes[0].value.contacts[0].profile.x = '__DEEP__';
    const res = await signedMeta(whatsappHook, JSON.stringify(body).replace('"__DEEP__"', nested(10_000)));
    expect(res.status).toBeLessThan(500);
  });
});

describe("a channel time beyond Date's range is dropped (toReceived used to throw RangeError: 500)", () => {
  it('a signed Telegram update with message.date 1e14 (seconds) is stored', async () => {
    expect((await telegramUpdate(700_101, { from: '{"id":8102,"is_bot":false,"first_name":"Late"}', date: 100_000_000_000_000 })).status).toBe(200);
  });

  it('a signed WhatsApp message with timestamp "8640000000001" (seconds) is stored', async () => {
    const body = JSON.parse(await (await meta.whatsapp.text(whatsappHook, { waId: '15550008103' }, 'hi')).text());
    body.entry[0].changes[0].value.messages[0].timestamp = '8640000000001';
    expect((await signedMeta(whatsappHook, JSON.stringify(body))).status).toBe(200);
  });
});

describe('media the channel no longer has (GET /media used to answer 500)', () => {
  let mediaUrl: string;

  beforeAll(async () => {
    // A WhatsApp image whose media id the Graph API does not know (deleted, or older than its 30 days).
    const body = JSON.parse(await (await meta.whatsapp.media(whatsappHook, { waId: '15550008102' }, 'image')).text());
    body.entry[0].changes[0].value.messages[0].image.id = '999999999';
    expect((await signedMeta(whatsappHook, JSON.stringify(body))).status).toBe(200);
    const client = await clientOf('15550008102');
    const list = await call('GET', `/v2/apps/${app.appId}/conversations/${client!.conversation_id}/messages`, app.auth);
    mediaUrl = list.body.messages.find((m: { content: { type: string } }) => m.content.type === 'image').content.mediaUrl;
    expect(mediaUrl).toMatch(/^http:\/\/parley\.test\/media\//);
  });

  it('answers 502 bad_gateway with the v2 error body', async () => {
    expectError(await raw('GET', new URL(mediaUrl).pathname), 502, 'bad_gateway');
  });
});


describe('a media type named after an Object.prototype member is not mistaken for a media kind', () => {
  it('a signed WhatsApp message whose type is "constructor" is answered below 500', async () => {
    const body = JSON.parse(await (await meta.whatsapp.text(whatsappHook, { waId: '15550008201' }, 'hi')).text());
    body.entry[0].changes[0].value.messages[0].type = 'constructor';
    expect((await signedMeta(whatsappHook, JSON.stringify(body))).status).toBeLessThan(500);
  });

  it('a signed Messenger message whose attachment type is "toString" is answered below 500', async () => {
    const body = JSON.parse(await (await meta.messenger.attachment(messengerHook, '26000000000001', 'image')).text());
    body.entry[0].messaging[0].message.attachments[0].type = 'toString';
    expect((await signedMeta(messengerHook, JSON.stringify(body))).status).toBeLessThan(500);
  });
});
