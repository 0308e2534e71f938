/**
 * The scale model's arithmetic (scripts/bench/scale.ts, printed by `npm run
 * bench:model`) on hand-made inputs: which resource saturates first and at
 * what rate, how the order moves with conversations, apps, queue shards and
 * D1 databases, and how a bench run's counted calls become a profile.
 */
import { describe, expect, it } from 'vitest';
import limitsFile from '../../scripts/bench/limits.json';
import {
  blend,
  bySaturation,
  hotCases,
  instancesNeeded,
  profileOf,
  resources,
  saturationRate,
  utilisation,
  type Deployment,
  type Limits,
  type Profile,
} from '../../scripts/bench/scale';

const limits: Limits = { doRequestsPerObject: 1000, queueMessagesPerQueue: 5000, d1QueriesPerDatabase: 1000, d1QueryMsAtLimit: 1 };
const profile = (over: Partial<Profile> = {}): Profile => ({
  source: 'hand-made',
  doRequests: { conversation: 3, user: 0, identity: 0, app: 0, global: 0 },
  queueMessages: { a: 1, b: 0.5 },
  d1Reads: 0.5,
  d1Writes: 1.5,
  cpuMs: 10,
  ...over,
});
const deployment = (over: Partial<Deployment> = {}): Deployment => ({ conversations: 10, users: 10, apps: 1, queueShards: 1, d1Shards: 1, d1QueryMs: 1, ...over });
const order = (p: Profile, d: Deployment) => bySaturation(resources(p, d, limits)).map((r) => [r.id, Math.round(saturationRate(r))]);

describe('scale model', () => {
  it('ranks resources by the message rate at which their busiest instance reaches its limit', () => {
    // D1: 1,000 queries/s ÷ 2 per message; 10 conversations × 1,000 req/s ÷ 3; queue a 5,000 ÷ 1; queue b 5,000 ÷ 0.5.
    expect(order(profile(), deployment())).toEqual([
      ['d1', 500],
      ['do:conversation', 3333],
      ['queue:a', 5000],
      ['queue:b', 10000],
    ]);
  });

  it('grows per-conversation capacity with conversations, and nothing else', () => {
    expect(order(profile(), deployment({ conversations: 1_000_000, users: 1_000_000 }))).toEqual([
      ['d1', 500],
      ['queue:a', 5000],
      ['queue:b', 10000],
      ['do:conversation', 333_333_333],
    ]);
  });

  it('puts an object per app on the path at 1,000 messages/s for one app, whatever the conversations', () => {
    const p = profile({ doRequests: { conversation: 3, user: 0, identity: 0, app: 1, global: 0 }, d1Reads: 0, d1Writes: 0 });
    expect(order(p, deployment({ conversations: 1_000_000, users: 1_000_000 }))[0]).toEqual(['do:app', 1000]);
    expect(order(p, deployment({ conversations: 1_000_000, users: 1_000_000, apps: 10 }))[0]).toEqual(['queue:a', 5000]);
    expect(hotCases(p, limits)).toEqual({ conversationByRequests: 1000 / 3, conversationByCpu: 100, perAppObject: 1000, globalObject: 1000 });
  });

  it('moves the database and queue ceilings with shards, and sizes the shards for half the limit', () => {
    const d1 = (d: Deployment) => resources(profile(), d, limits).find((r) => r.id === 'd1')!;
    expect(saturationRate(d1(deployment({ d1Shards: 10 })))).toBe(5000);
    // Slower queries lower one database's ceiling in proportion.
    expect(saturationRate(d1(deployment({ d1QueryMs: 2 })))).toBe(250);
    // 10,000 msg/s × 2 queries = 20,000 queries/s; half of 1,000 per database → 40 databases, each then at 50%.
    expect(instancesNeeded(d1(deployment()), 10_000, 0.5)).toBe(40);
    expect(utilisation(d1(deployment({ d1Shards: 40 })), 10_000)).toBe(0.5);
    const sharded = order(profile(), deployment({ d1Shards: 40, queueShards: 4 }));
    expect(sharded.map(([id]) => id)).toEqual(['do:conversation', 'queue:a', 'd1', 'queue:b']);
    expect(sharded[1]).toEqual(['queue:a', 20000]);
  });

  it("turns a bench result's counted calls into operations per message by object role and queue", () => {
    const { profile: p, unmapped } = profileOf('run', {
      messages: 100,
      perMessage: { doRequests: 5, d1Queries: 3, queueOperations: 6, workerdCpuMs: 12 },
      operations: {
        doCalls: { 'CONVERSATIONS.receive': 100, 'CONVERSATIONS.claimDefaultConversation': 100, 'CONVERSATIONS.settleWebhook': 100, 'MYSTERY.call': 50 },
        doAlarms: 150,
        queueMessages: { 'parley-index': 100, 'parley-webhooks': 200 },
        statements: { 'D1 SELECT * FROM clients': [10, 10, 0], 'D1 INSERT INTO message_index': [100, 0, 100], 'DO INSERT INTO messages': [100, 0, 300] },
      },
    });
    expect(p.doRequests).toEqual({ conversation: 1 + 1 + 0.5 + 1.5, user: 1, identity: 0, app: 0, global: 0 });
    expect(unmapped).toEqual(['MYSTERY.call']);
    expect(p.queueMessages).toEqual({ 'parley-index': 1, 'parley-webhooks': 2 });
    expect([p.d1Reads, p.d1Writes, p.cpuMs]).toEqual([0.1, 1, 12]);
    const mixed = blend(p, { ...p, d1Writes: 11, queueMessages: { other: 4 } }, 0.1);
    expect(mixed.d1Writes).toBeCloseTo(2);
    // A queue only one side uses counts as 0 on the other.
    expect(Object.keys(mixed.queueMessages).sort()).toEqual(['other', 'parley-index', 'parley-webhooks']);
    expect(mixed.queueMessages['parley-index']).toBeCloseTo(0.9);
    expect(mixed.queueMessages.other).toBeCloseTo(0.4);
  });

  it("reads Cloudflare's published figures from limits.json, each with its source", () => {
    expect(limitsFile.limits.doRequestsPerObject.value).toBe(1000);
    expect(limitsFile.limits.queueMessagesPerQueue.value).toBe(5000);
    expect(limitsFile.limits.d1QueriesPerDatabase.value).toBe(1000);
    for (const l of Object.values(limitsFile.limits)) expect(l.page).toMatch(/^https:\/\/developers\.cloudflare\.com\//);
  });
});
