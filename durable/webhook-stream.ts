/**
 * The conversation's event stream and, per customer webhook, how far it has
 * been delivered. Events get a strictly increasing `seq` in the same
 * transaction as the change that raised them. Each webhook has a cursor: the
 * last event it acknowledged (or that was dead-lettered), the batch in flight
 * (so a retry re-sends exactly the same events under the same webhook-id),
 * a lease (so two queue consumers never send one webhook's events at once) and
 * the retry schedule. That is what keeps event N+1 behind event N for one
 * conversation and one webhook, whatever order the queue delivers kicks in.
 */
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

  private cursor(webhookId: string): CursorRow {
    const row = this.sql.exec<CursorRow>('SELECT * FROM webhook_cursors WHERE webhook_id = ?', webhookId).toArray()[0];
    if (row) return row;
    this.sql.exec('INSERT INTO webhook_cursors (webhook_id) VALUES (?)', webhookId);
    return { webhook_id: webhookId, acked_seq: 0, inflight_end: null, attempts: 0, failing_since: null, next_attempt_at: null, lease_until: null, lease_id: null };
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

  hasPending(sub: StreamSubscription): boolean {
    const c = this.cursor(sub.id);
    return this.pending(sub, c.acked_seq, null, 1).length > 0;
  }

  /** Hands out the webhook's next batch under a lease, or says why not now. */
  claim(sub: StreamSubscription, limit: number, leaseMs: number, now = Date.now()): BatchClaim {
    const c = this.cursor(sub.id);
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

  /** The earliest moment a cursor needs attention again (a retry or an expired lease), if any. */
  nextWake(): number | null {
    return this.sql
      .exec<{ t: number | null }>('SELECT min(coalesce(next_attempt_at, lease_until)) AS t FROM webhook_cursors WHERE next_attempt_at IS NOT NULL OR lease_until IS NOT NULL')
      .one().t;
  }

  /** Stored events by id, for replaying chosen events. */
  byIds(ids: string[]): string {
    return eventsJson(this.sql.exec<EventRow>(`SELECT * FROM events WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY seq`, ...ids).toArray());
  }

  /** Cursors whose retry is due or whose lease lapsed (a consumer died); clears them so a kick re-claims. */
  takeDue(now = Date.now()): number {
    const due = this.sql
      .exec<{ n: number }>('SELECT count(*) AS n FROM webhook_cursors WHERE next_attempt_at <= ? OR lease_until <= ?', now, now)
      .one().n;
    if (due > 0) {
      this.sql.exec('UPDATE webhook_cursors SET next_attempt_at = NULL WHERE next_attempt_at <= ?', now);
      this.sql.exec('UPDATE webhook_cursors SET lease_until = NULL WHERE lease_until <= ?', now);
    }
    return due;
  }
}
