/**
 * Parley's routes for browsers, channels and people rather than API callers,
 * all marked `x-parley-extension: true`: the landing page, these docs, health,
 * channel webhooks and media, the Web Messenger script and its `/sdk/…` API
 * (session tokens, CORS by the web integration's origin whitelist), hosted
 * pay and form pages, Stripe's webhook, attachment files, the OAuth consent.
 */
import * as v from 'valibot';
import { payBody } from '../payments/sdk-pay';
import { messageListQuery } from '../schema/message';
import { consentForm } from '../schema/oauth';
import { envelopes as e } from '../schema/views';
import { channelAck, health, payLink, webConfig, webConversations, webSession } from '../schema/views-extensions';
import { webCampaignQuery, webCampaigns } from '../schema/campaign';
import { loginBody, sessionBody, socketQuery, webActivityBody, webConversationBody, webMessageBody, webPostbackBody } from '../schema/web';
import { extensions, html, json, type Answer, type Route } from './route';

const SDK = '/sdk/v2/apps/{appId}';
const file = (description: string): Answer => ({ status: 200, description, media: '*/*' });
const page = (method: Route['method'], path: string, tag: string, summary: string, rest: Partial<Route> = {}): Route => ({ method, path, tag, summary, auth: 'none', ok: html('The page'), ...rest });
const sdk = (method: Route['method'], path: string, summary: string, rest: Partial<Route> = {}): Route => ({ method, path: SDK + path, tag: 'Web Messenger', summary, auth: 'session', ok: json(e.empty, 'OK'), ...rest });

const sdkRoutes: Route[] = [
  sdk('get', '/integrations/{integrationId}/config', "The web integration's public settings", { auth: 'none', ok: json(webConfig, 'The settings') }),
  sdk('get', '/integrations/{integrationId}/campaigns', 'The campaigns to show on a page', {
    auth: 'none',
    description:
      "The web integration's enabled campaigns whose `rules.urlContains` is in `url` (or that have none), oldest first; no session needed. Refused like the config to a site outside the integration's originWhitelist.",
    query: webCampaignQuery,
    ok: json(webCampaigns, 'The campaigns: id, message, delaySeconds, frequency'),
  }),
  sdk('post', '/sessions', 'Start an anonymous session', {
    auth: 'none',
    description:
      'With `campaignId` (a campaign of this app and integration, still enabled) the personal conversation is opened by the campaign: `conversation:create` with `creationReason: proactiveMessaging` and `source.campaign.id` (even when the app sets ignoreAutoConversationStart), then the campaign\'s message as its first, from the business. Any other well-formed id is ignored: the session opens as without one.',
    body: sessionBody,
    ok: json(webSession, 'A session token, the user, client and personal conversation', 201),
  }),
  sdk('post', '/login', "Log in with the business's signed JWT", {
    auth: 'none',
    description: 'Trades a JWT the business signed with an app key (`external_id`, `scope: appUser`) for a session of that user; merges the anonymous one if given.',
    body: loginBody,
    ok: json(webSession, 'The session of the logged-in user'),
  }),
  sdk('get', '/conversations', "The user's conversations", { ok: json(webConversations, 'Conversations with unread counts') }),
  sdk('post', '/conversations', 'Start another conversation', { body: webConversationBody, ok: json(e.conversation, 'Created', 201), errors: [403] }),
  sdk('get', '/conversations/{conversationId}/messages', 'List messages', { query: messageListQuery, ok: json(e.messages, 'Messages') }),
  sdk('post', '/conversations/{conversationId}/messages', 'Send a message', { body: webMessageBody, ok: json(e.messagesPosted, 'Stored', 201) }),
  sdk('post', '/conversations/{conversationId}/postback', 'Press a postback button', { body: webPostbackBody }),
  sdk('post', '/conversations/{conversationId}/pay', 'A link to the hosted pay page for a buy action', { body: payBody, ok: json(payLink, 'The signed pay page URL') }),
  sdk('post', '/conversations/{conversationId}/activity', 'Typing and read activity', { body: webActivityBody }),
  sdk('get', '/conversations/{conversationId}/socket', 'Live updates (WebSocket)', {
    description: 'Upgrade to a WebSocket (`Upgrade: websocket`). Browsers cannot set headers on it, so the session token may come as `?token=`; `after` resumes from a `seq`.',
    query: socketQuery,
    ok: { status: 101, description: 'Switching protocols' },
    errors: [426],
  }),
  sdk('post', '/attachments', 'Upload a file for a message', {
    body: { media: { 'multipart/form-data': v.object({ source: v.file() }) }, required: true },
    ok: json(e.attachment, 'Stored', 201),
    errors: [413, 415],
  }),
];

export const webRoutes: Route[] = extensions([
  page('get', '/', 'Parley', 'The landing page: links to these docs, the widget and the health of this deployment'),
  page('get', '/docs', 'Parley', 'This API reference'),
  { method: 'get', path: '/docs/{asset}', tag: 'Parley', summary: "The API reference's renderer (Swagger UI) and its start-up script", auth: 'none', ok: file('JavaScript or CSS, cached for a day') },
  { method: 'get', path: '/openapi.json', tag: 'Parley', summary: 'This OpenAPI 3.1 document', auth: 'none', ok: { status: 200, description: 'The document', media: 'application/json' } },
  { method: 'get', path: '/healthz', tag: 'Parley', summary: 'Liveness', auth: 'none', ok: json(health, 'Up') },
  page('get', '/dashboard', 'Parley', 'The operator dashboard (sign in with an app key)'),

  {
    method: 'get',
    path: '/hooks/{integrationId}',
    tag: 'Channel webhooks',
    summary: "A channel's webhook handshake (Meta hub.challenge, X CRC, WeChat echostr) or GET events (MessageBird)",
    auth: 'none',
    ok: { status: 200, description: 'The handshake answer the channel expects', media: 'text/plain' },
    errors: [401, 404, 405],
  },
  {
    method: 'post',
    path: '/hooks/{integrationId}',
    tag: 'Channel webhooks',
    summary: "A channel's events, verified by the channel's own signature",
    description: "The body is the channel's own format (JSON, form or XML); Parley verifies it, normalizes it and answers once its conversation committed it.",
    auth: 'none',
    body: { media: { '*/*': undefined }, required: true },
    ok: json(channelAck, 'Accepted'),
    errors: [401, 404, 413],
  },
  { method: 'get', path: '/media/{integrationId}/{token}/{name}', tag: 'Channel webhooks', summary: 'A file Parley relays to a channel that fetches media by URL (signed, short-lived)', auth: 'none', ok: file('The file'), errors: [403, 404] },
  { method: 'get', path: '/attachments/{appId}/{key}/{name}', tag: 'Attachments', summary: 'An uploaded attachment', auth: 'none', ok: file('The file'), errors: [404] },
  {
    method: 'get',
    path: '/web-messenger.js',
    tag: 'Web Messenger',
    summary: 'The Web Messenger script to embed',
    auth: 'none',
    ok: { status: 200, description: 'The script (ETag; cached 5 minutes)', media: 'text/javascript' },
    more: [{ status: 304, description: 'Not modified (If-None-Match)' }],
  },
  ...sdkRoutes,
  ...sdkRoutes.map((r): Route => ({ method: 'options', path: r.path, tag: 'Web Messenger', summary: 'CORS preflight', auth: 'none', ok: { status: 204, description: 'Allowed for an origin the web integration lists' }, errors: [403] })).filter(
    (r, i, all) => all.findIndex((o) => o.path === r.path) === i,
  ),

  page('get', '/pages/pay/{token}', 'Hosted pages', 'The pay page of a buy action (signed link): starts a Stripe Checkout', { more: [{ status: 303, description: 'To Stripe Checkout' }], errors: [403, 404, 410] }),
  page('get', '/pages/pay/{token}/done', 'Hosted pages', 'Where Stripe returns after paying'),
  page('get', '/pages/pay/{token}/cancelled', 'Hosted pages', 'Where Stripe returns after cancelling'),
  page('get', '/pages/form/{token}', 'Hosted pages', 'A form message as a page (signed link), for channels that cannot show forms', { errors: [403, 404, 410] }),
  page('post', '/pages/form/{token}', 'Hosted pages', 'Submit the form page; answers a formResponse message in the conversation', {
    body: { media: { 'application/x-www-form-urlencoded': v.record(v.string(), v.string()) }, required: true },
    errors: [400, 403, 404, 410],
  }),
  {
    method: 'post',
    path: '/payments/stripe/{integrationId}',
    tag: 'Payments',
    summary: "Stripe's webhook for a Stripe integration (checkout.session.completed and friends)",
    auth: 'none',
    headers: [{ name: 'Stripe-Signature', description: "Stripe's signature over the body with the integration's webhookSecret", required: true }],
    body: { media: { 'application/json': v.looseObject({ id: v.string(), type: v.string() }) }, required: true },
    ok: json(v.looseObject({}), 'Received'),
    errors: [400, 401, 404],
  },
  page('post', '/oauth/authorize', 'OAuth', "The consent form's decision", {
    body: { media: { 'application/x-www-form-urlencoded': consentForm }, required: true },
    ok: { status: 302, description: 'Back to the redirect_uri with a code (approve) or error=access_denied' },
    more: [html('The consent page again with what was wrong (a bad key)', 400)],
  }),
]);
