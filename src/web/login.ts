/**
 * `POST /sdk/v2/apps/{appId}/login`: a Web Messenger user proves who they are
 * with a JWT the business's server signed with one of the app's keys
 * (`{scope: "user", external_id}`, HS256, header `kid` = the key id). The
 * browser's anonymous session, when it sends one, is folded in:
 * - nobody has that externalId yet: the anonymous user becomes that user;
 * - somebody has: the browser's client moves to them, the anonymous
 *   conversation's messages move into their default conversation, the
 *   anonymous user is deleted, and `user:merge` (reason `sdkLogin`) is raised;
 * - no anonymous session: the known (or a new) user gets a client for this
 *   browser.
 * Each step can be repeated, so a login that failed halfway is finished by
 * the next attempt.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { conversationStub, indexNow } from '../api/context';
import { decodeJwt, timeClaimsProblem, verifyHs256 } from '../auth/jwt';
import { indexConversation, unindexParticipant, userConversationIds } from '../db/conversations';
import { findKeySecret } from '../db/keys';
import { deleteUser, findUserByExternalId, findUserById } from '../db/users';
import { claimExternalId, createWebUser, markAuthenticated, moveWebClient, webClientInfo } from '../db/web-clients';
import { unauthorized, unwrap } from '../http/errors';
import { readBody } from '../http/request';
import { newId } from '../ids';
import { loginBody } from '../schema/web';
import { userMergeEvent, userUpdateEvent } from '../webhooks/events';
import { userView } from '../api/users';
import { WEB } from '../../durable/conversation';
import { clientInfo, deviceOf } from './client-info';
import { checkOrigin, limitVisitor, requireWebIntegration } from './integration';
import { newClientFor, openWebClient, sessionAnswer } from './sdk';
import { LOGIN_SESSION_DAYS, verifySession, type WebSession } from './session';

/** Messages moved per call while merging (the DO answers within its RPC size). */
const MERGE_PAGE = 500;

/** Checks the business's user JWT; every refusal says what to fix on the business's server. */
async function verifyUserJwt(env: Env, appId: string, token: string, externalId: string): Promise<void> {
  const jwt = decodeJwt(token);
  if (!jwt || typeof jwt.header.kid !== 'string') throw unauthorized('jwt: must be a JWT with a kid header naming one of the app key ids');
  const key = jwt.header.kid.startsWith('app_') ? await findKeySecret(env, jwt.header.kid) : undefined;
  if (!key || key.appId !== appId) throw unauthorized('jwt: kid must be the id of a key of this app');
  if (!(await verifyHs256(jwt, key.secret))) throw unauthorized('jwt: invalid signature (sign with HS256 and the secret of the key named in kid)');
  const problem = timeClaimsProblem(jwt.payload);
  if (problem) throw unauthorized(`jwt: ${problem}; have your server sign a fresh one`);
  if (jwt.payload.scope !== 'user') throw unauthorized('jwt: scope must be "user"');
  if (jwt.payload.external_id !== externalId) throw unauthorized('jwt: external_id must equal the externalId logging in');
}

/** The known user's default conversation, opened if they never had one. */
async function defaultConversation(env: Env, appId: string, userId: string): Promise<{ id: string; isNew: boolean }> {
  const offered = newId();
  const id = await conversationStub(env, appId, userId).claimDefaultConversation(offered);
  return { id, isNew: id === offered };
}

/** The anonymous user is now the one with `externalId`: their conversations' participants say so. */
async function becomeKnown(env: Env, appId: string, anonymous: WebSession, externalId: string) {
  const conversations = await userConversationIds(env, appId, anonymous.userId);
  await Promise.all(conversations.map((c) => conversationStub(env, appId, c.id).setUserExternalId(anonymous.userId, externalId)));
  const known = await findUserById(env, appId, anonymous.userId);
  if (known) await conversationStub(env, appId, known.id).raiseUserEvent(appId, known.id, userUpdateEvent(userView(known), { type: WEB, integrationId: anonymous.integrationId }, 'authentication'));
  return sessionAnswer(env, { ...anonymous, externalId }, LOGIN_SESSION_DAYS, await webClientInfo(env, appId, anonymous.clientId), 200);
}

/**
 * Folds an anonymous user into a known one: the session's conversation is
 * closed and its messages copied, page by page, into the known user's
 * default conversation (each keeps its dedupe key, so a retry copies nothing
 * twice); any other conversation of theirs changes hands; then `user:merge`
 * is raised and the anonymous user deleted.
 */
async function merge(env: Env, appId: string, from: WebSession, to: { id: string; externalId: string }, targetId: string): Promise<void> {
  const source = conversationStub(env, appId, from.conversationId);
  const into = conversationStub(env, appId, targetId);
  for (let after = 0; ; ) {
    const page = unwrap(await source.handOver(after, MERGE_PAGE));
    if (page.length === 0) break;
    unwrap(await into.absorb(page, from.userId, to.id));
    after = page[page.length - 1]!.message.seq!;
  }
  const others = (await userConversationIds(env, appId, from.userId)).filter((c) => c.id !== from.conversationId);
  await Promise.all(
    others.map(async (c) => {
      const moved = unwrap(await conversationStub(env, appId, c.id).reassign(from.userId, to.id, to.externalId));
      // Listed under the known user at once; the object's index ops say the same, later.
      await indexNow(Promise.all([unindexParticipant(env, appId, c.id, from.userId), indexConversation(env, appId, moved.conversation, moved.participants)]));
    }),
  );
  const surviving = unwrap(await into.get()).conversation;
  // The event goes first: if the deletion then fails, the next login finishes it (at least once, never zero times).
  await conversationStub(env, appId, to.id).raiseUserEvent(
    appId,
    to.id,
    userMergeEvent(to, { id: from.userId }, { surviving, discarded: { id: from.conversationId, type: 'personal' } }, 'sdkLogin'),
  );
  await source.discardHistory();
  await deleteUser(env, appId, from.userId);
}

export async function login(request: IRequest, env: Env) {
  const appId = request.params.appId!;
  const body = await readBody(request, loginBody);
  const integration = await requireWebIntegration(env, appId, body.integrationId);
  checkOrigin(request, integration);
  await limitVisitor(request, env.WEB_SESSION_LIMIT, integration.id);
  await verifyUserJwt(env, appId, body.jwt, body.externalId);

  // A stale or foreign anonymous token only means there is nothing to merge.
  const header = request.headers.get('authorization');
  const anonymous = header?.toLowerCase().startsWith('bearer ')
    ? await verifySession(env, header.slice(7).trim(), appId)
        .then((s) => (s.integrationId === integration.id ? s : undefined))
        .catch(() => undefined)
    : undefined;
  const externalId = body.externalId;

  if (anonymous?.externalId === externalId) {
    return sessionAnswer(env, anonymous, LOGIN_SESSION_DAYS, await webClientInfo(env, appId, anonymous.clientId), 200);
  }

  let known = await findUserByExternalId(env, appId, externalId);
  // This browser's user already holds the externalId (a login retried after it failed halfway): finish it.
  if (known && anonymous && known.id === anonymous.userId) return becomeKnown(env, appId, anonymous, externalId);
  if (!known && anonymous && !anonymous.externalId) {
    if (await claimExternalId(env, appId, anonymous.userId, externalId)) return becomeKnown(env, appId, anonymous, externalId);
    known = await findUserByExternalId(env, appId, externalId);
  }

  if (!known) {
    // First login of this person, from a browser with no anonymous history to keep.
    const info = clientInfo(request, body.device);
    const conversationId = newId();
    const created = await createWebUser(env, appId, { externalId, client: { integrationId: integration.id, info, conversationId, device: deviceOf(body.device) } });
    if (created !== 'conflict') {
      await openWebClient(env, appId, integration, { userId: created.userId, externalId }, created.clientId, conversationId, info);
      return sessionAnswer(env, { appId, integrationId: integration.id, userId: created.userId, clientId: created.clientId, conversationId, externalId }, LOGIN_SESSION_DAYS, info, 200);
    }
    // A concurrent login created the user first: join them like any known user.
    known = await findUserByExternalId(env, appId, externalId);
    if (!known) throw new Error(`user ${externalId} was created concurrently but cannot be found`);
  }

  await markAuthenticated(env, appId, known.id);
  const target = await defaultConversation(env, appId, known.id);
  // A login retried after its merge completed finds the anonymous user gone: nothing to merge, no second user:merge.
  const mergeFrom =
    anonymous && !anonymous.externalId && anonymous.userId !== known.id && (await findUserById(env, appId, anonymous.userId)) ? anonymous : undefined;
  let clientId: string;
  let info: Record<string, string> | null;
  if (mergeFrom && (await moveWebClient(env, appId, mergeFrom.clientId, known.id, target.id))) {
    clientId = mergeFrom.clientId;
    info = await webClientInfo(env, appId, clientId);
  } else {
    ({ clientId, info } = await newClientFor(env, appId, integration, known.id, target.id, body.device, request));
  }
  await openWebClient(env, appId, integration, { userId: known.id, externalId }, clientId, target.id, info ?? {});

  if (mergeFrom) await merge(env, appId, mergeFrom, { id: known.id, externalId }, target.id);
  return sessionAnswer(env, { appId, integrationId: integration.id, userId: known.id, clientId, conversationId: target.id, externalId }, LOGIN_SESSION_DAYS, info, 200);
}
