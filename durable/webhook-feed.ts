/**
 * The feed consumer's side of this object: after it handled a feed message
 * (index ops written to D1, webhook batches delivered), one report says what
 * happened — index ops D1 holds, each batch settled (acknowledged or
 * dead-lettered) or to retry — and answers each webhook's next batch, claimed
 * under a lease (claim-next in the same call), so the steady state is one
 * call per feed message. Each report tells the kick watch the consumer showed
 * progress, and makes sure an alarm backs whatever lease or retry is now
 * pending.
 */
import type { FeedClaim } from '../src/schema/webhook-queue';
import type { Core } from './core';
import type { StreamSubscription } from './webhook-stream';

/** A webhook of the app as the consumer knows it, and how it claims for it. */
export interface FeedWebhook {
  sub: StreamSubscription;
  limit: number;
  leaseMs: number;
}

export type FeedOutcome =
  | { webhookId: string; leaseId: string; lastSeq: number; settled: true; stillFailing: boolean }
  | { webhookId: string; leaseId: string; retryAt: number };

export interface FeedReport {
  /** Outbox ids of index ops D1 now holds. */
  indexed: number[];
  outcomes: FeedOutcome[];
  /** Webhooks to claim the next batch for, each the way the consumer claims. */
  claim?: FeedWebhook[];
  /** Every webhook of the app, as the consumer knows them: cursors of the others are never kicked for; empty: nothing raised so far is owed. */
  webhookIds?: string[];
  /** The consumer stopped with batches still to send (its round limit): kick the queue again. */
  kickAgain?: boolean;
}

export class WebhookFeed {
  constructor(private core: Core) {}

  report(report: FeedReport): { claims: FeedClaim[] } {
    const { core } = this;
    const claims: FeedClaim[] = [];
    core.transact(() => {
      if (report.indexed.length) core.outbox.indexApplied(report.indexed);
      for (const o of report.outcomes) {
        if ('settled' in o) core.stream.settle(o.webhookId, o.leaseId, o.lastSeq, o.stillFailing);
        else core.stream.retryLater(o.webhookId, o.leaseId, o.retryAt);
        core.watch.webhookServed(o.webhookId);
      }
      if (report.webhookIds?.length === 0) {
        core.stream.noWebhooks();
        core.watch.webhookServed();
      } else if (report.webhookIds) core.stream.adopt(report.webhookIds);
      for (const w of report.claim ?? []) {
        const claim = core.stream.claim(w.sub, w.limit, w.leaseMs);
        core.watch.webhookServed(w.sub.id);
        if (claim.state === 'ready') claims.push({ webhookId: w.sub.id, leaseId: claim.leaseId, lastSeq: claim.lastSeq, attempt: claim.attempt, failingSince: claim.failingSince, eventsJson: claim.eventsJson });
      }
      if (report.kickAgain) core.outbox.kick();
    });
    // Whatever the answer, a lease or a pending retry must be backed by an alarm (it may have been lost in a crash).
    if (report.kickAgain) core.afterCommit();
    else core.scheduleAlarm();
    return { claims };
  }

  eventsById(ids: string[]): string {
    return this.core.stream.byIds(ids);
  }
}
