/**
 * The routes of src/router.ts as tables an attacker walks: every
 * `/v2/apps/...` route aimed at one tenant's real resources, and every
 * Web Messenger route that needs a session (the socket upgrade included).
 * Bodies are valid, so a missing wall would show as a 2xx, not a 400.
 * `walk` sends a table with one credential and answers route → outcome
 * ("401 unauthorized"), and an outcome is only ever a status and a code when
 * the body is exactly the v2 error envelope.
 */
import { SELF } from 'cloudflare:test';
import { RECEIVER_ORIGIN } from '../channels/harness';
import { ORIGIN } from '../web/web';
import { uploadForm, type Tenant } from './world';

export interface Route {
  family: string;
  name: string;
  method: string;
  path: string;
  body?: unknown;
  /** A multipart upload of a small text file in field `source`. */
  upload?: boolean;
  /** A WebSocket upgrade; the credential rides as the second subprotocol, as the widget sends it. */
  socket?: boolean;
}

const route = (family: string, name: string, method: string, path: string, body?: unknown): Route => ({ family, name, method, path, ...(body !== undefined ? { body } : {}) });
const text = (t: string) => ({ type: 'text', text: t });

/** Every authenticated REST route, aimed at tenant `t`'s own resources. */
export function apiRoutes(t: Tenant): Route[] {
  const app = `/v2/apps/${t.appId}`;
  const custom = `${app}/integrations/${t.custom.id}`;
  const webhook = `${custom}/webhooks/${t.custom.webhookId}`;
  const conv = `${app}/conversations/${t.seed.conversationId}`;
  const group = `${app}/conversations/${t.seed.groupId}`;
  const planted = { target: `${RECEIVER_ORIGIN}/planted`, triggers: ['*'] };
  return [
    route('apps', 'create an app', 'POST', '/v2/apps', { displayName: 'planted' }),
    route('apps', 'list apps', 'GET', '/v2/apps'),
    route('apps', 'get the app', 'GET', app),
    route('apps', 'rename the app', 'PATCH', app, { displayName: 'owned' }),
    route('apps', 'delete the app', 'DELETE', app),
    route('keys', 'create an app key', 'POST', `${app}/keys`, { displayName: 'planted' }),
    route('keys', 'list app keys', 'GET', `${app}/keys`),
    route('keys', 'get the app key', 'GET', `${app}/keys/${t.seed.key.id}`),
    route('keys', 'delete the app key', 'DELETE', `${app}/keys/${t.seed.key.id}`),
    route('integrations', 'create a custom integration', 'POST', `${app}/integrations`, { type: 'custom', webhooks: [planted] }),
    route('integrations', 'create a web integration', 'POST', `${app}/integrations`, { type: 'web', originWhitelist: [] }),
    route('integrations', 'list integrations', 'GET', `${app}/integrations`),
    route('integrations', 'get the custom integration', 'GET', custom),
    route('integrations', 'get the telegram integration', 'GET', `${app}/integrations/${t.channels.telegram.id}`),
    route('integrations', 'rename the custom integration', 'PATCH', custom, { displayName: 'owned' }),
    route('integrations', 'rename the messenger integration', 'PATCH', `${app}/integrations/${t.channels.messenger.id}`, { displayName: 'owned' }),
    route('integrations', 'open the web integration to every origin', 'PATCH', `${app}/integrations/${t.web.integrationId}`, { originWhitelist: [] }),
    route('integrations', 'delete the telegram integration', 'DELETE', `${app}/integrations/${t.channels.telegram.id}`),
    route('integrations', 'delete the custom integration', 'DELETE', custom),
    route('integration keys', 'create an integration key', 'POST', `${custom}/keys`, { displayName: 'planted' }),
    route('integration keys', 'list integration keys', 'GET', `${custom}/keys`),
    route('integration keys', 'get the integration key', 'GET', `${custom}/keys/${t.custom.key.id}`),
    route('integration keys', 'delete the integration key', 'DELETE', `${custom}/keys/${t.custom.key.id}`),
    route('webhooks', 'create a webhook', 'POST', `${custom}/webhooks`, planted),
    route('webhooks', 'list webhooks', 'GET', `${custom}/webhooks`),
    route('webhooks', 'get the webhook (its secret)', 'GET', webhook),
    route('webhooks', 'repoint the webhook', 'PATCH', webhook, { target: `${RECEIVER_ORIGIN}/stolen` }),
    route('webhooks', 'delete the webhook', 'DELETE', webhook),
    route('webhooks', 'rotate the webhook secret', 'POST', `${webhook}/rotateSecret`),
    route('webhook deliveries', 'list deliveries', 'GET', `${webhook}/deliveries`),
    route('webhook deliveries', 'replay an event', 'POST', `${webhook}/replay`, { eventIds: [t.eventId] }),
    route('users', 'create a user', 'POST', `${app}/users`, { externalId: 'planted' }),
    route('users', 'get a user by id', 'GET', `${app}/users/${t.seed.userId}`),
    route('users', 'get a user by externalId', 'GET', `${app}/users/${t.seed.userExternalId}`),
    route('users', 'update a user', 'PATCH', `${app}/users/${t.seed.userId}`, { profile: { givenName: 'Mallory' } }),
    route('users', 'delete a user', 'DELETE', `${app}/users/${t.seed.userId}`),
    route('users', "scrub a user's personal information", 'DELETE', `${app}/users/${t.seed.userId}/personalinformation`),
    route('clients', "list a user's clients", 'GET', `${app}/users/${t.seed.userId}/clients`),
    route('conversations', 'create a conversation', 'POST', `${app}/conversations`, { type: 'sdkGroup', participants: [{ userId: t.seed.userId }] }),
    route('conversations', "list a user's conversations", 'GET', `${app}/conversations?filter[userId]=${t.seed.userId}`),
    route('conversations', 'get a conversation', 'GET', conv),
    route('conversations', 'update a conversation', 'PATCH', conv, { displayName: 'owned' }),
    route('conversations', 'delete a conversation', 'DELETE', group),
    route('participants', 'join a conversation', 'POST', `${group}/join`, { userId: t.seed.otherUserId }),
    route('participants', 'leave a conversation', 'POST', `${group}/leave`, { userId: t.seed.otherUserId }),
    route('participants', 'list participants', 'GET', `${group}/participants`),
    route('messages', 'post a message', 'POST', `${conv}/messages`, { author: { type: 'business' }, content: text('planted') }),
    route('messages', 'post to a channel user', 'POST', `${app}/conversations/${t.telegramConversationId}/messages`, { author: { type: 'business' }, content: text('phishing') }),
    route('messages', 'list messages', 'GET', `${conv}/messages`),
    route('messages', 'delete a message', 'DELETE', `${conv}/messages/${t.seed.messageId}`),
    route('messages', 'delete all messages', 'DELETE', `${conv}/messages`),
    route('activity', 'mark a conversation read', 'POST', `${conv}/activity`, { author: { type: 'business' }, type: 'conversation:read' }),
    { family: 'attachments', name: 'upload an attachment', method: 'POST', path: `${app}/attachments?access=public`, upload: true },
  ];
}

/** Every Web Messenger route that needs a session token, aimed at tenant `t` and one of its conversations. */
export function browserRoutes(t: Tenant, conversationId: string): Route[] {
  const sdk = `/sdk/v2/apps/${t.appId}`;
  const conv = `${sdk}/conversations/${conversationId}`;
  return [
    route('browser', 'list conversations', 'GET', `${sdk}/conversations`),
    route('browser', 'create a conversation', 'POST', `${sdk}/conversations`, { displayName: 'planted' }),
    route('browser', 'list messages', 'GET', `${conv}/messages`),
    route('browser', 'post a message', 'POST', `${conv}/messages`, { content: text('planted') }),
    route('browser', 'send a postback', 'POST', `${conv}/postback`, { payload: 'BUY' }),
    route('browser', 'mark read', 'POST', `${conv}/activity`, { type: 'conversation:read' }),
    route('browser', 'start typing', 'POST', `${conv}/activity`, { type: 'typing:start' }),
    { family: 'browser', name: 'upload a file', method: 'POST', path: `${sdk}/attachments`, upload: true },
    { family: 'browser', name: 'open the socket', method: 'GET', path: `${conv}/socket?after=0`, socket: true },
  ];
}

export interface Sent {
  status: number;
  headers: Headers;
  body: any;
}

/** One request as a browser on the listed origin sends it (the origin is never the reason for a refusal here). */
export async function send(r: Route, authorization: string | undefined): Promise<Sent> {
  const headers: Record<string, string> = { origin: ORIGIN };
  if (r.socket) {
    headers.upgrade = 'websocket';
    const token = authorization?.replace(/^Bearer\s+/i, '');
    headers['sec-websocket-protocol'] = token ? `parley, ${token}` : 'parley';
  } else if (authorization !== undefined) {
    headers.authorization = authorization;
  }
  let body: BodyInit | undefined;
  if (r.upload) body = uploadForm();
  else if (r.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(r.body);
  }
  const res = await SELF.fetch(`http://parley.test${r.path}`, { method: r.method, headers, ...(body !== undefined ? { body } : {}) });
  if (res.webSocket) {
    // An upgrade where a refusal belongs: close it so the suite can go on and report it.
    res.webSocket.accept();
    res.webSocket.close();
    return { status: res.status, headers: res.headers, body: undefined };
  }
  const raw = await res.text();
  let parsed: unknown = raw;
  try {
    parsed = raw ? JSON.parse(raw) : undefined;
  } catch {
    // Not JSON: kept as text, which `outcome` reports as not a v2 error.
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

const isV2Error = (body: any) =>
  body !== null &&
  typeof body === 'object' &&
  Object.keys(body).join() === 'errors' &&
  Array.isArray(body.errors) &&
  body.errors.length === 1 &&
  Object.keys(body.errors[0]).sort().join() === 'code,title' &&
  typeof body.errors[0].code === 'string' &&
  typeof body.errors[0].title === 'string';

/** "403 forbidden" for a v2 error body; anything else shows its status and a piece of what came back. */
export function outcome(res: { status: number; body: unknown; headers?: Headers }): string {
  if (isV2Error(res.body) && (!res.headers || /^application\/json/.test(res.headers.get('content-type') ?? ''))) return `${res.status} ${(res.body as any).errors[0].code}`;
  return `${res.status} (not a v2 error: ${JSON.stringify(res.body)?.slice(0, 120)})`;
}

export const label = (r: Route) => `${r.family}: ${r.name}`;

/** Sends every route of a table at once with one credential (refusals do not depend on order); route label → outcome. */
export async function walk(routes: Route[], authorization: string | undefined): Promise<Record<string, string>> {
  const outcomes = await Promise.all(routes.map(async (r) => [label(r), outcome(await send(r, authorization))] as const));
  return Object.fromEntries(outcomes);
}

/** The same expected outcome for every route of a table, with exceptions by label. */
export function expecting(routes: Route[], expected: string, except: Record<string, string> = {}): Record<string, string> {
  return Object.fromEntries(routes.map((r) => [label(r), except[label(r)] ?? expected]));
}
