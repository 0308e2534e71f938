/**
 * `POST /sdk/v2/apps/{appId}/conversations/{conversationId}/pay` (Web
 * Messenger, additive): the pay page link for a buy action the widget shows.
 * Channels get their pay links inside the message (the deliveries consumer
 * adds them); the widget renders the message itself, so it asks here, with
 * its session, for the link made for its own user. The conversation's object
 * checks the user takes part in the conversation; the action must be a buy.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { json } from '../api/context';
import { pageUrl } from '../content/page-links';
import { badRequest, forbidden, notFound } from '../http/errors';
import { readBody } from '../http/request';
import { objectId } from '../schema/common';
import { checkOrigin, requireWebIntegration } from '../web/integration';
import { readSession } from '../web/session';
import { findBuyAction } from './buy-action';

const index = v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(0, 'must be 0 or more'), v.maxValue(99, 'must be below 100'));
export const payBody = v.object({ messageId: objectId, item: v.optional(index), action: index });

export async function sdkPayLink(request: IRequest, env: Env): Promise<Response> {
  const appId = request.params.appId!;
  const session = await readSession(env, request.headers.get('authorization'), appId);
  checkOrigin(request, await requireWebIntegration(env, appId, session.integrationId));
  const body = await readBody(request, payBody);
  const ref = { appId, conversationId: request.params.conversationId!, messageId: body.messageId, ...(body.item !== undefined ? { item: body.item } : {}), action: body.action };
  const found = await findBuyAction(env, ref, session.userId);
  if (!found.ok) {
    if (found.problem === 'not_participant') throw forbidden('The session user is not a participant of this conversation');
    if (found.problem === 'message_gone') throw notFound('message_not_found', 'Message not found');
    throw badRequest('action: the message has no buy action at this position');
  }
  const base = (env.PUBLIC_URL ?? new URL(request.url).origin).replace(/\/+$/, '');
  return json({ url: await pageUrl(env, base, { kind: 'pay', ...ref, userId: session.userId }) });
}
