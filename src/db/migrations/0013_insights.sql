-- Search, stats and usage read what the index consumer already writes. Every
-- table here is kept in step by triggers on the rows the consumers insert
-- anyway (message_index, delivery_outcomes), so each count happens once, in
-- the same transaction as the row it counts: a redelivered op that inserts
-- nothing counts nothing, and no code path can forget to count.

-- Full text of indexed messages. A regular FTS5 table keyed by
-- message_index's rowid (it keeps its own copy of the text, so deleting a row
-- that is already gone is a harmless no-op, unlike an external-content table).
-- app_id and conversation_id are indexed columns (one token each: ids are
-- hex), so the tenant wall and the conversation filter are part of the MATCH
-- and FTS5 intersects them with the words, instead of a join filtering every
-- match of a common word. Ranked by bm25 over the text alone.
-- Note: `wrangler d1 export` refuses a database holding an FTS5 table
-- (cloudflare/workers-sdk#6305, #9519). The table is derived data: to export
-- with wrangler, DROP TABLE message_search first (the triggers go with it:
-- drop them too), then recreate it and the triggers as below and refill it with
-- INSERT INTO message_search (rowid, text, app_id, conversation_id)
-- SELECT rowid, text, app_id, conversation_id FROM message_index WHERE text IS NOT NULL
-- (a scrubbed user's messages then need DELETE ... as in src/db/insights-search.ts).
-- Parley's own export routes are unaffected.
CREATE VIRTUAL TABLE message_search USING fts5(text, app_id, conversation_id, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO message_search (message_search, rank) VALUES ('rank', 'bm25(1.0, 0.0, 0.0)');

-- Users scrubbed of personal information: their messages leave the search
-- index, and a message of theirs received before the scrub that reaches the
-- index late (an op in flight) is not added.
CREATE TABLE search_scrubbed (
  app_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  scrubbed_at TEXT NOT NULL,
  PRIMARY KEY (app_id, user_id)
) WITHOUT ROWID;

CREATE TRIGGER message_search_insert AFTER INSERT ON message_index
WHEN new.text IS NOT NULL AND new.text <> ''
  AND NOT EXISTS (SELECT 1 FROM search_scrubbed s WHERE s.app_id = new.app_id AND s.user_id = new.author_user_id AND s.scrubbed_at >= new.received)
BEGIN
  INSERT INTO message_search (rowid, text, app_id, conversation_id) VALUES (new.rowid, new.text, new.app_id, new.conversation_id);
END;

-- A redelivered upsert rewrites text with the same value: nothing to do then.
-- A row not in the search index (scrubbed) stays out of it.
CREATE TRIGGER message_search_update AFTER UPDATE OF text ON message_index
WHEN new.text IS NOT old.text
BEGIN
  UPDATE message_search SET text = coalesce(new.text, '') WHERE rowid = new.rowid;
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON message_index
BEGIN
  DELETE FROM message_search WHERE rowid = old.rowid;
END;

-- Usage, counted as events happen: one row per (app, UTC hour, metric,
-- channel). Metrics: messages.inbound, messages.outbound (channel = the
-- message's integration_type, migration 0012: the channel it was on),
-- deliveries.sent, deliveries.failed (channel = the
-- client's type).
CREATE TABLE usage_counters (
  app_id TEXT NOT NULL,
  hour TEXT NOT NULL,
  metric TEXT NOT NULL,
  channel TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (app_id, hour, metric, channel)
) WITHOUT ROWID;

-- Monthly active users: a user with at least one message in the month (the unit Sunshine bills).
CREATE TABLE usage_active_users (
  app_id TEXT NOT NULL,
  month TEXT NOT NULL,
  user_id TEXT NOT NULL,
  PRIMARY KEY (app_id, month, user_id)
) WITHOUT ROWID;

CREATE TRIGGER usage_message AFTER INSERT ON message_index
BEGIN
  INSERT INTO usage_counters (app_id, hour, metric, channel, count)
  VALUES (
    new.app_id,
    substr(new.received, 1, 13),
    CASE new.author_type WHEN 'user' THEN 'messages.inbound' ELSE 'messages.outbound' END,
    coalesce(new.integration_type, json_extract(new.body, '$.source.type'), 'unknown'),
    1
  )
  ON CONFLICT (app_id, hour, metric, channel) DO UPDATE SET count = count + 1;
  INSERT OR IGNORE INTO usage_active_users (app_id, month, user_id)
  SELECT new.app_id, substr(new.received, 1, 7), new.author_user_id
  WHERE new.author_type = 'user' AND new.author_user_id IS NOT NULL;
END;

-- How each of Parley's channel sends ended, reported by the conversation's
-- object through the index feed (op delivery.outcome); one row per
-- (conversation, message, client), so a redelivered op counts nothing.
CREATE TABLE delivery_outcomes (
  app_id TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  outcome TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (app_id, conversation_id, message_id, client_id)
) WITHOUT ROWID;

CREATE TRIGGER usage_delivery AFTER INSERT ON delivery_outcomes
BEGIN
  INSERT INTO usage_counters (app_id, hour, metric, channel, count)
  VALUES (new.app_id, substr(new.at, 1, 13), 'deliveries.' || new.outcome, new.channel, 1)
  ON CONFLICT (app_id, hour, metric, channel) DO UPDATE SET count = count + 1;
END;

-- Media bytes put into R2 (channel media copied in, attachments uploaded), by object key so a retried put counts once.
CREATE TABLE usage_media (
  app_id TEXT NOT NULL,
  key TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (app_id, key)
) WITHOUT ROWID;

CREATE TRIGGER usage_media_put AFTER INSERT ON usage_media
BEGIN
  INSERT INTO usage_counters (app_id, hour, metric, channel, count)
  VALUES (new.app_id, substr(new.at, 1, 13), 'media.bytes', '', new.bytes)
  ON CONFLICT (app_id, hour, metric, channel) DO UPDATE SET count = count + excluded.count;
  INSERT INTO usage_counters (app_id, hour, metric, channel, count)
  VALUES (new.app_id, substr(new.at, 1, 13), 'media.objects', '', 1)
  ON CONFLICT (app_id, hour, metric, channel) DO UPDATE SET count = count + 1;
END;
