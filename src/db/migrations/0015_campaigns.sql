-- Campaigns (Parley's extension): a business message the Web Messenger shows
-- visitors of one web integration before any conversation exists. The app's
-- configuration, like its switchboard: created through the REST API, read by
-- the widget's /sdk list (through a per-isolate cache, by integration) and
-- once by a session that answers one (src/db/campaigns.ts). They go with
-- their app and with their web integration.

CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  display_name TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  -- {author?, content}: validated by src/schema/campaign.ts before it is written.
  message TEXT NOT NULL,
  url_contains TEXT,
  delay_seconds INTEGER NOT NULL DEFAULT 0,
  frequency TEXT NOT NULL DEFAULT 'oncePerVisitor',
  metadata TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX campaigns_by_app ON campaigns(app_id, id);
-- The widget's list: an integration's enabled campaigns, oldest first.
CREATE INDEX campaigns_by_integration ON campaigns(integration_id, enabled, created_at, id);
