-- Parley's relational data (apps, keys, users, clients) and the queryable
-- index of conversations and messages. Conversation state itself lives in each
-- ConversationDO; the conversation rows here are the index used to list a
-- user's conversations.

CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  settings TEXT NOT NULL,
  metadata TEXT,
  created_at TEXT NOT NULL
);

CREATE TABLE app_keys (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  display_name TEXT NOT NULL,
  secret_sealed TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX app_keys_by_app ON app_keys(app_id, id);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  external_id TEXT,
  signed_up_at TEXT,
  to_be_retained INTEGER NOT NULL DEFAULT 0,
  authenticated INTEGER NOT NULL DEFAULT 0,
  profile TEXT NOT NULL,
  metadata TEXT NOT NULL,
  identities TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX users_by_external_id ON users(app_id, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE clients (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  integration_id TEXT,
  external_id TEXT,
  last_seen TEXT,
  linked_at TEXT,
  display_name TEXT,
  avatar_url TEXT,
  info TEXT,
  raw TEXT
);
CREATE INDEX clients_by_user ON clients(user_id, id);

-- No foreign keys on the index tables: the index queue may redeliver an upsert
-- after its app is gone, and that must not fail the batch.
CREATE TABLE conversations (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  type TEXT NOT NULL,
  is_default INTEGER NOT NULL DEFAULT 0,
  display_name TEXT,
  description TEXT,
  icon_url TEXT,
  metadata TEXT,
  created_at TEXT NOT NULL,
  last_updated_at TEXT,
  business_last_read TEXT,
  -- Guards against queue reordering: a late upsert never resurrects a deleted
  -- conversation or a cleared message.
  deleted_at TEXT,
  cleared_up_to_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE conversation_participants (
  conversation_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  participant_id TEXT NOT NULL,
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversations_by_app ON conversations(app_id, id);
CREATE INDEX participants_by_user ON conversation_participants(app_id, user_id, conversation_id);

-- Written in batches by the index queue consumer; keyed so redelivery is harmless.
CREATE TABLE message_index (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  received TEXT NOT NULL,
  author_type TEXT NOT NULL,
  author_user_id TEXT,
  content_type TEXT NOT NULL,
  text TEXT,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX message_index_by_seq ON message_index(conversation_id, seq);
CREATE INDEX message_index_by_app ON message_index(app_id, received);

-- Ids of messages deleted one by one: a retried upsert that arrives after the
-- delete must not bring the message back.
CREATE TABLE message_tombstones (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL
);
CREATE INDEX message_tombstones_by_conversation ON message_tombstones(conversation_id);
