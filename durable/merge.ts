/**
 * A Web Messenger login merge, as the conversations see it: the anonymous
 * user's default conversation hands its history over a page at a time and
 * closes; the logged-in user's conversation absorbs it; the anonymous user's
 * other conversations are reassigned to the logged-in user; and participants
 * take the business's id for the user. Every step can be retried after a
 * partial merge without moving anything twice.
 */
import type { Result } from '../src/http/errors';
import type { Conversation, Participant } from '../src/schema/conversation';
import type { Message } from '../src/schema/message';
import { NOT_FOUND, NOT_PARTICIPANT, type Core } from './core';
import type { Messages } from './messages';
import { toConversation } from './record';

/** A message leaving an anonymous user's conversation in a merge, with the key that dedupes it. */
export interface MovedMessage {
  message: Message;
  dedupeKey: string;
}

export class LoginMerge {
  constructor(
    private core: Core,
    private messages: Messages,
  ) {}

  /**
   * The anonymous side of a login merge, one page at a time: the first call
   * closes the conversation in the same synchronous step that reads it, so no
   * message can be acknowledged after the copy was taken (a tab still on the
   * anonymous session gets 404 and logs in again). Later pages, and a login
   * retried after a partial merge, read the closed conversation's messages
   * until `discardHistory` removes them.
   */
  handOver(afterSeq: number, limit: number): Result<MovedMessage[]> {
    const { core } = this;
    const row = core.record.row();
    if (!row) return NOT_FOUND;
    if (!row.deleted_at) {
      core.transact(() => {
        const top = this.messages.topSeq();
        core.ledger.clear();
        core.record.markDeleted();
        if (top !== null) core.outbox.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
        core.outbox.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      });
      core.afterCommit();
      core.hub.close(undefined, 'merged into the logged-in user');
    }
    return { ok: true, value: this.messages.afterWithKeys(afterSeq, limit) };
  }

  discardHistory(): void {
    if (!this.core.record.row()?.deleted_at) return;
    this.core.transact(() => {
      this.messages.clear();
      this.core.people.clear();
    });
  }

  reassign(fromUserId: string, toUserId: string, toExternalId: string): Result<{ conversation: Conversation; participants: Participant[] }> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const p = core.people.byUser(fromUserId);
    if (!p) return { ok: true, value: { conversation: toConversation(row), participants: core.people.all() } };
    core.transact(() => {
      if (core.people.byUser(toUserId)) core.people.remove(p.id);
      else core.people.reassign(p.id, toUserId, toExternalId);
      this.messages.reassignAuthor(fromUserId, toUserId);
      core.ledger.reassignUser(fromUserId, toUserId);
      core.outbox.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId: fromUserId });
      core.enqueueConversation();
    });
    core.afterCommit();
    core.hub.close(fromUserId, 'merged into the logged-in user');
    return { ok: true, value: { conversation: toConversation(core.record.row()!), participants: core.people.all() } };
  }

  /**
   * History moved in from a merged anonymous user: stored after the existing
   * messages with their original times and quotes, authored by `userId`,
   * without a second `conversation:message` (those were raised when they were
   * sent). Each keeps its dedupe key, so a login retried after a partial merge
   * moves nothing twice and a browser's retry of an unanswered send still
   * finds its message.
   */
  absorb(moved: MovedMessage[], from: string, userId: string): Result<number> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    if (!core.people.byUser(userId)) return NOT_PARTICIPANT;
    let stored = 0;
    core.transact(() => {
      for (const { message: m, dedupeKey } of moved) {
        if (this.messages.hasDedupeKey(dedupeKey)) continue;
        const author = m.author.type === 'user' && m.author.userId === from ? { ...m.author, userId } : m.author;
        this.messages.insert(
          core.record.row()!,
          {
            author,
            content: m.content,
            source: m.source,
            received: m.received,
            dedupeKey,
            ...(m.metadata ? { metadata: m.metadata } : {}),
            ...(m.quotedMessage ? { quotedMessage: m.quotedMessage } : {}),
          },
          undefined,
          false,
        );
        stored++;
      }
    });
    core.afterCommit();
    return { ok: true, value: stored };
  }

  setUserExternalId(userId: string, externalId: string): void {
    this.core.people.setExternalId(userId, externalId);
  }
}
