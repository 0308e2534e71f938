/**
 * Messages on the `webhooks` queue. A feed message is what one conversation's
 * outbox drain owes the world besides channel deliveries: its index ops for
 * D1 (each with `ack`, its outbox row id, handed back once D1 holds it) and,
 * unless `indexOnly`, a kick for its webhooks, with the next batch of each
 * webhook the object already knew, claimed under a lease at drain time
 * (`claims`), so the consumer delivers without asking first. A replay says
 * "re-send this webhook's dead letters marked for replay". Parsed by the
 * consumer.
 */
import * as v from 'valibot';
import { indexOp } from './index-ops';

/**
 * How long a batch claimed at drain time may wait in the queue: the object
 * leases it this much longer than the consumer's own claims, and the consumer
 * delivers it only from a message younger than this, on its first attempt
 * (older, or redelivered, it claims afresh: the lease may have lapsed).
 */
export const FEED_CLAIM_GRACE_MS = 10_000;

/** One webhook's batch, claimed by the object: the same shape its claim answers with. */
export const feedClaim = v.object({
  webhookId: v.string(),
  leaseId: v.string(),
  lastSeq: v.number(),
  attempt: v.number(),
  failingSince: v.nullable(v.number()),
  /** Events travel as one JSON string: cheaper over RPC than a structured clone, and free of RPC's serializable-type limits. */
  eventsJson: v.string(),
});

export const webhookKick = v.object({
  appId: v.string(),
  conversationId: v.string(),
  index: v.optional(v.array(indexOp)),
  claims: v.optional(v.array(feedClaim)),
  /** Each webhook the object claimed for at drain time, by id: how it claimed (`claimShape`); a webhook missing or claimed otherwise is claimed by the consumer. */
  known: v.optional(v.record(v.string(), v.string())),
  /** Index ops only: no webhook events are owed. */
  indexOnly: v.optional(v.literal(true)),
});
/** How a webhook's batches are claimed (its filter, batch size and lease), compared by the consumer with what the object used. */
export const claimShape = (triggers: string[], since: string, limit: number, leaseMs: number) => JSON.stringify([triggers, since, limit, leaseMs]);

export const webhookReplay = v.object({ appId: v.string(), webhookId: v.string(), replay: v.literal(true), requestedAt: v.string() });
export const webhookQueueMessage = v.union([webhookReplay, webhookKick]);

export type FeedClaim = v.InferOutput<typeof feedClaim>;
export type WebhookKick = v.InferOutput<typeof webhookKick>;
export type WebhookReplay = v.InferOutput<typeof webhookReplay>;
export type WebhookQueueMessage = v.InferOutput<typeof webhookQueueMessage>;
