/**
 * An app's activity per hour or day, read from what the consumers already
 * wrote, never from the message path: the message index (messages in and out
 * by channel, active conversations and users, first response times),
 * conversations and users (created), the usage counters (channel deliveries,
 * counted as their outcome ops reach D1), and the webhook delivery log and
 * dead letters. All queries go to D1 in one batch.
 */
import { STATS_INTERVALS, type StatsInterval } from '../schema/insights';

export interface StatsBucket {
  start: string;
  messages: { inbound: number; outbound: number; byChannel: Record<string, { inbound: number; outbound: number }> };
  conversations: { created: number; active: number };
  users: { created: number; active: number };
  deliveries: { sent: number; failed: number };
  webhooks: { delivered: number; failed: number; deadLettered: number };
  firstResponseMs: { p50: number | null; p90: number | null };
}

/** The bucket a time falls in, as the index's ISO strings start: '2026-12-06T21' (hour) or '2026-12-06' (day). */
export const bucketKey = (iso: string, interval: StatsInterval) => iso.slice(0, STATS_INTERVALS[interval].prefix);
const STEP_MS = { hour: 3_600_000, day: 86_400_000 };

/** The bucket starts covering [since, until): since rounded down, until rounded up to the interval. */
export function bucketStarts(since: string, until: string, interval: StatsInterval): string[] {
  const step = STEP_MS[interval];
  const first = Math.floor(Date.parse(since) / step) * step;
  const end = Math.ceil(Date.parse(until) / step) * step;
  const starts: string[] = [];
  for (let t = first; t < end; t += step) starts.push(new Date(t).toISOString());
  return starts;
}

/** Nearest-rank percentile of sorted values; null when there are none. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

type Row = Record<string, unknown> & { b: string };

export async function appStats(db: D1Database, appId: string, starts: string[], interval: StatsInterval): Promise<StatsBucket[]> {
  const since = starts[0]!;
  const until = new Date(Date.parse(starts[starts.length - 1]!) + STEP_MS[interval]).toISOString();
  const len = STATS_INTERVALS[interval].prefix;
  const range = [appId, since, until, len] as const;
  const q = (sql: string) => db.prepare(sql).bind(...range);
  const [messages, active, conversations, users, deliveries, webhooks, dead, responses] = await db.batch<Row>([
    q(`SELECT substr(received, 1, ?4) AS b, author_type AS a, coalesce(integration_type, json_extract(body, '$.source.type'), 'unknown') AS ch, count(*) AS n
       FROM message_index WHERE app_id = ?1 AND received >= ?2 AND received < ?3 GROUP BY b, a, ch`),
    q(`SELECT substr(received, 1, ?4) AS b, count(DISTINCT conversation_id) AS conversations,
              count(DISTINCT CASE WHEN author_type = 'user' THEN author_user_id END) AS users
       FROM message_index WHERE app_id = ?1 AND received >= ?2 AND received < ?3 GROUP BY b`),
    q(`SELECT substr(created_at, 1, ?4) AS b, count(*) AS n FROM conversations WHERE app_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY b`),
    q(`SELECT substr(created_at, 1, ?4) AS b, count(*) AS n FROM users WHERE app_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY b`),
    q(`SELECT substr(hour, 1, ?4) AS b, metric, sum(count) AS n FROM usage_counters
       WHERE app_id = ?1 AND hour >= substr(?2, 1, 13) AND hour < substr(?3, 1, 13) AND metric IN ('deliveries.sent', 'deliveries.failed') GROUP BY b, metric`),
    q(`SELECT substr(created_at, 1, ?4) AS b, outcome, count(*) AS n FROM webhook_attempts WHERE app_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY b, outcome`),
    q(`SELECT substr(created_at, 1, ?4) AS b, count(*) AS n FROM webhook_dead_letters WHERE app_id = ?1 AND created_at >= ?2 AND created_at < ?3 GROUP BY b`),
    // A run of user messages (the first user message after a business one, or the first in range) and the business message that answered it.
    q(`WITH runs AS (
         SELECT conversation_id, seq, received, author_type, lag(author_type) OVER (PARTITION BY conversation_id ORDER BY seq) AS prev
         FROM message_index WHERE app_id = ?1 AND received >= ?2 AND received < ?3
       )
       SELECT substr(r.received, 1, ?4) AS b, r.received AS asked,
              (SELECT n.received FROM message_index n WHERE n.conversation_id = r.conversation_id AND n.seq > r.seq AND n.author_type = 'business' ORDER BY n.seq LIMIT 1) AS answered
       FROM runs r WHERE r.author_type = 'user' AND (r.prev IS NULL OR r.prev <> 'user')`),
  ]);

  const buckets = new Map(starts.map((start) => [bucketKey(start, interval), emptyBucket(start)]));
  const at = (b: string) => buckets.get(b);
  for (const r of messages!.results) {
    const bucket = at(r.b);
    if (!bucket) continue;
    const dir = r.a === 'user' ? 'inbound' : 'outbound';
    const n = Number(r.n);
    bucket.messages[dir] += n;
    const ch = (bucket.messages.byChannel[String(r.ch)] ??= { inbound: 0, outbound: 0 });
    ch[dir] += n;
  }
  for (const r of active!.results) {
    const bucket = at(r.b);
    if (bucket) Object.assign(bucket, { conversations: { ...bucket.conversations, active: Number(r.conversations) }, users: { ...bucket.users, active: Number(r.users) } });
  }
  for (const r of conversations!.results) if (at(r.b)) at(r.b)!.conversations.created = Number(r.n);
  for (const r of users!.results) if (at(r.b)) at(r.b)!.users.created = Number(r.n);
  for (const r of deliveries!.results) {
    const bucket = at(r.b);
    if (bucket) bucket.deliveries[r.metric === 'deliveries.sent' ? 'sent' : 'failed'] += Number(r.n);
  }
  for (const r of webhooks!.results) {
    const bucket = at(r.b);
    if (bucket) bucket.webhooks[r.outcome === 'delivered' ? 'delivered' : 'failed'] += Number(r.n);
  }
  for (const r of dead!.results) if (at(r.b)) at(r.b)!.webhooks.deadLettered = Number(r.n);
  const samples = new Map<string, number[]>();
  for (const r of responses!.results) {
    if (typeof r.answered !== 'string') continue;
    const ms = Date.parse(r.answered) - Date.parse(String(r.asked));
    const list = samples.get(r.b) ?? [];
    list.push(ms);
    samples.set(r.b, list);
  }
  for (const [b, values] of samples) {
    const bucket = at(b);
    if (!bucket) continue;
    values.sort((x, y) => x - y);
    bucket.firstResponseMs = { p50: percentile(values, 0.5), p90: percentile(values, 0.9) };
  }
  return [...buckets.values()];
}

function emptyBucket(start: string): StatsBucket {
  return {
    start,
    messages: { inbound: 0, outbound: 0, byChannel: {} },
    conversations: { created: 0, active: 0 },
    users: { created: 0, active: 0 },
    deliveries: { sent: 0, failed: 0 },
    webhooks: { delivered: 0, failed: 0, deadLettered: 0 },
    firstResponseMs: { p50: null, p90: null },
  };
}
