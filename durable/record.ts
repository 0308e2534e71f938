/**
 * The conversation's own record: the one row of the `conversation` table
 * (what the conversation is, when it last changed, how many messages it
 * holds, when the business last read it, when it was deleted) and its v2 view.
 * Only this file writes SQL for that table.
 */
import type { Conversation, ConversationUpdate } from '../src/schema/conversation';
import type { AppPolicy } from '../src/schema/app';
import type { SwitchboardIntegrationRef } from '../src/schema/switchboard';
import type { EventSource } from '../src/webhooks/events';
import type { NewMessage } from './messages';

export interface ConversationInit {
  id: string;
  appId: string;
  type: 'personal' | 'sdkGroup';
  isDefault: boolean;
  displayName?: string;
  description?: string;
  iconUrl?: string;
  metadata?: Conversation['metadata'];
  participants: { userId: string; userExternalId: string | null }[];
  /** Why it was created (`message` when a channel user's first message opened it) and from where. */
  creationReason?: string;
  source?: EventSource;
  /** False for a start the app ignores (ignoreAutoConversationStart): `conversation:create` waits for the user's first message. */
  announce?: boolean;
  /** The app as the Worker's cache has it: an enabled switchboard puts the new conversation on its default. */
  policy?: AppPolicy;
  /**
   * A business message the conversation opens with (a web campaign the visitor
   * answered): stored as seq 1 in the creating transaction, right after
   * `conversation:create`, so nothing can come before it and a failed create
   * leaves neither.
   */
  firstMessage?: NewMessage & { channel?: string };
}

export type ConversationRow = {
  id: string;
  app_id: string;
  type: 'personal' | 'sdkGroup';
  is_default: number;
  display_name: string | null;
  description: string | null;
  icon_url: string | null;
  metadata: string | null;
  created_at: string;
  last_updated_at: string | null;
  business_last_read: string | null;
  message_count: number;
  deleted_at: string | null;
  /** The switchboard integrations in control and offered control (JSON of their refs); null when none. */
  active_switchboard: string | null;
  pending_switchboard: string | null;
  /** The app's conversationRetentionSeconds as last told (0: messages are kept). */
  retention_seconds: number;
  /** 0 while an automatic start (ignoreAutoConversationStart) waits for the user's first message to be announced. */
  create_announced: number;
};

/**
 * The columns a conversation record has wherever it is kept: this object's row, and the D1 index's
 * (src/db/conversations.ts), which does not keep the switchboard state.
 */
export type ConversationColumns = Pick<ConversationRow, 'id' | 'type' | 'is_default' | 'display_name' | 'description' | 'icon_url' | 'metadata' | 'created_at' | 'last_updated_at' | 'business_last_read'> &
  Partial<Pick<ConversationRow, 'active_switchboard' | 'pending_switchboard'>>;

export function toConversation(row: ConversationColumns): Conversation {
  return {
    id: row.id,
    type: row.type,
    isDefault: row.is_default === 1,
    ...(row.display_name !== null ? { displayName: row.display_name } : {}),
    ...(row.description !== null ? { description: row.description } : {}),
    ...(row.icon_url !== null ? { iconUrl: row.icon_url } : {}),
    metadata: row.metadata ? JSON.parse(row.metadata) : null,
    businessLastRead: row.business_last_read,
    lastUpdatedAt: row.last_updated_at ?? row.created_at,
    createdAt: row.created_at,
    ...(row.active_switchboard ? { activeSwitchboardIntegration: JSON.parse(row.active_switchboard) as SwitchboardIntegrationRef } : {}),
    ...(row.pending_switchboard ? { pendingSwitchboardIntegration: JSON.parse(row.pending_switchboard) as SwitchboardIntegrationRef } : {}),
  };
}

export class ConversationRecord {
  constructor(private sql: SqlStorage) {}

  /** The record, deleted or not (an object named after a user has none). */
  row(): ConversationRow | undefined {
    return this.sql.exec<ConversationRow>('SELECT * FROM conversation').toArray()[0];
  }

  /** The record unless the conversation was deleted. */
  live(): ConversationRow | undefined {
    const row = this.row();
    return row && !row.deleted_at ? row : undefined;
  }

  /** A new conversation, on `controller` when the app's switchboard gives it one. */
  insert(init: ConversationInit, now: string, controller: SwitchboardIntegrationRef | null): void {
    this.sql.exec(
      `INSERT INTO conversation (only_row, id, app_id, type, is_default, display_name, description, icon_url, metadata, created_at, active_switchboard, create_announced)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      init.id,
      init.appId,
      init.type,
      init.isDefault ? 1 : 0,
      init.displayName ?? null,
      init.description ?? null,
      init.iconUrl ?? null,
      init.metadata ? JSON.stringify(init.metadata) : null,
      now,
      controller && JSON.stringify(controller),
      init.announce === false ? 0 : 1,
    );
  }

  /** Writes the fields the patch names; null clears one. */
  update(patch: ConversationUpdate): void {
    const set = (field: keyof ConversationUpdate, column: string, encode: (v: unknown) => unknown = (v) => v) => {
      if (patch[field] !== undefined) this.sql.exec(`UPDATE conversation SET ${column} = ?`, patch[field] === null ? null : encode(patch[field]));
    };
    set('displayName', 'display_name');
    set('description', 'description');
    set('iconUrl', 'icon_url');
    set('metadata', 'metadata', (m) => JSON.stringify(m));
  }

  /** Who controls the conversation and who was offered control; answers the row as it now is. */
  setSwitchboard(row: ConversationRow, active: SwitchboardIntegrationRef | null, pending: SwitchboardIntegrationRef | null): ConversationRow {
    const next = { ...row, active_switchboard: active && JSON.stringify(active), pending_switchboard: pending && JSON.stringify(pending) };
    this.sql.exec('UPDATE conversation SET active_switchboard = ?, pending_switchboard = ?', next.active_switchboard, next.pending_switchboard);
    return next;
  }

  createAnnounced(): void {
    this.sql.exec('UPDATE conversation SET create_announced = 1');
  }

  setRetention(row: ConversationRow, seconds: number): ConversationRow {
    this.sql.exec('UPDATE conversation SET retention_seconds = ?', seconds);
    return { ...row, retention_seconds: seconds };
  }

  /** Counts a new message in and answers its seq (the conversation row keeps the last one: no AUTOINCREMENT row per message). */
  messageAdded(received: string): number {
    // The later of the two: history moved in by a merge carries older times, and must not make the conversation look quiet.
    return this.sql
      .exec<{ last_seq: number }>("UPDATE conversation SET last_updated_at = max(coalesce(last_updated_at, ''), ?), message_count = message_count + 1, last_seq = last_seq + 1 RETURNING last_seq", received)
      .one().last_seq;
  }

  messageDeleted(): void {
    this.sql.exec('UPDATE conversation SET message_count = message_count - 1');
  }

  messagesCleared(): void {
    this.sql.exec('UPDATE conversation SET message_count = 0');
  }

  businessRead(at: string): void {
    this.sql.exec('UPDATE conversation SET business_last_read = ?', at);
  }

  /** The record stays, marked: a retried create with the same id must not bring the conversation back. */
  markDeleted(): void {
    this.sql.exec('UPDATE conversation SET deleted_at = ?', new Date().toISOString());
  }
}
