/**
 * `/v2/apps/{appId}/integrations/{integrationId}/webhooks`: create, list, get,
 * update and delete a custom integration's webhooks (at most 10 per app), and
 * Parley's additive `POST .../webhooks/{webhookId}/rotateSecret`.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { createWebhook, deleteWebhook, getWebhook, listWebhooks, rotateWebhookSecret, updateWebhook } from '../db/integrations';
import { badRequest, notFound, forbidden } from '../http/errors';
import { readBody } from '../http/request';
import { ID_PATTERN } from '../ids';
import { INTEGRATION_LIMITS, requestBodies } from '../schema/integration';
import { isLocal } from '../http/targets';
import { appContext, json } from './context';
import { carriesWebhooks, requireIntegration, webhookView } from './integrations';

/** The app and integration a webhook route acts on; custom and OAuth integrations carry webhooks. */
export async function integrationContext(request: IRequest, env: Env): Promise<{ appId: string; integrationId: string }> {
  const { appId, principal } = await appContext(request, env);
  // `me` is the contract's alias for the calling integration's own id.
  let integrationId = request.params.integrationId!;
  if (integrationId === 'me') {
    if (principal.scope !== 'integration') throw badRequest('integrations/me is only for integration keys; use the integration id');
    integrationId = principal.integrationId;
  }
  // An integration key manages only its own integration's webhooks.
  if (principal.scope === 'integration' && principal.integrationId !== integrationId) throw forbidden('An integration key manages only its own webhooks');
  const integration = await requireIntegration(env, appId, integrationId);
  if (!carriesWebhooks(integration)) throw badRequest('Webhooks are available only for custom and OAuth integrations');
  return { appId, integrationId: integration.id };
}

/** Ids Parley never minted are answered without a D1 read. */
function webhookId(request: IRequest): string {
  const id = request.params.webhookId!;
  if (!ID_PATTERN.test(id)) throw webhookNotFound();
  return id;
}

const webhookNotFound = () => notFound('not_found', 'Webhook not found');

export async function create(request: IRequest, env: Env) {
  const { appId, integrationId } = await integrationContext(request, env);
  const body = await readBody(request, requestBodies(isLocal(env)).webhookCreate);
  const webhook = await createWebhook(env, appId, integrationId, body);
  if (webhook === 'too_many_webhooks') throw badRequest(`An app can have at most ${INTEGRATION_LIMITS.webhooksPerApp} webhooks; delete one first`);
  return json({ webhook: webhookView(webhook) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const { appId, integrationId } = await integrationContext(request, env);
  return json({ webhooks: (await listWebhooks(env, appId, integrationId)).map(webhookView) });
}

export async function get(request: IRequest, env: Env) {
  const { appId, integrationId } = await integrationContext(request, env);
  const webhook = await getWebhook(env, appId, integrationId, webhookId(request));
  if (!webhook) throw webhookNotFound();
  return json({ webhook: webhookView(webhook) });
}

export async function update(request: IRequest, env: Env) {
  const { appId, integrationId } = await integrationContext(request, env);
  const body = await readBody(request, requestBodies(isLocal(env)).webhookUpdate);
  const webhook = await updateWebhook(env, appId, integrationId, webhookId(request), body);
  if (!webhook) throw webhookNotFound();
  return json({ webhook: webhookView(webhook) });
}

export async function remove(request: IRequest, env: Env) {
  const { appId, integrationId } = await integrationContext(request, env);
  if (!(await deleteWebhook(env, appId, integrationId, webhookId(request)))) throw webhookNotFound();
  return json({});
}

/** Issues a new secret; the replaced one stays valid, and listed by appWebhooks, for 24 hours. */
export async function rotateSecret(request: IRequest, env: Env) {
  const { appId, integrationId } = await integrationContext(request, env);
  const webhook = await rotateWebhookSecret(env, appId, integrationId, webhookId(request));
  if (!webhook) throw webhookNotFound();
  return json({ webhook: webhookView(webhook) });
}
