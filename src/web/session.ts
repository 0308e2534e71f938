/**
 * Web Messenger session tokens: who a browser is (app, web integration, user,
 * client, conversation) in an HS256 token Parley signs with a key derived from
 * MASTER_KEY, so checking one costs no storage read on the message path. A
 * token names its user by id; what the user may touch is decided where the
 * data lives (the conversation's participants), so a deleted user's token
 * opens nothing even before it expires.
 */
import type { Env } from '../env';
import { decodeJwt, signHs256, timeClaimsProblem, verifyHs256 } from '../auth/jwt';
import { StatusError, unauthorized } from '../http/errors';
import { fromBase64 } from '../channels/signing';

export interface WebSession {
  appId: string;
  integrationId: string;
  userId: string;
  clientId: string;
  /** The conversation the widget opens by default (the user's personal one). */
  conversationId: string;
  /** Set once the user logged in with the business's JWT. */
  externalId?: string;
}

const KID = 'web-session';
export const ANONYMOUS_SESSION_DAYS = 365;
export const LOGIN_SESSION_DAYS = 30;
const derived = new Map<string, Promise<string>>();

/** A signing secret of its own, so a session token can never pass as anything MASTER_KEY protects. */
function sessionSecret(env: Env): Promise<string> {
  const master = env.MASTER_KEY;
  if (!master) throw new StatusError(500, 'configuration_error', 'MASTER_KEY is not set; run `wrangler secret put MASTER_KEY` with 32 random bytes in base64');
  let secret = derived.get(master);
  if (!secret) {
    secret = (async () => {
      const key = await crypto.subtle.importKey('raw', fromBase64(master), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      const bytes = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode('parley web messenger session v1')));
      return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    })();
    derived.set(master, secret);
  }
  return secret;
}

export async function issueSession(env: Env, session: WebSession, days: number): Promise<{ token: string; expiresAt: string }> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + days * 86_400;
  const token = await signHs256(
    {
      scope: 'web',
      app: session.appId,
      int: session.integrationId,
      sub: session.userId,
      cli: session.clientId,
      conv: session.conversationId,
      ...(session.externalId ? { ext: session.externalId } : {}),
      iat: now,
      exp,
    },
    KID,
    await sessionSecret(env),
  );
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

/** The session a request carries in `Authorization: Bearer`, for this app; 401 with a reason the widget can act on. */
export async function readSession(env: Env, authorization: string | null, appId: string): Promise<WebSession> {
  const [kind, token = ''] = (authorization ?? '').split(/\s+/, 2);
  if (kind?.toLowerCase() !== 'bearer' || !token) throw unauthorized('A Web Messenger session token is required (Authorization: Bearer <token>); start one with POST /sdk/v2/apps/{appId}/sessions');
  return verifySession(env, token, appId);
}

export async function verifySession(env: Env, token: string, appId: string): Promise<WebSession> {
  const jwt = decodeJwt(token);
  if (!jwt || jwt.header.kid !== KID || !(await verifyHs256(jwt, await sessionSecret(env)))) throw unauthorized('Invalid session token; start a new session');
  // Parley always sets exp; a token without one was not made by issueSession.
  const problem = timeClaimsProblem(jwt.payload, ['exp']);
  if (problem) throw unauthorized(`The session token ${problem}; start a new session`);
  const p = jwt.payload;
  if (p.scope !== 'web' || p.app !== appId) throw unauthorized('The session token belongs to another app');
  const str = (x: unknown) => (typeof x === 'string' ? x : '');
  return {
    appId,
    integrationId: str(p.int),
    userId: str(p.sub),
    clientId: str(p.cli),
    conversationId: str(p.conv),
    ...(typeof p.ext === 'string' ? { externalId: p.ext } : {}),
  };
}
