/**
 * `/v2/apps/{appId}/switchboards`: the app's switchboard and its switchboard
 * integrations (app and account keys only, as in the contract), and the four
 * control actions on a conversation (`passControl`, `offerControl`,
 * `acceptControl`, `releaseControl`), open to integration keys too, which may
 * only act as the switchboard integration standing for them. The actions
 * answer `{}` like Sunshine; what the conversation's state refuses is
 * announced by the action's `:failure` event.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import {
  cachedSwitchboard,
  createSwitchboard,
  createSwitchboardIntegration,
  deleteSwitchboard,
  deleteSwitchboardIntegration,
  getSwitchboard,
  listSwitchboardIntegrations,
  switchboardIntegrationNotFound,
  switchboardNotFound,
  updateSwitchboard,
  updateSwitchboardIntegration,
} from '../db/switchboards';
import { getIntegration } from '../db/integrations';
import { switchboardConfig } from '../db/app-policy';
import { forbidden, unwrap } from '../http/errors';
import { readBody } from '../http/request';
import { ID_PATTERN } from '../ids';
import {
  acceptControlBody,
  offerControlBody,
  passControlBody,
  releaseControlBody,
  switchboardIntegrationCreateBody,
  switchboardIntegrationUpdateBody,
  switchboardUpdateBody,
  type ControlAction,
} from '../schema/switchboard';
import { appContext, conversationStub, json, managerContext } from './context';

/** The switchboard the path names; ids Parley never minted are answered without a D1 read. */
async function switchboardContext(request: IRequest, env: Env): Promise<{ appId: string; switchboardId: string }> {
  const appId = await managerContext(request, env);
  const switchboardId = request.params.switchboardId!;
  if (!ID_PATTERN.test(switchboardId) || !(await getSwitchboard(env, appId, switchboardId))) throw switchboardNotFound();
  return { appId, switchboardId };
}

function integrationIdParam(request: IRequest): string {
  const id = request.params.switchboardIntegrationId!;
  if (!ID_PATTERN.test(id)) throw switchboardIntegrationNotFound();
  return id;
}

// ---- switchboards ----------------------------------------------------------

export async function create(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  return json({ switchboard: await createSwitchboard(env, appId) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const switchboard = await getSwitchboard(env, appId);
  return json({ switchboards: switchboard ? [switchboard] : [] });
}

export async function update(request: IRequest, env: Env) {
  const { appId, switchboardId } = await switchboardContext(request, env);
  const body = await readBody(request, switchboardUpdateBody);
  return json({ switchboard: await updateSwitchboard(env, appId, switchboardId, body) });
}

export async function remove(request: IRequest, env: Env) {
  const { appId, switchboardId } = await switchboardContext(request, env);
  if (!(await deleteSwitchboard(env, appId, switchboardId))) throw switchboardNotFound();
  return json({});
}

// ---- switchboard integrations ------------------------------------------------

export async function createIntegration(request: IRequest, env: Env) {
  const { appId, switchboardId } = await switchboardContext(request, env);
  const body = await readBody(request, switchboardIntegrationCreateBody);
  return json({ switchboardIntegration: await createSwitchboardIntegration(env, appId, switchboardId, body) }, 201);
}

export async function listIntegrations(request: IRequest, env: Env) {
  const { appId, switchboardId } = await switchboardContext(request, env);
  return json({ switchboardIntegrations: await listSwitchboardIntegrations(env, appId, switchboardId) });
}

export async function updateIntegration(request: IRequest, env: Env) {
  const { appId, switchboardId } = await switchboardContext(request, env);
  const id = integrationIdParam(request);
  const body = await readBody(request, switchboardIntegrationUpdateBody);
  return json({ switchboardIntegration: await updateSwitchboardIntegration(env, appId, switchboardId, id, body) });
}

export async function removeIntegration(request: IRequest, env: Env) {
  const { appId, switchboardId } = await switchboardContext(request, env);
  await deleteSwitchboardIntegration(env, appId, switchboardId, integrationIdParam(request));
  return json({});
}

// ---- control actions -------------------------------------------------------

const BODIES: Record<ControlAction, v.GenericSchema<unknown, { switchboardIntegration?: string; metadata?: Record<string, unknown> }>> = {
  passControl: passControlBody,
  offerControl: offerControlBody,
  acceptControl: acceptControlBody,
  releaseControl: releaseControlBody,
};

/** acceptControl and releaseControl may come without a body at all. */
async function controlBody(request: IRequest, action: ControlAction) {
  const empty = request.headers.get('content-length') === '0' || (!request.headers.get('content-type') && !request.body);
  if (empty && (action === 'acceptControl' || action === 'releaseControl')) return {};
  return readBody(request, BODIES[action]);
}

export const control = (action: ControlAction) => async (request: IRequest, env: Env) => {
  const { appId, principal } = await appContext(request, env);
  const stub = conversationStub(env, appId, request.params.conversationId!);
  const body = await controlBody(request, action);
  const sb = await cachedSwitchboard(env, appId, true);
  if (!sb) throw switchboardNotFound();
  const caller = principal.scope === 'integration' ? await getIntegration(env, appId, principal.integrationId) : undefined;
  // An integration key still cached somewhere after its integration went must not act with an app's powers.
  if (principal.scope === 'integration' && !caller) throw forbidden('The integration behind this key no longer exists');
  const historyCounts = Object.fromEntries(sb.integrations.filter((i) => i.messageHistoryCount).map((i) => [i.id, i.messageHistoryCount!]));
  unwrap(
    await stub.control({
      action,
      ...(body.switchboardIntegration !== undefined ? { target: body.switchboardIntegration } : {}),
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(caller ? { caller: { integrationId: caller.id, integrationType: caller.type } } : {}),
      config: switchboardConfig(sb),
      historyCounts,
    }),
  );
  return json({});
};
