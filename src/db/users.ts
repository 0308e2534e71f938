/**
 * Users and their clients in D1. A user is addressed by its id or by the
 * business's `externalId`, always inside one app.
 */
import type { Env } from '../env';
import { newId } from '../ids';
import { unsearchableUserStatements } from './insights-search';
import type { Metadata } from '../schema/common';
import type { Identity, Profile } from '../schema/user';
import type { Page } from '../schema/pagination';
import { orAppGone } from './app-gone';

export interface User {
  id: string;
  externalId?: string;
  signedUpAt?: string;
  toBeRetained: boolean;
  authenticated: boolean;
  profile: Profile;
  metadata: Metadata;
  identities: Identity[];
}

export interface Client {
  id: string;
  type: string;
  status: string;
  integrationId: string | null;
  externalId: string | null;
  lastSeen: string | null;
  linkedAt: string | null;
  displayName: string | null;
  avatarUrl: string | null;
  info: Record<string, unknown> | null;
  raw: Record<string, unknown> | null;
}

interface UserRow {
  id: string;
  app_id: string;
  external_id: string | null;
  signed_up_at: string | null;
  to_be_retained: number;
  authenticated: number;
  profile: string;
  metadata: string;
  identities: string;
}

interface ClientRow {
  id: string;
  type: string;
  status: string;
  integration_id: string | null;
  external_id: string | null;
  last_seen: string | null;
  linked_at: string | null;
  display_name: string | null;
  avatar_url: string | null;
  info: string | null;
  raw: string | null;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  ...(r.external_id !== null ? { externalId: r.external_id } : {}),
  ...(r.signed_up_at !== null ? { signedUpAt: r.signed_up_at } : {}),
  toBeRetained: r.to_be_retained === 1,
  authenticated: r.authenticated === 1,
  profile: JSON.parse(r.profile),
  metadata: JSON.parse(r.metadata),
  identities: JSON.parse(r.identities),
});

const toClient = (r: ClientRow): Client => ({
  id: r.id,
  type: r.type,
  status: r.status,
  integrationId: r.integration_id,
  externalId: r.external_id,
  lastSeen: r.last_seen,
  linkedAt: r.linked_at,
  displayName: r.display_name,
  avatarUrl: r.avatar_url,
  info: r.info ? JSON.parse(r.info) : null,
  raw: r.raw ? JSON.parse(r.raw) : null,
});

export async function createUser(
  env: Env,
  appId: string,
  input: { externalId?: string; signedUpAt?: string; toBeRetained?: boolean; profile?: Profile; metadata?: Metadata },
): Promise<User | 'conflict'> {
  const user: User = {
    id: newId(),
    ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
    signedUpAt: input.signedUpAt ?? new Date().toISOString(),
    toBeRetained: input.toBeRetained ?? false,
    authenticated: false,
    profile: input.profile ?? {},
    metadata: input.metadata ?? {},
    identities: [],
  };
  // The unique index on (app_id, external_id) settles races between concurrent creates.
  const res = await orAppGone(
    env.DB.prepare(
      `INSERT INTO users (id, app_id, external_id, signed_up_at, to_be_retained, authenticated, profile, metadata, identities, created_at)
       VALUES (?, ?, ?, ?, ?, 0, ?, ?, '[]', ?) ON CONFLICT DO NOTHING`,
    )
      .bind(user.id, appId, user.externalId ?? null, user.signedUpAt, user.toBeRetained ? 1 : 0, JSON.stringify(user.profile), JSON.stringify(user.metadata), new Date().toISOString())
      .run(),
  );
  return res.meta.changes === 1 ? user : 'conflict';
}

/** Finds a user by id first, then by externalId, as `{userIdOrExternalId}` path segments mean. */
export async function findUser(env: Env, appId: string, idOrExternalId: string): Promise<User | undefined> {
  const r = await env.DB.prepare('SELECT * FROM users WHERE app_id = ?1 AND (id = ?2 OR external_id = ?2) ORDER BY id = ?2 DESC LIMIT 1')
    .bind(appId, idOrExternalId)
    .first<UserRow>();
  return r ? toUser(r) : undefined;
}

export async function findUserById(env: Env, appId: string, userId: string): Promise<User | undefined> {
  const r = await env.DB.prepare('SELECT * FROM users WHERE app_id = ? AND id = ?').bind(appId, userId).first<UserRow>();
  return r ? toUser(r) : undefined;
}

export async function findUserByExternalId(env: Env, appId: string, externalId: string): Promise<User | undefined> {
  const r = await env.DB.prepare('SELECT * FROM users WHERE app_id = ? AND external_id = ?').bind(appId, externalId).first<UserRow>();
  return r ? toUser(r) : undefined;
}

export async function saveUser(env: Env, appId: string, user: User): Promise<void> {
  await env.DB.prepare('UPDATE users SET signed_up_at = ?, to_be_retained = ?, profile = ?, metadata = ? WHERE app_id = ? AND id = ?')
    .bind(user.signedUpAt ?? null, user.toBeRetained ? 1 : 0, JSON.stringify(user.profile), JSON.stringify(user.metadata), appId, user.id)
    .run();
}

/**
 * GDPR scrub: clears names, email, avatar, metadata and identities, and each
 * client's personal fields; keeps ids, locale and messages, as the contract says.
 */
export async function scrubUser(env: Env, appId: string, user: User): Promise<User> {
  const profile: Profile = user.profile.locale ? { locale: user.profile.locale } : {};
  await env.DB.batch([
    env.DB.prepare(`UPDATE users SET profile = ?, metadata = '{}', identities = '[]' WHERE app_id = ? AND id = ?`).bind(JSON.stringify(profile), appId, user.id),
    env.DB.prepare('UPDATE clients SET display_name = NULL, avatar_url = NULL, info = NULL, raw = NULL WHERE app_id = ? AND user_id = ?').bind(appId, user.id),
    // The messages stay (the contract keeps them) but can no longer be found by search.
    ...unsearchableUserStatements(env.DB, appId, user.id, new Date().toISOString()),
  ]);
  return { ...user, profile, metadata: {}, identities: [] };
}

export async function deleteUser(env: Env, appId: string, userId: string): Promise<void> {
  await env.DB.batch([
    env.DB.prepare('DELETE FROM clients WHERE app_id = ? AND user_id = ?').bind(appId, userId),
    env.DB.prepare('DELETE FROM conversation_participants WHERE app_id = ? AND user_id = ?').bind(appId, userId),
    env.DB.prepare('DELETE FROM users WHERE app_id = ? AND id = ?').bind(appId, userId),
    // Their messages left in group conversations can no longer be found by search, as after a scrub.
    ...unsearchableUserStatements(env.DB, appId, userId, new Date().toISOString()),
  ]);
}

/** One of the user's clients, with the personal conversation its channel messages go to. */
export async function findClient(env: Env, appId: string, userId: string, clientId: string): Promise<(Client & { conversationId: string | null }) | undefined> {
  const row = await env.DB.prepare('SELECT * FROM clients WHERE app_id = ? AND user_id = ? AND id = ?').bind(appId, userId, clientId).first<ClientRow & { conversation_id: string | null }>();
  return row ? { ...toClient(row), conversationId: row.conversation_id } : undefined;
}

/** The user's client on that integration that was active last: the one a message from that channel came through. */
export async function clientOn(env: Env, appId: string, userId: string, integrationId: string): Promise<Client | undefined> {
  const row = await env.DB.prepare('SELECT * FROM clients WHERE app_id = ? AND user_id = ? AND integration_id = ? ORDER BY last_seen DESC, id DESC LIMIT 1')
    .bind(appId, userId, integrationId)
    .first<ClientRow>();
  return row ? toClient(row) : undefined;
}

/** The client goes, and its devices with it (cascade); its channel identity is free to become a new user. */
export async function deleteClient(env: Env, appId: string, clientId: string): Promise<void> {
  await env.DB.prepare('DELETE FROM clients WHERE app_id = ? AND id = ?').bind(appId, clientId).run();
}

export async function listClients(env: Env, appId: string, userId: string, page: Page): Promise<Client[]> {
  const stmt = page.before
    ? env.DB.prepare('SELECT * FROM clients WHERE app_id = ? AND user_id = ? AND id < ? ORDER BY id DESC LIMIT ?').bind(appId, userId, page.before, page.size + 1)
    : env.DB.prepare('SELECT * FROM clients WHERE app_id = ? AND user_id = ? AND id > ? ORDER BY id ASC LIMIT ?').bind(appId, userId, page.after ?? '', page.size + 1);
  const { results } = await stmt.all<ClientRow>();
  return results.map(toClient);
}
