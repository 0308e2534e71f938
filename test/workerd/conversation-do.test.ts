/**
 * ConversationDO at unit level, through runInDurableObject and its RPC stub:
 * the schema version record, the 30,000-message cap, the outbox surviving
 * failed queue sends until the alarm drains it, and dedupeKey.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NewMessage } from '../../durable/conversation';
import { migrate, MIGRATIONS } from '../../durable/schema';
import type { Env } from '../../src/env';
import { LIMITS } from '../../src/schema/common';
import type { IndexOp } from '../../src/schema/index-ops';
import { call } from './helpers';
import { conversationDO, type Fixture, indexCount, indexRows, messagesPath, newConversation, outboxRows, pollUntil, postText, sleep, walkListing } from './load-fixtures';

const CAP = LIMITS.messagesPerConversation;

/** count(*) of messages next to the DO's own message_count, which the cap reads. */
function messageCounts(f: Fixture) {
  return runInDurableObject(conversationDO(f.appId, f.conversationId), (_instance, state) => ({
    rows: state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM messages').one().n,
    counter: state.storage.sql.exec<{ n: number }>('SELECT message_count AS n FROM conversation').one().n,
  }));
}

/**
 * Inserts `n` messages straight into the DO's SQLite (far faster than n API
 * posts) and keeps the DO's message_count equal to the row count, the
 * invariant every DO write path maintains (checked in its own test below),
 * and its last_seq at the newest message, where the next seq comes from.
 */
async function seedMessages(f: Fixture, n: number) {
  await runInDurableObject(conversationDO(f.appId, f.conversationId), (_instance, state) => {
    const sql = state.storage.sql;
    const received = new Date().toISOString();
    const author = JSON.stringify({ type: 'business' });
    const source = JSON.stringify({ type: 'api:conversations' });
    state.storage.transactionSync(() => {
      for (let i = 0; i < n; i++) {
        sql.exec(
          'INSERT INTO messages (id, received, author, content, source) VALUES (?, ?, ?, ?, ?)',
          `5eed${i.toString(16).padStart(20, '0')}`,
          received,
          author,
          JSON.stringify({ type: 'text', text: `seeded ${i}` }),
          source,
        );
      }
      sql.exec('UPDATE conversation SET message_count = (SELECT count(*) FROM messages), last_seq = (SELECT max(seq) FROM messages)');
    });
  });
  expect(await messageCounts(f)).toEqual({ rows: n, counter: n });
}

const expectLocked = (r: { status: number; body: any }) => {
  expect(r.status, JSON.stringify(r.body)).toBe(423);
  expect(r.body.errors).toHaveLength(1);
  expect(r.body.errors[0].code).toBe('locked');
  expect(typeof r.body.errors[0].title).toBe('string');
};

async function outboxDrained(f: Fixture) {
  const { value } = await pollUntil(() => outboxRows(f.appId, f.conversationId), (rows) => rows.length === 0, 10_000);
  expect(value).toEqual([]);
}

describe('ConversationDO schema', () => {
  it('records the number of migrations in schema_version, once, and keeps it across migrate() reruns and eviction', async () => {
    const f = await newConversation('DO: schema');
    const stub = conversationDO(f.appId, f.conversationId);
    const read = () =>
      runInDurableObject(stub, (_instance, state) => ({
        versions: state.storage.sql.exec<{ version: number }>('SELECT version FROM schema_version').toArray(),
        tables: state.storage.sql
          .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
          .toArray()
          .map((t) => t.name),
      }));
    const first = await read();
    expect(MIGRATIONS.length).toBeGreaterThan(0);
    expect(first.versions).toEqual([{ version: MIGRATIONS.length }]);
    expect(first.tables).toEqual(expect.arrayContaining(['conversation', 'messages', 'outbox', 'participants', 'schema_version']));

    // Running the migrations again changes nothing.
    await runInDurableObject(stub, (_instance, state) => migrate(state.storage.sql));
    expect((await read()).versions).toEqual([{ version: MIGRATIONS.length }]);

    // A fresh instance over the same storage (the constructor migrates again) keeps data and version.
    expect((await postText(f, 'before eviction')).status).toBe(201);
    await evictDurableObject(stub);
    expect((await read()).versions).toEqual([{ version: MIGRATIONS.length }]);
    const after = await postText(f, 'after eviction');
    expect(after.status).toBe(201);
    expect(after.body.messages[0].seq).toBe(2);
  });
});

/** Every table's columns and indexes, as SQLite describes them, for comparing two ways of building the schema. */
function describeSchema(sql: SqlStorage) {
  const tables = sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name")
    .toArray()
    .map((t) => t.name);
  return Object.fromEntries(
    tables.map((t) => [
      t,
      {
        // A key column is NOT NULL either way in effect: WITHOUT ROWID tables (new objects) say so, rowid tables do not.
        columns: sql.exec(`PRAGMA table_info(${t})`).toArray().map((c) => [c.name, c.type, c.pk ? 1 : c.notnull, c.dflt_value, c.pk]),
        indexes: sql
          .exec<{ name: string; unique: number }>(`PRAGMA index_list(${t})`)
          .toArray()
          .map((i) => [i.unique, sql.exec<{ name: string }>(`PRAGMA index_info(${i.name})`).toArray().map((c) => c.name).join(',')])
          .sort(),
      },
    ]),
  );
}

/** Drops every table of the object, so a test can build its schema another way. */
function dropAll(sql: SqlStorage) {
  for (const { name } of sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").toArray()) sql.exec(`DROP TABLE ${name}`);
}

describe('ConversationDO schema: new objects in one step, old ones by migration', () => {
  it('a new object built from CURRENT_SCHEMA has the tables, columns and indexes the migrations leave (events keep no id index; text keys are WITHOUT ROWID)', async () => {
    const f = await newConversation('DO: current schema');
    const stub = conversationDO(f.appId, f.conversationId);
    const { current, stepwise, withoutRowidNow } = await runInDurableObject(stub, (_i, state) => {
      const sql = state.storage.sql;
      const current = describeSchema(sql);
      const withoutRowidNow = sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID%' ORDER BY name")
        .toArray()
        .map((t) => t.name);
      dropAll(sql);
      for (const step of MIGRATIONS) sql.exec(step);
      const stepwise = describeSchema(sql);
      return { current, stepwise, withoutRowidNow };
    });
    // The one intended difference: old objects keep the unique index on events.id that nothing needs.
    stepwise.events!.indexes = stepwise.events!.indexes.filter(([unique, cols]) => !(unique === 1 && cols === 'id'));
    // schema_version is created by migrate() itself on the stepwise path.
    delete current.schema_version;
    expect(current).toEqual(stepwise);
    expect(withoutRowidNow).toEqual(['channel_clients', 'deleted_messages', 'inbound_seen', 'kick_watch', 'parked_receipts', 'participants', 'recent_notifications', 'sent', 'webhook_cursors']);
  });

  it('an old object moving to seq from the conversation row continues after its highest seq, deleted messages included', async () => {
    const f = await newConversation('DO: last_seq migration');
    const stub = conversationDO(f.appId, f.conversationId);
    const next = await runInDurableObject(stub, (_i, state) => {
      const sql = state.storage.sql;
      dropAll(sql);
      // The schema as the deploy before last_seq left it, then three messages of which the newest two were deleted.
      const lastSeq = MIGRATIONS.findIndex((m) => m.includes('ADD COLUMN last_seq'));
      for (const step of MIGRATIONS.slice(0, lastSeq)) sql.exec(step);
      sql.exec("INSERT INTO conversation (only_row, id, app_id, type, is_default, created_at, message_count) VALUES (1, 'c', 'a', 'personal', 1, '2026-01-01T00:00:00.000Z', 1)");
      for (let i = 1; i <= 3; i++) sql.exec("INSERT INTO messages (id, received, author, content, source) VALUES (?, '2026-01-01T00:00:00.000Z', '{}', '{}', '{}')", `m${i}`);
      sql.exec("DELETE FROM messages WHERE id IN ('m2', 'm3')");
      sql.exec(MIGRATIONS[lastSeq]!);
      return sql.exec<{ last_seq: number }>('SELECT last_seq FROM conversation').one().last_seq;
    });
    expect(next).toBe(3);
  });
});

describe('ConversationDO message cap', () => {
  it(`accepts the ${CAP}th message, answers 423 locked for the next, and accepts posts again after deletions`, { timeout: 60_000 }, async () => {
    const f = await newConversation('DO: cap');
    const t0 = performance.now();
    await seedMessages(f, CAP - 1);
    console.log(`[do] seeded ${CAP - 1} messages in ${(performance.now() - t0).toFixed(0)} ms`);

    const last = await postText(f, 'the last one that fits');
    expect(last.status, JSON.stringify(last.body)).toBe(201);
    expect(last.body.messages[0].seq).toBe(CAP);
    expectLocked(await postText(f, 'one too many'));
    expectLocked(await postText(f, 'still too many'));
    expect(await messageCounts(f)).toEqual({ rows: CAP, counter: CAP });

    // Deleting one message makes room for exactly one.
    expect((await call('DELETE', `${messagesPath(f)}/5eed${(0).toString(16).padStart(20, '0')}`, f.auth)).status).toBe(200);
    const refill = await postText(f, 'fits again');
    expect(refill.status, JSON.stringify(refill.body)).toBe(201);
    // The rejected posts consumed no seq.
    expect(refill.body.messages[0].seq).toBe(CAP + 1);
    expectLocked(await postText(f, 'full again'));

    // Deleting all messages unlocks the conversation; seq keeps increasing.
    expect((await call('DELETE', messagesPath(f), f.auth)).status).toBe(200);
    expect(await messageCounts(f)).toEqual({ rows: 0, counter: 0 });
    const fresh = await postText(f, 'after clearing');
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(201);
    expect(fresh.body.messages[0].seq).toBe(CAP + 2);
    const listed = (await walkListing(f)).backward;
    expect(listed.map((m) => m.content.text)).toEqual(['after clearing']);
  });

  it('lets exactly as many concurrent posts in as there is room for', { timeout: 60_000 }, async () => {
    const f = await newConversation('DO: cap race');
    const room = 5;
    await seedMessages(f, CAP - room);
    const results = await Promise.all(Array.from({ length: 4 * room }, (_, i) => postText(f, `race ${i}`)));
    const accepted = results.filter((r) => r.status === 201);
    const locked = results.filter((r) => r.status !== 201);
    expect(accepted).toHaveLength(room);
    locked.forEach(expectLocked);
    expect(accepted.map((r) => r.body.messages[0].seq).sort((a, b) => a - b)).toEqual(Array.from({ length: room }, (_, i) => CAP - room + 1 + i));
    expect(await messageCounts(f)).toEqual({ rows: CAP, counter: CAP });
  });

  it('keeps message_count equal to the number of stored messages through posts and deletions', async () => {
    const f = await newConversation('DO: message_count');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await postText(f, `m${i}`)).body.messages[0].id);
    expect(await messageCounts(f)).toEqual({ rows: 5, counter: 5 });
    expect((await call('DELETE', `${messagesPath(f)}/${ids[2]}`, f.auth)).status).toBe(200);
    expect(await messageCounts(f)).toEqual({ rows: 4, counter: 4 });
    // Deleting a message that is already gone changes nothing.
    expect((await call('DELETE', `${messagesPath(f)}/${ids[2]}`, f.auth)).status).toBe(404);
    expect(await messageCounts(f)).toEqual({ rows: 4, counter: 4 });
    expect((await call('DELETE', messagesPath(f), f.auth)).status).toBe(200);
    expect(await messageCounts(f)).toEqual({ rows: 0, counter: 0 });
    expect((await call('DELETE', messagesPath(f), f.auth)).status).toBe(200);
    expect(await messageCounts(f)).toEqual({ rows: 0, counter: 0 });
    for (let i = 0; i < 2; i++) expect((await postText(f, `n${i}`)).status).toBe(201);
    expect(await messageCounts(f)).toEqual({ rows: 2, counter: 2 });
  });
});

describe('ConversationDO outbox', () => {
  let restore: (() => Promise<void>) | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await restore?.();
    restore = undefined;
  });

  it('keeps ops in the outbox while queue sends fail, and the alarm drains them to the index once the queue works', { timeout: 60_000 }, async () => {
    const f = await newConversation('DO: outbox');
    const stub = conversationDO(f.appId, f.conversationId);
    await outboxDrained(f);

    // Every send from this DO instance now fails, as a Queues outage would make it.
    let attempts = 0;
    // Each failed drain logs a line: captured and checked below, so this expected outage does not read as a fault in the run's output.
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    await runInDurableObject(stub, (instance) => {
      const holder = instance as unknown as { env: Env };
      const real = holder.env;
      const failing = {
        send: async () => {
          attempts++;
          throw new Error('test: queue unavailable');
        },
        sendBatch: async () => {
          attempts++;
          throw new Error('test: queue unavailable');
        },
      } as unknown as Queue<IndexOp>;
      // Index ops leave in feed messages on the webhooks queue.
      holder.env = Object.create(real, { WEBHOOKS_QUEUE: { value: failing } }) as Env;
      restore = () => runInDurableObject(stub, (i) => void ((i as unknown as { env: Env }).env = real));
    });

    const posted = [];
    for (let i = 0; i < 3; i++) {
      const r = await postText(f, `queued ${i}`);
      expect(r.status, 'a failing queue never fails the post').toBe(201);
      posted.push(r.body.messages[0]);
    }
    expect((await call('DELETE', `${messagesPath(f)}/${posted[1].id}`, f.auth)).status).toBe(200);

    await pollUntil(async () => attempts, (n) => n >= 1, 5_000);
    expect(attempts, 'the DO tried to send').toBeGreaterThanOrEqual(1);
    await sleep(1_500); // longer than the consumer's batch timeout: anything sent would have been indexed by now
    const all = await outboxRows(f.appId, f.conversationId);
    const kept = all.filter((r) => r.queue === 'index');
    const ops = kept.map((r) => JSON.parse(r.body) as IndexOp);
    expect(ops.map((o) => o.op)).toEqual(['message.upsert', 'message.upsert', 'message.upsert', 'message.delete']);
    expect(ops.map((o) => (o.op === 'message.upsert' ? o.message.id : o.op === 'message.delete' ? o.messageId : null))).toEqual([
      posted[0].id,
      posted[1].id,
      posted[2].id,
      posted[1].id,
    ]);
    expect(all.filter((r) => r.queue !== 'index'), 'the webhooks kick is owed from the event stream, not kept as a row').toEqual([]);
    expect(await indexCount(f.conversationId)).toEqual({ n: 0, distinct: 0 });
    const alarmAt = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(alarmAt, 'a retry alarm is armed').not.toBeNull();

    // The alarm firing while the queue is still down keeps the rows and re-arms itself.
    const before = attempts;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(attempts).toBeGreaterThan(before);
    expect((await outboxRows(f.appId, f.conversationId)).filter((r) => r.queue === 'index').map((r) => r.id)).toEqual(kept.map((r) => r.id));
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).not.toBeNull();

    expect(new Set(logged.mock.calls.map((args) => args[0])), 'what the outage logged').toEqual(new Set(['outbox drain failed; the alarm will retry']));
    expect(logged.mock.calls.length).toBeGreaterThanOrEqual(2);
    logged.mockRestore();

    // Queue back: nothing drains by itself (no commit happened), the alarm does.
    await restore!();
    restore = undefined;
    expect((await outboxRows(f.appId, f.conversationId)).filter((r) => r.queue === 'index').length).toBe(4);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // Sent now; the rows leave the outbox once the index consumer confirms D1 holds them.
    await outboxDrained(f);

    const { value } = await pollUntil(() => indexRows(f.conversationId), (rows) => rows.length >= 2, 15_000);
    expect(value.map((r) => [r.id, r.seq])).toEqual([
      [posted[0].id, 1],
      [posted[2].id, 3],
    ]);
    const listed = (await walkListing(f)).backward;
    expect(listed.map((m) => [m.id, m.seq])).toEqual(value.map((r) => [r.id, r.seq]));
    await sleep(1_500);
    expect(await indexCount(f.conversationId)).toEqual({ n: 2, distinct: 2 });
  });
});

describe('ConversationDO dedupeKey', () => {
  it('returns the stored message for a repeated dedupeKey and stores it once, even for concurrent repeats', async () => {
    const f = await newConversation('DO: dedupe');
    const stub = conversationDO(f.appId, f.conversationId);
    const inbound = (text: string, dedupeKey: string): NewMessage => ({
      author: { type: 'user', userId: f.userId },
      content: { type: 'text', text },
      source: { type: 'whatsapp', integrationId: 'int_1', originalMessageId: dedupeKey },
      dedupeKey: `int_1:${dedupeKey}`,
    });

    const first = await stub.postMessage(inbound('hello', 'wamid.1'));
    if (!first.ok) throw new Error(`first post failed: ${first.code}`);
    expect(first.value.seq).toBe(1);

    // A repeat, even with different content, answers with what was stored.
    const again = await stub.postMessage(inbound('hello (redelivered, edited)', 'wamid.1'));
    expect(again).toEqual(first);
    const burst = await Promise.all(Array.from({ length: 8 }, () => stub.postMessage(inbound('hello', 'wamid.1'))));
    for (const r of burst) expect(r).toEqual(first);

    const other = await stub.postMessage(inbound('second', 'wamid.2'));
    if (!other.ok) throw new Error(`second post failed: ${other.code}`);
    expect(other.value.seq).toBe(2);
    expect(other.value.id).not.toBe(first.value.id);

    const stored = await runInDurableObject(stub, (_instance, state) =>
      state.storage.sql.exec<{ dedupe_key: string; n: number }>('SELECT dedupe_key, count(*) AS n FROM messages GROUP BY dedupe_key ORDER BY dedupe_key').toArray(),
    );
    expect(stored).toEqual([
      { dedupe_key: 'int_1:wamid.1', n: 1 },
      { dedupe_key: 'int_1:wamid.2', n: 1 },
    ]);
    expect(await messageCounts(f)).toEqual({ rows: 2, counter: 2 });
    const listed = (await walkListing(f)).backward;
    expect(listed.map((m) => m.content.text)).toEqual(['hello', 'second']);

    // Only the two stored messages reach the index, and the repeats left no extra op behind.
    const { value } = await pollUntil(() => indexCount(f.conversationId), (c) => c.n >= 2, 15_000);
    expect(value).toEqual({ n: 2, distinct: 2 });
    await outboxDrained(f);
    await sleep(1_500);
    expect(await indexCount(f.conversationId)).toEqual({ n: 2, distinct: 2 });
  });
});
