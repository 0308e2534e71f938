/**
 * What every part of a ConversationDO shares: its SQLite, the table parts
 * (record, participants, event stream, channel ledger, outbox), the browser
 * sockets, and the one way a part commits: `transact` (socket frames raised
 * inside are dropped if it rolls back), then `afterCommit` (frames go out, an
 * alarm backs the outbox, the outbox drains without holding up the caller).
 * Events are raised through `raise`, which keeps a webhooks kick waiting in
 * the outbox beside them.
 */
import type { Env } from '../src/env';
import { fail } from '../src/http/errors';
import type { WebhookEvent } from '../src/webhooks/events';
import { ChannelLedger } from './channel-ledger';
import { KickWatch } from './kick-watch';
import { Outbox, type KickTarget } from './outbox';
import { Participants } from './participants';
import { ConversationRecord, toConversation, type ConversationRow } from './record';
import { retentionDue } from './retention';
import { migrate } from './schema';
import { SocketHub } from './socket-hub';
import { WebhookStream } from './webhook-stream';

/**
 * Results cross the RPC boundary as `Result` values because custom error
 * fields do not survive RPC serialization.
 */
export const NOT_FOUND = fail(404, 'conversation_not_found', 'Conversation not found');
export const NOT_PARTICIPANT = fail(403, 'forbidden', 'The session user is not a participant of this conversation');

export class Core {
  readonly sql: SqlStorage;
  readonly record: ConversationRecord;
  readonly people: Participants;
  readonly stream: WebhookStream;
  readonly ledger: ChannelLedger;
  readonly hub: SocketHub;
  readonly watch: KickWatch;
  readonly outbox: Outbox;

  constructor(
    private readonly ctx: DurableObjectState,
    env: () => Env,
  ) {
    this.sql = ctx.storage.sql;
    this.stream = new WebhookStream(this.sql);
    this.ledger = new ChannelLedger(this.sql);
    this.hub = new SocketHub(ctx);
    this.record = new ConversationRecord(this.sql);
    this.people = new Participants(this.sql);
    this.watch = new KickWatch(this.sql, this.stream, this.ledger, env);
    this.outbox = new Outbox(ctx, env, this.watch, this.stream, () => this.streamOwner(), () => retentionDue(this.record.row()));
  }

  /** Empties the object for good (its app was deleted): storage, alarm and all; the schema is recreated empty. */
  async purge(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.outbox.forget();
    this.watch.forget();
    migrate(this.sql);
    this.outbox.started();
  }

  /** A storage transaction whose socket frames are dropped if it rolls back. */
  transact<T>(fn: () => T): T {
    try {
      return this.ctx.storage.transactionSync(fn);
    } catch (err) {
      this.hub.discard();
      throw err;
    }
  }

  /** Runs after every committing call: make sure an alarm backs the outbox up, then drain without holding up the caller. */
  afterCommit(): void {
    this.hub.flush();
    this.ctx.waitUntil(this.outbox.schedule());
    this.ctx.waitUntil(this.outbox.drain());
  }

  /** A lease or a retry changed without a commit of ours: the alarm must still back it (it may have been lost in a crash). */
  scheduleAlarm(): void {
    this.ctx.waitUntil(this.outbox.schedule());
  }

  /**
   * Appends an event to the stream: the outbox's next drain owes the
   * webhooks queue a kick for it (derived from the stream, no row of its own).
   */
  raise(event: WebhookEvent): void {
    this.stream.append(event);
  }

  /** Whose events this object streams: its conversation, or the user it was named after. */
  streamOwner(): KickTarget | undefined {
    const row = this.record.row();
    if (row) return { appId: row.app_id, id: row.id };
    const owner = this.sql.exec<{ app_id: string; owner_id: string }>('SELECT app_id, owner_id FROM stream_owner').toArray()[0];
    return owner && { appId: owner.app_id, id: owner.owner_id };
  }

  /** Queues the conversation record and its participants for the D1 index. */
  enqueueConversation(): void {
    const row = this.record.row()!;
    this.outbox.enqueue('index', {
      op: 'conversation.upsert',
      appId: row.app_id,
      conversation: toConversation(row),
      participants: this.people.all().map((p) => ({ id: p.id, userId: p.userId })),
    });
  }
}
