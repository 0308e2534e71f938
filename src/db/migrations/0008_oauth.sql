-- Parley as an OAuth 2.0 provider (src/db/oauth.ts): the partner clients the
-- account registers, which app granted which client (the integration that
-- stands for the client in that app), and the authorization codes and access
-- tokens issued. Codes and tokens are stored only as SHA-256 hashes; a client
-- secret is sealed like key secrets. Everything an app or an integration
-- granted dies with it by cascade, so deleting either ends its tokens in D1.

CREATE TABLE oauth_clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  -- JSON array of the exact redirect URIs /oauth/authorize may send the browser back to.
  redirect_uris TEXT NOT NULL,
  remove_url TEXT,
  secret_sealed TEXT NOT NULL,
  created_at TEXT NOT NULL
);

-- One integration per (app, client): approving again reuses it.
CREATE TABLE oauth_grants (
  app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
  client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  integration_id TEXT NOT NULL UNIQUE REFERENCES integrations(id) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  PRIMARY KEY (app_id, client_id)
) WITHOUT ROWID;
CREATE INDEX oauth_grants_by_client ON oauth_grants(client_id);

-- A used code is kept (used_at, token_hash) until a day past its expiry, so a
-- replay is recognised and the token issued from it revoked (RFC 6749 §4.1.2).
CREATE TABLE oauth_codes (
  code_hash TEXT PRIMARY KEY,
  client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  app_id TEXT NOT NULL,
  integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  redirect_uri TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at INTEGER,
  token_hash TEXT
) WITHOUT ROWID;
CREATE INDEX oauth_codes_by_expiry ON oauth_codes(expires_at);
-- For the cascades when an integration or a client is deleted.
CREATE INDEX oauth_codes_by_integration ON oauth_codes(integration_id);
CREATE INDEX oauth_codes_by_client ON oauth_codes(client_id);

CREATE TABLE oauth_tokens (
  token_hash TEXT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  app_id TEXT NOT NULL,
  integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
  -- No foreign key: the code row is purged a day after it expires, the token lives on.
  code_hash TEXT NOT NULL,
  created_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_tokens_by_code ON oauth_tokens(code_hash);
CREATE INDEX oauth_tokens_by_integration ON oauth_tokens(integration_id);
CREATE INDEX oauth_tokens_by_client ON oauth_tokens(client_id);
