/**
 * Messages on the `deliveries` queue: a kick saying "this client of this
 * conversation has outbound messages waiting". The messages, their order and
 * their retry state stay in the conversation's DO, so duplicated kicks are
 * harmless. Parsed by the consumer.
 */
import * as v from 'valibot';

export const deliveryKick = v.object({ appId: v.string(), conversationId: v.string(), clientId: v.string() });
export type DeliveryKick = v.InferOutput<typeof deliveryKick>;
