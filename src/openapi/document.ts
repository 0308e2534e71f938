/**
 * The OpenAPI 3.1 document of everything the Worker serves, built from the
 * route descriptions (routes-*.ts) and the valibot schemas they name, once
 * per isolate on the first request for it and kept. Served at
 * `GET /openapi.json`; the typed client in clients/typescript is generated
 * from it (`npm run client:generate`).
 */
import { content } from '../schema/content';
import { conversationView, participantView } from '../schema/conversation';
import * as views from '../schema/views';
import { converter, queryParameters, type Json, type Schema } from './convert';
import { contractRoutes } from './routes-contract';
import { extensionRoutes } from './routes-extensions';
import { webRoutes } from './routes-web';
import { messageTemplateRoutes } from './routes-message-templates';
import { campaignRoutes } from './routes-campaigns';
import type { Answer, Auth, Route } from './route';

export const ALL_ROUTES: Route[] = [...contractRoutes, ...extensionRoutes, ...messageTemplateRoutes, ...campaignRoutes, ...webRoutes];

/** Shapes that get a name under components.schemas (and a `$ref` wherever they appear). */
const NAMED: Record<string, Schema> = {
  Error: views.errorBody,
  PageMeta: views.pageMeta,
  PageLinks: views.pageLinks,
  App: views.appView,
  Key: views.keyView,
  Integration: views.integrationView,
  Webhook: views.webhookView,
  User: views.userView,
  Identity: views.identityView,
  Client: views.clientView,
  Device: views.deviceView,
  Conversation: conversationView,
  Participant: participantView,
  Message: views.messageView,
  Author: views.authorView,
  Source: views.sourceView,
  Content: content,
  Switchboard: views.switchboardView,
  SwitchboardIntegration: views.switchboardIntegrationView,
  Attachment: views.attachmentView,
  OAuthClient: views.oauthClientView,
};

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad request: the body or query failed validation; `title` names the field',
  401: 'No or invalid credentials',
  403: 'The credentials may not do this',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  410: 'Gone (an expired link)',
  413: 'Too large',
  415: 'Unsupported media type',
  426: 'Upgrade required (a WebSocket route)',
  429: 'Too many requests',
  502: 'The channel or upstream service failed',
};

const SECURITY: Record<Auth, Json[]> = {
  api: [{ basicAuth: [] }, { bearerAuth: [] }, { oauth2: [] }],
  account: [{ basicAuth: [] }, { bearerAuth: [] }],
  session: [{ sdkSession: [] }],
  none: [],
};

const securitySchemes = {
  basicAuth: {
    type: 'http',
    scheme: 'basic',
    description: 'An API key: its id (`act_…` account key, `app_…` app key, `int_…` integration key) as the user name and its secret as the password.',
  },
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An HS256 JWT signed with a key secret, `kid` = the key id, `scope` = `account`, `app` or `integration` (as Sunshine Conversations).',
  },
  oauth2: {
    type: 'oauth2',
    description: 'An access token a partner obtained through the OAuth flow (`/oauth/authorize`, `/oauth/token`), sent as `Authorization: Bearer`.',
    flows: { authorizationCode: { authorizationUrl: '/oauth/authorize', tokenUrl: '/oauth/token', scopes: {} } },
  },
  sdkSession: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'Parley Web Messenger session',
    description: 'The `session.token` answered by `POST /sdk/v2/apps/{appId}/sessions` or `/login`; the Web Messenger sends it for its user.',
  },
};

const operationId = (r: Route) =>
  r.method +
  r.path
    .split('/')
    .filter(Boolean)
    .map((s) => s.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase()))
    .map((s) => s.charAt(0).toUpperCase() + s.slice(1))
    .join('');

export function buildDocument(): Json {
  const conv = converter(NAMED);
  const answer = (a: Answer): Json => ({
    description: a.description,
    ...(a.schema ? { content: { 'application/json': { schema: conv.toSchema(a.schema) } } } : a.media ? { content: { [a.media]: {} } } : {}),
  });

  const paths: Record<string, Record<string, Json>> = {};
  for (const r of ALL_ROUTES) {
    const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const queries = r.query ? (Array.isArray(r.query) ? r.query : [r.query]) : [];
    const headers = (r.headers ?? []).map((h) => ({ name: h.name, in: 'header', required: Boolean(h.required), description: h.description, schema: { type: 'string' } }));
    const responses: Record<string, Json> = {};
    for (const a of [r.ok, ...(r.more ?? [])]) {
      const key = String(a.status);
      const prev = responses[key];
      // Two answers with one status (NDJSON or CSV): one response, several media types.
      responses[key] = prev ? { ...prev, content: { ...(prev.content as Json), ...(answer(a).content as Json) } } : answer(a);
    }
    const errors = new Set([...(r.auth === 'none' ? [] : [400, 401, 403, 404]), ...(r.errors ?? [])]);
    for (const status of [...errors].sort()) responses[String(status)] ??= { $ref: `#/components/responses/E${status}` };
    if (r.auth !== 'none') responses.default = { $ref: '#/components/responses/Error' };

    let requestBody: Json | undefined;
    if (r.body) {
      const media = '~standard' in r.body ? undefined : r.body;
      const content = media
        ? Object.fromEntries(Object.entries(media.media).map(([type, s]) => [type, s ? { schema: conv.toSchema(s) } : {}]))
        : { 'application/json': { schema: conv.toSchema(r.body as Schema) } };
      requestBody = { required: media?.required ?? true, content };
    }

    (paths[r.path] ??= {})[r.method] = {
      operationId: operationId(r),
      tags: [r.tag],
      summary: r.summary,
      ...(r.description || r.auth === 'account' ? { description: [r.description, r.auth === 'account' ? 'Needs the account key (`act_…`).' : ''].filter(Boolean).join('\n\n') } : {}),
      ...(r.deprecated ? { deprecated: true } : {}),
      parameters: [...pathParams, ...queries.flatMap((q) => queryParameters(q, conv)), ...headers],
      ...(requestBody ? { requestBody } : {}),
      responses,
      security: SECURITY[r.auth],
      ...(r.extension ? { 'x-parley-extension': true } : {}),
    };
  }

  const errorResponses = Object.fromEntries(
    Object.entries(ERROR_TEXT).map(([status, text]) => [`E${status}`, { description: text, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Parley API',
      version: '2',
      summary: 'Omnichannel messaging on Cloudflare Workers, wire-compatible with the Sunshine Conversations v2 API.',
      description:
        "The Sunshine Conversations v2 contract as Parley serves it, plus Parley's additions, each marked `x-parley-extension: true`. Errors answer `{\"errors\":[{\"code\",\"title\"}]}`. Lists page with `page[after]`/`page[before]`/`page[size]` and answer `meta` and `links`.",
      license: { name: 'MIT', identifier: 'MIT' },
    },
    // No `servers`: the default, `/`, is this deployment wherever it runs (and Swagger UI then draws no unlabelled server picker).
    tags: [...new Set(ALL_ROUTES.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: conv.components(),
      responses: { ...errorResponses, Error: { description: 'Any other failure, in the v2 error body', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
      securitySchemes,
    },
  };
}

let cached: string | undefined;

/** `GET /openapi.json`: built on first use in this isolate, then served from memory. */
export function openApiJson(): Response {
  cached ??= JSON.stringify(buildDocument());
  return new Response(cached, {
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*' },
  });
}
