/**
 * Who is calling: HTTP Basic (key id + secret), a Bearer HS256 JWT signed
 * with a key's secret, or a Bearer OAuth access token (`oat_…`, issued by
 * /oauth/token; src/db/oauth.ts). The account key (ACCOUNT_KEY_ID/SECRET
 * secrets) manages every app; an app key (`app_…`, stored in D1) manages only
 * its app; an access token acts as the integration its grant created, with the
 * same integration scope as an `int_` key. The tenant is always taken from the
 * authenticated credential, never from a body.
 */
import type { Env } from '../env';
import { forbidden, StatusError, unauthorized } from '../http/errors';
import { findIntegrationKeySecret } from '../db/integrations';
import { findKeySecret } from '../db/keys';
import { findAccessToken, isAccessToken } from '../db/oauth';
import { decodeJwt, timeClaimsProblem, verifyHs256 } from './jwt';
import { sameSecret } from './secrets';

export type Principal =
  | { scope: 'account'; keyId: string }
  | { scope: 'app'; keyId: string; appId: string }
  | {
      scope: 'integration';
      keyId: string;
      appId: string;
      integrationId: string;
      /** Set when the caller is an OAuth access token: the partner client and the token, for revoking it. */
      oauth?: { clientId: string; tokenId: string };
    };

interface KeyInfo {
  scope: Principal['scope'];
  appId?: string;
  integrationId?: string;
  secret: string;
}

async function lookupKey(env: Env, keyId: string): Promise<KeyInfo | undefined> {
  if (env.ACCOUNT_KEY_ID && keyId === env.ACCOUNT_KEY_ID) {
    if (!env.ACCOUNT_KEY_SECRET) throw new StatusError(500, 'configuration_error', 'ACCOUNT_KEY_SECRET is not set; run `wrangler secret put ACCOUNT_KEY_SECRET`');
    return { scope: 'account', secret: env.ACCOUNT_KEY_SECRET };
  }
  if (keyId.startsWith('int_')) {
    const found = await findIntegrationKeySecret(env, keyId);
    return found && { scope: 'integration', appId: found.appId, integrationId: found.integrationId, secret: found.secret };
  }
  if (!keyId.startsWith('app_')) return undefined;
  const found = await findKeySecret(env, keyId);
  return found && { scope: 'app', appId: found.appId, secret: found.secret };
}

export async function authenticate(request: Request, env: Env): Promise<Principal> {
  const header = request.headers.get('authorization');
  if (!header) throw unauthorized();
  const [kind, credentials = ''] = header.split(/\s+/, 2);
  if (kind?.toLowerCase() === 'basic') {
    let decoded: string;
    try {
      decoded = atob(credentials);
    } catch {
      throw unauthorized('Malformed Basic credentials');
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) throw unauthorized('Malformed Basic credentials');
    const keyId = decoded.slice(0, colon);
    const key = await lookupKey(env, keyId);
    if (!key || !sameSecret(key.secret, decoded.slice(colon + 1))) throw unauthorized('Invalid key id or secret');
    return principal(keyId, key);
  }
  if (kind?.toLowerCase() === 'bearer') {
    // An access token has no dots, so it can never be mistaken for a JWT, nor a JWT for it.
    if (isAccessToken(credentials)) {
      const grant = await findAccessToken(env, credentials);
      if (!grant) throw unauthorized('Invalid or revoked OAuth access token');
      return {
        scope: 'integration',
        keyId: `oauth:${grant.tokenId}`,
        appId: grant.appId,
        integrationId: grant.integrationId,
        oauth: { clientId: grant.clientId, tokenId: grant.tokenId },
      };
    }
    const jwt = decodeJwt(credentials);
    if (!jwt || typeof jwt.header.kid !== 'string') throw unauthorized('Bearer token must be a JWT with a kid header');
    const key = await lookupKey(env, jwt.header.kid);
    if (!key || !(await verifyHs256(jwt, key.secret))) throw unauthorized('Invalid JWT signature, algorithm or key id');
    const problem = timeClaimsProblem(jwt.payload);
    if (problem) throw unauthorized(`JWT ${problem}`);
    if (jwt.payload.scope !== key.scope) throw unauthorized(`JWT scope must be "${key.scope}" for this key`);
    return principal(jwt.header.kid, key);
  }
  throw unauthorized('Authorization must be Basic or Bearer');
}

function principal(keyId: string, key: KeyInfo): Principal {
  if (key.scope === 'account') return { scope: 'account', keyId };
  if (key.scope === 'integration') return { scope: 'integration', keyId, appId: key.appId!, integrationId: key.integrationId! };
  return { scope: 'app', keyId, appId: key.appId! };
}

export function requireAccount(p: Principal): void {
  if (p.scope !== 'account') throw forbidden('This route needs the account key');
}

/** App and integration keys may act only on their own app. */
export function requireApp(p: Principal, appId: string): void {
  if (p.scope !== 'account' && p.appId !== appId) throw forbidden('This key cannot access that app');
}

/** Routes about the app itself (get, update, integrations) are not open to integration keys, as in the contract. */
export function requireAppOrAccount(p: Principal): void {
  if (p.scope === 'integration') throw forbidden('Integration keys cannot use this route; use an app or account key');
}
