/**
 * Logging in from the widget with the business's user JWT: an anonymous
 * visitor becomes the known user (claiming a new externalId, or merged into
 * the user who already has it, history and browser client included, with
 * `user:merge` reason sdkLogin), and a login without an anonymous session adds
 * a browser client to the known user without ever duplicating them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from '../channels/harness';
import { call } from '../helpers';
import { browser, businessSays, eventually, login, messagesPath, openSocket, say, startSession, storedMessages, userJwt, webApp, type WebApp } from './web';

const receiver = new WebhookReceiver();
let restore: () => void;
let app: WebApp;

beforeAll(async () => {
  const spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await webApp();
  await subscribe(app.appId, app.auth);
});
afterAll(() => restore());

describe('an anonymous visitor logs in as an externalId nobody has', () => {
  it('stays the same user, now with the externalId and authenticated, history intact', async () => {
    const visitor = await startSession(app);
    await say(app, visitor, 'before login 1');
    await say(app, visitor, 'before login 2');

    const res = await login(app, 'fresh-ext', await userJwt(app.key, 'fresh-ext'), visitor.token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.user).toEqual({ id: visitor.userId, externalId: 'fresh-ext', authenticated: true });
    expect(res.body.conversation.id).toBe(visitor.conversationId);
    expect(res.body.session.token).not.toBe(visitor.token);

    const user = await call('GET', `/v2/apps/${app.appId}/users/fresh-ext`, app.auth);
    expect(user.status).toBe(200);
    expect(user.body.user).toMatchObject({ id: visitor.userId, externalId: 'fresh-ext', authenticated: true });

    const history = await browser('GET', messagesPath(app, visitor.conversationId), res.body.session.token);
    expect(history.status).toBe(200);
    expect(history.body.messages.map((m: any) => m.content.text)).toEqual(['before login 1', 'before login 2']);

    const updated = await eventually(() => {
      const found = receiver.ofType('user:update').find((e: any) => e.payload.user.id === visitor.userId);
      if (!found) throw new Error('no user:update yet');
      return found;
    });
    expect(updated.payload).toMatchObject({ reason: 'authentication', user: { id: visitor.userId, externalId: 'fresh-ext', authenticated: true }, source: { type: 'web', integrationId: app.integrationId } });
  });
});

describe('an anonymous visitor logs in as an externalId that already exists', () => {
  let known: { id: string };
  let knownConversation: string;
  let knownMessages: any[];
  let visitor: Awaited<ReturnType<typeof startSession>>;
  let anonymousMessages: any[];
  let res: Awaited<ReturnType<typeof login>>;

  beforeAll(async () => {
    const created = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'known-ext', profile: { givenName: 'Kim' } });
    expect(created.status).toBe(201);
    known = created.body.user;
    const conv = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: known.id }] });
    expect(conv.status).toBe(201);
    expect(conv.body.conversation.isDefault).toBe(true);
    knownConversation = conv.body.conversation.id;
    for (const text of ['known 1', 'known 2']) {
      const m = await call('POST', `/v2/apps/${app.appId}/conversations/${knownConversation}/messages`, app.auth, { author: { type: 'user', userId: known.id }, content: { type: 'text', text } });
      expect(m.status).toBe(201);
    }
    knownMessages = await storedMessages(app, knownConversation);

    visitor = await startSession(app);
    anonymousMessages = [await say(app, visitor, 'anon 1'), await say(app, visitor, 'anon 2')];
    res = await login(app, 'known-ext', await userJwt(app.key, 'known-ext'), visitor.token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it('answers with the known user and their default conversation', () => {
    expect(res.body.user).toEqual({ id: known.id, externalId: 'known-ext', authenticated: true });
    expect(res.body.conversation.id).toBe(knownConversation);
    expect(res.body.client.id).toBe(visitor.clientId);
  });

  it("the known user's default conversation holds both histories in seq order, the anonymous one after with its original times", async () => {
    const merged = await storedMessages(app, knownConversation);
    expect(merged.map((m) => m.content.text)).toEqual(['known 1', 'known 2', 'anon 1', 'anon 2']);
    const seqs = merged.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(4);
    expect(merged.slice(0, 2).map((m) => m.id)).toEqual(knownMessages.map((m) => m.id));
    expect(merged.slice(2).map((m) => m.received)).toEqual(anonymousMessages.map((m) => m.received));
    expect(merged.slice(2).every((m) => m.author.type === 'user' && m.author.userId === known.id)).toBe(true);
  });

  it('the anonymous user is gone', async () => {
    expect((await call('GET', `/v2/apps/${app.appId}/users/${visitor.userId}`, app.auth)).status).toBe(404);
  });

  it("the browser's client now belongs to the known user", async () => {
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${known.id}/clients`, app.auth);
    expect(clients.status).toBe(200);
    expect(clients.body.clients.map((c: any) => c.id)).toContain(visitor.clientId);
    expect(clients.body.clients.find((c: any) => c.id === visitor.clientId)).toMatchObject({ type: 'sdk', integrationId: app.integrationId });
  });

  it('raises user:merge with reason sdkLogin naming the surviving and discarded users', async () => {
    const event = await eventually(() => {
      const found = receiver.ofType('user:merge').find((e: any) => e.payload.mergedUsers.surviving.id === known.id);
      if (!found) throw new Error('no user:merge yet');
      return found;
    });
    expect(event.payload).toMatchObject({
      reason: 'sdkLogin',
      mergedUsers: { surviving: { id: known.id, externalId: 'known-ext' }, discarded: { id: visitor.userId } },
      mergedConversations: { surviving: { id: knownConversation }, discarded: { id: visitor.conversationId } },
    });
  });

  it('a retried login with the old anonymous token (its answer was lost) moves nothing twice', async () => {
    const retry = await login(app, 'known-ext', await userJwt(app.key, 'known-ext'), visitor.token);
    expect(retry.status).toBe(200);
    expect(retry.body.user.id).toBe(known.id);
    expect(retry.body.conversation.id).toBe(knownConversation);
    expect((await storedMessages(app, knownConversation)).map((m) => m.content.text)).toEqual(['known 1', 'known 2', 'anon 1', 'anon 2']);
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${known.id}/clients`, app.auth);
    expect(clients.body.clients.filter((c: any) => c.id === visitor.clientId)).toHaveLength(1);
  });

  it('the new session token reads the merged history; the old anonymous one reads nothing', async () => {
    const fresh = await browser('GET', messagesPath(app, knownConversation), res.body.session.token);
    expect(fresh.status).toBe(200);
    expect(fresh.body.messages).toHaveLength(4);

    const oldOwn = await browser('GET', messagesPath(app, visitor.conversationId), visitor.token);
    expect([403, 404]).toContain(oldOwn.status);
    const oldKnown = await browser('GET', messagesPath(app, knownConversation), visitor.token);
    expect([403, 404]).toContain(oldKnown.status);
    const oldList = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations`, visitor.token);
    if (oldList.status === 200) expect(oldList.body.conversations).toEqual([]);
    else expect([401, 403, 404]).toContain(oldList.status);
    const oldPost = await browser('POST', messagesPath(app, visitor.conversationId), visitor.token, { content: { type: 'text', text: 'ghost' } });
    expect([403, 404]).toContain(oldPost.status);
  });
});

describe('login without an anonymous session', () => {
  it('gives a known user a new web client, and repeating it never duplicates the user', async () => {
    const created = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'returning' });
    const userId = created.body.user.id;
    const jwt = await userJwt(app.key, 'returning');

    const first = await login(app, 'returning', jwt);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.user).toEqual({ id: userId, externalId: 'returning', authenticated: true });
    expect(first.body.client.type).toBe('sdk');
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${userId}/clients`, app.auth);
    expect(clients.body.clients.filter((c: any) => c.type === 'sdk').map((c: any) => c.id)).toEqual([first.body.client.id]);

    const second = await login(app, 'returning', jwt);
    expect(second.status).toBe(200);
    expect(second.body.user.id).toBe(userId);
    expect(second.body.conversation.id).toBe(first.body.conversation.id);

    const posted = await browser('POST', messagesPath(app, first.body.conversation.id), second.body.session.token, { content: { type: 'text', text: 'back again' } });
    expect(posted.status).toBe(201);
    expect(posted.body.messages[0].author.userId).toBe(userId);
  });

  it('creates a user for a first-time externalId once, however often the login repeats', async () => {
    const jwt = await userJwt(app.key, 'first-timer');
    const logins = [await login(app, 'first-timer', jwt), await login(app, 'first-timer', jwt)];
    expect(logins.map((l) => l.status)).toEqual([200, 200]);
    expect(logins[0]!.body.user.id).toBe(logins[1]!.body.user.id);
    const user = await call('GET', `/v2/apps/${app.appId}/users/first-timer`, app.auth);
    expect(user.body.user.id).toBe(logins[0]!.body.user.id);
    const conversations = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${user.body.user.id}`, app.auth);
    expect(conversations.body.conversations.filter((c: any) => c.isDefault)).toHaveLength(1);
  });

  it('logging in again with the already logged-in session returns the same user and conversation', async () => {
    const visitor = await startSession(app);
    const jwt = await userJwt(app.key, 'twice');
    const first = await login(app, 'twice', jwt, visitor.token);
    const again = await login(app, 'twice', jwt, first.body.session.token);
    expect(again.status).toBe(200);
    expect(again.body.user.id).toBe(visitor.userId);
    expect(again.body.conversation.id).toBe(visitor.conversationId);
    expect(again.body.client.id).toBe(visitor.clientId);
  });
});

describe('merge details', () => {
  it('the anonymous history is announced once: no second conversation:message for the moved messages', async () => {
    await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'announced' });
    const visitor = await startSession(app);
    const sent = await say(app, visitor, 'announce me once');
    await eventually(() => receiver.ofType('conversation:message').some((e: any) => e.payload.message.id === sent.id));
    const res = await login(app, 'announced', await userJwt(app.key, 'announced'), visitor.token);
    expect(res.status).toBe(200);
    await eventually(() => receiver.ofType('user:merge').some((e: any) => e.payload.mergedUsers.discarded.id === visitor.userId));
    const mentions = receiver.ofType('conversation:message').filter((e: any) => e.payload.message.content.text === 'announce me once');
    expect(mentions).toHaveLength(1);
  });

  it("a socket open on the anonymous conversation is closed when its user is merged away", async () => {
    await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'socket-owner' });
    const visitor = await startSession(app);
    await say(app, visitor, 'hi');
    const socket = await openSocket(app, visitor.conversationId, visitor.token, 0);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    expect((await login(app, 'socket-owner', await userJwt(app.key, 'socket-owner'), visitor.token)).status).toBe(200);
    await eventually(() => socket.closed !== undefined);
  });

  it("an anonymous token of another app is ignored: nothing of that app is merged or deleted", async () => {
    const other = await webApp();
    const stranger = await startSession(other);
    await say(other, stranger, 'stays in the other app');
    const res = await login(app, 'foreign-anon', await userJwt(app.key, 'foreign-anon'), stranger.token);
    expect(res.status).toBe(200);
    expect(res.body.user.id).not.toBe(stranger.userId);
    expect((await call('GET', `/v2/apps/${other.appId}/users/${stranger.userId}`, other.auth)).status).toBe(200);
    expect((await storedMessages(other, stranger.conversationId)).map((m) => m.content.text)).toEqual(['stays in the other app']);
    expect((await browser('GET', messagesPath(other, stranger.conversationId), stranger.token, undefined)).status).toBe(200);
  });

  it('concurrent first logins for one externalId all succeed as the same user', async () => {
    const jwt = await userJwt(app.key, 'stampede');
    const logins = await Promise.all(Array.from({ length: 4 }, () => login(app, 'stampede', jwt)));
    expect(logins.map((l) => l.status)).toEqual([200, 200, 200, 200]);
    expect(new Set(logins.map((l) => l.body.user.id)).size).toBe(1);
  });

  it('a merged form response keeps the form it quotes', async () => {
    await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'form-filler' });
    const visitor = await startSession(app);
    const form = await businessSays(app, visitor.conversationId, { type: 'form', fields: [{ type: 'text', name: 'name', label: 'Name' }] });
    const answered = await browser('POST', messagesPath(app, visitor.conversationId), visitor.token, {
      content: { type: 'formResponse', quotedMessageId: form.id, fields: [{ type: 'text', name: 'name', label: 'Name', text: 'Ann' }] },
    });
    expect(answered.body.messages[0].quotedMessage).toMatchObject({ type: 'message', message: { id: form.id } });
    const res = await login(app, 'form-filler', await userJwt(app.key, 'form-filler'), visitor.token);
    const merged = await storedMessages(app, res.body.conversation.id);
    const response = merged.find((m) => m.content.type === 'formResponse');
    expect(response.quotedMessage).toMatchObject({ type: 'message', message: { content: { type: 'form', submitted: true } } });
  });
});

describe('merge edge cases', () => {
  it("moves the anonymous user's other conversations to the known user instead of deleting them", async () => {
    const multi = await webApp({ originWhitelist: ['https://shop.example.com'], canUserCreateMoreConversations: true });
    await call('POST', `/v2/apps/${multi.appId}/users`, multi.auth, { externalId: 'two-threads' });
    const visitor = await startSession(multi);
    await say(multi, visitor, 'in the default thread');
    const second = await browser('POST', `/sdk/v2/apps/${multi.appId}/conversations`, visitor.token, { displayName: 'Returns' });
    expect(second.status).toBe(201);
    await say(multi, { token: visitor.token, conversationId: second.body.conversation.id }, 'in the second thread');

    const res = await login(multi, 'two-threads', await userJwt(multi.key, 'two-threads'), visitor.token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const moved = await browser('GET', messagesPath(multi, second.body.conversation.id), res.body.session.token);
    expect(moved.status).toBe(200);
    expect(moved.body.messages.map((m: any) => [m.content.text, m.author.userId])).toEqual([['in the second thread', res.body.user.id]]);
    const listed = await browser('GET', `/sdk/v2/apps/${multi.appId}/conversations`, res.body.session.token);
    expect(listed.body.conversations.map((c: any) => c.id)).toContain(second.body.conversation.id);
  });

  it('a tab still on the anonymous session after the merge is refused, so nothing it sends is acknowledged and then lost', async () => {
    await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'late-tab' });
    const visitor = await startSession(app);
    await say(app, visitor, 'before');
    const res = await login(app, 'late-tab', await userJwt(app.key, 'late-tab'), visitor.token);
    expect(res.status).toBe(200);
    const late = await browser('POST', messagesPath(app, visitor.conversationId), visitor.token, { content: { type: 'text', text: 'from the old tab' } });
    expect(late.status).toBe(404);
    const merged = await storedMessages(app, res.body.conversation.id);
    expect(merged.map((m) => m.content.text)).toEqual(['before']);
  });

  it('a login repeated after its merge completed raises no second user:merge', async () => {
    await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'twice-merged' });
    const visitor = await startSession(app);
    await say(app, visitor, 'hello');
    const jwt = await userJwt(app.key, 'twice-merged');
    expect((await login(app, 'twice-merged', jwt, visitor.token)).status).toBe(200);
    const again = await login(app, 'twice-merged', jwt, visitor.token);
    expect(again.status).toBe(200);
    await eventually(() => receiver.ofType('user:merge').some((e: any) => e.payload.mergedUsers.discarded.id === visitor.userId));
    // A marker raised after the repeat on the same user's stream: once it is in, a second merge would be too.
    await call('DELETE', `/v2/apps/${app.appId}/users/twice-merged`, app.auth);
    await eventually(() => receiver.ofType('user:remove').some((e: any) => e.payload.user.externalId === 'twice-merged'));
    expect(receiver.ofType('user:merge').filter((e: any) => e.payload.mergedUsers.discarded.id === visitor.userId)).toHaveLength(1);
    const merged = await call('GET', `/v2/apps/${app.appId}/users/twice-merged`, app.auth);
    expect(merged.status).toBe(404);
  });
});
