/**
 * Index ops: keyed upserts and deletes that keep D1's queryable copy of
 * conversations and messages in step with the ConversationDOs. A
 * conversation's ops travel in its feed messages on the `webhooks` queue
 * (see webhook-queue.ts), each with `ack`, its outbox row id: the consumer
 * hands it back once D1 holds the op, and the conversation sends again the
 * ops never confirmed. The `index` queue carries the rest (an app's purges).
 * Every op is idempotent, so redelivery is harmless; the consumer parses each
 * body with this schema, so a malformed op is dropped loudly instead of
 * poisoning a batch.
 */
import * as v from 'valibot';
import { conversationView } from './conversation';

const messageRow = v.object({
  id: v.string(),
  seq: v.number(),
  received: v.string(),
  authorType: v.string(),
  authorUserId: v.nullable(v.string()),
  contentType: v.string(),
  text: v.nullable(v.string()),
  body: v.string(),
  /** The channel the message was on (migration 0012); ops queued before it lack it and take the body's source.type. */
  integrationType: v.optional(v.string()),
});

/** Added by the sending conversation, never stored in its outbox. */
const ack = { ack: v.optional(v.number()) };

export const indexOp = v.variant('op', [
  v.object({
    op: v.literal('conversation.upsert'),
    ...ack,
    appId: v.string(),
    conversation: conversationView,
    participants: v.array(v.object({ id: v.string(), userId: v.string() })),
  }),
  v.object({ op: v.literal('participant.remove'), ...ack, appId: v.string(), conversationId: v.string(), userId: v.string() }),
  v.object({ op: v.literal('message.upsert'), ...ack, appId: v.string(), conversationId: v.string(), message: messageRow }),
  v.object({ op: v.literal('message.delete'), ...ack, appId: v.string(), conversationId: v.string(), messageId: v.string() }),
  v.object({ op: v.literal('conversation.messagesCleared'), ...ack, appId: v.string(), conversationId: v.string(), upToSeq: v.number() }),
  v.object({
    op: v.literal('conversation.touch'),
    ...ack,
    appId: v.string(),
    conversationId: v.string(),
    businessLastRead: v.string(),
  }),
  v.object({ op: v.literal('conversation.delete'), ...ack, appId: v.string(), conversationId: v.string() }),
  /** How one channel send ended (sent or failed for good), for stats and usage; keyed by (conversation, message, client). */
  v.object({
    op: v.literal('delivery.outcome'),
    ...ack,
    appId: v.string(),
    conversationId: v.string(),
    messageId: v.string(),
    clientId: v.string(),
    channel: v.string(),
    outcome: v.picklist(['sent', 'failed']),
    at: v.string(),
  }),
  /** A deleted app's stream object (a conversation's or a user's) is emptied; sent by the app delete route. */
  v.object({ op: v.literal('stream.purge'), appId: v.string(), streamId: v.string() }),
]);
export type IndexOp = v.InferOutput<typeof indexOp>;
