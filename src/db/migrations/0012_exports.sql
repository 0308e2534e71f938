-- Exports (src/api/exports.ts) read the index in keyset order: (received, id)
-- for messages, (created_at, id) for conversations and users. Each filter an
-- export offers is an indexed range, never a scan of message bodies.
--
-- integration_type: the channel a message was on. A user's message: its
-- source.type ('whatsapp', 'web', 'api:conversations', ...). A business
-- message: the type of the client the conversation sent it to when it went to
-- one, else its source.type. Written by the index consumer from the op's
-- `integrationType` (src/schema/index-ops.ts); rows indexed before this
-- migration, and ops still queued from before it, take their source.type.
ALTER TABLE message_index ADD COLUMN integration_type TEXT;
UPDATE message_index SET integration_type = json_extract(body, '$.source.type') WHERE integration_type IS NULL;

-- (app_id, received) is a prefix of the export order; replaced, so a message
-- costs no more index writes than before for the unfiltered export.
DROP INDEX IF EXISTS message_index_by_app;
CREATE INDEX message_index_by_app_received ON message_index(app_id, received, id);
CREATE INDEX message_index_by_channel ON message_index(app_id, integration_type, received, id);
-- Business messages have no author user: left out of the index, so they cost no write in it.
CREATE INDEX message_index_by_author ON message_index(app_id, author_user_id, received, id) WHERE author_user_id IS NOT NULL;

CREATE INDEX conversations_by_app_created ON conversations(app_id, created_at, id);
CREATE INDEX users_by_app_created ON users(app_id, created_at, id);
