/**
 * The `webhooks` queue consumer. A queue message is one conversation's feed
 * (see schema/webhook-queue.ts): its index ops, written to D1 first, and a
 * kick for its webhooks, usually with each webhook's next batch already
 * claimed by the conversation's DO (which keeps event N+1 behind event N per
 * webhook). Each batch is POSTed signed and the attempt logged in D1; then
 * one report tells the DO what happened (index ops D1 holds; the batch
 * settled — 2xx, or refused for good and dead-lettered — or to retry at a
 * capped, jittered exponential delay) and brings back the webhook's next
 * batch, if any. So a message costs the DO one call here, not a claim, a
 * settle and an index confirmation. A failing webhook is retried for
 * WEBHOOK_RETRY_WINDOW_MS (26 h by default) before its batch is dead-lettered.
 * Webhooks of one conversation are served concurrently, so a slow receiver
 * delays only its own events. With a switchboard, each webhook is sent only
 * the events routed to it (./webhook-routing.ts); the rest are settled unsent.
 */
import * as v from 'valibot';
import type { FeedOutcome, FeedWebhook } from '../../durable/webhook-feed';
import { EVENT_RETENTION_MS } from '../../durable/webhook-stream';
import { conversationStub } from '../api/context';
import { userView } from '../api/users';
import { appWebhooks, type WebhookSubscription } from '../db/integrations';
import { findUserById, listClients } from '../db/users';
import type { Env } from '../env';
import { newId } from '../ids';
import { deliveryHeaders, v1Body, v1Trigger, v2Body, type V1User } from '../webhooks/envelope';
import { userSlots, type WebhookEvent } from '../webhooks/events';
import { DNS_TIMEOUT_MS, OutboundError, outboundFetch, outboundPolicy } from '../http/outbound';
import { describeFetchFailure, statusCause } from '../http/fetch-failure';
import { claimShape, FEED_CLAIM_GRACE_MS, webhookQueueMessage, type FeedClaim, type WebhookKick, type WebhookReplay } from '../schema/webhook-queue';
import { applyIndexOps } from './index-consumer';
import { expandSources } from './full-source';
import { cachedSwitchboard, routingFor } from '../db/switchboards';
import { routes, type WebhookRouting } from './webhook-routing';

/** Statuses the contract says are not worth retrying. */
const PERMANENT = new Set([400, 401, 403, 404, 406]);
const BATCH_LIMIT = 50;
/** Batches sent per webhook per kick before handing back to the queue, so one busy conversation cannot hog a consumer. */
const MAX_ROUNDS = 20;
const RESPONSE_BYTES_READ = 16 * 1024;

export interface RetryPolicy {
  baseMs: number;
  capMs: number;
  windowMs: number;
  timeoutMs: number;
}

const positive = (raw: string | undefined, fallback: number, name: string) => {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, not ${JSON.stringify(raw)}`);
  return n;
};

/** Read and checked on every batch, so a bad setting fails loudly instead of on the first retry. */
export function retryPolicy(env: Env): RetryPolicy {
  const windowMs = positive(env.WEBHOOK_RETRY_WINDOW_MS, 26 * 3_600_000, 'WEBHOOK_RETRY_WINDOW_MS');
  if (windowMs > EVENT_RETENTION_MS - 86_400_000) throw new Error(`WEBHOOK_RETRY_WINDOW_MS must be at most ${EVENT_RETENTION_MS - 86_400_000} (6 days): events are kept 7 days`);
  return {
    baseMs: positive(env.WEBHOOK_RETRY_BASE_MS, 10_000, 'WEBHOOK_RETRY_BASE_MS'),
    capMs: positive(env.WEBHOOK_RETRY_CAP_MS, 3_600_000, 'WEBHOOK_RETRY_CAP_MS'),
    windowMs,
    timeoutMs: positive(env.WEBHOOK_TIMEOUT_MS, 20_000, 'WEBHOOK_TIMEOUT_MS'),
  };
}

/** Exponential backoff with "equal jitter": half fixed, half random, so receivers recovering from an outage are not hit in lockstep. */
export function retryDelay(policy: RetryPolicy, attempt: number, random = Math.random()): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random);
}

export async function consumeWebhookBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const policy = retryPolicy(env);
  const feeds: { msg: Message<unknown>; kick: WebhookKick; fresh: boolean }[] = [];
  const replays: { msg: Message<unknown>; replay: WebhookReplay }[] = [];
  for (const msg of batch.messages) {
    const parsed = v.safeParse(webhookQueueMessage, msg.body);
    if (!parsed.success) console.error('webhooks: dropping malformed message', JSON.stringify(msg.body).slice(0, 200));
    else if ('replay' in parsed.output) replays.push({ msg, replay: parsed.output });
    // Batches claimed at drain time are delivered only from a first attempt within the lease's grace (see FEED_CLAIM_GRACE_MS).
    else feeds.push({ msg, kick: parsed.output, fresh: msg.attempts <= 1 && Date.now() - msg.timestamp.getTime() < FEED_CLAIM_GRACE_MS });
  }
  // Every feed's index ops in one D1 transaction; refused, each feed still serves its webhooks, and comes back for its ops.
  const ops = feeds.flatMap((f) => f.kick.index ?? []);
  const indexed = ops.length === 0 || (await applyIndexOps(env, ops));
  const byConversation = new Map<string, typeof feeds>();
  for (const f of feeds) {
    const key = `${f.kick.appId}/${f.kick.conversationId}`;
    byConversation.set(key, [...(byConversation.get(key) ?? []), f]);
  }
  await Promise.all([
    // Feeds of one conversation are served one after another, in the order they came; conversations at once.
    ...[...byConversation.values()].map(async (group) => {
      for (const { msg, kick, fresh } of group) {
        await serveFeed(env, policy, kick, fresh, indexed ? (kick.index ?? []).flatMap((op) => ('ack' in op && op.ack !== undefined ? [op.ack] : [])) : []);
        if (!indexed && kick.index?.length) msg.retry();
      }
    }),
    ...replays.map(async ({ msg, replay }) => {
      if (!(await serveReplay(env, policy, replay))) msg.retry({ delaySeconds: Math.ceil(retryDelay(policy, msg.attempts) / 1000) });
    }),
  ]);
}

/**
 * Re-sends a webhook's dead letters marked for replay, oldest first, one event
 * per POST under the event's own id. Stops at the first failure and answers
 * false so the queue retries the replay later.
 */
async function serveReplay(env: Env, policy: RetryPolicy, replay: WebhookReplay): Promise<boolean> {
  const sub = (await appWebhooks(env, replay.appId)).find((s) => s.id === replay.webhookId);
  if (!sub) return true;
  const { results } = await env.DB.prepare(
    `SELECT event_id, conversation_id, event FROM webhook_dead_letters
     WHERE app_id = ? AND webhook_id = ? AND replay_requested_at IS NOT NULL AND replayed_at IS NULL
     ORDER BY created_at, event_id LIMIT 500`,
  )
    .bind(replay.appId, replay.webhookId)
    .all<{ event_id: string; conversation_id: string | null; event: string }>();
  for (const row of results) {
    const event = JSON.parse(row.event) as WebhookEvent;
    const outcome = await deliver(env, policy, { appId: replay.appId, conversationId: row.conversation_id ?? '' }, sub, [event], 1, `${event.id}.replay.${replay.requestedAt}`);
    if (outcome !== 'delivered') return false;
    await env.DB.prepare('UPDATE webhook_dead_letters SET replayed_at = ?, replay_requested_at = NULL WHERE webhook_id = ? AND event_id = ?')
      .bind(new Date().toISOString(), replay.webhookId, row.event_id)
      .run();
  }
  return true;
}

/**
 * One feed message, its index ops already in D1: each webhook's batch. Reports tell
 * the DO which webhooks the app has, and an app with none says so: the DO
 * kicks again until events are served (a kick can be lost), so it must know
 * when no one is owed them. The DO's own claims are used when it knew every
 * webhook as the consumer does; otherwise the first report claims.
 */
async function serveFeed(env: Env, policy: RetryPolicy, kick: WebhookKick, fresh: boolean, indexedIds: number[]): Promise<void> {
  const stub = conversationStub(env, kick.appId, kick.conversationId);
  // The outbox ids of this feed's index ops D1 now holds: they ride on the first report.
  let indexed = indexedIds;
  const takeIndexed = () => {
    const ids = indexed;
    indexed = [];
    return ids;
  };
  if (kick.indexOnly) {
    if (indexed.length) await stub.feedReport({ indexed: takeIndexed(), outcomes: [] });
    return;
  }
  const [subs, switchboard] = await Promise.all([appWebhooks(env, kick.appId), cachedSwitchboard(env, kick.appId)]);
  // A lease covers a whole round (DNS lookup, send with its timeout, D1 log) with room to spare, so it
  // lapses only if this consumer died; a consumer that merely ran late is fenced out by the lease id.
  const leaseMs = policy.timeoutMs + DNS_TIMEOUT_MS + 60_000;
  const webhooks = new Map<string, Served>(
    subs.map((sub) => [
      sub.id,
      {
        sub: { id: sub.id, triggers: sub.triggers, createdAt: sub.createdAt },
        limit: sub.version === 'v1' ? 1 : BATCH_LIMIT,
        leaseMs,
        full: sub,
        routing: routingFor(switchboard, { id: sub.integrationId, type: sub.integrationType }),
      },
    ]),
  );
  const knownAsHere = [...webhooks.values()].every((w) => kick.known?.[w.sub.id] === claimShape(w.sub.triggers, w.sub.createdAt, w.limit, leaseMs));
  let first: FeedClaim[];
  if (fresh && subs.length > 0 && knownAsHere) first = (kick.claims ?? []).filter((c) => webhooks.has(c.webhookId));
  else {
    const claim = [...webhooks.values()].map(({ sub, limit, leaseMs }) => ({ sub, limit, leaseMs }));
    first = (await stub.feedReport({ indexed: takeIndexed(), outcomes: [], claim, webhookIds: [...webhooks.keys()] })).claims;
  }
  if (first.length === 0) {
    if (indexed.length) await stub.feedReport({ indexed: takeIndexed(), outcomes: [] });
    return;
  }
  await Promise.all(first.map((claim) => serveWebhook(env, policy, kick, webhooks.get(claim.webhookId)!, claim, takeIndexed)));
}

/** Sends a webhook's batches until none is left (or MAX_ROUNDS, then asks for another kick); each report brings the next. */
async function serveWebhook(env: Env, policy: RetryPolicy, kick: WebhookKick, w: Served, claim: FeedClaim, takeIndexed: () => number[]): Promise<void> {
  const stub = conversationStub(env, kick.appId, kick.conversationId);
  const { full: sub, routing, ...shape } = w;
  for (let round = 1; ; round++) {
    const outcome = await sendBatch(env, policy, kick, sub, routing, claim);
    const last = round >= MAX_ROUNDS;
    const { claims } = await stub.feedReport({ indexed: takeIndexed(), outcomes: [outcome], ...(last ? { kickAgain: 'settled' in outcome } : { claim: [shape] }) });
    if (claims.length === 0) return;
    claim = claims[0]!;
  }
}

/**
 * Delivers one claimed batch, less what the switchboard routes elsewhere, and says how it ended,
 * dead-lettering it when it is refused for good or out of retries.
 */
async function sendBatch(env: Env, policy: RetryPolicy, kick: WebhookKick, sub: WebhookSubscription, routing: WebhookRouting, claim: FeedClaim): Promise<FeedOutcome> {
  const events = (JSON.parse(claim.eventsJson) as WebhookEvent[]).filter((e) => routes(routing, e));
  const settled = { webhookId: sub.id, leaseId: claim.leaseId, lastSeq: claim.lastSeq, settled: true as const };
  if (events.length === 0) return { ...settled, stillFailing: claim.failingSince !== null };
  const outcome = await deliver(env, policy, kick, sub, events, claim.attempt);
  if (outcome === 'retry') {
    const failingSince = claim.failingSince ?? Date.now();
    if (Date.now() - failingSince < policy.windowMs) return { webhookId: sub.id, leaseId: claim.leaseId, retryAt: Date.now() + retryDelay(policy, claim.attempt) };
    await deadLetter(env, kick, sub, events, `retries exhausted: failing since ${new Date(failingSince).toISOString()}`);
    return { ...settled, stillFailing: true };
  }
  if (outcome !== 'delivered') await deadLetter(env, kick, sub, events, outcome.reason);
  return { ...settled, stillFailing: false };
}

type Outcome = 'delivered' | 'retry' | { reason: string };
type Served = FeedWebhook & { full: WebhookSubscription; routing: WebhookRouting };

async function deliver(
  env: Env,
  policy: RetryPolicy,
  kick: WebhookKick,
  sub: WebhookSubscription,
  events: WebhookEvent[],
  attempt: number,
  replayId?: string,
): Promise<Outcome> {
  let body: string;
  if (sub.version === 'v1') {
    const trigger = v1Trigger(events[0]!);
    // v1 had no such trigger: nothing to send, and nothing to retry.
    if (!trigger) return 'delivered';
    body = v1Body(kick.appId, events[0]!, trigger, await v1User(env, kick.appId, kick.conversationId, events[0]!));
  } else {
    const withSources = sub.includeFullSource ? await expandSources(env, kick.appId, events) : events;
    body = v2Body(kick.appId, sub, sub.includeFullUser ? await expandUsers(env, kick.appId, withSources) : withSources);
  }
  // Stable across retries: a retry re-sends the same batch (the DO pins it), so receivers can dedupe on it.
  // A replay is a new message on purpose, so receivers that dedupe on webhook-id do not drop it; event ids stay.
  const deliveryId = replayId ?? (events.length === 1 ? events[0]!.id : `${events[0]!.id}-${events[events.length - 1]!.id}`);
  const headers = await deliveryHeaders(sub.secrets, deliveryId, Math.floor(Date.now() / 1000), body);
  const started = Date.now();
  let status: number | null = null;
  let error: string | null = null;
  const outbound = outboundPolicy(env);
  try {
    const res = await outboundFetch(outbound, sub.target, { method: 'POST', headers, body, timeoutMs: policy.timeoutMs });
    status = res.status;
    await drainCapped(res);
  } catch (err) {
    // A target the outbound policy refuses is refused for good; a failed DNS lookup is unknown, never safe: retried like any fault.
    if (err instanceof OutboundError && err.kind === 'refused') {
      await logAttempt(env, kick, sub, events, deliveryId, attempt, 'dead', null, 0, `target refused: ${err.message}`);
      return { reason: `target refused: ${err.message}` };
    }
    // The log names the cause (DNS, refused, TLS, timeout) rather than the runtime's "internal error; reference = …".
    error = err instanceof OutboundError ? `DNS failure: ${err.message}` : (await describeFetchFailure(sub.target, err, policy.timeoutMs, outbound.lookup)).text;
  }
  const latency = Date.now() - started;
  const outcome: Outcome = status !== null && status >= 200 && status < 300 ? 'delivered' : status !== null && PERMANENT.has(status) ? { reason: `receiver answered ${status}` } : 'retry';
  if (status !== null && outcome !== 'delivered') error = statusCause(status, outcome === 'retry').text;
  await logAttempt(env, kick, sub, events, deliveryId, attempt, outcome === 'delivered' ? 'delivered' : outcome === 'retry' ? 'failed' : 'dead', status, latency, error);
  return outcome;
}

/** Reads at most a little of the response, so a receiver streaming a huge body cannot hold the consumer. */
async function drainCapped(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  let read = 0;
  while (read < RESPONSE_BYTES_READ) {
    const { done, value } = await reader.read();
    if (done) return;
    read += value.byteLength;
  }
  await reader.cancel();
}

async function expandUsers(env: Env, appId: string, events: WebhookEvent[]): Promise<WebhookEvent[]> {
  const cache = new Map<string, Promise<unknown>>();
  const full = (id: string) => {
    let p = cache.get(id);
    if (!p) {
      p = findUserById(env, appId, id).then((u) => (u ? userView(u) : undefined));
      cache.set(id, p);
    }
    return p;
  };
  return Promise.all(
    events.map(async (e) => {
      const copy = structuredClone(e);
      for (const slot of userSlots(copy.payload)) {
        const id = (slot.holder[slot.key] as { id?: string } | undefined)?.id;
        const user = id ? await full(id) : undefined;
        if (user) slot.holder[slot.key] = user;
      }
      return copy;
    }),
  );
}

/** The user a v1 payload describes: the message's author or the event's user; for a business message, the conversation's user. */
async function v1User(env: Env, appId: string, conversationId: string, e: WebhookEvent): Promise<V1User | undefined> {
  const p = e.payload as { message?: { author?: { userId?: string } }; user?: { id?: string }; activity?: { author?: { userId?: string } } };
  let id = p.message?.author?.userId ?? p.user?.id ?? p.activity?.author?.userId;
  if (!id && p.message) {
    const row = await env.DB.prepare('SELECT user_id FROM conversation_participants WHERE app_id = ? AND conversation_id = ? ORDER BY participant_id LIMIT 1')
      .bind(appId, conversationId)
      .first<{ user_id: string }>();
    id = row?.user_id;
  }
  if (!id) return undefined;
  const user = await findUserById(env, appId, id);
  if (!user) return undefined;
  const clients = await listClients(env, appId, id, { size: 100 });
  return { ...user, clients };
}

async function logAttempt(
  env: Env,
  kick: WebhookKick,
  sub: WebhookSubscription,
  events: WebhookEvent[],
  deliveryId: string,
  attempt: number,
  outcome: 'delivered' | 'failed' | 'dead',
  status: number | null,
  latencyMs: number,
  error: string | null,
): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO webhook_attempts (id, app_id, webhook_id, conversation_id, delivery_id, event_ids, attempt, outcome, response_code, latency_ms, error, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(newId(), kick.appId, sub.id, kick.conversationId, deliveryId, JSON.stringify(events.map((e) => e.id)), attempt, outcome, status, latencyMs, error, new Date().toISOString())
    .run();
}

async function deadLetter(env: Env, kick: WebhookKick, sub: WebhookSubscription, events: WebhookEvent[], reason: string): Promise<void> {
  const now = new Date().toISOString();
  await env.DB.batch(
    events.map((e) =>
      env.DB.prepare(
        `INSERT INTO webhook_dead_letters (event_id, webhook_id, app_id, conversation_id, event, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(webhook_id, event_id) DO UPDATE SET reason = excluded.reason, created_at = excluded.created_at, replayed_at = NULL`,
      ).bind(e.id, sub.id, kick.appId, kick.conversationId, JSON.stringify(e), reason, now),
    ),
  );
}
