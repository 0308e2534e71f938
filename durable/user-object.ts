/**
 * The user role of this class. User-level events (user:remove,
 * user:update, user:merge) have no conversation; they go through an object of this class
 * named after the user (user and conversation ids never collide), which gives
 * them the same ordered, retried, per-webhook delivery. `client:add` from a
 * channel's first contact is raised by the conversation the client wrote
 * into, in order with that first message. The user's object also decides
 * which conversation is the user's default. Owns the `stream_owner` and
 * `default_conversation` tables.
 */
import type { WebhookEvent } from '../src/webhooks/events';
import type { Core } from './core';

export class UserObject {
  constructor(private core: Core) {}

  raiseUserEvent(appId: string, userId: string, event: WebhookEvent): void {
    const { core } = this;
    core.transact(() => {
      core.sql.exec('INSERT INTO stream_owner (only_row, app_id, owner_id) VALUES (1, ?, ?) ON CONFLICT DO NOTHING', appId, userId);
      core.raise(event);
    });
    core.afterCommit();
  }

  /** Records the first conversation id offered as the user's default and answers the recorded one, so exactly one concurrent create wins. */
  claimDefaultConversation(conversationId: string): string {
    this.core.sql.exec('INSERT INTO default_conversation (only_row, conversation_id) VALUES (1, ?) ON CONFLICT DO NOTHING', conversationId);
    return this.core.sql.exec<{ conversation_id: string }>('SELECT conversation_id FROM default_conversation').one().conversation_id;
  }

}
