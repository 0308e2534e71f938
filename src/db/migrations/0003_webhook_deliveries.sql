-- Every webhook delivery attempt, for the deliveries route, and the events
-- that exhausted their retries (or were refused for good), for replay.
CREATE TABLE webhook_attempts (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  conversation_id TEXT,
  delivery_id TEXT NOT NULL,
  event_ids TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  response_code INTEGER,
  latency_ms INTEGER NOT NULL,
  error TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts(app_id, webhook_id, id);

CREATE TABLE webhook_dead_letters (
  event_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  app_id TEXT NOT NULL,
  conversation_id TEXT,
  event TEXT NOT NULL,
  reason TEXT NOT NULL,
  created_at TEXT NOT NULL,
  replayed_at TEXT,
  PRIMARY KEY (webhook_id, event_id)
);
CREATE INDEX webhook_dead_letters_by_app ON webhook_dead_letters(app_id, webhook_id, created_at);

-- Set by the replay route; the webhooks consumer re-sends rows that have it and no replayed_at.
ALTER TABLE webhook_dead_letters ADD COLUMN replay_requested_at TEXT;
