/**
 * The conversation's messages: the `messages` table (strictly increasing
 * `seq`, the channel's dedupe key) and `deleted_messages` (the seq of each
 * deleted message, so page links made before a deletion keep working). One
 * path stores a message: next seq, counters, D1 index row, webhook event,
 * open tabs, all in the caller's transaction. Here too: what the business
 * posts through the API, pages, deletions, and the lookups the other parts
 * make. Only this file writes SQL for those tables.
 */
import { fail, type Result } from '../src/http/errors';
import { newId } from '../src/ids';
import { LIMITS } from '../src/schema/common';
import type { Message, MessageSource, StoredAuthor } from '../src/schema/message';
import type { AppPolicy } from '../src/schema/app';
import { conversationCreateEvent, messageEvent, type UserRef } from '../src/webhooks/events';
import { WEB, type LedgerClient } from './channel-ledger';
import { NOT_FOUND, NOT_PARTICIPANT, type Core } from './core';
import { userRef } from './participants';
import { toConversation, type ConversationRow } from './record';
import { takeRecentNotifications } from './notifications';
import { noteRetention } from './retention';
import { beforeUserMessage } from './switchboard';

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
  /** The app as the Worker's cache has it, given by callers that store user messages: see beforeUserMessage. */
  policy?: AppPolicy;
}

export interface MessagePage {
  messages: Message[];
  hasMore: boolean;
  beforeCursor?: string;
  afterCursor?: string;
}

type MessageRow = {
  seq: number;
  id: string;
  received: string;
  author: string;
  content: string;
  source: string;
  metadata: string | null;
};

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

export class Messages {
  constructor(private core: Core) {}

  /** A message posted through the API (business or user), with its channel delivery queued when the business wrote it. */
  post(input: NewMessage): Result<Message> {
    const posted = this.postAll([input]);
    return posted.ok ? { ok: true, value: posted.value[0]! } : posted;
  }

  /**
   * The messages one API post makes (shorthand and templates may make
   * several), stored together: consecutive seqs, nothing of another post or of
   * the user between them, and all or none (every check runs before the
   * first is stored). A part already stored under its dedupe key is answered
   * as it was.
   */
  postAll(inputs: NewMessage[]): Result<Message[]> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const plans: { input: NewMessage; seen?: Message; author?: UserRef; client?: LedgerClient; channel?: string }[] = [];
    for (const input of inputs) {
      const seen = input.dedupeKey ? this.byDedupeKey(input.dedupeKey) : undefined;
      if (seen) {
        plans.push({ input, seen });
        continue;
      }
      const authorParticipant = input.author.type === 'user' ? core.people.byUser(input.author.userId!) : undefined;
      if (input.author.type === 'user' && !authorParticipant) {
        return fail(400, 'bad_request', 'author.userId: the user is not a participant of this conversation');
      }
      let client: LedgerClient | undefined;
      let channel: string | undefined;
      const silent = input.destination && 'integrationType' in input.destination && input.destination.integrationType === 'none';
      if (input.author.type === 'business' && !silent) {
        client = core.ledger.destination(input.destination ?? {});
        if (input.destination && !client) return fail(400, 'bad_request', 'destination: the conversation has no client for that integration');
        channel = client?.type;
        // A Web Messenger client is served by the conversation's own sockets, not by a channel send.
        if (client?.type === WEB) client = undefined;
      }
      plans.push({ input, ...(authorParticipant ? { author: userRef(authorParticipant) } : {}), ...(client ? { client } : {}), ...(channel ? { channel } : {}) });
    }
    const fresh = plans.filter((p) => !p.seen).length;
    if (fresh > 0 && row.message_count + fresh > LIMITS.messagesPerConversation) {
      return fail(
        423,
        'locked',
        `The conversation holds ${row.message_count} messages and this post makes ${fresh}; it can hold ${LIMITS.messagesPerConversation} at most: delete its messages to post more`,
      );
    }
    let stale = false;
    const messages = core.transact(() =>
      plans.map(({ input, seen, author, client, channel }) => {
        if (seen) return seen;
        // Each insert moves the record on (seq, counters, the create announcement): a later part reads it afresh; the first (most posts' only one) needs no second read.
        const stored = this.insert(stale ? core.record.live()! : row, { ...input, channel }, author);
        stale = true;
        if (client) {
          core.ledger.add(stored.id, client.id, JSON.stringify({ content: stored.content, ...(input.override ? { override: input.override } : {}) }));
          core.outbox.enqueueDeliveryKick(row.app_id, row.id, client.id);
        }
        return stored;
      }),
    );
    core.afterCommit();
    return { ok: true, value: messages };
  }

  /**
   * Stores one message with the next seq, queues its index row and, unless it
   * is history moved in by a merge, its webhook event; runs inside a transaction.
   */
  insert(
    row: ConversationRow,
    input: NewMessage & { quotedMessage?: Message['quotedMessage']; received?: string; channel?: string },
    author?: UserRef,
    announce = true,
  ): Message {
    if (input.author.type === 'user' && input.policy) row = beforeUserMessage(this.core, row, input.policy.switchboard);
    row = noteRetention(this.core, row, input.policy);
    if (row.create_announced === 0 && input.author.type === 'user') {
      // An automatic start the app ignores becomes a conversation with the user's first message: announced now, just before it.
      this.core.record.createAnnounced();
      row = { ...row, create_announced: 1 };
      const source = { type: input.source.type, ...(input.source.integrationId ? { integrationId: input.source.integrationId } : {}) };
      this.core.raise(conversationCreateEvent(toConversation(row), 'message', author, source));
    }
    const id = newId();
    const received = input.received ?? new Date().toISOString();
    const stored0 = { ...input.author };
    delete stored0.userExternalId;
    const seq = this.core.record.messageAdded(received);
    this.core.sql.exec(
      `INSERT INTO messages (seq, id, received, author, content, source, metadata, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      seq,
      id,
      received,
      JSON.stringify(stored0),
      JSON.stringify(input.content),
      JSON.stringify(input.quotedMessage ? { ...input.source, quotedMessage: input.quotedMessage } : input.source),
      input.metadata ? JSON.stringify(input.metadata) : null,
      input.dedupeKey ?? null,
    );
    this.core.people.messageFrom(stored0.userId ?? null);
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
    this.enqueueIndex(row, stored, input.channel);
    // A user's message answers the notifications sent since they last wrote: its event names them, once.
    const recent = stored0.type === 'user' ? takeRecentNotifications(this.core.sql) : undefined;
    if (announce) this.core.raise(messageEvent(toConversation(row), stored, author, recent));
    this.core.hub.hold({ type: 'message', message: stored });
    return stored;
  }

  /**
   * Queues a message's row for the D1 index (keyed: a later copy of the same message replaces it).
   * `channel`: the type of the client a business message went to; exports filter on it (integrationType).
   */
  enqueueIndex(row: ConversationRow, m: Message, channel?: string): void {
    this.core.outbox.enqueue('index', {
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
        integrationType: channel ?? m.source.type,
      },
    });
  }

  /**
   * Newest page by default; `before` walks back, `after` walks forward. Each
   * page is chronological. Cursors are message ids, resolved to `seq` here.
   */
  list(page: { before?: string; after?: string; size: number; asUser?: string }): Result<MessagePage> {
    const { sql } = this.core;
    if (!this.core.record.live()) return NOT_FOUND;
    if (page.asUser !== undefined && !this.core.people.byUser(page.asUser)) return NOT_PARTICIPANT;
    // A cursor may name a message deleted since the link was made; its remembered seq keeps the link working.
    const seqOf = (id: string) => sql.exec<{ seq: number }>('SELECT seq FROM messages WHERE id = ? UNION ALL SELECT seq FROM deleted_messages WHERE id = ?', id, id).toArray()[0]?.seq;
    let rows: MessageRow[];
    let hasMore: boolean;
    if (page.after) {
      const from = seqOf(page.after);
      if (from === undefined) return fail(400, 'bad_request', 'page[after]: no message with this id in the conversation');
      rows = sql.exec<MessageRow>('SELECT * FROM messages WHERE seq > ? ORDER BY seq ASC LIMIT ?', from, page.size + 1).toArray();
      hasMore = rows.length > page.size;
      rows = rows.slice(0, page.size);
    } else {
      const to = page.before ? seqOf(page.before) : Number.MAX_SAFE_INTEGER;
      if (to === undefined) return fail(400, 'bad_request', 'page[before]: no message with this id in the conversation');
      rows = sql.exec<MessageRow>('SELECT * FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?', to, page.size + 1).toArray();
      hasMore = rows.length > page.size;
      rows = rows.slice(0, page.size).reverse();
    }
    const messages = rows.map(toMessage);
    const first = rows[0];
    const last = rows[rows.length - 1];
    const older = first ? sql.exec('SELECT 1 FROM messages WHERE seq < ? LIMIT 1', first.seq).toArray().length > 0 : false;
    const newer = last ? sql.exec('SELECT 1 FROM messages WHERE seq > ? LIMIT 1', last.seq).toArray().length > 0 : false;
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

  remove(messageId: string): Result<null> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const found = core.sql.exec('SELECT seq FROM messages WHERE id = ?', messageId).toArray()[0];
    if (!found) return fail(404, 'message_not_found', 'Message not found');
    core.transact(() => {
      core.sql.exec('INSERT OR IGNORE INTO deleted_messages (id, seq) SELECT id, seq FROM messages WHERE id = ?', messageId);
      this.keepDedupeKeys('id = ?', messageId);
      core.sql.exec('DELETE FROM messages WHERE id = ?', messageId);
      core.record.messageDeleted();
      core.outbox.enqueue('index', { op: 'message.delete', appId: row.app_id, conversationId: row.id, messageId });
      core.hub.hold({ type: 'deleted', messageIds: [messageId] });
    });
    core.afterCommit();
    return { ok: true, value: null };
  }

  removeAll(): Result<null> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const top = this.topSeq();
    if (top === null) return { ok: true, value: null };
    core.transact(() => {
      core.sql.exec('INSERT OR IGNORE INTO deleted_messages (id, seq) SELECT id, seq FROM messages');
      this.keepDedupeKeys('1 = 1');
      core.sql.exec('DELETE FROM messages');
      core.record.messagesCleared();
      core.people.clearUnread();
      core.outbox.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
      core.hub.hold({ type: 'cleared', upToSeq: top });
    });
    core.afterCommit();
    return { ok: true, value: null };
  }

  /**
   * A stored message's dedupe key lives on its row; when the row goes, the
   * key joins the ledger's seen ids (kept past any channel's redelivery
   * horizon), so a channel redelivering a deleted message does not store it again.
   */
  private keepDedupeKeys(where: string, ...bindings: SqlStorageValue[]): void {
    this.core.sql.exec(`INSERT INTO inbound_seen (key, at) SELECT dedupe_key, ? FROM messages WHERE dedupe_key IS NOT NULL AND ${where} ON CONFLICT DO NOTHING`, Date.now(), ...bindings);
  }

  // ---- for the other parts ------------------------------------------------

  byId(id: string): Message | undefined {
    const found = this.core.sql.exec<MessageRow>('SELECT * FROM messages WHERE id = ?', id).toArray()[0];
    return found && toMessage(found);
  }

  byDedupeKey(key: string): Message | undefined {
    const seen = this.core.sql.exec<MessageRow>('SELECT * FROM messages WHERE dedupe_key = ?', key).toArray()[0];
    return seen && toMessage(seen);
  }

  hasDedupeKey(key: string): boolean {
    return this.core.sql.exec('SELECT 1 FROM messages WHERE dedupe_key = ?', key).toArray().length > 0;
  }

  /** The messages after `seq`, in order (a reconnecting socket's replay). */
  after(seq: number, limit: number): Message[] {
    return this.core.sql.exec<MessageRow>('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', seq, limit).toArray().map(toMessage);
  }

  /** Like `after`, each with the key that dedupes it where it is copied to (its own, or one made from its id). */
  afterWithKeys(seq: number, limit: number): { message: Message; dedupeKey: string }[] {
    return this.core.sql
      .exec<MessageRow & { dedupe_key: string | null }>('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', seq, limit)
      .toArray()
      .map((r) => ({ message: toMessage(r), dedupeKey: r.dedupe_key ?? `merged:${r.id}` }));
  }

  topSeq(): number | null {
    return this.core.sql.exec<{ s: number | null }>('SELECT max(seq) AS s FROM messages').one().s;
  }

  /** Every message goes, without a trace in `deleted_messages` (the conversation goes with them). */
  clear(): void {
    this.core.sql.exec('DELETE FROM messages');
  }

  /** Marks a form answered; answers the form as it is now. */
  markSubmitted(id: string): Message {
    return toMessage(this.core.sql.exec<MessageRow>(`UPDATE messages SET content = json_set(content, '$.submitted', json('true')) WHERE id = ? RETURNING *`, id).one());
  }

  reassignAuthor(fromUserId: string, toUserId: string): void {
    this.core.sql.exec(`UPDATE messages SET author = json_set(author, '$.userId', ?) WHERE json_extract(author, '$.userId') = ?`, toUserId, fromUserId);
  }

  /**
   * The postback button or quick reply (`kind`) with this payload among the
   * business's recent messages in this conversation, if one was offered: what
   * a browser sends is only a choice when the business offered it. Its label,
   * and the campaign whose message offered it (a tap there answers the campaign).
   */
  offered(kind: 'postback' | 'reply', payload: string): { text: string; campaignId?: string } | undefined {
    const rows = this.core.sql
      .exec<{ content: string; metadata: string | null }>(
        `SELECT content, metadata FROM messages WHERE json_extract(author, '$.type') = 'business' AND instr(content, ?) > 0 ORDER BY seq DESC LIMIT 50`,
        JSON.stringify(payload),
      )
      .toArray();
    for (const r of rows) {
      const c = JSON.parse(r.content) as { actions?: { type: string; payload?: string; text: string }[]; items?: { actions?: { type: string; payload?: string; text: string }[] }[] };
      const actions = [...(c.actions ?? []), ...(c.items ?? []).flatMap((i) => i.actions ?? [])];
      const hit = actions.find((a) => a.type === kind && a.payload === payload);
      if (!hit) continue;
      const campaignId = r.metadata ? (JSON.parse(r.metadata) as Record<string, unknown>).campaignId : undefined;
      return { text: hit.text, ...(typeof campaignId === 'string' ? { campaignId } : {}) };
    }
    return undefined;
  }
}
