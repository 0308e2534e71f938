/**
 * Channel deliveries reach stats and usage through the real path: a Telegram
 * user writes in through the signed hook, the business answers through the
 * API, the deliveries consumer sends it to the fake Bot API, and the
 * deliveries consumer writes the send's delivery.outcome row to D1 once it is final.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { TelegramFake } from '../../fakes/telegram';
import { eventually, hook, routeFetch } from '../channels/harness';
import { testEnv } from './seed';

const API = 'https://telegram.test';
const fake = new TelegramFake({ webhookFetch: (request) => hook(request) });
let restore: () => void;

beforeAll(() => {
  const spy = routeFetch({ [API]: fake });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

it('a message sent to a Telegram user is counted as a delivery sent on telegram, once', async () => {
  const { appId, auth } = await newApp('insights deliveries');
  const integration = await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'telegram', token: fake.token, apiBaseUrl: API });
  expect(integration.status).toBe(201);
  const since = new Date(Date.now() - 3_600_000).toISOString();
  expect((await hook(fake.text(integration.body.integration.webhookUrl, { id: 8801, first_name: 'Ida' }, 'hello there'))).status).toBe(200);
  const conversationId = await eventually(async () => {
    const row = await testEnv.DB.prepare('SELECT conversation_id FROM message_index WHERE app_id = ?').bind(appId).first<{ conversation_id: string }>();
    if (!row) throw new Error('not indexed yet');
    return row.conversation_id;
  });
  const sent = await call('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, auth, { author: { type: 'business' }, content: { type: 'text', text: 'hi Ida' } });
  expect(sent.status).toBe(201);
  await eventually(() => {
    if (!fake.sent.get('8801')?.length) throw new Error('not sent yet');
  });
  const until = new Date(Date.now() + 3_600_000).toISOString();
  const usage = await eventually(async () => {
    const u = (await call('GET', `/v2/apps/${appId}/usage`, auth)).body.usage;
    if (u.deliveries.sent < 1) throw new Error('delivery not counted yet');
    return u;
  });
  expect(usage.deliveries).toEqual({ sent: 1, failed: 0, byChannel: { telegram: { sent: 1, failed: 0 } } });
  expect(usage.messages.byChannel.telegram).toEqual({ inbound: 1, outbound: 1 });
  expect(usage.monthlyActiveUsers).toBe(1);
  const stats = (await call('GET', `/v2/apps/${appId}/stats?since=${since}&until=${until}&interval=day`, auth)).body.stats;
  const total = stats.reduce((n: { sent: number; failed: number }, s: { deliveries: { sent: number; failed: number } }) => ({ sent: n.sent + s.deliveries.sent, failed: n.failed + s.deliveries.failed }), { sent: 0, failed: 0 });
  expect(total).toEqual({ sent: 1, failed: 0 });
  expect(stats.some((s: { firstResponseMs: { p50: number | null } }) => s.firstResponseMs.p50 !== null)).toBe(true);
});
