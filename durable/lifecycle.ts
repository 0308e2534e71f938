/**
 * A conversation's life as the API drives it: created (a retried create with
 * the same id answers with what was stored), read, updated, deleted; users
 * join and leave it, and a deleted user is forgotten by it. Each change
 * reaches the D1 index and the webhooks through the outbox, in the commit
 * that makes it, and closes the sockets of whoever is no longer in it.
 */
import { fail, type Result } from '../src/http/errors';
import { LIMITS } from '../src/schema/common';
import type { Conversation, ConversationUpdate, Participant } from '../src/schema/conversation';
import { conversationCreateEvent, joinEvent, leaveEvent, removeEvent } from '../src/webhooks/events';
import { NOT_FOUND, type Core } from './core';
import type { Messages } from './messages';
import { toParticipant, userRef } from './participants';
import { toConversation, type ConversationInit } from './record';
import { startingController } from './switchboard';

export class Lifecycle {
  constructor(
    private core: Core,
    private messages: Messages,
  ) {}

  create(init: ConversationInit): Result<{ conversation: Conversation; participants: Participant[] }> {
    const { core } = this;
    const existing = core.record.row();
    if (existing) {
      // A retried create (same id) answers with what was stored.
      if (existing.deleted_at) return fail(409, 'conflict', 'Conversation id was used by a deleted conversation');
      return { ok: true, value: { conversation: toConversation(existing), participants: core.people.all() } };
    }
    const now = new Date().toISOString();
    core.transact(() => {
      core.record.insert(init, now, startingController(init.policy?.switchboard));
      for (const p of init.participants) core.people.insert(p.userId, p.userExternalId, now);
      core.enqueueConversation();
      const first = init.participants[0];
      const created = core.record.row()!;
      const user = first && { id: first.userId, ...(first.userExternalId ? { externalId: first.userExternalId } : {}) };
      if (init.announce !== false) core.raise(conversationCreateEvent(toConversation(created), init.creationReason ?? 'none', user, init.source));
      if (init.firstMessage) this.messages.insert(created, init.firstMessage);
    });
    core.afterCommit();
    return { ok: true, value: { conversation: toConversation(core.record.row()!), participants: core.people.all() } };
  }

  get(): Result<{ conversation: Conversation; participants: Participant[] }> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    return { ok: true, value: { conversation: toConversation(row), participants: this.core.people.all() } };
  }

  update(patch: ConversationUpdate): Result<Conversation> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    core.transact(() => {
      core.record.update(patch);
      core.enqueueConversation();
    });
    core.afterCommit();
    return { ok: true, value: toConversation(core.record.row()!) };
  }

  remove(): Result<null> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    if (row.is_default) return fail(400, 'bad_request', "The user's default conversation cannot be deleted; delete its messages instead");
    core.transact(() => {
      this.messages.clear();
      core.people.clear();
      core.ledger.clear();
      core.record.markDeleted();
      core.outbox.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      core.raise(removeEvent(toConversation(row)));
    });
    core.afterCommit();
    core.hub.close(undefined, 'conversation deleted');
    return { ok: true, value: null };
  }

  join(user: { userId: string; userExternalId: string | null }): Result<Participant> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    if (row.type !== 'sdkGroup') return fail(400, 'bad_request', 'Only sdkGroup conversations accept new participants');
    const existing = core.people.byUser(user.userId);
    if (existing) return { ok: true, value: toParticipant(existing) };
    const count = core.people.count();
    if (count >= LIMITS.sdkGroupParticipants) return fail(400, 'bad_request', `Too many participants: an sdkGroup conversation holds at most ${LIMITS.sdkGroupParticipants}`);
    core.transact(() => {
      core.people.insert(user.userId, user.userExternalId, new Date().toISOString());
      core.enqueueConversation();
      core.raise(joinEvent(toConversation(row), { id: user.userId, ...(user.userExternalId ? { externalId: user.userExternalId } : {}) }));
    });
    core.afterCommit();
    return { ok: true, value: toParticipant(core.people.byUser(user.userId)!) };
  }

  leave(who: { userId?: string; participantId?: string }): Result<{ userId: string; participantId: string }> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const p = who.participantId ? core.people.byId(who.participantId) : core.people.byUser(who.userId!);
    if (!p) return fail(404, 'participant_not_found', 'The user is not a participant of this conversation');
    if (row.type === 'personal') return fail(400, 'bad_request', 'The participant of a personal conversation cannot leave it');
    core.transact(() => {
      core.people.remove(p.id);
      core.outbox.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId: p.user_id });
      core.raise(leaveEvent(toConversation(row), userRef(p)));
    });
    core.afterCommit();
    core.hub.close(p.user_id, 'left the conversation');
    return { ok: true, value: { userId: p.user_id, participantId: p.id } };
  }

  listParticipants(page: { after?: string; before?: string; size: number }): Result<{ participants: Participant[]; hasMore: boolean }> {
    if (!this.core.record.live()) return NOT_FOUND;
    return { ok: true, value: this.core.people.page(page) };
  }

  forgetUser(userId: string): Result<null> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return { ok: true, value: null };
    core.transact(() => {
      core.people.removeUser(userId);
      core.outbox.enqueue('index', { op: 'participant.remove', appId: row.app_id, conversationId: row.id, userId });
      if (row.type === 'personal') {
        const top = this.messages.topSeq();
        this.messages.clear();
        core.ledger.clear();
        core.record.markDeleted();
        if (top !== null) core.outbox.enqueue('index', { op: 'conversation.messagesCleared', appId: row.app_id, conversationId: row.id, upToSeq: top });
        core.outbox.enqueue('index', { op: 'conversation.delete', appId: row.app_id, conversationId: row.id });
      }
    });
    core.afterCommit();
    core.hub.close(userId, 'user removed');
    return { ok: true, value: null };
  }
}
