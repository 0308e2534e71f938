/**
 * The Worker `npm run bench` runs: Parley's own entry points, with the floor
 * routes and the billable-operation counters of counters.ts around them, and
 * the floor's Durable Object. Its wrangler config is made from wrangler.toml
 * by config.mjs, so the deployed Worker carries none of this.
 */
import parley from '../../../src/index';
import { benchFetch, benchQueue, type BenchEnv } from './counters';

export { ConversationDO } from '../../../src/index';
export { BenchDO } from './floor';

export default {
  fetch: (request, env, ctx) => benchFetch(request, env, ctx),
  queue: (batch, env) => parley.queue(batch, benchQueue(batch, env)),
} satisfies ExportedHandler<BenchEnv>;
