/** `/v2/apps/{appId}/conversations/{id}/join|leave|participants`: sdkGroup membership. */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { indexConversation, unindexParticipant } from '../db/conversations';
import { unwrap } from '../http/errors';
import { pageEnvelope } from '../http/links';
import { parseWith, readBody } from '../http/request';
import { joinBody, leaveBody } from '../schema/conversation';
import { pageQuery, toPage } from '../schema/pagination';
import { pickPage } from './apps';
import { appContext, conversationStub, indexNow, json } from './context';
import { resolveParticipant } from './conversations';

export async function join(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, joinBody);
  const user = await resolveParticipant(env, appId, body, 'body');
  const stub = conversationStub(env, appId, request.params.conversationId!);
  const participant = unwrap(await stub.join({ userId: user.id, userExternalId: user.externalId ?? null }));
  const { conversation } = unwrap(await stub.get());
  await indexNow(indexConversation(env, appId, conversation, [participant]));
  return json({ participant }, 201);
}

export async function leave(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, leaveBody);
  const who = body.participantId !== undefined ? { participantId: body.participantId } : { userId: (await resolveParticipant(env, appId, body, 'body')).id };
  const conversationId = request.params.conversationId!;
  const left = unwrap(await conversationStub(env, appId, conversationId).leave(who));
  await indexNow(unindexParticipant(env, appId, conversationId, left.userId));
  return json({});
}

export async function list(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  const result = unwrap(await conversationStub(env, appId, request.params.conversationId!).listParticipants(page));
  const first = result.participants[0];
  const last = result.participants[result.participants.length - 1];
  const meta = {
    hasMore: result.hasMore,
    ...((page.before ? true : result.hasMore) && last ? { afterCursor: last.id } : {}),
    ...((page.before ? result.hasMore : Boolean(page.after)) && first ? { beforeCursor: first.id } : {}),
  };
  return json({ participants: result.participants, ...pageEnvelope(request, meta) });
}
