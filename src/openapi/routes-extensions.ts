/**
 * Parley's additions to the REST API, all marked `x-parley-extension: true`:
 * notifications (v2 and the v1/v1.1 paths Sunshine's v1 callers use),
 * webhook secret rotation, delivery logs and replay, WhatsApp templates,
 * exports, search, stats, usage, OAuth partner registration and tokenInfo.
 */
import { replayBody } from '../api/webhook-deliveries';
import { templateListQuery } from '../api/templates';
import { messageExportQuery, plainExportQuery } from '../schema/exports';
import { searchQuery, statsQuery, usageQuery } from '../schema/insights';
import { notificationBody } from '../schema/notification';
import { clientCreateBody as oauthClientCreateBody } from '../schema/oauth';
import { pageQuery } from '../schema/pagination';
import { envelopes as e } from '../schema/views';
import { notificationSent, searchHits, stats, templates, tokenInfo, usage, webhookDeliveries, webhookReplayAccepted } from '../schema/views-extensions';
import { extensions, json, type Route } from './route';

const APP = '/v2/apps/{appId}';
const WEBHOOK = `${APP}/integrations/{integrationId}/webhooks/{webhookId}`;

const IDEMPOTENCY = { name: 'Idempotency-Key', description: 'Makes a retried send safe: the same key within 24 hours answers the first result and sends nothing again.' };

function notification(path: string, deprecated: boolean): Route {
  return {
    method: 'post',
    path,
    tag: 'Notifications',
    summary: deprecated ? `Send a notification (${path.split('/')[1]} path)` : 'Send a notification',
    description: 'Reaches a person on a channel before they wrote first (WhatsApp, SMS, …) and starts or continues their conversation.',
    auth: 'api',
    body: notificationBody,
    headers: [IDEMPOTENCY],
    ok: json(notificationSent, 'Sent; `_id` is the stored message id', 201),
    errors: [409],
    ...(deprecated ? { deprecated: true } : {}),
  };
}

const exportRoute = (what: 'messages' | 'conversations' | 'users'): Route => ({
  method: 'get',
  path: `${APP}/exports/${what}`,
  tag: 'Exports',
  summary: `Export ${what}`,
  description:
    'Streams the indexed rows as NDJSON (default) or CSV in keyset order. At most `limit` rows per answer; when more match, a `Link: <…>; rel="next"` header resumes after the last row.',
  auth: 'api',
  query: what === 'messages' ? messageExportQuery : plainExportQuery,
  ok: { status: 200, description: 'The rows', media: 'application/x-ndjson' },
  more: [{ status: 200, description: 'The rows as CSV (format=csv)', media: 'text/csv' }],
});

export const extensionRoutes: Route[] = extensions([
  notification(`${APP}/notifications`, false),
  notification('/v1.1/apps/{appId}/notifications', true),
  notification('/v1/apps/{appId}/notifications', true),

  {
    method: 'post',
    path: `${WEBHOOK}/rotateSecret`,
    tag: 'Webhooks',
    summary: "Rotate a webhook's signing secret",
    auth: 'api',
    ok: json(e.webhook, 'The webhook with its new secret'),
  },
  {
    method: 'get',
    path: `${WEBHOOK}/deliveries`,
    tag: 'Webhooks',
    summary: 'List delivery attempts',
    description: 'Newest first: each attempt with its outcome, the receiver status and, when it failed, the cause in words (DNS, refused, TLS, timeout, status).',
    auth: 'api',
    query: pageQuery,
    ok: json(webhookDeliveries, 'The attempts'),
  },
  {
    method: 'post',
    path: `${WEBHOOK}/replay`,
    tag: 'Webhooks',
    summary: 'Replay events',
    description: 'Sends named events again, or the dead letters of a time range.',
    auth: 'api',
    body: replayBody,
    ok: json(webhookReplayAccepted, 'Queued', 202),
  },
  {
    method: 'get',
    path: `${APP}/integrations/{integrationId}/templates`,
    tag: 'Integrations',
    summary: 'List WhatsApp message templates',
    auth: 'api',
    query: templateListQuery,
    ok: json(templates, "The WhatsApp Business account's templates, as Meta lists them"),
    errors: [502],
  },

  exportRoute('messages'),
  exportRoute('conversations'),
  exportRoute('users'),
  {
    method: 'get',
    path: `${APP}/search/messages`,
    tag: 'Search',
    summary: 'Search messages',
    auth: 'api',
    query: searchQuery,
    ok: json(searchHits, 'Matching messages, best first, each with a highlight'),
  },
  { method: 'get', path: `${APP}/stats`, tag: 'Stats', summary: "An app's message and conversation counts over time", auth: 'api', query: statsQuery, ok: json(stats, 'Buckets') },
  { method: 'get', path: `${APP}/usage`, tag: 'Usage', summary: "An app's usage in a month", auth: 'api', query: usageQuery, ok: json(usage, 'Usage') },
  { method: 'get', path: '/v2/usage', tag: 'Usage', summary: "The account's usage in a month, per app and in total", auth: 'account', query: usageQuery, ok: json(usage, 'Usage') },

  { method: 'post', path: '/v2/oauth/clients', tag: 'OAuth', summary: 'Register an OAuth client (a partner)', auth: 'account', body: oauthClientCreateBody(false), ok: json(e.oauthClient, 'Registered; the secret is shown once', 201) },
  { method: 'get', path: '/v2/oauth/clients', tag: 'OAuth', summary: 'List OAuth clients', auth: 'account', ok: json(e.oauthClients, 'The clients') },
  { method: 'get', path: '/v2/oauth/clients/{clientId}', tag: 'OAuth', summary: 'Get an OAuth client', auth: 'account', ok: json(e.oauthClient, 'The client') },
  { method: 'delete', path: '/v2/oauth/clients/{clientId}', tag: 'OAuth', summary: 'Delete an OAuth client', auth: 'account', ok: json(e.empty, 'Deleted') },
  { method: 'get', path: '/v2/tokenInfo', tag: 'OAuth', summary: 'The app (and integration) behind the credentials used', auth: 'api', ok: json(tokenInfo, 'The app') },
]);
