-- Integrations (custom now, channels later), the webhooks customers subscribe
-- with, and custom-integration API keys. Webhooks and keys die with their
-- integration, and integrations with their app, by cascade.

CREATE TABLE integrations (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active',
  display_name TEXT,
  -- Type-specific settings; channel credentials in it are sealed by the channel's module.
  config TEXT NOT NULL DEFAULT '{}',
  created_at TEXT NOT NULL
);
CREATE INDEX integrations_by_app ON integrations(app_id, id);
CREATE INDEX integrations_by_app_type ON integrations(app_id, type, id);

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  target TEXT NOT NULL,
  triggers TEXT NOT NULL,
  include_full_user INTEGER NOT NULL DEFAULT 0,
  include_full_source INTEGER NOT NULL DEFAULT 0,
  version TEXT NOT NULL DEFAULT 'v2' CHECK (version IN ('v1', 'v2')),
  secret_sealed TEXT NOT NULL,
  -- After a rotation the replaced secret keeps working until it expires, so receivers can switch without a gap.
  previous_secret_sealed TEXT,
  previous_secret_expires_at TEXT,
  created_at TEXT NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks(app_id, id);
CREATE INDEX webhooks_by_integration ON webhooks(integration_id, id);

CREATE TABLE integration_keys (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  display_name TEXT NOT NULL,
  secret_sealed TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX integration_keys_by_integration ON integration_keys(integration_id, id);
