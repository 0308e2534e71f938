/**
 * The webhooks consumer's side of this object's event stream: it claims a
 * webhook's next batch under a lease, settles it (acknowledged or
 * dead-lettered) or schedules a retry, says when the app has no webhooks,
 * and asks to be kicked again. Each call tells the kick watch the consumer
 * showed progress, and makes sure an alarm backs whatever lease or retry is
 * now pending.
 */
import type { Core } from './core';
import type { KickTarget } from './outbox';
import type { BatchClaim, StreamSubscription } from './webhook-stream';

export class WebhookFeed {
  constructor(
    private core: Core,
    private streamOwner: () => KickTarget | undefined,
  ) {}

  claim(sub: StreamSubscription, limit: number, leaseMs: number, webhookIds?: string[]): BatchClaim {
    const { core } = this;
    if (webhookIds) core.stream.adopt(webhookIds);
    const claim = core.stream.claim(sub, limit, leaseMs);
    core.watch.webhookServed(sub.id);
    // Whatever the answer, a lease or a pending retry must be backed by an alarm (it may have been lost in a crash).
    core.scheduleAlarm();
    return claim;
  }

  settle(sub: StreamSubscription, leaseId: string, lastSeq: number, stillFailing: boolean): { more: boolean } {
    const { core } = this;
    const settled = core.stream.settle(sub.id, leaseId, lastSeq, stillFailing);
    core.watch.webhookServed(sub.id);
    core.scheduleAlarm();
    return { more: settled && core.stream.hasPending(sub) };
  }

  retry(webhookId: string, leaseId: string, retryAt: number): void {
    this.core.stream.retryLater(webhookId, leaseId, retryAt);
    this.core.watch.webhookServed(webhookId);
    this.core.scheduleAlarm();
  }

  unsubscribed(): void {
    this.core.stream.noWebhooks();
    this.core.watch.webhookServed();
    this.core.scheduleAlarm();
  }

  kick(): void {
    const owner = this.streamOwner();
    if (!owner) return;
    this.core.outbox.enqueueKick(owner.appId, owner.id);
    this.core.afterCommit();
  }

  eventsById(ids: string[]): string {
    return this.core.stream.byIds(ids);
  }
}
