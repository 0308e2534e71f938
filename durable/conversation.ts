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
import { newId } from '../src/ids';
import { LIMITS } from '../src/schema/common';
import type { Conversation, ConversationUpdate, Participant } from '../src/schema/conversation';
import type { IndexOp } from '../src/schema/index-ops';
import type { WebhookKick } from '../src/schema/webhook-queue';
import type { DeliveryKick } from '../src/schema/delivery-queue';
import type { Message, MessageSource, StoredAuthor } from '../src/schema/message';
import type { Choice } from '../src/channels/adapter';
import {
  clientAddEvent,
  conversationCreateEvent,
  deliveryEvent,
  joinEvent,
  leaveEvent,
  messageEvent,
  postbackEvent,
  readEvent,
  referralEvent,
  removeEvent,
  typingEvent,
  type EventSource,
  type UserRef,
  type WebhookEvent,
} from '../src/webhooks/events';
import { ConversationRecord, toConversation, type ConversationInit, type ConversationRow } from './record';
import { Participants, toParticipant, userRef, type ParticipantRow } from './participants';
import { ChannelLedger, type DeliveryClaim, type LedgerClient } from './channel-ledger';
import { migrate } from './schema';
import { WebhookStream, type BatchClaim, type StreamSubscription } from './webhook-stream';
import { SocketHub, type SocketFrame } from './socket-hub';
import { formResponseProblem } from '../src/web/forms';

export interface NewMessage {
  author: StoredAuthor;
  content: Message['content'];
  source: MessageSource;
  metadata?: Message['metadata'];
  /** Channel-level identity of the message (integration + channel message id); a repeat returns the stored message. */
  dedupeKey?: string;
  /** For business messages: which client gets it (default: the most recently active), or `none` for no delivery. */
  destination?: { integrationId: string } | { integrationType: string };
  /** Channel-native payloads that replace rendering for that channel. */
  override?: Record<string, { payload?: unknown }>;
}

/** A channel identity as the inbound pipeline resolved it. */
export interface InboundClient {
  id: string;
  integrationId: string;
  type: string;
  externalId: string;
  userId: string;
  userExternalId?: string;
  raw: Record<string, unknown> | null;
  /** The v2 client object, for the `client:add` event on first contact. */
  view: Record<string, unknown>;
}

/** One normalized inbound event, with media already turned into Parley URLs. */
export type ReceivedEvent =
  | { kind: 'message'; dedupeKey: string; author: StoredAuthor; content: Message['content']; source: MessageSource; quotedChannelMessageId?: string }
  | { kind: 'postback'; dedupeKey: string; payload?: string; choice?: number; text?: string }
  | { kind: 'referral'; dedupeKey: string; ref: string; referralSource?: string; referralType?: string }
  | { kind: 'read'; channelMessageId?: string; watermark?: number }
  | { kind: 'typing'; state: 'start' | 'stop' }
  | { kind: 'delivery'; status: 'sent' | 'delivered' | 'read' | 'failed'; channelMessageId?: string; watermark?: number; error?: { code: string; message: string } };

/** A message leaving an anonymous user's conversation in a merge, with the key that dedupes it. */
export interface MovedMessage {
  message: Message;
  dedupeKey: string;
}

/** A message the Web Messenger posts for its user (the session decides who). */
export interface WebPost {
  content: Message['content'];
  metadata?: Message['metadata'];
  clientMessageId?: string;
  quotedMessageId?: string;
}

/** How one delivery attempt ended, as the deliveries consumer reports it. */
export type DeliveryReport =
  | { ok: true; externalIds: string[]; choices: Choice[] }
  | { ok: false; retryAt: number; partsDone: number; partSent: number; externalIds: string[] }
  | { ok: false; failed: { code: string; message: string }; externalIds: string[] };

export interface MessagePage {
  messages: Message[];
  hasMore: boolean;
  beforeCursor?: string;
  afterCursor?: string;
}

export type Activity =
  | { type: 'typing:start' | 'typing:stop' | 'conversation:read'; author: { type: 'business'; displayName?: string; avatarUrl?: string } }
  | { type: 'conversation:read'; author: { type: 'user'; userId: string } };

type Queues = 'index' | 'webhooks' | 'deliveries';
type KickWatch = { name: string; kicked_at: number; rekicks: number };
type OutboxBody = IndexOp | WebhookKick | DeliveryKick;

type MessageRow = {
  seq: number;
  id: string;
  received: string;
  author: string;
  content: string;
  source: string;
  metadata: string | null;
}

const NOT_FOUND = fail(404, 'conversation_not_found', 'Conversation not found');
const NOT_PARTICIPANT = fail(403, 'forbidden', 'The session user is not a participant of this conversation');
/** Set by the Worker on a socket upgrade once it verified the session token; never taken from the browser. */
export const SOCKET_USER_HEADER = 'x-parley-socket-user';

const errorResponse = (status: number, code: string, title: string) => Response.json({ errors: [{ code, title }] }, { status });
/** The message id of a queued typing indicator: it rides the client's delivery queue but is no message and raises no event. */
export const TYPING = 'typing';
/** The integration type of Web Messenger clients (their v2 client type is `sdk`). */
export const WEB = 'web';
/** Queue sendBatch limits: 100 messages and 256 KB; stay under the byte limit with room for framing. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 200 * 1024;
/** Queue messages are limited to 128 KB; index rows above this keep a slim body (the DO keeps the full message). */
const MAX_OP_BYTES = 100 * 1024;
const utf8Bytes = (s: string) => new TextEncoder().encode(s).byteLength;
const DRAIN_RETRY_MS = 5_000;
/**
 * The safety net for lost queue messages (QUEUE_REKICK_MS overrides it): when
 * a queue consumer has made no progress on something this object still owes
 * (webhook events, channel deliveries, unconfirmed index ops) for this long
 * after the last kick, the alarm sends again, doubling the wait each time
 * nothing comes of it (up to 2^6 times).
 */
const REKICK_MS = 60_000;
const MAX_REKICK_DOUBLINGS = 6;

export type { ConversationInit };

export class ConversationDO extends DurableObject<Env> {
  private sql: SqlStorage;
  private stream: WebhookStream;
  private ledger: ChannelLedger;
  private hub: SocketHub;
  private record: ConversationRecord;
  private people: Participants;
  private draining = false;
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
  /**
   * When a queue consumer last showed progress here, by kick target
   * ('webhooks', 'webhook:<id>', 'deliveries:<clientId>'). In memory only: a
   * restart forgets it and at worst sends one kick too many.
   */
  private progress = new Map<string, number>();
  private drainAgain = false;
  /** When the alarm is set for, as last written by this instance; undefined until read. */
  private alarmAt: number | null | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.stream = new WebhookStream(this.sql);
    this.ledger = new ChannelLedger(this.sql);
    this.hub = new SocketHub(ctx);
    this.record = new ConversationRecord(this.sql);
    this.people = new Participants(this.sql);
    ctx.blockConcurrencyWhile(async () => migrate(this.sql));
  }

  // ---- conversation -------------------------------------------------------

  create(init: ConversationInit): Result<{ conversation: Conversation; participants: Participant[] }> {
    const existing = this.record.row();
    if (existing) {
      // A retried create (same id) answers with what was stored.
      if (existing.deleted_at) return fail(409, 'conflict', 'Conversation id was used by a deleted conversation');
      return { ok: true, value: { conversation: toConversation(existing), participants: this.people.all() } };
    }
    const now = new Date().toISOString();
    this.transact(() => {
      this.record.insert(init, now);
      for (const p of init.participants) this.people.insert(p.userId, p.userExternalId, now);
      this.enqueueConversation();
      const first = init.participants[0];
      const created = this.record.row()!;
      const user = first && { id: first.userId, ...(first.userExternalId ? { externalId: first.userExternalId } : {}) };
      this.raise(created, conversationCreateEvent(toConversation(created), init.creationReason ?? 'none', user, init.source));
    });
    this.afterCommit();
    return { ok: true, value: { conversation: toConversation(this.record.row()!), participants: this.people.all() } };
  }

  get(): Result<{ conversation: Conversation; participants: Participant[] }> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    return { ok: true, value: { conversation: toConversation(row), participants: this.people.all() } };
  }

  update(patch: ConversationUpdate): Result<Conversation> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    this.transact(() => {
      this.record.update(patch);
      this.enqueueConversation();
    });
    this.afterCommit();
    return { ok: true, value: toConversation(this.record.row()!) };
  }

  remove(): Result<null> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    if (row.is_default) return fail(400, 'bad_request', "The user's default conversation cannot be deleted; delete its messages instead");
    this.transact(() => {
      this.sql.exec('DELETE FROM messages');
      this.people.clear();
      this.ledger.clear();
      this.record.markDeleted();
      this.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      this.raise(row, removeEvent(toConversation(row)));
    });
    this.afterCommit();
    this.hub.close(undefined, 'conversation deleted');
    return { ok: true, value: null };
  }

  // ---- messages -----------------------------------------------------------

  postMessage(input: NewMessage): Result<Message> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    if (input.dedupeKey) {
      const seen = this.sql.exec<MessageRow>('SELECT * FROM messages WHERE dedupe_key = ?', input.dedupeKey).toArray()[0];
      if (seen) return { ok: true, value: toMessage(seen) };
    }
    const authorParticipant = input.author.type === 'user' ? this.people.byUser(input.author.userId!) : undefined;
    if (input.author.type === 'user' && !authorParticipant) {
      return fail(400, 'bad_request', 'author.userId: the user is not a participant of this conversation');
    }
    if (row.message_count >= LIMITS.messagesPerConversation) {
      return fail(423, 'locked', `The conversation holds ${LIMITS.messagesPerConversation} messages, the most it can; delete its messages to post more`);
    }
    let client: LedgerClient | undefined;
    const silent = input.destination && 'integrationType' in input.destination && input.destination.integrationType === 'none';
    if (input.author.type === 'business' && !silent) {
      client = this.ledger.destination(input.destination ?? {});
      if (input.destination && !client) return fail(400, 'bad_request', 'destination: the conversation has no client for that integration');
      // A Web Messenger client is served by the conversation's own sockets, not by a channel send.
      if (client?.type === WEB) client = undefined;
    }
    const message = this.transact(() => {
      const stored = this.insertMessage(row, input, authorParticipant && userRef(authorParticipant));
      if (client) {
        this.ledger.add(stored.id, client.id, JSON.stringify({ content: stored.content, ...(input.override ? { override: input.override } : {}) }));
        this.enqueueDeliveryKick(row.app_id, row.id, client.id);
      }
      return stored;
    });
    this.afterCommit();
    return { ok: true, value: message };
  }

  /**
   * Stores one message with the next seq, queues its index row and, unless it
   * is history moved in by a merge, its webhook event; runs inside a transaction.
   */
  private insertMessage(
    row: ConversationRow,
    input: NewMessage & { quotedMessage?: Message['quotedMessage']; received?: string },
    author?: UserRef,
    announce = true,
  ): Message {
    const id = newId();
    const received = input.received ?? new Date().toISOString();
    const stored0 = { ...input.author };
    delete stored0.userExternalId;
    const seq = this.sql
      .exec<{ seq: number }>(
        `INSERT INTO messages (id, received, author, content, source, metadata, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
        id,
        received,
        JSON.stringify(stored0),
        JSON.stringify(input.content),
        JSON.stringify(input.quotedMessage ? { ...input.source, quotedMessage: input.quotedMessage } : input.source),
        input.metadata ? JSON.stringify(input.metadata) : null,
        input.dedupeKey ?? null,
      )
      .one().seq;
    this.record.messageAdded(received);
    this.people.messageFrom(stored0.userId ?? null);
    const stored: Message = {
      id,
      received,
      seq,
      author: stored0,
      content: input.content,
      source: input.source,
      ...(input.quotedMessage ? { quotedMessage: input.quotedMessage } : {}),
      ...(input.metadata ? { metadata: input.metadata } : {}),
    };
    this.enqueueMessageIndex(row, stored);
    if (announce) this.raise(row, messageEvent(toConversation(row), stored, author));
    this.hub.hold({ type: 'message', message: stored });
    return stored;
  }

  /** Queues a message's row for the D1 index (keyed: a later copy of the same message replaces it). */
  private enqueueMessageIndex(row: ConversationRow, m: Message): void {
    this.enqueue('index', {
      op: 'message.upsert',
      appId: row.app_id,
      conversationId: row.id,
      message: {
        id: m.id,
        seq: m.seq!,
        received: m.received,
        authorType: m.author.type,
        authorUserId: m.author.userId ?? null,
        contentType: m.content.type,
        text: m.content.text ?? null,
        body: JSON.stringify(m),
      },
    });
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
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const participant = this.people.byUser(client.userId);
    if (!participant) return fail(400, 'bad_request', 'The client user is not a participant of this conversation');
    const user = userRef(participant);
    const source: EventSource = { type: client.type, integrationId: client.integrationId };
    const now = Date.now();
    let stored = 0;
    let duplicates = 0;
    let full = false;
    this.transact(() => {
      const wroteIn = events.some((e) => e.kind === 'message' || e.kind === 'postback' || e.kind === 'referral');
      if (this.ledger.touchClient(client, wroteIn ? now : undefined, now)) {
        this.people.setClients(participant.id, this.ledger.clientsOf(client.userId));
        this.raise(row, clientAddEvent(user, client.view, source));
      }
      const conversation = toConversation(row);
      for (const e of events) {
        switch (e.kind) {
          case 'message': {
            // Full: refuse before marking the id seen, so the channel's redelivery can store it once there is room.
            if (row.message_count + stored >= LIMITS.messagesPerConversation) {
              full = true;
              break;
            }
            if (!this.ledger.firstSight(e.dedupeKey, now)) {
              duplicates++;
              break;
            }
            const choice = e.content.type === 'text' && !('payload' in e.content && e.content.payload) ? this.answerTo(client.id, e.content.text ?? '') : undefined;
            const content = choice?.kind === 'reply' ? { ...e.content, payload: choice.payload } : e.content;
            const quoted = e.quotedChannelMessageId ? this.quoted(client.id, e.quotedChannelMessageId) : undefined;
            this.insertMessage(this.record.row()!, { author: e.author, content, source: e.source, ...(quoted ? { quotedMessage: quoted } : {}) }, user);
            stored++;
            if (choice?.kind === 'postback') this.raise(row, postbackEvent(conversation, user, { payload: choice.payload, text: choice.text }, source));
            break;
          }
          case 'postback': {
            if (!this.ledger.firstSight(e.dedupeKey, now)) {
              duplicates++;
              break;
            }
            const chosen = e.choice !== undefined ? this.ledger.choices(client.id).find((c) => c.number === e.choice) : undefined;
            if (chosen?.kind === 'reply') {
              // A quick reply the channel could only show as a button (Telegram): the tap is the user's answer, a message.
              const author: StoredAuthor = { type: 'user', userId: client.userId };
              const source: MessageSource = { type: client.type, integrationId: client.integrationId, originalMessageId: e.dedupeKey.split(':').pop()! };
              this.insertMessage(this.record.row()!, { author, content: { type: 'text', text: chosen.text, payload: chosen.payload }, source }, user);
              stored++;
              break;
            }
            const payload = e.payload ?? chosen?.payload;
            if (payload === undefined) break;
            this.raise(row, postbackEvent(conversation, user, { payload, ...(e.text ?? chosen?.text ? { text: e.text ?? chosen?.text } : {}) }, source));
            break;
          }
          case 'referral':
            if (!this.ledger.firstSight(e.dedupeKey, now)) {
              duplicates++;
              break;
            }
            this.raise(row, referralEvent(conversation, user, { code: e.ref, details: { ...(e.referralSource ? { source: e.referralSource } : {}), ...(e.referralType ? { type: e.referralType } : {}) } }, source));
            break;
          case 'read':
            if ((e.channelMessageId || e.watermark !== undefined) && !this.ledger.firstSight(`read:${client.id}:${e.channelMessageId ?? e.watermark}`, now)) {
              duplicates++;
              break;
            }
            this.people.read(participant.id, new Date(now).toISOString());
            this.raise(row, readEvent(conversation, user, source));
            this.hub.hold({ type: 'read', author: { type: 'user', userId: client.userId }, at: new Date(now).toISOString() });
            break;
          case 'typing':
            this.raise(row, typingEvent(conversation, user, e.state, source));
            this.hub.hold({ type: 'typing', state: e.state, author: { type: 'user', userId: client.userId } });
            break;
          case 'delivery':
            this.receipt(row, user, client, e);
            break;
        }
      }
    });
    this.afterCommit();
    if (full) return fail(423, 'locked', `The conversation holds ${LIMITS.messagesPerConversation} messages, the most it can; delete its messages to receive more`);
    return { ok: true, value: { stored, duplicates } };
  }

  // ---- Web Messenger ----------------------------------------------------------

  /**
   * A message the Web Messenger posted for its user. `clientMessageId` makes
   * the browser's retry of a send whose answer it lost return the stored
   * message instead of a second one. A form response quotes its form and marks
   * it submitted.
   */
  clientPost(client: InboundClient, post: WebPost): Result<Message> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const participant = this.people.byUser(client.userId);
    if (!participant) return NOT_PARTICIPANT;
    const dedupeKey = post.clientMessageId ? `${WEB}:${client.id}:${post.clientMessageId}` : undefined;
    if (dedupeKey) {
      const seen = this.sql.exec<MessageRow>('SELECT * FROM messages WHERE dedupe_key = ?', dedupeKey).toArray()[0];
      if (seen) return { ok: true, value: toMessage(seen) };
    }
    let content = post.content;
    if (content.type === 'text' && content.payload !== undefined) {
      // A quick-reply answer is a choice: it counts only if the business offered it here, and says the reply's label.
      const label = this.offeredLabel('reply', content.payload);
      if (label === undefined) return fail(400, 'bad_request', 'content.payload: no quick reply with this payload was offered in this conversation');
      content = { ...content, text: label };
    }
    if (row.message_count >= LIMITS.messagesPerConversation) {
      return fail(423, 'locked', `The conversation holds ${LIMITS.messagesPerConversation} messages, the most it can; delete its messages to post more`);
    }
    let quoted: Message | undefined;
    if (post.quotedMessageId) {
      const found = this.sql.exec<MessageRow>('SELECT * FROM messages WHERE id = ?', post.quotedMessageId).toArray()[0];
      if (!found) return fail(400, 'bad_request', 'content.quotedMessageId: no message with this id in the conversation');
      quoted = toMessage(found);
      if (post.content.type === 'formResponse') {
        if (quoted.content.type !== 'form') return fail(400, 'bad_request', 'content.quotedMessageId: a form response must quote a form');
        if ((quoted.content as { submitted?: boolean }).submitted) return fail(409, 'conflict', 'content.quotedMessageId: this form was already answered');
        const problem = formResponseProblem(quoted.content.fields, post.content.fields);
        if (problem) return fail(400, 'bad_request', problem);
      }
      // The answer quotes the form as it is once answered.
      if (quoted.content.type === 'form') quoted = { ...quoted, content: { ...quoted.content, submitted: true } as Message['content'] };
    }
    const user = userRef(participant);
    const source: MessageSource = { type: WEB, integrationId: client.integrationId, ...(post.clientMessageId ? { originalMessageId: post.clientMessageId } : {}) };
    const message = this.transact(() => {
      this.touchWebClient(row, client, participant, Date.now(), true);
      if (quoted?.content.type === 'form') {
        // The form changed: the index and open tabs get it again, now submitted.
        const form = this.sql
          .exec<MessageRow>(`UPDATE messages SET content = json_set(content, '$.submitted', json('true')) WHERE id = ? RETURNING *`, quoted.id)
          .one();
        this.enqueueMessageIndex(row, toMessage(form));
        this.hub.hold({ type: 'message', message: toMessage(form) });
      }
      return this.insertMessage(
        this.record.row()!,
        {
          author: { type: 'user', userId: client.userId },
          content,
          source,
          ...(post.metadata ? { metadata: post.metadata } : {}),
          ...(dedupeKey ? { dedupeKey } : {}),
          ...(quoted ? { quotedMessage: { type: 'message', message: quoted } } : {}),
        },
        user,
      );
    });
    this.afterCommit();
    return { ok: true, value: message };
  }

  /** Postbacks, typing and read receipts from the Web Messenger: the channel pipeline's events, for a web client. */
  clientActivity(client: InboundClient, event: Extract<ReceivedEvent, { kind: 'postback' | 'typing' | 'read' }>): Result<null> {
    if (!this.record.live()) return NOT_FOUND;
    const participant = this.people.byUser(client.userId);
    if (!participant) return NOT_PARTICIPANT;
    // Every open tab reports the read; once nothing is unread a repeat tells the business nothing new.
    if (event.kind === 'read' && participant.unread_count === 0) return { ok: true, value: null };
    if (event.kind === 'postback') {
      // A browser can send anything: only a button the business offered here is a postback it may trust.
      const offered = this.offeredLabel('postback', event.payload ?? '');
      if (offered === undefined) return fail(400, 'bad_request', 'payload: no postback button with this payload was offered in this conversation');
      event = { ...event, text: offered };
    }
    const received = this.receive(client, [event]);
    return received.ok ? { ok: true, value: null } : received;
  }

  /**
   * The label of the postback button or quick reply (`kind`) with this payload
   * among the business's recent messages in this conversation, if one was
   * offered: what a browser sends is only a choice when the business offered it.
   */
  private offeredLabel(kind: 'postback' | 'reply', payload: string): string | undefined {
    const rows = this.sql
      .exec<{ content: string }>(`SELECT content FROM messages WHERE json_extract(author, '$.type') = 'business' AND instr(content, ?) > 0 ORDER BY seq DESC LIMIT 50`, JSON.stringify(payload))
      .toArray();
    for (const r of rows) {
      const c = JSON.parse(r.content) as { actions?: { type: string; payload?: string; text: string }[]; items?: { actions?: { type: string; payload?: string; text: string }[] }[] };
      const actions = [...(c.actions ?? []), ...(c.items ?? []).flatMap((i) => i.actions ?? [])];
      const hit = actions.find((a) => a.type === kind && a.payload === payload);
      if (hit) return hit.text;
    }
    return undefined;
  }

  /** A web client opened this conversation: it is registered, and `client:add` raised, before its first message. */
  addClient(client: InboundClient): Result<null> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const participant = this.people.byUser(client.userId);
    if (!participant) return NOT_PARTICIPANT;
    this.transact(() => this.touchWebClient(row, client, participant, Date.now(), false));
    this.afterCommit();
    return { ok: true, value: null };
  }

  /** The first write of a web client in this conversation registers it, as a channel's first contact does. */
  private touchWebClient(row: ConversationRow, client: InboundClient, participant: ParticipantRow, now: number, wrote: boolean): void {
    if (!this.ledger.touchClient(client, wrote ? now : undefined, now)) return;
    this.people.setClients(participant.id, this.ledger.clientsOf(client.userId));
    this.raise(row, clientAddEvent(userRef(participant), client.view, { type: WEB, integrationId: client.integrationId }));
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
    const row = this.record.row();
    if (!row) return NOT_FOUND;
    if (!row.deleted_at) {
      this.transact(() => {
        const top = this.sql.exec<{ s: number | null }>('SELECT max(seq) AS s FROM messages').one().s;
        this.ledger.clear();
        this.record.markDeleted();
        if (top !== null) this.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
        this.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      });
      this.afterCommit();
      this.hub.close(undefined, 'merged into the logged-in user');
    }
    const page = this.sql
      .exec<MessageRow & { dedupe_key: string | null }>('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit)
      .toArray()
      .map((r) => ({ message: toMessage(r), dedupeKey: r.dedupe_key ?? `merged:${r.id}` }));
    return { ok: true, value: page };
  }

  /** After a merge copied them: the closed conversation's messages and participants go. */
  discardHistory(): void {
    if (!this.record.row()?.deleted_at) return;
    this.transact(() => {
      this.sql.exec('DELETE FROM messages');
      this.people.clear();
    });
  }

  /** Another conversation of a merged anonymous user now belongs to the user they logged in as. */
  reassign(fromUserId: string, toUserId: string, toExternalId: string): Result<{ conversation: Conversation; participants: Participant[] }> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const p = this.people.byUser(fromUserId);
    if (!p) return { ok: true, value: { conversation: toConversation(row), participants: this.people.all() } };
    this.transact(() => {
      if (this.people.byUser(toUserId)) this.people.remove(p.id);
      else this.people.reassign(p.id, toUserId, toExternalId);
      this.sql.exec(`UPDATE messages SET author = json_set(author, '$.userId', ?) WHERE json_extract(author, '$.userId') = ?`, toUserId, fromUserId);
      this.ledger.reassignUser(fromUserId, toUserId);
      this.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId: fromUserId });
      this.enqueueConversation();
    });
    this.afterCommit();
    this.hub.close(fromUserId, 'merged into the logged-in user');
    return { ok: true, value: { conversation: toConversation(this.record.row()!), participants: this.people.all() } };
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
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    if (!this.people.byUser(userId)) return NOT_PARTICIPANT;
    let stored = 0;
    this.transact(() => {
      for (const { message: m, dedupeKey } of moved) {
        if (this.sql.exec('SELECT 1 FROM messages WHERE dedupe_key = ?', dedupeKey).toArray().length > 0) continue;
        const author = m.author.type === 'user' && m.author.userId === from ? { ...m.author, userId } : m.author;
        this.insertMessage(
          this.record.row()!,
          {
            author,
            content: m.content,
            source: m.source,
            received: m.received,
            dedupeKey,
            ...(m.metadata ? { metadata: m.metadata } : {}),
            ...(m.quotedMessage ? { quotedMessage: m.quotedMessage } : {}),
          },
          undefined,
          false,
        );
        stored++;
      }
    });
    this.afterCommit();
    return { ok: true, value: stored };
  }

  /** The user logged in with the business's id: participants carry it from now on. */
  setUserExternalId(userId: string, externalId: string): void {
    this.people.setExternalId(userId, externalId);
  }

  /** Browser sockets, upgraded by the Worker once it checked the session; the user must be a participant. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return errorResponse(426, 'upgrade_required', 'Expected a WebSocket upgrade');
    if (!this.record.live()) return errorResponse(404, 'conversation_not_found', 'Conversation not found');
    const userId = request.headers.get(SOCKET_USER_HEADER);
    if (!userId || !this.people.byUser(userId)) return errorResponse(403, 'forbidden', 'The session user is not a participant of this conversation');
    const after = Number(new URL(request.url).searchParams.get('after') ?? 0);
    return this.hub.open(userId, Number.isSafeInteger(after) && after > 0 ? after : 0, (from, limit) =>
      this.sql.exec<MessageRow>('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', from, limit).toArray().map(toMessage),
    );
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

  /** A typed answer to the options the client was last offered: a number for numbered ones, a label for quick replies. */
  private answerTo(clientId: string, text: string): Choice | undefined {
    const choices = this.ledger.choices(clientId);
    if (choices.length === 0) return undefined;
    const typed = text.trim();
    if (/^\d{1,2}$/.test(typed)) {
      const byNumber = choices.find((c) => c.numbered && c.number === Number(typed));
      if (byNumber) return byNumber;
    }
    return choices.find((c) => !c.numbered && c.kind === 'reply' && c.text === typed);
  }

  private quoted(clientId: string, channelMessageId: string): Message['quotedMessage'] {
    const messageId = this.ledger.sentMessage(clientId, channelMessageId);
    const found = messageId ? this.sql.exec<MessageRow>('SELECT * FROM messages WHERE id = ?', messageId).toArray()[0] : undefined;
    return found ? { type: 'message', message: toMessage(found) } : { type: 'externalMessageId', externalMessageId: channelMessageId };
  }

  /** Receipts for Parley's sends: delivered → delivery:user, read → conversation:read, failed → delivery:failure. */
  private receipt(row: ConversationRow, user: UserRef, client: InboundClient, e: Extract<ReceivedEvent, { kind: 'delivery' }>): void {
    if (e.status === 'sent') return;
    const now = Date.now();
    if (e.channelMessageId) {
      const messageId = this.ledger.sentMessage(client.id, e.channelMessageId);
      // The receipt overtook the report of its own send (a multi-part message still going out): it waits for it.
      if (!messageId) this.ledger.park(client.id, e.channelMessageId, e.status, e.error, now);
      else this.raiseReceipt(row, user, { type: client.type, integrationId: client.integrationId }, messageId, e.status, e.channelMessageId, e.error);
      return;
    }
    if (e.watermark === undefined) return;
    if (e.status === 'read') {
      this.raiseReceipt(row, user, { type: client.type, integrationId: client.integrationId }, undefined, 'read', `watermark:${e.watermark}`);
      return;
    }
    for (const messageId of this.ledger.deliveredUpTo(client.id, e.watermark)) {
      this.raiseReceipt(row, user, { type: client.type, integrationId: client.integrationId }, messageId, e.status, undefined, e.error);
    }
  }

  /** Raises one receipt's event once per (client, channel id or message, status). */
  private raiseReceipt(
    row: ConversationRow,
    user: UserRef,
    destination: { type: string; integrationId: string },
    messageId: string | undefined,
    status: string,
    channelMessageId: string | undefined,
    error?: { code: string; message: string },
  ): void {
    if (!this.ledger.firstSight(`${status}:${destination.integrationId}:${user.id}:${channelMessageId ?? messageId}`, Date.now())) return;
    const conversation = toConversation(row);
    if (status === 'read') {
      this.people.readByUser(user.id, new Date().toISOString());
      this.raise(row, readEvent(conversation, user, destination));
      return;
    }
    if (!messageId) return;
    const ids = channelMessageId ? [channelMessageId] : [];
    if (status === 'failed') {
      this.raise(row, deliveryEvent('failure', conversation, user, messageId, destination, ids, error ?? { code: 'uncategorized_error', message: 'The channel reported the message failed' }));
    } else {
      this.raise(row, deliveryEvent('user', conversation, user, messageId, destination, ids));
    }
  }

  // ---- channels: outbound (driven by the deliveries queue consumer) -------------

  claimDelivery(clientId: string, leaseMs: number): DeliveryClaim | { wait: number } | undefined {
    if (!this.record.live()) {
      // Deleted since the message was queued: nothing more goes out, and nothing of it stays.
      this.ledger.clear();
      return undefined;
    }
    const claim = this.ledger.claim(clientId, leaseMs, Date.now());
    this.progress.set(`deliveries:${clientId}`, Date.now());
    this.ctx.waitUntil(this.scheduleAlarm());
    return claim;
  }

  /**
   * Records how an attempt ended and raises its event. Answers whether the
   * client has more deliveries waiting; false too when the lease had lapsed
   * (another consumer owns the delivery now, and its report is the one kept).
   */
  reportDelivery(deliveryId: number, leaseId: string, report: DeliveryReport): { more: boolean } {
    const row = this.record.row();
    const delivery = this.ledger.leased(deliveryId, leaseId);
    if (!row || !delivery) return { more: false };
    this.progress.set(`deliveries:${delivery.client_id}`, Date.now());
    const client = this.ledger.client(delivery.client_id);
    const participant = client && this.people.byUser(client.userId);
    this.transact(() => {
      if ('retryAt' in report) {
        this.ledger.retryAt(delivery, report.retryAt, report.partsDone, report.partSent, report.externalIds, Date.now());
      } else {
        this.ledger.finish(delivery, report.externalIds, Date.now());
      }
      if (client && participant) {
        const destination = { type: client.type, integrationId: client.integrationId };
        for (const r of this.ledger.unpark(client.id, report.externalIds)) {
          this.raiseReceipt(row, userRef(participant), destination, delivery.message_id, r.status, r.channelMessageId, r.error);
        }
      }
      if ('retryAt' in report) return;
      if (report.ok && client && delivery.message_id !== TYPING) this.ledger.setChoices(client.id, report.choices);
      if (!client || !participant || row.deleted_at || delivery.message_id === TYPING) return;
      const destination = { type: client.type, integrationId: client.integrationId };
      const conversation = toConversation(row);
      this.raise(
        row,
        report.ok
          ? deliveryEvent('channel', conversation, userRef(participant), delivery.message_id, destination, report.externalIds)
          : deliveryEvent('failure', conversation, userRef(participant), delivery.message_id, destination, report.externalIds, report.failed),
      );
    });
    this.afterCommit();
    return { more: 'retryAt' in report ? false : this.ledger.hasDeliveries(delivery.client_id) };
  }

  /**
   * Newest page by default; `before` walks back, `after` walks forward. Each
   * page is chronological. Cursors are message ids, resolved to `seq` here.
   */
  listMessages(page: { before?: string; after?: string; size: number; asUser?: string }): Result<MessagePage> {
    if (!this.record.live()) return NOT_FOUND;
    if (page.asUser !== undefined && !this.people.byUser(page.asUser)) return NOT_PARTICIPANT;
    // A cursor may name a message deleted since the link was made; its remembered seq keeps the link working.
    const seqOf = (id: string) =>
      this.sql.exec<{ seq: number }>('SELECT seq FROM messages WHERE id = ? UNION ALL SELECT seq FROM deleted_messages WHERE id = ?', id, id).toArray()[0]?.seq;
    let rows: MessageRow[];
    let hasMore: boolean;
    if (page.after) {
      const from = seqOf(page.after);
      if (from === undefined) return fail(400, 'bad_request', 'page[after]: no message with this id in the conversation');
      rows = this.sql.exec<MessageRow>('SELECT * FROM messages WHERE seq > ? ORDER BY seq ASC LIMIT ?', from, page.size + 1).toArray();
      hasMore = rows.length > page.size;
      rows = rows.slice(0, page.size);
    } else {
      const to = page.before ? seqOf(page.before) : Number.MAX_SAFE_INTEGER;
      if (to === undefined) return fail(400, 'bad_request', 'page[before]: no message with this id in the conversation');
      rows = this.sql.exec<MessageRow>('SELECT * FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?', to, page.size + 1).toArray();
      hasMore = rows.length > page.size;
      rows = rows.slice(0, page.size).reverse();
    }
    const messages = rows.map(toMessage);
    const first = rows[0];
    const last = rows[rows.length - 1];
    const older = first ? this.sql.exec('SELECT 1 FROM messages WHERE seq < ? LIMIT 1', first.seq).toArray().length > 0 : false;
    const newer = last ? this.sql.exec('SELECT 1 FROM messages WHERE seq > ? LIMIT 1', last.seq).toArray().length > 0 : false;
    return {
      ok: true,
      value: {
        messages,
        hasMore,
        ...(older && first ? { beforeCursor: first.id } : {}),
        ...(newer && last ? { afterCursor: last.id } : {}),
      },
    };
  }

  deleteMessage(messageId: string): Result<null> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const found = this.sql.exec('SELECT seq FROM messages WHERE id = ?', messageId).toArray()[0];
    if (!found) return fail(404, 'message_not_found', 'Message not found');
    this.transact(() => {
      this.sql.exec('INSERT OR IGNORE INTO deleted_messages (id, seq) SELECT id, seq FROM messages WHERE id = ?', messageId);
      this.sql.exec('DELETE FROM messages WHERE id = ?', messageId);
      this.record.messageDeleted();
      this.enqueue('index', { op: 'message.delete', appId: row.app_id, conversationId: row.id, messageId });
      this.hub.hold({ type: 'deleted', messageIds: [messageId] });
    });
    this.afterCommit();
    return { ok: true, value: null };
  }

  deleteAllMessages(): Result<null> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const top = this.sql.exec<{ s: number | null }>('SELECT max(seq) AS s FROM messages').one().s;
    if (top === null) return { ok: true, value: null };
    this.transact(() => {
      this.sql.exec('INSERT OR IGNORE INTO deleted_messages (id, seq) SELECT id, seq FROM messages');
      this.sql.exec('DELETE FROM messages');
      this.record.messagesCleared();
      this.people.clearUnread();
      this.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
      this.hub.hold({ type: 'cleared', upToSeq: top });
    });
    this.afterCommit();
    return { ok: true, value: null };
  }

  // ---- participants -------------------------------------------------------

  join(user: { userId: string; userExternalId: string | null }): Result<Participant> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    if (row.type !== 'sdkGroup') return fail(400, 'bad_request', 'Only sdkGroup conversations accept new participants');
    const existing = this.people.byUser(user.userId);
    if (existing) return { ok: true, value: toParticipant(existing) };
    const count = this.people.count();
    if (count >= LIMITS.sdkGroupParticipants) return fail(400, 'bad_request', `Too many participants: an sdkGroup conversation holds at most ${LIMITS.sdkGroupParticipants}`);
    this.transact(() => {
      this.people.insert(user.userId, user.userExternalId, new Date().toISOString());
      this.enqueueConversation();
      this.raise(row, joinEvent(toConversation(row), { id: user.userId, ...(user.userExternalId ? { externalId: user.userExternalId } : {}) }));
    });
    this.afterCommit();
    return { ok: true, value: toParticipant(this.people.byUser(user.userId)!) };
  }

  leave(who: { userId?: string; participantId?: string }): Result<{ userId: string; participantId: string }> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    const p = who.participantId
      ? this.people.byId(who.participantId)
      : this.people.byUser(who.userId!);
    if (!p) return fail(404, 'participant_not_found', 'The user is not a participant of this conversation');
    if (row.type === 'personal') return fail(400, 'bad_request', 'The participant of a personal conversation cannot leave it');
    this.transact(() => {
      this.people.remove(p.id);
      this.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId: p.user_id });
      this.raise(row, leaveEvent(toConversation(row), userRef(p)));
    });
    this.afterCommit();
    this.hub.close(p.user_id, 'left the conversation');
    return { ok: true, value: { userId: p.user_id, participantId: p.id } };
  }

  listParticipants(page: { after?: string; before?: string; size: number }): Result<{ participants: Participant[]; hasMore: boolean }> {
    if (!this.record.live()) return NOT_FOUND;
    return { ok: true, value: this.people.page(page) };
  }

  /** Removes a deleted user from this conversation; a personal conversation also loses its messages. */
  forgetUser(userId: string): Result<null> {
    const row = this.record.live();
    if (!row) return { ok: true, value: null };
    this.transact(() => {
      this.people.removeUser(userId);
      this.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId });
      if (row.type === 'personal') {
        const top = this.sql.exec<{ s: number | null }>('SELECT max(seq) AS s FROM messages').one().s;
        this.sql.exec('DELETE FROM messages');
        this.ledger.clear();
        this.record.markDeleted();
        if (top !== null) this.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
        this.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      }
    });
    this.afterCommit();
    this.hub.close(userId, 'user removed');
    return { ok: true, value: null };
  }

  // ---- activities ---------------------------------------------------------

  activity(activity: Activity): Result<Conversation> {
    const row = this.record.live();
    if (!row) return NOT_FOUND;
    if (activity.type !== 'conversation:read') {
      // Open Web Messenger tabs see it at once; a channel client that can show it gets it in order with its messages.
      const { displayName, avatarUrl } = activity.author as { displayName?: string; avatarUrl?: string };
      this.hub.hold({
        type: 'typing',
        state: activity.type === 'typing:start' ? 'start' : 'stop',
        author: { type: 'business', ...(displayName ? { displayName } : {}), ...(avatarUrl ? { avatarUrl } : {}) },
      });
      this.hub.flush();
      const client = this.ledger.destination({});
      if (client && client.type !== WEB) {
        this.transact(() => {
          this.ledger.add(TYPING, client.id, JSON.stringify({ typing: activity.type === 'typing:start', at: Date.now() }));
          this.enqueueDeliveryKick(row.app_id, row.id, client.id);
        });
        this.afterCommit();
      }
      return { ok: true, value: toConversation(row) };
    }
    const now = new Date().toISOString();
    if (activity.author.type === 'business') {
      this.hub.hold({ type: 'read', author: { type: 'business' }, at: now });
      this.transact(() => {
        this.record.businessRead(now);
        this.enqueue('index', { op: 'conversation.touch', appId: row.app_id, conversationId: row.id, businessLastRead: now });
      });
      this.afterCommit();
    } else {
      const p = this.people.byUser(activity.author.userId);
      if (!p) return fail(400, 'bad_request', 'author.userId: the user is not a participant of this conversation');
      this.transact(() => {
        this.people.read(p.id, now);
        this.raise(row, readEvent(toConversation(row), userRef(p)));
        this.hub.hold({ type: 'read', author: { type: 'user', userId: p.user_id }, at: now });
      });
      this.afterCommit();
    }
    return { ok: true, value: toConversation(this.record.row()!) };
  }

  // ---- outbox -------------------------------------------------------------

  /** Keeps a long multi-part send's lease from lapsing under it; false when the lease is no longer this one. */
  extendDelivery(deliveryId: number, leaseId: string, until: number): boolean {
    const extended = this.ledger.extend(deliveryId, leaseId, until);
    this.ctx.waitUntil(this.scheduleAlarm());
    return extended;
  }

  // ---- webhook delivery (driven by the webhooks queue consumer) ----------

  /** `webhookIds`: every webhook of the app, as the consumer knows them (cursors of the others are never kicked for). */
  claimWebhookBatch(sub: StreamSubscription, limit: number, leaseMs: number, webhookIds?: string[]): BatchClaim {
    if (webhookIds) this.stream.adopt(webhookIds);
    const claim = this.stream.claim(sub, limit, leaseMs);
    this.webhookProgress(sub.id);
    // Whatever the answer, a lease or a pending retry must be backed by an alarm (it may have been lost in a crash).
    this.ctx.waitUntil(this.scheduleAlarm());
    return claim;
  }

  /** The batch was acknowledged or dead-lettered; says whether more events wait (false too when the lease was stale). */
  settleWebhook(sub: StreamSubscription, leaseId: string, lastSeq: number, stillFailing: boolean): { more: boolean } {
    const settled = this.stream.settle(sub.id, leaseId, lastSeq, stillFailing);
    this.webhookProgress(sub.id);
    this.ctx.waitUntil(this.scheduleAlarm());
    return { more: settled && this.stream.hasPending(sub) };
  }

  retryWebhook(webhookId: string, leaseId: string, retryAt: number): void {
    this.stream.retryLater(webhookId, leaseId, retryAt);
    this.webhookProgress(webhookId);
    this.ctx.waitUntil(this.scheduleAlarm());
  }

  /** The consumer served a kick for an app without webhooks: the events so far are owed to no one. */
  webhooksUnsubscribed(): void {
    this.stream.noWebhooks();
    this.webhookProgress();
    this.ctx.waitUntil(this.scheduleAlarm());
  }

  private webhookProgress(webhookId?: string): void {
    const now = Date.now();
    this.progress.set('webhooks', now);
    if (webhookId) this.progress.set(`webhook:${webhookId}`, now);
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
    this.ctx.waitUntil(this.scheduleAlarm());
  }

  /** Asks the consumer to come back (it stopped early with events still pending). */
  kickWebhooks(): void {
    const owner = this.streamOwner();
    if (!owner) return;
    this.enqueueKick(owner.appId, owner.id);
    this.afterCommit();
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
    this.transact(() => {
      this.sql.exec('INSERT INTO stream_owner (only_row, app_id, owner_id) VALUES (1, ?, ?) ON CONFLICT DO NOTHING', appId, userId);
      this.stream.append(event);
      this.enqueueKick(appId, userId);
    });
    this.afterCommit();
  }

  /**
   * On a user's object: records the first conversation id offered as the user's
   * default and answers the recorded one, so exactly one concurrent create wins.
   */
  claimDefaultConversation(conversationId: string): string {
    this.sql.exec('INSERT INTO default_conversation (only_row, conversation_id) VALUES (1, ?) ON CONFLICT DO NOTHING', conversationId);
    return this.sql.exec<{ conversation_id: string }>('SELECT conversation_id FROM default_conversation').one().conversation_id;
  }

  /** Empties the object for good (its app was deleted): storage, alarm and all; the schema is recreated empty. */
  async purge(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.alarmAt = null;
    this.progress.clear();
    this.indexSends = [];
    migrate(this.sql);
  }

  /** Stored events by id, as one JSON array string, for replaying chosen events. */
  eventsById(ids: string[]): string {
    return this.stream.byIds(ids);
  }

  /** Whose events this object streams: its conversation, or the user it was named after. */
  private streamOwner(): { appId: string; id: string } | undefined {
    const row = this.record.row();
    if (row) return { appId: row.app_id, id: row.id };
    const owner = this.sql.exec<{ app_id: string; owner_id: string }>('SELECT app_id, owner_id FROM stream_owner').toArray()[0];
    return owner && { appId: owner.app_id, id: owner.owner_id };
  }

  // ---- outbox and alarm ---------------------------------------------------

  /**
   * Kicks the queues for whatever is owed and not being served (a retry came
   * due, a consumer died, a kick was lost: see `nextKicks`), marks unconfirmed
   * index ops for sending again when overdue, and retries the outbox drain.
   * Kicks are queue messages the DO never relies on alone: its own state says
   * what is still owed, so it kicks again until a consumer shows up.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    const now = Date.now();
    this.transact(() => {
      const due = this.nextKicks();
      const owner = this.streamOwner();
      if (owner && due.webhooks !== null && due.webhooks <= now) {
        this.enqueueKick(owner.appId, owner.id);
        this.noteKick('webhooks', due.watch, now);
      }
      const row = this.record.row();
      for (const k of due.deliveries) {
        if (!row || k.at > now) continue;
        this.enqueueDeliveryKick(row.app_id, row.id, k.clientId);
        this.noteKick(`deliveries:${k.clientId}`, due.watch, now);
      }
    });
    const oldest = this.indexSends[0];
    if (oldest && oldest.at + this.rekickInterval(this.indexResends) <= now) {
      this.resendIndex = true;
      this.indexResends++;
    }
    await this.drain();
    await this.scheduleAlarm();
  }

  private rekickMs(): number {
    const n = Number(this.env.QUEUE_REKICK_MS);
    return this.env.QUEUE_REKICK_MS && Number.isFinite(n) && n > 0 ? n : REKICK_MS;
  }

  private rekickInterval(rekicks: number): number {
    return this.rekickMs() * 2 ** Math.min(rekicks, MAX_REKICK_DOUBLINGS);
  }

  /** When the webhooks queue and each client's deliveries are next owed a kick (null: nothing owed). */
  private nextKicks(): { webhooks: number | null; deliveries: { clientId: string; at: number }[]; watch: Map<string, KickWatch> } {
    const watch = new Map(this.sql.exec<KickWatch>('SELECT name, kicked_at, rekicks FROM kick_watch').toArray().map((w) => [w.name, w]));
    // Rekicks count only while no consumer showed progress since the last kick.
    const interval = (name: string) => {
      const w = watch.get(name);
      return this.rekickInterval(w && (this.progress.get(name) ?? 0) <= w.kicked_at ? w.rekicks : 0);
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
  private noteKick(name: string, watch: Map<string, KickWatch>, now: number): void {
    const w = watch.get(name);
    const rekicks = w && (this.progress.get(name) ?? 0) <= w.kicked_at ? w.rekicks + 1 : 1;
    this.sql.exec('INSERT INTO kick_watch (name, kicked_at, rekicks) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET kicked_at = excluded.kicked_at, rekicks = excluded.rekicks', name, now, rekicks);
  }

  /** Queues the conversation record and its participants for the D1 index. */
  private enqueueConversation(): void {
    const row = this.record.row()!;
    this.enqueue('index', {
      op: 'conversation.upsert',
      appId: row.app_id,
      conversation: toConversation(row),
      participants: this.people.all().map((p) => ({ id: p.id, userId: p.userId })),
    });
  }

  /** Appends an event to the stream and makes sure a kick for the webhooks queue is waiting in the outbox. */
  /** Takes the row the caller already read, so raising an event costs no extra read on the message path. */
  private raise(row: ConversationRow, event: WebhookEvent): void {
    this.stream.append(event);
    this.enqueueKick(row.app_id, row.id);
  }

  private enqueueKick(appId: string, conversationId: string): void {
    // One unsent kick covers every event raised before it is sent; a kick already being sent does not
    // (the consumer may have served it before this event existed).
    if (this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'webhooks' AND id > ? LIMIT 1", this.sentUpTo).toArray().length > 0) return;
    this.enqueue('webhooks', { appId, conversationId });
  }

  /** One unsent kick per client is enough: the consumer serves the client's deliveries in order until none is left. */
  private enqueueDeliveryKick(appId: string, conversationId: string, clientId: string): void {
    const body = JSON.stringify({ appId, conversationId, clientId } satisfies DeliveryKick);
    if (this.sql.exec("SELECT 1 FROM outbox WHERE queue = 'deliveries' AND id > ? AND body = ? LIMIT 1", this.sentUpTo, body).toArray().length > 0) return;
    this.sql.exec('INSERT INTO outbox (queue, body) VALUES (?, ?)', 'deliveries', body);
  }

  private enqueue(queue: Queues, body: OutboxBody): void {
    let json = JSON.stringify(body);
    if ('op' in body && body.op === 'message.upsert' && utf8Bytes(json) > MAX_OP_BYTES) {
      const full = JSON.parse(body.message.body) as Message;
      const slim = { ...full, content: { type: full.content.type, text: (full.content.text ?? '').slice(0, 4096) }, truncated: true };
      json = JSON.stringify({ ...body, message: { ...body.message, body: JSON.stringify(slim) } });
    }
    this.sql.exec('INSERT INTO outbox (queue, body) VALUES (?, ?)', queue, json);
  }

  /** A storage transaction whose socket frames are dropped if it rolls back. */
  private transact<T>(fn: () => T): T {
    try {
      return this.ctx.storage.transactionSync(fn);
    } catch (err) {
      this.hub.discard();
      throw err;
    }
  }

  /** Runs after every committing call: make sure an alarm backs the outbox up, then drain without holding up the caller. */
  private afterCommit(): void {
    this.hub.flush();
    this.ctx.waitUntil(this.scheduleAlarm());
    this.ctx.waitUntil(this.drain());
  }

  /**
   * One alarm serves every job: retry an outbox drain (when unsent rows wait),
   * send unconfirmed index ops again, and kick for webhooks and deliveries that
   * are owed and not served (`nextKicks`). It is set only while something is
   * owed: a conversation whose queues are caught up has none. The in-memory copy
   * of the alarm time is updated before each await, so interleaved calls agree,
   * and storage applies their setAlarm/deleteAlarm in call order.
   */
  private async scheduleAlarm(): Promise<void> {
    if (this.alarmAt === undefined) {
      const stored = await this.ctx.storage.getAlarm();
      if (this.alarmAt === undefined) this.alarmAt = stored;
    }
    // Computed after the await, so it reflects every commit that happened meanwhile.
    const outboxWaiting = this.sql.exec('SELECT 1 FROM outbox WHERE id > ? LIMIT 1', this.sentUpTo).toArray().length > 0;
    const kicks = this.nextKicks();
    const wakes = [kicks.webhooks, ...kicks.deliveries.map((k) => k.at)].filter((t): t is number => t !== null);
    if (this.indexSends[0]) wakes.push(this.indexSends[0].at + this.rekickInterval(this.indexResends));
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
   * kicks that were sent (index ops wait for their confirmation). Concurrent callers coalesce into the running drain, which is what
   * batches a burst of messages into few queue sends.
   */
  private async drain(): Promise<void> {
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
      await this.scheduleAlarm();
      // A commit that landed while the alarm was rescheduled asked for another pass.
      if (this.drainAgain) this.ctx.waitUntil(this.drain());
    }
  }

  private queueFor(queue: Queues): Queue<OutboxBody> {
    switch (queue) {
      case 'index':
        return this.env.INDEX_QUEUE as Queue<OutboxBody>;
      case 'webhooks':
        return this.env.WEBHOOKS_QUEUE as Queue<OutboxBody>;
      case 'deliveries':
        return this.env.DELIVERIES_QUEUE as Queue<OutboxBody>;
    }
  }
}

function toMessage(row: MessageRow): Message {
  // A quoted message is kept beside the source in one column, so no schema change was needed for it.
  const { quotedMessage, ...source } = JSON.parse(row.source) as MessageSource & { quotedMessage?: Message['quotedMessage'] };
  return {
    id: row.id,
    received: row.received,
    seq: row.seq,
    author: JSON.parse(row.author),
    content: JSON.parse(row.content),
    source,
    ...(quotedMessage ? { quotedMessage } : {}),
    ...(row.metadata ? { metadata: JSON.parse(row.metadata) } : {}),
  };
}
