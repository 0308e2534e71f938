/**
 * The insights figures computed independently of Parley's SQL: plain loops
 * over the messages a test seeded, for the stats and usage suites to compare.
 */
import type { Seeded } from './seed';

export type Interval = 'hour' | 'day';
export const bucketOf = (iso: string, interval: Interval) => (interval === 'hour' ? `${iso.slice(0, 13)}:00:00.000Z` : `${iso.slice(0, 10)}T00:00:00.000Z`);

export interface ExpectedBucket {
  inbound: number;
  outbound: number;
  byChannel: Record<string, { inbound: number; outbound: number }>;
  activeConversations: number;
  activeUsers: number;
  firstResponse: number[];
}

const nearestRank = (sorted: number[], p: number) => (sorted.length ? sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]! : null);

export function expectedStats(messages: Seeded[], interval: Interval) {
  const out = new Map<string, ExpectedBucket & { conversations: Set<string>; users: Set<string> }>();
  const bucket = (iso: string) => {
    const key = bucketOf(iso, interval);
    let b = out.get(key);
    if (!b) out.set(key, (b = { inbound: 0, outbound: 0, byChannel: {}, activeConversations: 0, activeUsers: 0, firstResponse: [], conversations: new Set(), users: new Set() }));
    return b;
  };
  for (const m of messages) {
    const b = bucket(m.received);
    const dir = m.authorType === 'user' ? 'inbound' : 'outbound';
    b[dir]++;
    (b.byChannel[m.channel] ??= { inbound: 0, outbound: 0 })[dir]++;
    b.conversations.add(m.conversationId);
    if (m.authorType === 'user' && m.userId) b.users.add(m.userId);
  }
  // First response: per conversation in seq order, the first user message of each run, answered by the next business message.
  const byConversation = new Map<string, Seeded[]>();
  for (const m of messages) byConversation.set(m.conversationId, [...(byConversation.get(m.conversationId) ?? []), m]);
  for (const list of byConversation.values()) {
    list.sort((a, b) => a.seq - b.seq);
    let asked: Seeded | undefined;
    for (const m of list) {
      if (m.authorType === 'user') asked ??= m;
      else if (asked) {
        bucket(asked.received).firstResponse.push(Date.parse(m.received) - Date.parse(asked.received));
        asked = undefined;
      }
    }
  }
  return new Map(
    [...out].map(([k, b]) => {
      const sorted = [...b.firstResponse].sort((x, y) => x - y);
      return [k, { ...b, activeConversations: b.conversations.size, activeUsers: b.users.size, p50: nearestRank(sorted, 0.5), p90: nearestRank(sorted, 0.9) }];
    }),
  );
}

/** A small deterministic generator, so a failing mix can be replayed. */
export function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
