-- Notifications sent through the API, by the idempotency key a caller may
-- send: a retried call with the same key answers the same notification and
-- sends nothing again. Without a key every call is a new notification.

CREATE TABLE notifications (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  idempotency_key TEXT,
  integration_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (app_id, idempotency_key)
);
