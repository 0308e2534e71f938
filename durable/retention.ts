/**
 * `conversationRetentionSeconds` (an app setting): a conversation whose last
 * message is older than that loses its messages, as if the business had
 * deleted them all (the index and open tabs follow). The object learns the
 * setting with each message it stores (the Worker's cached AppPolicy) and
 * keeps it on its row, written only when it changes; its one alarm wakes at
 * the deadline, which costs one alarm per quiet period, not a write per
 * message. 0 keeps messages for ever.
 */
import type { AppPolicy } from '../src/schema/app';
import type { Core } from './core';
import type { ConversationRow } from './record';

/** Keeps the app's retention on the row when the caller told it; answers the row as it now is. */
export function noteRetention(core: Core, row: ConversationRow, policy: AppPolicy | undefined): ConversationRow {
  if (!policy || row.retention_seconds === policy.retentionSeconds) return row;
  return core.record.setRetention(row, policy.retentionSeconds);
}

/** When the conversation's messages are due to go, or null (none kept, or retention off). */
export function retentionDue(row: ConversationRow | undefined): number | null {
  if (!row || row.deleted_at || row.retention_seconds <= 0 || row.message_count === 0) return null;
  return Date.parse(row.last_updated_at ?? row.created_at) + row.retention_seconds * 1000;
}
