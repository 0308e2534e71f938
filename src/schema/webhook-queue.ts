/**
 * Messages on the `webhooks` queue. A kick says "this conversation has events
 * to deliver" (the events and cursors stay in its DO); a replay says "re-send
 * this webhook's dead letters marked for replay". Parsed by the consumer.
 */
import * as v from 'valibot';

export const webhookKick = v.object({ appId: v.string(), conversationId: v.string() });
export const webhookReplay = v.object({ appId: v.string(), webhookId: v.string(), replay: v.literal(true), requestedAt: v.string() });
export const webhookQueueMessage = v.union([webhookReplay, webhookKick]);

export type WebhookKick = v.InferOutput<typeof webhookKick>;
export type WebhookReplay = v.InferOutput<typeof webhookReplay>;
export type WebhookQueueMessage = v.InferOutput<typeof webhookQueueMessage>;
