/** Apps in D1: settings and metadata stored as JSON, listed by id cursor. */
import type { Env } from '../env';
import { newId } from '../ids';
import { DEFAULT_SETTINGS, type AppSettings } from '../schema/app';
import type { Metadata } from '../schema/common';
import type { Page } from '../schema/pagination';
import { forgetPolicy } from './app-policy';
import { appTag, forget, TtlCache } from './ttl-cache';

export interface App {
  id: string;
  displayName: string;
  settings: AppSettings;
  metadata: Metadata | null;
}

interface AppRow {
  id: string;
  display_name: string;
  settings: string;
  metadata: string | null;
}

const toApp = (r: AppRow): App => ({
  id: r.id,
  displayName: r.display_name,
  settings: { ...DEFAULT_SETTINGS, ...JSON.parse(r.settings) },
  metadata: r.metadata ? JSON.parse(r.metadata) : null,
});

// Only a present app is remembered: one created in another isolate must be found at once.
const existsCache = new TtlCache<true | undefined>({ ttlMs: 30_000, missMs: 0, tags: (_, appId) => [appTag(appId)] });

export async function createApp(env: Env, input: { displayName: string; settings?: Partial<AppSettings>; metadata?: Metadata | null }): Promise<App> {
  const app: App = { id: newId(), displayName: input.displayName, settings: { ...DEFAULT_SETTINGS, ...input.settings }, metadata: input.metadata ?? null };
  await env.DB.prepare('INSERT INTO apps (id, display_name, settings, metadata, created_at) VALUES (?, ?, ?, ?, ?)')
    .bind(app.id, app.displayName, JSON.stringify(app.settings), app.metadata ? JSON.stringify(app.metadata) : null, new Date().toISOString())
    .run();
  return app;
}

export async function getApp(env: Env, appId: string): Promise<App | undefined> {
  const r = await env.DB.prepare('SELECT * FROM apps WHERE id = ?').bind(appId).first<AppRow>();
  return r ? toApp(r) : undefined;
}

/** Existence check for account-key requests on app routes, cached briefly per isolate. */
export async function appExists(env: Env, appId: string): Promise<boolean> {
  const found = await existsCache.read(appId, async () => ((await env.DB.prepare('SELECT 1 AS x FROM apps WHERE id = ?').bind(appId).first()) ? true : undefined));
  return found === true;
}

export async function listApps(env: Env, page: Page): Promise<App[]> {
  const stmt = page.before
    ? env.DB.prepare('SELECT * FROM apps WHERE id < ? ORDER BY id DESC LIMIT ?').bind(page.before, page.size + 1)
    : env.DB.prepare('SELECT * FROM apps WHERE id > ? ORDER BY id ASC LIMIT ?').bind(page.after ?? '', page.size + 1);
  const { results } = await stmt.all<AppRow>();
  return results.map(toApp);
}

export async function updateApp(env: Env, app: App): Promise<void> {
  await env.DB.prepare('UPDATE apps SET display_name = ?, settings = ?, metadata = ? WHERE id = ?')
    .bind(app.displayName, JSON.stringify(app.settings), app.metadata ? JSON.stringify(app.metadata) : null, app.id)
    .run();
  forgetPolicy(app.id);
}

/**
 * Queues a purge of every Durable Object holding the app's data: each
 * conversation's, and each user's event stream. Sent before the D1 rows go, so
 * the ids are still known; the index consumer empties the objects.
 */
export async function queueAppPurge(env: Env, appId: string): Promise<number> {
  let queued = 0;
  for (const table of ['conversations', 'users'] as const) {
    let after = '';
    for (;;) {
      // The table name is one of two constants, never input.
      const { results } = await env.DB.prepare(`SELECT id FROM ${table} WHERE app_id = ? AND id > ? ORDER BY id LIMIT 100`).bind(appId, after).all<{ id: string }>();
      if (results.length === 0) break;
      await env.INDEX_QUEUE.sendBatch(results.map((r) => ({ body: { op: 'stream.purge' as const, appId, streamId: r.id }, contentType: 'json' as const })));
      queued += results.length;
      after = results[results.length - 1]!.id;
    }
  }
  return queued;
}

/**
 * Removes the app and everything D1 holds for it; keys, integrations, users and
 * clients follow by cascade, and every cache of this isolate forgets them.
 */
export async function deleteApp(env: Env, appId: string): Promise<void> {
  await env.DB.batch([
    env.DB.prepare('DELETE FROM message_index WHERE app_id = ?').bind(appId),
    env.DB.prepare('DELETE FROM message_tombstones WHERE app_id = ?').bind(appId),
    env.DB.prepare('DELETE FROM conversation_participants WHERE app_id = ?').bind(appId),
    env.DB.prepare('DELETE FROM conversations WHERE app_id = ?').bind(appId),
    env.DB.prepare('DELETE FROM apps WHERE id = ?').bind(appId),
  ]);
  forget(appTag(appId));
}
