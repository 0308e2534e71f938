/** `/v2/apps/{appId}/keys`: app keys, managed with the account key. The secret is shown once, at creation. */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { requireAccount } from '../auth/authenticate';
import { countKeys, createKey, deleteKey, getKey, listKeys } from '../db/keys';
import { badRequest, notFound } from '../http/errors';
import { readBody } from '../http/request';
import { keyCreateBody } from '../schema/app';
import { LIMITS } from '../schema/common';
import { appContext, json } from './context';

export async function create(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAccount(principal);
  const body = await readBody(request, keyCreateBody);
  if ((await countKeys(env, appId)) >= LIMITS.keysPerApp) throw badRequest(`An app can have at most ${LIMITS.keysPerApp} keys; delete one first`);
  return json({ key: await createKey(env, appId, body.displayName) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAccount(principal);
  return json({ keys: await listKeys(env, appId) });
}

export async function get(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAccount(principal);
  const key = await getKey(env, appId, request.params.keyId!);
  if (!key) throw notFound('key_not_found', 'Key not found');
  return json({ key });
}

export async function remove(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAccount(principal);
  if (!(await deleteKey(env, appId, request.params.keyId!))) throw notFound('key_not_found', 'Key not found');
  return json({});
}
