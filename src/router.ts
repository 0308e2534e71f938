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
import * as clients from './api/clients';
import * as conversations from './api/conversations';
import * as downloadRef from './api/download-ref';
import * as exports from './api/exports';
import * as devices from './api/devices';
import * as integrations from './api/integrations';
import * as keys from './api/keys';
import * as messages from './api/messages';
import * as oauth from './api/oauth';
import * as notifications from './api/notifications';
import * as participants from './api/participants';
import * as switchboards from './api/switchboards';
import * as templates from './api/templates';
import * as messageTemplates from './api/message-templates';
import * as campaigns from './api/campaigns';
import * as webCampaigns from './web/campaigns';
import * as users from './api/users';
import * as webhooks from './api/webhooks';
import * as webhookDeliveries from './api/webhook-deliveries';
import * as search from './api/search';
import * as stats from './api/stats';
import * as usage from './api/usage';
import { errorResponse, StatusError } from './http/errors';
import * as attachments from './api/attachments';
import * as sdk from './web/sdk';
import * as payPage from './api/pages-pay';
import { receiveStripeEvent } from './payments/stripe-webhook';
import { sdkPayLink } from './payments/sdk-pay';
import * as formPage from './pages/form-page';
import { login } from './web/login';
import { OriginRefused, preflight, withCors } from './web/integration';
import { WEB_MESSENGER_ETAG, WEB_MESSENGER_JS } from './web/widget-bundle.generated';
import { dashboardPage } from './web/dashboard';
import { docsAsset, docsPage } from './web/docs';
import { landingPage } from './web/landing';
import { openApiJson } from './openapi/document';

type Args = [Env, ExecutionContext];
type Handler = (request: IRequest, env: Env, ctx: ExecutionContext) => Promise<Response>;

/** Browser routes render their own errors so that every answer but an origin refusal carries CORS headers. */
const browser =
  (handler: Handler) =>
  async (request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> => {
    try {
      return withCors(request, await handler(request, env, ctx), false);
    } catch (err) {
      return withCors(request, errorResponse(err), err instanceof OriginRefused);
    }
  };

/** The widget script, built from src/widget by scripts/build-widget.mjs; cached briefly so a deploy reaches pages within minutes. */
function widgetScript(request: IRequest): Response {
  const etag = `"${WEB_MESSENGER_ETAG}"`;
  const headers = {
    'content-type': 'text/javascript; charset=utf-8',
    'cache-control': 'public, max-age=300',
    etag,
    'access-control-allow-origin': '*',
    'cross-origin-resource-policy': 'cross-origin',
  };
  if (request.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers });
  return new Response(WEB_MESSENGER_JS, { headers });
}

const notFoundRoute = (request: IRequest) => {
  throw new StatusError(404, 'not_found', `No route for ${request.method} ${new URL(request.url).pathname}`);
};

export const router = Router<IRequest, Args>({ catch: errorResponse })
  .get('/healthz', () => Response.json({ ok: true }))
  .get('/', landingPage)
  .get('/docs', docsPage)
  .get('/docs/:asset', docsAsset)
  .get('/openapi.json', openApiJson)
  .get('/hooks/:integrationId', hooks.handshake)
  .post('/hooks/:integrationId', hooks.receive)
  .get('/media/:integrationId/:token/:name', serveMedia)
  .get('/web-messenger.js', widgetScript)
  .get('/dashboard', dashboardPage)
  .get('/pages/pay/:token', payPage.pay)
  .get('/pages/pay/:token/done', payPage.done)
  .get('/pages/pay/:token/cancelled', payPage.cancelled)
  .post('/payments/stripe/:integrationId', receiveStripeEvent)
  .get('/pages/form/:token', formPage.show)
  .post('/pages/form/:token', formPage.submit)
  .get('/attachments/:appId/:key/:name', attachments.serve)
  .options('/sdk/*', preflight)
  .get('/sdk/v2/apps/:appId/integrations/:integrationId/config', browser(sdk.config))
  .get('/sdk/v2/apps/:appId/integrations/:integrationId/campaigns', browser(webCampaigns.list))
  .post('/sdk/v2/apps/:appId/sessions', browser(sdk.startSession))
  .post('/sdk/v2/apps/:appId/login', browser(login))
  .get('/sdk/v2/apps/:appId/conversations', browser(sdk.conversations))
  .post('/sdk/v2/apps/:appId/conversations', browser(sdk.createConversation))
  .get('/sdk/v2/apps/:appId/conversations/:conversationId/messages', browser(sdk.listMessages))
  .post('/sdk/v2/apps/:appId/conversations/:conversationId/messages', browser(sdk.postMessage))
  .post('/sdk/v2/apps/:appId/conversations/:conversationId/postback', browser(sdk.postback))
  .post('/sdk/v2/apps/:appId/conversations/:conversationId/pay', browser(sdkPayLink))
  .post('/sdk/v2/apps/:appId/conversations/:conversationId/activity', browser(sdk.activity))
  .get('/sdk/v2/apps/:appId/conversations/:conversationId/socket', browser(sdk.socket))
  .post('/sdk/v2/apps/:appId/attachments', browser(sdk.upload))
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
  .get('/v2/apps/:appId/integrations/:integrationId/templates', templates.list)
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
  .post('/v2/apps/:appId/users/:userIdOrExternalId/clients', clients.create)
  .delete('/v2/apps/:appId/users/:userIdOrExternalId/clients/:clientId', clients.remove)
  .get('/v2/apps/:appId/users/:userIdOrExternalId/devices', devices.list)
  .get('/v2/apps/:appId/users/:userIdOrExternalId/devices/:deviceId', devices.get)
  .post('/v2/apps/:appId/conversations', conversations.create)
  .get('/v2/apps/:appId/conversations', conversations.list)
  .get('/v2/apps/:appId/conversations/:conversationId', conversations.get)
  .patch('/v2/apps/:appId/conversations/:conversationId', conversations.update)
  .delete('/v2/apps/:appId/conversations/:conversationId', conversations.remove)
  .post('/v2/apps/:appId/conversations/:conversationId/download', downloadRef.download)
  .post('/v2/apps/:appId/conversations/:conversationId/join', participants.join)
  .post('/v2/apps/:appId/conversations/:conversationId/leave', participants.leave)
  .get('/v2/apps/:appId/conversations/:conversationId/participants', participants.list)
  .post('/v2/apps/:appId/conversations/:conversationId/messages', messages.post)
  .get('/v2/apps/:appId/conversations/:conversationId/messages', messages.list)
  .delete('/v2/apps/:appId/conversations/:conversationId/messages', messages.removeAll)
  .delete('/v2/apps/:appId/conversations/:conversationId/messages/:messageId', messages.remove)
  .post('/v2/apps/:appId/conversations/:conversationId/passControl', switchboards.control('passControl'))
  .post('/v2/apps/:appId/conversations/:conversationId/offerControl', switchboards.control('offerControl'))
  .post('/v2/apps/:appId/conversations/:conversationId/acceptControl', switchboards.control('acceptControl'))
  .post('/v2/apps/:appId/conversations/:conversationId/releaseControl', switchboards.control('releaseControl'))
  .post('/v2/apps/:appId/switchboards', switchboards.create)
  .get('/v2/apps/:appId/switchboards', switchboards.list)
  .patch('/v2/apps/:appId/switchboards/:switchboardId', switchboards.update)
  .delete('/v2/apps/:appId/switchboards/:switchboardId', switchboards.remove)
  .post('/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations', switchboards.createIntegration)
  .get('/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations', switchboards.listIntegrations)
  .patch('/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations/:switchboardIntegrationId', switchboards.updateIntegration)
  .delete('/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations/:switchboardIntegrationId', switchboards.removeIntegration)
  .post('/v2/apps/:appId/templates', messageTemplates.create)
  .get('/v2/apps/:appId/templates', messageTemplates.list)
  .get('/v2/apps/:appId/templates/:templateId', messageTemplates.get)
  .patch('/v2/apps/:appId/templates/:templateId', messageTemplates.update)
  .delete('/v2/apps/:appId/templates/:templateId', messageTemplates.remove)
  .post('/v2/apps/:appId/campaigns', campaigns.create)
  .get('/v2/apps/:appId/campaigns', campaigns.list)
  .get('/v2/apps/:appId/campaigns/:campaignId', campaigns.get)
  .patch('/v2/apps/:appId/campaigns/:campaignId', campaigns.update)
  .delete('/v2/apps/:appId/campaigns/:campaignId', campaigns.remove)
  .post('/v2/apps/:appId/notifications', notifications.send)
  .post('/v1.1/apps/:appId/notifications', notifications.send)
  .post('/v1/apps/:appId/notifications', notifications.send)
  .post('/v2/apps/:appId/attachments', attachments.upload)
  .post('/v2/apps/:appId/attachments/remove', attachments.remove)
  .post('/v2/apps/:appId/conversations/:conversationId/activity', messages.activity)
  .get('/v2/apps/:appId/exports/messages', exports.messages)
  .get('/v2/apps/:appId/exports/conversations', exports.conversations)
  .get('/v2/apps/:appId/exports/users', exports.users)
  .get('/v2/apps/:appId/search/messages', search.messages)
  .get('/v2/apps/:appId/stats', stats.get)
  .get('/v2/apps/:appId/usage', usage.app)
  .get('/v2/usage', usage.account)
  .post('/v2/oauth/clients', oauth.registerClient)
  .get('/v2/oauth/clients', oauth.listClients)
  .get('/v2/oauth/clients/:clientId', oauth.getClient)
  .delete('/v2/oauth/clients/:clientId', oauth.removeClient)
  .get('/v2/tokenInfo', oauth.tokenInfo)
  .get('/oauth/authorize', oauth.authorize)
  .post('/oauth/authorize', oauth.consent)
  .post('/oauth/token', oauth.token)
  .delete('/oauth/authorization', oauth.revoke)
  .all('*', notFoundRoute);
