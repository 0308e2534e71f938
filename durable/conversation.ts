/**
 * ConversationDO: the single writer of one conversation. It owns the
 * conversation record, its participants and read state, and its messages with
 * their strictly increasing `seq`. Every side effect of a commit (index rows,
 * webhook and delivery kicks) is written to the outbox in the same
 * transaction and drained to its Queue after the commit, with an alarm that
 * retries the drain, so an acknowledged message is never lost. An object of
 * this class named after a user plays the user's role instead (user-level
 * events, the user's default conversation).
 *
 * This class is only the RPC surface: each method hands over to the part
 * whose job it is (see `Core` for what they share). Results cross the RPC
 * boundary as `Result` values because custom error fields do not survive RPC
 * serialization.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../src/env';
import type { Result } from '../src/http/errors';
import type { Conversation, ConversationUpdate, Participant } from '../src/schema/conversation';
import type { Message } from '../src/schema/message';
import type { FeedClaim } from '../src/schema/webhook-queue';
import type { WebhookEvent } from '../src/webhooks/events';
import { Activities, type Activity } from './activity';
import { TYPING, WEB, type DeliveryClaim, type LedgerClient } from './channel-ledger';
import { Core } from './core';
import { Deliveries, type DeliveryReport } from './deliveries';
import { Inbound, type InboundClient, type ReceivedEvent } from './inbound';
import { Lifecycle } from './lifecycle';
import { LoginMerge, type MovedMessage } from './merge';
import { Messages, type MessagePage, type NewMessage } from './messages';
import type { ConversationInit } from './record';
import { currentRetention, retentionDue } from './retention';
import { migrate } from './schema';
import { UserObject } from './user-object';
import { WebhookFeed, type FeedReport } from './webhook-feed';
import { SOCKET_USER_HEADER, WebMessenger, type WebPost } from './web-messenger';
import { SwitchboardState, type ControlRequest } from './switchboard';
import { Notifications } from './notifications';
import { Linking, type LinkRequest } from './linking';
import type { AppPolicy } from '../src/schema/app';

// What the Worker imports from here, wherever it lives now.
export type { Activity, ControlRequest, ConversationInit, LinkRequest, DeliveryReport, FeedReport, InboundClient, MessagePage, MovedMessage, NewMessage, ReceivedEvent, WebPost };
export { SOCKET_USER_HEADER, TYPING, WEB };

export class ConversationDO extends DurableObject<Env> {
  private core: Core;
  private messages: Messages;
  private lifecycle: Lifecycle;
  private deliveries: Deliveries;
  private inbound: Inbound;
  private web: WebMessenger;
  private merge: LoginMerge;
  private activities: Activities;
  private user: UserObject;
  private feed: WebhookFeed;
  private switchboard: SwitchboardState;
  private notifications: Notifications;
  private linking: Linking;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Env is read through the object at each use: tests swap it to fake a queue.
    this.core = new Core(ctx, () => this.env);
    this.messages = new Messages(this.core);
    this.lifecycle = new Lifecycle(this.core, this.messages);
    this.deliveries = new Deliveries(this.core);
    this.inbound = new Inbound(this.core, this.messages, this.deliveries);
    this.web = new WebMessenger(this.core, this.messages, this.inbound);
    this.merge = new LoginMerge(this.core, this.messages);
    this.activities = new Activities(this.core);
    this.user = new UserObject(this.core);
    this.feed = new WebhookFeed(this.core);
    this.switchboard = new SwitchboardState(this.core, this.messages);
    this.notifications = new Notifications(this.core, this.messages, this.inbound);
    this.linking = new Linking(this.core, this.messages);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.core.sql);
      this.core.outbox.started();
    });
  }

  // ---- conversation -------------------------------------------------------

  create(init: ConversationInit): Result<{ conversation: Conversation; participants: Participant[] }> {
    return this.lifecycle.create(init);
  }

  get(): Result<{ conversation: Conversation; participants: Participant[] }> {
    return this.lifecycle.get();
  }

  update(patch: ConversationUpdate): Result<Conversation> {
    return this.lifecycle.update(patch);
  }

  remove(): Result<null> {
    return this.lifecycle.remove();
  }

  // ---- participants -------------------------------------------------------

  join(user: { userId: string; userExternalId: string | null }): Result<Participant> {
    return this.lifecycle.join(user);
  }

  leave(who: { userId?: string; participantId?: string }): Result<{ userId: string; participantId: string }> {
    return this.lifecycle.leave(who);
  }

  listParticipants(page: { after?: string; before?: string; size: number }): Result<{ participants: Participant[]; hasMore: boolean }> {
    return this.lifecycle.listParticipants(page);
  }

  /** Removes a deleted user from this conversation; a personal conversation also loses its messages. */
  forgetUser(userId: string): Result<null> {
    return this.lifecycle.forgetUser(userId);
  }

  // ---- messages and activities ----------------------------------------------

  postMessage(input: NewMessage): Result<Message> {
    return this.messages.post(input);
  }

  /** The messages of one API post (shorthand may make several), stored together in order, all or none. */
  postMessages(inputs: NewMessage[]): Result<Message[]> {
    return this.messages.postAll(inputs);
  }

  /** Newest page by default; `before` walks back, `after` walks forward; cursors are message ids. */
  listMessages(page: { before?: string; after?: string; size: number; asUser?: string }): Result<MessagePage> {
    return this.messages.list(page);
  }

  deleteMessage(messageId: string): Result<null> {
    return this.messages.remove(messageId);
  }

  deleteAllMessages(): Result<null> {
    return this.messages.removeAll();
  }

  activity(activity: Activity): Result<Conversation> {
    return this.activities.apply(activity);
  }

  // ---- switchboard --------------------------------------------------------

  /** passControl, offerControl, acceptControl or releaseControl, in order with the conversation's messages. */
  control(req: ControlRequest): Result<Conversation> {
    return this.switchboard.act(req);
  }

  // ---- channels: inbound --------------------------------------------------

  /** What a channel sent for one client of this conversation, in the channel's order; a redelivery changes nothing. */
  receive(client: InboundClient, events: ReceivedEvent[], policy?: AppPolicy): Result<{ stored: number; duplicates: number }> {
    return this.inbound.receive(client, events, policy);
  }

  /** A client removed through the API (not an `sdk` one): nothing more reaches it, and a message from its channel identity starts a new user. */
  removeClient(clientId: string, userId: string, view: Record<string, unknown>, reason: 'api' | 'theft' = 'api'): Result<null> {
    return this.inbound.removeClient(clientId, userId, view, reason);
  }

  /** createClient: a channel identity linked to this conversation's user (see durable/linking.ts). */
  link(req: LinkRequest): Result<{ message?: Message; already?: true }> {
    return this.linking.link(req);
  }

  /** A notification's message to the client it names (registered here if new); a retried notification id answers the stored message. */
  notify(client: InboundClient, notificationId: string, input: Pick<NewMessage, 'author' | 'content' | 'metadata' | 'override'>): Result<Message> {
    return this.notifications.send(client, notificationId, input);
  }

  // ---- channels: outbound (driven by the deliveries queue consumer) ---------

  claimDelivery(clientId: string, leaseMs: number): DeliveryClaim | { wait: number } | undefined {
    return this.deliveries.claim(clientId, leaseMs);
  }

  /** Answers whether the client has more deliveries waiting; false too when the lease had lapsed. */
  reportDelivery(deliveryId: number, leaseId: string, report: DeliveryReport): { more: boolean } {
    return this.deliveries.report(deliveryId, leaseId, report);
  }

  /** Keeps a long multi-part send's lease from lapsing under it; false when the lease is no longer this one. */
  extendDelivery(deliveryId: number, leaseId: string, until: number): boolean {
    return this.deliveries.extend(deliveryId, leaseId, until);
  }

  // ---- Web Messenger ------------------------------------------------------

  /** A message the Web Messenger posted for its user; a repeated `clientMessageId` answers the stored message. */
  clientPost(client: InboundClient, post: WebPost): Result<Message> {
    return this.web.post(client, post);
  }

  /** Postbacks, typing and read receipts from the Web Messenger: the channel pipeline's events, for a web client. */
  clientActivity(client: InboundClient, event: Extract<ReceivedEvent, { kind: 'postback' | 'typing' | 'read' }>, policy?: AppPolicy): Result<null> {
    return this.web.activity(client, event, policy);
  }

  /** The form a hosted form page shows, and the channel client its answer is posted as (clientPost with `onPage`). */
  pageForm(userId: string, messageId: string): Result<{ form: Message; client?: LedgerClient }> {
    return this.web.pageForm(userId, messageId);
  }

  /** A web client opened this conversation: it is registered, and `client:add` raised, before its first message. */
  addClient(client: InboundClient): Result<null> {
    return this.web.addClient(client);
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

  // ---- login merge --------------------------------------------------------

  /** The anonymous side of a merge, one page at a time; the first call closes the conversation. */
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

  /** History moved in from a merged anonymous user, authored by `userId`; nothing moves twice. */
  absorb(moved: MovedMessage[], from: string, userId: string): Result<number> {
    return this.merge.absorb(moved, from, userId);
  }

  /** The user logged in with the business's id: participants carry it from now on. */
  setUserExternalId(userId: string, externalId: string): void {
    this.merge.setUserExternalId(userId, externalId);
  }

  // ---- the feed: index ops and webhook delivery (driven by the webhooks queue consumer) ----

  /**
   * What the consumer did with a feed message (index ops D1 holds, batches
   * settled or to retry); answers each webhook's next batch, claimed.
   */
  feedReport(report: FeedReport): { claims: FeedClaim[] } {
    return this.feed.report(report);
  }

  /** Stored events by id, as one JSON array string, for replaying chosen events. */
  eventsById(ids: string[]): string {
    return this.feed.eventsById(ids);
  }

  // ---- the user's object --------------------------------------------------

  /** A user-level event (no conversation), raised on the object named after the user. */
  raiseUserEvent(appId: string, userId: string, event: WebhookEvent): void {
    this.user.raiseUserEvent(appId, userId, event);
  }

  /** On a user's object: the user's default conversation, the first id offered winning. */
  claimDefaultConversation(conversationId: string): string {
    return this.user.claimDefaultConversation(conversationId);
  }

  // ---- the object as a whole ----------------------------------------------

  /** Empties the object for good (its app was deleted): storage, alarm and all; the schema is recreated empty. */
  async purge(): Promise<void> {
    await this.core.purge();
  }

  /** Retries the outbox drain, sends unconfirmed index ops again, kicks the queues for what is owed and not served. */
  override async alarm(): Promise<void> {
    // The app's retention: a conversation quiet for longer than it loses its messages (the drain below sends the index op),
    // unless the app changed the setting since: then the new one is kept and the deadline moves.
    const row = this.core.record.row();
    const due = retentionDue(row);
    if (row && due !== null && due <= Date.now()) {
      const seconds = await currentRetention(this.env, row.app_id);
      if (seconds === row.retention_seconds) this.messages.removeAll();
      else if (seconds !== null) this.core.record.setRetention(row, seconds);
    }
    await this.core.outbox.alarm(
      () => {
        const row = this.core.record.row();
        return row && { appId: row.app_id, id: row.id };
      },
    );
  }
}
