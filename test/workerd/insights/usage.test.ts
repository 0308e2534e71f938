/**
 * Usage per month equals what the test seeded, counted once however often an
 * op is redelivered; media uploads count their bytes; deleting a message does
 * not uncount it (it happened); integration keys never read usage; the
 * account-wide route lists every app; a bad month is refused naming it.
 */
import { describe, expect, it } from 'vitest';
import { SELF } from 'cloudflare:test';
import { asAccount, call, newApp } from '../helpers';
import { newId } from '../../../src/ids';
import type { IndexOp } from '../../../src/schema/index-ops';
import { apply, integrationAuth, messageOp, testEnv, waitIndexed, type Seeded } from './seed';
import { prng } from './expected';
import prices from '../../../scripts/bench/prices.json';

function mix(appId: string, month: string, n: number) {
  const random = prng(7);
  const seeded: Seeded[] = [];
  const ops: IndexOp[] = [];
  for (let i = 0; i < n; i++) {
    const user = random() < 0.55;
    const day = String(1 + Math.floor(random() * 28)).padStart(2, '0');
    const { op, seeded: s } = messageOp(appId, {
      conversationId: `c${i % 3}`.padEnd(24, '0'),
      received: `${month}-${day}T${String(Math.floor(random() * 24)).padStart(2, '0')}:00:00.000Z`,
      authorType: user ? 'user' : 'business',
      userId: user ? `user-${Math.floor(random() * 7)}` : null,
      channel: ['whatsapp', 'telegram', 'web'][Math.floor(random() * 3)]!,
      text: `usage ${i}`,
    });
    seeded.push(s);
    ops.push(op);
  }
  return { seeded, ops };
}

function expectedUsage(seeded: Seeded[]) {
  const byChannel: Record<string, { inbound: number; outbound: number }> = {};
  for (const m of seeded) (byChannel[m.channel] ??= { inbound: 0, outbound: 0 })[m.authorType === 'user' ? 'inbound' : 'outbound']++;
  return {
    monthlyActiveUsers: new Set(seeded.filter((m) => m.authorType === 'user').map((m) => m.userId)).size,
    messages: {
      inbound: seeded.filter((m) => m.authorType === 'user').length,
      outbound: seeded.filter((m) => m.authorType !== 'user').length,
      byChannel,
    },
  };
}

describe('usage', () => {
  it('counts a month’s messages per channel, active users, deliveries, notifications and webhook attempts once each', async () => {
    const { appId, auth } = await newApp('usage mix');
    const { seeded, ops } = mix(appId, '2026-09', 90);
    // A message of the month before and after must not count.
    const outside = [
      messageOp(appId, { conversationId: 'c9'.padEnd(24, '0'), received: '2026-08-31T23:59:59.999Z', authorType: 'user', userId: 'early', channel: 'web', text: 'x' }).op,
      messageOp(appId, { conversationId: 'c9'.padEnd(24, '0'), received: '2026-10-01T00:00:00.000Z', authorType: 'user', userId: 'late', channel: 'web', text: 'y' }).op,
    ];
    await apply([...ops, ...outside]);
    await apply(ops); // the whole feed redelivered
    await apply(ops.slice(10, 20));
    const outcomes: IndexOp[] = ['sent', 'sent', 'failed'].map((outcome, i) => ({
      op: 'delivery.outcome',
      appId,
      conversationId: 'c0'.padEnd(24, '0'),
      messageId: seeded[i]!.id,
      clientId: 'client',
      channel: 'telegram',
      outcome: outcome as 'sent' | 'failed',
      at: '2026-09-10T10:00:00.000Z',
    }));
    await apply(outcomes);
    await apply(outcomes);
    for (const [outcome, at] of [['delivered', '2026-09-02T00:00:00.000Z'], ['failed', '2026-09-30T23:00:00.000Z'], ['dead', '2026-10-01T00:00:00.000Z']]) {
      await testEnv.DB.prepare(
        `INSERT INTO webhook_attempts (id, app_id, webhook_id, conversation_id, delivery_id, event_ids, attempt, outcome, response_code, latency_ms, error, created_at) VALUES (?, ?, 'w1', NULL, 'd', '[]', 1, ?, NULL, 5, NULL, ?)`,
      )
        .bind(newId(), appId, outcome, at)
        .run();
    }
    for (const at of ['2026-09-05T00:00:00.000Z', '2026-09-06T00:00:00.000Z']) {
      await testEnv.DB.prepare(`INSERT INTO notifications (id, app_id, idempotency_key, integration_id, destination_id, conversation_id, user_id, created_at) VALUES (?, ?, NULL, 'i', 'd', 'c', 'u', ?)`)
        .bind(newId(), appId, at)
        .run();
    }
    // Deleting a message afterwards does not uncount it: usage records what happened.
    await apply([{ op: 'message.delete', appId, conversationId: seeded[5]!.conversationId, messageId: seeded[5]!.id }]);

    const res = await call('GET', `/v2/apps/${appId}/usage?month=2026-09`, auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const u = res.body.usage;
    const e = expectedUsage(seeded);
    expect(u.appId).toBe(appId);
    expect(u.month).toBe('2026-09');
    expect(u.monthlyActiveUsers).toBe(e.monthlyActiveUsers);
    expect(u.messages).toEqual(e.messages);
    expect(u.deliveries).toEqual({ sent: 2, failed: 1, byChannel: { telegram: { sent: 2, failed: 1 } } });
    expect(u.notifications).toBe(2);
    expect(u.webhookAttempts).toEqual({ total: 2, delivered: 1, failed: 1 });
    expect(u.media).toEqual({ objects: 0, bytes: 0 });
    // The cost is the counted events times the documented units times prices.json.
    const cost = u.estimatedCost;
    expect(cost.currency).toBe(prices.currency);
    expect(cost.pricesChecked).toBe(prices.checked);
    const perMessage = Object.entries(cost.model.message.units as Record<string, number>).reduce((s, [k, n]) => s + n * (prices.prices as any)[k].usdPerMillion, 0) / 1e6;
    expect(cost.byEvent.message).toBeCloseTo(seeded.length * perMessage, 6);
    expect(cost.total).toBeGreaterThan(0);

    // The next month has the late message only.
    const october = (await call('GET', `/v2/apps/${appId}/usage?month=2026-10`, auth)).body.usage;
    expect(october.monthlyActiveUsers).toBe(1);
    expect(october.messages.inbound).toBe(1);
    expect(october.webhookAttempts.total).toBe(1);

    // The account sees every app, this one with the same figures.
    const all = await call('GET', '/v2/usage?month=2026-09', asAccount);
    expect(all.status).toBe(200);
    const mine = all.body.usage.apps.find((a: { appId: string }) => a.appId === appId);
    expect(mine).toEqual(u);
    expect(all.body.usage.messages.inbound).toBeGreaterThanOrEqual(e.messages.inbound);
  });

  it('counts the bytes of uploaded media as they are stored', async () => {
    const { appId, auth } = await newApp('usage media');
    const upload = async (bytes: number) => {
      const form = new FormData();
      form.append('source', new File([new Uint8Array(bytes).fill(7)], 'f.png', { type: 'image/png' }));
      const res = await SELF.fetch(`http://parley.test/v2/apps/${appId}/attachments?access=public`, { method: 'POST', headers: { authorization: auth }, body: form });
      expect(res.status, await res.clone().text()).toBe(201);
    };
    await upload(1000);
    await upload(2345);
    const month = new Date().toISOString().slice(0, 7);
    const u = (await call('GET', `/v2/apps/${appId}/usage?month=${month}`, auth)).body.usage;
    expect(u.media).toEqual({ objects: 2, bytes: 3345 });
    // Without month: this month.
    expect((await call('GET', `/v2/apps/${appId}/usage`, auth)).body.usage.media.bytes).toBe(3345);
  });

  it('end to end: messages sent through the API are counted within the feed’s delay', async () => {
    const { appId, auth } = await newApp('usage e2e');
    const user = (await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'e2e' })).body.user.id;
    const conv = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: [{ userId: user }] });
    for (const author of [{ type: 'user', userId: user }, { type: 'business' }, { type: 'user', userId: user }]) {
      await call('POST', `/v2/apps/${appId}/conversations/${conv.body.conversation.id}/messages`, auth, { author, content: { type: 'text', text: 'hi' } });
    }
    await waitIndexed(appId, 3);
    const u = (await call('GET', `/v2/apps/${appId}/usage`, auth)).body.usage;
    expect(u.monthlyActiveUsers).toBe(1);
    expect(u.messages.inbound).toBe(2);
    expect(u.messages.outbound).toBe(1);
  });

  it('is refused to integration keys and other apps, /v2/usage to all but the account key, and a bad month naming it', async () => {
    const { appId, auth } = await newApp('usage walls');
    const other = await newApp('usage other');
    const intAuth = await integrationAuth(appId, auth);
    expect((await call('GET', `/v2/apps/${appId}/usage`, intAuth)).status).toBe(403);
    expect((await call('GET', '/v2/usage', intAuth)).status).toBe(403);
    expect((await call('GET', '/v2/usage', auth)).status).toBe(403);
    expect((await call('GET', `/v2/apps/${appId}/usage`, other.auth)).status).toBe(403);
    expect((await call('GET', `/v2/apps/${appId}/usage`, asAccount)).status).toBe(200);
    for (const month of ['2026-13', '2026-1', 'december', '2026-12-01']) {
      for (const route of [`/v2/apps/${appId}/usage`, '/v2/usage']) {
        const res = await call('GET', `${route}?month=${month}`, route === '/v2/usage' ? asAccount : auth);
        expect(res.status, `${route} ${month}`).toBe(400);
        expect(res.body.errors[0].title).toMatch(/^month: /);
      }
    }
  });
});
