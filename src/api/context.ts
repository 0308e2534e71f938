/**
 * Shared steps of every `/v2/apps/{appId}/...` handler: authenticate, check the
 * key may act on that app, check the app exists, and address a conversation's
 * Durable Object. The DO name includes the app id, so a conversation id from
 * another app reaches an empty object and answers 404: tenants are walls even
 * without a D1 lookup on the message path.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { authenticate, requireApp, requireAppOrAccount, type Principal } from '../auth/authenticate';
import { appExists } from '../db/apps';
import { findUser, type User } from '../db/users';
import { notFound } from '../http/errors';
import { ID_PATTERN } from '../ids';

export interface AppContext {
  appId: string;
  principal: Principal;
}

export async function appContext(request: IRequest, env: Env): Promise<AppContext> {
  const principal = await authenticate(request, env);
  const appId = request.params.appId!;
  requireApp(principal, appId);
  // App keys die with their app (cascade), so only the account key can name an app that does not exist.
  if (principal.scope === 'account' && !(await appExists(env, appId))) throw notFound('app_not_found', 'App not found');
  return { appId, principal };
}

/** The app of a route that manages its configuration (switchboards, templates, campaigns): app and account keys only. */
export async function managerContext(request: IRequest, env: Env): Promise<string> {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  return appId;
}

/** Ids Parley never minted are refused here, so probing random ids creates no Durable Object. */
export function conversationStub(env: Env, appId: string, conversationId: string) {
  if (!ID_PATTERN.test(conversationId)) throw notFound('conversation_not_found', 'Conversation not found');
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${appId}/${conversationId}`));
}

export async function requireUser(env: Env, appId: string, idOrExternalId: string): Promise<User> {
  const user = await findUser(env, appId, idOrExternalId);
  if (!user) throw notFound('user_not_found', 'User not found');
  return user;
}

export const json = (body: unknown, status = 200) => Response.json(body, { status });

/**
 * Applies an index write right after the DO committed, so the change is listable
 * at once. The DO's outbox carries the same keyed op, so a failure here is logged,
 * not answered: the caller's change is already durable and must not be retried.
 */
export async function indexNow(write: Promise<unknown>): Promise<void> {
  try {
    await write;
  } catch (err) {
    console.error('index write failed; the index queue will apply it', err instanceof Error ? err.message : String(err));
  }
}
