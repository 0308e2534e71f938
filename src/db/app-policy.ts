/**
 * What the message path needs to know of an app, read from D1 once per
 * isolate every POLICY_CACHE_MS in one batch: its settings (masking card
 * numbers, echoing postbacks, retention) and its switchboard. Handlers apply
 * what belongs at the edge (masking) and hand the rest to the conversation's
 * object as an `AppPolicy`, so no setting costs a D1 query per message. A
 * change forgets the entry in the isolate that made it; other isolates follow
 * within POLICY_CACHE_MS.
 */
import type { Env } from '../env';
import { DEFAULT_SETTINGS, type AppPolicy, type AppSettings } from '../schema/app';
import type { Switchboard, SwitchboardConfig, SwitchboardIntegration } from '../schema/switchboard';
import { appTag, TtlCache } from './ttl-cache';

export const POLICY_CACHE_MS = 5_000;

export interface CachedSwitchboard {
  switchboard: Switchboard;
  integrations: SwitchboardIntegration[];
}

export interface CachedPolicy {
  settings: AppSettings;
  switchboard: CachedSwitchboard | null;
}

type SwitchboardRow = { id: string; enabled: number; default_switchboard_integration_id: string | null };
type IntegrationRow = {
  id: string;
  name: string;
  integration_id: string | null;
  integration_type: string | null;
  deliver_standby_events: number;
  next_switchboard_integration_id: string | null;
  message_history_count: number | null;
};

export const toSwitchboard = (r: SwitchboardRow): Switchboard => ({ id: r.id, enabled: r.enabled === 1, defaultSwitchboardIntegrationId: r.default_switchboard_integration_id });

export const toSwitchboardIntegration = (r: IntegrationRow): SwitchboardIntegration => ({
  id: r.id,
  name: r.name,
  ...(r.integration_id ? { integrationId: r.integration_id } : {}),
  ...(r.integration_type ? { integrationType: r.integration_type } : {}),
  deliverStandbyEvents: r.deliver_standby_events === 1,
  nextSwitchboardIntegrationId: r.next_switchboard_integration_id,
  messageHistoryCount: r.message_history_count,
});

const cache = new TtlCache<CachedPolicy | null>({ ttlMs: POLICY_CACHE_MS, missMs: 0, tags: (_, appId) => [appTag(appId)] });

async function load(env: Env, appId: string): Promise<CachedPolicy | null> {
  const [apps, boards, integrations] = await env.DB.batch([
    env.DB.prepare('SELECT settings FROM apps WHERE id = ?').bind(appId),
    env.DB.prepare('SELECT * FROM switchboards WHERE app_id = ?').bind(appId),
    env.DB.prepare('SELECT i.* FROM switchboard_integrations i JOIN switchboards s ON s.id = i.switchboard_id WHERE s.app_id = ? ORDER BY i.id').bind(appId),
  ]);
  const app = (apps!.results as { settings: string }[])[0];
  if (!app) return null;
  const board = (boards!.results as SwitchboardRow[])[0];
  return {
    settings: { ...DEFAULT_SETTINGS, ...(JSON.parse(app.settings) as Partial<AppSettings>) },
    switchboard: board ? { switchboard: toSwitchboard(board), integrations: (integrations!.results as IntegrationRow[]).map(toSwitchboardIntegration) } : null,
  };
}

/** The app as this isolate last read it; `fresh` reads D1 now (control actions must see a switchboard integration created a moment ago). */
export async function cachedPolicy(env: Env, appId: string, fresh = false): Promise<CachedPolicy> {
  if (fresh) cache.delete(appId);
  return (await cache.read(appId, () => load(env, appId))) ?? { settings: DEFAULT_SETTINGS, switchboard: null };
}

/** After a change of the app's settings or switchboard in this isolate. */
export function forgetPolicy(appId: string): void {
  cache.delete(appId);
}

/** The switchboard as a conversation's object takes it. */
export const switchboardConfig = (sb: CachedSwitchboard): SwitchboardConfig => ({
  enabled: sb.switchboard.enabled,
  defaultId: sb.switchboard.defaultSwitchboardIntegrationId,
  integrations: sb.integrations.map((i) => ({
    id: i.id,
    name: i.name,
    ...(i.integrationId ? { integrationId: i.integrationId } : {}),
    integrationType: i.integrationType ?? 'custom',
    nextSwitchboardIntegrationId: i.nextSwitchboardIntegrationId,
  })),
});

/** What a conversation's object is told with each change that can start or continue a conversation. */
export async function appPolicy(env: Env, appId: string): Promise<AppPolicy> {
  const { settings, switchboard: sb } = await cachedPolicy(env, appId);
  return {
    switchboard: sb && switchboardConfig(sb),
    echoPostback: settings.echoPostback,
    retentionSeconds: settings.conversationRetentionSeconds,
  };
}
