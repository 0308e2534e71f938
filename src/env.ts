/**
 * The bindings and secrets the Worker and the Durable Objects receive. Names
 * match wrangler.toml; secrets are set with `wrangler secret put` in production
 * and come from `.dev.vars` locally.
 */
import type { ConversationDO } from '../durable/conversation';
import type { IndexOp } from './schema/index-ops';
import type { WebhookQueueMessage } from './schema/webhook-queue';
import type { DeliveryKick } from './schema/delivery-queue';

export interface Env {
  DB: D1Database;
  CONVERSATIONS: DurableObjectNamespace<ConversationDO>;
  INDEX_QUEUE: Queue<IndexOp>;
  WEBHOOKS_QUEUE: Queue<WebhookQueueMessage>;
  DELIVERIES_QUEUE: Queue<DeliveryKick>;
  ATTACHMENTS: R2Bucket;
  /** Web Messenger abuse limits (wrangler.toml `ratelimits`): new sessions and logins, and uploads, per visitor IP. */
  WEB_SESSION_LIMIT?: RateLimit;
  WEB_UPLOAD_LIMIT?: RateLimit;
  /** Webhook retry schedule (ms): first delay, cap, and how long a failing webhook is retried before dead-lettering. */
  WEBHOOK_RETRY_BASE_MS?: string;
  WEBHOOK_RETRY_CAP_MS?: string;
  WEBHOOK_RETRY_WINDOW_MS?: string;
  WEBHOOK_TIMEOUT_MS?: string;
  /** How long (ms, default 60 s) a ConversationDO waits for a queue consumer to show up before it kicks the queue again: lost queue messages are made good. */
  QUEUE_REKICK_MS?: string;
  /** DNS-over-HTTPS JSON endpoint used to check where webhook targets resolve (production only). */
  DNS_OVER_HTTPS_URL?: string;
  ACCOUNT_KEY_ID?: string;
  ACCOUNT_KEY_SECRET?: string;
  /** Base64 of 32 random bytes; encrypts key secrets and channel tokens at rest. */
  MASTER_KEY?: string;
  /** Public base URL of this Parley (https://chat.example.com) when channels reach it through a proxy or custom domain; defaults to the API request's origin. */
  PUBLIC_URL?: string;
  /** Channel delivery retry schedule (ms): first delay, cap, and how long a failing delivery is retried before it fails. */
  CHANNEL_RETRY_BASE_MS?: string;
  CHANNEL_RETRY_CAP_MS?: string;
  CHANNEL_RETRY_WINDOW_MS?: string;
  /** `local` under `npm start` and the test suites: webhooks may then target http://localhost. Unset in production. */
  PARLEY_ENV?: string;
}
