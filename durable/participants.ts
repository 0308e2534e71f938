/**
 * Who takes part in the conversation: the `participants` table (each user
 * once, their unread count and last read, the channel clients they wrote
 * from) and its v2 view. Only this file writes SQL for that table.
 */
import { newId } from '../src/ids';
import type { Participant } from '../src/schema/conversation';
import type { UserRef } from '../src/webhooks/events';

export type ParticipantRow = {
  id: string;
  user_id: string;
  user_external_id: string | null;
  unread_count: number;
  last_read: string | null;
  client_associations: string;
};

export const userRef = (p: ParticipantRow): UserRef => ({ id: p.user_id, ...(p.user_external_id ? { externalId: p.user_external_id } : {}) });

export function toParticipant(row: ParticipantRow): Participant {
  return {
    id: row.id,
    userId: row.user_id,
    userExternalId: row.user_external_id,
    unreadCount: row.unread_count,
    lastRead: row.last_read,
    clientAssociations: JSON.parse(row.client_associations),
  };
}

export class Participants {
  constructor(private sql: SqlStorage) {}

  all(): Participant[] {
    return this.sql.exec<ParticipantRow>('SELECT * FROM participants ORDER BY id').toArray().map(toParticipant);
  }

  byUser(userId: string): ParticipantRow | undefined {
    return this.sql.exec<ParticipantRow>('SELECT * FROM participants WHERE user_id = ?', userId).toArray()[0];
  }

  byId(id: string): ParticipantRow | undefined {
    return this.sql.exec<ParticipantRow>('SELECT * FROM participants WHERE id = ?', id).toArray()[0];
  }

  count(): number {
    return this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM participants').one().n;
  }

  /** A page in participant id order; `before` walks back. */
  page(page: { after?: string; before?: string; size: number }): { participants: Participant[]; hasMore: boolean } {
    if (page.before) {
      const rows = this.sql.exec<ParticipantRow>('SELECT * FROM participants WHERE id < ? ORDER BY id DESC LIMIT ?', page.before, page.size + 1).toArray();
      const hasMore = rows.length > page.size;
      return { participants: rows.slice(0, page.size).reverse().map(toParticipant), hasMore };
    }
    const rows = this.sql.exec<ParticipantRow>('SELECT * FROM participants WHERE id > ? ORDER BY id ASC LIMIT ?', page.after ?? '', page.size + 1).toArray();
    return { participants: rows.slice(0, page.size).map(toParticipant), hasMore: rows.length > page.size };
  }

  insert(userId: string, userExternalId: string | null, now: string): void {
    this.sql.exec(
      'INSERT INTO participants (id, user_id, user_external_id, joined_at) VALUES (?, ?, ?, ?) ON CONFLICT(user_id) DO NOTHING',
      newId(),
      userId,
      userExternalId,
      now,
    );
  }

  remove(id: string): void {
    this.sql.exec('DELETE FROM participants WHERE id = ?', id);
  }

  removeUser(userId: string): void {
    this.sql.exec('DELETE FROM participants WHERE user_id = ?', userId);
  }

  clear(): void {
    this.sql.exec('DELETE FROM participants');
  }

  /** A message from `authorUserId` (null: the business) is one more unread message for everyone else. */
  messageFrom(authorUserId: string | null): void {
    this.sql.exec('UPDATE participants SET unread_count = unread_count + 1 WHERE user_id IS NOT ?', authorUserId);
  }

  read(id: string, at: string): void {
    this.sql.exec('UPDATE participants SET unread_count = 0, last_read = ? WHERE id = ?', at, id);
  }

  readByUser(userId: string, at: string): void {
    this.sql.exec('UPDATE participants SET unread_count = 0, last_read = ? WHERE user_id = ?', at, userId);
  }

  clearUnread(): void {
    this.sql.exec('UPDATE participants SET unread_count = 0');
  }

  setClients(id: string, clients: { type: string; clientId: string }[]): void {
    this.sql.exec('UPDATE participants SET client_associations = ? WHERE id = ?', JSON.stringify(clients), id);
  }

  setExternalId(userId: string, externalId: string): void {
    this.sql.exec('UPDATE participants SET user_external_id = ? WHERE user_id = ?', externalId, userId);
  }

  /** The participant now stands for another user (a login merge). */
  reassign(id: string, toUserId: string, toExternalId: string): void {
    this.sql.exec('UPDATE participants SET user_id = ?, user_external_id = ? WHERE id = ?', toUserId, toExternalId, id);
  }
}
