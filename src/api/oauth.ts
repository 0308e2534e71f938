/**
 * Parley as an OAuth 2.0 provider for partner integrations (contract §1.14):
 *
 * - `POST/GET /v2/oauth/clients`, `GET/DELETE /v2/oauth/clients/{clientId}`:
 *   Parley's extension where the account key registers partner clients.
 * - `GET /oauth/authorize` shows the consent page (src/web/oauth-consent.ts);
 *   its form posts back to `POST /oauth/authorize`, which redirects to the
 *   client with a code, or with `error=access_denied`. A request naming an
 *   unknown client or an unregistered redirect URI, or asking for anything but
 *   a code, gets an error page and is never redirected anywhere.
 * - `POST /oauth/token` exchanges a code (form or JSON), errors in the shape
 *   of RFC 6749 §5.2 rather than the v2 body, because OAuth clients read that.
 * - `DELETE /oauth/authorization`: an access token ends its own authorization
 *   (the integration and its webhooks go) and the client's removeUrl hears of it.
 * - `GET /v2/tokenInfo`: the app behind a credential, for a partner holding
 *   only a token.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { authenticate, requireAccount } from '../auth/authenticate';
import { sameSecret } from '../auth/secrets';
import { getApp } from '../db/apps';
import { findKeySecret } from '../db/keys';
import * as store from '../db/oauth';
import { badRequest, forbidden, notFound, StatusError } from '../http/errors';
import { outboundFetch, outboundPolicy, redactUrl } from '../http/outbound';
import { checkJsonDepth, readBody, readBytes } from '../http/request';
import { isLocal } from '../http/targets';
import { describeIssue, LIMITS } from '../schema/common';
import { authorizeParams, clientCreateBody, consentForm, OAUTH_LIMITS, tokenRequest, type OAuthClient, type TokenRequest } from '../schema/oauth';
import { consentPage, errorPage } from '../web/oauth-consent';
import { json } from './context';

// ---- client registration (account key) ----------------------------------------

const clientNotFound = () => notFound('not_found', 'OAuth client not found');

export async function registerClient(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  const body = await readBody(request, clientCreateBody(isLocal(env)));
  const client = await store.createClient(env, body);
  if (client === 'too_many_clients') throw badRequest(`At most ${OAUTH_LIMITS.clients} OAuth clients can be registered; delete one first`);
  return json({ client }, 201);
}

export async function listClients(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  return json({ clients: await store.listClients(env) });
}

export async function getClient(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  const client = await store.getClient(env, request.params.clientId!);
  if (!client) throw clientNotFound();
  return json({ client });
}

export async function removeClient(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  if (!(await store.deleteClient(env, request.params.clientId!))) throw clientNotFound();
  return json({});
}

// ---- the authorization request and the consent page ------------------------------

/** The consent form is a few short fields; anything longer is not ours. */
const FORM_BYTES = 16 * 1024;
const AUTHORIZE_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state'];

/** Parameters as a record; RFC 6749 §3.1 forbids repeating one, so a repeat is named instead. */
function single(params: URLSearchParams, names: readonly string[]): Record<string, string> | { repeated: string } {
  const repeated = names.find((n) => params.getAll(n).length > 1);
  return repeated ? { repeated } : Object.fromEntries(params);
}

interface AuthorizeRequest {
  client: OAuthClient;
  redirectUri: string;
  state?: string;
}

/**
 * Judges the request in the order that keeps redirects safe: until the client
 * and its redirect URI are known to match, the browser may only be told, on
 * Parley's own page, what is wrong.
 */
async function checkRequest(env: Env, params: URLSearchParams): Promise<AuthorizeRequest | Response> {
  const raw = single(params, AUTHORIZE_PARAMS);
  if ('repeated' in raw) return errorPage(`The parameter ${raw.repeated} is given more than once.`);
  const parsed = v.safeParse(authorizeParams, raw);
  if (!parsed.success) return errorPage(describeIssue(parsed.issues[0]));
  const p = parsed.output;
  if (!p.client_id) return errorPage('The request names no client: client_id is required.');
  const client = await store.getClient(env, p.client_id);
  if (!client) return errorPage(`No OAuth client ${p.client_id} is registered with this Parley.`);
  // Omitted, it is the client's first registered URI (Sunshine registered one per client); given, it must match one exactly.
  const redirectUri = p.redirect_uri ?? client.redirectUris[0]!;
  if (!client.redirectUris.includes(redirectUri)) return errorPage(`The redirect_uri ${redirectUri} is not registered for ${client.name}.`);
  if (p.response_type !== 'code') return errorPage(p.response_type ? `response_type ${p.response_type} is not supported; it must be code.` : 'response_type is required and must be code.');
  return { client, redirectUri, ...(p.state !== undefined ? { state: p.state } : {}) };
}

/** A Parley error page for anything thrown while handling the browser's request (an oversized form, an app deleted meanwhile). */
const asPage = (handler: (request: IRequest, env: Env) => Promise<Response>) => async (request: IRequest, env: Env) => {
  try {
    return await handler(request, env);
  } catch (err) {
    if (err instanceof StatusError) return errorPage(err.message, err.status);
    throw err;
  }
};

/** `GET /oauth/authorize`: the consent page. */
export const authorize = asPage(async (request, env) => {
  const checked = await checkRequest(env, new URL(request.url).searchParams);
  if (checked instanceof Response) return checked;
  return consentPage(checked);
});

function redirectTo(uri: string, params: Record<string, string | undefined>): Response {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);
  return new Response(null, { status: 302, headers: { location: url.href, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } });
}

const WRONG_KEY = 'That app key ID and secret do not match. Check both (an app key ID starts with app_) and try again.';

/** `POST /oauth/authorize`: the consent form. Denying needs no key; allowing needs a key of the app being connected. */
export const consent = asPage(async (request, env) => {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) return errorPage('The consent form must be sent as application/x-www-form-urlencoded.', 415);
  const params = new URLSearchParams(new TextDecoder().decode(await readBytes(request, FORM_BYTES)));
  const checked = await checkRequest(env, params);
  if (checked instanceof Response) return checked;
  const form = v.safeParse(consentForm, Object.fromEntries(params));
  if (!form.success) return errorPage(describeIssue(form.issues[0]));
  const { decision, key_id: keyId = '', key_secret: secret = '' } = form.output;
  if (decision === 'deny') return redirectTo(checked.redirectUri, { error: 'access_denied', state: checked.state });
  if (decision !== 'approve') return errorPage('decision is required: approve or deny.');
  // Only an app key: it names the one app to connect, which the account key does not.
  const key = await findKeySecret(env, keyId.trim());
  if (!key || !sameSecret(key.secret, secret)) return consentPage({ ...checked, keyId: keyId.trim(), error: WRONG_KEY }, 401);
  const code = await store.approve(env, key.appId, checked.client, checked.redirectUri);
  return redirectTo(checked.redirectUri, { code, state: checked.state });
});

// ---- the token endpoint (RFC 6749 §4.1.3, errors §5.2) ---------------------------

const OAUTH_ERRORS = new Set(['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type']);
const oauthError = (status: number, code: string, description: string) => new StatusError(status, code, description);
const invalidRequest = (description: string) => oauthError(400, 'invalid_request', description);

const REFUSALS: Record<store.ExchangeRefusal, string> = {
  unknown: 'The code is unknown, or was revoked with its integration',
  expired: `The code has expired; codes can be exchanged for ${OAUTH_LIMITS.codeTtlMs / 60_000} minutes`,
  other_client: 'The code was issued to another client',
  redirect_mismatch: 'redirect_uri differs from the one the code was issued for',
  replayed: 'The code was already used; the token issued from it is revoked',
};

const tokenHeaders = { 'cache-control': 'no-store', pragma: 'no-cache' };

async function readTokenRequest(request: Request): Promise<TokenRequest> {
  const type = request.headers.get('content-type') ?? '';
  const text = new TextDecoder().decode(await readBytes(request, LIMITS.bodyBytes));
  let raw: unknown;
  if (/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
    const params = new URLSearchParams(text);
    const fields = single(params, ['grant_type', 'code', 'client_id', 'client_secret', 'redirect_uri']);
    if ('repeated' in fields) throw invalidRequest(`${fields.repeated} is given more than once`);
    raw = fields;
  } else if (/^application\/json\s*(;|$)/i.test(type)) {
    checkJsonDepth(text);
    try {
      raw = JSON.parse(text);
    } catch {
      throw invalidRequest('The body is not valid JSON');
    }
  } else {
    throw invalidRequest('The token request must be application/x-www-form-urlencoded or application/json');
  }
  const parsed = v.safeParse(tokenRequest, raw);
  if (!parsed.success) throw invalidRequest(parsed.issues[0].path ? describeIssue(parsed.issues[0]) : 'The body must be an object of parameters');
  return parsed.output;
}

/** HTTP Basic (RFC 6749 §2.3.1: id and secret form-encoded, then base64), or client_id and client_secret in the body; never both. */
function clientCredentials(request: Request, body: TokenRequest): { id?: string; secret?: string; viaHeader: boolean } {
  const header = request.headers.get('authorization');
  if (!header) return { id: body.client_id, secret: body.client_secret, viaHeader: false };
  const [kind, credentials = ''] = header.split(/\s+/, 2);
  if (kind?.toLowerCase() !== 'basic') throw oauthError(401, 'invalid_client', 'Client authentication must use HTTP Basic, or client_id and client_secret in the body');
  if (body.client_secret !== undefined) throw invalidRequest('Authenticate the client one way: HTTP Basic or client_secret in the body, not both');
  let id: string;
  let secret: string;
  try {
    const decoded = atob(credentials);
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new Error('no colon');
    const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    id = formDecode(decoded.slice(0, colon));
    secret = formDecode(decoded.slice(colon + 1));
  } catch {
    throw oauthError(401, 'invalid_client', 'Malformed HTTP Basic client credentials');
  }
  if (body.client_id !== undefined && body.client_id !== id) throw invalidRequest('client_id differs from the client authenticated with HTTP Basic');
  return { id, secret, viaHeader: true };
}

/** `POST /oauth/token`: `{access_token, token_type: "Bearer", appId}`; `appId` is Parley's addition (Sunshine's token is a JWT that carries it). */
export async function token(request: IRequest, env: Env): Promise<Response> {
  let viaHeader = false;
  try {
    const body = await readTokenRequest(request);
    const credentials = clientCredentials(request, body);
    viaHeader = credentials.viaHeader;
    if (!credentials.id || !credentials.secret) throw oauthError(401, 'invalid_client', 'client_id and client_secret are required');
    const client = await store.authenticateClient(env, credentials.id, credentials.secret);
    if (!client) throw oauthError(401, 'invalid_client', 'Unknown client, or wrong client secret');
    if (body.grant_type === undefined) throw invalidRequest('grant_type is required');
    if (body.grant_type !== 'authorization_code') throw oauthError(400, 'unsupported_grant_type', 'grant_type must be authorization_code');
    if (!body.code) throw invalidRequest('code is required');
    const issued = await store.exchangeCode(env, client.id, body.code, body.redirect_uri);
    if (typeof issued === 'string') throw oauthError(400, 'invalid_grant', REFUSALS[issued]);
    return Response.json({ access_token: issued.accessToken, token_type: 'Bearer', appId: issued.appId }, { headers: tokenHeaders });
  } catch (err) {
    if (!(err instanceof StatusError)) throw err;
    // Limits of the request itself (an oversized or too deep body) are invalid requests too.
    const error = OAUTH_ERRORS.has(err.code) ? err.code : 'invalid_request';
    const headers: Record<string, string> = { ...tokenHeaders, ...(err.status === 401 && viaHeader ? { 'www-authenticate': 'Basic realm="parley"' } : {}) };
    return Response.json({ error, error_description: err.message }, { status: err.status, headers });
  }
}

// ---- revocation and token info ------------------------------------------------------

const hmacHex = async (secret: string, body: string) => {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(body)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
};

/**
 * Tells the partner its access to an app ended, `revoked` by its own token or
 * `removed` by the app's owner: a small JSON POST to its removeUrl, signed
 * with its client secret (`x-parley-signature: sha256=<hex HMAC of the body>`)
 * so a receiver can tell it from a forgery. Best effort, once, through the
 * outbound policy; a failure is only logged.
 */
async function notifyRemoval(env: Env, client: OAuthClient, appId: string, integrationId: string, reason: 'revoked' | 'removed'): Promise<void> {
  const removeUrl = client.removeUrl!;
  try {
    const body = JSON.stringify({ type: 'authorization:revoke', reason, clientId: client.id, appId, integrationId, revokedAt: new Date().toISOString() });
    const secret = await store.clientSecret(env, client.id);
    if (secret === undefined) return;
    const res = await outboundFetch(outboundPolicy(env), removeUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-parley-signature': `sha256=${await hmacHex(secret, body)}` },
      body,
      timeoutMs: 10_000,
      maxBytes: 16 * 1024,
    });
    await res.body?.cancel();
    if (!res.ok) console.warn(`removeUrl ${redactUrl(removeUrl)} of OAuth client ${client.id} answered ${res.status}`);
  } catch (err) {
    console.warn(`removeUrl ${redactUrl(removeUrl)} of OAuth client ${client.id} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `DELETE /oauth/authorization`: with an access token only; answers `{}` before the partner is notified. */
export async function revoke(request: IRequest, env: Env, ctx: ExecutionContext) {
  const principal = await authenticate(request, env);
  if (principal.scope !== 'integration' || !principal.oauth) {
    throw forbidden('Only an OAuth access token can revoke its authorization; an app key removes an integration with DELETE /v2/apps/{appId}/integrations/{integrationId}');
  }
  const client = await store.getClient(env, principal.oauth.clientId);
  await store.revokeAuthorization(env, { appId: principal.appId, integrationId: principal.integrationId });
  if (client?.removeUrl) ctx.waitUntil(notifyRemoval(env, client, principal.appId, principal.integrationId, 'revoked'));
  return json({});
}

/** For `DELETE /v2/apps/{appId}/integrations/{id}`: an owner removing an OAuth integration tells its partner, as revoking does. */
export async function afterIntegrationRemoved(env: Env, ctx: ExecutionContext, appId: string, integration: { id: string; config: Record<string, unknown> }): Promise<void> {
  if (!store.isOAuthIntegration(integration)) return;
  const client = await store.getClient(env, String(integration.config.oauthClientId));
  if (client?.removeUrl) ctx.waitUntil(notifyRemoval(env, client, appId, integration.id, 'removed'));
}

/** `GET /v2/tokenInfo`: the app behind an app key, an integration key or an access token. */
export async function tokenInfo(request: IRequest, env: Env) {
  const principal = await authenticate(request, env);
  if (principal.scope === 'account') throw badRequest('The account key is not tied to one app; tokenInfo answers for app keys, integration keys and OAuth access tokens');
  const app = await getApp(env, principal.appId);
  if (!app) throw notFound('app_not_found', 'App not found');
  return json({
    app: { id: app.id, displayName: app.displayName },
    ...(principal.scope === 'integration' ? { integration: { id: principal.integrationId, ...(principal.oauth ? { type: principal.oauth.clientId } : {}) } } : {}),
  });
}
