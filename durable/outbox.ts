/**
 * The object's outbox: every side effect of a commit (index ops for D1, kicks
 * for the webhooks and deliveries queues) is written to the `outbox` table in
 * the same transaction and drained to its Queue after the commit, so an
 * acknowledged message is never lost. Index ops and the webhooks kick leave
 * together, as feed messages on the webhooks queue: one queue message carries
 * what a drain owes D1 and the customer webhooks, with each known webhook's
 * next batch already claimed, so a message costs one queue message and one
 * call back (the consumer's report), not one per job. Index ops stay until
 * the report confirms them (`indexApplied`); kicks go once sent.
 *
 * One alarm serves every job: retry a drain that failed, send unconfirmed
 * index ops again, and kick the queues for what the kick watch says is owed
 * and not served. Only this file writes SQL for the outbox table and touches
 * the alarm.
 */
import type { Env } from '../src/env';
import type { IndexOp } from '../src/schema/index-ops';
import { FEED_CLAIM_GRACE_MS, type FeedClaim, type WebhookKick } from '../src/schema/webhook-queue';
import type { DeliveryKick } from '../src/schema/delivery-queue';
import type { Message } from '../src/schema/message';
import type { KickWatch } from './kick-watch';
import type { WebhookStream } from './webhook-stream';

export type Queues = 'index' | 'webhooks' | 'deliveries';
type OutboxRow = { id: number; queue: Queues; body: string };
export type OutboxBody = IndexOp | WebhookKick | DeliveryKick;
/** Who a kick is for: the app, and the conversation (or user) whose object this is. */
export type KickTarget = { appId: string; id: string };

/** Queue sendBatch limits: 100 messages and 256 KB; stay under the byte limit with room for framing. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 200 * 1024;
/** Queue messages are limited to 128 KB; index rows above this keep a slim body (the DO keeps the full message). */
const MAX_OP_BYTES = 100 * 1024;
/** One feed message stays under the 128 KB queue message limit. */
const MAX_FEED_BYTES = 110 * 1024;
const utf8Bytes = (s: string) => new TextEncoder().encode(s).byteLength;
const DRAIN_RETRY_MS = 5_000;

export class Outbox {
  private sql: SqlStorage;
  private draining = false;
  private drainAgain = false;
  /** The last drain failed (a queue refused a send): the alarm retries it soon, not at the safety net's pace. */
  private drainFailed = false;
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
  /**
   * Events up to this seq went out with a webhooks kick from this instance.
   * The kick is derived from the event stream (no outbox row per event): an
   * instance starting afresh takes every stored event as kicked (`started`),
   * and the kick watch's alarm makes good a kick lost with a crash, as it
   * does one lost from the queue.
   */
  private kickedUpTo: number | undefined;
  /** A kick asked for with no new event (the alarm's re-kick, a consumer that stopped early). */
  private kickAsked = false;
  /** The last outbox id handed out by this instance. */
  private lastId = 0;

  constructor(
    private ctx: DurableObjectState,
    /** Read at each send: tests swap the object's env to fake a queue. */
    private env: () => Env,
    private watch: KickWatch,
    private stream: WebhookStream,
    /** Whose events the object streams (its conversation, or the user it is named after): the feed message's address. */
    private owner: () => KickTarget | undefined,
    /** When the object has other work of its own due (its messages' retention), or null. */
    private ownWake: () => number | null = () => null,
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
    this.insert(queue, json);
  }

  /**
   * Outbox ids grow with time, so one is never handed out again after its
   * row is deleted (a late confirmation must never delete a newer op) without
   * AUTOINCREMENT's extra row written per insert. Older objects whose table
   * has AUTOINCREMENT keep it; the ids stay increasing either way.
   */
  private insert(queue: Queues, body: string): void {
    if (this.lastId === 0) this.lastId = this.sql.exec<{ id: number | null }>('SELECT max(id) AS id FROM outbox').one().id ?? 0;
    this.lastId = Math.max(this.lastId + 1, Date.now() * 1000);
    this.sql.exec('INSERT INTO outbox (id, queue, body) VALUES (?, ?, ?)', this.lastId, queue, body);
  }

  /** The webhooks queue is owed a kick though no event was raised (the alarm's re-kick, a consumer that stopped early). */
  kick(): void {
    this.kickAsked = true;
  }

  /** The object was loaded (its schema is in place): events stored before now count as kicked. */
  started(): void {
    this.kickedUpTo = this.newestEvent();
  }

  private newestEvent(): number {
    return this.sql.exec<{ seq: number | null }>('SELECT max(seq) AS seq FROM events').one().seq ?? 0;
  }

  /** The newest event seq when a kick is owed for events (or one was asked for), else null. */
  private kickOwed(): number | null {
    const newest = this.newestEvent();
    return newest > (this.kickedUpTo ?? 0) || this.kickAsked ? newest : null;
  }

  /** One unsent kick per client is enough: the consumer serves the client's deliveries in order until none is left. */
  enqueueDeliveryKick(appId: string, conversationId: string, clientId: string): void {
    const body = JSON.stringify({ appId, conversationId, clientId } satisfies DeliveryKick);
    if (this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'deliveries' AND id > ? AND body = ? LIMIT 1", this.sentUpTo, body).toArray().length > 0) return;
    this.insert('deliveries', body);
  }

  /**
   * The feed consumer reported these outbox rows applied to D1: they leave the
   * outbox. Index ops stay in the outbox until confirmed, so one lost on its
   * way (a queue message lost in a crash) is sent again by the alarm. The
   * confirmation rides on the report the consumer makes anyway; the caller
   * reschedules the alarm.
   */
  indexApplied(ids: number[]): void {
    for (let i = 0; i < ids.length; i += 100) {
      const chunk = ids.slice(i, i + 100);
      this.sql.exec(`DELETE FROM outbox WHERE queue = 'index' AND id IN (${chunk.map(() => '?').join(', ')})`, ...chunk);
    }
    this.indexResends = 0;
    const oldest = this.sql.exec<{ id: number | null }>("SELECT min(id) AS id FROM outbox WHERE queue = 'index' AND id <= ?", this.sentUpTo).one().id;
    this.indexSends = oldest === null ? [] : this.indexSends.filter((s) => s.upTo >= oldest);
  }

  /**
   * The alarm fired. Kicks the queues for whatever is owed and not being
   * served (a retry came due, a consumer died, a kick was lost: see
   * `KickWatch.due`), marks unconfirmed index ops for sending again when
   * overdue, and retries the drain. Kicks are queue messages the DO never
   * relies on alone: its own state says what is still owed, so it kicks again
   * until a consumer shows up. `conversation` is set on a conversation's
   * object only.
   */
  async alarm(conversation: () => KickTarget | undefined): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    // Nothing else of this call holds socket frames, so a plain storage transaction is enough here.
    this.ctx.storage.transactionSync(() => {
      const due = this.watch.due();
      if (this.owner() && due.webhooks !== null && due.webhooks <= now) {
        this.kick();
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
    this.kickedUpTo = undefined;
    this.kickAsked = false;
    this.lastId = 0;
  }

  /**
   * Sets the one alarm for the earliest job: an outbox drain to retry (when
   * unsent rows wait), unconfirmed index ops to send again, and kicks for
   * webhooks and deliveries that are owed and not served. It is set only
   * while something is owed; once a conversation's queues are caught up its
   * last alarm fires once more and is not set again. The in-memory copy of the alarm time is updated before each await,
   * so interleaved calls agree, and storage applies their setAlarm calls in
   * call order.
   */
  async schedule(): Promise<void> {
    if (this.alarmAt === undefined) {
      const stored = await this.ctx.storage.getAlarm();
      if (this.alarmAt === undefined) this.alarmAt = stored;
    }
    // Computed after the await, so it reflects every commit that happened meanwhile.
    const outboxWaiting = this.sql.exec('SELECT 1 FROM outbox WHERE id > ? LIMIT 1', this.sentUpTo).toArray().length > 0 || this.kickOwed() !== null;
    const kicks = this.watch.due();
    const wakes = [kicks.webhooks, ...kicks.deliveries.map((k) => k.at)].filter((t): t is number => t !== null);
    if (this.indexSends[0]) wakes.push(this.indexSends[0].at + this.watch.interval(this.indexResends));
    const own = this.ownWake();
    if (own !== null && Number.isFinite(own)) wakes.push(own);
    const wake = wakes.length ? Math.min(...wakes) : null;
    // Rows waiting for a drain that is under way only need the safety net (a crash mid-drain); a failed drain is retried soon.
    let want: number | null = outboxWaiting ? Date.now() + (this.drainFailed ? DRAIN_RETRY_MS : this.watch.interval(0)) : null;
    if (wake !== null) want = want === null ? wake : Math.min(want, wake);
    // Nothing owed: an alarm already set is left to fire (it finds nothing and sets none), not deleted. Deleting it
    // after every message and setting it again with the next costs a storage write each time; a conversation busy
    // for a while thus pays one alarm, not two alarm writes per message.
    if (want === null) return;
    // An alarm set earlier already covers this; rewriting it on every commit would cost a storage write per message.
    if (this.alarmAt !== null && this.alarmAt <= want) return;
    this.alarmAt = want;
    await this.ctx.storage.setAlarm(want);
  }

  /**
   * Sends outbox rows to their queues in order, in batches, with the
   * webhooks kick owed for new events; deletes the delivery kicks that were
   * sent (index ops wait for their confirmation). Passes go on until nothing
   * is left. Concurrent callers coalesce into the running drain, which is
   * what batches a burst of messages into few queue sends.
   */
  async drain(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    try {
      for (;;) {
        this.drainAgain = false;
        if (this.resendIndex) {
          // Unconfirmed index ops are overdue: send every one of them again, oldest first.
          this.resendIndex = false;
          this.sentUpTo = 0;
          this.indexSends = [];
        }
        const rows = this.sql.exec<OutboxRow>('SELECT id, queue, body FROM outbox WHERE id > ? ORDER BY id LIMIT ?', this.sentUpTo, MAX_BATCH_MESSAGES).toArray();
        if (rows.length === 0) {
          if (this.kickOwed() === null) break;
          await this.sendFeed([], this.sentUpTo);
          continue;
        }
        // Consecutive rows of one lane (channel deliveries, or the feed: index ops and the webhooks kick) go in one send.
        const lane = (r: OutboxRow) => (r.queue === 'deliveries' ? 'deliveries' : 'feed');
        let bytes = 0;
        const batch: OutboxRow[] = [];
        for (const r of rows) {
          const size = utf8Bytes(r.body);
          if (batch.length > 0 && (lane(r) !== lane(batch[0]!) || bytes + size > MAX_BATCH_BYTES)) break;
          bytes += size;
          batch.push(r);
        }
        const from = this.sentUpTo;
        const last = batch[batch.length - 1]!.id;
        this.sentUpTo = last;
        if (lane(batch[0]!) === 'deliveries') {
          try {
            await this.env().DELIVERIES_QUEUE.sendBatch(batch.map((r) => ({ body: JSON.parse(r.body) as DeliveryKick, contentType: 'json' as const })));
          } catch (err) {
            this.sentUpTo = from;
            throw err;
          }
          this.sql.exec('DELETE FROM outbox WHERE id > ? AND id <= ?', from, last);
        } else {
          await this.sendFeed(batch, from);
        }
      }
      this.drainFailed = false;
    } catch (err) {
      this.drainFailed = true;
      // The rows stay in the outbox; the alarm retries them.
      console.error('outbox drain failed; the alarm will retry', err instanceof Error ? err.message : String(err));
    } finally {
      this.draining = false;
      await this.schedule();
      // A commit that landed while the alarm was rescheduled asked for another pass.
      if (this.drainAgain) this.ctx.waitUntil(this.drain());
    }
  }

  /**
   * Sends one drain pass's feed: its index ops (each with its outbox id as
   * `ack`) packed under the message size limit, and, when events wait for a
   * kick (or an old object's kick row is among the rows), the kick on the
   * last message with every known webhook's next batch claimed now (see
   * `WebhookStream.claimKnown`). Claims that would not fit are released and
   * the kick goes without them: the consumer then claims through its report.
   * `from` is where the pass started (the rows run up to `sentUpTo`).
   */
  private async sendFeed(rows: OutboxRow[], from: number): Promise<void> {
    const kickTo = this.kickOwed();
    const kick = kickTo !== null || rows.some((r) => r.queue === 'webhooks');
    const ops = rows.filter((r) => r.queue === 'index').map((r) => ({ ...(JSON.parse(r.body) as IndexOp), ack: r.id }) as IndexOp);
    const owner = this.owner();
    const target = owner ? { appId: owner.appId, conversationId: owner.id } : ops[0] ? opTarget(ops[0]) : undefined;
    const messages: WebhookKick[] = [];
    let leaseIds: string[] = [];
    if (target) {
      let current: IndexOp[] = [];
      let size = 0;
      for (const op of ops) {
        const opBytes = utf8Bytes(JSON.stringify(op));
        if (current.length > 0 && size + opBytes > MAX_FEED_BYTES) {
          messages.push({ ...target, index: current, indexOnly: true });
          current = [];
          size = 0;
        }
        current.push(op);
        size += opBytes;
      }
      if (!kick) {
        if (current.length) messages.push({ ...target, index: current, indexOnly: true });
      } else {
        const claimed = this.ctx.storage.transactionSync(() => this.stream.claimKnown(FEED_CLAIM_GRACE_MS));
        let claims: FeedClaim[] = claimed.claims.map((c) => ({ webhookId: c.webhookId, leaseId: c.leaseId, lastSeq: c.lastSeq, attempt: c.attempt, failingSince: c.failingSince, eventsJson: c.eventsJson }));
        let known: Record<string, string> | undefined = claimed.known;
        const claimBytes = claims.reduce((n, c) => n + utf8Bytes(c.eventsJson) + 200, utf8Bytes(JSON.stringify(known)));
        if (claimBytes > MAX_FEED_BYTES) {
          this.stream.release(claims.map((c) => c.leaseId));
          claims = [];
          known = undefined;
        } else if (current.length > 0 && size + claimBytes > MAX_FEED_BYTES) {
          messages.push({ ...target, index: current, indexOnly: true });
          current = [];
        }
        messages.push({ ...target, ...(current.length ? { index: current } : {}), ...(claims.length ? { claims } : {}), ...(known ? { known } : {}) });
        leaseIds = claims.map((c) => c.leaseId);
      }
    }
    try {
      if (messages.length) await this.env().WEBHOOKS_QUEUE.sendBatch(messages.map((body) => ({ body, contentType: 'json' as const })));
    } catch (err) {
      this.sentUpTo = from;
      this.stream.release(leaseIds);
      throw err;
    }
    if (kick) {
      this.kickedUpTo = Math.max(this.kickedUpTo ?? 0, kickTo ?? 0);
      this.kickAsked = false;
    }
    const last = this.sentUpTo;
    // Kick rows (left by an older version) are done once sent; index ops wait for the consumer's confirmation, which may have come already.
    this.sql.exec("DELETE FROM outbox WHERE queue = 'webhooks' AND id > ? AND id <= ?", from, last);
    const unconfirmed = this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'index' AND id > ? AND id <= ? LIMIT 1", from, last).toArray().length > 0;
    if (unconfirmed) this.indexSends.push({ upTo: last, at: Date.now() });
  }


}

/** Who a feed message of index ops alone is for: the conversation the ops belong to. */
function opTarget(op: IndexOp): { appId: string; conversationId: string } {
  if (op.op === 'conversation.upsert') return { appId: op.appId, conversationId: op.conversation.id };
  if (op.op === 'stream.purge') return { appId: op.appId, conversationId: op.streamId };
  return { appId: op.appId, conversationId: op.conversationId };
}
