/** Parley's Worker entry points: HTTP (REST API), queue consumers, and the Durable Object export. */
import type { Env } from './env';
import { consumeDeliveryBatch } from './delivery/channel-consumer';
import { consumeIndexBatch } from './delivery/index-consumer';
import { consumeWebhookBatch } from './delivery/webhook-consumer';
import { router } from './router';

export { ConversationDO } from '../durable/conversation';

export default {
  fetch: (request, env, ctx) => router.fetch(request, env, ctx),

  async queue(batch, env) {
    if (batch.queue.startsWith('parley-index')) return consumeIndexBatch(batch, env);
    if (batch.queue.startsWith('parley-webhooks')) return consumeWebhookBatch(batch, env);
    if (batch.queue.startsWith('parley-deliveries')) return consumeDeliveryBatch(batch, env);
    console.error(`no consumer for queue ${batch.queue}; retrying so nothing is lost`);
    batch.retryAll();
  },
} satisfies ExportedHandler<Env>;
