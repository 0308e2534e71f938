/**
 * `/v2/apps/{appId}/users/{userIdOrExternalId}/clients/{clientId}`: removing
 * a channel client from its user. The conversation the client writes into
 * learns first (it stops delivering to the client, refuses its identity from
 * then on and raises `client:remove`), then D1 forgets the identity, so the
 * same channel user writing again becomes a new user. A call repeated after a
 * failure raises no second event. `sdk` clients (Web Messenger browsers)
 * belong to their user and go with it.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { forgetIdentity } from '../channels/identity';
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
