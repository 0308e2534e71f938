/**
 * The app's switchboard and its switchboard integrations in D1. The message
 * path reads them only through the app's cached policy (app-policy.ts): a
 * conversation's object learns the default and the live switchboard
 * integrations from it, and the webhook consumer routes events with it, so a
 * switchboard adds no D1 query per message. A change forgets the cache of the
 * isolate that made it; other isolates follow within POLICY_CACHE_MS.
 */
import type { Env } from '../env';
import { badRequest, notFound, StatusError } from '../http/errors';
import { newId } from '../ids';
import {
  SWITCHBOARD_LIMITS,
  type Switchboard,
  type SwitchboardIntegration,
  type SwitchboardIntegrationCreate,
  type SwitchboardIntegrationUpdate,
  type SwitchboardUpdate,
} from '../schema/switchboard';
import { orAppGone } from './app-gone';
import { cachedPolicy, forgetPolicy, toSwitchboard, toSwitchboardIntegration as toIntegration, type CachedSwitchboard } from './app-policy';

export const switchboardNotFound = () => notFound('switchboard_not_found', 'Switchboard not found');
export const switchboardIntegrationNotFound = () => notFound('switchboard_integration_not_found', 'Switchboard integration not found');

type SwitchboardRow = Parameters<typeof toSwitchboard>[0];
type IntegrationRow = Parameters<typeof toIntegration>[0];

/** The app's switchboard as this isolate's policy cache has it (see app-policy.ts); `fresh` reads D1 now. */
export async function cachedSwitchboard(env: Env, appId: string, fresh = false): Promise<CachedSwitchboard | null> {
  return (await cachedPolicy(env, appId, fresh)).switchboard;
}

/**
 * How a webhook of `integration` is routed: undefined when the switchboard is
 * absent or disabled or does not name the integration (it hears everything);
 * otherwise the switchboard integrations that stand for it and whether any of
 * them wants events while in standby.
 */
export function routingFor(sb: CachedSwitchboard | null, integration: { id: string; type: string }): { ids: string[]; standby: boolean } | undefined {
  if (!sb?.switchboard.enabled) return undefined;
  const mine = sb.integrations.filter((i) => i.integrationId === integration.id || (!i.integrationId && i.integrationType === integration.type));
  if (mine.length === 0) return undefined;
  return { ids: mine.map((i) => i.id), standby: mine.some((i) => i.deliverStandbyEvents) };
}

// ---- switchboards ----------------------------------------------------------

export async function getSwitchboard(env: Env, appId: string, id?: string): Promise<Switchboard | undefined> {
  const row = await env.DB.prepare(`SELECT * FROM switchboards WHERE app_id = ?${id ? ' AND id = ?' : ''}`)
    .bind(appId, ...(id ? [id] : []))
    .first<SwitchboardRow>();
  return row ? toSwitchboard(row) : undefined;
}

export async function createSwitchboard(env: Env, appId: string): Promise<Switchboard> {
  const created: Switchboard = { id: newId(), enabled: false, defaultSwitchboardIntegrationId: null };
  const res = await orAppGone(
    env.DB.prepare('INSERT INTO switchboards (id, app_id, enabled, created_at) VALUES (?, ?, 0, ?) ON CONFLICT(app_id) DO NOTHING').bind(created.id, appId, new Date().toISOString()).run(),
  );
  if (res.meta.changes === 0) throw badRequest('Only one switchboard can be created per app');
  forgetPolicy(appId);
  return created;
}

export async function updateSwitchboard(env: Env, appId: string, id: string, patch: SwitchboardUpdate): Promise<Switchboard> {
  const current = await getSwitchboard(env, appId, id);
  if (!current) throw switchboardNotFound();
  const defaultId = patch.defaultSwitchboardIntegrationId ?? current.defaultSwitchboardIntegrationId;
  if (patch.defaultSwitchboardIntegrationId !== undefined && !(await getSwitchboardIntegration(env, appId, id, patch.defaultSwitchboardIntegrationId))) {
    throw badRequest('defaultSwitchboardIntegrationId: no switchboard integration of this switchboard has that id');
  }
  const enabled = patch.enabled ?? current.enabled;
  if (enabled && !defaultId) throw badRequest('enabled: set defaultSwitchboardIntegrationId first; an enabled switchboard puts new conversations on its default');
  // Conditioned on the default still existing, so a concurrent delete cannot leave a dangling default.
  const res = await env.DB.prepare(
    `UPDATE switchboards SET enabled = ?, default_switchboard_integration_id = ?
     WHERE app_id = ? AND id = ? AND (? IS NULL OR EXISTS (SELECT 1 FROM switchboard_integrations WHERE switchboard_id = ? AND id = ?))`,
  )
    .bind(enabled ? 1 : 0, defaultId, appId, id, defaultId, id, defaultId)
    .run();
  if (res.meta.changes === 0) throw switchboardIntegrationNotFound();
  forgetPolicy(appId);
  return { id, enabled, defaultSwitchboardIntegrationId: defaultId };
}

export async function deleteSwitchboard(env: Env, appId: string, id: string): Promise<boolean> {
  const res = await env.DB.prepare('DELETE FROM switchboards WHERE app_id = ? AND id = ?').bind(appId, id).run();
  forgetPolicy(appId);
  return res.meta.changes > 0;
}

// ---- switchboard integrations ------------------------------------------------

export async function listSwitchboardIntegrations(env: Env, appId: string, switchboardId: string): Promise<SwitchboardIntegration[]> {
  const { results } = await env.DB.prepare('SELECT * FROM switchboard_integrations WHERE app_id = ? AND switchboard_id = ? ORDER BY id').bind(appId, switchboardId).all<IntegrationRow>();
  return results.map(toIntegration);
}

export async function getSwitchboardIntegration(env: Env, appId: string, switchboardId: string, id: string): Promise<SwitchboardIntegration | undefined> {
  const row = await env.DB.prepare('SELECT * FROM switchboard_integrations WHERE app_id = ? AND switchboard_id = ? AND id = ?').bind(appId, switchboardId, id).first<IntegrationRow>();
  return row ? toIntegration(row) : undefined;
}

/** The integration a switchboard integration stands for must be one of the app's; its type is kept beside its id. */
async function integrationTypeOf(env: Env, appId: string, integrationId: string): Promise<string> {
  const row = await env.DB.prepare('SELECT type FROM integrations WHERE app_id = ? AND id = ?').bind(appId, integrationId).first<{ type: string }>();
  if (!row) throw badRequest('integrationId: the app has no integration with that id');
  return row.type;
}

async function checkNext(env: Env, appId: string, switchboardId: string, nextId: string | null | undefined, selfId?: string): Promise<void> {
  if (!nextId) return;
  if (nextId === selfId) throw badRequest('nextSwitchboardIntegrationId: a switchboard integration cannot be its own next');
  if (!(await getSwitchboardIntegration(env, appId, switchboardId, nextId))) throw badRequest('nextSwitchboardIntegrationId: no switchboard integration of this switchboard has that id');
}

const nameTaken = (err: unknown) => err instanceof Error && /UNIQUE constraint failed: switchboard_integrations\.switchboard_id, switchboard_integrations\.name/i.test(err.message);

export async function createSwitchboardIntegration(env: Env, appId: string, switchboardId: string, input: SwitchboardIntegrationCreate): Promise<SwitchboardIntegration> {
  if (!(await getSwitchboard(env, appId, switchboardId))) throw switchboardNotFound();
  const integrationType = input.integrationId ? await integrationTypeOf(env, appId, input.integrationId) : input.integrationType!;
  await checkNext(env, appId, switchboardId, input.nextSwitchboardIntegrationId);
  const created: SwitchboardIntegration = {
    id: newId(),
    name: input.name,
    ...(input.integrationId ? { integrationId: input.integrationId } : {}),
    integrationType,
    deliverStandbyEvents: input.deliverStandbyEvents ?? true,
    nextSwitchboardIntegrationId: input.nextSwitchboardIntegrationId ?? null,
    messageHistoryCount: input.messageHistoryCount ?? null,
  };
  let res: D1Result;
  try {
    // The limit is a condition of the insert itself, so concurrent creates cannot pass it.
    res = await env.DB.prepare(
      `INSERT INTO switchboard_integrations (id, switchboard_id, app_id, name, integration_id, integration_type, deliver_standby_events, next_switchboard_integration_id, message_history_count, created_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
       WHERE EXISTS (SELECT 1 FROM switchboards WHERE app_id = ? AND id = ?) AND (SELECT count(*) FROM switchboard_integrations WHERE switchboard_id = ?) < ?`,
    )
      .bind(
        created.id,
        switchboardId,
        appId,
        created.name,
        created.integrationId ?? null,
        integrationType,
        created.deliverStandbyEvents ? 1 : 0,
        created.nextSwitchboardIntegrationId,
        created.messageHistoryCount,
        new Date().toISOString(),
        appId,
        switchboardId,
        switchboardId,
        SWITCHBOARD_LIMITS.integrationsPerSwitchboard,
      )
      .run();
  } catch (err) {
    if (nameTaken(err)) throw badRequest(`name: the switchboard already has a switchboard integration named ${input.name}`);
    throw err;
  }
  if (res.meta.changes === 0) {
    if (!(await getSwitchboard(env, appId, switchboardId))) throw switchboardNotFound();
    throw new StatusError(400, 'too_many_switchboard_integrations', `A switchboard holds at most ${SWITCHBOARD_LIMITS.integrationsPerSwitchboard} switchboard integrations`);
  }
  forgetPolicy(appId);
  return created;
}

export async function updateSwitchboardIntegration(env: Env, appId: string, switchboardId: string, id: string, patch: SwitchboardIntegrationUpdate): Promise<SwitchboardIntegration> {
  const current = await getSwitchboardIntegration(env, appId, switchboardId, id);
  if (!current) throw switchboardIntegrationNotFound();
  await checkNext(env, appId, switchboardId, patch.nextSwitchboardIntegrationId, id);
  const next: SwitchboardIntegration = {
    ...current,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.deliverStandbyEvents !== undefined ? { deliverStandbyEvents: patch.deliverStandbyEvents } : {}),
    ...(patch.nextSwitchboardIntegrationId !== undefined ? { nextSwitchboardIntegrationId: patch.nextSwitchboardIntegrationId } : {}),
    ...(patch.messageHistoryCount !== undefined ? { messageHistoryCount: patch.messageHistoryCount } : {}),
  };
  if (patch.integrationId !== undefined) {
    next.integrationId = patch.integrationId;
    next.integrationType = await integrationTypeOf(env, appId, patch.integrationId);
  } else if (patch.integrationType !== undefined) {
    delete next.integrationId;
    next.integrationType = patch.integrationType;
  }
  try {
    await env.DB.prepare(
      `UPDATE switchboard_integrations SET name = ?, integration_id = ?, integration_type = ?, deliver_standby_events = ?, next_switchboard_integration_id = ?, message_history_count = ?
       WHERE app_id = ? AND switchboard_id = ? AND id = ?`,
    )
      .bind(next.name, next.integrationId ?? null, next.integrationType ?? null, next.deliverStandbyEvents ? 1 : 0, next.nextSwitchboardIntegrationId, next.messageHistoryCount, appId, switchboardId, id)
      .run();
  } catch (err) {
    if (nameTaken(err)) throw badRequest(`name: the switchboard already has a switchboard integration named ${next.name}`);
    throw err;
  }
  forgetPolicy(appId);
  return next;
}

/** Refused while it is the switchboard's default or another's next, as the contract says; conversations it controls fall back to the default on their next message. */
export async function deleteSwitchboardIntegration(env: Env, appId: string, switchboardId: string, id: string): Promise<void> {
  if (!(await getSwitchboardIntegration(env, appId, switchboardId, id))) throw switchboardIntegrationNotFound();
  const res = await env.DB.prepare(
    `DELETE FROM switchboard_integrations WHERE app_id = ? AND switchboard_id = ? AND id = ?
       AND NOT EXISTS (SELECT 1 FROM switchboards WHERE id = ? AND default_switchboard_integration_id = ?)
       AND NOT EXISTS (SELECT 1 FROM switchboard_integrations WHERE switchboard_id = ? AND next_switchboard_integration_id = ?)`,
  )
    .bind(appId, switchboardId, id, switchboardId, id, switchboardId, id)
    .run();
  if (res.meta.changes === 0) {
    throw badRequest('switchboardIntegrationId: it is the switchboard\'s default or another switchboard integration\'s next; change those first');
  }
  forgetPolicy(appId);
}
