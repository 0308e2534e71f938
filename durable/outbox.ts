/**
 * The object's outbox: every side effect of a commit (index ops for D1, kicks
 * for the webhooks and deliveries queues) is written to the `outbox` table in
 * the same transaction and drained to its Queue after the commit, so an
 * acknowledged message is never lost. Index ops stay until their consumer
 * confirms them (`indexApplied`); kicks go once sent.
 *
 * One alarm serves every job: retry a drain that failed, send unconfirmed
 * index ops again, and kick the queues for what the kick watch says is owed
 * and not served. Only this file writes SQL for the outbox table and touches
 * the alarm.
 */
import type { Env } from '../src/env';
import type { IndexOp } from '../src/schema/index-ops';
import type { WebhookKick } from '../src/schema/webhook-queue';
import type { DeliveryKick } from '../src/schema/delivery-queue';
import type { Message } from '../src/schema/message';
import type { KickWatch } from './kick-watch';

export type Queues = 'index' | 'webhooks' | 'deliveries';
export type OutboxBody = IndexOp | WebhookKick | DeliveryKick;
/** Who a kick is for: the app, and the conversation (or user) whose object this is. */
export type KickTarget = { appId: string; id: string };

/** Queue sendBatch limits: 100 messages and 256 KB; stay under the byte limit with room for framing. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 200 * 1024;
/** Queue messages are limited to 128 KB; index rows above this keep a slim body (the DO keeps the full message). */
const MAX_OP_BYTES = 100 * 1024;
const utf8Bytes = (s: string) => new TextEncoder().encode(s).byteLength;
const DRAIN_RETRY_MS = 5_000;

export class Outbox {
  private sql: SqlStorage;
  private draining = false;
  private drainAgain = false;
  /**
   * Outbox rows up to this id were sent (or are in a sendBatch right now) by
   * this instance. Kicks are deleted once sent; index ops stay until their
   * consumer confirms them (`indexApplied`), and an instance that starts
   * afresh (0) sends those again: index ops are idempotent.
   */
  private sentUpTo = 0;
  /** Sends of index ops not yet all confirmed, oldest first: the last outbox id of each and when it went. */
  private indexSends: { upTo: number; at: number }[] = [];
  /** Unconfirmed index ops were sent again this many times in a row without a confirmation (the wait doubles). */
  private indexResends = 0;
  private resendIndex = false;
  /** When the alarm is set for, as last written by this instance; undefined until read. */
  private alarmAt: number | null | undefined;

  constructor(
    private ctx: DurableObjectState,
    /** Read at each send: tests swap the object's env to fake a queue. */
    private env: () => Env,
    private watch: KickWatch,
  ) {
    this.sql = ctx.storage.sql;
  }

  enqueue(queue: Queues, body: OutboxBody): void {
    let json = JSON.stringify(body);
    if ('op' in body && body.op === 'message.upsert' && utf8Bytes(json) > MAX_OP_BYTES) {
      const full = JSON.parse(body.message.body) as Message;
      const slim = { ...full, content: { type: full.content.type, text: (full.content.text ?? '').slice(0, 4096) }, truncated: true };
      json = JSON.stringify({ ...body, message: { ...body.message, body: JSON.stringify(slim) } });
    }
    this.sql.exec('INSERT INTO outbox (queue, body) VALUES (?, ?)', queue, json);
  }

  enqueueKick(appId: string, conversationId: string): void {
    // One unsent kick covers every event raised before it is sent; a kick already being sent does not
    // (the consumer may have served it before this event existed).
    if (this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'webhooks' AND id > ? LIMIT 1", this.sentUpTo).toArray().length > 0) return;
    this.enqueue('webhooks', { appId, conversationId });
  }

  /** One unsent kick per client is enough: the consumer serves the client's deliveries in order until none is left. */
  enqueueDeliveryKick(appId: string, conversationId: string, clientId: string): void {
    const body = JSON.stringify({ appId, conversationId, clientId } satisfies DeliveryKick);
    if (this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'deliveries' AND id > ? AND body = ? LIMIT 1", this.sentUpTo, body).toArray().length > 0) return;
    this.sql.exec('INSERT INTO outbox (queue, body) VALUES (?, ?)', 'deliveries', body);
  }

  /**
   * The index consumer applied these outbox rows to D1: they leave the outbox.
   * Index ops stay in the outbox until confirmed, so one lost on its way (a
   * queue message lost in a crash) is sent again by the alarm. The cost is
   * this one call per conversation per index batch; the rows it deletes were
   * deleted at send time before, so no row is written more.
   */
  indexApplied(ids: number[]): void {
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      this.sql.exec(`DELETE FROM outbox WHERE queue = 'index' AND id IN (${chunk.map(() => '?').join(', ')})`, ...chunk);
    }
    this.indexResends = 0;
    const oldest = this.sql.exec<{ id: number | null }>("SELECT min(id) AS id FROM outbox WHERE queue = 'index' AND id <= ?", this.sentUpTo).one().id;
    this.indexSends = oldest === null ? [] : this.indexSends.filter((s) => s.upTo >= oldest);
    this.ctx.waitUntil(this.schedule());
  }

  /**
   * The alarm fired. Kicks the queues for whatever is owed and not being
   * served (a retry came due, a consumer died, a kick was lost: see
   * `KickWatch.due`), marks unconfirmed index ops for sending again when
   * overdue, and retries the drain. Kicks are queue messages the DO never
   * relies on alone: its own state says what is still owed, so it kicks again
   * until a consumer shows up. `streamOwner` is whose events the object
   * streams; `conversation` is set on a conversation's object only.
   */
  async alarm(streamOwner: () => KickTarget | undefined, conversation: () => KickTarget | undefined): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    // Nothing else of this call holds socket frames, so a plain storage transaction is enough here.
    this.ctx.storage.transactionSync(() => {
      const due = this.watch.due();
      const owner = streamOwner();
      if (owner && due.webhooks !== null && due.webhooks <= now) {
        this.enqueueKick(owner.appId, owner.id);
        this.watch.note('webhooks', due.watch, now);
      }
      const target = conversation();
      for (const k of due.deliveries) {
        if (!target || k.at > now) continue;
        this.enqueueDeliveryKick(target.appId, target.id, k.clientId);
        this.watch.note(`deliveries:${k.clientId}`, due.watch, now);
      }
    });
    const oldest = this.indexSends[0];
    if (oldest && oldest.at + this.watch.interval(this.indexResends) <= now) {
      this.resendIndex = true;
      this.indexResends++;
    }
    await this.drain();
    await this.schedule();
  }

  /** The object's storage was emptied (storage.deleteAll): no alarm is set, no index send is waiting. */
  forget(): void {
    this.alarmAt = null;
    this.indexSends = [];
  }

  /**
   * Sets the one alarm for the earliest job: an outbox drain to retry (when
   * unsent rows wait), unconfirmed index ops to send again, and kicks for
   * webhooks and deliveries that are owed and not served. It is set only
   * while something is owed: a conversation whose queues are caught up has
   * none. The in-memory copy of the alarm time is updated before each await,
   * so interleaved calls agree, and storage applies their setAlarm/deleteAlarm
   * in call order.
   */
  async schedule(): Promise<void> {
    if (this.alarmAt === undefined) {
      const stored = await this.ctx.storage.getAlarm();
      if (this.alarmAt === undefined) this.alarmAt = stored;
    }
    // Computed after the await, so it reflects every commit that happened meanwhile.
    const outboxWaiting = this.sql.exec('SELECT 1 FROM outbox WHERE id > ? LIMIT 1', this.sentUpTo).toArray().length > 0;
    const kicks = this.watch.due();
    const wakes = [kicks.webhooks, ...kicks.deliveries.map((k) => k.at)].filter((t): t is number => t !== null);
    if (this.indexSends[0]) wakes.push(this.indexSends[0].at + this.watch.interval(this.indexResends));
    const wake = wakes.length ? Math.min(...wakes) : null;
    let want: number | null = outboxWaiting ? Date.now() + DRAIN_RETRY_MS : null;
    if (wake !== null) want = want === null ? wake : Math.min(want, wake);
    if (want === null) {
      if (this.alarmAt !== null) {
        this.alarmAt = null;
        await this.ctx.storage.deleteAlarm();
      }
      return;
    }
    // An alarm set earlier already covers this; rewriting it on every commit would cost a storage write per message.
    if (this.alarmAt !== null && this.alarmAt <= want) return;
    this.alarmAt = want;
    await this.ctx.storage.setAlarm(want);
  }

  /**
   * Sends outbox rows to their queues in order, in batches, and deletes the
   * kicks that were sent (index ops wait for their confirmation). Concurrent
   * callers coalesce into the running drain, which is what batches a burst of
   * messages into few queue sends.
   */
  async drain(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.drainAgain = false;
        if (this.resendIndex) {
          // Unconfirmed index ops are overdue: send every one of them again, oldest first.
          this.resendIndex = false;
          this.sentUpTo = 0;
          this.indexSends = [];
        }
        const rows = this.sql.exec<{ id: number; queue: Queues; body: string }>('SELECT id, queue, body FROM outbox WHERE id > ? ORDER BY id LIMIT ?', this.sentUpTo, MAX_BATCH_MESSAGES).toArray();
        if (rows.length === 0) break;
        let bytes = 0;
        const batch: typeof rows = [];
        for (const r of rows) {
          const size = utf8Bytes(r.body);
          if (batch.length > 0 && (r.queue !== batch[0]!.queue || bytes + size > MAX_BATCH_BYTES)) break;
          bytes += size;
          batch.push(r);
        }
        const queue = batch[0]!.queue;
        const from = this.sentUpTo;
        const last = batch[batch.length - 1]!.id;
        this.sentUpTo = last;
        try {
          // An index op carries its outbox id, which its consumer hands back once D1 holds it.
          const body = (r: (typeof rows)[number]) => (queue === 'index' ? { ...(JSON.parse(r.body) as IndexOp), ack: r.id } : (JSON.parse(r.body) as OutboxBody));
          await this.queueFor(queue).sendBatch(batch.map((r) => ({ body: body(r), contentType: 'json' as const })));
        } catch (err) {
          this.sentUpTo = from;
          throw err;
        }
        if (queue === 'index') {
          // Its consumer may have confirmed it already, while this send was still being answered.
          const unconfirmed = this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'index' AND id > ? AND id <= ? LIMIT 1", from, last).toArray().length > 0;
          if (unconfirmed) this.indexSends.push({ upTo: last, at: Date.now() });
        }
        else this.sql.exec('DELETE FROM outbox WHERE id > ? AND id <= ?', from, last);
        if (batch.length < rows.length) this.drainAgain = true;
      } while (this.drainAgain);
    } catch (err) {
      // The rows stay in the outbox; the alarm retries them.
      console.error('outbox drain failed; the alarm will retry', err instanceof Error ? err.message : String(err));
    } finally {
      this.draining = false;
      // With the outbox empty the alarm is dropped (firing it would cost a DO request); with rows left it stays.
      await this.schedule();
      // A commit that landed while the alarm was rescheduled asked for another pass.
      if (this.drainAgain) this.ctx.waitUntil(this.drain());
    }
  }

  private queueFor(queue: Queues): Queue<OutboxBody> {
    const env = this.env();
    switch (queue) {
      case 'index':
        return env.INDEX_QUEUE as Queue<OutboxBody>;
      case 'webhooks':
        return env.WEBHOOKS_QUEUE as Queue<OutboxBody>;
      case 'deliveries':
        return env.DELIVERIES_QUEUE as Queue<OutboxBody>;
    }
  }
}
