/**
 * `/v2/apps/{appId}/users/{userIdOrExternalId}/devices`: the browsers (and,
 * were there native SDKs, phones) through which a user reaches the app, each
 * a device of one of their clients.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { getDevice, listDevices } from '../db/devices';
import { notFound } from '../http/errors';
import { ID_PATTERN } from '../ids';
import { appContext, json, requireUser } from './context';

export async function list(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  return json({ devices: await listDevices(env, appId, user.id) });
}

export async function get(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const user = await requireUser(env, appId, request.params.userIdOrExternalId!);
  const id = request.params.deviceId!;
  const device = ID_PATTERN.test(id) ? await getDevice(env, appId, user.id, id) : undefined;
  if (!device) throw notFound('device_not_found', 'Device not found');
  return json({ device });
}
