-- The switchboard (at most one per app) and its switchboard integrations (at
-- most ten): who gets control of a conversation and who hears its events
-- while in standby. A conversation's own switchboard state lives in its
-- Durable Object; these rows are the app's configuration, read through a
-- per-isolate cache (src/db/switchboards.ts).

CREATE TABLE switchboards (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL UNIQUE REFERENCES apps(id) ON DELETE CASCADE,
  enabled INTEGER NOT NULL DEFAULT 0,
  default_switchboard_integration_id TEXT,
  created_at TEXT NOT NULL
);

CREATE TABLE switchboard_integrations (
  id TEXT PRIMARY KEY,
  switchboard_id TEXT NOT NULL REFERENCES switchboards(id) ON DELETE CASCADE,
  app_id TEXT NOT NULL,
  name TEXT NOT NULL,
  integration_id TEXT,
  integration_type TEXT,
  deliver_standby_events INTEGER NOT NULL DEFAULT 1,
  next_switchboard_integration_id TEXT,
  message_history_count INTEGER,
  created_at TEXT NOT NULL,
  UNIQUE (switchboard_id, name)
);
CREATE INDEX switchboard_integrations_by_switchboard ON switchboard_integrations(switchboard_id, id);
