/**
 * Activities posted through the API: typing indicators and reads. The
 * business's typing reaches open Web Messenger tabs at once and the channel
 * client that last wrote in order with its messages (a TYPING entry in its
 * delivery queue); a read moves the business's or a participant's read mark.
 */
import { fail, type Result } from '../src/http/errors';
import type { Conversation } from '../src/schema/conversation';
import { readEvent } from '../src/webhooks/events';
import { TYPING, WEB } from './channel-ledger';
import { NOT_FOUND, type Core } from './core';
import { userRef } from './participants';
import { toConversation } from './record';

export type Activity =
  | { type: 'typing:start' | 'typing:stop' | 'conversation:read'; author: { type: 'business'; displayName?: string; avatarUrl?: string } }
  | { type: 'conversation:read'; author: { type: 'user'; userId: string } };

export class Activities {
  constructor(private core: Core) {}

  apply(activity: Activity): Result<Conversation> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    if (activity.type !== 'conversation:read') {
      // Open Web Messenger tabs see it at once; a channel client that can show it gets it in order with its messages.
      const { displayName, avatarUrl } = activity.author as { displayName?: string; avatarUrl?: string };
      core.hub.hold({
        type: 'typing',
        state: activity.type === 'typing:start' ? 'start' : 'stop',
        author: { type: 'business', ...(displayName ? { displayName } : {}), ...(avatarUrl ? { avatarUrl } : {}) },
      });
      core.hub.flush();
      const client = core.ledger.destination({});
      if (client && client.type !== WEB) {
        core.transact(() => {
          core.ledger.add(TYPING, client.id, JSON.stringify({ typing: activity.type === 'typing:start', at: Date.now() }));
          core.outbox.enqueueDeliveryKick(row.app_id, row.id, client.id);
        });
        core.afterCommit();
      }
      return { ok: true, value: toConversation(row) };
    }
    const now = new Date().toISOString();
    if (activity.author.type === 'business') {
      core.hub.hold({ type: 'read', author: { type: 'business' }, at: now });
      core.transact(() => {
        core.record.businessRead(now);
        core.outbox.enqueue('index', { op: 'conversation.touch', appId: row.app_id, conversationId: row.id, businessLastRead: now });
      });
      core.afterCommit();
    } else {
      const p = core.people.byUser(activity.author.userId);
      if (!p) return fail(400, 'bad_request', 'author.userId: the user is not a participant of this conversation');
      core.transact(() => {
        core.people.read(p.id, now);
        core.raise(readEvent(toConversation(row), userRef(p)));
        core.hub.hold({ type: 'read', author: { type: 'user', userId: p.user_id }, at: now });
      });
      core.afterCommit();
    }
    return { ok: true, value: toConversation(core.record.row()!) };
  }
}
