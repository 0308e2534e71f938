/**
 * Every public route, in the order of the v2 API reference. Handlers parse,
 * authorize, call the owner and shape the response; errors thrown anywhere are
 * rendered here, once.
 */
import { Router, type IRequest } from 'itty-router';
import type { Env } from './env';
import * as apps from './api/apps';
import * as hooks from './channels/inbound';
import { serveMedia } from './channels/media';
import * as conversations from './api/conversations';
import * as integrations from './api/integrations';
import * as keys from './api/keys';
import * as messages from './api/messages';
import * as participants from './api/participants';
import * as users from './api/users';
import * as webhooks from './api/webhooks';
import * as webhookDeliveries from './api/webhook-deliveries';
import { errorResponse, StatusError } from './http/errors';

type Args = [Env, ExecutionContext];

const notFoundRoute = (request: IRequest) => {
  throw new StatusError(404, 'not_found', `No route for ${request.method} ${new URL(request.url).pathname}`);
};

export const router = Router<IRequest, Args>({ catch: errorResponse })
  .get('/healthz', () => Response.json({ ok: true }))
  .get('/hooks/:integrationId', hooks.handshake)
  .post('/hooks/:integrationId', hooks.receive)
  .get('/media/:integrationId/:token/:name', serveMedia)
  .post('/v2/apps', apps.create)
  .get('/v2/apps', apps.list)
  .get('/v2/apps/:appId', apps.get)
  .patch('/v2/apps/:appId', apps.update)
  .delete('/v2/apps/:appId', apps.remove)
  .post('/v2/apps/:appId/keys', keys.create)
  .get('/v2/apps/:appId/keys', keys.list)
  .get('/v2/apps/:appId/keys/:keyId', keys.get)
  .delete('/v2/apps/:appId/keys/:keyId', keys.remove)
  .post('/v2/apps/:appId/integrations', integrations.create)
  .get('/v2/apps/:appId/integrations', integrations.list)
  .get('/v2/apps/:appId/integrations/:integrationId', integrations.get)
  .patch('/v2/apps/:appId/integrations/:integrationId', integrations.update)
  .delete('/v2/apps/:appId/integrations/:integrationId', integrations.remove)
  .post('/v2/apps/:appId/integrations/:integrationId/keys', integrations.createKey)
  .get('/v2/apps/:appId/integrations/:integrationId/keys', integrations.listKeys)
  .get('/v2/apps/:appId/integrations/:integrationId/keys/:keyId', integrations.getKey)
  .delete('/v2/apps/:appId/integrations/:integrationId/keys/:keyId', integrations.removeKey)
  .post('/v2/apps/:appId/integrations/:integrationId/webhooks', webhooks.create)
  .get('/v2/apps/:appId/integrations/:integrationId/webhooks', webhooks.list)
  .get('/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId', webhooks.get)
  .patch('/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId', webhooks.update)
  .delete('/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId', webhooks.remove)
  .post('/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId/rotateSecret', webhooks.rotateSecret)
  .get('/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId/deliveries', webhookDeliveries.list)
  .post('/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId/replay', webhookDeliveries.replay)
  .post('/v2/apps/:appId/users', users.create)
  .get('/v2/apps/:appId/users/:userIdOrExternalId', users.get)
  .patch('/v2/apps/:appId/users/:userIdOrExternalId', users.update)
  .delete('/v2/apps/:appId/users/:userIdOrExternalId', users.remove)
  .delete('/v2/apps/:appId/users/:userIdOrExternalId/personalinformation', users.scrub)
  .get('/v2/apps/:appId/users/:userIdOrExternalId/clients', users.clients)
  .post('/v2/apps/:appId/conversations', conversations.create)
  .get('/v2/apps/:appId/conversations', conversations.list)
  .get('/v2/apps/:appId/conversations/:conversationId', conversations.get)
  .patch('/v2/apps/:appId/conversations/:conversationId', conversations.update)
  .delete('/v2/apps/:appId/conversations/:conversationId', conversations.remove)
  .post('/v2/apps/:appId/conversations/:conversationId/join', participants.join)
  .post('/v2/apps/:appId/conversations/:conversationId/leave', participants.leave)
  .get('/v2/apps/:appId/conversations/:conversationId/participants', participants.list)
  .post('/v2/apps/:appId/conversations/:conversationId/messages', messages.post)
  .get('/v2/apps/:appId/conversations/:conversationId/messages', messages.list)
  .delete('/v2/apps/:appId/conversations/:conversationId/messages', messages.removeAll)
  .delete('/v2/apps/:appId/conversations/:conversationId/messages/:messageId', messages.remove)
  .post('/v2/apps/:appId/conversations/:conversationId/activity', messages.activity)
  .all('*', notFoundRoute);
