-- Stored message templates (src/db/message-templates.ts): an app's business
-- messages kept under a name, sent by writing `%((template:NAME))%` in a text
-- message (src/content/shorthand.ts). App configuration, like switchboards:
-- they go with their app by cascade. Names are unique per app because the
-- shorthand finds a template by name; (app_id, name) is also the one index the
-- send path reads. Listing pages by id within the app.

CREATE TABLE message_templates (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  -- The content as POST .../messages accepts it, validated before it is stored (JSON).
  content TEXT NOT NULL,
  metadata TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  UNIQUE (app_id, name)
);
CREATE INDEX message_templates_by_app ON message_templates(app_id, id);
