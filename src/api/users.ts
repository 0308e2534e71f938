/**
 * `/v2/apps/{appId}/users`: create, get, update and delete users by id or
 * externalId, scrub personal information, and list a user's clients.
 */
import type { IRequest } from 'itty-router';
import { deleteConversationUploads, deleteUploads } from './attachments';
import { deleteChannelMedia, scrubChannelMedia } from '../channels/media';
import type { Env } from '../env';
import { userConversationIds } from '../db/conversations';
import { createUser, deleteUser, listClients, saveUser, scrubUser, type User } from '../db/users';
import { conflict, unwrap } from '../http/errors';
import { idPage, pageEnvelope } from '../http/links';
import { parseWith, readBody } from '../http/request';
import { pageQuery, toPage } from '../schema/pagination';
import { userCreateBody, userUpdateBody } from '../schema/user';
import { userRemoveEvent, userUpdateEvent } from '../webhooks/events';
import { pickPage } from './apps';
import { appContext, conversationStub, json, requireUser } from './context';

/** The v2 user object. */
export const userView = (u: User) => ({
  id: u.id,
  externalId: u.externalId ?? null,
  signedUpAt: u.signedUpAt ?? null,
  toBeRetained: u.toBeRetained,
  authenticated: u.authenticated,
  profile: u.profile,
  metadata: u.metadata,
  identities: u.identities,
});

export async function create(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, userCreateBody);
  const user = await createUser(env, appId, body);
  if (user === 'conflict') throw conflict('User already exists');
  return json({ user: userView(user) }, 201);
}

export async function get(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  return json({ user: userView(await requireUser(env, appId, request.params.userIdOrExternalId!)) });
}

export async function update(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, userUpdateBody);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  const next: User = {
    ...user,
    ...(body.signedUpAt !== undefined ? { signedUpAt: body.signedUpAt } : {}),
    ...(body.toBeRetained !== undefined ? { toBeRetained: body.toBeRetained } : {}),
    // Profile fields merge; an explicit null clears one.
    profile: Object.fromEntries(Object.entries({ ...user.profile, ...body.profile }).filter(([, v]) => v !== null)),
    ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
  };
  await saveUser(env, appId, next);
  const view = userView(next);
  // After the save: a receiver told of the change reads the new values.
  await conversationStub(env, appId, next.id).raiseUserEvent(appId, next.id, userUpdateEvent(view, { type: 'api:users' }));
  return json({ user: view });
}

/** Deletes the user, its clients, its personal conversations' history, its uploads and channel media; it leaves its group conversations. */
export async function remove(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  // The event is committed first: if the deletion then fails, a repeat of the call deletes and the receiver
  // may see user:remove twice (at least once), never zero times.
  await conversationStub(env, appId, user.id).raiseUserEvent(appId, user.id, userRemoveEvent({ id: user.id, ...(user.externalId ? { externalId: user.externalId } : {}) }));
  const conversations = await userConversationIds(env, appId, user.id);
  // The conversations go first: if this fails halfway, the user still exists and the call can be repeated.
  await Promise.all(conversations.map(async (c) => unwrap(await conversationStub(env, appId, c.id).forgetUser(user.id))));
  await deleteUser(env, appId, user.id);
  await deleteUploads(env, appId, user.id);
  await deleteConversationUploads(env, appId, conversations.filter((c) => c.type === 'personal').map((c) => c.id));
  await deleteChannelMedia(env, appId, user.id);
  return json({});
}

export async function scrub(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  await deleteUploads(env, appId, user.id);
  await scrubChannelMedia(env, appId, user.id);
  return json({ user: userView(await scrubUser(env, appId, user)) });
}

export async function clients(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  const rows = await listClients(env, appId, user.id, page);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  return json({ clients: items, ...pageEnvelope(request, meta) });
}
