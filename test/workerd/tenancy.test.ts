/**
 * Tenancy: app A's key may act only on app A (contract §5.1: an app key can do
 * "everything inside one app"). Every route on app B's resources is refused —
 * 403 under /v2/apps/{B}/…, 404 when B's ids are used under A's own path — and
 * every request is otherwise valid, so a missing wall would show up as a 2xx
 * and as changed data in B. App keys cannot create or list apps.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { asAccount, call, newApp } from './helpers';
import { bearer, expectError, handJwt, raw, type RawResult, seedApp, type Seed, snapshot } from './fixtures';

let A: Seed;
let B: Seed;
let bBefore: Awaited<ReturnType<typeof snapshot>>;
let aJwt: string;

beforeAll(async () => {
  const a = await newApp('Tenant A');
  const b = await newApp('Tenant B');
  A = await seedApp(a.appId, a.auth, a.key, 'tenant-a-user');
  B = await seedApp(b.appId, b.auth, b.key, 'tenant-b-user');
  bBefore = await snapshot(B);
  aJwt = bearer(await handJwt({ alg: 'HS256', typ: 'JWT', kid: a.key.id }, { scope: 'app' }, a.key.secret));
});

interface Route {
  name: string;
  method: string;
  path: () => string;
  body?: () => unknown;
}

const send = (r: Route, authorization: string): Promise<RawResult> => {
  const body = r.body?.();
  return raw(r.method, r.path(), {
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
};

const text = (t: string) => ({ type: 'text', text: t });

/** Every app-scoped route, aimed at app B's own resources under /v2/apps/{B}. */
const underB = (): Route[] => {
  const app = () => `/v2/apps/${B.appId}`;
  const conv = () => `${app()}/conversations/${B.conversationId}`;
  const group = () => `${app()}/conversations/${B.groupId}`;
  return [
    { name: 'get app B', method: 'GET', path: app },
    { name: 'update app B', method: 'PATCH', path: app, body: () => ({ displayName: 'Owned by A' }) },
    { name: 'delete app B', method: 'DELETE', path: app },
    { name: "create a key for app B", method: 'POST', path: () => `${app()}/keys`, body: () => ({ displayName: 'A was here' }) },
    { name: "list app B's keys", method: 'GET', path: () => `${app()}/keys` },
    { name: "get app B's key", method: 'GET', path: () => `${app()}/keys/${B.key.id}` },
    { name: "delete app B's key", method: 'DELETE', path: () => `${app()}/keys/${B.key.id}` },
    { name: 'create a user in B', method: 'POST', path: () => `${app()}/users`, body: () => ({ externalId: 'planted-by-a' }) },
    { name: "get B's user by id", method: 'GET', path: () => `${app()}/users/${B.userId}` },
    { name: "get B's user by externalId", method: 'GET', path: () => `${app()}/users/${B.userExternalId}` },
    { name: "update B's user", method: 'PATCH', path: () => `${app()}/users/${B.userId}`, body: () => ({ profile: { givenName: 'Mallory' } }) },
    { name: "delete B's user", method: 'DELETE', path: () => `${app()}/users/${B.userId}` },
    { name: "scrub B's user", method: 'DELETE', path: () => `${app()}/users/${B.userId}/personalinformation` },
    { name: "list B's user's clients", method: 'GET', path: () => `${app()}/users/${B.userId}/clients` },
    { name: 'create a conversation in B', method: 'POST', path: () => `${app()}/conversations`, body: () => ({ type: 'sdkGroup', participants: [{ userId: B.userId }] }) },
    { name: "list B's user's conversations", method: 'GET', path: () => `${app()}/conversations?filter[userId]=${B.userId}` },
    { name: "get B's conversation", method: 'GET', path: conv },
    { name: "update B's conversation", method: 'PATCH', path: conv, body: () => ({ displayName: 'Owned by A' }) },
    { name: "delete B's group conversation", method: 'DELETE', path: group },
    { name: "join B's group", method: 'POST', path: () => `${group()}/join`, body: () => ({ userId: B.otherUserId }) },
    { name: "leave B's group", method: 'POST', path: () => `${group()}/leave`, body: () => ({ userId: B.otherUserId }) },
    { name: "list B's participants", method: 'GET', path: () => `${group()}/participants` },
    { name: "post a message in B's conversation", method: 'POST', path: () => `${conv()}/messages`, body: () => ({ author: { type: 'business' }, content: text('from A') }) },
    { name: "list B's messages", method: 'GET', path: () => `${conv()}/messages` },
    { name: "delete one of B's messages", method: 'DELETE', path: () => `${conv()}/messages/${B.messageId}` },
    { name: "delete all of B's messages", method: 'DELETE', path: () => `${conv()}/messages` },
    { name: "send activity in B's conversation", method: 'POST', path: () => `${conv()}/activity`, body: () => ({ author: { type: 'business' }, type: 'conversation:read' }) },
  ];
};

/** B's ids used under A's own path: A's key is allowed on the path, but B's resources are not there. */
const bIdsUnderA = (): (Route & { code: string })[] => {
  const app = () => `/v2/apps/${A.appId}`;
  const conv = () => `${app()}/conversations/${B.conversationId}`;
  const group = () => `${app()}/conversations/${B.groupId}`;
  const user = 'user_not_found';
  const conversation = 'conversation_not_found';
  return [
    { name: "get B's user by id", method: 'GET', path: () => `${app()}/users/${B.userId}`, code: user },
    { name: "get B's user by externalId", method: 'GET', path: () => `${app()}/users/${B.userExternalId}`, code: user },
    { name: "update B's user", method: 'PATCH', path: () => `${app()}/users/${B.userId}`, body: () => ({ profile: { givenName: 'Mallory' } }), code: user },
    { name: "delete B's user", method: 'DELETE', path: () => `${app()}/users/${B.userId}`, code: user },
    { name: "scrub B's user", method: 'DELETE', path: () => `${app()}/users/${B.userId}/personalinformation`, code: user },
    { name: "list B's user's clients", method: 'GET', path: () => `${app()}/users/${B.userId}/clients`, code: user },
    { name: "list B's user's conversations", method: 'GET', path: () => `${app()}/conversations?filter[userId]=${B.userId}`, code: user },
    { name: "list B's user's conversations by externalId", method: 'GET', path: () => `${app()}/conversations?filter[userExternalId]=${B.userExternalId}`, code: user },
    { name: "create a conversation with B's user", method: 'POST', path: () => `${app()}/conversations`, body: () => ({ type: 'sdkGroup', participants: [{ userId: B.userId }] }), code: user },
    { name: "create a personal conversation for B's user", method: 'POST', path: () => `${app()}/conversations`, body: () => ({ type: 'personal', participants: [{ userId: B.otherUserId }] }), code: user },
    { name: "get B's conversation", method: 'GET', path: conv, code: conversation },
    { name: "update B's conversation", method: 'PATCH', path: conv, body: () => ({ displayName: 'Owned by A' }), code: conversation },
    { name: "delete B's group conversation", method: 'DELETE', path: group, code: conversation },
    { name: "join B's group with A's user", method: 'POST', path: () => `${group()}/join`, body: () => ({ userId: A.otherUserId }), code: conversation },
    { name: "join A's group with B's user", method: 'POST', path: () => `${app()}/conversations/${A.groupId}/join`, body: () => ({ userId: B.otherUserId }), code: user },
    { name: "leave B's group", method: 'POST', path: () => `${group()}/leave`, body: () => ({ userId: A.userId }), code: conversation },
    { name: "list B's participants", method: 'GET', path: () => `${group()}/participants`, code: conversation },
    { name: "post a message in B's conversation", method: 'POST', path: () => `${conv()}/messages`, body: () => ({ author: { type: 'business' }, content: text('from A') }), code: conversation },
    {
      name: "post in A's conversation as B's user",
      method: 'POST',
      path: () => `${app()}/conversations/${A.conversationId}/messages`,
      body: () => ({ author: { type: 'user', userId: B.userId }, content: text('spoofed') }),
      code: user,
    },
    { name: "list B's messages", method: 'GET', path: () => `${conv()}/messages`, code: conversation },
    { name: "delete one of B's messages", method: 'DELETE', path: () => `${conv()}/messages/${B.messageId}`, code: conversation },
    { name: "delete all of B's messages", method: 'DELETE', path: () => `${conv()}/messages`, code: conversation },
    { name: "send activity in B's conversation", method: 'POST', path: () => `${conv()}/activity`, body: () => ({ author: { type: 'business' }, type: 'conversation:read' }), code: conversation },
    {
      name: "read activity in A's conversation as B's user",
      method: 'POST',
      path: () => `${app()}/conversations/${A.conversationId}/activity`,
      body: () => ({ author: { type: 'user', userId: B.userId }, type: 'conversation:read' }),
      code: user,
    },
  ];
};

// The route lists are built at collection time only for their names; paths and bodies are read lazily.
const namesUnderB = underB().map((r) => r.name);
const namesUnderA = bIdsUnderA().map((r) => r.name);
const route = <T extends { name: string }>(list: () => T[], name: string) => list().find((r) => r.name === name)!;

describe("A's app key on /v2/apps/{B}/… → 403 forbidden", () => {
  it.each(namesUnderB)('%s (Basic)', async (name) => {
    expectError(await send(route(underB, name), A.auth), 403, 'forbidden');
  });

  it.each(namesUnderB)('%s (JWT)', async (name) => {
    expectError(await send(route(underB, name), aJwt), 403, 'forbidden');
  });
});

describe("A's app key with B's ids under /v2/apps/{A}/… → 404", () => {
  it.each(namesUnderA)('%s', async (name) => {
    const r = route(bIdsUnderA, name);
    expectError(await send(r, A.auth), 404, r.code);
  });
});

describe('app keys cannot provision apps', () => {
  it('create app → 403 forbidden', async () => {
    expectError(await send({ name: 'create', method: 'POST', path: () => '/v2/apps', body: () => ({ displayName: 'A made this' }) }, A.auth), 403, 'forbidden');
  });

  it('list apps → 403 forbidden', async () => {
    expectError(await raw('GET', '/v2/apps', { headers: { authorization: A.auth } }), 403, 'forbidden');
  });

  it("delete its own app → 403 forbidden (account scope only)", async () => {
    expectError(await raw('DELETE', `/v2/apps/${A.appId}`, { headers: { authorization: A.auth } }), 403, 'forbidden');
  });
});

describe("the account key reaches B's keys only through B's path", () => {
  it("B's key id under A's path → 404 key_not_found, and B's key keeps working", async () => {
    expectError(await raw('GET', `/v2/apps/${A.appId}/keys/${B.key.id}`, { headers: { authorization: asAccount } }), 404, 'key_not_found');
    expectError(await raw('DELETE', `/v2/apps/${A.appId}/keys/${B.key.id}`, { headers: { authorization: asAccount } }), 404, 'key_not_found');
    expect((await call('GET', `/v2/apps/${B.appId}`, B.auth)).status).toBe(200);
  });
});

describe("after every refusal, B's data is intact", () => {
  it("B's app, users, conversations, participants and messages are unchanged", async () => {
    const after = await snapshot(B);
    expect(after).toStrictEqual(bBefore);
    expect(after.app.app.displayName).toBe('Tenant B');
    expect(after.messages.messages.map((m: { id: string }) => m.id)).toEqual([B.messageId]);
    expect(after.user.user.profile).toEqual({ givenName: 'Ada', surname: 'Lovelace', email: 'tenant-b-user@example.org' });
    expect(after.conversation.conversation).toMatchObject({ displayName: 'Support', description: 'Seeded conversation', metadata: { lang: 'en' }, businessLastRead: null });
    expect(after.participants.participants.map((p: { userId: string }) => p.userId).sort()).toEqual([B.userId, B.otherUserId].sort());
  });

  it('nothing A tried to plant exists: no user planted-by-a in B, no extra key, no extra app', async () => {
    expectError(await raw('GET', `/v2/apps/${B.appId}/users/planted-by-a`, { headers: { authorization: B.auth } }), 404, 'user_not_found');
    const keys = await call('GET', `/v2/apps/${B.appId}/keys`, asAccount);
    expect(keys.body.keys).toStrictEqual([{ id: B.key.id, displayName: 'test key' }]);
    const apps = await call('GET', '/v2/apps?page[size]=100', asAccount);
    expect(apps.body.apps.map((a: { displayName: string }) => a.displayName).sort()).toEqual(['Tenant A', 'Tenant B']);
  });

  it("A's own data is untouched by the cross-tenant attempts too", async () => {
    const msgs = await call('GET', `/v2/apps/${A.appId}/conversations/${A.conversationId}/messages`, A.auth);
    expect(msgs.body.messages.map((m: { id: string }) => m.id)).toEqual([A.messageId]);
    const parts = await call('GET', `/v2/apps/${A.appId}/conversations/${A.groupId}/participants`, A.auth);
    expect(parts.body.participants.map((p: { userId: string }) => p.userId).sort()).toEqual([A.userId, A.otherUserId].sort());
    const convs = await call('GET', `/v2/apps/${A.appId}/conversations?filter[userId]=${A.userId}`, A.auth);
    expect(convs.body.conversations.map((c: { id: string }) => c.id).sort()).toEqual([A.conversationId, A.groupId].sort());
  });

  it("B's key still works, and A's key still works on A", async () => {
    expect((await call('GET', `/v2/apps/${B.appId}`, B.auth)).status).toBe(200);
    expect((await call('GET', `/v2/apps/${A.appId}`, A.auth)).status).toBe(200);
  });
});
