/**
 * Webhook events in the v2 shapes of the client package's `*Event` models:
 * `{id, type, createdAt, payload}` with the payload each trigger defines. Users
 * appear truncated (`{id, externalId}`); the consumer expands them for webhooks
 * that ask for `includeFullUser`. `message.seq` is Parley's additive field.
 */
import { newId } from '../ids';
import type { Conversation } from '../schema/conversation';
import type { Message } from '../schema/message';

export interface WebhookEvent {
  id: string;
  type: string;
  createdAt: string;
  payload: Record<string, unknown>;
}

export interface UserRef {
  id: string;
  externalId?: string;
}

const event = (type: string, payload: Record<string, unknown>): WebhookEvent => ({ id: newId(), type, createdAt: new Date().toISOString(), payload });

const userTruncated = (u: UserRef) => ({ id: u.id, ...(u.externalId ? { externalId: u.externalId } : {}), authenticated: false });

/**
 * `conversationTruncated`: what webhooks carry of a conversation. Its switchboard state as of the event
 * is what the webhook consumer routes the event by.
 */
export const conversationTruncated = (c: Conversation) => ({
  id: c.id,
  type: c.type,
  ...(c.metadata ? { metadata: c.metadata } : {}),
  ...(c.activeSwitchboardIntegration ? { activeSwitchboardIntegration: c.activeSwitchboardIntegration } : {}),
  ...(c.pendingSwitchboardIntegration ? { pendingSwitchboardIntegration: c.pendingSwitchboardIntegration } : {}),
});

export function messageEvent(c: Conversation, m: Message, author?: UserRef, recentNotifications?: Record<string, unknown>[]): WebhookEvent {
  const authorWebhook =
    m.author.type === 'user' && author
      ? { type: 'user', userId: author.id, ...(m.author.displayName ? { displayName: m.author.displayName } : {}), ...(m.author.avatarUrl ? { avatarUrl: m.author.avatarUrl } : {}), user: userTruncated(author) }
      : { type: 'business', ...(m.author.subtypes ? { subtypes: m.author.subtypes } : {}), ...(m.author.displayName ? { displayName: m.author.displayName } : {}), ...(m.author.avatarUrl ? { avatarUrl: m.author.avatarUrl } : {}) };
  return event('conversation:message', {
    conversation: conversationTruncated(c),
    message: { id: m.id, received: m.received, seq: m.seq, author: authorWebhook, content: m.content, source: m.source, ...(m.quotedMessage ? { quotedMessage: m.quotedMessage } : {}), ...(m.metadata ? { metadata: m.metadata } : {}) },
    ...(recentNotifications ? { recentNotifications } : {}),
  });
}

/** Where an event came from: the API, or a channel integration; `campaign` when a visitor answered one (SourceWithCampaignWebhook). */
export interface EventSource {
  type: string;
  integrationId?: string;
  campaign?: { id: string };
}
const API_SOURCE: EventSource = { type: 'api:conversations' };

export const conversationCreateEvent = (c: Conversation, creationReason: string, user?: UserRef, source: EventSource = API_SOURCE) =>
  event('conversation:create', {
    conversation: conversationTruncated(c),
    creationReason,
    source,
    ...(user && c.type === 'personal' ? { user: userTruncated(user) } : {}),
  });

export const joinEvent = (c: Conversation, user: UserRef) => event('conversation:join', { conversation: conversationTruncated(c), user: userTruncated(user) });
export const leaveEvent = (c: Conversation, user: UserRef) => event('conversation:leave', { conversation: conversationTruncated(c), user: userTruncated(user) });
export const removeEvent = (c: Conversation) => event('conversation:remove', { conversation: conversationTruncated(c) });

export const readEvent = (c: Conversation, user: UserRef, source: EventSource = API_SOURCE) =>
  event('conversation:read', {
    conversation: conversationTruncated(c),
    activity: { type: 'conversation:read', author: { type: 'user', userId: user.id, user: userTruncated(user) }, source },
  });

export const typingEvent = (c: Conversation, user: UserRef, state: 'start' | 'stop', source: EventSource) =>
  event('conversation:typing', {
    conversation: conversationTruncated(c),
    activity: { type: `typing:${state}`, author: { type: 'user', userId: user.id, user: userTruncated(user) }, source },
  });

export const postbackEvent = (c: Conversation, user: UserRef, postback: { payload: string; text?: string }, source: EventSource) =>
  event('conversation:postback', { conversation: conversationTruncated(c), postback, user: userTruncated(user), source });

export const referralEvent = (c: Conversation, user: UserRef, referral: { code: string; details?: { source?: string; type?: string } }, source: EventSource) =>
  event('conversation:referral', { conversation: conversationTruncated(c), user: userTruncated(user), source, referral });

/**
 * `client:add` for a channel identity seen for the first time, or (reason
 * `channelLinking`, with the conversation) a link the business started;
 * `client` is the v2 client object.
 */
export const clientAddEvent = (user: UserRef, client: Record<string, unknown>, source: EventSource, linking?: { conversation: Conversation }) =>
  event('client:add', { ...(linking ? { conversation: conversationTruncated(linking.conversation), reason: 'channelLinking' } : {}), user: userTruncated(user), client, source });

/** `client:update`: a linked client was confirmed (`confirmed`) or its user wrote on it (`matched`). */
export const clientUpdateEvent = (c: Conversation, user: UserRef, client: Record<string, unknown>, reason: 'confirmed' | 'matched' | 'blocked' | 'unblocked') =>
  event('client:update', { conversation: conversationTruncated(c), user: userTruncated(user), client, reason });

/**
 * `client:remove`: the client is gone (`api`: removed through the API) and its
 * channel identity no longer reaches this user; raised by the conversation the
 * client wrote into, in order with its messages.
 */
export const clientRemoveEvent = (c: Conversation | undefined, user: UserRef, client: Record<string, unknown>, reason: 'api' | 'linkCancelled' | 'linkFailed' | 'sdk' | 'theft', source: EventSource = { type: 'api:users' }) =>
  event('client:remove', { ...(c ? { conversation: conversationTruncated(c) } : {}), user: userTruncated(user), client, reason, source });

/**
 * `conversation:message:delivery:{channel,user,failure}`: the channel took the
 * message (with its ids), the user's device got it, or it failed with the
 * channel's code and message.
 */
export function deliveryEvent(
  kind: 'channel' | 'user' | 'failure',
  c: Conversation,
  user: UserRef,
  messageId: string,
  destination: { type: string; integrationId: string },
  externalMessageIds: string[],
  error?: { code: string; message: string },
): WebhookEvent {
  return event(`conversation:message:delivery:${kind}`, {
    user: userTruncated(user),
    conversation: conversationTruncated(c),
    message: { id: messageId },
    destination,
    externalMessages: externalMessageIds.map((id) => ({ id })),
    isFinalEvent: kind !== 'channel',
    ...(error ? { error } : {}),
  });
}

/** Every place a payload carries a truncated user, so includeFullUser can expand them. */
export function userSlots(payload: Record<string, unknown>): { holder: Record<string, unknown>; key: string }[] {
  const slots: { holder: Record<string, unknown>; key: string }[] = [];
  const visit = (holder: unknown) => {
    if (holder && typeof holder === 'object' && 'user' in holder) slots.push({ holder: holder as Record<string, unknown>, key: 'user' });
  };
  visit(payload);
  visit((payload.message as { author?: unknown } | undefined)?.author);
  visit((payload.activity as { author?: unknown } | undefined)?.author);
  return slots;
}

/**
 * `switchboard:*` and their `:failure` forms: the conversation as the action
 * left it, the caller's metadata, and for a failure the error. Parley adds
 * `messageHistory` (the newest messages, oldest first) when the integration
 * that gets control asked for it with `messageHistoryCount`.
 */
export const switchboardEvent = (
  type: string,
  c: Conversation,
  extra: { metadata?: Record<string, unknown> | undefined; error?: { code: string; message: string }; messageHistory?: Record<string, unknown>[] },
) =>
  event(type, {
    conversation: conversationTruncated(c),
    ...(extra.metadata ? { metadata: extra.metadata } : {}),
    ...(extra.error ? { error: extra.error } : {}),
    ...(extra.messageHistory ? { messageHistory: extra.messageHistory } : {}),
  });

/**
 * `user:update`: the user as it now is, after the API changed its profile or
 * metadata (no reason: the contract's reasons name automatic changes), or
 * after an anonymous Web Messenger user logged in (`authentication`).
 */
export const userUpdateEvent = (user: Record<string, unknown>, source: EventSource, reason?: 'authentication' | 'localeDetection') =>
  event('user:update', { user, source, ...(reason ? { reason } : {}) });

/** Every `source` in a payload with the user it speaks for, so includeFullSource can add that user's client and device. */
export function sourceSlots(payload: Record<string, unknown>): { source: Record<string, unknown>; userId: string }[] {
  type Author = { userId?: string } | undefined;
  const p = payload as { source?: Record<string, unknown>; user?: { id?: string }; message?: { source?: Record<string, unknown>; author?: Author }; activity?: { source?: Record<string, unknown>; author?: Author } };
  const slots: { source: Record<string, unknown>; userId: string }[] = [];
  if (p.message?.source && p.message.author?.userId) slots.push({ source: p.message.source, userId: p.message.author.userId });
  if (p.activity?.source && p.activity.author?.userId) slots.push({ source: p.activity.source, userId: p.activity.author.userId });
  if (p.source && p.user?.id) slots.push({ source: p.source, userId: p.user.id });
  return slots;
}

export const userRemoveEvent = (user: UserRef) => event('user:remove', { user: userTruncated(user) });

/** `user:merge`: an anonymous Web Messenger user logged in as a user who already existed; their conversations became one. */
export const userMergeEvent = (
  surviving: UserRef,
  discarded: UserRef,
  conversations: { surviving: Conversation; discarded: { id: string; type: string } },
  reason: 'sdkLogin' | 'api' | 'channelLinking',
) =>
  event('user:merge', {
    mergedUsers: { surviving: userTruncated(surviving), discarded: userTruncated(discarded) },
    mergedConversations: { surviving: conversationTruncated(conversations.surviving), discarded: conversations.discarded },
    reason,
  });

/** What a `conversation:payment` event says of the payment (Parley's extension; Stripe's ids as Stripe gave them). */
export interface PaymentDetails {
  provider: 'stripe';
  integrationId: string;
  checkoutSessionId: string;
  paymentIntentId: string | null;
  amount: number;
  currency: string;
  status: 'paid';
}

/**
 * `conversation:payment` (Parley's extension; v1 webhooks get it as
 * `payment:success`): a user paid for a buy action of a business message.
 * The id is the caller's, made from the payment, so a raise repeated after
 * a crash can find the first one in the stream.
 */
export const paymentEvent = (
  id: string,
  c: Conversation,
  user: UserRef,
  messageId: string,
  action: Record<string, unknown>,
  payment: PaymentDetails,
): WebhookEvent => ({
  id,
  type: 'conversation:payment',
  createdAt: new Date().toISOString(),
  payload: { conversation: conversationTruncated(c), user: userTruncated(user), message: { id: messageId }, action, payment },
});
