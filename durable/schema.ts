/**
 * The ConversationDO's SQLite schema, versioned inside the object. Each entry
 * runs once, in order, inside the constructor's blockConcurrencyWhile, so an
 * object created by an older deploy migrates itself on first use.
 */
import { LEDGER_MIGRATION } from './channel-ledger';
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
];

export function migrate(sql: SqlStorage): void {
  sql.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray()[0];
  const current = row?.version ?? 0;
  for (let i = current; i < MIGRATIONS.length; i++) sql.exec(MIGRATIONS[i]!);
  if (!row) sql.exec('INSERT INTO schema_version (version) VALUES (?)', MIGRATIONS.length);
  else if (current !== MIGRATIONS.length) sql.exec('UPDATE schema_version SET version = ?', MIGRATIONS.length);
}
