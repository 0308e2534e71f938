/**
 * What channel users send into the conversation, applied in the channel's
 * order in one transaction: messages (deduped on the channel's id, typed
 * answers mapped back to the choice they answer, quotes resolved to the
 * message Parley sent), postbacks, referrals, read and typing activity, and
 * receipts for Parley's own sends. A client's first activity here registers
 * it (`client:add`) in order with what it sent. A redelivered webhook
 * changes nothing.
 */
import type { Choice } from '../src/channels/adapter';
import { fail, type Result } from '../src/http/errors';
import { LIMITS } from '../src/schema/common';
import type { Message, MessageSource, StoredAuthor } from '../src/schema/message';
import { clientAddEvent, clientRemoveEvent, clientUpdateEvent, postbackEvent, readEvent, referralEvent, typingEvent, type EventSource } from '../src/webhooks/events';
import { NOT_FOUND, type Core } from './core';
import type { Deliveries } from './deliveries';
import type { Messages } from './messages';
import { userRef, type ParticipantRow } from './participants';
import { toConversation, type ConversationRow } from './record';
import { settleLink } from './linking';
import { noteRetention } from './retention';
import { beforeUserMessage } from './switchboard';
import type { AppPolicy } from '../src/schema/app';

/** A channel identity as the inbound pipeline resolved it. */
export interface InboundClient {
  id: string;
  integrationId: string;
  type: string;
  externalId: string;
  userId: string;
  userExternalId?: string;
  raw: Record<string, unknown> | null;
  /** The v2 client object, for the `client:add` event on first contact. */
  view: Record<string, unknown>;
}

/** One normalized inbound event, with media already turned into Parley URLs. */
export type ReceivedEvent =
  | { kind: 'message'; dedupeKey: string; author: StoredAuthor; content: Message['content']; source: MessageSource; quotedChannelMessageId?: string }
  | { kind: 'postback'; dedupeKey: string; payload?: string; choice?: number; text?: string; /** The web campaign whose message offered the button (SourceWithCampaignWebhook). */ campaignId?: string }
  | { kind: 'referral'; dedupeKey: string; ref: string; referralSource?: string; referralType?: string }
  | { kind: 'read'; channelMessageId?: string; watermark?: number }
  | { kind: 'typing'; state: 'start' | 'stop' }
  | { kind: 'delivery'; status: 'sent' | 'delivered' | 'read' | 'failed'; channelMessageId?: string; watermark?: number; error?: { code: string; message: string } };

export class Inbound {
  constructor(
    private core: Core,
    private messages: Messages,
    private deliveries: Deliveries,
  ) {}

  receive(client: InboundClient, events: ReceivedEvent[], policy?: AppPolicy): Result<{ stored: number; duplicates: number }> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    // The Worker resolves the identity again on a 404: the channel user then becomes a new user, as a removed client must.
    if (core.ledger.removed(client.id)) return fail(404, 'client_not_found', 'The client was removed from its user');
    const participant = core.people.byUser(client.userId);
    if (!participant) return fail(400, 'bad_request', 'The client user is not a participant of this conversation');
    const user = userRef(participant);
    const source: EventSource = { type: client.type, integrationId: client.integrationId };
    const now = Date.now();
    let stored = 0;
    let duplicates = 0;
    let full = false;
    core.transact(() => {
      const wroteIn = events.some((e) => e.kind === 'message' || e.kind === 'postback' || e.kind === 'referral');
      this.touchClient(row, client, participant, wroteIn ? now : undefined, now, source);
      // A user's message may put the conversation back on the switchboard's default; everything raised here carries that.
      // A user's message may put the conversation back on the switchboard's default; everything raised here carries that.
      const conversation = toConversation(events.some((e) => e.kind === 'message') ? beforeUserMessage(core, noteRetention(core, row, policy), policy?.switchboard) : row);
      for (const e of events) {
        switch (e.kind) {
          case 'message': {
            // Full: refuse before marking the id seen, so the channel's redelivery can store it once there is room.
            if (row.message_count + stored >= LIMITS.messagesPerConversation) {
              full = true;
              break;
            }
            // A message's channel id is kept on its own row (one record, no second table row per message);
            // the ids of deleted messages move to the ledger's seen ids, so a redelivery never brings one back.
            if (this.messages.hasDedupeKey(e.dedupeKey) || core.ledger.seen(e.dedupeKey)) {
              duplicates++;
              break;
            }
            const choice = e.content.type === 'text' && !('payload' in e.content && e.content.payload) ? this.answerTo(client.id, e.content.text ?? '') : undefined;
            const content = choice?.kind === 'reply' ? { ...e.content, payload: choice.payload } : e.content;
            const quoted = e.quotedChannelMessageId ? this.quoted(client.id, e.quotedChannelMessageId) : undefined;
            this.messages.insert(core.record.row()!, { author: e.author, content, source: e.source, dedupeKey: e.dedupeKey, ...(quoted ? { quotedMessage: quoted } : {}) }, user);
            stored++;
            if (choice?.kind === 'postback') core.raise(postbackEvent(conversation, user, { payload: choice.payload, text: choice.text }, source));
            break;
          }
          case 'postback': {
            if (!core.ledger.firstSight(e.dedupeKey, now)) {
              duplicates++;
              break;
            }
            const chosen = e.choice !== undefined ? core.ledger.choices(client.id).find((c) => c.number === e.choice) : undefined;
            if (chosen?.kind === 'reply') {
              // A quick reply the channel could only show as a button (Telegram): the tap is the user's answer, a message.
              const author: StoredAuthor = { type: 'user', userId: client.userId };
              const source: MessageSource = { type: client.type, integrationId: client.integrationId, originalMessageId: e.dedupeKey.split(':').pop()! };
              this.messages.insert(core.record.row()!, { author, content: { type: 'text', text: chosen.text, payload: chosen.payload }, source }, user);
              stored++;
              break;
            }
            const payload = e.payload ?? chosen?.payload;
            if (payload === undefined) break;
            const label = e.text ?? chosen?.text;
            if (policy?.echoPostback) {
              // The app keeps taps in the history (echoPostback): the button's label, as the user's message, carrying its payload.
              const echoSource: MessageSource = { type: client.type, integrationId: client.integrationId, originalMessageId: e.dedupeKey.split(':').pop()! };
              this.messages.insert(core.record.row()!, { author: { type: 'user', userId: client.userId }, content: { type: 'text', text: label ?? payload, payload }, source: echoSource }, user);
              stored++;
            }
            core.raise(postbackEvent(conversation, user, { payload, ...(label ? { text: label } : {}) }, e.campaignId ? { ...source, campaign: { id: e.campaignId } } : source));
            break;
          }
          case 'referral':
            if (!core.ledger.firstSight(e.dedupeKey, now)) {
              duplicates++;
              break;
            }
            core.raise(referralEvent(conversation, user, { code: e.ref, details: { ...(e.referralSource ? { source: e.referralSource } : {}), ...(e.referralType ? { type: e.referralType } : {}) } }, source));
            break;
          case 'read':
            if ((e.channelMessageId || e.watermark !== undefined) && !core.ledger.firstSight(`read:${client.id}:${e.channelMessageId ?? e.watermark}`, now)) {
              duplicates++;
              break;
            }
            core.people.read(participant.id, new Date(now).toISOString());
            core.raise(readEvent(conversation, user, source));
            core.hub.hold({ type: 'read', author: { type: 'user', userId: client.userId }, at: new Date(now).toISOString() });
            break;
          case 'typing':
            core.raise(typingEvent(conversation, user, e.state, source));
            core.hub.hold({ type: 'typing', state: e.state, author: { type: 'user', userId: client.userId } });
            break;
          case 'delivery':
            this.deliveries.receipt(row, user, client, e);
            break;
        }
      }
    });
    core.afterCommit();
    if (full) return fail(423, 'locked', `The conversation holds ${LIMITS.messagesPerConversation} messages, the most it can; delete its messages to receive more`);
    return { ok: true, value: { stored, duplicates } };
  }

  /**
   * Records the client's activity (`inboundAt`: it wrote in); its first one
   * here registers it, as a channel's first contact does, and raises
   * `client:add`. Runs inside the caller's transaction.
   */
  /** A client removed through the API: it receives nothing more, its user's client list drops it, and `client:remove` says so once. */
  removeClient(clientId: string, userId: string, view: Record<string, unknown>, reason: 'api' | 'theft' = 'api'): Result<null> {
    const { core } = this;
    const row = core.record.row();
    core.transact(() => {
      if (!core.ledger.removeClient(clientId)) return;
      const participant = core.people.byUser(userId);
      if (participant) core.people.setClients(participant.id, core.ledger.clientsOf(userId));
      const user = participant ? userRef(participant) : { id: userId };
      core.raise(clientRemoveEvent(row && !row.deleted_at ? toConversation(row) : undefined, user, view, reason));
    });
    core.afterCommit();
    return { ok: true, value: null };
  }

  touchClient(row: ConversationRow, client: InboundClient, participant: ParticipantRow, inboundAt: number | undefined, now: number, source: EventSource): void {
    const isNew = this.core.ledger.touchClient(client, inboundAt, now);
    // A link the business started settles with the user's first activity on that channel. Only a client D1 still calls
    // pending can be one, so every other message pays no lookup for it.
    const settled = inboundAt !== undefined && client.view.status === 'pending' ? settleLink(this.core, client.id, now) : undefined;
    if (!isNew && !settled) return;
    this.core.people.setClients(participant.id, this.core.ledger.clientsOf(client.userId));
    if (settled) this.core.raise(clientUpdateEvent(toConversation(row), userRef(participant), { ...client.view, status: 'active' }, settled.reason));
    else this.core.raise(clientAddEvent(userRef(participant), client.view, source));
  }

  /**
   * A typed answer to the options the client was last offered: a number for
   * numbered ones, a label for quick replies, and then a number for any of
   * them. The last is for adapters that number options themselves on devices
   * the renderer took for native (Apple without LIST): numbers are unique
   * within one offer, so a bare number can only mean that option.
   */
  private answerTo(clientId: string, text: string): Choice | undefined {
    const choices = this.core.ledger.choices(clientId);
    if (choices.length === 0) return undefined;
    const typed = text.trim();
    const number = /^\d{1,2}$/.test(typed) ? Number(typed) : undefined;
    return (
      choices.find((c) => c.numbered && c.number === number) ??
      choices.find((c) => !c.numbered && c.kind === 'reply' && c.text === typed) ??
      choices.find((c) => c.number === number)
    );
  }

  /** The message a channel quote points at: Parley's own, when the channel id is one it sent, else the bare channel id. */
  private quoted(clientId: string, channelMessageId: string): Message['quotedMessage'] {
    const messageId = this.core.ledger.sentMessage(clientId, channelMessageId);
    const found = messageId ? this.messages.byId(messageId) : undefined;
    return found ? { type: 'message', message: found } : { type: 'externalMessageId', externalMessageId: channelMessageId };
  }
}
