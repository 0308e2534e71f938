/**
 * Channel user → Parley user, client and personal conversation. A known
 * identity is answered from an isolate cache, else one D1 read; a first
 * contact (with the channel's profile where the adapter looks one up,
 * `profile.ts`) creates the user and the client in one D1 batch whose statements
 * are conditioned on the client not existing yet, so concurrent first
 * webhooks for one person converge on a single user, then opens the user's
 * personal conversation (its DO create is idempotent, so a crash between the
 * two steps is repaired by the next webhook).
 */
import { appPolicy } from '../db/app-policy';
import { conversationStub, indexNow } from '../api/context';
import { indexConversation } from '../db/conversations';
import { appTag, integrationTag, TtlCache } from '../db/ttl-cache';
import type { Env } from '../env';
import { notFound } from '../http/errors';
import { newId } from '../ids';
import type { Conversation } from '../schema/conversation';
import type { InboundClient } from '../../durable/conversation';
import type { ConversationInit } from '../../durable/record';
import type { ChannelUser } from './adapter';
import type { ChannelIntegration } from './store';
import { withProfile } from './profile';

export interface ResolvedIdentity {
  client: InboundClient;
  conversationId: string;
}

const IDENTITY_CACHE_MS = 5 * 60_000;
// Unknown people are not remembered: their first message creates them at once.
const cache = new TtlCache<{ appId: string; identity: ResolvedIdentity } | undefined>({
  ttlMs: IDENTITY_CACHE_MS,
  missMs: 0,
  max: 50_000,
  tags: (c) => [appTag(c.appId), integrationTag(c.identity.client.integrationId)],
});
const cacheKey = (integrationId: string, externalId: string) => `${integrationId}\n${externalId}`;

interface ClientRow {
  id: string;
  user_id: string;
  user_external_id: string | null;
  conversation_id: string;
  status: string;
  display_name: string | null;
  avatar_url: string | null;
  info: string | null;
  raw: string | null;
  linked_at: string | null;
  last_seen: string | null;
}

/** Forgets a cached identity whose conversation turned out to be gone (the user was deleted). */
export function forgetIdentity(integrationId: string, externalId: string): void {
  cache.delete(cacheKey(integrationId, externalId));
}

/** Finds the identity without creating one: receipts for unknown recipients are dropped, not turned into users. */
export async function findIdentity(env: Env, integration: ChannelIntegration, externalId: string): Promise<ResolvedIdentity | undefined> {
  const cached = await cache.read(cacheKey(integration.id, externalId), async () => {
    const identity = await readIdentity(env, integration, externalId);
    return identity && { appId: integration.appId, identity };
  });
  return cached?.identity;
}

async function readIdentity(env: Env, integration: ChannelIntegration, externalId: string): Promise<ResolvedIdentity | undefined> {
  const row = await env.DB.prepare(
    `SELECT c.id, c.user_id, u.external_id AS user_external_id, c.conversation_id, c.status, c.display_name, c.avatar_url, c.info, c.raw, c.linked_at, c.last_seen
     FROM clients c JOIN users u ON u.id = c.user_id AND u.app_id = c.app_id
     WHERE c.app_id = ? AND c.integration_id = ? AND c.external_id = ?`,
  )
    .bind(integration.appId, integration.id, externalId)
    .first<ClientRow>();
  return row ? toIdentity(integration, externalId, row) : undefined;
}

export async function resolveIdentity(env: Env, integration: ChannelIntegration, given: ChannelUser, creationReason = 'message'): Promise<ResolvedIdentity> {
  const known = await findIdentity(env, integration, given.externalId);
  if (known) return known;
  // Only a client about to be created is looked up on the channel: returning users cost no call.
  const user = await withProfile(env, integration, given);
  const now = new Date().toISOString();
  const userId = newId();
  const conversationId = newId();
  const profile = {
    ...(user.givenName ? { givenName: user.givenName } : {}),
    ...(user.surname ? { surname: user.surname } : {}),
    ...(user.avatarUrl ? { avatarUrl: user.avatarUrl } : {}),
    ...(user.locale ? { locale: user.locale } : {}),
  };
  const noClientYet = 'NOT EXISTS (SELECT 1 FROM clients WHERE app_id = ? AND integration_id = ? AND external_id = ?)';
  // The integration may have been deleted while this isolate's cache still held it: then nobody is created.
  const integrationLives = 'EXISTS (SELECT 1 FROM integrations WHERE app_id = ? AND id = ?)';
  await env.DB.batch([
    env.DB.prepare(
      `INSERT INTO users (id, app_id, external_id, signed_up_at, to_be_retained, authenticated, profile, metadata, identities, created_at)
       SELECT ?, ?, NULL, ?, 0, 0, ?, '{}', '[]', ? WHERE ${noClientYet} AND ${integrationLives}`,
    ).bind(userId, integration.appId, now, JSON.stringify(profile), now, integration.appId, integration.id, user.externalId, integration.appId, integration.id),
    env.DB.prepare(
      `INSERT INTO clients (id, app_id, user_id, type, status, integration_id, external_id, last_seen, linked_at, display_name, avatar_url, info, raw, conversation_id, created_at)
       SELECT ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${noClientYet} AND EXISTS (SELECT 1 FROM users WHERE id = ?)`,
    ).bind(
      newId(),
      integration.appId,
      userId,
      integration.type,
      integration.id,
      user.externalId,
      now,
      now,
      user.displayName ?? null,
      user.avatarUrl ?? null,
      user.info ? JSON.stringify(user.info) : null,
      user.raw ? JSON.stringify(user.raw) : null,
      conversationId,
      now,
      integration.appId,
      integration.id,
      user.externalId,
      userId,
    ),
  ]);
  // Whoever won the race, the stored client is the truth.
  forgetIdentity(integration.id, user.externalId);
  const resolved = await findIdentity(env, integration, user.externalId);
  if (!resolved) throw notFound('integration_not_found', 'No channel integration at this URL');
  await ensureConversation(env, integration, resolved, creationReason);
  return resolved;
}

/** Opens the identity's personal conversation if it does not exist yet; the user's object decides whether it is the default. */
export async function ensureConversation(env: Env, integration: ChannelIntegration, identity: ResolvedIdentity, creationReason = 'message'): Promise<void> {
  const { userId, userExternalId } = identity.client;
  await openPersonalConversation(env, integration.appId, { userId, userExternalId: userExternalId ?? null }, identity.conversationId, creationReason, {
    type: integration.type,
    integrationId: integration.id,
  });
}

/**
 * Creates (idempotently) a personal conversation of one user and indexes it;
 * the user's object records the first one offered as the default.
 */
export async function openPersonalConversation(
  env: Env,
  appId: string,
  user: { userId: string; userExternalId: string | null },
  conversationId: string,
  creationReason: string,
  source: { type: string; integrationId: string },
  announce = true,
  firstMessage?: ConversationInit['firstMessage'],
): Promise<Conversation> {
  const isDefault = (await conversationStub(env, appId, user.userId).claimDefaultConversation(conversationId)) === conversationId;
  const created = await conversationStub(env, appId, conversationId).create({
    id: conversationId,
    appId,
    type: 'personal',
    isDefault,
    metadata: null,
    participants: [user],
    creationReason,
    source,
    ...(announce ? {} : { announce: false }),
    ...(firstMessage ? { firstMessage } : {}),
    policy: await appPolicy(env, appId),
  });
  if (!created.ok) throw new Error(`personal conversation ${conversationId} could not be opened: ${created.title}`);
  await indexNow(indexConversation(env, appId, created.value.conversation, created.value.participants));
  return created.value.conversation;
}

function toIdentity(integration: ChannelIntegration, externalId: string, row: ClientRow): ResolvedIdentity {
  const raw = row.raw ? (JSON.parse(row.raw) as Record<string, unknown>) : null;
  return {
    conversationId: row.conversation_id,
    client: {
      id: row.id,
      integrationId: integration.id,
      type: integration.type,
      externalId,
      userId: row.user_id,
      ...(row.user_external_id ? { userExternalId: row.user_external_id } : {}),
      raw,
      view: {
        id: row.id,
        type: integration.type,
        status: row.status,
        integrationId: integration.id,
        externalId,
        lastSeen: row.last_seen,
        linkedAt: row.linked_at,
        displayName: row.display_name,
        avatarUrl: row.avatar_url,
        info: row.info ? JSON.parse(row.info) : null,
        raw,
      },
    },
  };
}
