/**
 * The `deliveries` queue consumer: sends business messages to channels. A
 * queue message is a kick for one client of one conversation; the consumer
 * leases that client's head delivery from the conversation's DO, renders the
 * message for the channel, sends its parts in order and reports back: sent
 * (with the channel's message ids), retry later (retryable failure, honouring
 * the channel's retry-after, resuming after the parts already sent), or
 * failed for good (with the channel's code). Only the head is ever leased,
 * so messages to one client keep their order.
 */
import * as v from 'valibot';
import type { DeliveryClaim } from '../../durable/channel-ledger';
import { TYPING, type DeliveryReport } from '../../durable/conversation';
import { conversationStub } from '../api/context';
import type { Env } from '../env';
import type { ChannelAdapter, ChannelContext, Recipient, SendOutcome } from '../channels/adapter';
import { channelContext } from '../channels/http';
import { render, UnsupportedContent, type RenderInput } from '../channels/render';
import { channelIntegration } from '../channels/store';
import { withPageLinks } from '../content/page-links';
import { applyIndexOps } from './index-consumer';
import { keepLease, type LeaseKeeper } from './lease-keeper';
import { deliveryKick, type DeliveryKick } from '../schema/delivery-queue';
import type { IndexOp } from '../schema/index-ops';
import { retryDelay, type RetryPolicy } from './webhook-consumer';

/** Long enough for a multi-part message at the channel timeout; a crashed consumer's lease lapses after it. */
const LEASE_MS = 120_000;
/** Deliveries sent per kick before the rest is handed back to the queue. */
const MAX_ROUNDS = 50;

const positive = (raw: string | undefined, fallback: number, name: string) => {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number of milliseconds, not ${JSON.stringify(raw)}`);
  return n;
};

/** Channels rate-limit in seconds to minutes; a day of retries outlasts any channel outage worth waiting for. */
export function channelRetryPolicy(env: Env): Omit<RetryPolicy, 'timeoutMs'> {
  return {
    baseMs: positive(env.CHANNEL_RETRY_BASE_MS, 2_000, 'CHANNEL_RETRY_BASE_MS'),
    capMs: positive(env.CHANNEL_RETRY_CAP_MS, 600_000, 'CHANNEL_RETRY_CAP_MS'),
    windowMs: positive(env.CHANNEL_RETRY_WINDOW_MS, 24 * 3_600_000, 'CHANNEL_RETRY_WINDOW_MS'),
  };
}

export async function consumeDeliveryBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const policy = channelRetryPolicy(env);
  const kicks = new Map<string, { kick: DeliveryKick; msgs: Message<unknown>[] }>();
  for (const msg of batch.messages) {
    const parsed = v.safeParse(deliveryKick, msg.body);
    if (!parsed.success) {
      console.error('deliveries: dropping malformed message', JSON.stringify(msg.body).slice(0, 200));
      msg.ack();
      continue;
    }
    const key = `${parsed.output.appId}/${parsed.output.conversationId}/${parsed.output.clientId}`;
    const entry = kicks.get(key) ?? { kick: parsed.output, msgs: [] };
    entry.msgs.push(msg);
    kicks.set(key, entry);
  }
  // How sends ended is counted once per batch, in one D1 transaction, before any kick is acknowledged.
  const outcomes: IndexOp[] = [];
  const settled = await Promise.all(
    [...kicks.values()].map(async ({ kick, msgs }) => {
      try {
        return { msgs, done: await serveClient(env, policy, kick, outcomes) };
      } catch (err) {
        console.error(`deliveries: client ${kick.clientId} failed; the kick is retried`, err instanceof Error ? err.message : String(err));
        return { msgs, done: false };
      }
    }),
  );
  if (outcomes.length && !(await applyIndexOps(env, outcomes).catch(() => false))) {
    // A lost count, never a lost message: the sends are reported to their conversations already.
    console.error(`deliveries: the outcomes of ${outcomes.length} sends were not counted`);
  }
  for (const { msgs, done } of settled) for (const m of msgs) done ? m.ack() : m.retry();
}

/** Sends the client's deliveries in order, adding how each ended to `outcomes`; false when some are left for another round. */
async function serveClient(env: Env, policy: Omit<RetryPolicy, 'timeoutMs'>, kick: DeliveryKick, outcomes: IndexOp[]): Promise<boolean> {
  const stub = conversationStub(env, kick.appId, kick.conversationId);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    // The RPC stub's mapped types lose the union's discriminant; the DO returns exactly this.
    const claim = (await stub.claimDelivery(kick.clientId, LEASE_MS)) as DeliveryClaim | { wait: number } | undefined;
    // Nothing due: either nothing waits, or the DO's alarm kicks again when the retry or lease is due.
    if (!claim || 'wait' in claim) return true;
    const report = await attempt(env, policy, kick.appId, kick.conversationId, claim, (until) => stub.extendDelivery(claim.deliveryId, claim.leaseId, until));
    const { more } = await stub.reportDelivery(claim.deliveryId, claim.leaseId, report);
    if (claim.messageId !== TYPING && (report.ok || 'failed' in report)) outcomes.push(outcomeOp(kick, claim, report.ok));
    if (!more) return true;
  }
  return false;
}

/**
 * How a send ended, for stats and usage (migration 0013's trigger counts it):
 * one keyed D1 row written by this consumer rather than carried by the
 * conversation's outbox, which cost every send another Durable Object request
 * and two of its rows; a retried or repeated report inserts nothing.
 */
function outcomeOp(kick: DeliveryKick, claim: DeliveryClaim, sent: boolean): IndexOp {
  return { op: 'delivery.outcome', appId: kick.appId, conversationId: kick.conversationId, messageId: claim.messageId, clientId: claim.client.id, channel: claim.client.type, outcome: sent ? 'sent' : 'failed', at: new Date().toISOString() };
}

/**
 * One attempt at the head delivery. It always ends in a report: anything
 * unexpected is retried like a channel fault until the retry window closes,
 * then fails, so one bad message can never hold up the client's queue.
 */
export async function attempt(
  env: Env,
  policy: Omit<RetryPolicy, 'timeoutMs'>,
  appId: string,
  conversationId: string,
  claim: DeliveryClaim,
  extendLease: (until: number) => Promise<boolean>,
  now = Date.now,
): Promise<DeliveryReport> {
  try {
    return await send(env, policy, appId, conversationId, claim, extendLease, now);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`deliveries: attempt on message ${claim.messageId} failed unexpectedly`, message);
    if (now() - claim.firstAttemptAt < policy.windowMs) {
      return { ok: false, retryAt: now() + retryDelay({ ...policy, timeoutMs: 0 }, claim.attempts), partsDone: claim.partsDone, partSent: claim.partSent, externalIds: claim.externalIds };
    }
    return { ok: false, failed: { code: 'internal_error', message: `Parley could not send the message: ${message}` }, externalIds: claim.externalIds };
  }
}

async function send(
  env: Env,
  policy: Omit<RetryPolicy, 'timeoutMs'>,
  appId: string,
  conversationId: string,
  claim: DeliveryClaim,
  extendLease: (until: number) => Promise<boolean>,
  now: () => number,
): Promise<DeliveryReport> {
  const integration = await channelIntegration(env, claim.client.integrationId);
  if (!integration || integration.appId !== appId) {
    return { ok: false, failed: { code: 'integration_not_found', message: 'The integration of this client was deleted' }, externalIds: claim.externalIds };
  }
  const { adapter, config } = integration;
  if (claim.messageId === TYPING) return showTyping(env, integration, claim, now);
  let rendered;
  try {
    const stored = JSON.parse(claim.payload) as RenderInput;
    // Buy actions and forms reach channels as links to Parley's pay and form pages, made for this user.
    const ids = { appId, conversationId, messageId: claim.messageId, userId: claim.client.userId };
    const content = await withPageLinks(env, new URL(integration.webhookUrl).origin, ids, stored.content);
    rendered = render({ ...stored, content }, adapter.capabilities, adapter.type);
  } catch (err) {
    if (err instanceof UnsupportedContent) return { ok: false, failed: { code: 'uncategorized_error', message: err.message }, externalIds: claim.externalIds };
    throw err;
  }
  const ctx = channelContext(env, adapter, config, integration.webhookUrl);
  const to = { externalId: claim.client.externalId, ...(claim.client.lastInboundAt !== null ? { lastInboundAt: claim.client.lastInboundAt } : {}), raw: claim.client.raw };
  const externalIds = [...claim.externalIds];
  // However long the parts take (a media upload, a carousel split into cards), the lease stays this consumer's while it sends.
  const lease = keepLease(extendLease, LEASE_MS, now);
  try {
    return await sendParts(adapter, ctx, to, claim, rendered, externalIds, policy, lease, now);
  } finally {
    lease.stop();
  }
}

/** The rendered parts from where the last attempt stopped; the report of how far they got. */
async function sendParts(
  adapter: ChannelAdapter,
  ctx: ChannelContext<{ apiBaseUrl?: string }>,
  to: Recipient,
  claim: DeliveryClaim,
  rendered: ReturnType<typeof render>,
  externalIds: string[],
  policy: Omit<RetryPolicy, 'timeoutMs'>,
  lease: LeaseKeeper,
  now: () => number,
): Promise<DeliveryReport> {
  for (let i = claim.partsDone; i < rendered.parts.length; i++) {
    // Taken over (the lease lapsed while a renewal could not arrive): the next owner sends the rest; this one sends nothing more.
    if (lease.lost()) return { ok: false, retryAt: now(), partsDone: i, partSent: i === claim.partsDone ? claim.partSent : 0, externalIds };
    const skip = i === claim.partsDone ? claim.partSent : 0;
    const outcome: SendOutcome = await adapter.send(ctx, { ...to, deliveryKey: `${claim.messageId}:${claim.client.id}:${i}` }, rendered.parts[i]!, skip).catch((err: unknown) => ({
      ok: false as const,
      retryable: true as const,
      code: 'network_error',
      message: err instanceof Error ? err.message : String(err),
    }));
    if (outcome.ok) {
      externalIds.push(...(outcome.channelMessageIds ?? [outcome.channelMessageId]));
      continue;
    }
    externalIds.push(...(outcome.sent ?? []));
    const withinWindow = now() - claim.firstAttemptAt < policy.windowMs;
    if (outcome.retryable && withinWindow) {
      const delay = Math.max(outcome.retryAfterMs ?? 0, retryDelay({ ...policy, timeoutMs: 0 }, claim.attempts));
      return { ok: false, retryAt: now() + delay, partsDone: i, partSent: skip + (outcome.sent?.length ?? 0), externalIds };
    }
    return { ok: false, failed: { code: outcome.code, message: outcome.message }, externalIds };
  }
  return { ok: true, externalIds, choices: rendered.choices };
}

/** A typing indicator older than this is not worth showing: the message it announced has likely gone out. */
const TYPING_FRESH_MS = 10_000;

/** Best effort, like the channels' own indicators: a failure is logged, never retried. */
async function showTyping(env: Env, integration: NonNullable<Awaited<ReturnType<typeof channelIntegration>>>, claim: DeliveryClaim, now: () => number): Promise<DeliveryReport> {
  const { typing, at } = JSON.parse(claim.payload) as { typing: boolean; at: number };
  if (integration.adapter.typing && now() - at < TYPING_FRESH_MS) {
    // Channels that show typing only inside their session window (WeChat's 48 hours) judge it by lastInboundAt.
    const to = { externalId: claim.client.externalId, ...(claim.client.lastInboundAt !== null ? { lastInboundAt: claim.client.lastInboundAt } : {}), raw: claim.client.raw };
    await integration.adapter.typing(channelContext(env, integration.adapter, integration.config, integration.webhookUrl), to, typing).catch((err: unknown) => {
      console.error(`typing indicator on ${integration.type} failed`, err instanceof Error ? err.message : String(err));
    });
  }
  return { ok: true, externalIds: [], choices: [] };
}
