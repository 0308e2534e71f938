/**
 * The ConversationDO's SQLite schema, versioned inside the object. A new
 * object is created in one step from `CURRENT_SCHEMA` (every table as it is
 * now: one statement per table or index, no column added after the fact); an
 * object created by an older deploy runs the `MIGRATIONS` it has not seen, in
 * order, inside the constructor's blockConcurrencyWhile, on first use. A test
 * checks that both paths end with the same tables, columns and indexes.
 *
 * Message `seq` comes from the conversation row's `last_seq` and outbox ids
 * grow with time, so new objects need no AUTOINCREMENT (each insert into such
 * a table writes a second row, to sqlite_sequence); events need none either,
 * since the newest event is never deleted. Tables keyed by text are WITHOUT
 * ROWID in new objects: the key is the row, not a second b-tree beside it,
 * so an insert writes one row instead of two.
 */
import { LEDGER_MIGRATION } from './channel-ledger';
import { NOTIFICATIONS_TABLE } from './notifications';
import { STREAM_MIGRATION } from './webhook-stream';

export const MIGRATIONS: string[] = [
  `CREATE TABLE conversation (
     only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
     id TEXT NOT NULL,
     app_id TEXT NOT NULL,
     type TEXT NOT NULL,
     is_default INTEGER NOT NULL,
     display_name TEXT,
     description TEXT,
     icon_url TEXT,
     metadata TEXT,
     created_at TEXT NOT NULL,
     last_updated_at TEXT,
     business_last_read TEXT,
     message_count INTEGER NOT NULL DEFAULT 0,
     deleted_at TEXT
   );
   CREATE TABLE messages (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     received TEXT NOT NULL,
     author TEXT NOT NULL,
     content TEXT NOT NULL,
     source TEXT NOT NULL,
     metadata TEXT,
     dedupe_key TEXT UNIQUE
   );
   CREATE TABLE participants (
     id TEXT PRIMARY KEY,
     user_id TEXT NOT NULL UNIQUE,
     user_external_id TEXT,
     unread_count INTEGER NOT NULL DEFAULT 0,
     last_read TEXT,
     client_associations TEXT NOT NULL DEFAULT '[]',
     joined_at TEXT NOT NULL
   );
   CREATE TABLE outbox (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     queue TEXT NOT NULL,
     body TEXT NOT NULL
   );`,
  STREAM_MIGRATION,
  `CREATE TABLE stream_owner (
     only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
     app_id TEXT NOT NULL,
     owner_id TEXT NOT NULL
   );`,
  `ALTER TABLE webhook_cursors ADD COLUMN lease_id TEXT;`,
  `CREATE TABLE default_conversation (only_row INTEGER PRIMARY KEY CHECK (only_row = 1), conversation_id TEXT NOT NULL);`,
  `CREATE TABLE deleted_messages (id TEXT PRIMARY KEY, seq INTEGER NOT NULL);`,
  LEDGER_MIGRATION,
  `ALTER TABLE deliveries ADD COLUMN part_sent INTEGER NOT NULL DEFAULT 0;`,
  `CREATE TABLE parked_receipts (
     client_id TEXT NOT NULL,
     channel_message_id TEXT NOT NULL,
     status TEXT NOT NULL,
     error TEXT,
     at INTEGER NOT NULL,
     PRIMARY KEY (client_id, channel_message_id, status)
   );`,
  // The alarm's safety net for lost queue kicks: each cursor keeps its webhook's filter, each delivery when it
  // was queued, and one row per kick target ('webhooks', 'deliveries:<clientId>') says when the alarm last kicked
  // and how many times in a row without progress; written only when the alarm kicks, never per message.
  `ALTER TABLE webhook_cursors ADD COLUMN triggers TEXT;
   ALTER TABLE webhook_cursors ADD COLUMN since TEXT;
   ALTER TABLE webhook_cursors ADD COLUMN orphaned INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE deliveries ADD COLUMN queued_at INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE kick_watch (
     name TEXT PRIMARY KEY,
     kicked_at INTEGER NOT NULL,
     rekicks INTEGER NOT NULL DEFAULT 0,
     seq INTEGER NOT NULL DEFAULT 0
   );`,
  // How the consumer claims for each webhook, so the outbox claims the same way when it drains and the feed
  // message carries the batch (no round trip to ask for it).
  `ALTER TABLE webhook_cursors ADD COLUMN batch_limit INTEGER;
   ALTER TABLE webhook_cursors ADD COLUMN lease_ms INTEGER;`,
  // Message seq from the conversation row (continuing where AUTOINCREMENT left off, deleted messages included).
  `ALTER TABLE conversation ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
   UPDATE conversation SET last_seq = max(
     coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
     coalesce((SELECT max(seq) FROM messages), 0));`,
  // Switchboard state (durable/switchboard.ts), kept on the conversation row so it changes in order with messages,
  // and the app's retention as last told (durable/retention.ts).
  `ALTER TABLE conversation ADD COLUMN active_switchboard TEXT;
   ALTER TABLE conversation ADD COLUMN pending_switchboard TEXT;
   ALTER TABLE conversation ADD COLUMN retention_seconds INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE conversation ADD COLUMN create_announced INTEGER NOT NULL DEFAULT 1;
   ${NOTIFICATIONS_TABLE}
   ALTER TABLE channel_clients ADD COLUMN linked_at INTEGER;`,
];

/** Every table as the migrations above leave it, for an object created now. */
export const CURRENT_SCHEMA = `
  CREATE TABLE conversation (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    type TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    display_name TEXT,
    description TEXT,
    icon_url TEXT,
    metadata TEXT,
    created_at TEXT NOT NULL,
    last_updated_at TEXT,
    business_last_read TEXT,
    message_count INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT,
    last_seq INTEGER NOT NULL DEFAULT 0,
    active_switchboard TEXT,
    pending_switchboard TEXT,
    retention_seconds INTEGER NOT NULL DEFAULT 0,
    create_announced INTEGER NOT NULL DEFAULT 1
  );
  CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    received TEXT NOT NULL,
    author TEXT NOT NULL,
    content TEXT NOT NULL,
    source TEXT NOT NULL,
    metadata TEXT,
    dedupe_key TEXT UNIQUE
  );
  CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    user_external_id TEXT,
    unread_count INTEGER NOT NULL DEFAULT 0,
    last_read TEXT,
    client_associations TEXT NOT NULL DEFAULT '[]',
    joined_at TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL
  );
  CREATE TABLE webhook_cursors (
    webhook_id TEXT PRIMARY KEY,
    acked_seq INTEGER NOT NULL DEFAULT 0,
    inflight_end INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    next_attempt_at INTEGER,
    lease_until INTEGER,
    lease_id TEXT,
    triggers TEXT,
    since TEXT,
    orphaned INTEGER NOT NULL DEFAULT 0,
    batch_limit INTEGER,
    lease_ms INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE stream_owner (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    app_id TEXT NOT NULL,
    owner_id TEXT NOT NULL
  );
  CREATE TABLE default_conversation (only_row INTEGER PRIMARY KEY CHECK (only_row = 1), conversation_id TEXT NOT NULL);
  CREATE TABLE deleted_messages (id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
  CREATE TABLE channel_clients (
    id TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL,
    type TEXT NOT NULL,
    external_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    raw TEXT,
    last_inbound_at INTEGER,
    choices TEXT NOT NULL DEFAULT '[]',
    added_at INTEGER NOT NULL,
    linked_at INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE inbound_seen (key TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
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
    lease_until INTEGER NOT NULL DEFAULT 0,
    part_sent INTEGER NOT NULL DEFAULT 0,
    queued_at INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX deliveries_by_client ON deliveries(client_id, id);
  CREATE TABLE sent (
    channel_message_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, channel_message_id)
  ) WITHOUT ROWID;
  CREATE INDEX sent_by_time ON sent(client_id, sent_at);
  CREATE TABLE parked_receipts (
    client_id TEXT NOT NULL,
    channel_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    at INTEGER NOT NULL,
    PRIMARY KEY (client_id, channel_message_id, status)
  ) WITHOUT ROWID;
  CREATE TABLE kick_watch (
    name TEXT PRIMARY KEY,
    kicked_at INTEGER NOT NULL,
    rekicks INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  ${NOTIFICATIONS_TABLE}
  CREATE TABLE schema_version (version INTEGER NOT NULL);`;

export function migrate(sql: SqlStorage): void {
  const fresh = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").toArray().length === 0;
  if (fresh && sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'conversation'").toArray().length === 0) {
    sql.exec(CURRENT_SCHEMA);
    sql.exec('INSERT INTO schema_version (version) VALUES (?)', MIGRATIONS.length);
    return;
  }
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray()[0];
  const current = row?.version ?? 0;
  for (let i = current; i < MIGRATIONS.length; i++) sql.exec(MIGRATIONS[i]!);
  if (!row) sql.exec('INSERT INTO schema_version (version) VALUES (?)', MIGRATIONS.length);
  else if (current !== MIGRATIONS.length) sql.exec('UPDATE schema_version SET version = ?', MIGRATIONS.length);
}
