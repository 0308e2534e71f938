/**
 * `conversationRetentionSeconds` (an app setting): a conversation whose last
 * message is older than that loses its messages, as if the business had
 * deleted them all (the index and open tabs follow). The object learns the
 * setting with each message it stores (the Worker's cached AppPolicy) and
 * keeps it on its row, written only when it changes; its one alarm wakes at
 * the deadline, which costs one alarm per quiet period, not a write per
 * message. 0 keeps messages for ever.
 */
import type { Env } from '../src/env';
import type { AppPolicy } from '../src/schema/app';
import type { Core } from './core';
import type { ConversationRow } from './record';

/** Keeps the app's retention on the row when the caller told it; answers the row as it now is. */
export function noteRetention(core: Core, row: ConversationRow, policy: AppPolicy | undefined): ConversationRow {
  if (!policy || row.retention_seconds === policy.retentionSeconds) return row;
  return core.record.setRetention(row, policy.retentionSeconds);
}

/**
 * At the deadline, the app's retention as D1 has it now (null: the app is
 * gone): a setting lowered to 0 or raised since the last message must not
 * delete what the app now keeps. One read per quiet period, off the message path.
 */
export async function currentRetention(env: Env, appId: string): Promise<number | null> {
  const row = await env.DB.prepare('SELECT settings FROM apps WHERE id = ?').bind(appId).first<{ settings: string }>();
  if (!row) return null;
  const seconds = (JSON.parse(row.settings) as { conversationRetentionSeconds?: number }).conversationRetentionSeconds;
  return typeof seconds === 'number' ? seconds : 0;
}

/** When the conversation's messages are due to go, or null (none kept, or retention off). */
export function retentionDue(row: ConversationRow | undefined): number | null {
  // `> 0` is also false for a row read before the column existed (an object mid-migration): no deadline then.
  if (!row || row.deleted_at || !(row.retention_seconds > 0) || row.message_count === 0) return null;
  const due = Date.parse(row.last_updated_at ?? row.created_at) + row.retention_seconds * 1000;
  return Number.isFinite(due) ? due : null;
}
