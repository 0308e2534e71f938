/**
 * Parley's additive webhook routes: the delivery log
 * (`GET .../webhooks/{webhookId}/deliveries`: every attempt with outcome,
 * response code and latency) and replay (`POST .../webhooks/{webhookId}/replay`:
 * re-send chosen events by id, delivered or dead-lettered, or the dead letters
 * of a time range).
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { badRequest, forbidden, notFound } from '../http/errors';
import { idPage, pageEnvelope } from '../http/links';
import { parseWith, readBody } from '../http/request';
import { isoDate, objectId } from '../schema/common';
import { pageQuery, toPage } from '../schema/pagination';
import { pickPage } from './apps';
import { appContext, conversationStub, json } from './context';
import { integrationContext } from './webhooks';

export const replayBody = v.pipe(
  v.object({
    eventIds: v.optional(v.pipe(v.array(objectId, 'must be an array of event ids'), v.minLength(1, 'must name at least 1 event'), v.maxLength(90, 'must name at most 90 events per call'))),
    since: v.optional(isoDate),
    until: v.optional(isoDate),
  }),
  v.check((b) => b.eventIds !== undefined || b.since !== undefined || b.until !== undefined, 'give eventIds, or a time range with since and/or until'),
);

/** The webhook a route names, under an integration the caller may manage (`me` included). */
async function requireWebhook(request: IRequest, env: Env): Promise<{ appId: string; webhookId: string }> {
  const { appId, integrationId } = await integrationContext(request, env);
  const webhookId = request.params.webhookId!;
  const found = await env.DB.prepare('SELECT id FROM webhooks WHERE id = ? AND integration_id = ? AND app_id = ?').bind(webhookId, integrationId, appId).first();
  if (!found) throw notFound('webhook_not_found', 'Webhook not found');
  return { appId, webhookId };
}

interface AttemptRow {
  id: string;
  conversation_id: string | null;
  delivery_id: string;
  event_ids: string;
  attempt: number;
  outcome: string;
  response_code: number | null;
  latency_ms: number;
  error: string | null;
  created_at: string;
}

/** Newest attempts first. */
export async function list(request: IRequest, env: Env) {
  const { appId, webhookId } = await requireWebhook(request, env);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  const stmt = page.after
    ? env.DB.prepare('SELECT * FROM webhook_attempts WHERE app_id = ? AND webhook_id = ? AND id > ? ORDER BY id ASC LIMIT ?').bind(appId, webhookId, page.after, page.size + 1)
    : env.DB.prepare('SELECT * FROM webhook_attempts WHERE app_id = ? AND webhook_id = ? AND id < ? ORDER BY id DESC LIMIT ?').bind(appId, webhookId, page.before ?? 'g', page.size + 1);
  const { results } = await stmt.all<AttemptRow>();
  // idPage pages in ascending id order; the log reads newest first, so the directions swap.
  const { items, meta } = idPage(results, page.size, !page.after, Boolean(page.after ?? page.before));
  const deliveries = items.reverse().map((r) => ({
    id: r.id,
    deliveryId: r.delivery_id,
    conversationId: r.conversation_id,
    eventIds: JSON.parse(r.event_ids) as string[],
    attempt: r.attempt,
    outcome: r.outcome,
    responseCode: r.response_code,
    latencyMs: r.latency_ms,
    error: r.error,
    createdAt: r.created_at,
  }));
  return json({ deliveries, ...pageEnvelope(request, { hasMore: meta.hasMore, ...(meta.beforeCursor ? { afterCursor: meta.beforeCursor } : {}), ...(meta.afterCursor ? { beforeCursor: meta.afterCursor } : {}) }) });
}

/**
 * Chosen events that were delivered (not dead-lettered) are found through the
 * attempt log, which names their conversation, and copied from that
 * conversation's stream into the dead-letter table, so one replay path serves both.
 */
async function stageDeliveredEvents(env: Env, appId: string, webhookId: string, eventIds: string[], now: string): Promise<void> {
  const placeholders = eventIds.map(() => '?').join(', ');
  const { results: dead } = await env.DB.prepare(`SELECT event_id FROM webhook_dead_letters WHERE app_id = ? AND webhook_id = ? AND event_id IN (${placeholders})`)
    .bind(appId, webhookId, ...eventIds)
    .all<{ event_id: string }>();
  const missing = eventIds.filter((id) => !dead.some((d) => d.event_id === id));
  if (missing.length === 0) return;
  const { results: attempts } = await env.DB.prepare(
    `SELECT DISTINCT a.conversation_id FROM webhook_attempts a, json_each(a.event_ids) e
     WHERE a.app_id = ? AND a.webhook_id = ? AND e.value IN (${missing.map(() => '?').join(', ')})`,
  )
    .bind(appId, webhookId, ...missing)
    .all<{ conversation_id: string | null }>();
  for (const { conversation_id: conversationId } of attempts) {
    if (!conversationId) continue;
    const events = JSON.parse(await conversationStub(env, appId, conversationId).eventsById(missing)) as { id: string }[];
    if (events.length === 0) continue;
    await env.DB.batch(
      events.map((e) =>
        env.DB.prepare(
          `INSERT INTO webhook_dead_letters (event_id, webhook_id, app_id, conversation_id, event, reason, created_at) VALUES (?, ?, ?, ?, ?, 'replay requested', ?)
           ON CONFLICT(webhook_id, event_id) DO NOTHING`,
        ).bind(e.id, webhookId, appId, conversationId, JSON.stringify(e), now),
      ),
    );
  }
}

export async function replay(request: IRequest, env: Env) {
  const { appId, webhookId } = await requireWebhook(request, env);
  const body = await readBody(request, replayBody);
  const now = new Date().toISOString();
  if (body.eventIds) await stageDeliveredEvents(env, appId, webhookId, body.eventIds, now);
  const conditions = ['app_id = ?', 'webhook_id = ?'];
  const binds: unknown[] = [appId, webhookId];
  if (body.eventIds) {
    conditions.push(`event_id IN (${body.eventIds.map(() => '?').join(', ')})`);
    binds.push(...body.eventIds);
  }
  if (body.since) {
    conditions.push('created_at >= ?');
    binds.push(body.since);
  }
  if (body.until) {
    conditions.push('created_at <= ?');
    binds.push(body.until);
  }
  // Only placeholders are generated above; every value is bound.
  const res = await env.DB.prepare(`UPDATE webhook_dead_letters SET replay_requested_at = ?, replayed_at = NULL WHERE ${conditions.join(' AND ')}`)
    .bind(now, ...binds)
    .run();
  if (res.meta.changes === 0) throw badRequest('No event of this webhook matches: eventIds must be events sent (or dead-lettered) to this webhook, and a time range selects dead letters; see GET .../deliveries');
  await env.WEBHOOKS_QUEUE.send({ appId, webhookId, replay: true, requestedAt: String(Date.parse(now)) });
  return json({ replay: { webhookId, events: res.meta.changes, requestedAt: now } }, 202);
}
