-- Signed nonces a channel must not see twice with different content
-- (Mailgun signs only a timestamp and a token, not the body): what each
-- nonce came with, so a redelivery of the same mail is taken and a captured
-- signature carrying another mail is refused, whichever Worker instance
-- sees it. Rows older than a day are dropped a few at a time.

CREATE TABLE inbound_nonces (
  integration_id TEXT NOT NULL,
  nonce TEXT NOT NULL,
  digest TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (integration_id, nonce)
) WITHOUT ROWID;
CREATE INDEX inbound_nonces_by_age ON inbound_nonces(at);
