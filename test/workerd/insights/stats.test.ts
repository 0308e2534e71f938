/**
 * Stats per hour and day equal the figures computed independently from the
 * same seeded messages, deliveries and webhook attempts; redelivered index
 * ops change nothing; one end-to-end case goes through the real API and
 * queues; bad parameters are refused naming each.
 */
import { describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { newId } from '../../../src/ids';
import type { IndexOp } from '../../../src/schema/index-ops';
import { apply, integrationAuth, messageOp, testEnv, waitIndexed, type Seeded } from './seed';
import { bucketOf, expectedStats, prng } from './expected';

const CHANNELS = ['whatsapp', 'messenger', 'web'];
const DAY0 = '2026-10-14T00:00:00.000Z';

/** A known mix over two days: 4 conversations, 5 users, 3 channels, user runs answered (or not) by the business. */
function seedMix(appId: string, n: number) {
  const random = prng(15);
  const conversations = Array.from({ length: 4 }, () => newId());
  const times = Array.from({ length: n }, () => Date.parse(DAY0) + Math.floor(random() * 2 * 86_400_000)).sort((a, b) => a - b);
  const seeded: Seeded[] = [];
  const ops: IndexOp[] = [];
  times.forEach((t, i) => {
    const c = Math.floor(random() * conversations.length);
    const user = random() < 0.6;
    const { op, seeded: s } = messageOp(appId, {
      conversationId: conversations[c]!,
      received: new Date(t).toISOString(),
      authorType: user ? 'user' : 'business',
      userId: user ? `user-${(c + Math.floor(random() * 2)) % 5}` : null,
      channel: CHANNELS[(c + i) % 3]!,
      text: `message ${i}`,
    });
    seeded.push(s);
    ops.push(op);
  });
  return { seeded, ops, conversations };
}

describe('stats', () => {
  it('equal the figures computed from the same messages, by day and by hour, and redelivery changes nothing', async () => {
    const { appId, auth } = await newApp('stats mix');
    const { seeded, ops, conversations } = seedMix(appId, 120);
    await apply(ops);
    await apply(ops.slice(0, 60)); // a redelivered feed
    const outcomes: IndexOp[] = [];
    for (let i = 0; i < 9; i++) {
      outcomes.push({
        op: 'delivery.outcome',
        appId,
        conversationId: conversations[i % 4]!,
        messageId: newId(),
        clientId: `client-${i}`,
        channel: i % 3 ? 'whatsapp' : 'messenger',
        outcome: i % 4 === 3 ? 'failed' : 'sent',
        at: new Date(Date.parse(DAY0) + i * 5 * 3_600_000).toISOString(),
      });
    }
    await apply(outcomes);
    await apply(outcomes); // redelivered: keyed, counted once
    const attempts = [
      ['delivered', '2026-10-14T01:10:00.000Z'],
      ['delivered', '2026-10-14T01:20:00.000Z'],
      ['failed', '2026-10-14T02:00:00.000Z'],
      ['dead', '2026-10-15T03:00:00.000Z'],
      ['delivered', '2026-10-15T23:59:59.999Z'],
    ] as const;
    for (const [outcome, at] of attempts) {
      await testEnv.DB.prepare(
        `INSERT INTO webhook_attempts (id, app_id, webhook_id, conversation_id, delivery_id, event_ids, attempt, outcome, response_code, latency_ms, error, created_at) VALUES (?, ?, 'w1', NULL, 'd', '[]', 1, ?, NULL, 5, NULL, ?)`,
      )
        .bind(newId(), appId, outcome, at)
        .run();
    }
    for (const [event, at] of [['e1', '2026-10-15T03:00:00.000Z'], ['e2', '2026-10-15T03:00:00.000Z']]) {
      await testEnv.DB.prepare(`INSERT INTO webhook_dead_letters (event_id, webhook_id, app_id, conversation_id, event, reason, created_at) VALUES (?, 'w1', ?, NULL, '{}', 'gone', ?)`)
        .bind(event, appId, at)
        .run();
    }

    for (const interval of ['day', 'hour'] as const) {
      const res = await call('GET', `/v2/apps/${appId}/stats?since=${DAY0}&until=2026-10-16T00:00:00Z&interval=${interval}`, auth);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const stats = res.body.stats as any[];
      expect(stats).toHaveLength(interval === 'day' ? 2 : 48);
      const expected = expectedStats(seeded, interval);
      for (const s of stats) {
        const e = expected.get(s.start);
        expect(s.messages, s.start).toEqual({ inbound: e?.inbound ?? 0, outbound: e?.outbound ?? 0, byChannel: e?.byChannel ?? {} });
        expect(s.conversations.active, s.start).toBe(e?.activeConversations ?? 0);
        expect(s.users.active, s.start).toBe(e?.activeUsers ?? 0);
        expect(s.firstResponseMs, s.start).toEqual({ p50: e?.p50 ?? null, p90: e?.p90 ?? null });
        const inBucket = outcomes.filter((o) => o.op === 'delivery.outcome' && bucketOf(o.at, interval) === s.start) as Extract<IndexOp, { op: 'delivery.outcome' }>[];
        expect(s.deliveries, s.start).toEqual({ sent: inBucket.filter((o) => o.outcome === 'sent').length, failed: inBucket.filter((o) => o.outcome === 'failed').length });
        const hooks = attempts.filter(([, at]) => bucketOf(at, interval) === s.start);
        expect(s.webhooks, s.start).toEqual({
          delivered: hooks.filter(([o]) => o === 'delivered').length,
          failed: hooks.filter(([o]) => o !== 'delivered').length,
          deadLettered: bucketOf('2026-10-15T03:00:00.000Z', interval) === s.start ? 2 : 0,
        });
      }
      expect(stats.reduce((n, s) => n + s.messages.inbound + s.messages.outbound, 0)).toBe(seeded.length);
      expect(stats.some((s) => s.firstResponseMs.p50 !== null)).toBe(true);
    }
    // Deleting a message takes it out of the stats (they read the index); a cleared conversation too.
    const gone = seeded[0]!;
    await apply([{ op: 'message.delete', appId, conversationId: gone.conversationId, messageId: gone.id }]);
    const after = await call('GET', `/v2/apps/${appId}/stats?since=${DAY0}&until=2026-10-16T00:00:00Z`, auth);
    expect(after.body.stats.reduce((n: number, s: any) => n + s.messages.inbound + s.messages.outbound, 0)).toBe(seeded.length - 1);
  });

  it('end to end: messages posted through the API, users and conversations created, as the listing shows them', async () => {
    const { appId, auth } = await newApp('stats e2e');
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const users = [];
    for (const name of ['ana', 'bo']) users.push((await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: name })).body.user.id as string);
    const conv = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: users.map((userId) => ({ userId })) });
    const conversationId = conv.body.conversation.id as string;
    const authors = [users[0], users[0], null, users[1], null, null, users[1], users[0], null];
    for (const [i, userId] of authors.entries()) {
      const res = await call('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, auth, {
        author: userId ? { type: 'user', userId } : { type: 'business' },
        content: { type: 'text', text: `e2e ${i}` },
      });
      expect(res.status).toBe(201);
    }
    await waitIndexed(appId, authors.length);
    const listed = (await call('GET', `/v2/apps/${appId}/conversations/${conversationId}/messages?page[size]=100`, auth)).body.messages as any[];
    const seeded: Seeded[] = listed.map((m) => ({
      id: m.id,
      conversationId,
      seq: m.seq,
      received: m.received,
      authorType: m.author.type,
      userId: m.author.userId ?? null,
      channel: m.source.type,
      text: m.content.text,
    }));
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const res = await call('GET', `/v2/apps/${appId}/stats?since=${since}&until=${until}&interval=hour`, auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const expected = expectedStats(seeded, 'hour');
    let created = 0;
    for (const s of res.body.stats) {
      const e = expected.get(s.start);
      expect(s.messages).toEqual({ inbound: e?.inbound ?? 0, outbound: e?.outbound ?? 0, byChannel: e?.byChannel ?? {} });
      expect(s.users.active).toBe(e?.activeUsers ?? 0);
      expect(s.firstResponseMs).toEqual({ p50: e?.p50 ?? null, p90: e?.p90 ?? null });
      created += s.users.created;
      expect(s.conversations.created).toBe(s.start === bucketOf(conv.body.conversation.createdAt ?? new Date().toISOString(), 'hour') ? 1 : 0);
    }
    expect(created).toBe(2);
    // An integration key reads its app's stats.
    const intAuth = await integrationAuth(appId, auth);
    expect((await call('GET', `/v2/apps/${appId}/stats?since=${since}&until=${until}&interval=hour`, intAuth)).status).toBe(200);
  });

  it('refuses bad parameters naming each, and other apps’ keys', async () => {
    const { appId, auth } = await newApp('stats refusals');
    const other = await newApp('stats other');
    const bad: [string, RegExp][] = [
      ['since=last-week', /^since: /],
      ['until=2026-13-01T00:00:00Z', /^until: /],
      ['since=2026-10-02T00:00:00Z&until=2026-10-01T00:00:00Z', /^until: /],
      ['interval=week', /^interval: /],
      ['since=2026-01-01T00:00:00Z&until=2026-02-02T00:00:00Z&interval=hour', /^since: .*31 days/],
      ['since=2025-01-01T00:00:00Z&until=2026-02-02T00:00:00Z&interval=day', /^since: .*366/],
    ];
    for (const [query, title] of bad) {
      const res = await call('GET', `/v2/apps/${appId}/stats?${query}`, auth);
      expect(res.status, query).toBe(400);
      expect(res.body.errors[0].title, query).toMatch(title);
    }
    expect((await call('GET', `/v2/apps/${appId}/stats`, other.auth)).status).toBe(403);
    const ok = await call('GET', `/v2/apps/${appId}/stats`, auth);
    expect(ok.status).toBe(200);
    expect(ok.body.stats.length).toBeGreaterThanOrEqual(7);
  });
});
