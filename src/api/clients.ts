/**
 * `/v2/apps/{appId}/users/{userIdOrExternalId}/clients`: linking a channel
 * identity to a user (createClient, durable/linking.ts) and removing a channel
 * client from its user. The conversation the client writes into
 * learns first (it stops delivering to the client, refuses its identity from
 * then on and raises `client:remove`), then D1 forgets the identity, so the
 * same channel user writing again becomes a new user. A call repeated after a
 * failure raises no second event. `sdk` clients (Web Messenger browsers)
 * belong to their user and go with it.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { forgetIdentity } from '../channels/identity';
import { channelIntegration } from '../channels/store';
import { clientCreateBody } from '../schema/client';
import { readBody } from '../http/request';
import { newId } from '../ids';
import { conflict } from '../http/errors';
import { deleteClient, findClient } from '../db/users';
import { WEB_CLIENT_TYPE } from '../db/web-clients';
import { badRequest, notFound, unwrap } from '../http/errors';
import { ID_PATTERN } from '../ids';
import { appContext, conversationStub, json, requireUser } from './context';

export async function remove(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  const clientId = request.params.clientId!;
  const client = ID_PATTERN.test(clientId) ? await findClient(env, appId, user.id, clientId) : undefined;
  if (!client) throw notFound('client_not_found', 'Client not found');
  if (client.type === WEB_CLIENT_TYPE) throw badRequest('clientId: sdk clients cannot be removed; they go with their user');
  const { conversationId, ...view } = client;
  if (conversationId) unwrap(await conversationStub(env, appId, conversationId).removeClient(client.id, user.id, view));
  await deleteClient(env, appId, client.id);
  if (client.integrationId && client.externalId) forgetIdentity(client.integrationId, client.externalId);
  return json({});
}

type ExistingRow = { id: string; user_id: string; conversation_id: string | null; status: string; display_name: string | null; avatar_url: string | null; info: string | null; raw: string | null; last_seen: string | null };

/**
 * createClient: the identity the match criteria name joins the target
 * conversation as the user's client (status `pending` until confirmed). An
 * identity that belonged to another user moves (`client:remove` reason
 * `theft` for them); one the user already has is a 409.
 */
export async function create(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, clientCreateBody);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  const { matchCriteria: match, confirmation, target } = body;
  const integration = await channelIntegration(env, match.integrationId);
  if (!integration || integration.appId !== appId || integration.type !== match.type) throw badRequest(`matchCriteria.integrationId: the app has no ${match.type} integration with that id`);
  if (!integration.adapter.notificationRecipient || match.phoneNumber === undefined) throw badRequest(`matchCriteria.type: Parley links phone numbers (twilio, whatsapp, messagebird); ${match.type} identities cannot be linked yet`);
  const recipient = integration.adapter.notificationRecipient(match.phoneNumber);
  if (typeof recipient === 'string') throw badRequest(`matchCriteria.phoneNumber: ${recipient}`);
  const stub = conversationStub(env, appId, target.conversationId);
  const { participants } = unwrap(await stub.get());
  if (!participants.some((p) => p.userId === user.id)) throw badRequest('target.conversationId: the user is not a participant of that conversation');

  const now = new Date().toISOString();
  const status = confirmation.type === 'immediate' ? 'active' : 'pending';
  const existing = await env.DB.prepare('SELECT * FROM clients WHERE app_id = ? AND integration_id = ? AND external_id = ?').bind(appId, integration.id, recipient.externalId).first<ExistingRow>();
  // The user has it already: a 409, unless an earlier call stopped before the conversation learned of the link (then it completes).
  const resuming = existing?.user_id === user.id;
  if (resuming && existing.conversation_id !== target.conversationId) throw conflict('matchCriteria: the user already has a client for this identity');
  const id = existing?.id ?? newId();
  const view = {
    id,
    type: integration.type,
    status,
    integrationId: integration.id,
    externalId: recipient.externalId,
    lastSeen: existing?.last_seen ?? null,
    linkedAt: now,
    displayName: existing?.display_name ?? recipient.displayName ?? null,
    avatarUrl: existing?.avatar_url ?? null,
    info: existing?.info ? JSON.parse(existing.info) : (recipient.info ?? null),
    raw: existing?.raw ? JSON.parse(existing.raw) : null,
  };
  if (existing && !resuming) {
    // The identity was another user's: it stops reaching them, then follows the link (unless someone else took it meanwhile).
    if (existing.conversation_id) unwrap(await conversationStub(env, appId, existing.conversation_id).removeClient(existing.id, existing.user_id, { ...view, status: existing.status }, 'theft'));
    const moved = await env.DB.prepare('UPDATE clients SET user_id = ?, conversation_id = ?, status = ?, linked_at = ? WHERE app_id = ? AND id = ? AND user_id = ?')
      .bind(user.id, target.conversationId, status, now, appId, id, existing.user_id)
      .run();
    forgetIdentity(integration.id, recipient.externalId);
    if (moved.meta.changes === 0) throw conflict('matchCriteria: the identity changed hands while it was being linked; retry');
  } else if (!existing) {
    await env.DB.prepare(
      `INSERT INTO clients (id, app_id, user_id, type, status, integration_id, external_id, last_seen, linked_at, display_name, avatar_url, info, raw, conversation_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?, NULL, ?, ?)`,
    )
      .bind(id, appId, user.id, integration.type, status, integration.id, recipient.externalId, now, view.displayName, view.info ? JSON.stringify(view.info) : null, target.conversationId, now)
      .run();
  }
  const promptText = { type: 'text' as const, text: 'Reply to this message to continue your conversation with us here.' };
  const given = confirmation.message;
  const author = { type: 'business' as const, ...(given?.author?.displayName ? { displayName: given.author.displayName } : {}), ...(given?.author?.avatarUrl ? { avatarUrl: given.author.avatarUrl } : {}) };
  const message = given?.content ?? (confirmation.type === 'prompt' ? promptText : undefined);
  const linked = unwrap(
    await stub.link({
      client: { id, integrationId: integration.id, type: integration.type, externalId: recipient.externalId, userId: user.id, ...(user.externalId ? { userExternalId: user.externalId } : {}), raw: null, view },
      confirmation: confirmation.type,
      primary: match.primary ?? true,
      ...(message && confirmation.type !== 'userActivity' ? { message: { author, content: message } } : {}),
    }),
  );
  if (linked.already) throw conflict('matchCriteria: the user already has a client for this identity');
  return json({ client: view }, 201);
}
