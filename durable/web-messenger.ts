/**
 * The Web Messenger's side of a conversation: what a browser posts for its
 * session's user (messages, postbacks, typing, reads, the client opening the
 * conversation) and the browser sockets. A browser can send anything, so a
 * payload counts as a choice only when the business offered it here, and a
 * form response must answer its form, once. Web clients are ledger clients of
 * type WEB, served by the conversation's sockets rather than by channel sends.
 * Answers on the hosted form page (channels without native forms) take the
 * same path, posted as the channel client the form was sent to.
 */
import type { AppPolicy } from '../src/schema/app';
import { fail, type Result } from '../src/http/errors';
import { LIMITS } from '../src/schema/common';
import type { Message, MessageSource } from '../src/schema/message';
import { formResponseProblem } from '../src/web/forms';
import { WEB, type LedgerClient } from './channel-ledger';
import { NOT_FOUND, NOT_PARTICIPANT, type Core } from './core';
import type { Inbound, InboundClient, ReceivedEvent } from './inbound';
import type { Messages } from './messages';
import { userRef, type ParticipantRow } from './participants';
import type { ConversationRow } from './record';

/** A message the Web Messenger posts for its user (the session decides who). */
export interface WebPost {
  content: Message['content'];
  metadata?: Message['metadata'];
  clientMessageId?: string;
  quotedMessageId?: string;
  /** The app as the Worker's cache has it (see beforeUserMessage). */
  policy?: AppPolicy;
  /**
   * Answered on Parley's hosted form page by a channel client (channels without
   * native forms): the client did not write on its channel, so its reply window
   * and last-inbound stamp stay as they are.
   */
  onPage?: boolean;
}

/** Set by the Worker on a socket upgrade once it verified the session token; never taken from the browser. */
export const SOCKET_USER_HEADER = 'x-parley-socket-user';

const errorResponse = (status: number, code: string, title: string) => Response.json({ errors: [{ code, title }] }, { status });

export class WebMessenger {
  constructor(
    private core: Core,
    private messages: Messages,
    private inbound: Inbound,
  ) {}

  /**
   * A message the Web Messenger posted for its user. `clientMessageId` makes
   * the browser's retry of a send whose answer it lost return the stored
   * message instead of a second one. A form response quotes its form and marks
   * it submitted.
   */
  post(client: InboundClient, post: WebPost): Result<Message> {
    const { core, messages } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const participant = core.people.byUser(client.userId);
    if (!participant) return NOT_PARTICIPANT;
    const dedupeKey = post.clientMessageId ? `${WEB}:${client.id}:${post.clientMessageId}` : undefined;
    if (dedupeKey) {
      const seen = messages.byDedupeKey(dedupeKey);
      if (seen) return { ok: true, value: seen };
    }
    let content = post.content;
    if (content.type === 'text' && content.payload !== undefined) {
      // A quick-reply answer is a choice: it counts only if the business offered it here, and says the reply's label.
      const label = messages.offered('reply', content.payload)?.text;
      if (label === undefined) return fail(400, 'bad_request', 'content.payload: no quick reply with this payload was offered in this conversation');
      content = { ...content, text: label };
    }
    if (row.message_count >= LIMITS.messagesPerConversation) {
      return fail(423, 'locked', `The conversation holds ${LIMITS.messagesPerConversation} messages, the most it can; delete its messages to post more`);
    }
    let quoted: Message | undefined;
    if (post.quotedMessageId) {
      quoted = messages.byId(post.quotedMessageId);
      if (!quoted) return fail(400, 'bad_request', 'content.quotedMessageId: no message with this id in the conversation');
      if (post.content.type === 'formResponse') {
        if (quoted.content.type !== 'form') return fail(400, 'bad_request', 'content.quotedMessageId: a form response must quote a form');
        if ((quoted.content as { submitted?: boolean }).submitted) return fail(409, 'conflict', 'content.quotedMessageId: this form was already answered');
        const problem = formResponseProblem(quoted.content.fields, post.content.fields);
        if (problem) return fail(400, 'bad_request', problem);
      }
      // The answer quotes the form as it is once answered.
      if (quoted.content.type === 'form') quoted = { ...quoted, content: { ...quoted.content, submitted: true } as Message['content'] };
    }
    const user = userRef(participant);
    // The client's own channel: `web` for the widget, the channel a hosted form page's link went out on.
    const source: MessageSource = { type: client.type, integrationId: client.integrationId, ...(post.clientMessageId ? { originalMessageId: post.clientMessageId } : {}) };
    const message = core.transact(() => {
      this.touchClient(row, client, participant, Date.now(), !post.onPage);
      if (quoted?.content.type === 'form') {
        // The form changed: the index and open tabs get it again, now submitted.
        const form = messages.markSubmitted(quoted.id);
        messages.enqueueIndex(row, form);
        core.hub.hold({ type: 'message', message: form });
      }
      return messages.insert(
        core.record.row()!,
        {
          author: { type: 'user', userId: client.userId },
          content,
          source,
          ...(post.metadata ? { metadata: post.metadata } : {}),
          ...(dedupeKey ? { dedupeKey } : {}),
          ...(quoted ? { quotedMessage: { type: 'message', message: quoted } } : {}),
          ...(post.policy ? { policy: post.policy } : {}),
        },
        user,
      );
    });
    core.afterCommit();
    return { ok: true, value: message };
  }

  /**
   * The form a hosted form page link points at, for the user it was made for,
   * and the channel client that user answers as: the one the form was sent to,
   * else the user's most recently active channel client here.
   */
  pageForm(userId: string, messageId: string): Result<{ form: Message; client?: LedgerClient }> {
    if (!this.core.record.live()) return NOT_FOUND;
    if (!this.core.people.byUser(userId)) return NOT_PARTICIPANT;
    const form = this.messages.byId(messageId);
    if (!form) return fail(404, 'message_not_found', 'Message not found');
    const { ledger } = this.core;
    const mine = (id: string) => {
      const c = ledger.client(id);
      return c && c.userId === userId && c.type !== WEB ? c : undefined;
    };
    const client = ledger.sentTo(messageId).map(mine).find(Boolean) ?? ledger.clientsOf(userId).map((c) => mine(c.clientId)).find(Boolean);
    return { ok: true, value: { form, ...(client ? { client } : {}) } };
  }

  activity(client: InboundClient, event: Extract<ReceivedEvent, { kind: 'postback' | 'typing' | 'read' }>, policy?: AppPolicy): Result<null> {
    if (!this.core.record.live()) return NOT_FOUND;
    const participant = this.core.people.byUser(client.userId);
    if (!participant) return NOT_PARTICIPANT;
    // Every open tab reports the read; once nothing is unread a repeat tells the business nothing new.
    if (event.kind === 'read' && participant.unread_count === 0) return { ok: true, value: null };
    if (event.kind === 'postback') {
      // A browser can send anything: only a button the business offered here is a postback it may trust.
      const offered = this.messages.offered('postback', event.payload ?? '');
      if (offered === undefined) return fail(400, 'bad_request', 'payload: no postback button with this payload was offered in this conversation');
      event = { ...event, text: offered.text, ...(offered.campaignId ? { campaignId: offered.campaignId } : {}) };
    }
    const received = this.inbound.receive(client, [event], policy);
    return received.ok ? { ok: true, value: null } : received;
  }

  addClient(client: InboundClient): Result<null> {
    const row = this.core.record.live();
    if (!row) return NOT_FOUND;
    const participant = this.core.people.byUser(client.userId);
    if (!participant) return NOT_PARTICIPANT;
    this.core.transact(() => this.touchClient(row, client, participant, Date.now(), false));
    this.core.afterCommit();
    return { ok: true, value: null };
  }

  /** The first write of a web client in this conversation registers it, as a channel's first contact does. */
  private touchClient(row: ConversationRow, client: InboundClient, participant: ParticipantRow, now: number, wrote: boolean): void {
    this.inbound.touchClient(row, client, participant, wrote ? now : undefined, now, { type: client.type, integrationId: client.integrationId });
  }

  /** Browser sockets, upgraded by the Worker once it checked the session; the user must be a participant. */
  openSocket(request: Request): Response {
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return errorResponse(426, 'upgrade_required', 'Expected a WebSocket upgrade');
    if (!this.core.record.live()) return errorResponse(404, 'conversation_not_found', 'Conversation not found');
    const userId = request.headers.get(SOCKET_USER_HEADER);
    if (!userId || !this.core.people.byUser(userId)) return errorResponse(403, 'forbidden', 'The session user is not a participant of this conversation');
    const after = Number(new URL(request.url).searchParams.get('after') ?? 0);
    return this.core.hub.open(userId, Number.isSafeInteger(after) && after > 0 ? after : 0, (from, limit) => this.messages.after(from, limit));
  }
}
