/**
 * A month's usage per app, read from the counters migration 0013's triggers
 * keep as events reach D1 (messages by channel, channel deliveries, media put
 * into R2, monthly active users) and from the rows Parley already writes once
 * per event (notifications, the webhook delivery log). Months are UTC.
 */
import { estimateCost, type CostEstimate } from './insights-cost';

export interface Usage {
  appId: string;
  month: string;
  monthlyActiveUsers: number;
  messages: { inbound: number; outbound: number; byChannel: Record<string, { inbound: number; outbound: number }> };
  deliveries: { sent: number; failed: number; byChannel: Record<string, { sent: number; failed: number }> };
  notifications: number;
  webhookAttempts: { total: number; delivered: number; failed: number };
  media: { objects: number; bytes: number };
  estimatedCost: CostEstimate;
}

/** '2026-12' → '2027-01': the exclusive end of the month, comparable with ISO strings and hour keys. */
export function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

type Row = { app_id: string } & Record<string, unknown>;

/** Usage of one app, or of every app that still exists (`appId` undefined), for `month` ('YYYY-MM'). */
export async function monthUsage(db: D1Database, month: string, appId?: string): Promise<Usage[]> {
  const end = nextMonth(month);
  const scope = appId === undefined ? 'app_id IN (SELECT id FROM apps)' : 'app_id = ?3';
  const q = (sql: string) => db.prepare(sql).bind(month, end, ...(appId === undefined ? [] : [appId]));
  const [counters, mau, notifications, attempts] = await db.batch<Row>([
    q(`SELECT app_id, metric, channel, sum(count) AS n FROM usage_counters WHERE ${scope} AND hour >= ?1 AND hour < ?2 GROUP BY app_id, metric, channel`),
    q(`SELECT app_id, count(*) AS n FROM usage_active_users WHERE ${scope} AND month >= ?1 AND month < ?2 GROUP BY app_id`),
    q(`SELECT app_id, count(*) AS n FROM notifications WHERE ${scope} AND created_at >= ?1 AND created_at < ?2 GROUP BY app_id`),
    q(`SELECT app_id, outcome, count(*) AS n FROM webhook_attempts WHERE ${scope} AND created_at >= ?1 AND created_at < ?2 GROUP BY app_id, outcome`),
  ]);
  const apps = new Map<string, Omit<Usage, 'estimatedCost'>>();
  const of = (id: string) => {
    let u = apps.get(id);
    if (!u) {
      u = {
        appId: id,
        month,
        monthlyActiveUsers: 0,
        messages: { inbound: 0, outbound: 0, byChannel: {} },
        deliveries: { sent: 0, failed: 0, byChannel: {} },
        notifications: 0,
        webhookAttempts: { total: 0, delivered: 0, failed: 0 },
        media: { objects: 0, bytes: 0 },
      };
      apps.set(id, u);
    }
    return u;
  };
  if (appId !== undefined) of(appId);
  for (const r of counters!.results) {
    const u = of(r.app_id);
    const n = Number(r.n);
    const channel = String(r.channel);
    switch (r.metric) {
      case 'messages.inbound':
      case 'messages.outbound': {
        const dir = r.metric === 'messages.inbound' ? 'inbound' : 'outbound';
        u.messages[dir] += n;
        (u.messages.byChannel[channel] ??= { inbound: 0, outbound: 0 })[dir] += n;
        break;
      }
      case 'deliveries.sent':
      case 'deliveries.failed': {
        const outcome = r.metric === 'deliveries.sent' ? 'sent' : 'failed';
        u.deliveries[outcome] += n;
        (u.deliveries.byChannel[channel] ??= { sent: 0, failed: 0 })[outcome] += n;
        break;
      }
      case 'media.bytes':
        u.media.bytes += n;
        break;
      case 'media.objects':
        u.media.objects += n;
        break;
    }
  }
  for (const r of mau!.results) of(r.app_id).monthlyActiveUsers = Number(r.n);
  for (const r of notifications!.results) of(r.app_id).notifications = Number(r.n);
  for (const r of attempts!.results) {
    const w = of(r.app_id).webhookAttempts;
    const n = Number(r.n);
    w.total += n;
    if (r.outcome === 'delivered') w.delivered += n;
    else w.failed += n;
  }
  return [...apps.values()]
    .sort((a, b) => (a.appId < b.appId ? -1 : 1))
    .map((u) => ({
      ...u,
      estimatedCost: estimateCost({
        message: u.messages.inbound + u.messages.outbound,
        delivery: u.deliveries.sent + u.deliveries.failed,
        notification: u.notifications,
        webhookAttempt: u.webhookAttempts.total,
        mediaObject: u.media.objects,
      }),
    }));
}

/**
 * Counts media put into R2 (a channel file copied in, an upload), keyed by its
 * object key so a put that is retried counts once. Never fails its caller: the
 * bytes are stored; a lost count is logged.
 */
export async function recordMediaPut(db: D1Database, appId: string, key: string, bytes: number): Promise<void> {
  try {
    await db.prepare('INSERT OR IGNORE INTO usage_media (app_id, key, bytes, at) VALUES (?, ?, ?, ?)').bind(appId, key, bytes, new Date().toISOString()).run();
  } catch (err) {
    console.error('usage: media put not counted', key, err instanceof Error ? err.message : String(err));
  }
}
