/**
 * Index ops applied to D1: `applyIndexOps` writes a list of keyed ops in one
 * `batch()` (one round trip, one transaction); the feed consumer uses it for
 * the ops a conversation's feed message carries. Upserts are keyed by message
 * id and deletes are idempotent, so a redelivered op changes nothing. The
 * `index` queue consumer (an app's purges) retries its whole batch when D1
 * fails; a body that does not parse is acknowledged and logged, since
 * retrying it can never succeed.
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
  if (!(await applyIndexOps(env, ops))) batch.retryAll();
}

/** Writes the ops to D1 in one transaction; false when D1 refused them (nothing was written). */
export async function applyIndexOps(env: Env, ops: IndexOp[]): Promise<boolean> {
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
              `INSERT INTO message_index (id, app_id, conversation_id, seq, received, author_type, author_user_id, content_type, text, body, integration_type)
               SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, coalesce(?11, json_extract(?10, '$.source.type'))
               WHERE NOT EXISTS (SELECT 1 FROM conversations WHERE id = ?3 AND app_id = ?2 AND (deleted_at IS NOT NULL OR cleared_up_to_seq >= ?4))
                 AND NOT EXISTS (SELECT 1 FROM message_tombstones WHERE id = ?1 AND app_id = ?2)
               ON CONFLICT(id) DO UPDATE SET body = excluded.body, text = excluded.text WHERE message_index.app_id = excluded.app_id`,
            )
            .bind(m.id, op.appId, op.conversationId, m.seq, m.received, m.authorType, m.authorUserId, m.contentType, m.text, m.body, m.integrationType ?? null),
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
      case 'delivery.outcome':
        // Keyed: a redelivered op inserts nothing, so its trigger (migration 0013) counts nothing.
        statements.push(
          db
            .prepare('INSERT OR IGNORE INTO delivery_outcomes (app_id, conversation_id, message_id, client_id, channel, outcome, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
            .bind(op.appId, op.conversationId, op.messageId, op.clientId, op.channel, op.outcome, op.at),
        );
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
  if (statements.length === 0) return true;
  try {
    await db.batch(statements);
    return true;
  } catch (err) {
    // D1 unavailable: the sender brings the ops again (every op is idempotent).
    console.error(`index: D1 refused a batch of ${ops.length} ops; they are sent again`, err instanceof Error ? err.message : String(err));
    return false;
  }
}
