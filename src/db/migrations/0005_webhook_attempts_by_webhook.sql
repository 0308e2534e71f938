-- The delivery log gains a row on every webhook delivery, so it sits on the
-- message path. Every read of it is by (app, webhook) in id order, so the log
-- is one WITHOUT ROWID b-tree keyed that way: an attempt is one row written,
-- where the rowid table, its id index and its (app, webhook, id) index were three.
CREATE TABLE webhook_attempts_keyed (
  app_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  id TEXT NOT NULL,
  conversation_id TEXT,
  delivery_id TEXT NOT NULL,
  event_ids TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  response_code INTEGER,
  latency_ms INTEGER NOT NULL,
  error TEXT,
  created_at TEXT NOT NULL,
  PRIMARY KEY (app_id, webhook_id, id)
) WITHOUT ROWID;
INSERT INTO webhook_attempts_keyed (app_id, webhook_id, id, conversation_id, delivery_id, event_ids, attempt, outcome, response_code, latency_ms, error, created_at)
  SELECT app_id, webhook_id, id, conversation_id, delivery_id, event_ids, attempt, outcome, response_code, latency_ms, error, created_at FROM webhook_attempts;
DROP TABLE webhook_attempts;
ALTER TABLE webhook_attempts_keyed RENAME TO webhook_attempts;
