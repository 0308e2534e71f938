/**
 * What search and usage add to each indexed message, in D1 rows written: the
 * message's upsert measured with migration 0013's triggers, against the same
 * upsert into a table shaped like message_index without them. The figure
 * src/db/insights-cost.ts adds per message is pinned here.
 */
import { expect, it } from 'vitest';
import { INSIGHTS_ROWS_PER_MESSAGE } from '../../../src/db/insights-cost';
import { newApp } from '../helpers';
import { messageOp, testEnv } from './seed';
import { newId } from '../../../src/ids';

const UPSERT = (table: string) => `INSERT INTO ${table} (id, app_id, conversation_id, seq, received, author_type, author_user_id, content_type, text, body, integration_type)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
  ON CONFLICT(id) DO UPDATE SET body = excluded.body, text = excluded.text`;

it('an indexed message costs the rows the cost model says, and a redelivered one costs no more than before', async () => {
  const db = testEnv.DB;
  const { appId } = await newApp('insights cost');
  // The same table and indexes as message_index, without the triggers.
  const { results } = await db.prepare(`SELECT sql FROM sqlite_master WHERE tbl_name = 'message_index' AND type IN ('table', 'index') AND sql IS NOT NULL`).all<{ sql: string }>();
  const bare = `bare_${newId()}`;
  for (const { sql } of results) await db.prepare(sql.replace(/message_index/g, bare)).run();
  const rowsWritten = async (table: string, text: string, id: string, userId: string) => {
    const { op } = messageOp(appId, { id, conversationId: 'c'.repeat(24), received: new Date().toISOString(), authorType: 'user', userId, channel: 'whatsapp', text });
    if (op.op !== 'message.upsert') throw new Error('unreachable');
    const m = op.message;
    const res = await db.prepare(UPSERT(table)).bind(m.id, appId, op.conversationId, m.seq, m.received, m.authorType, m.authorUserId, m.contentType, m.text, m.body, m.integrationType).run();
    return res.meta.rows_written;
  };
  const text = 'Hello, my order 4411 has not arrived yet and the tracking page says it left the depot three days ago';
  // Warm both (the first message of a month and user adds the active-user row; the first of an hour adds the counter row).
  await rowsWritten('message_index', text, newId(), 'warm');
  await rowsWritten(bare, text, newId(), 'warm');
  const id = newId();
  const bareId = newId();
  const withTriggers = await rowsWritten('message_index', text, id, 'warm');
  const without = await rowsWritten(bare, text, bareId, 'warm');
  console.log(`D1 rows written per indexed message: ${without} without insights triggers, ${withTriggers} with (+${withTriggers - without})`);
  expect(withTriggers - without).toBe(INSIGHTS_ROWS_PER_MESSAGE);
  // A redelivered op (same id, same text) writes the same as before the triggers: nothing is counted or indexed again.
  const again = await rowsWritten('message_index', text, id, 'warm');
  const bareAgain = await rowsWritten(bare, text, bareId, 'warm');
  console.log(`redelivered upsert: ${again} rows written (${bareAgain} without the triggers)`);
  expect(again).toBe(bareAgain);
  const counted = await db.prepare(`SELECT sum(count) AS n FROM usage_counters WHERE app_id = ?`).bind(appId).first<{ n: number }>();
  expect(counted!.n, 'the redelivered upsert counted nothing').toBe(2);
  await db.prepare(`DROP TABLE ${bare}`).run();
});
