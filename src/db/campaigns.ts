/**
 * An app's campaigns in D1. The REST API writes them; the widget's list reads
 * an integration's enabled ones through a per-isolate cache (every page load
 * of every visitor asks, so it must cost no D1 read), forgotten by a change
 * made in this isolate and followed by others within LIST_CACHE_MS; a session
 * that answers a campaign reads that one row fresh, so a campaign deleted or
 * disabled a moment ago opens nothing. The cap per app and the web
 * integration are conditions of the write itself, so concurrent writes cannot
 * pass them.
 */
import type { Env } from '../env';
import { badRequest, notFound, StatusError } from '../http/errors';
import { newId } from '../ids';
import { CAMPAIGN_LIMITS, type Campaign, type CampaignCreate, type CampaignMessage, type CampaignUpdate } from '../schema/campaign';
import type { Page } from '../schema/pagination';
import { orAppGone } from './app-gone';
import { appTag, integrationTag, TtlCache } from './ttl-cache';

export const campaignNotFound = () => notFound('campaign_not_found', 'Campaign not found');

interface CampaignRow {
  id: string;
  app_id: string;
  integration_id: string;
  display_name: string;
  enabled: number;
  message: string;
  url_contains: string | null;
  delay_seconds: number;
  frequency: Campaign['frequency'];
  metadata: string | null;
  created_at: string;
  updated_at: string;
}

const toCampaign = (r: CampaignRow): Campaign => ({
  id: r.id,
  displayName: r.display_name,
  integrationId: r.integration_id,
  enabled: r.enabled === 1,
  message: JSON.parse(r.message) as CampaignMessage,
  rules: { ...(r.url_contains !== null ? { urlContains: r.url_contains } : {}), delaySeconds: r.delay_seconds },
  frequency: r.frequency,
  metadata: r.metadata ? (JSON.parse(r.metadata) as Campaign['metadata']) : null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const LIST_CACHE_MS = 30_000;
const cache = new TtlCache<{ appId: string; campaigns: Campaign[] } | undefined>({
  ttlMs: LIST_CACHE_MS,
  missMs: LIST_CACHE_MS,
  tags: (v, integrationId) => [appTag(v.appId), integrationTag(integrationId)],
});

const webIntegrationOfApp = "EXISTS (SELECT 1 FROM integrations WHERE app_id = ? AND id = ? AND type = 'web')";
const notWeb = () => badRequest("integrationId: the app has no web integration with that id (campaigns are shown by the Web Messenger)");

export async function createCampaign(env: Env, appId: string, input: CampaignCreate): Promise<Campaign> {
  const now = new Date().toISOString();
  const campaign: Campaign = {
    id: newId(),
    displayName: input.displayName,
    integrationId: input.integrationId,
    enabled: input.enabled ?? true,
    message: input.message,
    rules: rulesOf(input.rules),
    frequency: input.frequency ?? 'oncePerVisitor',
    metadata: input.metadata ?? null,
    createdAt: now,
    updatedAt: now,
  };
  const res = await orAppGone(
    env.DB.prepare(
      `INSERT INTO campaigns (id, app_id, integration_id, display_name, enabled, message, url_contains, delay_seconds, frequency, metadata, created_at, updated_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
       WHERE ${webIntegrationOfApp} AND (SELECT count(*) FROM campaigns WHERE app_id = ?) < ?`,
    )
      .bind(...rowValues(appId, campaign), appId, campaign.integrationId, appId, CAMPAIGN_LIMITS.perApp)
      .run(),
  );
  if (res.meta.changes === 0) {
    if (!(await isWebIntegration(env, appId, campaign.integrationId))) throw notWeb();
    throw new StatusError(400, 'too_many_campaigns', `An app holds at most ${CAMPAIGN_LIMITS.perApp} campaigns; delete one first`);
  }
  cache.delete(campaign.integrationId);
  return campaign;
}

/** Rules as stored: a given set replaces the old one whole, its delay 0 unless said. */
function rulesOf(rules: { urlContains?: string; delaySeconds?: number } | undefined): Campaign['rules'] {
  return { ...(rules?.urlContains !== undefined ? { urlContains: rules.urlContains } : {}), delaySeconds: rules?.delaySeconds ?? 0 };
}

function rowValues(appId: string, c: Campaign) {
  return [
    c.id,
    appId,
    c.integrationId,
    c.displayName,
    c.enabled ? 1 : 0,
    JSON.stringify(c.message),
    c.rules.urlContains ?? null,
    c.rules.delaySeconds,
    c.frequency,
    c.metadata ? JSON.stringify(c.metadata) : null,
    c.createdAt,
    c.updatedAt,
  ];
}

async function isWebIntegration(env: Env, appId: string, integrationId: string): Promise<boolean> {
  return (await env.DB.prepare("SELECT 1 AS x FROM integrations WHERE app_id = ? AND id = ? AND type = 'web'").bind(appId, integrationId).first()) !== null;
}

/** One page in id order, with one row more than asked so the caller can tell whether more follow (http/links idPage). */
export async function listCampaigns(env: Env, appId: string, page: Page): Promise<Campaign[]> {
  const stmt = page.before
    ? env.DB.prepare('SELECT * FROM campaigns WHERE app_id = ? AND id < ? ORDER BY id DESC LIMIT ?').bind(appId, page.before, page.size + 1)
    : env.DB.prepare('SELECT * FROM campaigns WHERE app_id = ? AND id > ? ORDER BY id ASC LIMIT ?').bind(appId, page.after ?? '', page.size + 1);
  const { results } = await stmt.all<CampaignRow>();
  return results.map(toCampaign);
}

export async function getCampaign(env: Env, appId: string, id: string): Promise<Campaign | undefined> {
  const row = await env.DB.prepare('SELECT * FROM campaigns WHERE app_id = ? AND id = ?').bind(appId, id).first<CampaignRow>();
  return row ? toCampaign(row) : undefined;
}

export async function updateCampaign(env: Env, appId: string, id: string, patch: CampaignUpdate): Promise<Campaign> {
  const current = await getCampaign(env, appId, id);
  if (!current) throw campaignNotFound();
  const next: Campaign = {
    ...current,
    ...(patch.displayName !== undefined ? { displayName: patch.displayName } : {}),
    ...(patch.integrationId !== undefined ? { integrationId: patch.integrationId } : {}),
    ...(patch.message !== undefined ? { message: patch.message } : {}),
    ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
    ...(patch.rules !== undefined ? { rules: rulesOf(patch.rules) } : {}),
    ...(patch.frequency !== undefined ? { frequency: patch.frequency } : {}),
    ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
    updatedAt: new Date().toISOString(),
  };
  const res = await env.DB.prepare(
    `UPDATE campaigns SET integration_id = ?, display_name = ?, enabled = ?, message = ?, url_contains = ?, delay_seconds = ?, frequency = ?, metadata = ?, updated_at = ?
     WHERE app_id = ? AND id = ? AND ${webIntegrationOfApp}`,
  )
    .bind(
      next.integrationId,
      next.displayName,
      next.enabled ? 1 : 0,
      JSON.stringify(next.message),
      next.rules.urlContains ?? null,
      next.rules.delaySeconds,
      next.frequency,
      next.metadata ? JSON.stringify(next.metadata) : null,
      next.updatedAt,
      appId,
      id,
      appId,
      next.integrationId,
    )
    .run();
  if (res.meta.changes === 0) {
    if (!(await getCampaign(env, appId, id))) throw campaignNotFound();
    throw notWeb();
  }
  cache.delete(current.integrationId);
  cache.delete(next.integrationId);
  return next;
}

export async function deleteCampaign(env: Env, appId: string, id: string): Promise<boolean> {
  const row = await env.DB.prepare('DELETE FROM campaigns WHERE app_id = ? AND id = ? RETURNING integration_id').bind(appId, id).first<{ integration_id: string }>();
  if (row) cache.delete(row.integration_id);
  return row !== null;
}

/** The integration's enabled campaigns, oldest first, as this isolate last read them. */
export async function enabledCampaigns(env: Env, appId: string, integrationId: string): Promise<Campaign[]> {
  const cached = await cache.read(integrationId, async () => {
    const { results } = await env.DB.prepare('SELECT * FROM campaigns WHERE integration_id = ? AND app_id = ? AND enabled = 1 ORDER BY created_at, id').bind(integrationId, appId).all<CampaignRow>();
    return { appId, campaigns: results.map(toCampaign) };
  });
  // The key is the integration, which belongs to one app; the check keeps a wall even so.
  return cached?.appId === appId ? cached.campaigns : [];
}

/** The campaign a session answers, read now: enabled, of this app and of this web integration; undefined otherwise. */
export async function liveCampaign(env: Env, appId: string, integrationId: string, id: string): Promise<Campaign | undefined> {
  const row = await env.DB.prepare('SELECT * FROM campaigns WHERE app_id = ? AND integration_id = ? AND id = ? AND enabled = 1').bind(appId, integrationId, id).first<CampaignRow>();
  return row ? toCampaign(row) : undefined;
}
