/**
 * Web Messenger users and clients in D1. A browser becomes a user with one
 * `sdk` client (v2 client type; integration type `web`) whose `info` says
 * which browser, OS and place it is; logging in ties the user to the
 * business's `externalId`, or moves the browser's client to the user who
 * already has it.
 */
import type { Env } from '../env';
import { notFound } from '../http/errors';
import { newId } from '../ids';

export interface WebClientInput {
  integrationId: string;
  info: Record<string, string>;
  conversationId: string;
  /** The browser, as the widget names it (`device.guid`, kept in its storage) and the widget's version. */
  device: { guid: string; appVersion?: string };
}

export const WEB_CLIENT_TYPE = 'sdk';

// The integration may have been deleted (with its app, or alone) while this isolate's cache still held it: then nothing is written.
const INTEGRATION_LIVES = "EXISTS (SELECT 1 FROM integrations WHERE app_id = ? AND id = ? AND type = 'web')";

const insertClient = (env: Env, appId: string, userId: string, clientId: string, c: WebClientInput, now: string) =>
  env.DB.prepare(
    `INSERT INTO clients (id, app_id, user_id, type, status, integration_id, external_id, last_seen, linked_at, display_name, avatar_url, info, raw, conversation_id, created_at)
     SELECT ?, ?, ?, ?, 'active', ?, NULL, ?, ?, NULL, NULL, ?, NULL, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND app_id = ?) AND ${INTEGRATION_LIVES}`,
  ).bind(clientId, appId, userId, WEB_CLIENT_TYPE, c.integrationId, now, now, JSON.stringify(c.info), c.conversationId, now, userId, appId, appId, c.integrationId);

/** The browser is a device of the client; seen again (the same guid), it is the same device, seen now. */
const upsertDevice = (env: Env, appId: string, clientId: string, c: WebClientInput, now: string) =>
  env.DB.prepare(
    `INSERT INTO devices (id, app_id, client_id, guid, type, status, integration_id, app_version, info, last_seen, created_at)
     SELECT ?, ?, ?, ?, 'web', 'active', ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM clients WHERE id = ? AND app_id = ?)
     ON CONFLICT(client_id, guid) DO UPDATE SET last_seen = excluded.last_seen, app_version = excluded.app_version, info = excluded.info, status = 'active'`,
  ).bind(newId(), appId, clientId, c.device.guid, c.integrationId, c.device.appVersion ?? null, JSON.stringify(c.info), now, now, clientId, appId);

/** After a write that changed nothing: 404 when the reason is that the web integration is gone, as a fresh isolate would answer. */
async function requireIntegrationLives(env: Env, appId: string, integrationId: string): Promise<void> {
  const live = await env.DB.prepare(`SELECT ${INTEGRATION_LIVES} AS live`).bind(appId, integrationId).first<{ live: number }>();
  if (!live?.live) throw notFound('integration_not_found', 'No web integration with this id in this app');
}

/**
 * A new user (anonymous, or known by `externalId` when logging in for the
 * first time) with its web client, in one batch. 'conflict' when another
 * request created the user with that externalId first.
 */
export async function createWebUser(
  env: Env,
  appId: string,
  input: { externalId?: string; profile?: Record<string, string>; client: WebClientInput },
): Promise<{ userId: string; clientId: string } | 'conflict'> {
  const now = new Date().toISOString();
  const userId = newId();
  const clientId = newId();
  const [user] = await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO users (id, app_id, external_id, signed_up_at, to_be_retained, authenticated, profile, metadata, identities, created_at)
       SELECT ?, ?, ?, ?, 0, ?, ?, '{}', '[]', ? WHERE ${INTEGRATION_LIVES} ON CONFLICT DO NOTHING`,
    ).bind(userId, appId, input.externalId ?? null, now, input.externalId ? 1 : 0, JSON.stringify(input.profile ?? {}), now, appId, input.client.integrationId),
    insertClient(env, appId, userId, clientId, input.client, now),
    upsertDevice(env, appId, clientId, input.client, now),
  ]);
  if (user!.meta.changes === 1) return { userId, clientId };
  await requireIntegrationLives(env, appId, input.client.integrationId);
  return 'conflict';
}

export async function addWebClient(env: Env, appId: string, userId: string, client: WebClientInput): Promise<string> {
  const clientId = newId();
  const now = new Date().toISOString();
  const [res] = await env.DB.batch([insertClient(env, appId, userId, clientId, client, now), upsertDevice(env, appId, clientId, client, now)]);
  if (res!.meta.changes === 0) await requireIntegrationLives(env, appId, client.integrationId);
  return clientId;
}

/** An anonymous user logs in under an externalId nobody has yet; false when someone took it first. */
export async function claimExternalId(env: Env, appId: string, userId: string, externalId: string): Promise<boolean> {
  try {
    const res = await env.DB.prepare('UPDATE users SET external_id = ?, authenticated = 1 WHERE app_id = ? AND id = ? AND external_id IS NULL')
      .bind(externalId, appId, userId)
      .run();
    return res.meta.changes === 1;
  } catch (err) {
    // The unique (app_id, external_id) index: a concurrent login created that user.
    if (err instanceof Error && /UNIQUE/i.test(err.message)) return false;
    throw err;
  }
}

export async function markAuthenticated(env: Env, appId: string, userId: string): Promise<void> {
  await env.DB.prepare('UPDATE users SET authenticated = 1 WHERE app_id = ? AND id = ?').bind(appId, userId).run();
}

/** The browser's client follows its person to the user they logged in as. */
export async function moveWebClient(env: Env, appId: string, clientId: string, toUserId: string, conversationId: string): Promise<boolean> {
  const res = await env.DB.prepare('UPDATE clients SET user_id = ?, conversation_id = ?, linked_at = ? WHERE app_id = ? AND id = ? AND type = ?')
    .bind(toUserId, conversationId, new Date().toISOString(), appId, clientId, WEB_CLIENT_TYPE)
    .run();
  return res.meta.changes === 1;
}

export async function webClientInfo(env: Env, appId: string, clientId: string): Promise<Record<string, string> | null> {
  const row = await env.DB.prepare('SELECT info FROM clients WHERE app_id = ? AND id = ?').bind(appId, clientId).first<{ info: string | null }>();
  return row?.info ? (JSON.parse(row.info) as Record<string, string>) : null;
}
