/**
 * App keys in D1. Secrets are sealed at rest and returned only at creation.
 * Verifying a request needs the secret, so lookups are cached per isolate for
 * a short time; a deleted key (or app) stops working at once in the isolate
 * that deleted it and within KEY_CACHE_MS everywhere else.
 */
import type { Env } from '../env';
import { newId, newSecret } from '../ids';
import { open, seal } from '../auth/secrets';
import { orAppGone } from './app-gone';
import { appTag, forget, keyTag, TtlCache } from './ttl-cache';

export const KEY_CACHE_MS = 30_000;
/** A miss is remembered briefly, so repeating an unknown id costs little yet a new key works within seconds. */
export const KEY_MISS_MS = 2_000;
const cache = new TtlCache<{ appId: string; secret: string } | undefined>({
  ttlMs: KEY_CACHE_MS,
  missMs: KEY_MISS_MS,
  tags: (k, keyId) => [appTag(k.appId), keyTag(keyId)],
});

export interface AppKey {
  id: string;
  displayName: string;
  secret?: string;
}

interface KeyRow {
  id: string;
  app_id: string;
  display_name: string;
  secret_sealed: string;
}

const KEY_ID = /^app_[0-9a-f]{24}$/;

export async function findKeySecret(env: Env, keyId: string): Promise<{ appId: string; secret: string } | undefined> {
  // Ids Parley could not have minted cost no D1 read, so guessing cannot spend the database's budget.
  if (!KEY_ID.test(keyId)) return undefined;
  const found = await cache.read(keyId, async () => {
    const row = await env.DB.prepare('SELECT id, app_id, secret_sealed FROM app_keys WHERE id = ?').bind(keyId).first<KeyRow>();
    return row ? { appId: row.app_id, secret: await open(env, row.secret_sealed) } : undefined;
  });
  // A copy, so no caller can change what the next one reads.
  return found && { ...found };
}

export async function countKeys(env: Env, appId: string): Promise<number> {
  const row = await env.DB.prepare('SELECT count(*) AS n FROM app_keys WHERE app_id = ?').bind(appId).first<{ n: number }>();
  return row?.n ?? 0;
}

export async function createKey(env: Env, appId: string, displayName: string): Promise<Required<AppKey>> {
  const key = { id: `app_${newId()}`, displayName, secret: newSecret() };
  await orAppGone(
    env.DB.prepare('INSERT INTO app_keys (id, app_id, display_name, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?)')
      .bind(key.id, appId, displayName, await seal(env, key.secret), new Date().toISOString())
      .run(),
  );
  return key;
}

export async function listKeys(env: Env, appId: string): Promise<AppKey[]> {
  const { results } = await env.DB.prepare('SELECT id, display_name FROM app_keys WHERE app_id = ? ORDER BY id').bind(appId).all<KeyRow>();
  return results.map((r) => ({ id: r.id, displayName: r.display_name }));
}

export async function getKey(env: Env, appId: string, keyId: string): Promise<AppKey | undefined> {
  const r = await env.DB.prepare('SELECT id, display_name FROM app_keys WHERE app_id = ? AND id = ?').bind(appId, keyId).first<KeyRow>();
  return r ? { id: r.id, displayName: r.display_name } : undefined;
}

export async function deleteKey(env: Env, appId: string, keyId: string): Promise<boolean> {
  const res = await env.DB.prepare('DELETE FROM app_keys WHERE app_id = ? AND id = ?').bind(appId, keyId).run();
  forget(keyTag(keyId));
  return res.meta.changes > 0;
}
