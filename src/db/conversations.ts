/**
 * The D1 index of conversations: which conversations exist in an app and who
 * takes part, so a user's conversations can be listed without visiting every
 * ConversationDO. The DO is the source of truth and puts every change on the
 * index queue; handlers also apply the same keyed statements right after the
 * DO commits, so a created conversation is listable at once. Deletions leave a
 * tombstone (`deleted_at`) so a late, reordered upsert cannot resurrect a row.
 */
import { toConversation, type ConversationColumns } from '../../durable/record';
import type { Env } from '../env';
import type { Conversation } from '../schema/conversation';
import type { Page } from '../schema/pagination';

export function upsertConversationStatements(db: D1Database, appId: string, c: Conversation, participants: { id: string; userId: string }[]): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `INSERT INTO conversations (id, app_id, type, is_default, display_name, description, icon_url, metadata, created_at, last_updated_at, business_last_read)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name, description = excluded.description,
           icon_url = excluded.icon_url, metadata = excluded.metadata
         WHERE conversations.deleted_at IS NULL AND conversations.app_id = excluded.app_id`,
      )
      .bind(
        c.id,
        appId,
        c.type,
        c.isDefault ? 1 : 0,
        c.displayName ?? null,
        c.description ?? null,
        c.iconUrl ?? null,
        c.metadata ? JSON.stringify(c.metadata) : null,
        c.createdAt,
        c.lastUpdatedAt,
        c.businessLastRead,
      ),
    ...participants.map((p) =>
      db
        .prepare(
          `INSERT INTO conversation_participants (conversation_id, app_id, user_id, participant_id)
           SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM conversations WHERE id = ?1 AND app_id = ?2 AND deleted_at IS NOT NULL)
           ON CONFLICT DO NOTHING`,
        )
        .bind(c.id, appId, p.userId, p.id),
    ),
  ];
}

export const removeParticipantStatement = (db: D1Database, appId: string, conversationId: string, userId: string) =>
  db.prepare('DELETE FROM conversation_participants WHERE app_id = ? AND conversation_id = ? AND user_id = ?').bind(appId, conversationId, userId);

export function deleteConversationStatements(db: D1Database, appId: string, conversationId: string): D1PreparedStatement[] {
  const now = new Date().toISOString();
  return [
    db.prepare('DELETE FROM message_index WHERE conversation_id = ? AND app_id = ?').bind(conversationId, appId),
    // The conversation's own tombstone covers its messages from here on.
    db.prepare('DELETE FROM message_tombstones WHERE conversation_id = ? AND app_id = ?').bind(conversationId, appId),
    db.prepare('DELETE FROM conversation_participants WHERE conversation_id = ? AND app_id = ?').bind(conversationId, appId),
    db
      .prepare(
        `INSERT INTO conversations (id, app_id, type, created_at, deleted_at) VALUES (?, ?, 'personal', ?, ?)
         ON CONFLICT(id) DO UPDATE SET deleted_at = excluded.deleted_at WHERE conversations.app_id = excluded.app_id`,
      )
      .bind(conversationId, appId, now, now),
  ];
}

export const indexConversation = (env: Env, appId: string, c: Conversation, participants: { id: string; userId: string }[]) =>
  env.DB.batch(upsertConversationStatements(env.DB, appId, c, participants));

export const unindexParticipant = (env: Env, appId: string, conversationId: string, userId: string) =>
  removeParticipantStatement(env.DB, appId, conversationId, userId).run();

export const unindexConversation = (env: Env, appId: string, conversationId: string) =>
  env.DB.batch(deleteConversationStatements(env.DB, appId, conversationId));

export async function hasPersonalConversation(env: Env, appId: string, userId: string): Promise<boolean> {
  const r = await env.DB.prepare(
    `SELECT 1 AS x FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
     WHERE p.app_id = ? AND p.user_id = ? AND c.type = 'personal' AND c.deleted_at IS NULL LIMIT 1`,
  )
    .bind(appId, userId)
    .first();
  return r !== null;
}

export async function userConversationIds(env: Env, appId: string, userId: string): Promise<{ id: string; type: string }[]> {
  const { results } = await env.DB.prepare(
    `SELECT c.id, c.type FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
     WHERE p.app_id = ? AND p.user_id = ? AND c.deleted_at IS NULL`,
  )
    .bind(appId, userId)
    .all<{ id: string; type: string }>();
  return results;
}

export async function listUserConversations(env: Env, appId: string, userId: string, page: Page): Promise<Conversation[]> {
  const base = `SELECT c.* FROM conversation_participants p JOIN conversations c ON c.id = p.conversation_id
                WHERE p.app_id = ? AND p.user_id = ? AND c.deleted_at IS NULL`;
  const stmt = page.before
    ? env.DB.prepare(`${base} AND c.id < ? ORDER BY c.id DESC LIMIT ?`).bind(appId, userId, page.before, page.size + 1)
    : env.DB.prepare(`${base} AND c.id > ? ORDER BY c.id ASC LIMIT ?`).bind(appId, userId, page.after ?? '', page.size + 1);
  const { results } = await stmt.all<ConversationColumns>();
  return results.map(toConversation);
}
