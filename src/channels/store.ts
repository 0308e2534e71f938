/**
 * Channel integrations as the inbound endpoint and the deliveries consumer
 * need them: found by id alone (the id in `/hooks/{integrationId}` is the
 * only thing a channel sends), secrets opened, cached per isolate for a short
 * while so a burst of webhooks costs one D1 read. Secret fields are sealed
 * one by one inside the stored config, so the rest stays readable in D1.
 */
import type { Env } from '../env';
import { open, seal } from '../auth/secrets';
import { appTag, integrationTag, TtlCache } from '../db/ttl-cache';
import type { ChannelAdapter } from './adapter';
import { adapterFor, type ChannelConfig } from './registry';

export interface ChannelIntegration {
  id: string;
  appId: string;
  type: string;
  status: 'active' | 'inactive' | 'error';
  displayName: string | null;
  /** Where the channel calls Parley for this integration. */
  webhookUrl: string;
  config: ChannelConfig;
  adapter: ChannelAdapter<ChannelConfig>;
}

const SEALED = '$sealed';
export const INTEGRATION_CACHE_MS = 30_000;
const cache = new TtlCache<ChannelIntegration | undefined>({
  ttlMs: INTEGRATION_CACHE_MS,
  missMs: INTEGRATION_CACHE_MS,
  tags: (i) => [appTag(i.appId), integrationTag(i.id)],
});

/** The config as stored: each secret field replaced by `{"$sealed": "<ciphertext>"}`. */
export async function sealConfig(env: Env, adapter: ChannelAdapter<ChannelConfig>, config: ChannelConfig): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...config };
  for (const field of adapter.secretFields) {
    const value = config[field];
    if (typeof value === 'string') out[field] = { [SEALED]: await seal(env, value) };
  }
  return out;
}

export async function openConfig(env: Env, stored: Record<string, unknown>): Promise<ChannelConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(stored)) {
    out[key] = value && typeof value === 'object' && SEALED in value ? await open(env, (value as Record<string, string>)[SEALED]!) : value;
  }
  return out as ChannelConfig;
}

interface Row {
  id: string;
  app_id: string;
  type: string;
  status: string;
  display_name: string | null;
  config: string;
}

/** The integration behind `/hooks/{id}`, or undefined when it is not a channel integration. */
export function channelIntegration(env: Env, integrationId: string): Promise<ChannelIntegration | undefined> {
  return cache.read(integrationId, () => load(env, integrationId));
}

/** Drops the cached copy after an update made in this isolate (a deletion forgets it everywhere here); other isolates see it within INTEGRATION_CACHE_MS. */
export function forgetChannelIntegration(integrationId: string): void {
  cache.delete(integrationId);
}

async function load(env: Env, integrationId: string): Promise<ChannelIntegration | undefined> {
  const row = await env.DB.prepare('SELECT id, app_id, type, status, display_name, config FROM integrations WHERE id = ?').bind(integrationId).first<Row>();
  const adapter = row && adapterFor(row.type);
  if (!row || !adapter) return undefined;
  const { webhookUrl, ...config } = await openConfig(env, JSON.parse(row.config));
  return {
    id: row.id,
    appId: row.app_id,
    type: row.type,
    status: row.status as ChannelIntegration['status'],
    displayName: row.display_name,
    webhookUrl: String(webhookUrl),
    config,
    adapter,
  };
}
