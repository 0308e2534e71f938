/**
 * Notifications: a business's first message to a channel-native destination
 * (src/api/notifications.ts). The Worker found or created the user, client
 * and conversation; here, in one transaction, the client is registered with
 * the conversation (raising `client:add` the first time), the message is
 * stored under the notification's id (a retried call finds it and sends
 * nothing twice) and queued for delivery to that client, and it joins
 * `recent_notifications`, which the user's next message carries to webhooks
 * as `recentNotifications` and then empties. Owns that table.
 */
import { fail, type Result } from '../src/http/errors';
import type { Message } from '../src/schema/message';
import { NOT_FOUND, type Core } from './core';
import type { Inbound, InboundClient } from './inbound';
import type { Messages, NewMessage } from './messages';

export const NOTIFICATIONS_TABLE = `CREATE TABLE recent_notifications (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL, message TEXT NOT NULL) WITHOUT ROWID;`;

/** The notifications sent since the user last wrote, oldest first, taken: the caller's event carries them once. Inside the caller's transaction. */
export function takeRecentNotifications(sql: SqlStorage): Record<string, unknown>[] | undefined {
  const rows = sql.exec<{ message: string }>('SELECT message FROM recent_notifications ORDER BY at, message_id').toArray();
  if (rows.length === 0) return undefined;
  sql.exec('DELETE FROM recent_notifications');
  return rows.map((r) => JSON.parse(r.message) as Record<string, unknown>);
}

export class Notifications {
  constructor(
    private core: Core,
    private messages: Messages,
    private inbound: Inbound,
  ) {}

  send(client: InboundClient, notificationId: string, input: Pick<NewMessage, 'author' | 'content' | 'metadata' | 'override'>): Result<Message> {
    const { core, messages } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const participant = core.people.byUser(client.userId);
    if (!participant) return fail(400, 'bad_request', 'The destination user is not a participant of this conversation');
    const dedupeKey = `notification:${notificationId}`;
    const seen = messages.byDedupeKey(dedupeKey);
    if (seen) return { ok: true, value: seen };
    const now = Date.now();
    const message = core.transact(() => {
      this.inbound.touchClient(row, client, participant, undefined, now, { type: client.type, integrationId: client.integrationId });
      const stored = messages.insert(core.record.row()!, { ...input, source: { type: 'notification', integrationId: client.integrationId }, dedupeKey });
      core.ledger.add(stored.id, client.id, JSON.stringify({ content: stored.content, ...(input.override ? { override: input.override } : {}) }));
      core.outbox.enqueueDeliveryKick(row.app_id, row.id, client.id);
      const { id, received, author, content, source, metadata } = stored;
      // The newest ten are what a reply can answer; older ones make way.
      core.sql.exec('DELETE FROM recent_notifications WHERE message_id IN (SELECT message_id FROM recent_notifications ORDER BY at DESC, message_id DESC LIMIT -1 OFFSET 9)');
      core.sql.exec(
        'INSERT INTO recent_notifications (message_id, at, message) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
        id,
        now,
        JSON.stringify({ id, received, author, content, source, ...(metadata ? { metadata } : {}) }),
      );
      return stored;
    });
    core.afterCommit();
    return { ok: true, value: message };
  }
}
