/**
 * Parley's OAuth 2.0 provider in D1: partner clients, grants (the integration
 * that stands for a client in an app), single-use authorization codes and
 * access tokens, and the cached lookup that authenticates a token.
 *
 * Access tokens are opaque random strings (`oat_` + 32 random bytes), stored
 * only as their SHA-256. Not JWTs, because every way a token ends must take
 * effect at once (DELETE /oauth/authorization, a replayed code, deleting the
 * integration, the app or the client): a JWT would need the same D1 check on
 * every request, so its self-containedness buys nothing, while its signing key
 * would either be an app key (Sunshine's choice: the token dies when the owner
 * rotates that key) or MASTER_KEY (rotating it would end every token). A
 * stolen copy of D1 holds no usable token. The lookup costs what an app key's
 * does: one D1 read per isolate per KEY_CACHE_MS, tagged with the app, the
 * integration, the token and the client, so any of their deletions forgets it
 * at once in the isolate that made it (other isolates within KEY_CACHE_MS).
 *
 * The integration row's `type` is the client id, as Sunshine names an OAuth
 * integration, so a switchboard integration can name it by `integrationType`
 * and the switchboard's routing and control checks match it with no special
 * case; `config.oauthClientId` marks the row as an OAuth integration.
 */
import type { Env } from '../env';
import { open, sameSecret, seal } from '../auth/secrets';
import { newId, newSecret } from '../ids';
import { CLIENT_ID, OAUTH_LIMITS, type ClientCreate, type OAuthClient } from '../schema/oauth';
import { orAppGone } from './app-gone';
import { deleteIntegration } from './integrations';
import { KEY_CACHE_MS, KEY_MISS_MS } from './keys';
import { appTag, forget, integrationTag, keyTag, TtlCache, type Tag } from './ttl-cache';

const ACCESS_TOKEN = /^oat_[A-Za-z0-9_-]{43}$/;
const CODE = /^oac_[A-Za-z0-9_-]{43}$/;
/** Used codes are kept this long past their expiry, so a late replay still revokes the token issued from it. */
const USED_CODE_KEPT_MS = 24 * 60 * 60 * 1000;

/** True for strings shaped like a Parley access token; anything else is not looked up. */
export const isAccessToken = (token: string) => ACCESS_TOKEN.test(token);

/** An integration created by approving an OAuth client. */
export const isOAuthIntegration = (i: { config: Record<string, unknown> }) => typeof i.config.oauthClientId === 'string';

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
const sha256 = async (text: string) => hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));

const tokenTag = (tokenId: string) => keyTag(`oauth-token:${tokenId}`);
const clientTag = (clientId: string) => keyTag(`oauth-client:${clientId}`);

// ---- clients -------------------------------------------------------------------

interface ClientRow {
  id: string;
  name: string;
  redirect_uris: string;
  remove_url: string | null;
  secret_sealed: string;
}

const toClient = (r: ClientRow): OAuthClient => ({
  id: r.id,
  name: r.name,
  redirectUris: JSON.parse(r.redirect_uris) as string[],
  ...(r.remove_url ? { removeUrl: r.remove_url } : {}),
});

/** Registers a client while fewer than the limit exist; the secret is returned here only. */
export async function createClient(env: Env, input: ClientCreate): Promise<(OAuthClient & { secret: string }) | 'too_many_clients'> {
  const client = { id: `oauth_${newId()}`, name: input.name, redirectUris: input.redirectUris, ...(input.removeUrl ? { removeUrl: input.removeUrl } : {}) };
  const secret = newSecret();
  const res = await env.DB.prepare(
    `INSERT INTO oauth_clients (id, name, redirect_uris, remove_url, secret_sealed, created_at)
     SELECT ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM oauth_clients) < ?`,
  )
    .bind(client.id, client.name, JSON.stringify(client.redirectUris), input.removeUrl ?? null, await seal(env, secret), new Date().toISOString(), OAUTH_LIMITS.clients)
    .run();
  return res.meta.changes === 0 ? 'too_many_clients' : { ...client, secret };
}

export async function listClients(env: Env): Promise<OAuthClient[]> {
  const { results } = await env.DB.prepare('SELECT * FROM oauth_clients ORDER BY id').all<ClientRow>();
  return results.map(toClient);
}

export async function getClient(env: Env, clientId: string): Promise<OAuthClient | undefined> {
  // Ids Parley could not have minted cost no D1 read.
  if (!CLIENT_ID.test(clientId)) return undefined;
  const row = await env.DB.prepare('SELECT * FROM oauth_clients WHERE id = ?').bind(clientId).first<ClientRow>();
  return row ? toClient(row) : undefined;
}

/** The client when `secret` is its secret (compared in constant time), else undefined. */
export async function authenticateClient(env: Env, clientId: string, secret: string): Promise<OAuthClient | undefined> {
  if (!CLIENT_ID.test(clientId)) return undefined;
  const row = await env.DB.prepare('SELECT * FROM oauth_clients WHERE id = ?').bind(clientId).first<ClientRow>();
  return row && sameSecret(await open(env, row.secret_sealed), secret) ? toClient(row) : undefined;
}

/** The client's secret, to sign the notice its removeUrl receives. */
export async function clientSecret(env: Env, clientId: string): Promise<string | undefined> {
  const row = await env.DB.prepare('SELECT secret_sealed FROM oauth_clients WHERE id = ?').bind(clientId).first<{ secret_sealed: string }>();
  return row ? open(env, row.secret_sealed) : undefined;
}

/**
 * Deletes the client with, in the same transaction, the integration standing
 * for it in every app (their webhooks follow by cascade): a partner that is no
 * longer registered must stop receiving any app's events. Its codes and tokens
 * follow the client by cascade.
 */
export async function deleteClient(env: Env, clientId: string): Promise<boolean> {
  if (!CLIENT_ID.test(clientId)) return false;
  const [integrations, clients] = await env.DB.batch([
    env.DB.prepare('DELETE FROM integrations WHERE id IN (SELECT integration_id FROM oauth_grants WHERE client_id = ?) RETURNING id, app_id').bind(clientId),
    env.DB.prepare('DELETE FROM oauth_clients WHERE id = ?').bind(clientId),
  ]);
  const removed = (integrations!.results ?? []) as { id: string; app_id: string }[];
  // The app tag also drops each app's cached webhook subscriptions, so the partner's webhooks stop here at once.
  forget(clientTag(clientId), ...removed.flatMap((r): Tag[] => [integrationTag(r.id), appTag(r.app_id)]));
  return clients!.meta.changes > 0;
}

// ---- grants and codes ----------------------------------------------------------

const randomToken = (prefix: string) => `${prefix}${newSecret()}`;

/**
 * Records the owner's approval: creates the integration standing for the
 * client in the app (or reuses it: one per app and client), and issues a
 * single-use code bound to the client and the redirect URI, all in one
 * transaction. Codes expired for more than a day are purged on the way.
 * Answers the code, which is stored only as its hash.
 */
export async function approve(env: Env, appId: string, client: OAuthClient, redirectUri: string): Promise<string> {
  const code = randomToken('oac_');
  const now = Date.now();
  const integrationId = newId();
  const grantFor = 'SELECT integration_id FROM oauth_grants WHERE app_id = ? AND client_id = ?';
  await orAppGone(
    env.DB.batch([
      env.DB.prepare(
        `INSERT INTO integrations (id, app_id, type, status, display_name, config, created_at)
         SELECT ?, ?, ?, 'active', ?, ?, ? WHERE NOT EXISTS (${grantFor})`,
      ).bind(integrationId, appId, client.id, client.name, JSON.stringify({ oauthClientId: client.id }), new Date(now).toISOString(), appId, client.id),
      env.DB.prepare(
        `INSERT INTO oauth_grants (app_id, client_id, integration_id, created_at)
         SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM integrations WHERE app_id = ? AND id = ?)`,
      ).bind(appId, client.id, integrationId, new Date(now).toISOString(), appId, integrationId),
      env.DB.prepare(
        `INSERT INTO oauth_codes (code_hash, client_id, app_id, integration_id, redirect_uri, expires_at)
         SELECT ?, ?, ?, integration_id, ?, ? FROM oauth_grants WHERE app_id = ? AND client_id = ?`,
      ).bind(await sha256(code), client.id, appId, redirectUri, now + OAUTH_LIMITS.codeTtlMs, appId, client.id),
      env.DB.prepare('DELETE FROM oauth_codes WHERE expires_at < ?').bind(now - USED_CODE_KEPT_MS),
    ]),
  );
  return code;
}

/** Why a code could not be exchanged; each maps to `invalid_grant` with its own description. */
export type ExchangeRefusal = 'unknown' | 'expired' | 'other_client' | 'redirect_mismatch' | 'replayed';

export interface IssuedToken {
  accessToken: string;
  appId: string;
  integrationId: string;
}

/**
 * Exchanges a code for an access token. The code is marked used and the token
 * stored in one transaction, conditioned on the code being unused, unexpired,
 * the client's and (when given) for that redirect URI, so two concurrent
 * exchanges cannot both succeed. A code presented again revokes the token
 * issued from it (RFC 6749 §4.1.2).
 */
export async function exchangeCode(env: Env, clientId: string, code: string, redirectUri: string | undefined): Promise<IssuedToken | ExchangeRefusal> {
  if (!CODE.test(code)) return 'unknown';
  const codeHash = await sha256(code);
  const accessToken = randomToken('oat_');
  const tokenHash = await sha256(accessToken);
  const now = Date.now();
  const [, inserted] = await env.DB.batch([
    env.DB.prepare(
      `UPDATE oauth_codes SET used_at = ?, token_hash = ?
       WHERE code_hash = ? AND client_id = ? AND used_at IS NULL AND expires_at > ? AND (? IS NULL OR redirect_uri = ?)`,
    ).bind(now, tokenHash, codeHash, clientId, now, redirectUri ?? null, redirectUri ?? null),
    env.DB.prepare(
      `INSERT INTO oauth_tokens (token_hash, id, client_id, app_id, integration_id, code_hash, created_at)
       SELECT token_hash, ?, client_id, app_id, integration_id, code_hash, ? FROM oauth_codes WHERE code_hash = ? AND token_hash = ?
       RETURNING app_id, integration_id`,
    ).bind(newId(), new Date(now).toISOString(), codeHash, tokenHash),
  ]);
  const issued = (inserted!.results as { app_id: string; integration_id: string }[])[0];
  if (issued) return { accessToken, appId: issued.app_id, integrationId: issued.integration_id };

  const row = await env.DB.prepare('SELECT client_id, redirect_uri, expires_at, used_at FROM oauth_codes WHERE code_hash = ?')
    .bind(codeHash)
    .first<{ client_id: string; redirect_uri: string; expires_at: number; used_at: number | null }>();
  if (!row) return 'unknown';
  if (row.client_id !== clientId) return 'other_client';
  if (row.used_at !== null) {
    await revokeTokensOf(env, codeHash);
    return 'replayed';
  }
  if (row.expires_at <= now) return 'expired';
  return 'redirect_mismatch';
}

async function revokeTokensOf(env: Env, codeHash: string): Promise<void> {
  const { results } = await env.DB.prepare('DELETE FROM oauth_tokens WHERE code_hash = ? RETURNING id').bind(codeHash).all<{ id: string }>();
  if (results.length > 0) forget(...results.map((r) => tokenTag(r.id)));
}

// ---- access tokens -------------------------------------------------------------

export interface AccessGrant {
  tokenId: string;
  appId: string;
  integrationId: string;
  clientId: string;
}

const tokenCache = new TtlCache<AccessGrant | undefined>({
  ttlMs: KEY_CACHE_MS,
  missMs: KEY_MISS_MS,
  tags: (g) => [appTag(g.appId), integrationTag(g.integrationId), tokenTag(g.tokenId), clientTag(g.clientId)],
});

/** What a live access token grants, or undefined; cached per isolate (see the module comment). */
export async function findAccessToken(env: Env, token: string): Promise<AccessGrant | undefined> {
  if (!isAccessToken(token)) return undefined;
  const tokenHash = await sha256(token);
  const found = await tokenCache.read(tokenHash, async () => {
    const row = await env.DB.prepare('SELECT id, app_id, integration_id, client_id FROM oauth_tokens WHERE token_hash = ?')
      .bind(tokenHash)
      .first<{ id: string; app_id: string; integration_id: string; client_id: string }>();
    return row ? { tokenId: row.id, appId: row.app_id, integrationId: row.integration_id, clientId: row.client_id } : undefined;
  });
  // A copy, so no caller can change what the next one reads.
  return found && { ...found };
}

/**
 * Ends the authorization behind a token: deletes the integration, whose
 * webhooks, grant, codes and every token follow by cascade, and forgets them
 * in this isolate's caches.
 */
export async function revokeAuthorization(env: Env, grant: Pick<AccessGrant, 'appId' | 'integrationId'>): Promise<boolean> {
  return deleteIntegration(env, grant.appId, grant.integrationId);
}
