/**
 * The safety net for lost queue kicks: from the webhook cursors, the queued
 * deliveries and when each consumer last showed progress here, it says when
 * the webhooks queue and each client's deliveries are next owed a kick, and
 * keeps one `kick_watch` row per target (when the alarm last kicked it, how
 * many times in a row without progress), written only when the alarm kicks,
 * never per message. The outbox's alarm acts on what it says.
 */
import type { Env } from '../src/env';
import type { ChannelLedger } from './channel-ledger';
import type { WebhookStream } from './webhook-stream';

/**
 * The safety net for lost queue messages (QUEUE_REKICK_MS overrides it): when
 * a queue consumer has made no progress on something this object still owes
 * (webhook events, channel deliveries, unconfirmed index ops) for this long
 * after the last kick, the alarm sends again, doubling the wait each time
 * nothing comes of it (up to 2^6 times).
 */
const REKICK_MS = 60_000;
const MAX_REKICK_DOUBLINGS = 6;

export type KickWatchRow = { name: string; kicked_at: number; rekicks: number };

/** When the webhooks queue and each client's deliveries are next owed a kick (null: nothing owed). */
export interface DueKicks {
  webhooks: number | null;
  deliveries: { clientId: string; at: number }[];
  watch: Map<string, KickWatchRow>;
}

export class KickWatch {
  /**
   * When a queue consumer last showed progress here, by kick target
   * ('webhooks', 'webhook:<id>', 'deliveries:<clientId>'). In memory only: a
   * restart forgets it and at worst sends one kick too many.
   */
  private progress = new Map<string, number>();

  constructor(
    private sql: SqlStorage,
    private stream: WebhookStream,
    private ledger: ChannelLedger,
    /** Read at each use: tests swap the object's env. */
    private env: () => Env,
  ) {}

  /** A consumer served this target just now. */
  served(name: string): void {
    this.progress.set(name, Date.now());
  }

  /** The webhooks consumer served this object (and this webhook, when named). */
  webhookServed(webhookId?: string): void {
    const now = Date.now();
    this.progress.set('webhooks', now);
    if (webhookId) this.progress.set(`webhook:${webhookId}`, now);
  }

  /** The object's storage was emptied: nothing is remembered. */
  forget(): void {
    this.progress.clear();
  }

  private rekickMs(): number {
    const env = this.env();
    const n = Number(env.QUEUE_REKICK_MS);
    return env.QUEUE_REKICK_MS && Number.isFinite(n) && n > 0 ? n : REKICK_MS;
  }

  /** How long to wait for a consumer after `rekicks` kicks in a row came to nothing. */
  interval(rekicks: number): number {
    return this.rekickMs() * 2 ** Math.min(rekicks, MAX_REKICK_DOUBLINGS);
  }

  due(): DueKicks {
    const watch = new Map(this.sql.exec<KickWatchRow>('SELECT name, kicked_at, rekicks FROM kick_watch').toArray().map((w) => [w.name, w]));
    // Rekicks count only while no consumer showed progress since the last kick.
    const interval = (name: string) => {
      const w = watch.get(name);
      return this.interval(w && (this.progress.get(name) ?? 0) <= w.kicked_at ? w.rekicks : 0);
    };
    const webhooks = this.stream.nextKick(watch.get('webhooks')?.kicked_at ?? 0, (id) => this.progress.get(`webhook:${id}`) ?? 0, interval('webhooks'));
    const deliveries = this.ledger.kicks(
      (clientId, queuedAt) => Math.max(queuedAt, watch.get(`deliveries:${clientId}`)?.kicked_at ?? 0, this.progress.get(`deliveries:${clientId}`) ?? 0),
      (clientId) => interval(`deliveries:${clientId}`),
    );
    // A client served since its last kick is owed nothing: its record goes (a write only then).
    const owed = new Set(deliveries.map((k) => `deliveries:${k.clientId}`));
    for (const name of watch.keys()) {
      if (name.startsWith('deliveries:') && !owed.has(name)) {
        this.sql.exec('DELETE FROM kick_watch WHERE name = ?', name);
        watch.delete(name);
      }
    }
    return { webhooks, deliveries, watch };
  }

  /** The one write the safety net makes, and only when the alarm kicks. */
  note(name: string, watch: Map<string, KickWatchRow>, now: number): void {
    const w = watch.get(name);
    const rekicks = w && (this.progress.get(name) ?? 0) <= w.kicked_at ? w.rekicks + 1 : 1;
    this.sql.exec('INSERT INTO kick_watch (name, kicked_at, rekicks) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET kicked_at = excluded.kicked_at, rekicks = excluded.rekicks', name, now, rekicks);
  }
}
