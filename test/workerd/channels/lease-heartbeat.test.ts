/**
 * The deliveries consumer keeps a delivery's lease while a send runs: a send
 * slower than the lease (a large media upload) renews it every quarter lease
 * through the conversation's object, so no second consumer takes the delivery
 * and sends it again. Driven through the consumer's own `attempt`, against
 * the Telegram fake with its send held open.
 */
import { env } from 'cloudflare:test';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import type { DeliveryClaim } from '../../../durable/channel-ledger';
import { attempt, channelRetryPolicy } from '../../../src/delivery/channel-consumer';
import { call, newApp } from '../helpers';
import { TelegramFake } from '../../fakes/telegram';
import { routeFetch } from './harness';

const API = 'https://telegram-lease.test';
const fake = new TelegramFake();
let release: () => void = () => undefined;
let arrived: () => void = () => undefined;
const sendArrived = new Promise<void>((resolve) => (arrived = resolve));
const held = new Promise<void>((resolve) => (release = resolve));
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integrationId = '';

beforeAll(async () => {
  const spy = routeFetch({
    [API]: {
      async fetch(request) {
        // The send takes as long as the test says: the lease would lapse several times over meanwhile.
        if (new URL(request.url).pathname.endsWith('/sendMessage')) {
          arrived();
          await held;
        }
        return fake.fetch(request);
      },
    },
  });
  restore = () => spy.mockRestore();
  app = await newApp('lease heartbeat');
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: fake.token, apiBaseUrl: API });
  expect(res.status).toBe(201);
  integrationId = res.body.integration.id;
});
afterAll(() => restore());
afterEach(() => vi.useRealTimers());

it('renews the lease every quarter lease while a slow send runs, and reports the send once it ends', async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  const claim: DeliveryClaim = {
    deliveryId: 1,
    leaseId: 'lease-1',
    messageId: '0123456789abcdef01234567',
    payload: JSON.stringify({ content: { type: 'text', text: 'Your order shipped' } }),
    partsDone: 0,
    partSent: 0,
    externalIds: [],
    attempts: 0,
    firstAttemptAt: Date.now(),
    client: { id: 'c'.repeat(24), integrationId, type: 'telegram', externalId: '7001', userId: 'u'.repeat(24), raw: null, lastInboundAt: null },
  };
  const renewals: number[] = [];
  let clock = 5_000_000;
  const report = attempt(env, channelRetryPolicy(env), app.appId, 'f'.repeat(24), claim, async (until) => (renewals.push(until), true), () => clock);
  await sendArrived;
  // Six minutes of a send held open: three times the 120 s lease.
  for (let beat = 0; beat < 12; beat++) {
    clock += 30_000;
    await vi.advanceTimersByTimeAsync(30_000);
  }
  expect(renewals).toEqual(Array.from({ length: 12 }, (_, i) => 5_000_000 + (i + 1) * 30_000 + 120_000));
  release();
  const done = await report;
  expect(done.ok).toBe(true);
  expect(fake.sent.get('7001')?.map((m) => m.text)).toEqual(['Your order shipped']);
  // Renewals stop with the send.
  await vi.advanceTimersByTimeAsync(120_000);
  expect(renewals).toHaveLength(12);
});
