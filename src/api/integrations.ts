/**
 * `/v2/apps/{appId}/integrations`: create, list, get, update and delete
 * integrations — custom ones (webhooks) and channel ones, whose settings each
 * channel adapter validates and whose setup (Telegram's setWebhook, reading a
 * page's name) runs at create and when credentials change — and the API keys
 * of custom integrations (`.../integrations/{id}/keys`), whose secret is shown
 * once, at creation.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { adapterFor, type ChannelConfig } from '../channels/registry';
import { forgetChannelIntegration, openConfig, sealConfig } from '../channels/store';
import {
  createCustomIntegration,
  createIntegrationKey,
  deleteIntegration,
  deleteIntegrationKey,
  getIntegration,
  getIntegrationKey,
  insertChannelIntegration,
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
import { ID_PATTERN, newId } from '../ids';
import { keyCreateBody } from '../schema/app';
import { webSettings, webSettingsUpdate, webView, type WebSettings } from '../schema/web';
import { forgetWebIntegration } from '../web/integration';
import { isOAuthIntegration } from '../db/oauth';
import { customUpdateBody, INTEGRATION_LIMITS, integrationCommon, integrationListQuery, requestBodies } from '../schema/integration';
import { boundedString } from '../schema/common';
import { pageQuery, toPage } from '../schema/pagination';
import { channelContext } from '../channels/http';
import { checkTarget, isLocal } from '../http/targets';
import { pickPage } from './apps';
import { requireAppOrAccount } from '../auth/authenticate';
import { appContext, json } from './context';
import { afterIntegrationRemoved } from './oauth';
import { createStripe, STRIPE, stripeView, updateStripe } from '../payments/stripe-integration';

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

/** Custom integrations and OAuth ones (whose type is the partner's client id) carry webhooks and nothing else. */
export const carriesWebhooks = (i: Integration) => i.type === 'custom' || isOAuthIntegration(i);

/**
 * The v2 integration object: the common fields, then the type's own (a custom
 * or OAuth integration's webhooks; a channel's non-secret settings, plus Parley's
 * additive `webhookUrl` to paste into the channel's console, and `error`
 * saying why setup failed when `status` is `error`).
 */
export async function integrationView(env: Env, i: Integration, webhooks: Webhook[]) {
  const common = { id: i.id, type: i.type, status: i.status, displayName: i.displayName };
  if (carriesWebhooks(i)) return { ...common, webhooks: webhooks.filter((w) => w.integrationId === i.id).map(webhookView) };
  if (i.type === 'web') return { ...common, ...webView(i.config as WebSettings) };
  if (i.type === STRIPE) return { ...common, ...stripeView(i) };
  const adapter = adapterFor(i.type)!;
  const { webhookUrl, apiBaseUrl, setupError, ...config } = await openConfig(env, i.config);
  return {
    ...common,
    ...adapter.view(config as ChannelConfig),
    webhookUrl,
    ...(apiBaseUrl ? { apiBaseUrl } : {}),
    ...(i.status === 'error' && setupError ? { error: setupError } : {}),
  };
}

/** Where channels reach this Parley: PUBLIC_URL when set (behind a proxy or custom domain), else the API's own origin. */
const publicBase = (request: Request, env: Env) => (env.PUBLIC_URL ?? new URL(request.url).origin).replace(/\/+$/, '');

/** A channel API override must be as safe a target as a webhook: no private networks in production. */
function checkApiBase(config: ChannelConfig, local: boolean): void {
  if (config.apiBaseUrl === undefined) return;
  const problem = checkTarget(config.apiBaseUrl, local);
  if (problem) throw badRequest(`apiBaseUrl: ${problem}`);
}

/** Runs the channel's setup and folds its outcome into the settings and status to store. */
async function runSetup(env: Env, type: string, id: string, config: ChannelConfig): Promise<{ status: Integration['status']; config: ChannelConfig }> {
  const adapter = adapterFor(type)!;
  const webhookUrl = String(config.webhookUrl);
  const { setupError: _previous, ...base } = config;
  if (!adapter.setup) return { status: 'active', config: base };
  const outcome = await adapter.setup(channelContext(env, adapter, base, webhookUrl)).catch((err: unknown) => ({
    status: 'error' as const,
    error: `Could not reach the channel to set up integration ${id}: ${err instanceof Error ? err.message : String(err)}; check apiBaseUrl and retry with PATCH`,
    config: undefined,
  }));
  const next = { ...base, ...(outcome.config ?? {}) } as ChannelConfig;
  return outcome.status === 'active' ? { status: 'active', config: next } : { status: 'error', config: { ...next, setupError: outcome.error ?? 'Channel setup failed' } };
}

/** The body without the fields the API layer handles, for the channel's own schema. */
function channelFields(body: unknown): Record<string, unknown> {
  const { type: _type, displayName: _name, ...rest } = body as Record<string, unknown>;
  return rest;
}

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
  const raw = await readBody(request, v.record(v.string(), v.unknown(), 'must be a JSON object'));
  const common = parseWith(integrationCommon, raw);
  if (common.type === 'custom') {
    const body = parseWith(requestBodies(isLocal(env)).customCreate, raw);
    const created = await createCustomIntegration(env, appId, { displayName: body.displayName ?? null, webhook: body.webhooks[0]! });
    if (created === 'too_many_webhooks') throw tooManyWebhooks();
    return json({ integration: await integrationView(env, created.integration, [created.webhook]) }, 201);
  }
  if (common.type === 'web') {
    // The Web Messenger has no channel to set up: its settings are the widget's.
    const settings = parseWith(webSettings, channelFields(raw));
    const integration: Integration = { id: newId(), type: 'web', status: 'active', displayName: common.displayName ?? null, config: settings, createdAt: new Date().toISOString() };
    await insertChannelIntegration(env, appId, integration);
    return json({ integration: await integrationView(env, integration, []) }, 201);
  }
  if (common.type === STRIPE) {
    // Payments, not a channel: src/payments/ owns its settings (secrets sealed, one per app).
    const integration = await createStripe(env, appId, publicBase(request, env), common.displayName ?? null, channelFields(raw));
    return json({ integration: await integrationView(env, integration, []) }, 201);
  }
  const adapter = adapterFor(common.type)!;
  const settings = parseWith(adapter.createSchema, channelFields(raw));
  checkApiBase(settings, isLocal(env));
  const id = newId();
  const initial = { ...settings, webhookUrl: `${publicBase(request, env)}/hooks/${id}` };
  // Stored (inactive) before setup: a channel that calls the webhook URL while it is being registered (Viber) must find it.
  const pending: Integration = {
    id,
    type: common.type,
    status: 'inactive',
    displayName: common.displayName ?? null,
    config: await sealConfig(env, adapter, initial),
    createdAt: new Date().toISOString(),
  };
  await insertChannelIntegration(env, appId, pending);
  const { status, config } = await runSetup(env, common.type, id, initial);
  const integration: Integration = { ...pending, status, config: await sealConfig(env, adapter, config) };
  await updateIntegration(env, appId, integration);
  forgetChannelIntegration(id);
  return json({ integration: await integrationView(env, integration, []) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const filter = readQuery(request, integrationListQuery);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  const rows = await listIntegrations(env, appId, page, filter['filter[types]']);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  // An app has at most 10 webhooks, so one read covers every custom integration on the page.
  const webhooks = items.some(carriesWebhooks) ? await listWebhooks(env, appId) : [];
  return json({ integrations: await Promise.all(items.map((i) => integrationView(env, i, webhooks))), ...pageEnvelope(request, meta) });
}

export async function get(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireIntegration(env, appId, request.params.integrationId!);
  const webhooks = carriesWebhooks(integration) ? await listWebhooks(env, appId, integration.id) : [];
  return json({ integration: await integrationView(env, integration, webhooks) });
}

const displayNameOnly = v.looseObject({ displayName: v.optional(v.nullable(boundedString(1, 100))) });

export async function update(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireIntegration(env, appId, request.params.integrationId!);
  const raw = await readBody(request, v.record(v.string(), v.unknown(), 'must be a JSON object'));
  if (carriesWebhooks(integration)) {
    const body = parseWith(customUpdateBody, raw);
    const next: Integration = { ...integration, ...(body.displayName !== undefined ? { displayName: body.displayName } : {}) };
    await updateIntegration(env, appId, next);
    return json({ integration: await integrationView(env, next, await listWebhooks(env, appId, integration.id)) });
  }
  const { displayName } = parseWith(displayNameOnly, raw);
  if (integration.type === 'web') {
    const patch = parseWith(webSettingsUpdate, channelFields(raw));
    const config: Record<string, unknown> = { ...integration.config };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete config[key];
      else if (value !== undefined) config[key] = value;
    }
    const next: Integration = { ...integration, ...(displayName !== undefined ? { displayName } : {}), config };
    await updateIntegration(env, appId, next);
    forgetWebIntegration(integration.id);
    return json({ integration: await integrationView(env, next, []) });
  }
  if (integration.type === STRIPE) return json({ integration: await integrationView(env, await updateStripe(env, appId, integration, displayName, channelFields(raw)), []) });
  const adapter = adapterFor(integration.type)!;
  const patch = parseWith(adapter.updateSchema, channelFields(raw));
  const changed = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
  let config = { ...(await openConfig(env, integration.config)), ...changed } as ChannelConfig;
  let status = integration.status;
  // New credentials are tried against the channel at once, so `status` says whether they work.
  if (Object.keys(changed).length > 0) ({ status, config } = await runSetup(env, integration.type, integration.id, config));
  const next: Integration = {
    ...integration,
    status,
    ...(displayName !== undefined ? { displayName } : {}),
    config: await sealConfig(env, adapter, config),
  };
  await updateIntegration(env, appId, next);
  forgetChannelIntegration(integration.id);
  return json({ integration: await integrationView(env, next, []) });
}

export async function remove(request: IRequest, env: Env, ctx: ExecutionContext) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const integration = await requireIntegration(env, appId, request.params.integrationId!);
  const adapter = adapterFor(integration.type);
  if (adapter?.teardown) {
    // Best effort: the customer asked for the integration to go; a channel that cannot be reached must not keep it.
    const config = await openConfig(env, integration.config);
    await adapter.teardown(channelContext(env, adapter, config, String(config.webhookUrl))).catch((err: unknown) => {
      console.error(`teardown of integration ${integration.id} failed`, err instanceof Error ? err.message : String(err));
    });
  }
  if (!(await deleteIntegration(env, appId, integration.id))) throw notFound('integration_not_found', 'Integration not found');
  await afterIntegrationRemoved(env, ctx, appId, integration);
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
