/**
 * A conversation's channel side, kept in its DO next to the messages: the
 * clients that wrote in (and when, for "most recently active" and session
 * windows), the inbound ids already seen (dedupe survives message deletion
 * and lasts longer than any channel's redelivery horizon), the outbound
 * deliveries queued per client in message order, and the channel ids of what
 * was sent, so receipts find their message.
 *
 * Only the head delivery of a client is ever handed out, under a lease: a
 * retrying message holds the ones behind it, which is what keeps messages to
 * one client in order.
 */
import type { Choice } from '../src/channels/adapter';

/** The client type of Web Messenger clients (their v2 client type is `sdk`): served by the conversation's sockets, not by channel sends. */
export const WEB = 'web';
/** The message id of a queued typing indicator: it rides the client's delivery queue but is no message and raises no event. */
export const TYPING = 'typing';

/** Channels redeliver for up to 7 days (WhatsApp); dedupe keys outlive that. */
export const SEEN_RETENTION_MS = 8 * 24 * 3_600_000;
const removedKey = (clientId: string) => `removed-client:${clientId}`;
/** The most-recent-client rule: the client that last wrote, or was last linked as primary. */
const MOST_RECENT = 'max(coalesce(last_inbound_at, 0), coalesce(linked_at, 0))';

/** How stale a client's last-inbound stamp may get before a message rewrites it. */
const INBOUND_STAMP_MS = 60_000;

export const LEDGER_MIGRATION = `
  CREATE TABLE channel_clients (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    raw TEXT,
    last_inbound_at INTEGER,
    choices TEXT NOT NULL DEFAULT '[]',
    added_at INTEGER NOT NULL
  );
  CREATE TABLE inbound_seen (key TEXT PRIMARY KEY, at INTEGER NOT NULL);
  CREATE INDEX inbound_seen_by_age ON inbound_seen(at);
  CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    parts_done INTEGER NOT NULL DEFAULT 0,
    external_ids TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_at INTEGER,
    next_at INTEGER NOT NULL DEFAULT 0,
    lease_id TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX deliveries_by_client ON deliveries(client_id, id);
  CREATE TABLE sent (
    channel_message_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, channel_message_id)
  );
  CREATE INDEX sent_by_time ON sent(client_id, sent_at);
`;

export interface LedgerClient {
  id: string;
  integrationId: string;
  type: string;
  externalId: string;
  userId: string;
  raw: Record<string, unknown> | null;
  lastInboundAt: number | null;
}

type ClientRow = {
  id: string;
  integration_id: string;
  type: string;
  external_id: string;
  user_id: string;
  raw: string | null;
  last_inbound_at: number | null;
  choices: string;
};

type DeliveryRow = {
  id: number;
  message_id: string;
  client_id: string;
  payload: string;
  parts_done: number;
  part_sent: number;
  external_ids: string;
  attempts: number;
  first_attempt_at: number | null;
  next_at: number;
  lease_id: string | null;
  lease_until: number;
};

/** What the consumer gets for the head delivery of a client. */
export interface DeliveryClaim {
  deliveryId: number;
  leaseId: string;
  messageId: string;
  payload: string;
  partsDone: number;
  /** Channel messages of the next part an earlier attempt already sent. */
  partSent: number;
  externalIds: string[];
  attempts: number;
  firstAttemptAt: number;
  client: LedgerClient;
}

const toClient = (r: ClientRow): LedgerClient => ({
  id: r.id,
  integrationId: r.integration_id,
  type: r.type,
  externalId: r.external_id,
  userId: r.user_id,
  raw: r.raw ? JSON.parse(r.raw) : null,
  lastInboundAt: r.last_inbound_at,
});

export class ChannelLedger {
  constructor(private sql: SqlStorage) {}

  // ---- clients ---------------------------------------------------------------

  /** Records the client (first contact) and, for inbound activity, when it last wrote. Returns whether it is new here. */
  touchClient(c: Omit<LedgerClient, 'lastInboundAt'>, inboundAt: number | undefined, now: number): boolean {
    const known = this.sql.exec('SELECT 1 FROM channel_clients WHERE id = ?', c.id).toArray().length > 0;
    if (!known) {
      this.sql.exec(
        'INSERT INTO channel_clients (id, integration_id, type, external_id, user_id, raw, last_inbound_at, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        c.id,
        c.integrationId,
        c.type,
        c.externalId,
        c.userId,
        c.raw ? JSON.stringify(c.raw) : null,
        inboundAt ?? null,
        now,
      );
    } else if (inboundAt !== undefined) {
      // Kept to the minute, so a user writing several messages in a row costs one write, not one per message. The
      // channels' reply windows are 24 hours; a stamp up to a minute old can only close one early, never late.
      this.sql.exec('UPDATE channel_clients SET last_inbound_at = ? WHERE id = ? AND coalesce(last_inbound_at, 0) <= ?', inboundAt, c.id, inboundAt - INBOUND_STAMP_MS);
    }
    return !known;
  }

  client(id: string): LedgerClient | undefined {
    const r = this.sql.exec<ClientRow>('SELECT * FROM channel_clients WHERE id = ?', id).toArray()[0];
    return r && toClient(r);
  }

  /** A merged user's clients now speak for the user they were merged into. */
  reassignUser(fromUserId: string, toUserId: string): void {
    this.sql.exec('UPDATE channel_clients SET user_id = ? WHERE user_id = ?', toUserId, fromUserId);
  }

  /** Where a business message goes: the named integration's client, or the client that wrote most recently. */
  /** A client linked as primary (createClient): it comes first for business messages until another client writes. */
  prefer(id: string, now: number): void {
    this.sql.exec('UPDATE channel_clients SET linked_at = ? WHERE id = ?', now, id);
  }

  destination(by: { integrationId?: string; integrationType?: string }): LedgerClient | undefined {
    const order = `ORDER BY ${MOST_RECENT} DESC, added_at DESC LIMIT 1`;
    const r = by.integrationId
      ? this.sql.exec<ClientRow>(`SELECT * FROM channel_clients WHERE integration_id = ? ${order}`, by.integrationId).toArray()[0]
      : by.integrationType
        ? this.sql.exec<ClientRow>(`SELECT * FROM channel_clients WHERE type = ? ${order}`, by.integrationType).toArray()[0]
        : this.sql.exec<ClientRow>(`SELECT * FROM channel_clients ${order}`).toArray()[0];
    return r && toClient(r);
  }

  clientsOf(userId: string): { type: string; clientId: string }[] {
    return this.sql
      .exec<{ id: string; type: string }>(`SELECT id, type FROM channel_clients WHERE user_id = ? ORDER BY ${MOST_RECENT} DESC`, userId)
      .toArray()
      .map((r) => ({ type: r.type, clientId: r.id }));
  }

  setChoices(clientId: string, choices: Choice[]): void {
    this.sql.exec('UPDATE channel_clients SET choices = ? WHERE id = ?', JSON.stringify(choices), clientId);
  }

  choices(clientId: string): Choice[] {
    const r = this.sql.exec<{ choices: string }>('SELECT choices FROM channel_clients WHERE id = ?', clientId).toArray()[0];
    return r ? JSON.parse(r.choices) : [];
  }

  /**
   * Forgets a client removed through the API; its id stays marked as long as
   * inbound ids do, so an isolate that still has the identity cached cannot
   * bring it back (see Inbound.receive). False when it was already removed.
   */
  removeClient(id: string, now = Date.now()): boolean {
    this.sql.exec('DELETE FROM channel_clients WHERE id = ?', id);
    return this.firstSight(removedKey(id), now);
  }

  removed(id: string): boolean {
    return this.seen(removedKey(id));
  }

  /** The client was linked again (createClient): its identity reaches this conversation once more. */
  restore(id: string): void {
    this.sql.exec('DELETE FROM inbound_seen WHERE key = ?', removedKey(id));
  }

  // ---- inbound dedupe -----------------------------------------------------------

  /** Whether an inbound id was marked seen (messages keep theirs on the message row; see Inbound). */
  seen(key: string): boolean {
    return this.sql.exec('SELECT 1 FROM inbound_seen WHERE key = ?', key).toArray().length > 0;
  }

  /** Marks an inbound id as seen; false when it was seen before (a redelivery). */
  firstSight(key: string, now: number): boolean {
    const fresh = this.sql.exec('INSERT INTO inbound_seen (key, at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING key', key, now).toArray().length > 0;
    // Old keys go a few at a time, so no single write pays for a big cleanup.
    if (fresh) this.sql.exec('DELETE FROM inbound_seen WHERE key IN (SELECT key FROM inbound_seen WHERE at < ? LIMIT 10)', now - SEEN_RETENTION_MS);
    return fresh;
  }

  // ---- outbound deliveries ---------------------------------------------------------

  /** `queued_at` is when the commit put this delivery's kick in the outbox: the alarm's safety net counts from it. */
  add(messageId: string, clientId: string, payload: string, now = Date.now()): void {
    this.sql.exec('INSERT INTO deliveries (message_id, client_id, payload, queued_at) VALUES (?, ?, ?, ?)', messageId, clientId, payload, now);
  }

  /**
   * Leases the client's head delivery. Answers `wait` with the time it becomes
   * claimable when the head is leased or waiting for a retry, and nothing when
   * the client has no delivery.
   */
  claim(clientId: string, leaseMs: number, now: number): DeliveryClaim | { wait: number } | undefined {
    const head = this.sql.exec<DeliveryRow>('SELECT * FROM deliveries WHERE client_id = ? ORDER BY id LIMIT 1', clientId).toArray()[0];
    if (!head) return undefined;
    const readyAt = Math.max(head.next_at, head.lease_id ? head.lease_until : 0);
    if (readyAt > now) return { wait: readyAt };
    const client = this.client(clientId);
    if (!client) {
      this.sql.exec('DELETE FROM deliveries WHERE client_id = ?', clientId);
      return undefined;
    }
    const leaseId = crypto.randomUUID();
    const firstAttemptAt = head.first_attempt_at ?? now;
    this.sql.exec(
      'UPDATE deliveries SET lease_id = ?, lease_until = ?, attempts = attempts + 1, first_attempt_at = ? WHERE id = ?',
      leaseId,
      now + leaseMs,
      firstAttemptAt,
      head.id,
    );
    return {
      deliveryId: head.id,
      leaseId,
      messageId: head.message_id,
      payload: head.payload,
      partsDone: head.parts_done,
      partSent: head.part_sent,
      externalIds: JSON.parse(head.external_ids),
      attempts: head.attempts + 1,
      firstAttemptAt,
      client,
    };
  }

  /** The row under this lease, or undefined when the lease lapsed and someone else may hold it. */
  leased(deliveryId: number, leaseId: string): DeliveryRow | undefined {
    return this.sql.exec<DeliveryRow>('SELECT * FROM deliveries WHERE id = ? AND lease_id = ?', deliveryId, leaseId).toArray()[0];
  }

  /** The delivery is done (sent or failed for good): it leaves the queue; what was sent is remembered for receipts. */
  finish(row: DeliveryRow, externalIds: string[], now: number): void {
    this.sql.exec('DELETE FROM deliveries WHERE id = ?', row.id);
    this.remember(row, externalIds, now);
  }

  /** Channel ids are remembered as soon as they are known (also before a retry), so their receipts find the message. */
  private remember(row: DeliveryRow, externalIds: string[], now: number): void {
    for (const id of externalIds) {
      this.sql.exec('INSERT OR IGNORE INTO sent (channel_message_id, client_id, message_id, sent_at) VALUES (?, ?, ?, ?)', id, row.client_id, row.message_id, now);
    }
  }

  /** A receipt that overtook the report of its send waits here until the send's ids are known. */
  park(clientId: string, channelMessageId: string, status: string, error: { code: string; message: string } | undefined, now: number): void {
    this.sql.exec(
      'INSERT OR IGNORE INTO parked_receipts (client_id, channel_message_id, status, error, at) VALUES (?, ?, ?, ?, ?)',
      clientId,
      channelMessageId,
      status,
      error ? JSON.stringify(error) : null,
      now,
    );
    this.sql.exec('DELETE FROM parked_receipts WHERE at < ?', now - SEEN_RETENTION_MS);
  }

  /** Parked receipts for these channel ids, removed as they are handed out. */
  unpark(clientId: string, channelMessageIds: string[]): { channelMessageId: string; status: string; error?: { code: string; message: string } }[] {
    const out: { channelMessageId: string; status: string; error?: { code: string; message: string } }[] = [];
    for (const id of channelMessageIds) {
      const rows = this.sql.exec<{ status: string; error: string | null }>('SELECT status, error FROM parked_receipts WHERE client_id = ? AND channel_message_id = ? ORDER BY at', clientId, id).toArray();
      for (const r of rows) out.push({ channelMessageId: id, status: r.status, ...(r.error ? { error: JSON.parse(r.error) } : {}) });
      if (rows.length) this.sql.exec('DELETE FROM parked_receipts WHERE client_id = ? AND channel_message_id = ?', clientId, id);
    }
    return out;
  }

  /** Pushes a leased head's lease out (a long multi-part send), if the lease is still this one. */
  extend(deliveryId: number, leaseId: string, until: number): boolean {
    return this.sql.exec('UPDATE deliveries SET lease_until = max(lease_until, ?) WHERE id = ? AND lease_id = ? RETURNING id', until, deliveryId, leaseId).toArray().length > 0;
  }

  /** Forgets every channel trace (the conversation was deleted, or its user was): nothing more is sent. */
  clear(): void {
    this.sql.exec('DELETE FROM deliveries');
    this.sql.exec('DELETE FROM sent');
    this.sql.exec('DELETE FROM parked_receipts');
    this.sql.exec('DELETE FROM channel_clients');
  }

  /** Keeps the parts (and messages of the next part) already sent, so a retry resumes after them instead of sending them twice. */
  retryAt(row: DeliveryRow, at: number, partsDone: number, partSent: number, externalIds: string[], now: number): void {
    this.remember(row, externalIds, now);
    this.sql.exec(
      'UPDATE deliveries SET next_at = ?, lease_id = NULL, lease_until = 0, parts_done = ?, part_sent = ?, external_ids = ? WHERE id = ?',
      at,
      partsDone,
      partSent,
      JSON.stringify(externalIds),
      row.id,
    );
  }

  hasDeliveries(clientId: string): boolean {
    return this.sql.exec('SELECT 1 FROM deliveries WHERE client_id = ? LIMIT 1', clientId).toArray().length > 0;
  }

  /**
   * When each client with deliveries next needs a kick (the same rule as the
   * webhook stream's `nextKick`): a leased or retrying head when its lease
   * lapses or its retry is due, if that is after the client's last kick and
   * last progress; otherwise `intervalMs` after the later of those, so a lost
   * kick or a consumer that died between deliveries is made good. A client
   * with no delivery is owed nothing. Derived from the rows each send writes
   * anyway: nothing more is stored per message.
   */
  kicks(since: (clientId: string, queuedAt: number) => number, intervalMs: (clientId: string) => number): { clientId: string; at: number }[] {
    return this.sql
      .exec<{ client_id: string; next_at: number; lease_id: string | null; lease_until: number; queued_at: number }>(
        `SELECT client_id, next_at, lease_id, lease_until, (SELECT max(queued_at) FROM deliveries WHERE client_id = d.client_id) AS queued_at
         FROM deliveries d WHERE id = (SELECT min(id) FROM deliveries WHERE client_id = d.client_id)`,
      )
      .toArray()
      .map((h) => {
        const claimableAt = Math.max(h.next_at, h.lease_id ? h.lease_until : 0);
        const from = since(h.client_id, h.queued_at);
        return { clientId: h.client_id, at: claimableAt > from ? claimableAt : from + intervalMs(h.client_id) };
      });
  }

  // ---- receipts -----------------------------------------------------------------

  /** The message a channel id belongs to, once per receipt kind (`delivered` receipts are raised once). */
  sentMessage(clientId: string, channelMessageId: string): string | undefined {
    return this.sql.exec<{ message_id: string }>('SELECT message_id FROM sent WHERE client_id = ? AND channel_message_id = ?', clientId, channelMessageId).toArray()[0]?.message_id;
  }

  /** The clients a message was sent to, most recent send first (the hosted form page answers as the one its link went to). */
  sentTo(messageId: string): string[] {
    return this.sql.exec<{ client_id: string }>('SELECT client_id FROM sent WHERE message_id = ? ORDER BY sent_at DESC', messageId).toArray().map((r) => r.client_id);
  }

  /** Messages sent to the client up to a watermark (Messenger) and not yet reported delivered; marks them. */
  deliveredUpTo(clientId: string, watermark: number): string[] {
    const ids = this.sql
      .exec<{ message_id: string }>('SELECT DISTINCT message_id FROM sent WHERE client_id = ? AND sent_at <= ? AND delivered = 0 ORDER BY sent_at', clientId, watermark)
      .toArray()
      .map((r) => r.message_id);
    this.sql.exec('UPDATE sent SET delivered = 1 WHERE client_id = ? AND sent_at <= ?', clientId, watermark);
    return ids;
  }
}
