/** Parley's Worker entry points: HTTP (REST API), queue consumers, and the Durable Object export. */
import type { Env } from './env';
import { consumeDeliveryBatch } from './delivery/channel-consumer';
import { consumeIndexBatch } from './delivery/index-consumer';
import { consumeWebhookBatch } from './delivery/webhook-consumer';
import { router } from './router';

export { ConversationDO } from '../durable/conversation';

export default {
  async fetch(request, env, ctx) {
    if (request.method !== 'HEAD') return router.fetch(request, env, ctx);
    // HEAD is GET without the body (RFC 9110 §9.3.2): every GET route answers it with the headers GET would send.
    const res = await router.fetch(new Request(request, { method: 'GET' }), env, ctx);
    return new Response(null, { status: res.status, statusText: res.statusText, headers: res.headers });
  },

  async queue(batch, env) {
    if (batch.queue.startsWith('parley-index')) return consumeIndexBatch(batch, env);
    if (batch.queue.startsWith('parley-webhooks')) return consumeWebhookBatch(batch, env);
    if (batch.queue.startsWith('parley-deliveries')) return consumeDeliveryBatch(batch, env);
    console.error(`no consumer for queue ${batch.queue}; retrying so nothing is lost`);
    batch.retryAll();
  },
} satisfies ExportedHandler<Env>;
