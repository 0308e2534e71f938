/**
 * The `index` queue consumer: applies a batch of keyed ops to D1 in one
 * `batch()` (one round trip, one transaction). Upserts are keyed by message id
 * and deletes are idempotent, so a redelivered batch changes nothing. If D1
 * fails, the whole batch is retried by the queue; a body that does not parse
 * is acknowledged and logged, since retrying it can never succeed. Once D1
 * holds the batch, each conversation is told which of its ops it can drop
 * (`ack`): a conversation sends again what was never confirmed, so an op lost
 * with a queue message is not lost from the index.
 */
import * as v from 'valibot';
import { conversationStub } from '../api/context';
import type { Env } from '../env';
import { deleteConversationStatements, removeParticipantStatement, upsertConversationStatements } from '../db/conversations';
import { indexOp, type IndexOp } from '../schema/index-ops';

export async function consumeIndexBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const ops: IndexOp[] = [];
  for (const msg of batch.messages) {
    const parsed = v.safeParse(indexOp, msg.body);
    if (parsed.success) ops.push(parsed.output);
    else console.error('index: dropping malformed op', JSON.stringify(msg.body).slice(0, 200));
  }
  // Purges talk to Durable Objects, not D1; each is idempotent (emptying an empty object changes nothing).
  const purges = ops.flatMap((op) => (op.op === 'stream.purge' ? [op] : []));
  await Promise.all(purges.map((op) => conversationStub(env, op.appId, op.streamId).purge()));
  if (ops.length === purges.length) return;
  const db = env.DB;
  const statements: D1PreparedStatement[] = [];
  const lastUpdated = new Map<string, { appId: string; at: string }>();
  for (const op of ops) {
    switch (op.op) {
      case 'conversation.upsert':
        statements.push(...upsertConversationStatements(db, op.appId, op.conversation, op.participants));
        break;
      case 'participant.remove':
        statements.push(removeParticipantStatement(db, op.appId, op.conversationId, op.userId));
        break;
      case 'message.upsert': {
        const m = op.message;
        // Skipped when the conversation is gone or its messages were cleared past this seq: the op arrived late.
        statements.push(
          db
            .prepare(
              `INSERT INTO message_index (id, app_id, conversation_id, seq, received, author_type, author_user_id, content_type, text, body)
               SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
               WHERE NOT EXISTS (SELECT 1 FROM conversations WHERE id = ?3 AND app_id = ?2 AND (deleted_at IS NOT NULL OR cleared_up_to_seq >= ?4))
                 AND NOT EXISTS (SELECT 1 FROM message_tombstones WHERE id = ?1 AND app_id = ?2)
               ON CONFLICT(id) DO UPDATE SET body = excluded.body, text = excluded.text WHERE message_index.app_id = excluded.app_id`,
            )
            .bind(m.id, op.appId, op.conversationId, m.seq, m.received, m.authorType, m.authorUserId, m.contentType, m.text, m.body),
        );
        const prev = lastUpdated.get(op.conversationId);
        if (!prev || prev.at < m.received) lastUpdated.set(op.conversationId, { appId: op.appId, at: m.received });
        break;
      }
      case 'message.delete':
        statements.push(
          db.prepare('DELETE FROM message_index WHERE id = ? AND app_id = ?').bind(op.messageId, op.appId),
          db.prepare('INSERT INTO message_tombstones (id, app_id, conversation_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').bind(op.messageId, op.appId, op.conversationId),
        );
        break;
      case 'conversation.messagesCleared':
        statements.push(
          db.prepare('DELETE FROM message_index WHERE conversation_id = ? AND app_id = ? AND seq <= ?').bind(op.conversationId, op.appId, op.upToSeq),
          db.prepare('UPDATE conversations SET cleared_up_to_seq = max(cleared_up_to_seq, ?) WHERE id = ? AND app_id = ?').bind(op.upToSeq, op.conversationId, op.appId),
        );
        break;
      case 'conversation.touch':
        statements.push(
          // Read times only move forward, whatever order the queue delivers them in.
          db
            .prepare('UPDATE conversations SET business_last_read = ? WHERE id = ? AND app_id = ? AND (business_last_read IS NULL OR business_last_read < ?)')
            .bind(op.businessLastRead, op.conversationId, op.appId, op.businessLastRead),
        );
        break;
      case 'stream.purge':
        break;
      case 'conversation.delete':
        statements.push(...deleteConversationStatements(db, op.appId, op.conversationId));
        break;
    }
  }
  // One statement per conversation, not per message: the batch carries the newest time.
  for (const [conversationId, { appId, at }] of lastUpdated) {
    statements.push(
      db
        .prepare('UPDATE conversations SET last_updated_at = ? WHERE id = ? AND app_id = ? AND (last_updated_at IS NULL OR last_updated_at < ?)')
        .bind(at, conversationId, appId, at),
    );
  }
  try {
    await db.batch(statements);
  } catch (err) {
    // D1 unavailable: the whole batch comes back after the queue's retry delay (every op is idempotent).
    console.error(`index: D1 refused a batch of ${ops.length} ops; the queue retries it`, err instanceof Error ? err.message : String(err));
    batch.retryAll();
    return;
  }
  await confirm(env, ops);
}

/**
 * One call per conversation in the batch. A failed confirmation is only
 * logged: D1 holds the ops, and the conversation sending them again later
 * changes nothing (every op is idempotent).
 */
async function confirm(env: Env, ops: IndexOp[]): Promise<void> {
  const byConversation = new Map<string, { appId: string; conversationId: string; ids: number[] }>();
  for (const op of ops) {
    if (op.op === 'stream.purge' || op.ack === undefined) continue;
    const conversationId = op.op === 'conversation.upsert' ? op.conversation.id : op.conversationId;
    const key = `${op.appId}/${conversationId}`;
    const entry = byConversation.get(key) ?? { appId: op.appId, conversationId, ids: [] };
    entry.ids.push(op.ack);
    byConversation.set(key, entry);
  }
  await Promise.all(
    [...byConversation.values()].map((c) =>
      conversationStub(env, c.appId, c.conversationId)
        .indexApplied(c.ids)
        .catch((err: unknown) => console.error(`index: confirming ${c.ids.length} ops to ${c.conversationId} failed; it sends them again later`, err instanceof Error ? err.message : String(err))),
    ),
  );
}
