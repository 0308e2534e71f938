/**
 * The conversation's event stream and, per customer webhook, how far it has
 * been delivered. Events get a strictly increasing `seq` in the same
 * transaction as the change that raised them. Each webhook has a cursor: the
 * last event it acknowledged (or that was dead-lettered), the batch in flight
 * (so a retry re-sends exactly the same events under the same webhook-id),
 * a lease (so two queue consumers never send one webhook's events at once) and
 * the retry schedule. That is what keeps event N+1 behind event N for one
 * conversation and one webhook, whatever order the queue delivers kicks in.
 *
 * A cursor also remembers its webhook's filter (triggers, creation time), so
 * the object can tell by itself whether a webhook still has events to send:
 * that is what lets its alarm kick the queue again when a kick was lost
 * (`nextKick`), without any bookkeeping per event.
 */
import { claimShape } from '../src/schema/webhook-queue';
import type { WebhookEvent } from '../src/webhooks/events';

/**
 * How long events stay replayable and deliverable. The webhook retry window
 * must stay below it (the consumer refuses a longer WEBHOOK_RETRY_WINDOW_MS).
 */
export const EVENT_RETENTION_MS = 7 * 24 * 3_600_000;

export interface StreamSubscription {
  id: string;
  triggers: string[];
  /** Events raised before the webhook existed are not sent to it. */
  createdAt: string;
}

export type BatchClaim =
  | { state: 'idle' }
  | { state: 'busy' }
  | { state: 'waiting'; until: number }
  /** Events travel as one JSON string: cheaper over RPC than a structured clone, and free of RPC's serializable-type limits. */
  | { state: 'ready'; eventsJson: string; attempt: number; failingSince: number | null; leaseId: string; lastSeq: number };

type CursorRow = {
  webhook_id: string;
  acked_seq: number;
  inflight_end: number | null;
  attempts: number;
  failing_since: number | null;
  next_attempt_at: number | null;
  lease_until: number | null;
  lease_id: string | null;
  /** The webhook's triggers (JSON) and creation time as last claimed; null on cursors older than these columns. */
  triggers: string | null;
  since: string | null;
  /** 1 when the last consumer that served this object did not list the webhook (deleted): no kick is owed to it. */
  orphaned: number;
  /** The batch size and lease the consumer last claimed with, so the outbox can claim the same way at drain time; null until then. */
  batch_limit: number | null;
  lease_ms: number | null;
};

export type EventRow = { seq: number; id: string; type: string; created_at: string; payload: string };

export const STREAM_MIGRATION = `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL
  );
  CREATE TABLE webhook_cursors (
    webhook_id TEXT PRIMARY KEY,
    acked_seq INTEGER NOT NULL DEFAULT 0,
    inflight_end INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    next_attempt_at INTEGER,
    lease_until INTEGER
  );`;

/** Stored rows as a JSON array of events, splicing each stored payload in rather than parsing and re-encoding it. */
export const eventsJson = (rows: EventRow[]) =>
  `[${rows.map((r) => `{"id":${JSON.stringify(r.id)},"type":${JSON.stringify(r.type)},"createdAt":${JSON.stringify(r.created_at)},"payload":${r.payload}}`).join(',')}]`;

export class WebhookStream {
  constructor(private sql: SqlStorage) {}

  append(event: WebhookEvent): number {
    const seq = this.sql
      .exec<{ seq: number }>('INSERT INTO events (id, type, created_at, payload) VALUES (?, ?, ?, ?) RETURNING seq', event.id, event.type, event.createdAt, JSON.stringify(event.payload))
      .one().seq;
    // Every 100th event, drop a bounded slice of events past retention, so storage stays proportional to a week of traffic.
    if (seq % 100 === 0) {
      const cutoff = new Date(Date.now() - EVENT_RETENTION_MS).toISOString();
      this.sql.exec('DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT 200) AND created_at < ?', cutoff);
    }
    return seq;
  }

  /**
   * The webhook's cursor, created on its first claim; the filter and the
   * claim's shape are rewritten only when they changed (rare). A claim made
   * at drain time passes no shape: it reuses the cursor's.
   */
  private cursor(sub: StreamSubscription, shape?: { limit: number; leaseMs: number }): CursorRow {
    const triggers = JSON.stringify(sub.triggers);
    const row = this.sql.exec<CursorRow>('SELECT * FROM webhook_cursors WHERE webhook_id = ?', sub.id).toArray()[0];
    const limit = shape?.limit ?? row?.batch_limit ?? null;
    const leaseMs = shape?.leaseMs ?? row?.lease_ms ?? null;
    if (row) {
      if (row.triggers !== triggers || row.since !== sub.createdAt || row.orphaned || row.batch_limit !== limit || row.lease_ms !== leaseMs) {
        this.sql.exec(
          'UPDATE webhook_cursors SET triggers = ?, since = ?, orphaned = 0, batch_limit = ?, lease_ms = ? WHERE webhook_id = ?',
          triggers,
          sub.createdAt,
          limit,
          leaseMs,
          sub.id,
        );
      }
      return row;
    }
    this.sql.exec('INSERT INTO webhook_cursors (webhook_id, triggers, since, batch_limit, lease_ms) VALUES (?, ?, ?, ?, ?)', sub.id, triggers, sub.createdAt, limit, leaseMs);
    return {
      webhook_id: sub.id,
      acked_seq: 0,
      inflight_end: null,
      attempts: 0,
      failing_since: null,
      next_attempt_at: null,
      lease_until: null,
      lease_id: null,
      triggers,
      since: sub.createdAt,
      orphaned: 0,
      batch_limit: limit,
      lease_ms: leaseMs,
    };
  }

  /**
   * The consumer lists the app's webhooks with each claim: cursors of webhooks
   * no longer listed (deleted) are marked, so the alarm never kicks for them.
   * Marked, not deleted: a consumer with a stale list must not reset a live
   * webhook's cursor (that would send its events again). Writes only on change.
   */
  adopt(webhookIds: string[]): void {
    this.sql.exec(`UPDATE webhook_cursors SET orphaned = 1 WHERE orphaned = 0 AND webhook_id NOT IN (${webhookIds.map(() => '?').join(', ')})`, ...webhookIds);
  }

  /** The app has no webhooks at all (as of its consumer): nothing raised up to now is owed to anyone. */
  noWebhooks(): void {
    this.adopt([]);
    this.sql.exec(
      `INSERT INTO kick_watch (name, kicked_at, seq) VALUES ('webhooks', 0, (SELECT coalesce(max(seq), 0) FROM events))
       ON CONFLICT(name) DO UPDATE SET seq = excluded.seq WHERE kick_watch.seq < excluded.seq`,
    );
  }

  /** The next events this webhook subscribes to and has not acknowledged, in order, up to `limit`. */
  private pending(sub: StreamSubscription, after: number, upTo: number | null, limit: number): EventRow[] {
    const all = sub.triggers.includes('*');
    // Only placeholders are generated here; the trigger names are bound as values.
    const typeFilter = all ? '' : ` AND type IN (${sub.triggers.map(() => '?').join(', ')})`;
    return this.sql
      .exec<EventRow>(
        `SELECT * FROM events WHERE seq > ? AND seq <= ? AND created_at >= ?${typeFilter} ORDER BY seq LIMIT ?`,
        after,
        upTo ?? Number.MAX_SAFE_INTEGER,
        sub.createdAt,
        ...(all ? [] : sub.triggers),
        limit,
      )
      .toArray();
  }

  /** Hands out the webhook's next batch under a lease, or says why not now. */
  claim(sub: StreamSubscription, limit: number, leaseMs: number, now = Date.now()): BatchClaim {
    return this.claimFor(sub, { limit, leaseMs }, leaseMs, now);
  }

  /**
   * At drain time: the next batch of every webhook a consumer has claimed
   * for here before (so its filter and batch size are known), claimed the
   * way it claims, with `graceMs` more lease for the time the batch waits in
   * the queue. What the feed message carries, so the consumer delivers
   * without a round trip to ask.
   */
  claimKnown(graceMs: number, now = Date.now()): { claims: (Extract<BatchClaim, { state: 'ready' }> & { webhookId: string })[]; known: Record<string, string> } {
    const cursors = this.sql.exec<CursorRow>('SELECT * FROM webhook_cursors WHERE orphaned = 0 AND batch_limit IS NOT NULL AND lease_ms IS NOT NULL AND triggers IS NOT NULL').toArray();
    const claims: (Extract<BatchClaim, { state: 'ready' }> & { webhookId: string })[] = [];
    const known: Record<string, string> = {};
    for (const c of cursors) {
      const sub = { id: c.webhook_id, triggers: JSON.parse(c.triggers!) as string[], createdAt: c.since ?? '' };
      known[c.webhook_id] = claimShape(sub.triggers, sub.createdAt, c.batch_limit!, c.lease_ms!);
      const claim = this.claimFor(sub, undefined, c.lease_ms! + graceMs, now);
      if (claim.state === 'ready') claims.push({ ...claim, webhookId: c.webhook_id });
    }
    return { claims, known };
  }

  /** Claims made at drain time whose feed message never left (the queue refused it): the batches are free again at once. */
  release(leaseIds: string[]): void {
    if (leaseIds.length === 0) return;
    this.sql.exec(`UPDATE webhook_cursors SET lease_until = NULL, lease_id = NULL WHERE lease_id IN (${leaseIds.map(() => '?').join(', ')})`, ...leaseIds);
  }

  private claimFor(sub: StreamSubscription, shape: { limit: number; leaseMs: number } | undefined, leaseMs: number, now: number): BatchClaim {
    const c = this.cursor(sub, shape);
    const limit = shape?.limit ?? c.batch_limit ?? 1;
    if (c.lease_until !== null && c.lease_until > now) return { state: 'busy' };
    if (c.next_attempt_at !== null && c.next_attempt_at > now) return { state: 'waiting', until: c.next_attempt_at };
    const rows = this.pending(sub, c.acked_seq, c.inflight_end, limit);
    if (rows.length === 0) {
      // The batch in flight no longer matches (the webhook's triggers changed): start clean.
      if (c.inflight_end !== null) this.sql.exec('UPDATE webhook_cursors SET inflight_end = NULL, attempts = 0, failing_since = NULL WHERE webhook_id = ?', sub.id);
      return { state: 'idle' };
    }
    const end = c.inflight_end ?? rows[rows.length - 1]!.seq;
    // The lease id fences out a consumer whose lease lapsed: its settle or retry no longer matches and changes nothing.
    const leaseId = crypto.randomUUID();
    this.sql.exec('UPDATE webhook_cursors SET inflight_end = ?, lease_until = ?, lease_id = ?, next_attempt_at = NULL WHERE webhook_id = ?', end, now + leaseMs, leaseId, sub.id);
    return {
      state: 'ready',
      leaseId,
      lastSeq: rows[rows.length - 1]!.seq,
      attempt: c.attempts + 1,
      failingSince: c.failing_since,
      eventsJson: eventsJson(rows),
    };
  }

  /**
   * Acknowledged or dead-lettered: the cursor moves past the events actually
   * sent (up to `lastSeq`). After a dead-letter for an exhausted window the
   * webhook stays marked as failing, so during a long outage later batches are
   * dead-lettered (kept in D1 for replay) after one attempt each instead of
   * each waiting out a window of its own. Answers false for a stale lease.
   */
  settle(webhookId: string, leaseId: string, lastSeq: number, stillFailing: boolean): boolean {
    const res = this.sql.exec(
      `UPDATE webhook_cursors SET acked_seq = max(acked_seq, ?), inflight_end = NULL, attempts = 0,
         failing_since = CASE WHEN ? THEN failing_since ELSE NULL END, next_attempt_at = NULL, lease_until = NULL, lease_id = NULL
       WHERE webhook_id = ? AND lease_id = ?`,
      lastSeq,
      stillFailing ? 1 : 0,
      webhookId,
      leaseId,
    );
    return res.rowsWritten > 0;
  }

  /** A retryable failure: the same batch again at `retryAt`. Ignored for a stale lease. */
  retryLater(webhookId: string, leaseId: string, retryAt: number, now = Date.now()): boolean {
    const res = this.sql.exec(
      `UPDATE webhook_cursors SET attempts = attempts + 1, failing_since = coalesce(failing_since, ?), next_attempt_at = ?,
         lease_until = NULL, lease_id = NULL WHERE webhook_id = ? AND lease_id = ?`,
      now,
      retryAt,
      webhookId,
      leaseId,
    );
    return res.rowsWritten > 0;
  }

  /** Stored events by id, for replaying chosen events. */
  byIds(ids: string[]): string {
    return eventsJson(this.sql.exec<EventRow>(`SELECT * FROM events WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY seq`, ...ids).toArray());
  }

  /**
   * When this object next owes the webhooks queue a kick, or null when every
   * webhook is caught up (the alarm then costs nothing). Per live cursor:
   * - leased, or waiting for a retry: when the lease lapses or the retry is due;
   * - claimable at a moment after the last kick and the webhook's last
   *   progress (a retry came due, a consumer died holding a lease): then;
   * - otherwise, with events still to send: `intervalMs` after the later of
   *   the last kick and the webhook's last progress (claim, settle, retry), so
   *   a kick that was lost, or a consumer that died between batches, is made
   *   good. With no live cursor at all (the first kick of a new conversation
   *   lost), events newer than the last "no webhooks" answer count as unsent.
   * "Pending" is derived from the cursors and the events, so nothing is
   * written per event for this; `lastKick` is the newest of the last kick the
   * alarm sent and the newest event (whose commit put a kick in the outbox).
   */
  nextKick(lastKick: number, progressOf: (webhookId: string) => number, intervalMs: number): number | null {
    const newest = this.sql.exec<{ seq: number; created_at: string }>('SELECT seq, created_at FROM events ORDER BY seq DESC LIMIT 1').toArray()[0];
    const base = Math.max(lastKick, newest ? Date.parse(newest.created_at) : 0);
    let wake: number | null = null;
    const earliest = (t: number) => (wake = wake === null ? t : Math.min(wake, t));
    const cursors = this.sql.exec<CursorRow>('SELECT * FROM webhook_cursors WHERE orphaned = 0').toArray();
    for (const c of cursors) {
      const claimableAt = Math.max(c.lease_until ?? 0, c.next_attempt_at ?? 0);
      const since = Math.max(base, progressOf(c.webhook_id));
      if (claimableAt > since) earliest(claimableAt);
      else if (c.inflight_end !== null || this.unsent(c)) earliest(since + intervalMs);
    }
    if (cursors.length === 0 && newest) {
      const answered = this.sql.exec<{ seq: number }>("SELECT seq FROM kick_watch WHERE name = 'webhooks'").toArray()[0]?.seq ?? 0;
      if (newest.seq > answered) earliest(base + intervalMs);
    }
    return wake;
  }

  /** Whether a cursor has events it subscribes to past its acknowledged seq (an old cursor without a filter: any event). */
  private unsent(c: CursorRow): boolean {
    if (c.triggers === null) return this.sql.exec('SELECT 1 FROM events WHERE seq > ? LIMIT 1', c.acked_seq).toArray().length > 0;
    return this.pending({ id: c.webhook_id, triggers: JSON.parse(c.triggers) as string[], createdAt: c.since ?? '' }, c.acked_seq, null, 1).length > 0;
  }
}
