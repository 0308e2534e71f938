/**
 * ConversationDO: the single writer of one conversation. It owns the
 * conversation record, its participants and read state, and its messages with
 * their strictly increasing `seq`. Every side effect of a commit (index rows
 * now; webhooks and deliveries later) is written to the outbox in the same
 * transaction and drained to its Queue after the commit, with an alarm that
 * retries the drain, so an acknowledged message is never lost.
 *
 * Results cross the RPC boundary as `Result` values because custom error
 * fields do not survive RPC serialization.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../src/env';
import { fail, type Result } from '../src/http/errors';
import { LIMITS } from '../src/schema/common';
import type { Conversation, ConversationUpdate, Participant } from '../src/schema/conversation';
import type { Message } from '../src/schema/message';
import {
  conversationCreateEvent,
  joinEvent,
  leaveEvent,
  readEvent,
  removeEvent,
  type WebhookEvent,
} from '../src/webhooks/events';
import { toConversation, type ConversationInit } from './record';
import { toParticipant, userRef } from './participants';
import { TYPING, WEB, type DeliveryClaim } from './channel-ledger';
import { migrate } from './schema';
import { Core, NOT_FOUND } from './core';
import { Messages, type MessagePage, type NewMessage } from './messages';
import { Deliveries, type DeliveryReport } from './deliveries';
import { Inbound, type InboundClient, type ReceivedEvent } from './inbound';
import { SOCKET_USER_HEADER, WebMessenger, type WebPost } from './web-messenger';
import { LoginMerge, type MovedMessage } from './merge';
import { type BatchClaim, type StreamSubscription } from './webhook-stream';

export type Activity =
  | { type: 'typing:start' | 'typing:stop' | 'conversation:read'; author: { type: 'business'; displayName?: string; avatarUrl?: string } }
  | { type: 'conversation:read'; author: { type: 'user'; userId: string } };




export type { ConversationInit, DeliveryReport, InboundClient, MessagePage, MovedMessage, NewMessage, ReceivedEvent, WebPost };
export { SOCKET_USER_HEADER, TYPING, WEB };

export class ConversationDO extends DurableObject<Env> {
  private core: Core;
  private messages: Messages;
  private deliveries: Deliveries;
  private inbound: Inbound;
  private web: WebMessenger;
  private merge: LoginMerge;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Env is read through the object at each use: tests swap it to fake a queue.
    this.core = new Core(ctx, () => this.env);
    this.messages = new Messages(this.core);
    this.deliveries = new Deliveries(this.core);
    this.inbound = new Inbound(this.core, this.messages, this.deliveries);
    this.web = new WebMessenger(this.core, this.messages, this.inbound);
    this.merge = new LoginMerge(this.core, this.messages);
    ctx.blockConcurrencyWhile(async () => migrate(this.core.sql));
  }

  // ---- conversation -------------------------------------------------------

  create(init: ConversationInit): Result<{ conversation: Conversation; participants: Participant[] }> {
    const existing = this.core.record.row();
    if (existing) {
      // A retried create (same id) answers with what was stored.
      if (existing.deleted_at) return fail(409, 'conflict', 'Conversation id was used by a deleted conversation');
      return { ok: true, value: { conversation: toConversation(existing), participants: this.core.people.all() } };
    }
    const now = new Date().toISOString();
    this.core.transact(() => {
      this.core.record.insert(init, now);
      for (const p of init.participants) this.core.people.insert(p.userId, p.userExternalId, now);
      this.core.enqueueConversation();
      const first = init.participants[0];
      const created = this.core.record.row()!;
      const user = first && { id: first.userId, ...(first.userExternalId ? { externalId: first.userExternalId } : {}) };
      this.core.raise(created, conversationCreateEvent(toConversation(created), init.creationReason ?? 'none', user, init.source));
    });
    this.core.afterCommit();
    return { ok: true, value: { conversation: toConversation(this.core.record.row()!), participants: this.core.people.all() } };
  }

  get(): Result<{ conversation: Conversation; participants: Participant[] }> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    return { ok: true, value: { conversation: toConversation(row), participants: this.core.people.all() } };
  }

  update(patch: ConversationUpdate): Result<Conversation> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    this.core.transact(() => {
      this.core.record.update(patch);
      this.core.enqueueConversation();
    });
    this.core.afterCommit();
    return { ok: true, value: toConversation(this.core.record.row()!) };
  }

  remove(): Result<null> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    if (row.is_default) return fail(400, 'bad_request', "The user's default conversation cannot be deleted; delete its messages instead");
    this.core.transact(() => {
      this.messages.clear();
      this.core.people.clear();
      this.core.ledger.clear();
      this.core.record.markDeleted();
      this.core.outbox.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      this.core.raise(row, removeEvent(toConversation(row)));
    });
    this.core.afterCommit();
    this.core.hub.close(undefined, 'conversation deleted');
    return { ok: true, value: null };
  }

  // ---- messages -----------------------------------------------------------

  postMessage(input: NewMessage): Result<Message> {
    return this.messages.post(input);
  }

  // ---- channels: inbound ------------------------------------------------------

  /**
   * Applies what a channel sent for one client of this conversation, in the
   * channel's order: messages (deduped on the channel's id, numbered and
   * labelled answers mapped back to the payload offered), postbacks,
   * referrals, read and typing activity, and receipts for Parley's own sends.
   * A redelivered webhook changes nothing.
   */
  receive(client: InboundClient, events: ReceivedEvent[]): Result<{ stored: number; duplicates: number }> {
    return this.inbound.receive(client, events);
  }

  // ---- Web Messenger ----------------------------------------------------------

  /**
   * A message the Web Messenger posted for its user. `clientMessageId` makes
   * the browser's retry of a send whose answer it lost return the stored
   * message instead of a second one. A form response quotes its form and marks
   * it submitted.
   */
  clientPost(client: InboundClient, post: WebPost): Result<Message> {
    return this.web.post(client, post);
  }

  /** Postbacks, typing and read receipts from the Web Messenger: the channel pipeline's events, for a web client. */
  clientActivity(client: InboundClient, event: Extract<ReceivedEvent, { kind: 'postback' | 'typing' | 'read' }>): Result<null> {
    return this.web.activity(client, event);
  }

  /** A web client opened this conversation: it is registered, and `client:add` raised, before its first message. */
  addClient(client: InboundClient): Result<null> {
    return this.web.addClient(client);
  }

  /**
   * The anonymous side of a login merge, one page at a time: the first call
   * closes the conversation in the same synchronous step that reads it, so no
   * message can be acknowledged after the copy was taken (a tab still on the
   * anonymous session gets 404 and logs in again). Later pages, and a login
   * retried after a partial merge, read the closed conversation's messages
   * until `discardHistory` removes them.
   */
  handOver(afterSeq: number, limit: number): Result<MovedMessage[]> {
    return this.merge.handOver(afterSeq, limit);
  }

  /** After a merge copied them: the closed conversation's messages and participants go. */
  discardHistory(): void {
    this.merge.discardHistory();
  }

  /** Another conversation of a merged anonymous user now belongs to the user they logged in as. */
  reassign(fromUserId: string, toUserId: string, toExternalId: string): Result<{ conversation: Conversation; participants: Participant[] }> {
    return this.merge.reassign(fromUserId, toUserId, toExternalId);
  }

  /**
   * History moved in from a merged anonymous user: stored after the existing
   * messages with their original times and quotes, authored by `userId`,
   * without a second `conversation:message` (those were raised when they were
   * sent). Each keeps its dedupe key, so a login retried after a partial merge
   * moves nothing twice and a browser's retry of an unanswered send still
   * finds its message.
   */
  absorb(moved: MovedMessage[], from: string, userId: string): Result<number> {
    return this.merge.absorb(moved, from, userId);
  }

  /** The user logged in with the business's id: participants carry it from now on. */
  setUserExternalId(userId: string, externalId: string): void {
    this.merge.setUserExternalId(userId, externalId);
  }

  /** Browser sockets, upgraded by the Worker once it checked the session; the user must be a participant. */
  override async fetch(request: Request): Promise<Response> {
    return this.web.openSocket(request);
  }

  override webSocketMessage(): void {
    // Browsers only send keepalives, which the runtime answers; anything else is ignored.
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // The runtime already completed the close.
    }
  }

  // ---- channels: outbound (driven by the deliveries queue consumer) -------------

  claimDelivery(clientId: string, leaseMs: number): DeliveryClaim | { wait: number } | undefined {
    return this.deliveries.claim(clientId, leaseMs);
  }

  /**
   * Records how an attempt ended and raises its event. Answers whether the
   * client has more deliveries waiting; false too when the lease had lapsed
   * (another consumer owns the delivery now, and its report is the one kept).
   */
  reportDelivery(deliveryId: number, leaseId: string, report: DeliveryReport): { more: boolean } {
    return this.deliveries.report(deliveryId, leaseId, report);
  }

  /** Keeps a long multi-part send's lease from lapsing under it; false when the lease is no longer this one. */
  extendDelivery(deliveryId: number, leaseId: string, until: number): boolean {
    return this.deliveries.extend(deliveryId, leaseId, until);
  }

  /**
   * Newest page by default; `before` walks back, `after` walks forward. Each
   * page is chronological. Cursors are message ids, resolved to `seq` here.
   */
  listMessages(page: { before?: string; after?: string; size: number; asUser?: string }): Result<MessagePage> {
    return this.messages.list(page);
  }

  deleteMessage(messageId: string): Result<null> {
    return this.messages.remove(messageId);
  }

  deleteAllMessages(): Result<null> {
    return this.messages.removeAll();
  }

  // ---- participants -------------------------------------------------------

  join(user: { userId: string; userExternalId: string | null }): Result<Participant> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    if (row.type !== 'sdkGroup') return fail(400, 'bad_request', 'Only sdkGroup conversations accept new participants');
    const existing = this.core.people.byUser(user.userId);
    if (existing) return { ok: true, value: toParticipant(existing) };
    const count = this.core.people.count();
    if (count >= LIMITS.sdkGroupParticipants) return fail(400, 'bad_request', `Too many participants: an sdkGroup conversation holds at most ${LIMITS.sdkGroupParticipants}`);
    this.core.transact(() => {
      this.core.people.insert(user.userId, user.userExternalId, new Date().toISOString());
      this.core.enqueueConversation();
      this.core.raise(row, joinEvent(toConversation(row), { id: user.userId, ...(user.userExternalId ? { externalId: user.userExternalId } : {}) }));
    });
    this.core.afterCommit();
    return { ok: true, value: toParticipant(this.core.people.byUser(user.userId)!) };
  }

  leave(who: { userId?: string; participantId?: string }): Result<{ userId: string; participantId: string }> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    const p = who.participantId
      ? this.core.people.byId(who.participantId)
      : this.core.people.byUser(who.userId!);
    if (!p) return fail(404, 'participant_not_found', 'The user is not a participant of this conversation');
    if (row.type === 'personal') return fail(400, 'bad_request', 'The participant of a personal conversation cannot leave it');
    this.core.transact(() => {
      this.core.people.remove(p.id);
      this.core.outbox.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId: p.user_id });
      this.core.raise(row, leaveEvent(toConversation(row), userRef(p)));
    });
    this.core.afterCommit();
    this.core.hub.close(p.user_id, 'left the conversation');
    return { ok: true, value: { userId: p.user_id, participantId: p.id } };
  }

  listParticipants(page: { after?: string; before?: string; size: number }): Result<{ participants: Participant[]; hasMore: boolean }> {
    if (!this.core.record.live()) return NOT_FOUND;
    return { ok: true, value: this.core.people.page(page) };
  }

  /** Removes a deleted user from this conversation; a personal conversation also loses its messages. */
  forgetUser(userId: string): Result<null> {
    const row = this.core.record.live();
    if (!row) return { ok: true, value: null };
    this.core.transact(() => {
      this.core.people.removeUser(userId);
      this.core.outbox.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId });
      if (row.type === 'personal') {
        const top = this.messages.topSeq();
        this.messages.clear();
        this.core.ledger.clear();
        this.core.record.markDeleted();
        if (top !== null) this.core.outbox.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
        this.core.outbox.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      }
    });
    this.core.afterCommit();
    this.core.hub.close(userId, 'user removed');
    return { ok: true, value: null };
  }

  // ---- activities ---------------------------------------------------------

  activity(activity: Activity): Result<Conversation> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    if (activity.type !== 'conversation:read') {
      // Open Web Messenger tabs see it at once; a channel client that can show it gets it in order with its messages.
      const { displayName, avatarUrl } = activity.author as { displayName?: string; avatarUrl?: string };
      this.core.hub.hold({
        type: 'typing',
        state: activity.type === 'typing:start' ? 'start' : 'stop',
        author: { type: 'business', ...(displayName ? { displayName } : {}), ...(avatarUrl ? { avatarUrl } : {}) },
      });
      this.core.hub.flush();
      const client = this.core.ledger.destination({});
      if (client && client.type !== WEB) {
        this.core.transact(() => {
          this.core.ledger.add(TYPING, client.id, JSON.stringify({ typing: activity.type === 'typing:start', at: Date.now() }));
          this.core.outbox.enqueueDeliveryKick(row.app_id, row.id, client.id);
        });
        this.core.afterCommit();
      }
      return { ok: true, value: toConversation(row) };
    }
    const now = new Date().toISOString();
    if (activity.author.type === 'business') {
      this.core.hub.hold({ type: 'read', author: { type: 'business' }, at: now });
      this.core.transact(() => {
        this.core.record.businessRead(now);
        this.core.outbox.enqueue('index', { op: 'conversation.touch', appId: row.app_id, conversationId: row.id, businessLastRead: now });
      });
      this.core.afterCommit();
    } else {
      const p = this.core.people.byUser(activity.author.userId);
      if (!p) return fail(400, 'bad_request', 'author.userId: the user is not a participant of this conversation');
      this.core.transact(() => {
        this.core.people.read(p.id, now);
        this.core.raise(row, readEvent(toConversation(row), userRef(p)));
        this.core.hub.hold({ type: 'read', author: { type: 'user', userId: p.user_id }, at: now });
      });
      this.core.afterCommit();
    }
    return { ok: true, value: toConversation(this.core.record.row()!) };
  }

  // ---- webhook delivery (driven by the webhooks queue consumer) ----------

  /** `webhookIds`: every webhook of the app, as the consumer knows them (cursors of the others are never kicked for). */
  claimWebhookBatch(sub: StreamSubscription, limit: number, leaseMs: number, webhookIds?: string[]): BatchClaim {
    if (webhookIds) this.core.stream.adopt(webhookIds);
    const claim = this.core.stream.claim(sub, limit, leaseMs);
    this.core.watch.webhookServed(sub.id);
    // Whatever the answer, a lease or a pending retry must be backed by an alarm (it may have been lost in a crash).
    this.core.scheduleAlarm();
    return claim;
  }

  /** The batch was acknowledged or dead-lettered; says whether more events wait (false too when the lease was stale). */
  settleWebhook(sub: StreamSubscription, leaseId: string, lastSeq: number, stillFailing: boolean): { more: boolean } {
    const settled = this.core.stream.settle(sub.id, leaseId, lastSeq, stillFailing);
    this.core.watch.webhookServed(sub.id);
    this.core.scheduleAlarm();
    return { more: settled && this.core.stream.hasPending(sub) };
  }

  retryWebhook(webhookId: string, leaseId: string, retryAt: number): void {
    this.core.stream.retryLater(webhookId, leaseId, retryAt);
    this.core.watch.webhookServed(webhookId);
    this.core.scheduleAlarm();
  }

  /** The consumer served a kick for an app without webhooks: the events so far are owed to no one. */
  webhooksUnsubscribed(): void {
    this.core.stream.noWebhooks();
    this.core.watch.webhookServed();
    this.core.scheduleAlarm();
  }

  /**
   * The index consumer applied these outbox rows to D1: they leave the outbox.
   * Index ops stay in the outbox until confirmed, so one lost on its way (a
   * queue message lost in a crash) is sent again by the alarm. The cost is
   * this one call per conversation per index batch; the rows it deletes were
   * deleted at send time before, so no row is written more.
   */
  indexApplied(ids: number[]): void {
    this.core.outbox.indexApplied(ids);
  }

  /** Asks the consumer to come back (it stopped early with events still pending). */
  kickWebhooks(): void {
    const owner = this.streamOwner();
    if (!owner) return;
    this.core.outbox.enqueueKick(owner.appId, owner.id);
    this.core.afterCommit();
  }

  /**
   * User-level events (user:remove, later user:update) have no conversation;
   * they go through an object of this class named after the user (user and
   * conversation ids never collide), which gives them the same ordered,
   * retried, per-webhook delivery. `client:add` from a channel's first contact
   * is raised by the conversation the client wrote into, in order with that
   * first message.
   */
  raiseUserEvent(appId: string, userId: string, event: WebhookEvent): void {
    this.core.transact(() => {
      this.core.sql.exec('INSERT INTO stream_owner (only_row, app_id, owner_id) VALUES (1, ?, ?) ON CONFLICT DO NOTHING', appId, userId);
      this.core.stream.append(event);
      this.core.outbox.enqueueKick(appId, userId);
    });
    this.core.afterCommit();
  }

  /**
   * On a user's object: records the first conversation id offered as the user's
   * default and answers the recorded one, so exactly one concurrent create wins.
   */
  claimDefaultConversation(conversationId: string): string {
    this.core.sql.exec('INSERT INTO default_conversation (only_row, conversation_id) VALUES (1, ?) ON CONFLICT DO NOTHING', conversationId);
    return this.core.sql.exec<{ conversation_id: string }>('SELECT conversation_id FROM default_conversation').one().conversation_id;
  }

  /** Empties the object for good (its app was deleted): storage, alarm and all; the schema is recreated empty. */
  async purge(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.core.outbox.forget();
    this.core.watch.forget();
    migrate(this.core.sql);
  }

  /** Stored events by id, as one JSON array string, for replaying chosen events. */
  eventsById(ids: string[]): string {
    return this.core.stream.byIds(ids);
  }

  /** Whose events this object streams: its conversation, or the user it was named after. */
  private streamOwner(): { appId: string; id: string } | undefined {
    const row = this.core.record.row();
    if (row) return { appId: row.app_id, id: row.id };
    const owner = this.core.sql.exec<{ app_id: string; owner_id: string }>('SELECT app_id, owner_id FROM stream_owner').toArray()[0];
    return owner && { appId: owner.app_id, id: owner.owner_id };
  }

  // ---- alarm ------------------------------------------------------------

  override async alarm(): Promise<void> {
    await this.core.outbox.alarm(
      () => this.streamOwner(),
      () => {
        const row = this.core.record.row();
        return row && { appId: row.app_id, id: row.id };
      },
    );
  }
}

