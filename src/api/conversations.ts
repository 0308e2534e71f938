/**
 * `/v2/apps/{appId}/conversations`: create (personal, sdkGroup), get, update,
 * delete, and list a user's conversations. The ConversationDO owns the
 * conversation; the D1 index is written after it commits.
 */
import { appPolicy } from '../db/app-policy';
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { hasPersonalConversation, indexConversation, listUserConversations, unindexConversation } from '../db/conversations';
import { findUserByExternalId, findUserById, type User } from '../db/users';
import { notFound, unwrap } from '../http/errors';
import { idPage, pageEnvelope } from '../http/links';
import { parseWith, readBody, readQuery } from '../http/request';
import { newId } from '../ids';
import { conversationCreateBody, conversationListQuery, conversationUpdateBody, type ParticipantRef } from '../schema/conversation';
import { pageQuery, toPage } from '../schema/pagination';
import { pickPage } from './apps';
import { deleteConversationUploads } from './attachments';
import { appContext, conversationStub, indexNow, json } from './context';

export async function resolveParticipant(env: Env, appId: string, ref: { userId?: string; userExternalId?: string }, field: string): Promise<User> {
  const user = ref.userId !== undefined ? await findUserById(env, appId, ref.userId) : await findUserByExternalId(env, appId, ref.userExternalId!);
  if (!user) throw notFound('user_not_found', `${field}: user not found`);
  return user;
}

export async function create(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, conversationCreateBody);
  const refs: ParticipantRef[] = body.participants ?? [];
  const users = await Promise.all(refs.map((ref, i) => resolveParticipant(env, appId, ref, `participants[${i}]`)));
  const id = newId();
  // The user's own object settles "first personal conversation" atomically; D1 alone would let two
  // concurrent creates both see none and both become the default.
  const isDefault =
    body.type === 'personal' &&
    !(await hasPersonalConversation(env, appId, users[0]!.id)) &&
    (await conversationStub(env, appId, users[0]!.id).claimDefaultConversation(id)) === id;
  const created = unwrap(
    await conversationStub(env, appId, id).create({
      id,
      appId,
      type: body.type,
      isDefault,
      ...(body.displayName !== undefined ? { displayName: body.displayName } : {}),
      ...(body.description !== undefined ? { description: body.description } : {}),
      ...(body.iconUrl !== undefined ? { iconUrl: body.iconUrl } : {}),
      metadata: body.metadata ?? null,
      participants: [...new Map(users.map((u) => [u.id, { userId: u.id, userExternalId: u.externalId ?? null }])).values()],
      policy: await appPolicy(env, appId),
    }),
  );
  await indexNow(indexConversation(env, appId, created.conversation, created.participants));
  return json({ conversation: created.conversation }, 201);
}

export async function get(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const { conversation } = unwrap(await conversationStub(env, appId, request.params.conversationId!).get());
  return json({ conversation });
}

export async function update(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, conversationUpdateBody);
  const stub = conversationStub(env, appId, request.params.conversationId!);
  const conversation = unwrap(await stub.update(body));
  await indexNow(indexConversation(env, appId, conversation, []));
  return json({ conversation });
}

export async function remove(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const conversationId = request.params.conversationId!;
  unwrap(await conversationStub(env, appId, conversationId).remove());
  await indexNow(unindexConversation(env, appId, conversationId));
  await deleteConversationUploads(env, appId, [conversationId]);
  return json({});
}

export async function list(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const filter = readQuery(request, conversationListQuery);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  const userId = filter['filter[userId]'];
  const user = userId !== undefined ? await findUserById(env, appId, userId) : await findUserByExternalId(env, appId, filter['filter[userExternalId]']!);
  if (!user) throw notFound('user_not_found', 'User not found');
  const rows = await listUserConversations(env, appId, user.id, page);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  // D1 says which conversations; each DO says what they hold now, so a listing never shows a
  // staler lastUpdatedAt or businessLastRead than a get. One DO request per listed conversation.
  const fresh = await Promise.all(items.map(async (c) => conversationStub(env, appId, c.id).get()));
  const conversations = fresh.flatMap((r) => (r.ok ? [r.value.conversation] : []));
  return json({ conversations, ...pageEnvelope(request, meta) });
}
