/**
 * `/v2/apps/{appId}/integrations`: create, list, get, update and delete
 * integrations (custom for now; channels add their type to the schema), and
 * the API keys of custom integrations (`.../integrations/{id}/keys`), whose
 * secret is shown once, at creation.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import {
  createCustomIntegration,
  createIntegrationKey,
  deleteIntegration,
  deleteIntegrationKey,
  getIntegration,
  getIntegrationKey,
  listIntegrationKeys,
  listIntegrations,
  listWebhooks,
  updateIntegration,
  type Integration,
  type Webhook,
} from '../db/integrations';
import { badRequest, notFound } from '../http/errors';
import { idPage, pageEnvelope } from '../http/links';
import { parseWith, readBody, readQuery } from '../http/request';
import { ID_PATTERN } from '../ids';
import { keyCreateBody } from '../schema/app';
import { INTEGRATION_LIMITS, integrationListQuery, integrationUpdateBodies, requestBodies } from '../schema/integration';
import { pageQuery, toPage } from '../schema/pagination';
import { isLocal } from '../webhooks/targets';
import { pickPage } from './apps';
import { requireAppOrAccount } from '../auth/authenticate';
import { appContext, json } from './context';

/** The v2 webhook object; Sunshine returns the secret whenever it returns the webhook. */
export const webhookView = (w: Webhook) => ({
  id: w.id,
  version: w.version,
  target: w.target,
  triggers: w.triggers,
  includeFullUser: w.includeFullUser,
  includeFullSource: w.includeFullSource,
  secret: w.secret,
});

/** The v2 integration object: the common fields, then the type's own (a custom integration's are its webhooks). */
export const integrationView = (i: Integration, webhooks: Webhook[]) => ({
  id: i.id,
  type: i.type,
  status: i.status,
  displayName: i.displayName,
  ...(i.type === 'custom' ? { webhooks: webhooks.filter((w) => w.integrationId === i.id).map(webhookView) } : {}),
});

const tooManyWebhooks = () => badRequest(`An app can have at most ${INTEGRATION_LIMITS.webhooksPerApp} webhooks; delete one first`);

/** Ids Parley never minted are answered without a D1 read. */
export async function requireIntegration(env: Env, appId: string, integrationId: string): Promise<Integration> {
  const integration = ID_PATTERN.test(integrationId) ? await getIntegration(env, appId, integrationId) : undefined;
  if (!integration) throw notFound('integration_not_found', 'Integration not found');
  return integration;
}

export async function create(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const body = await readBody(request, requestBodies(isLocal(env)).integrationCreate);
  // `custom` is the only type the schema lets through for now; channel types will branch on body.type here.
  const created = await createCustomIntegration(env, appId, { displayName: body.displayName ?? null, webhook: body.webhooks[0]! });
  if (created === 'too_many_webhooks') throw tooManyWebhooks();
  return json({ integration: integrationView(created.integration, [created.webhook]) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const filter = readQuery(request, integrationListQuery);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  const rows = await listIntegrations(env, appId, page, filter['filter[types]']);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  // An app has at most 10 webhooks, so one read covers every custom integration on the page.
  const webhooks = items.some((i) => i.type === 'custom') ? await listWebhooks(env, appId) : [];
  return json({ integrations: items.map((i) => integrationView(i, webhooks)), ...pageEnvelope(request, meta) });
}

export async function get(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireIntegration(env, appId, request.params.integrationId!);
  return json({ integration: integrationView(integration, await listWebhooks(env, appId, integration.id)) });
}

export async function update(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireIntegration(env, appId, request.params.integrationId!);
  const body = await readBody(request, integrationUpdateBodies[integration.type]);
  const next: Integration = { ...integration, ...(body.displayName !== undefined ? { displayName: body.displayName } : {}) };
  await updateIntegration(env, appId, next);
  return json({ integration: integrationView(next, await listWebhooks(env, appId, integration.id)) });
}

export async function remove(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integrationId = request.params.integrationId!;
  if (!ID_PATTERN.test(integrationId) || !(await deleteIntegration(env, appId, integrationId))) {
    throw notFound('integration_not_found', 'Integration not found');
  }
  return json({});
}

// ---- custom-integration API keys ----------------------------------------------

async function requireCustomIntegration(env: Env, appId: string, integrationId: string): Promise<Integration> {
  const integration = await requireIntegration(env, appId, integrationId);
  if (integration.type !== 'custom') throw badRequest('API keys are available only for custom integrations');
  return integration;
}

const keyNotFound = () => notFound('key_not_found', 'Key not found');

export async function createKey(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const body = await readBody(request, keyCreateBody);
  const integration = await requireCustomIntegration(env, appId, request.params.integrationId!);
  const key = await createIntegrationKey(env, appId, integration.id, body.displayName);
  if (key === 'too_many_keys') throw badRequest(`A custom integration can have at most ${INTEGRATION_LIMITS.keysPerIntegration} keys; delete one first`);
  return json({ key }, 201);
}

export async function listKeys(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireCustomIntegration(env, appId, request.params.integrationId!);
  return json({ keys: await listIntegrationKeys(env, appId, integration.id) });
}

export async function getKey(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireCustomIntegration(env, appId, request.params.integrationId!);
  const key = await getIntegrationKey(env, appId, integration.id, request.params.keyId!);
  if (!key) throw keyNotFound();
  return json({ key });
}

export async function removeKey(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireCustomIntegration(env, appId, request.params.integrationId!);
  if (!(await deleteIntegrationKey(env, appId, integration.id, request.params.keyId!))) throw keyNotFound();
  return json({});
}
