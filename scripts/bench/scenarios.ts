/**
 * The scenarios, each a bounded amount of work on loopback. `prepare` runs
 * before the counters are read (setup is not charged to the scenario); `run`
 * drives the load, waits for what the load set off downstream (webhook events,
 * channel sends), and returns its samples and the checks to run afterwards.
 */
import { token, type Channels } from './channels';
import { deliveredInOrder, receivedOnce, storedOnce, type Check, type Listings } from './checks';
import { json, now, prepare, send, type Api, type Prepared } from './http';
import { closedLoop, summarize, waitFor, type Sample, type Summary } from './load';
import type { Receiver } from './receiver';

export interface Sizes {
  floor: number;
  ingestUsers: number;
  /** Messages of returning users, spread over the ingest users. */
  ingestMessages: number;
  hot: number;
  /** Channel users whose conversations the API-send and end-to-end scenarios use. */
  population: number;
  apiSend: number;
  e2e: number;
  e2eIdle: number;
}

export const SIZES: Record<'full' | 'quick', Sizes> = {
  full: { floor: 1200, ingestUsers: 1000, ingestMessages: 1000, hot: 800, population: 300, apiSend: 400, e2e: 400, e2eIdle: 30 },
  quick: { floor: 400, ingestUsers: 200, ingestMessages: 200, hot: 300, population: 60, apiSend: 120, e2e: 120, e2eIdle: 10 },
};

export interface Ctx {
  parleyUrl: string;
  appId: string;
  auth: string;
  api: Api;
  channels: Channels;
  receiver: Receiver;
  sizes: Sizes;
  /** Channel user index → their conversation, learned from the webhook events of their messages. */
  conversations: Map<number, string>;
}

export interface Run {
  samples: Sample[];
  /** Messages the scenario stored (the divisor of its cost per message). */
  messages: number;
  /** Runs after the last scenario, when nothing is written any more. */
  check?: (listings: Listings) => Promise<Check[]>;
  /** Other figures worth keeping: sub-populations, the API's own answer time. */
  extra?: Record<string, unknown>;
  notes?: string[];
}

export interface Scenario {
  id: string;
  title: string;
  kind: 'floor' | 'parley';
  concurrency: number;
  /** What one latency sample spans. */
  measures: string;
  /** The floors a Parley scenario is compared with (ids). */
  floors?: string[];
  prepare?: (ctx: Ctx) => Promise<void>;
  run: (ctx: Ctx) => Promise<Run>;
}

const WEBHOOK_WAIT_MS = 90_000;

/** One key's jobs one after another: `turn(key)` resolves when the key's previous holder has released it. Messages of one conversation keep their order. */
class Serial {
  private tails = new Map<unknown, Promise<void>>();

  async turn(key: unknown): Promise<() => void> {
    const previous = this.tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.tails.set(key, mine);
    await previous;
    return release;
  }
}

async function timed(req: Prepared, okStatus: (s: number) => boolean): Promise<Sample> {
  const start = now();
  const answer = await send(req);
  return { start, end: now(), ok: okStatus(answer.status) };
}

const is2xx = (s: number) => s >= 200 && s < 300;

async function waitForWebhooks(ctx: Ctx, tokens: string[], label = 'webhook events'): Promise<boolean> {
  return waitFor(() => tokens.every((t) => ctx.receiver.first.has(t)), WEBHOOK_WAIT_MS, label, () => [tokens.filter((t) => ctx.receiver.first.has(t)).length, tokens.length]);
}

/** Makes sure channel users 0..n-1 have written once, so their conversation exists and is known. */
async function ensurePopulation(ctx: Ctx, n: number): Promise<void> {
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !ctx.conversations.has(i));
  if (missing.length === 0) return;
  const tokens = missing.map((i) => token('warm', i));
  const requests = await Promise.all(missing.map(async (i, k) => prepare(await ctx.channels.inbound(ctx.channels.user(i), `hello ${tokens[k]}`))));
  await closedLoop('first messages of channel users', requests.length, 16, (k) => timed(requests[k]!, is2xx));
  if (!(await waitForWebhooks(ctx, tokens))) throw new Error('the channel users’ first messages did not all reach the webhook receiver');
  missing.forEach((i, k) => ctx.conversations.set(i, ctx.receiver.first.get(tokens[k]!)!.conversationId));
}

/** Tokens whose request was not accepted (no 2xx): their message may or may not exist. */
const refusedOf = (tokens: string[], accepted: (Sample | undefined)[]) => new Set(tokens.filter((_, i) => !accepted[i]?.ok));

/** Token → conversation, learned from the webhook events (a token without one fails the webhook check). */
function sentTo(ctx: Ctx, tokens: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of tokens) {
    const c = ctx.receiver.first.get(t)?.conversationId;
    if (c) out.set(t, c);
  }
  return out;
}

// ---- floors -------------------------------------------------------------------

/** Floors at one sender are for the one-at-a-time scenario: a tenth of the requests is plenty. */
const floorRequests = (ctx: Ctx, concurrency: number) => (concurrency === 1 ? Math.ceil(ctx.sizes.floor / 10) : ctx.sizes.floor);

export function noopFloor(concurrency: number): Scenario {
  return {
    id: `floor-noop-${concurrency}`,
    title: `floor: Worker returns at once (${concurrency} sender${concurrency === 1 ? '' : 's'})`,
    kind: 'floor',
    concurrency,
    measures: 'request to answer',
    async run(ctx) {
      const req: Prepared = { method: 'GET', url: `${ctx.parleyUrl}/_bench/noop`, headers: {} };
      const samples = await closedLoop(`no-op, ${concurrency} sender${concurrency === 1 ? '' : 's'}`, floorRequests(ctx, concurrency), concurrency, () => timed(req, (s) => s === 200));
      return { samples, messages: samples.filter((s) => s.ok).length };
    },
  };
}

/** Floor object groups already created in this run. */
const created = new Set<number>();

/** One SQLite row written into one of `objects` Durable Objects; objects are created beforehand, so this is the steady state. */
export function doWriteFloor(concurrency: number, objects: number): Scenario {
  const key = (i: number) => `floor-${objects}-${i % objects}`;
  const url = (ctx: Ctx, i: number) => `${ctx.parleyUrl}/_bench/do-write?key=${key(i)}`;
  return {
    id: `floor-do-write-${objects === 1 ? 'one' : objects}-${concurrency}`,
    title: `floor: Worker + 1 DO write, ${objects === 1 ? 'one object' : `${objects.toLocaleString('en')} objects`} (${concurrency} sender${concurrency === 1 ? '' : 's'})`,
    kind: 'floor',
    concurrency,
    measures: 'request to answer',
    async prepare(ctx) {
      if (created.has(objects)) return;
      await closedLoop(`creating ${objects} floor object${objects === 1 ? '' : 's'}`, objects, 32, (i) => timed({ method: 'POST', url: url(ctx, i), headers: {} }, (s) => s === 200));
      created.add(objects);
    },
    async run(ctx) {
      const samples = await closedLoop(`1 DO write, ${objects} object${objects === 1 ? '' : 's'}`, floorRequests(ctx, concurrency), concurrency, (i) =>
        timed({ method: 'POST', url: url(ctx, i), headers: {} }, (s) => s === 200),
      );
      return { samples, messages: samples.filter((s) => s.ok).length };
    },
  };
}

// ---- Parley ---------------------------------------------------------------------

/**
 * Signed channel webhooks from `ingestUsers` users of Telegram, WhatsApp and
 * Twilio. `first`: each user's first message, which creates their user, client
 * and personal conversation. Otherwise returning users, round after round, each
 * user's messages one after another (users who never wrote get a first message
 * beforehand, outside the measurement).
 */
export function ingest(concurrency: number, first: boolean): Scenario {
  const tag = first ? 'ingestnew' : 'ingest';
  let requests: Prepared[] = [];
  let tokens: string[] = [];
  return {
    id: first ? 'ingest-new' : 'ingest',
    title: first ? `ingest, first contact: a user's first channel webhook (${concurrency} senders)` : `ingest: channel webhooks from returning users (${concurrency} senders)`,
    kind: 'parley',
    concurrency,
    measures: "channel's webhook request to Parley's 2xx",
    floors: [`floor-noop-${concurrency}`, `floor-do-write-1000-${concurrency}`],
    async prepare(ctx) {
      const users = ctx.sizes.ingestUsers;
      if (!first) await ensurePopulation(ctx, users);
      tokens = Array.from({ length: first ? users : ctx.sizes.ingestMessages }, (_, i) => token(tag, i));
      // Built (and signed) before the clock starts, so the load generator only sends bytes.
      requests = await Promise.all(tokens.map(async (t, i) => prepare(await ctx.channels.inbound(ctx.channels.user(i % users), `hi ${t}`))));
    },
    async run(ctx) {
      const users = ctx.sizes.ingestUsers;
      const userOf = (t: string) => Number(t.slice(t.lastIndexOf('-') + 1)) % users;
      const serial = new Serial();
      const samples = await closedLoop(`inbound webhooks, ${users} users`, requests.length, concurrency, async (i) => {
        const done = await serial.turn(i % users);
        try {
          return await timed(requests[i]!, is2xx);
        } finally {
          done();
        }
      });
      await waitForWebhooks(ctx, tokens);
      if (first) {
        for (const t of tokens) {
          const seen = ctx.receiver.first.get(t);
          if (seen && !ctx.conversations.has(userOf(t))) ctx.conversations.set(userOf(t), seen.conversationId);
        }
      }
      return {
        samples,
        messages: samples.filter((s) => s.ok).length,
        extra: { users },
        check: async (listings) => {
          const refused = refusedOf(tokens, samples);
          if (!first) {
            // A returning user's message belongs in the conversation their first message opened.
            const sent = new Map(tokens.map((t) => [t, ctx.conversations.get(userOf(t))!]));
            return [...(await storedOnce(listings, sent, true, refused)), receivedOnce('webhook event', tokens, ctx.receiver.count, refused)];
          }
          const sent = sentTo(ctx, tokens);
          const conversations = new Set(sent.values());
          return [
            ...(await storedOnce(listings, sent, false, refused)),
            receivedOnce('webhook event', tokens, ctx.receiver.count, refused),
            { name: 'one conversation per user', ok: conversations.size === sent.size, detail: `${sent.size} users wrote, ${conversations.size} conversations` },
          ];
        },
      };
    },
  };
}

/** Many senders posting into one group conversation at once: its Durable Object is the single writer. */
export function hotConversation(concurrency: number): Scenario {
  let conversationId = '';
  let userIds: string[] = [];
  return {
    id: 'hot',
    title: `hot conversation: ${concurrency} senders, one conversation`,
    kind: 'parley',
    concurrency,
    measures: 'POST …/messages to 201',
    floors: [`floor-noop-${concurrency}`, `floor-do-write-one-${concurrency}`],
    async prepare(ctx) {
      // A group holds at most 10 participants; the senders take turns being them.
      userIds = [];
      for (let i = 0; i < 10; i++) userIds.push((await ctx.api.call('POST', `/v2/apps/${ctx.appId}/users`, { externalId: `hot-${i}` })).user.id);
      const { conversation } = await ctx.api.call('POST', `/v2/apps/${ctx.appId}/conversations`, {
        type: 'sdkGroup',
        displayName: 'Bench: hot conversation',
        participants: userIds.map((userId) => ({ userId })),
      });
      conversationId = conversation.id;
    },
    async run(ctx) {
      const url = `${ctx.parleyUrl}/v2/apps/${ctx.appId}/conversations/${conversationId}/messages`;
      const tokens = Array.from({ length: ctx.sizes.hot }, (_, i) => token('hot', i));
      const samples = await closedLoop(`POST …/messages, one conversation`, tokens.length, concurrency, (i) =>
        timed(json('POST', url, ctx.auth, { author: { type: 'user', userId: userIds[(i % concurrency) % userIds.length] }, content: { type: 'text', text: `hot ${tokens[i]}` } }), (s) => s === 201),
      );
      await waitForWebhooks(ctx, tokens);
      return {
        samples,
        messages: samples.filter((s) => s.ok).length,
        check: async (listings) => {
          const refused = refusedOf(tokens, samples);
          return [...(await storedOnce(listings, new Map(tokens.map((t) => [t, conversationId])), false, refused)), receivedOnce('webhook event', tokens, ctx.receiver.count, refused)];
        },
      };
    },
  };
}

/**
 * The business answers channel users through the REST API; measured until the
 * channel's fake receives the rendered message. Each sender waits for that
 * before its next message, so the latency is the pipeline's, not a backlog's.
 */
export function apiSend(concurrency: number): Scenario {
  return {
    id: 'api-send',
    title: `API send: business → channel user (${concurrency} senders)`,
    kind: 'parley',
    concurrency,
    measures: "POST …/messages to the channel's API receiving it",
    floors: [`floor-noop-${concurrency}`, `floor-do-write-1000-${concurrency}`],
    prepare: (ctx) => ensurePopulation(ctx, ctx.sizes.population),
    async run(ctx) {
      const population = ctx.sizes.population;
      const receipts = ctx.channels.receipts;
      const tokens = Array.from({ length: ctx.sizes.apiSend }, (_, i) => token('api', i));
      const conversationOf = (i: number) => ctx.conversations.get(i % population)!;
      const answered: Sample[] = new Array(tokens.length);
      const serial = new Serial();
      const samples = await closedLoop('POST …/messages → channel', tokens.length, concurrency, async (i) => {
        const done = await serial.turn(i % population);
        try {
          const url = `${ctx.parleyUrl}/v2/apps/${ctx.appId}/conversations/${conversationOf(i)}/messages`;
          const a = (answered[i] = await timed(json('POST', url, ctx.auth, { author: { type: 'business' }, content: { type: 'text', text: `Answer ${tokens[i]}` } }), (s) => s === 201));
          const at = a.ok ? await receipts.wait(tokens[i]!, 30_000) : undefined;
          return at !== undefined ? { start: a.start, end: at, ok: true } : { start: a.start, end: now(), ok: false };
        } finally {
          done();
        }
      });
      await waitForWebhooks(ctx, tokens);
      const api = summarize(answered.filter(Boolean));
      const sent = new Map(tokens.map((t, i) => [t, conversationOf(i)]));
      return {
        samples,
        messages: samples.filter((s) => s.ok).length,
        extra: { conversations: population, apiAnswer: brief(api) },
        notes: [`the API's own 201 (before the channel send): ${fmtBrief(api)}`],
        check: async (listings) => {
          const refused = refusedOf(tokens, answered);
          return [
            receivedOnce('channel send', tokens, receipts.count, refused),
            deliveredInOrder(sent, receipts.first),
            ...(await storedOnce(listings, sent, true, refused)),
            receivedOnce('webhook event', tokens, ctx.receiver.count, refused),
          ];
        },
      };
    },
  };
}

/** A channel user writes; measured until the customer's webhook receives the conversation:message event. */
export function endToEnd(concurrency: number, idle = false): Scenario {
  const tag = idle ? 'idle' : 'e2e';
  return {
    id: idle ? 'e2e-idle' : 'e2e',
    title: idle ? 'end to end, one message at a time' : `end to end: channel → customer webhook (${concurrency} senders)`,
    kind: 'parley',
    concurrency,
    measures: "channel's webhook request to the customer webhook's receipt",
    floors: [`floor-noop-${concurrency}`, `floor-do-write-1000-${concurrency}`],
    prepare: (ctx) => ensurePopulation(ctx, ctx.sizes.population),
    async run(ctx) {
      const population = ctx.sizes.population;
      const total = idle ? ctx.sizes.e2eIdle : ctx.sizes.e2e;
      const tokens = Array.from({ length: total }, (_, i) => token(tag, i));
      const acked: Sample[] = new Array(total);
      const serial = new Serial();
      const samples = await closedLoop(idle ? 'one message at a time' : 'inbound → webhook receipt', total, concurrency, async (i) => {
        const done = await serial.turn(i % population);
        try {
          const req = await prepare(await ctx.channels.inbound(ctx.channels.user(i % population), `e2e ${tokens[i]}`));
          const start = now();
          const answer = await send(req);
          acked[i] = { start, end: now(), ok: is2xx(answer.status) };
          const seen = acked[i]!.ok ? await ctx.receiver.wait(tokens[i]!, 20_000) : undefined;
          return seen ? { start, end: seen.at, ok: true } : { start, end: now(), ok: false };
        } finally {
          done();
        }
      });
      const ack = summarize(acked.filter(Boolean));
      const sent = new Map(tokens.map((t, i) => [t, ctx.conversations.get(i % population)!]));
      return {
        samples,
        messages: samples.filter((s) => s.ok).length,
        extra: { inboundAck: brief(ack) },
        notes: [`the channel's 2xx (message committed): ${fmtBrief(ack)}`],
        check: async (listings) => {
          const refused = refusedOf(tokens, acked);
          return [...(await storedOnce(listings, sent, true, refused)), receivedOnce('webhook event', tokens, ctx.receiver.count, refused)];
        },
      };
    },
  };
}

const brief = (s: Summary) => ({ requests: s.requests, errors: s.errors, perSecond: round(s.perSecond), p50: round(s.p50), p95: round(s.p95), p99: round(s.p99) });
const fmtBrief = (s: Summary) => `${s.requests} requests, ${Math.round(s.perSecond)}/s, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`;
export const round = (n: number, digits = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n);
