/**
 * The `stripe` integration: an app's Stripe account, for the pay pages behind
 * `buy` actions. Not a channel (nothing is sent to users through it): its
 * body, its stored form and its view live here, and the integrations API
 * hands `type: 'stripe'` over to these functions. The secret key and the
 * webhook signing secret are write-only and sealed at rest, field by field in
 * the same `{"$sealed": …}` form channel configs use; the view shows where
 * Stripe must send events (`webhookUrl`). An app has at most one.
 */
import * as v from 'valibot';
import type { Env } from '../env';
import { seal } from '../auth/secrets';
import { openConfig } from '../channels/store';
import { insertChannelIntegration, updateIntegration, type Integration } from '../db/integrations';
import { badRequest, conflict } from '../http/errors';
import { parseWith } from '../http/request';
import { checkTarget, isLocal } from '../http/targets';
import { ID_PATTERN, newId } from '../ids';
import { uri } from '../schema/common';

export const STRIPE = 'stripe';
/** Stripe's API; `apiBaseUrl` overrides it (tests, the simulator). */
export const STRIPE_API = 'https://api.stripe.com';

const secretKey = v.pipe(
  v.string('must be a string'),
  v.regex(/^(sk|rk)_(test|live)_[A-Za-z0-9]{8,250}$/, 'must be a Stripe secret key (sk_test_…, sk_live_…) or restricted key (rk_test_…, rk_live_…)'),
);
const webhookSecret = v.pipe(v.string('must be a string'), v.regex(/^whsec_[A-Za-z0-9+/=]{8,250}$/, "must be the endpoint's signing secret (whsec_…)"));

export const createBody = v.object({ secretKey, webhookSecret, apiBaseUrl: v.optional(uri()) });
export const updateBody = v.object({ secretKey: v.optional(secretKey), webhookSecret: v.optional(webhookSecret), apiBaseUrl: v.optional(v.nullable(uri())) });

const SECRET_FIELDS = ['secretKey', 'webhookSecret'] as const;

/** An app's Stripe integration with its secrets opened, as the pay page and the webhook need it. */
export interface StripeAccount {
  id: string;
  appId: string;
  status: Integration['status'];
  secretKey: string;
  webhookSecret: string;
  /** Stripe's API origin, or the integration's override. */
  apiBase: string;
}

/** Where Stripe must POST this integration's events. */
export const stripeWebhookUrl = (base: string, integrationId: string) => `${base.replace(/\/+$/, '')}/payments/stripe/${integrationId}`;

function checkApiBase(env: Env, apiBaseUrl: string | null | undefined): void {
  if (!apiBaseUrl) return;
  const problem = checkTarget(apiBaseUrl, isLocal(env));
  if (problem) throw badRequest(`apiBaseUrl: ${problem}`);
}

async function sealed(env: Env, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out = { ...config };
  for (const field of SECRET_FIELDS) if (typeof config[field] === 'string') out[field] = { $sealed: await seal(env, config[field]) };
  return out;
}

/** Creates the app's Stripe integration from the body's own fields; a second one is refused with 409. */
export async function createStripe(env: Env, appId: string, base: string, displayName: string | null, fields: Record<string, unknown>): Promise<Integration> {
  const body = parseWith(createBody, fields);
  checkApiBase(env, body.apiBaseUrl);
  const id = newId();
  const config = { ...body, webhookUrl: stripeWebhookUrl(base, id) };
  const integration: Integration = { id, type: STRIPE, status: 'active', displayName, config: await sealed(env, config), createdAt: new Date().toISOString() };
  try {
    await insertChannelIntegration(env, appId, integration);
  } catch (err) {
    if (/UNIQUE/i.test(String(err instanceof Error ? err.message : err))) throw conflict('This app already has a Stripe integration; update or delete it instead');
    throw err;
  }
  return integration;
}

/** PATCH: rotates either secret, moves or drops the API override; fields left out stay as they are. */
export async function updateStripe(env: Env, appId: string, integration: Integration, displayName: string | null | undefined, fields: Record<string, unknown>): Promise<Integration> {
  const patch = parseWith(updateBody, fields);
  checkApiBase(env, patch.apiBaseUrl);
  const config: Record<string, unknown> = { ...integration.config };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete config[key];
    else if (value !== undefined) config[key] = value;
  }
  const next: Integration = { ...integration, ...(displayName !== undefined ? { displayName } : {}), config: await sealed(env, config) };
  await updateIntegration(env, appId, next);
  return next;
}

/** What the API shows of it: never a secret. */
export function stripeView(i: Integration) {
  const { webhookUrl, apiBaseUrl } = i.config as { webhookUrl?: string; apiBaseUrl?: string };
  return { webhookUrl, ...(apiBaseUrl ? { apiBaseUrl } : {}) };
}

interface Row {
  id: string;
  app_id: string;
  status: string;
  config: string;
}

async function toAccount(env: Env, row: Row): Promise<StripeAccount> {
  const config = await openConfig(env, JSON.parse(row.config));
  return {
    id: row.id,
    appId: row.app_id,
    status: row.status as Integration['status'],
    secretKey: String(config.secretKey),
    webhookSecret: String(config.webhookSecret),
    apiBase: String(config.apiBaseUrl ?? STRIPE_API).replace(/\/+$/, ''),
  };
}

/** The app's Stripe integration, if it has one. */
export async function stripeForApp(env: Env, appId: string): Promise<StripeAccount | undefined> {
  const row = await env.DB.prepare(`SELECT id, app_id, status, config FROM integrations WHERE app_id = ? AND type = '${STRIPE}'`).bind(appId).first<Row>();
  return row ? toAccount(env, row) : undefined;
}

/** The Stripe integration behind `/payments/stripe/{id}`: found by id alone, as Stripe sends nothing else. */
export async function stripeById(env: Env, integrationId: string): Promise<StripeAccount | undefined> {
  if (!ID_PATTERN.test(integrationId)) return undefined;
  const row = await env.DB.prepare(`SELECT id, app_id, status, config FROM integrations WHERE id = ? AND type = '${STRIPE}'`).bind(integrationId).first<Row>();
  return row ? toAccount(env, row) : undefined;
}
