/**
 * `POST /v2/apps/{appId}/conversations/{conversationId}/download` (the
 * client's `downloadMessageRef`): resolves a message reference a channel sent
 * instead of the data into the data itself. Only Apple Messages for Business
 * sends such references (`interactiveDataRef`, for interactive replies over
 * 10 KB); Parley stores them as the message's payload in this body's shape.
 * The user must have an Apple client in the conversation: its integration's
 * credentials are the ones Apple's files answer to. The answer is Apple's
 * decoded interactive data, as JSON.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import { downloadMessageRef, InteractiveDataRef } from '../channels/apple';
import { channelContext } from '../channels/http';
import { channelIntegration } from '../channels/store';
import type { Env } from '../env';
import { notFound, StatusError, unwrap } from '../http/errors';
import { readBody } from '../http/request';
import { appContext, conversationStub, json } from './context';

export const downloadBody = v.object(
  {
    userId: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty')),
    apple: v.object({ interactiveDataRef: InteractiveDataRef }, 'must be an object'),
  },
  'must be an object',
);

/** The integration of the user's Apple client that belongs to this conversation (its personal one, or one the user takes part in). */
async function appleIntegrationOf(env: Env, appId: string, userId: string, conversationId: string): Promise<string | undefined> {
  const row = await env.DB.prepare(
    `SELECT c.integration_id FROM clients c
     WHERE c.app_id = ? AND c.user_id = ? AND c.type = 'apple' AND c.integration_id IS NOT NULL
       AND (c.conversation_id = ? OR EXISTS (SELECT 1 FROM conversation_participants p WHERE p.app_id = c.app_id AND p.conversation_id = ? AND p.user_id = c.user_id))
     ORDER BY c.last_seen DESC LIMIT 1`,
  )
    .bind(appId, userId, conversationId, conversationId)
    .first<{ integration_id: string }>();
  return row?.integration_id;
}

export async function download(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const conversationId = request.params.conversationId!;
  const body = await readBody(request, downloadBody);
  unwrap(await conversationStub(env, appId, conversationId).get());
  const integrationId = await appleIntegrationOf(env, appId, body.userId, conversationId);
  const integration = integrationId ? await channelIntegration(env, integrationId) : undefined;
  if (!integration || integration.appId !== appId || integration.type !== 'apple') {
    throw notFound('client_not_found', 'userId: the user has no Apple Messages for Business client in this conversation');
  }
  const ctx = channelContext(env, integration.adapter, integration.config, integration.webhookUrl) as Parameters<typeof downloadMessageRef>[0];
  try {
    return json(await downloadMessageRef(ctx, body.apple.interactiveDataRef));
  } catch (err) {
    throw new StatusError(502, 'bad_gateway', `Apple could not provide the referenced data (${err instanceof Error ? err.message : String(err)}); references expire, so fetch them soon after they arrive`);
  }
}
