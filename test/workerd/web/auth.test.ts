/**
 * Who may do what on the Web Messenger's browser API: a session token opens
 * its own user's conversations only and only in its own app; the integration's
 * originWhitelist keeps other sites off every browser route (socket included);
 * login takes only a valid, unexpired, HS256 user JWT signed by one of the
 * app's keys for exactly the externalId logging in; forged or expired session
 * tokens are refused.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { signHs256 } from '../../../src/auth/jwt';
import { b64url, handJwt } from '../fixtures';
import { call, newApp } from '../helpers';
import {
  businessSays,
  BASE,
  browser,
  decodePayload,
  login,
  messagesPath,
  ORIGIN,
  say,
  sessionSecret,
  socketRequest,
  startSession,
  storedMessages,
  userJwt,
  webApp,
  type Visitor,
  type WebApp,
} from './web';

const EVIL = 'https://evil.example';

describe("a session token opens only its own user's conversations", () => {
  let app: WebApp;
  let a: Visitor;
  let b: Visitor;
  let bBefore: any[];

  beforeAll(async () => {
    app = await webApp();
    a = await startSession(app);
    b = await startSession(app);
    await say(app, b, 'B private 1');
    await say(app, b, 'B private 2');
    bBefore = await storedMessages(app, b.conversationId);
    expect(bBefore).toHaveLength(2);
  });

  const refusedStatus = (status: number) => expect([403, 404]).toContain(status);

  it("A cannot list B's messages", async () => {
    const res = await browser('GET', messagesPath(app, b.conversationId), a.token);
    refusedStatus(res.status);
    expect(JSON.stringify(res.body)).not.toContain('B private');
  });

  it("A cannot post into B's conversation, and nothing is stored", async () => {
    const res = await browser('POST', messagesPath(app, b.conversationId), a.token, { content: { type: 'text', text: 'intruder' } });
    refusedStatus(res.status);
    expect(await storedMessages(app, b.conversationId)).toEqual(bBefore);
  });

  it("A cannot send a postback or activity to B's conversation", async () => {
    const postback = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${b.conversationId}/postback`, a.token, { payload: 'BUY' });
    refusedStatus(postback.status);
    for (const type of ['typing:start', 'typing:stop', 'conversation:read']) {
      const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${b.conversationId}/activity`, a.token, { type });
      refusedStatus(res.status);
    }
    expect(await storedMessages(app, b.conversationId)).toEqual(bBefore);
  });

  it("A cannot open a socket on B's conversation: 403 before any upgrade", async () => {
    const res = await socketRequest(app, b.conversationId, a.token, 0);
    expect(res.status).toBe(403);
    expect(res.webSocket).toBeNull();
  });

  it("A's conversation list holds only A's conversation", async () => {
    const res = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations`, a.token);
    expect(res.status).toBe(200);
    expect(res.body.conversations.map((c: { id: string }) => c.id)).toEqual([a.conversationId]);
  });

  it('a token of another app is refused with 401 on that app', async () => {
    const other = await webApp();
    const stranger = await startSession(other);
    const list = await browser('GET', messagesPath(app, b.conversationId), stranger.token);
    expect(list.status).toBe(401);
    const post = await browser('POST', messagesPath(app, b.conversationId), stranger.token, { content: { type: 'text', text: 'cross-app' } });
    expect(post.status).toBe(401);
    const socket = await socketRequest(app, b.conversationId, stranger.token, 0);
    expect(socket.status).toBe(401);
    expect(socket.webSocket).toBeNull();
    expect(await storedMessages(app, b.conversationId)).toEqual(bBefore);
  });
});

describe('session tokens', () => {
  let app: WebApp;
  let v: Visitor;
  beforeAll(async () => {
    app = await webApp();
    v = await startSession(app);
  });
  const list = (token: string) => browser('GET', messagesPath(app, v.conversationId), token);

  it('a missing token is 401', async () => {
    expect((await browser('GET', messagesPath(app, v.conversationId), undefined)).status).toBe(401);
  });

  it('a garbage token is 401', async () => {
    expect((await list('not-a-token')).status).toBe(401);
    expect((await list('a.b.c')).status).toBe(401);
  });

  it('a token whose payload was swapped for another user keeps nothing of the signature: 401', async () => {
    const other = await startSession(app);
    const [header, , signature] = v.token.split('.');
    const forged = `${header}.${b64url(JSON.stringify({ ...decodePayload(v.token), sub: other.userId, conv: other.conversationId }))}.${signature}`;
    expect((await browser('GET', messagesPath(app, other.conversationId), forged)).status).toBe(401);
  });

  it('an expired token is 401, while the same token unexpired is accepted', async () => {
    const secret = await sessionSecret();
    const now = Math.floor(Date.now() / 1000);
    const payload = decodePayload(v.token);
    const fresh = await signHs256({ ...payload, exp: now + 600 }, 'web-session', secret);
    expect((await list(fresh)).status).toBe(200);
    const expired = await signHs256({ ...payload, iat: now - 7200, exp: now - 60 }, 'web-session', secret);
    const res = await list(expired);
    expect(res.status).toBe(401);
    expect(res.body.errors[0].title).toMatch(/expired/);
  });
});

describe('originWhitelist', () => {
  let app: WebApp;
  let v: Visitor;

  beforeAll(async () => {
    app = await webApp({ originWhitelist: [ORIGIN], canUserCreateMoreConversations: true });
    v = await startSession(app);
    await say(app, v, 'hello');
    await businessSays(app, v.conversationId, { type: 'text', text: 'Pick', actions: [{ type: 'postback', text: 'P', payload: 'P' }] });
  });

  /** Every browser route, as the listed page would call it. */
  const routes = () => {
    const form = new FormData();
    form.append('source', new File(['hi'], 'note.txt', { type: 'text/plain' }));
    return [
      { name: 'config', method: 'GET', path: `/sdk/v2/apps/${app.appId}/integrations/${app.integrationId}/config`, ok: 200 },
      { name: 'sessions', method: 'POST', path: `/sdk/v2/apps/${app.appId}/sessions`, body: { integrationId: app.integrationId }, ok: 201 },
      { name: 'conversations list', method: 'GET', path: `/sdk/v2/apps/${app.appId}/conversations`, token: true, ok: 200 },
      { name: 'conversations create', method: 'POST', path: `/sdk/v2/apps/${app.appId}/conversations`, token: true, body: {}, ok: 201 },
      { name: 'messages list', method: 'GET', path: messagesPath(app, v.conversationId), token: true, ok: 200 },
      { name: 'messages post', method: 'POST', path: messagesPath(app, v.conversationId), token: true, body: { content: { type: 'text', text: 'x' } }, ok: 201 },
      { name: 'postback', method: 'POST', path: `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/postback`, token: true, body: { payload: 'P' }, ok: 200 },
      { name: 'activity', method: 'POST', path: `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/activity`, token: true, body: { type: 'typing:start' }, ok: 200 },
      { name: 'attachments', method: 'POST', path: `/sdk/v2/apps/${app.appId}/attachments`, token: true, form, ok: 201 },
    ] as { name: string; method: string; path: string; token?: boolean; body?: unknown; form?: FormData; ok: number }[];
  };

  const send = (r: ReturnType<typeof routes>[number], origin: string | null) =>
    SELF.fetch(`${BASE}${r.path}`, {
      method: r.method,
      headers: {
        ...(origin ? { origin } : {}),
        ...(r.token ? { authorization: `Bearer ${v.token}` } : {}),
        ...(r.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(r.body !== undefined ? { body: JSON.stringify(r.body) } : r.form ? { body: r.form } : {}),
    });

  it('refuses a page on an unlisted origin on every browser route: 403, the forbidden error, no CORS header', async () => {
    const before = await storedMessages(app, v.conversationId);
    for (const r of routes()) {
      const res = await send(r, EVIL);
      const body = (await res.json()) as any;
      expect({ route: r.name, status: res.status, code: body.errors?.[0]?.code }).toEqual({ route: r.name, status: 403, code: 'forbidden' });
      expect(body.errors[0].title, r.name).toContain(EVIL);
      expect(res.headers.get('access-control-allow-origin'), r.name).toBeNull();
    }
    expect(await storedMessages(app, v.conversationId)).toEqual(before);
  });

  it('answers the listed origin on every browser route, echoing it in Access-Control-Allow-Origin', async () => {
    for (const r of routes()) {
      const res = await send(r, ORIGIN);
      await res.arrayBuffer();
      expect({ route: r.name, status: res.status }).toEqual({ route: r.name, status: r.ok });
      expect(res.headers.get('access-control-allow-origin'), r.name).toBe(ORIGIN);
    }
  });

  it('refuses the socket upgrade from an unlisted origin before upgrading', async () => {
    const refused = await socketRequest(app, v.conversationId, v.token, 0, EVIL);
    expect(refused.status).toBe(403);
    expect(refused.webSocket).toBeNull();
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await socketRequest(app, v.conversationId, v.token, 0, ORIGIN);
    expect(allowed.status).toBe(101);
    allowed.webSocket!.accept();
    allowed.webSocket!.close();
  });

  it('refuses a login from an unlisted origin without creating the user', async () => {
    const res = await login(app, 'evil-login', await userJwt(app.key, 'evil-login'), undefined, EVIL);
    expect(res.status).toBe(403);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect((await call('GET', `/v2/apps/${app.appId}/users/evil-login`, app.auth)).status).toBe(404);
  });

  it('answers a preflight from any origin, and the actual request from an unlisted one is then refused', async () => {
    const preflight = await SELF.fetch(`${BASE}${messagesPath(app, v.conversationId)}`, {
      method: 'OPTIONS',
      headers: { origin: EVIL, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(EVIL);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/content-type/);

    const actual = await browser('POST', messagesPath(app, v.conversationId), v.token, { content: { type: 'text', text: 'after preflight' } }, EVIL);
    expect(actual.status).toBe(403);
    expect(actual.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets a request without an Origin through (servers, curl), without CORS headers', async () => {
    const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId }, null);
    expect(session.status).toBe(201);
    expect(session.headers.get('access-control-allow-origin')).toBeNull();
    const posted = await browser('POST', messagesPath(app, v.conversationId), v.token, { content: { type: 'text', text: 'from a server' } }, null);
    expect(posted.status).toBe(201);
    const socket = await socketRequest(app, v.conversationId, v.token, 0, null);
    expect(socket.status).toBe(101);
    socket.webSocket!.accept();
    socket.webSocket!.close();
  });

  it('an empty whitelist allows any origin', async () => {
    const open = await webApp({ originWhitelist: [] });
    const started = await browser('POST', `/sdk/v2/apps/${open.appId}/sessions`, undefined, { integrationId: open.integrationId }, EVIL);
    expect(started.status).toBe(201);
    expect(started.headers.get('access-control-allow-origin')).toBe(EVIL);
    const posted = await browser('POST', messagesPath(open, started.body.conversation.id), started.body.session.token, { content: { type: 'text', text: 'hi' } }, 'https://anything.example');
    expect(posted.status).toBe(201);
    expect(posted.headers.get('access-control-allow-origin')).toBe('https://anything.example');
  });
});

describe('login refuses a bad user JWT with 401 and creates no user', () => {
  let app: WebApp;
  beforeAll(async () => {
    app = await webApp();
  });

  const expectRefused = async (externalId: string, jwt: string, title?: RegExp) => {
    const res = await login(app, externalId, jwt);
    expect(res.status, JSON.stringify(res.body)).toBe(401);
    if (title) expect(res.body.errors[0].title).toMatch(title);
    expect(res.body.session).toBeUndefined();
    expect((await call('GET', `/v2/apps/${app.appId}/users/${externalId}`, app.auth)).status).toBe(404);
  };

  it('accepts the well-formed JWT (the control the refusals below differ from)', async () => {
    const res = await login(app, 'good-user', await userJwt(app.key, 'good-user', { exp: Math.floor(Date.now() / 1000) + 300 }));
    expect(res.status).toBe(200);
    expect((await call('GET', `/v2/apps/${app.appId}/users/good-user`, app.auth)).status).toBe(200);
  });

  it('an expired JWT', async () => {
    await expectRefused('expired-user', await userJwt(app.key, 'expired-user', { exp: Math.floor(Date.now() / 1000) - 10 }), /expired/);
  });

  it('a JWT signed with the wrong secret', async () => {
    await expectRefused('wrong-secret', await signHs256({ scope: 'user', external_id: 'wrong-secret' }, app.key.id, 'not-the-secret'), /signature/);
  });

  it("a JWT signed with another app's key", async () => {
    const other = await newApp('other');
    await expectRefused('other-key', await userJwt(other.key, 'other-key'), /kid/);
  });

  it('a JWT whose scope is not "user"', async () => {
    await expectRefused('app-scope', await signHs256({ scope: 'app', external_id: 'app-scope' }, app.key.id, app.key.secret), /scope/);
  });

  it('a JWT for another external_id', async () => {
    await expectRefused('claimed', await userJwt(app.key, 'someone-else'), /external_id/);
  });

  it('an unsigned JWT (alg none)', async () => {
    const unsigned = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT', kid: app.key.id }))}.${b64url(JSON.stringify({ scope: 'user', external_id: 'alg-none' }))}.`;
    await expectRefused('alg-none', unsigned);
    // alg none with a valid HMAC over the same input still is not HS256.
    await expectRefused('alg-none', await handJwt({ alg: 'none', kid: app.key.id }, { scope: 'user', external_id: 'alg-none' }, app.key.secret));
  });

  it('a JWT without kid', async () => {
    await expectRefused('no-kid', await handJwt({ alg: 'HS256', typ: 'JWT' }, { scope: 'user', external_id: 'no-kid' }, app.key.secret), /kid/);
  });
});

describe('what a session stops opening', () => {
  it("a deleted user's token opens nothing, before it expires", async () => {
    const app = await webApp();
    const v = await startSession(app);
    await say(app, v, 'soon gone');
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${v.userId}`, app.auth)).status).toBe(200);
    const list = await browser('GET', messagesPath(app, v.conversationId), v.token);
    expect([403, 404]).toContain(list.status);
    const post = await browser('POST', messagesPath(app, v.conversationId), v.token, { content: { type: 'text', text: 'ghost' } });
    expect([403, 404]).toContain(post.status);
    const socket = await socketRequest(app, v.conversationId, v.token, 0);
    expect([403, 404]).toContain(socket.status);
    const form = new FormData();
    form.append('source', new File(['x'], 'x.txt', { type: 'text/plain' }));
    const upload = await SELF.fetch(`${BASE}/sdk/v2/apps/${app.appId}/attachments`, { method: 'POST', headers: { origin: ORIGIN, authorization: `Bearer ${v.token}` }, body: form });
    expect(upload.status).toBe(401);
  });

  it("a deleted user's token cannot open new conversations", async () => {
    const app = await webApp({ originWhitelist: [ORIGIN], canUserCreateMoreConversations: true });
    const v = await startSession(app);
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${v.userId}`, app.auth)).status).toBe(200);
    const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations`, v.token, {});
    expect(res.status).toBe(401);
    expect(res.body.errors[0].title).toMatch(/no longer exists/);
  });

  it('a deleted web integration ends its sessions: 404 integration_not_found', async () => {
    const app = await webApp();
    const v = await startSession(app);
    expect((await call('DELETE', `/v2/apps/${app.appId}/integrations/${app.integrationId}`, app.auth)).status).toBe(200);
    const res = await browser('POST', messagesPath(app, v.conversationId), v.token, { content: { type: 'text', text: 'late' } });
    expect(res.status).toBe(404);
    expect(res.body.errors[0].code).toBe('integration_not_found');
  });

  it('a whitelist change applies to the next request', async () => {
    const app = await webApp({ originWhitelist: [] });
    const v = await startSession(app, undefined, EVIL);
    expect((await browser('GET', messagesPath(app, v.conversationId), v.token, undefined, EVIL)).status).toBe(200);
    expect((await call('PATCH', `/v2/apps/${app.appId}/integrations/${app.integrationId}`, app.auth, { originWhitelist: [ORIGIN] })).status).toBe(200);
    expect((await browser('GET', messagesPath(app, v.conversationId), v.token, undefined, EVIL)).status).toBe(403);
    expect((await browser('GET', messagesPath(app, v.conversationId), v.token, undefined, ORIGIN)).status).toBe(200);
  });

  it('a user may create more conversations only when canUserCreateMoreConversations is true', async () => {
    const closed = await webApp({ originWhitelist: [] });
    const v = await startSession(closed);
    const refused = await browser('POST', `/sdk/v2/apps/${closed.appId}/conversations`, v.token, { displayName: 'Another' });
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0].title).toMatch(/canUserCreateMoreConversations/);
    const open = await webApp({ canUserCreateMoreConversations: true });
    const w = await startSession(open);
    const created = await browser('POST', `/sdk/v2/apps/${open.appId}/conversations`, w.token, { displayName: 'Another' });
    expect(created.status).toBe(201);
    expect(created.body.conversation).toMatchObject({ type: 'personal', isDefault: false, displayName: 'Another' });
    const listed = await browser('GET', `/sdk/v2/apps/${open.appId}/conversations`, w.token);
    expect(listed.body.conversations.map((c: { id: string }) => c.id).sort()).toEqual([w.conversationId, created.body.conversation.id].sort());
  });
});
