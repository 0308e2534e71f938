/**
 * Integrations, webhooks and custom-integration keys in D1. Every query is
 * scoped by app id (and by integration id below an integration). Webhook and
 * key secrets are sealed at rest. The delivery side reads an app's webhook
 * subscriptions through `appWebhooks`, cached per isolate for a few seconds and
 * forgotten at once in the isolate that changes them.
 */
import type { Env } from '../env';
import { newId, newSecret } from '../ids';
import { toBase64 } from '../channels/signing';

/** Standard Webhooks form (`whsec_` + base64 of 32 bytes), so receivers can verify with any Standard Webhooks library. */
const newWebhookSecret = () => `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(32)))}`;
import { open, seal } from '../auth/secrets';
import { orAppGone } from './app-gone';
import { KEY_CACHE_MS, KEY_MISS_MS } from './keys';
import { appTag, forget, integrationTag, keyTag, TtlCache } from './ttl-cache';
import { INTEGRATION_LIMITS, type IntegrationType, type Trigger, type WebhookCreate, type WebhookUpdate, type WebhookVersion } from '../schema/integration';
import type { Page } from '../schema/pagination';

export interface Integration {
  id: string;
  type: IntegrationType;
  status: 'active' | 'inactive' | 'error';
  displayName: string | null;
  config: Record<string, unknown>;
  createdAt: string;
}

export interface Webhook {
  id: string;
  integrationId: string;
  version: WebhookVersion;
  target: string;
  triggers: Trigger[];
  includeFullUser: boolean;
  includeFullSource: boolean;
  secret: string;
  createdAt: string;
}

export interface IntegrationKey {
  id: string;
  displayName: string;
  secret?: string;
}

/** One webhook as the delivery side needs it. */
export interface WebhookSubscription {
  id: string;
  integrationId: string;
  /** The integration's type, which a switchboard integration may name instead of its id. */
  integrationType: string;
  target: string;
  triggers: string[];
  includeFullUser: boolean;
  includeFullSource: boolean;
  version: 'v1' | 'v2';
  /** The current secret first, then the previous one while it is still valid. */
  secrets: string[];
  createdAt: string;
}

/** How long a replaced webhook secret keeps working after a rotation. */
export const PREVIOUS_SECRET_MS = 24 * 60 * 60 * 1000;
export const SUBSCRIPTION_CACHE_MS = 5_000;

interface IntegrationRow {
  id: string;
  app_id: string;
  type: string;
  status: string;
  display_name: string | null;
  config: string;
  created_at: string;
}

interface WebhookRow {
  id: string;
  app_id: string;
  integration_id: string;
  target: string;
  triggers: string;
  include_full_user: number;
  include_full_source: number;
  version: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
}

interface KeyRow {
  id: string;
  app_id: string;
  integration_id: string;
  display_name: string;
  secret_sealed: string;
}

const toIntegration = (r: IntegrationRow): Integration => ({
  id: r.id,
  type: r.type as IntegrationType,
  status: r.status as Integration['status'],
  displayName: r.display_name,
  config: JSON.parse(r.config),
  createdAt: r.created_at,
});

async function toWebhook(env: Env, r: WebhookRow): Promise<Webhook> {
  return {
    id: r.id,
    integrationId: r.integration_id,
    version: r.version as WebhookVersion,
    target: r.target,
    triggers: JSON.parse(r.triggers),
    includeFullUser: r.include_full_user === 1,
    includeFullSource: r.include_full_source === 1,
    secret: await open(env, r.secret_sealed),
    createdAt: r.created_at,
  };
}

// ---- integrations ------------------------------------------------------------

/**
 * Creates a custom integration with its one webhook, in one batch. Both inserts
 * carry the per-app webhook limit as a condition, so concurrent creates cannot
 * pass it, and a refused webhook leaves no integration behind.
 */
export async function createCustomIntegration(
  env: Env,
  appId: string,
  input: { displayName: string | null; webhook: WebhookCreate },
): Promise<{ integration: Integration; webhook: Webhook } | 'too_many_webhooks'> {
  const now = new Date().toISOString();
  const integration: Integration = { id: newId(), type: 'custom', status: 'active', displayName: input.displayName, config: {}, createdAt: now };
  const webhook = newWebhook(integration.id, input.webhook, now);
  const underLimit = '(SELECT count(*) FROM webhooks WHERE app_id = ?) < ?';
  const [created] = await orAppGone(env.DB.batch([
    env.DB.prepare(
      `INSERT INTO integrations (id, app_id, type, status, display_name, config, created_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE ${underLimit}`,
    ).bind(integration.id, appId, integration.type, integration.status, integration.displayName, JSON.stringify(integration.config), now, appId, INTEGRATION_LIMITS.webhooksPerApp),
    await insertWebhook(env, appId, webhook),
  ]));
  if (!created || created.meta.changes === 0) return 'too_many_webhooks';
  forgetSubscriptions(appId);
  return { integration, webhook };
}

/** Stores a channel integration; its config arrives with secrets already sealed. */
export async function insertChannelIntegration(env: Env, appId: string, integration: Integration): Promise<void> {
  await orAppGone(
    env.DB.prepare('INSERT INTO integrations (id, app_id, type, status, display_name, config, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .bind(integration.id, appId, integration.type, integration.status, integration.displayName, JSON.stringify(integration.config), integration.createdAt)
      .run(),
  );
}

export async function listIntegrations(env: Env, appId: string, page: Page, types?: string[]): Promise<Integration[]> {
  const typeFilter = types?.length ? ` AND type IN (${types.map(() => '?').join(', ')})` : '';
  const stmt = page.before
    ? env.DB.prepare(`SELECT * FROM integrations WHERE app_id = ? AND id < ?${typeFilter} ORDER BY id DESC LIMIT ?`).bind(appId, page.before, ...(types ?? []), page.size + 1)
    : env.DB.prepare(`SELECT * FROM integrations WHERE app_id = ? AND id > ?${typeFilter} ORDER BY id ASC LIMIT ?`).bind(appId, page.after ?? '', ...(types ?? []), page.size + 1);
  const { results } = await stmt.all<IntegrationRow>();
  return results.map(toIntegration);
}

export async function getIntegration(env: Env, appId: string, integrationId: string): Promise<Integration | undefined> {
  const r = await env.DB.prepare('SELECT * FROM integrations WHERE app_id = ? AND id = ?').bind(appId, integrationId).first<IntegrationRow>();
  return r ? toIntegration(r) : undefined;
}

export async function updateIntegration(env: Env, appId: string, integration: Integration): Promise<void> {
  await env.DB.prepare('UPDATE integrations SET display_name = ?, status = ?, config = ? WHERE app_id = ? AND id = ?')
    .bind(integration.displayName, integration.status, JSON.stringify(integration.config), appId, integration.id)
    .run();
  forgetSubscriptions(appId);
}

/** Deletes the integration; its webhooks and keys follow by cascade, and every cache of this isolate forgets them. */
export async function deleteIntegration(env: Env, appId: string, integrationId: string): Promise<boolean> {
  const res = await env.DB.prepare('DELETE FROM integrations WHERE app_id = ? AND id = ?').bind(appId, integrationId).run();
  forgetSubscriptions(appId);
  forget(integrationTag(integrationId));
  return res.meta.changes > 0;
}

// ---- webhooks ----------------------------------------------------------------

function newWebhook(integrationId: string, input: WebhookCreate, now: string): Webhook {
  return {
    id: newId(),
    integrationId,
    version: input.version ?? 'v2',
    target: input.target,
    triggers: input.triggers,
    includeFullUser: input.includeFullUser ?? false,
    includeFullSource: input.includeFullSource ?? false,
    secret: newWebhookSecret(),
    createdAt: now,
  };
}

/** The insert happens only while the app is under its webhook limit and the integration exists in that app. */
async function insertWebhook(env: Env, appId: string, w: Webhook): Promise<D1PreparedStatement> {
  return env.DB.prepare(
    `INSERT INTO webhooks (id, app_id, integration_id, target, triggers, include_full_user, include_full_source, version, secret_sealed, created_at)
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
     WHERE EXISTS (SELECT 1 FROM integrations WHERE app_id = ? AND id = ?) AND (SELECT count(*) FROM webhooks WHERE app_id = ?) < ?`,
  ).bind(
    w.id,
    appId,
    w.integrationId,
    w.target,
    JSON.stringify(w.triggers),
    w.includeFullUser ? 1 : 0,
    w.includeFullSource ? 1 : 0,
    w.version,
    await seal(env, w.secret),
    w.createdAt,
    appId,
    w.integrationId,
    appId,
    INTEGRATION_LIMITS.webhooksPerApp,
  );
}

export async function createWebhook(env: Env, appId: string, integrationId: string, input: WebhookCreate): Promise<Webhook | 'too_many_webhooks'> {
  const webhook = newWebhook(integrationId, input, new Date().toISOString());
  const res = await (await insertWebhook(env, appId, webhook)).run();
  if (res.meta.changes === 0) return 'too_many_webhooks';
  forgetSubscriptions(appId);
  return webhook;
}

/** Webhooks of one integration, or of the whole app (at most 10) when no integration is given. */
export async function listWebhooks(env: Env, appId: string, integrationId?: string): Promise<Webhook[]> {
  const stmt = integrationId
    ? env.DB.prepare('SELECT * FROM webhooks WHERE app_id = ? AND integration_id = ? ORDER BY id').bind(appId, integrationId)
    : env.DB.prepare('SELECT * FROM webhooks WHERE app_id = ? ORDER BY id').bind(appId);
  const { results } = await stmt.all<WebhookRow>();
  return Promise.all(results.map((r) => toWebhook(env, r)));
}

export async function getWebhook(env: Env, appId: string, integrationId: string, webhookId: string): Promise<Webhook | undefined> {
  const r = await env.DB.prepare('SELECT * FROM webhooks WHERE app_id = ? AND integration_id = ? AND id = ?')
    .bind(appId, integrationId, webhookId)
    .first<WebhookRow>();
  return r ? toWebhook(env, r) : undefined;
}

export async function updateWebhook(env: Env, appId: string, integrationId: string, webhookId: string, patch: WebhookUpdate): Promise<Webhook | undefined> {
  const current = await getWebhook(env, appId, integrationId, webhookId);
  if (!current) return undefined;
  const next: Webhook = {
    ...current,
    ...(patch.target !== undefined ? { target: patch.target } : {}),
    ...(patch.triggers !== undefined ? { triggers: patch.triggers } : {}),
    ...(patch.includeFullUser !== undefined ? { includeFullUser: patch.includeFullUser } : {}),
    ...(patch.includeFullSource !== undefined ? { includeFullSource: patch.includeFullSource } : {}),
  };
  await env.DB.prepare(
    'UPDATE webhooks SET target = ?, triggers = ?, include_full_user = ?, include_full_source = ? WHERE app_id = ? AND integration_id = ? AND id = ?',
  )
    .bind(next.target, JSON.stringify(next.triggers), next.includeFullUser ? 1 : 0, next.includeFullSource ? 1 : 0, appId, integrationId, webhookId)
    .run();
  forgetSubscriptions(appId);
  return next;
}

export async function deleteWebhook(env: Env, appId: string, integrationId: string, webhookId: string): Promise<boolean> {
  const res = await env.DB.prepare('DELETE FROM webhooks WHERE app_id = ? AND integration_id = ? AND id = ?').bind(appId, integrationId, webhookId).run();
  forgetSubscriptions(appId);
  return res.meta.changes > 0;
}

/**
 * Gives the webhook a new secret. The replaced one stays valid for
 * PREVIOUS_SECRET_MS so receivers can switch without dropping deliveries; a
 * second rotation within that window retires the oldest secret at once.
 */
export async function rotateWebhookSecret(env: Env, appId: string, integrationId: string, webhookId: string): Promise<Webhook | undefined> {
  const secret = newWebhookSecret();
  const expires = new Date(Date.now() + PREVIOUS_SECRET_MS).toISOString();
  const res = await env.DB.prepare(
    `UPDATE webhooks SET previous_secret_sealed = secret_sealed, previous_secret_expires_at = ?, secret_sealed = ?
     WHERE app_id = ? AND integration_id = ? AND id = ?`,
  )
    .bind(expires, await seal(env, secret), appId, integrationId, webhookId)
    .run();
  forgetSubscriptions(appId);
  if (res.meta.changes === 0) return undefined;
  return getWebhook(env, appId, integrationId, webhookId);
}

// ---- subscriptions for the delivery side ---------------------------------------

interface CachedSubscription {
  sub: Omit<WebhookSubscription, 'secrets'>;
  secret: string;
  previous?: { secret: string; expiresAt: number };
}

const subscriptionCache = new TtlCache<CachedSubscription[]>({ ttlMs: SUBSCRIPTION_CACHE_MS, missMs: 0, tags: (_, appId) => [appTag(appId)] });

function forgetSubscriptions(appId: string): void {
  subscriptionCache.delete(appId);
}

/**
 * Every webhook of the app's active integrations. The promise is cached, so
 * concurrent callers share one D1 read; a change in this isolate drops the
 * entry, and a read already in flight is then not stored again.
 */
export async function appWebhooks(env: Env, appId: string): Promise<WebhookSubscription[]> {
  const cached = await subscriptionCache.read(appId, () => loadSubscriptions(env, appId));
  const now = Date.now();
  // Copies, so no caller can change what the next one reads; the previous secret is judged now, not when cached.
  return cached.map((c) => ({
    ...c.sub,
    triggers: [...c.sub.triggers],
    secrets: c.previous && c.previous.expiresAt > now ? [c.secret, c.previous.secret] : [c.secret],
  }));
}

async function loadSubscriptions(env: Env, appId: string): Promise<CachedSubscription[]> {
  const { results } = await env.DB.prepare(
    `SELECT w.*, i.type AS integration_type FROM webhooks w JOIN integrations i ON i.id = w.integration_id
     WHERE w.app_id = ? AND i.app_id = ? AND i.status = 'active' ORDER BY w.id`,
  )
    .bind(appId, appId)
    .all<WebhookRow & { integration_type: string }>();
  return Promise.all(
    results.map(async (r) => {
      const expiresAt = r.previous_secret_expires_at ? Date.parse(r.previous_secret_expires_at) : 0;
      const previous = r.previous_secret_sealed && expiresAt > Date.now() ? { secret: await open(env, r.previous_secret_sealed), expiresAt } : undefined;
      return {
        sub: {
          id: r.id,
          integrationId: r.integration_id,
          integrationType: r.integration_type,
          target: r.target,
          triggers: JSON.parse(r.triggers) as string[],
          includeFullUser: r.include_full_user === 1,
          includeFullSource: r.include_full_source === 1,
          version: r.version as WebhookVersion,
          createdAt: r.created_at,
        },
        secret: await open(env, r.secret_sealed),
        ...(previous ? { previous } : {}),
      };
    }),
  );
}

// ---- custom-integration keys -------------------------------------------------

const INTEGRATION_KEY_ID = /^int_[0-9a-f]{24}$/;
const keyCache = new TtlCache<{ appId: string; integrationId: string; secret: string } | undefined>({
  ttlMs: KEY_CACHE_MS,
  missMs: KEY_MISS_MS,
  tags: (k, keyId) => [appTag(k.appId), integrationTag(k.integrationId), keyTag(keyId)],
});

/** The secret behind an `int_` key id, for authentication; cached like app keys (see db/keys.ts). */
export async function findIntegrationKeySecret(env: Env, keyId: string): Promise<{ appId: string; integrationId: string; secret: string } | undefined> {
  // Ids Parley could not have minted cost no D1 read.
  if (!INTEGRATION_KEY_ID.test(keyId)) return undefined;
  const found = await keyCache.read(keyId, async () => {
    const row = await env.DB.prepare('SELECT id, app_id, integration_id, secret_sealed FROM integration_keys WHERE id = ?').bind(keyId).first<KeyRow>();
    return row ? { appId: row.app_id, integrationId: row.integration_id, secret: await open(env, row.secret_sealed) } : undefined;
  });
  return found && { ...found };
}

/** Inserts the key only while the integration exists in the app and holds fewer than the limit. */
export async function createIntegrationKey(env: Env, appId: string, integrationId: string, displayName: string): Promise<Required<IntegrationKey> | 'too_many_keys'> {
  const key = { id: `int_${newId()}`, displayName, secret: newSecret() };
  const res = await env.DB.prepare(
    `INSERT INTO integration_keys (id, app_id, integration_id, display_name, secret_sealed, created_at)
     SELECT ?, ?, ?, ?, ?, ?
     WHERE EXISTS (SELECT 1 FROM integrations WHERE app_id = ? AND id = ?) AND (SELECT count(*) FROM integration_keys WHERE integration_id = ?) < ?`,
  )
    .bind(key.id, appId, integrationId, displayName, await seal(env, key.secret), new Date().toISOString(), appId, integrationId, integrationId, INTEGRATION_LIMITS.keysPerIntegration)
    .run();
  return res.meta.changes === 0 ? 'too_many_keys' : key;
}

export async function listIntegrationKeys(env: Env, appId: string, integrationId: string): Promise<IntegrationKey[]> {
  const { results } = await env.DB.prepare('SELECT id, display_name FROM integration_keys WHERE app_id = ? AND integration_id = ? ORDER BY id')
    .bind(appId, integrationId)
    .all<KeyRow>();
  return results.map((r) => ({ id: r.id, displayName: r.display_name }));
}

export async function getIntegrationKey(env: Env, appId: string, integrationId: string, keyId: string): Promise<IntegrationKey | undefined> {
  const r = await env.DB.prepare('SELECT id, display_name FROM integration_keys WHERE app_id = ? AND integration_id = ? AND id = ?')
    .bind(appId, integrationId, keyId)
    .first<KeyRow>();
  return r ? { id: r.id, displayName: r.display_name } : undefined;
}

export async function deleteIntegrationKey(env: Env, appId: string, integrationId: string, keyId: string): Promise<boolean> {
  const res = await env.DB.prepare('DELETE FROM integration_keys WHERE app_id = ? AND integration_id = ? AND id = ?').bind(appId, integrationId, keyId).run();
  forget(keyTag(keyId));
  return res.meta.changes > 0;
}
