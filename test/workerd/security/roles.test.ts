/**
 * The attacker's suite (issue 11): the five attackers of the security review,
 * each against every route family of src/router.ts, in a world of two
 * tenants (world.ts): the victim V and the attacker's own app A.
 *
 *  (e) nobody: no credentials, forged Basic, alg-none, expired and malformed JWTs
 *  (a) the app key of another app
 *  (b) an integration key (of V's second custom integration, and against A)
 *  (c) a Web Messenger session (another visitor's, another app's, forged tokens)
 *  (d) a channel account: signs its own channel webhooks, holds its own media URLs
 *
 * Each refusal is pinned to its status and code in the v2 error format, and
 * each role ends by reading V back — API with V's keys, D1 rows and R2
 * objects — and comparing it with what it was before that role played: the
 * attacks stored and changed nothing. A last control walks the same tables
 * as A's owner and gets 2xx everywhere, so every refusal is a wall and not a
 * malformed request. Already covered elsewhere, and not
 * repeated: tenancy.test.ts (app key A on B's users, conversations,
 * participants, messages, activity, app and keys), auth.test.ts (every JWT
 * and Basic trick on one route), web/auth.test.ts (visitor 1 on visitor 2's
 * conversation, origins, login JWTs), security/outbound.test.ts (SSRF).
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACCOUNT, asAccount, basic, call } from '../helpers';
import { b64url, bearer, handJwt, nowSeconds, raw } from '../fixtures';
import { hook } from '../channels/harness';
import { decodePayload, sessionSecret, storedMessages } from '../web/web';
import { apiRoutes, browserRoutes, expecting, outcome, send, walk, type Route } from './routes';
import { buildWorld, CHANNELS, state, type ChannelKind, type State, type Tenant, type World } from './world';

// Each test is quick alone; the generous cap is for a machine that is busy with other suites.
vi.setConfig({ testTimeout: 20_000, hookTimeout: 60_000 });

let world: World;
let V: Tenant;
let A: Tenant;

beforeAll(async () => {
  world = await buildWorld();
  V = world.victim;
  A = world.attacker;
});

afterAll(async () => {
  await world?.restore();
});

/** Takes V's state before the role's attacks; the role's last test compares. */
function victimReadBack() {
  const held: { before?: State } = {};
  beforeAll(async () => {
    held.before = await state(V);
  });
  return held;
}

const unchanged = async (before: State | undefined) => {
  expect(before).toBeDefined();
  expect(await state(V)).toStrictEqual(before);
};

const ofFamily = (routes: Route[], family: string) => routes.filter((r) => r.family === family);
// Route tables are built lazily (ids exist after beforeAll); these fixed names only label the tests.
const API_FAMILIES = ['apps', 'keys', 'integrations', 'integration keys', 'webhooks', 'webhook deliveries', 'users', 'clients', 'conversations', 'participants', 'messages', 'activity', 'attachments'];

const at = (path: string) => raw('GET', path);

// ---- (e) nobody ------------------------------------------------------------------------------

/** Credentials someone without a key can make up; those signed with V's real secret stand for an old or leaked token, wrong only in their claims. */
const FORGED_API = [
  'no Authorization',
  "Basic: V's key id, a guessed secret",
  "Basic: an unknown key id, V's secret",
  'Basic: the account key id, a guessed secret',
  "Basic: V's integration key id, a guessed secret",
  "Bearer: alg none naming V's key",
  "Bearer: V's key, expired",
  "Bearer: V's key, exp a string",
  "Bearer: V's key, scope user (the JWT a business gives its web page)",
  "Bearer: V's key, scope account",
  'Bearer: the account kid, signed with a guessed secret',
] as const;

async function forgedApi(name: (typeof FORGED_API)[number]): Promise<string | undefined> {
  const kid = V.seed.key.id;
  const hs = (payload: Record<string, unknown>) => handJwt({ alg: 'HS256', typ: 'JWT', kid }, payload, V.seed.key.secret);
  switch (name) {
    case 'no Authorization':
      return undefined;
    case "Basic: V's key id, a guessed secret":
      return basic(kid, 'guessed-secret');
    case "Basic: an unknown key id, V's secret":
      return basic('app_0123456789abcdef01234567', V.seed.key.secret);
    case 'Basic: the account key id, a guessed secret':
      return basic(ACCOUNT.id, 'guessed-secret');
    case "Basic: V's integration key id, a guessed secret":
      return basic(V.custom.key.id, 'guessed-secret');
    case "Bearer: alg none naming V's key":
      return bearer(`${b64url(JSON.stringify({ alg: 'none', typ: 'JWT', kid }))}.${b64url(JSON.stringify({ scope: 'app' }))}.`);
    case "Bearer: V's key, expired":
      return bearer(await hs({ scope: 'app', iat: nowSeconds() - 7200, exp: nowSeconds() - 60 }));
    case "Bearer: V's key, exp a string":
      return bearer(await hs({ scope: 'app', exp: String(nowSeconds() + 600) }));
    case "Bearer: V's key, scope user (the JWT a business gives its web page)":
      return bearer(await hs({ scope: 'user', external_id: V.seed.userExternalId }));
    case "Bearer: V's key, scope account":
      return bearer(await hs({ scope: 'account' }));
    case 'Bearer: the account kid, signed with a guessed secret':
      return bearer(await handJwt({ alg: 'HS256', typ: 'JWT', kid: ACCOUNT.id }, { scope: 'account' }, 'guessed-secret'));
  }
}

describe('(e) nobody', () => {
  const read = victimReadBack();

  describe.each(FORGED_API)('%s → 401 on every REST route', (credential) => {
    it.each(API_FAMILIES)('%s', async (family) => {
      const routes = ofFamily(apiRoutes(V), family);
      expect(await walk(routes, await forgedApi(credential))).toEqual(expecting(routes, '401 unauthorized'));
    });
  });

  it('unsigned channel webhooks → 401 (Telegram, Meta) or 403 (Twilio: its missing signature)', async () => {
    const stripped = async (kind: ChannelKind) => {
      const signed = await channelText(V, kind, V.channels[kind].webhookUrl, 'unsigned');
      const headers = new Headers(signed.headers);
      for (const h of ['x-telegram-bot-api-secret-token', 'x-hub-signature-256', 'x-hub-signature', 'x-twilio-signature']) headers.delete(h);
      return new Request(signed.url, { method: 'POST', headers, body: await signed.arrayBuffer() });
    };
    const got: Record<string, string> = {};
    for (const kind of CHANNELS) got[kind] = outcome(await response(await hook(await stripped(kind))));
    expect(got).toEqual({ telegram: '401 unauthorized', messenger: '401 unauthorized', whatsapp: '401 unauthorized', instagram: '401 unauthorized', twilio: '403 forbidden' });
  });

  it('channel webhooks with made-up signatures → 401 (Telegram) or 403', async () => {
    const got: Record<string, string> = {};
    for (const kind of CHANNELS) {
      const signed = await channelText(V, kind, V.channels[kind].webhookUrl, 'made-up signature');
      const headers = new Headers(signed.headers);
      if (headers.has('x-telegram-bot-api-secret-token')) headers.set('x-telegram-bot-api-secret-token', 'a'.repeat(43));
      if (headers.has('x-hub-signature-256')) headers.set('x-hub-signature-256', `sha256=${'0'.repeat(64)}`);
      if (headers.has('x-twilio-signature')) headers.set('x-twilio-signature', btoa('0'.repeat(20)));
      got[kind] = outcome(await response(await hook(new Request(signed.url, { method: 'POST', headers, body: await signed.arrayBuffer() }))));
    }
    expect(got).toEqual({ telegram: '401 unauthorized', messenger: '403 forbidden', whatsapp: '403 forbidden', instagram: '403 forbidden', twilio: '403 forbidden' });
  });

  it('/hooks/{id} of anything but a channel integration (web, custom, an app id, unknown) → 404', async () => {
    const ids = { web: V.web.integrationId, custom: V.custom.id, app: V.appId, unknown: '0123456789abcdef01234567', malformed: '..%2F..%2Fv2%2Fapps' };
    const got: Record<string, string> = {};
    for (const [name, id] of Object.entries(ids)) got[name] = outcome(await raw('POST', `/hooks/${id}`, { headers: { 'content-type': 'application/json' }, body: '{}' }));
    expect(got).toEqual({ web: '404 integration_not_found', custom: '404 integration_not_found', app: '404 integration_not_found', unknown: '404 integration_not_found', malformed: '404 integration_not_found' });
  });

  it('/media with a made-up token, or a real one under another integration → 404 media_not_found', async () => {
    const url = new URL(V.mediaUrl);
    const [, , integrationId, token, name] = url.pathname.split('/') as [string, string, string, string, string];
    const [body] = token.split('.') as [string, string];
    const paths = {
      'made-up signature': `/media/${integrationId}/${body}.${'A'.repeat(32)}/${name}`,
      'no signature': `/media/${integrationId}/${body}/${name}`,
      "V's token under V's messenger integration": `/media/${V.channels.messenger.id}/${token}/${name}`,
      "V's token under A's telegram integration": `/media/${A.channels.telegram.id}/${token}/${name}`,
      'an unknown integration': `/media/0123456789abcdef01234567/${token}/${name}`,
    };
    const got: Record<string, string> = {};
    for (const [what, path] of Object.entries(paths)) got[what] = outcome(await at(path));
    expect(got).toEqual(Object.fromEntries(Object.keys(paths).map((k) => [k, '404 media_not_found'])));
  });

  it('/attachments: a real upload under another app, a traversal, an unknown key → 404 attachment_not_found', async () => {
    const [, , appId, key, name] = new URL(A.uploadUrl).pathname.split('/') as [string, string, string, string, string];
    expect(appId).toBe(A.appId);
    const paths = {
      "A's upload under V's app id": `/attachments/${V.appId}/${key}/${name}`,
      'a traversal in the name': `/attachments/${appId}/${key}/..%2F..%2F${name}`,
      'an escaped slash in the key': `/attachments/${appId}/${key}%2F..%2F${key}/${name}`,
      'an unknown key': `/attachments/${V.appId}/0123456789abcdef01234567/${name}`,
    };
    const got: Record<string, string> = {};
    for (const [what, path] of Object.entries(paths)) got[what] = outcome(await at(path));
    expect(got).toEqual(Object.fromEntries(Object.keys(paths).map((k) => [k, '404 attachment_not_found'])));
  });

  it('methods no route answers → 404 not_found, on every family', async () => {
    const requests: [string, string][] = [
      ['PUT', `/v2/apps/${V.appId}`],
      ['POST', `/v2/apps/${V.appId}/keys/${V.seed.key.id}`],
      ['PUT', `/v2/apps/${V.appId}/integrations/${V.custom.id}/webhooks/${V.custom.webhookId}`],
      ['GET', `/v2/apps/${V.appId}/webhooks`],
      ['GET', `/v2/apps/${V.appId}/users`],
      ['PUT', `/hooks/${V.channels.telegram.id}`],
      ['DELETE', `/hooks/${V.channels.telegram.id}`],
      ['DELETE', new URL(V.mediaUrl).pathname],
      ['PUT', new URL(V.uploadUrl).pathname],
      ['DELETE', new URL(V.uploadUrl).pathname],
      ['POST', '/web-messenger.js'],
      ['DELETE', `/sdk/v2/apps/${V.appId}/conversations/${V.visitors[1].conversationId}/messages`],
      ['GET', `/sdk/v2/apps/${V.appId}/users`],
    ];
    const got: Record<string, string> = {};
    for (const [method, path] of requests) got[`${method} ${path}`] = outcome(await raw(method, path, { headers: { authorization: V.auth } }));
    expect(got).toEqual(Object.fromEntries(requests.map(([m, p]) => [`${m} ${p}`, '404 not_found'])));
  });

  it('the public routes hold nothing of a tenant: /healthz and /web-messenger.js answer alike with and without a key', async () => {
    for (const path of ['/healthz', '/web-messenger.js']) {
      const anonymous = await raw('GET', path);
      const keyed = await raw('GET', path, { headers: { authorization: V.auth } });
      expect(anonymous.status, path).toBe(200);
      expect(keyed.text, path).toBe(anonymous.text);
      expect(anonymous.text, path).not.toContain(V.appId);
    }
  });

  it('stored and changed nothing in V', async () => {
    await unchanged(read.before);
  });
});

// ---- (a) the app key of another app ------------------------------------------------------

/** tenancy.test.ts walks A's key over B's users, conversations, participants, messages, activity, app and keys. */
const NOT_IN_TENANCY = ['integrations', 'integration keys', 'webhooks', 'webhook deliveries', 'attachments'];

describe("(a) A's app key", () => {
  const read = victimReadBack();

  describe.each(['Basic', 'JWT'] as const)("on V's own paths (%s) → 403 forbidden", (kind) => {
    it.each(NOT_IN_TENANCY)('%s', async (family) => {
      const routes = ofFamily(apiRoutes(V), family);
      expect(await walk(routes, kind === 'Basic' ? A.auth : A.jwt)).toEqual(expecting(routes, '403 forbidden'));
    });
  });

  it("with V's ids guessed under A's own path → 404, naming what was not found", async () => {
    const app = `/v2/apps/${A.appId}`;
    const own = `${app}/integrations/${A.custom.id}`;
    const theirs = (id: string) => `${app}/integrations/${id}`;
    const vHook = V.custom.webhookId;
    const cases: [string, string, string, unknown, string][] = [
      ["get V's custom integration", 'GET', theirs(V.custom.id), undefined, '404 integration_not_found'],
      ["get V's telegram integration", 'GET', theirs(V.channels.telegram.id), undefined, '404 integration_not_found'],
      ["open V's web integration", 'PATCH', theirs(V.web.integrationId), { originWhitelist: [] }, '404 integration_not_found'],
      ["rename V's messenger integration", 'PATCH', theirs(V.channels.messenger.id), { displayName: 'owned' }, '404 integration_not_found'],
      ["delete V's twilio integration", 'DELETE', theirs(V.channels.twilio.id), undefined, '404 integration_not_found'],
      ["delete V's custom integration", 'DELETE', theirs(V.custom.id), undefined, '404 integration_not_found'],
      ["list V's integration keys", 'GET', `${theirs(V.custom.id)}/keys`, undefined, '404 integration_not_found'],
      ["mint a key for V's integration", 'POST', `${theirs(V.custom.id)}/keys`, { displayName: 'planted' }, '404 integration_not_found'],
      ["get V's integration key", 'GET', `${own}/keys/${V.custom.key.id}`, undefined, '404 key_not_found'],
      ["delete V's integration key", 'DELETE', `${own}/keys/${V.custom.key.id}`, undefined, '404 key_not_found'],
      ["list V's webhooks", 'GET', `${theirs(V.custom.id)}/webhooks`, undefined, '404 integration_not_found'],
      ["add a webhook to V's integration", 'POST', `${theirs(V.custom.id)}/webhooks`, { target: 'https://receiver.test/planted', triggers: ['*'] }, '404 integration_not_found'],
      ["get V's webhook (its secret)", 'GET', `${own}/webhooks/${vHook}`, undefined, '404 not_found'],
      ["repoint V's webhook", 'PATCH', `${own}/webhooks/${vHook}`, { target: 'https://receiver.test/stolen' }, '404 not_found'],
      ["rotate V's webhook secret", 'POST', `${own}/webhooks/${vHook}/rotateSecret`, undefined, '404 not_found'],
      ["delete V's webhook", 'DELETE', `${own}/webhooks/${vHook}`, undefined, '404 not_found'],
      ["list V's webhook deliveries under A's integration", 'GET', `${own}/webhooks/${vHook}/deliveries`, undefined, '404 webhook_not_found'],
      ["list V's webhook deliveries under V's integration id", 'GET', `${theirs(V.custom.id)}/webhooks/${vHook}/deliveries`, undefined, '404 integration_not_found'],
      ["replay V's webhook", 'POST', `${own}/webhooks/${vHook}/replay`, { eventIds: [V.eventId] }, '404 webhook_not_found'],
      ["replay V's webhook under V's integration id", 'POST', `${theirs(V.custom.id)}/webhooks/${vHook}/replay`, { eventIds: [V.eventId] }, '404 integration_not_found'],
      ["open a conversation with V's user, by externalId", 'POST', `${app}/conversations`, { type: 'sdkGroup', participants: [{ userExternalId: V.seed.userExternalId }] }, '404 user_not_found'],
      ["add V's user to A's group, by externalId", 'POST', `${app}/conversations/${A.seed.groupId}/join`, { userExternalId: V.seed.userExternalId }, '404 user_not_found'],
      ["read V's telegram conversation", 'GET', `${app}/conversations/${V.telegramConversationId}/messages`, undefined, '404 conversation_not_found'],
      ["write to V's telegram user", 'POST', `${app}/conversations/${V.telegramConversationId}/messages`, { author: { type: 'business' }, content: { type: 'text', text: 'phishing' } }, '404 conversation_not_found'],
      ["read a web visitor of V", 'GET', `${app}/conversations/${V.visitors[1].conversationId}/messages`, undefined, '404 conversation_not_found'],
      ["send through V's telegram bot from A's conversation", 'POST', `${app}/conversations/${A.telegramConversationId}/messages`, { author: { type: 'business' }, content: { type: 'text', text: 'via V' }, destination: { integrationId: V.channels.telegram.id } }, '400 bad_request'],
    ];
    const got: Record<string, string> = {};
    for (const [name, method, path, body] of cases) got[name] = outcome(await send({ family: '', name, method, path, ...(body !== undefined ? { body } : {}) }, A.auth));
    expect(got).toEqual(Object.fromEntries(cases.map(([name, , , , expected]) => [name, expected])));
    expect(V.fakes.telegram.callsTo('sendMessage')).toEqual([]);
  });

  it("replaying V's event ids through A's own webhook → 400, nothing staged for either app", async () => {
    const eventIds = [V.eventId];
    const res = await call('POST', `/v2/apps/${A.appId}/integrations/${A.custom.id}/webhooks/${A.custom.webhookId}/replay`, A.auth, { eventIds });
    expect(outcome(res)).toBe('400 bad_request');
    const staged = await env.DB.prepare(`SELECT count(*) AS n FROM webhook_dead_letters WHERE event_id IN (${eventIds.map(() => '?').join(',')})`).bind(...eventIds).first<{ n: number }>();
    expect(staged!.n).toBe(0);
  });

  it("A's key still works on A (the refusals above are walls, not a broken key)", async () => {
    expect((await call('GET', `/v2/apps/${A.appId}/integrations/${A.custom.id}/webhooks`, A.auth)).status).toBe(200);
  });

  it('stored and changed nothing in V', async () => {
    await unchanged(read.before);
  });
});

// ---- (b) an integration key ---------------------------------------------------------------

/** The integration key holder is inside V's app: everything but users, conversations and messages is off limits. */
const MANAGEMENT = ['apps', 'keys', 'integrations', 'integration keys', 'webhooks', 'webhook deliveries'];

describe("(b) the key of V's second custom integration", () => {
  const read = victimReadBack();

  const spareJwt = async () => bearer(await handJwt({ alg: 'HS256', typ: 'JWT', kid: V.spare.key.id }, { scope: 'integration' }, V.spare.key.secret));
  const as = async (kind: 'Basic' | 'JWT') => (kind === 'Basic' ? V.spare.auth : spareJwt());

  describe.each(['Basic', 'JWT'] as const)('%s', (kind) => {
    it.each(MANAGEMENT)("manages nothing of V's: %s → 403 forbidden", async (family) => {
      const routes = ofFamily(apiRoutes(V), family);
      expect(await walk(routes, await as(kind))).toEqual(expecting(routes, '403 forbidden'));
    });

    it.each(API_FAMILIES)("reaches nothing of another app: A's %s → 403 forbidden", async (family) => {
      const routes = ofFamily(apiRoutes(A), family);
      expect(await walk(routes, await as(kind))).toEqual(expecting(routes, '403 forbidden'));
    });
  });

  it('cannot mint, list, read or delete keys even of its own integration → 403 forbidden', async () => {
    const own = `/v2/apps/${V.appId}/integrations/${V.spare.id}/keys`;
    const routes: Route[] = [
      { family: 'own keys', name: 'mint', method: 'POST', path: own, body: { displayName: 'escalate' } },
      { family: 'own keys', name: 'list', method: 'GET', path: own },
      { family: 'own keys', name: 'get', method: 'GET', path: `${own}/${V.spare.key.id}` },
      { family: 'own keys', name: 'delete', method: 'DELETE', path: `${own}/${V.spare.key.id}` },
      { family: 'own integration', name: 'rename', method: 'PATCH', path: `/v2/apps/${V.appId}/integrations/${V.spare.id}`, body: { displayName: 'owned' } },
    ];
    expect(await walk(routes, V.spare.auth)).toEqual(expecting(routes, '403 forbidden'));
  });

  it("reaches V's other webhook through its own path or `me` → 404, never its secret", async () => {
    const theirs = V.custom.webhookId;
    const routes: Route[] = [];
    for (const via of [V.spare.id, 'me']) {
      const own = `/v2/apps/${V.appId}/integrations/${via}/webhooks/${theirs}`;
      routes.push(
        { family: via === 'me' ? 'me' : 'own id', name: 'get', method: 'GET', path: own },
        { family: via === 'me' ? 'me' : 'own id', name: 'repoint', method: 'PATCH', path: own, body: { target: 'https://receiver.test/stolen' } },
        { family: via === 'me' ? 'me' : 'own id', name: 'rotate', method: 'POST', path: `${own}/rotateSecret` },
        { family: via === 'me' ? 'me' : 'own id', name: 'delete', method: 'DELETE', path: own },
      );
    }
    for (const via of [V.spare.id, 'me']) {
      const own = `/v2/apps/${V.appId}/integrations/${via}/webhooks/${theirs}`;
      routes.push(
        { family: via === 'me' ? 'me' : 'own id', name: 'deliveries', method: 'GET', path: `${own}/deliveries` },
        { family: via === 'me' ? 'me' : 'own id', name: 'replay', method: 'POST', path: `${own}/replay`, body: { eventIds: [V.eventId] } },
      );
    }
    const logs = ['own id: deliveries', 'own id: replay', 'me: deliveries', 'me: replay'];
    expect(await walk(routes, V.spare.auth)).toEqual(expecting(routes, '404 not_found', Object.fromEntries(logs.map((name) => [name, '404 webhook_not_found']))));
  });

  it('reads its own delivery log through `integrations/me` as through its id (the contract alias works on every webhook route)', async () => {
    for (const via of [V.spare.id, 'me']) {
      const res = await call('GET', `/v2/apps/${V.appId}/integrations/${via}/webhooks/${V.spare.webhookId}/deliveries`, V.spare.auth);
      expect(res.status, `${via}: ${JSON.stringify(res.body)}`).toBe(200);
      expect(Array.isArray(res.body.deliveries)).toBe(true);
    }
  });

  it("`integrations/me` under another app's path → 403 forbidden", async () => {
    const routes: Route[] = [
      { family: 'me', name: 'list', method: 'GET', path: `/v2/apps/${A.appId}/integrations/me/webhooks` },
      { family: 'me', name: 'create', method: 'POST', path: `/v2/apps/${A.appId}/integrations/me/webhooks`, body: { target: 'https://receiver.test/planted', triggers: ['*'] } },
    ];
    expect(await walk(routes, V.spare.auth)).toEqual(expecting(routes, '403 forbidden'));
  });

  it("cannot sign the user JWT a web login takes, to become V's user → 401, no session", async () => {
    const jwt = await handJwt({ alg: 'HS256', typ: 'JWT', kid: V.spare.key.id }, { scope: 'user', external_id: V.seed.userExternalId }, V.spare.key.secret);
    const res = await send(
      { family: '', name: '', method: 'POST', path: `/sdk/v2/apps/${V.appId}/login`, body: { integrationId: V.web.integrationId, externalId: V.seed.userExternalId, jwt } },
      undefined,
    );
    expect(outcome(res)).toBe('401 unauthorized');
  });

  it.each(['Basic', 'JWT'] as const)('still reads its own webhook with %s (the refusals above are walls, not a broken key)', async (kind) => {
    const own = await call('GET', `/v2/apps/${V.appId}/integrations/me/webhooks`, await as(kind));
    expect(own.status).toBe(200);
    expect(own.body.webhooks.map((w: { id: string }) => w.id)).toEqual([V.spare.webhookId]);
  });

  it('stored and changed nothing in V', async () => {
    await unchanged(read.before);
  });
});

// ---- (c) a Web Messenger session -------------------------------------------------------------

/** Session tokens nobody was issued. "Parley's secret" ones stand for a leak: only their claims are wrong. */
const FORGED_SESSIONS = [
  'no token',
  'not a JWT',
  'alg none',
  "kid web-session, signed with V's app secret",
  "kid of V's app key, signed with it",
  "Parley's secret, expired",
  "Parley's secret, exp a string",
  "Parley's secret, no exp",
  "Parley's secret, scope app",
] as const;

async function forgedSession(name: (typeof FORGED_SESSIONS)[number]): Promise<string | undefined> {
  const claims = decodePayload(V.visitors[0].token);
  const web = { alg: 'HS256', typ: 'JWT', kid: 'web-session' };
  const now = nowSeconds();
  switch (name) {
    case 'no token':
      return undefined;
    case 'not a JWT':
      return bearer('not-a-token');
    case 'alg none':
      return bearer(`${b64url(JSON.stringify({ ...web, alg: 'none' }))}.${b64url(JSON.stringify(claims))}.`);
    case "kid web-session, signed with V's app secret":
      return bearer(await handJwt(web, claims, V.seed.key.secret));
    case "kid of V's app key, signed with it":
      return bearer(await handJwt({ ...web, kid: V.seed.key.id }, claims, V.seed.key.secret));
    case "Parley's secret, expired":
      return bearer(await handJwt(web, { ...claims, iat: now - 7200, exp: now - 60 }, await sessionSecret()));
    case "Parley's secret, exp a string":
      return bearer(await handJwt(web, { ...claims, exp: String(now + 600) }, await sessionSecret()));
    case "Parley's secret, no exp": {
      const { exp: _exp, ...rest } = claims;
      return bearer(await handJwt(web, rest, await sessionSecret()));
    }
    case "Parley's secret, scope app":
      return bearer(await handJwt(web, { ...claims, scope: 'app' }, await sessionSecret()));
  }
}

/** Credentials of the REST API, which the browser API does not take: a session token is its only credential. */
const API_CREDENTIALS = ["A's app key (Basic)", "A's app key (JWT)", "V's own app key (Basic)", "V's own app key (JWT)", "V's integration key", 'the account key'] as const;
const apiCredential = (name: (typeof API_CREDENTIALS)[number]) =>
  ({
    "A's app key (Basic)": A.auth,
    "A's app key (JWT)": A.jwt,
    "V's own app key (Basic)": V.auth,
    "V's own app key (JWT)": V.jwt,
    "V's integration key": V.spare.auth,
    'the account key': asAccount,
  })[name];

describe('(c) a Web Messenger session', () => {
  const read = victimReadBack();
  const visitorTwo = () => browserRoutes(V, V.visitors[1].conversationId);

  it.each(FORGED_SESSIONS)("forged (%s) → 401 on every browser route of V", async (name) => {
    const routes = visitorTwo();
    // Without any token the socket cannot even be asked for: its subprotocols are malformed.
    const except: Record<string, string> = name === 'no token' ? { 'browser: open the socket': '400 bad_request' } : {};
    expect(await walk(routes, await forgedSession(name))).toEqual(expecting(routes, '401 unauthorized', except));
  });

  it("a visitor of A → 401 on every browser route of V (uploads into V's app included)", async () => {
    const routes = visitorTwo();
    expect(await walk(routes, bearer(A.visitors[0].token))).toEqual(expecting(routes, '401 unauthorized'));
  });

  it.each(API_CREDENTIALS)('%s on the browser API → 401', async (name) => {
    const routes = visitorTwo();
    expect(await walk(routes, apiCredential(name))).toEqual(expecting(routes, '401 unauthorized'));
  });

  it.each(API_FAMILIES)("a visitor's session token on the REST API: %s → 401", async (family) => {
    const routes = ofFamily(apiRoutes(V), family);
    expect(await walk(routes, bearer(V.visitors[0].token))).toEqual(expecting(routes, '401 unauthorized'));
  });

  it("visitor 1 on V's conversations it is no participant of → 403; on A's → 404", async () => {
    const targets = {
      "V's seeded personal": V.seed.conversationId,
      "V's group": V.seed.groupId,
      "V's telegram user's": V.telegramConversationId,
      "V's messenger user's": V.messengerConversationId,
      "A's visitor's": A.visitors[0].conversationId,
    };
    const conversationRoutes = (id: string) => browserRoutes(V, id).filter((r) => r.path.includes('/conversations/'));
    const got: Record<string, Record<string, string>> = {};
    const expected: Record<string, Record<string, string>> = {};
    for (const [name, id] of Object.entries(targets)) {
      const routes = conversationRoutes(id);
      got[name] = await walk(routes, bearer(V.visitors[0].token));
      expected[name] = expecting(routes, name.startsWith('A') ? '404 conversation_not_found' : '403 forbidden');
    }
    expect(got).toEqual(expected);
  });

  it("visitor 1 cannot attach what is not an upload of its app: A's upload, a /media URL, an outside URL → 400", async () => {
    const got: Record<string, string> = {};
    for (const [name, mediaUrl] of Object.entries({ "A's upload": A.uploadUrl, "V's channel media": V.mediaUrl, "A's channel media": A.mediaUrl, 'an outside URL': 'https://evil.example/x.png' })) {
      const res = await send(
        { family: '', name, method: 'POST', path: `/sdk/v2/apps/${V.appId}/conversations/${V.visitors[0].conversationId}/messages`, body: { content: { type: 'image', mediaUrl } } },
        bearer(V.visitors[0].token),
      );
      got[name] = outcome(res);
    }
    expect(got).toEqual({ "A's upload": '400 bad_request', "V's channel media": '400 bad_request', "A's channel media": '400 bad_request', 'an outside URL': '400 bad_request' });
  });

  it("sessions, config and login name only the path's app's web integrations → 404, and create no user in either app", async () => {
    const aUsers = await usersOf(A.appId);
    const aLogin = await handJwt({ alg: 'HS256', typ: 'JWT', kid: A.seed.key.id }, { scope: 'user', external_id: 'crossing' }, A.seed.key.secret);
    const sdk = `/sdk/v2/apps/${V.appId}`;
    const routes: Route[] = [
      { family: 'session', name: "with A's web integration", method: 'POST', path: `${sdk}/sessions`, body: { integrationId: A.web.integrationId } },
      { family: 'session', name: "with V's custom integration", method: 'POST', path: `${sdk}/sessions`, body: { integrationId: V.custom.id } },
      { family: 'session', name: "with V's telegram integration", method: 'POST', path: `${sdk}/sessions`, body: { integrationId: V.channels.telegram.id } },
      { family: 'config', name: "of A's web integration", method: 'GET', path: `${sdk}/integrations/${A.web.integrationId}/config` },
      { family: 'config', name: "of V's custom integration", method: 'GET', path: `${sdk}/integrations/${V.custom.id}/config` },
      { family: 'login', name: "with A's web integration and A's user JWT", method: 'POST', path: `${sdk}/login`, body: { integrationId: A.web.integrationId, externalId: 'crossing', jwt: aLogin } },
    ];
    expect(await walk(routes, undefined)).toEqual(expecting(routes, '404 integration_not_found'));
    expect(await usersOf(A.appId)).toEqual(aUsers);
  });

  it("visitor 2's conversation still holds only visitor 2's message", async () => {
    const messages = await storedMessages(V, V.visitors[1].conversationId);
    expect(messages.map((m) => m.content.text)).toEqual(['victim: visitor secret', 'Buy?']);
  });

  it('stored and changed nothing in V', async () => {
    await unchanged(read.before);
  });
});

// ---- (d) a channel account --------------------------------------------------------------------

/** A text from a channel user, as that channel's webhook carries it, signed with `t`'s own secrets. */
async function channelText(t: Tenant, kind: ChannelKind, webhookUrl: string, text: string): Promise<Request> {
  switch (kind) {
    case 'telegram':
      return t.fakes.telegram.text(webhookUrl, { id: 9001, first_name: 'Mallory' }, text);
    case 'messenger':
      return t.fakes.meta.messenger.text(webhookUrl, '9001', text);
    case 'instagram':
      return t.fakes.meta.instagram.text(webhookUrl, '9001', text);
    case 'whatsapp':
      return t.fakes.meta.whatsapp.text(webhookUrl, { waId: '15550009001' }, text);
    case 'twilio':
      return t.fakes.twilio.text(webhookUrl, { from: '+15550009001' }, text);
  }
}

async function response(res: Response) {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // kept as text
  }
  return { status: res.status, headers: res.headers, body };
}

const retarget = async (request: Request, url: string) => new Request(url, { method: 'POST', headers: request.headers, body: await request.arrayBuffer() });

describe("(d) a channel account (A's bots, pages, numbers)", () => {
  const read = victimReadBack();
  const refusedWithOwnSecret = { telegram: '401 unauthorized', messenger: '403 forbidden', whatsapp: '403 forbidden', instagram: '403 forbidden', twilio: '403 forbidden' };

  it("signs a webhook for V's integration with its own secret → refused on every channel", async () => {
    const got: Record<string, string> = {};
    for (const kind of CHANNELS) got[kind] = outcome(await response(await hook(await channelText(A, kind, V.channels[kind].webhookUrl, 'into V'))));
    expect(got).toEqual(refusedWithOwnSecret);
  });

  it("replays its own valid webhook at V's URL → refused on every channel", async () => {
    const got: Record<string, string> = {};
    for (const kind of CHANNELS) {
      const own = await channelText(A, kind, A.channels[kind].webhookUrl, 'replayed into V');
      got[kind] = outcome(await response(await hook(await retarget(own, V.channels[kind].webhookUrl))));
    }
    expect(got).toEqual(refusedWithOwnSecret);
  });

  it("the same requests at its own URLs are taken (control), and land in A's conversations only", async () => {
    const got: Record<string, number> = {};
    for (const kind of CHANNELS) got[kind] = (await hook(await channelText(A, kind, A.channels[kind].webhookUrl, `own ${kind}`))).status;
    expect(got).toEqual({ telegram: 200, messenger: 200, whatsapp: 200, instagram: 200, twilio: 200 });
    // V's Telegram user's id, written on A's bot: A's user, A's conversation, nothing of V's.
    expect((await hook(A.fakes.telegram.text(A.channels.telegram.webhookUrl, V.telegramUser, 'same id, other bot'))).status).toBe(200);
    const texts = (await storedMessages(A, A.telegramConversationId)).map((m) => m.content.text);
    expect(texts).toContain('same id, other bot');
  });

  it("answers V's Meta handshakes only with V's verify token: A's → 403, no challenge echoed; other channels have none → 405", async () => {
    const aVerify = (await call('GET', `/v2/apps/${A.appId}/integrations/${A.channels.messenger.id}`, A.auth)).body.integration.verifyToken as string;
    const vVerify = (await call('GET', `/v2/apps/${V.appId}/integrations/${V.channels.messenger.id}`, V.auth)).body.integration.verifyToken as string;
    expect(aVerify).not.toBe(vVerify);
    for (const kind of ['messenger', 'whatsapp', 'instagram'] as const) {
      const res = await hook(A.fakes.meta.handshake(V.channels[kind].webhookUrl, aVerify, '31337'));
      const body = await res.text();
      // Meta reads only the status of a refused handshake; the body is plain text.
      expect({ kind, status: res.status, echoed: body.includes('31337') }).toEqual({ kind, status: 403, echoed: false });
    }
    for (const kind of ['telegram', 'twilio'] as const) {
      expect(outcome(await response(await hook(new Request(`${V.channels[kind].webhookUrl}?hub.mode=subscribe&hub.verify_token=${aVerify}&hub.challenge=1`))))).toBe('405 method_not_allowed');
    }
  });

  it("its own media URL moved under V's integrations, or its token re-pointed at V's user → 404 media_not_found", async () => {
    const url = new URL(A.mediaUrl);
    const [, , integrationId, token, name] = url.pathname.split('/') as [string, string, string, string, string];
    const [body, signature] = token.split('.') as [string, string];
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(body.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))));
    const vUser = (await env.DB.prepare('SELECT user_id FROM clients WHERE integration_id = ? AND external_id = ?').bind(V.channels.telegram.id, String(V.telegramUser.id)).first<{ user_id: string }>())!.user_id;
    const repointed = b64url(JSON.stringify({ ...claims, u: vUser }));
    const paths = {
      "under V's telegram integration": `/media/${V.channels.telegram.id}/${token}/${name}`,
      "under V's whatsapp integration": `/media/${V.channels.whatsapp.id}/${token}/${name}`,
      "re-pointed at V's user, old signature": `/media/${integrationId}/${repointed}.${signature}/${name}`,
      "re-pointed at V's user, under V's integration": `/media/${V.channels.telegram.id}/${repointed}.${signature}/${name}`,
    };
    const got: Record<string, string> = {};
    for (const [what, path] of Object.entries(paths)) got[what] = outcome(await at(path));
    expect(got).toEqual(Object.fromEntries(Object.keys(paths).map((k) => [k, '404 media_not_found'])));
    // Control: the URL as A got it serves A's picture.
    const own = await hook(new Request(url));
    expect(own.status).toBe(200);
    expect(own.headers.get('content-type')).toBe('image/jpeg');
    await own.arrayBuffer();
  });

  it('stored and changed nothing in V', async () => {
    await unchanged(read.before);
  });
});

// ---- helpers ---------------------------------------------------------------------------------

async function usersOf(appId: string) {
  return (await env.DB.prepare('SELECT id, external_id FROM users WHERE app_id = ? ORDER BY id').bind(appId).all()).results;
}

// ---- control: the tables are valid requests ----------------------------------------------

/**
 * Last, because it spends A: its owner walks the very tables the attackers
 * walked, and every route answers 2xx (101 for the socket). So each refusal
 * above is a wall, not a malformed request. Deletions run most specific first
 * and the app's last.
 */
describe("control: A's owner gets 2xx on every route of the tables", () => {
  const ok = (status: number) => (status >= 200 && status < 300) || status === 101 ? 'ok' : String(status);

  it('the browser routes, with the session of the visitor who was offered the postback', async () => {
    const routes = browserRoutes(A, A.visitors[1].conversationId);
    const got: Record<string, string> = {};
    for (const r of routes) {
      const res = await send(r, bearer(A.visitors[1].token));
      got[r.name] = ok(res.status) === 'ok' ? 'ok' : `${res.status} ${JSON.stringify(res.body)}`;
    }
    expect(got).toEqual(Object.fromEntries(routes.map((r) => [r.name, 'ok'])));
  });

  it('the REST routes, with the account key', async () => {
    const routes = apiRoutes(A);
    const deletions = routes.filter((r) => r.method === 'DELETE').sort((x, y) => y.path.length - x.path.length);
    const got: Record<string, string> = {};
    for (const r of [...routes.filter((r) => r.method !== 'DELETE'), ...deletions]) {
      const res = await send(r, asAccount);
      got[`${r.family}: ${r.name}`] = ok(res.status) === 'ok' ? 'ok' : `${res.status} ${JSON.stringify(res.body)}`;
    }
    expect(got).toEqual(Object.fromEntries(routes.map((r) => [`${r.family}: ${r.name}`, 'ok'])));
  });
});
