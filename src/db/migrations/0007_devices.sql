-- Devices of a client (v2 `device`, type `web`): each browser that opens the Web
-- Messenger is a device of the user's `sdk` client, recognised by the guid the
-- widget keeps in its storage. Devices go with their client (a login moves the
-- client, and so its devices, to the user it logged in as).

CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
  guid TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active',
  integration_id TEXT NOT NULL,
  app_version TEXT,
  info TEXT,
  last_seen TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE (client_id, guid)
);
CREATE INDEX devices_by_client ON devices(client_id, id);
