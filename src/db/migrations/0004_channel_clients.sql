-- Channel identities: a client is found by (app, integration, channel user id)
-- on every inbound webhook that misses the isolate cache, and the unique index
-- settles concurrent first contacts to one client. The client remembers the
-- personal conversation its messages go to.
ALTER TABLE clients ADD COLUMN conversation_id TEXT;
ALTER TABLE clients ADD COLUMN created_at TEXT;
CREATE UNIQUE INDEX clients_by_channel_identity ON clients(app_id, integration_id, external_id);
