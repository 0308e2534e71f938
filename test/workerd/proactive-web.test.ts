/**
 * Proactive messages to Web Messenger users, server side: the business
 * writes first.
 * - An anonymous visitor whose widget started a session (no message yet)
 *   gets a business message posted through the v2 API live on the socket,
 *   replayed on a socket opened later, and counted unread until read.
 * - A user the business created and messaged through the v2 API before they
 *   ever opened the widget finds that conversation, its messages and their
 *   unread count when they log in, with or without an anonymous session
 *   that never wrote.
 * - `conversation:create` says who opened the conversation: `none` for the
 *   Create Conversation API (the official client's model: "Used primarily
 *   when a conversation is created via the Create Conversation API";
 *   `proactiveMessaging` there means "the user interacted with a campaign":
 *   Parley's campaigns, test/workerd/web/campaigns.test.ts),
 *   `startConversation` for a widget's session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from './helpers';
import { RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './channels/harness';
import { browser, businessSays, eventually, login, messageFrames, openSocket, startSession, userJwt, webApp, type WebApp } from './web/web';

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

const created = (conversationId: string) =>
  eventually(() => {
    const found = receiver.ofType('conversation:create').find((e) => (e.payload.conversation as { id: string }).id === conversationId);
    if (!found) throw new Error('no conversation:create yet');
    return found.payload as Record<string, any>;
  });

const sdkConversations = async (token: string) => {
  const res = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations`, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.conversations as { id: string; unreadCount: number }[];
};

/** The business's side: a user and a personal conversation made through the v2 API, and messages posted into it. */
async function businessReachesOut(externalId: string, texts: string[]) {
  const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId, profile: { givenName: 'Lin' } });
  expect(user.status, JSON.stringify(user.body)).toBe(201);
  const conversation = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userExternalId: externalId }] });
  expect(conversation.status, JSON.stringify(conversation.body)).toBe(201);
  const conversationId: string = conversation.body.conversation.id;
  const sent = [];
  for (const text of texts) sent.push(await businessSays(app, conversationId, { type: 'text', text }));
  return { userId: user.body.user.id as string, conversationId, sent };
}

describe('an anonymous visitor who never wrote', () => {
  it('gets a session and a conversation without writing, announced as startConversation', async () => {
    const visitor = await startSession(app);
    const event = await created(visitor.conversationId);
    expect(event).toMatchObject({ creationReason: 'startConversation', user: { id: visitor.userId }, source: { type: 'web', integrationId: app.integrationId } });
    const res = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations/${visitor.conversationId}/messages`, visitor.token);
    expect(res.body.messages).toEqual([]);
  });

  it('receives a business message posted through the v2 API live on its socket, counted unread until read', async () => {
    const visitor = await startSession(app);
    const socket = await openSocket(app, visitor.conversationId, visitor.token, 0);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));

    const message = await businessSays(app, visitor.conversationId, { type: 'text', text: 'Need help choosing a size?' });
    await eventually(() => messageFrames(socket).length === 1);
    expect(messageFrames(socket)[0]).toMatchObject({ id: message.id, seq: message.seq, author: { type: 'business' }, content: { text: 'Need help choosing a size?' } });
    expect(await sdkConversations(visitor.token)).toEqual([expect.objectContaining({ id: visitor.conversationId, unreadCount: 1 })]);

    const read = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${visitor.conversationId}/activity`, visitor.token, { type: 'conversation:read' });
    expect(read.status).toBe(200);
    expect(await sdkConversations(visitor.token)).toEqual([expect.objectContaining({ id: visitor.conversationId, unreadCount: 0 })]);
    socket.ws.close();
  });

  it('finds what the business wrote while no tab was open when its socket opens (replay from seq 0)', async () => {
    const visitor = await startSession(app);
    const message = await businessSays(app, visitor.conversationId, { type: 'text', text: 'We saved your cart.' });
    const socket = await openSocket(app, visitor.conversationId, visitor.token, 0);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    expect(socket.frames.map((f) => f.type)).toEqual(['message', 'ready']);
    expect(messageFrames(socket)[0].id).toBe(message.id);
    socket.ws.close();
  });
});

describe('a user the business created and messaged before they opened the widget', () => {
  it('is announced as opened by the Create Conversation API: creationReason none, with the user', async () => {
    const { userId, conversationId } = await businessReachesOut('proactive-announced', ['Your order is ready']);
    const event = await created(conversationId);
    expect(event).toMatchObject({ creationReason: 'none', user: { id: userId, externalId: 'proactive-announced' }, source: { type: 'api:conversations' } });
  });

  it('sees that conversation, its messages and their unread count on login', async () => {
    const { userId, conversationId, sent } = await businessReachesOut('proactive-login', ['Hi Lin, your order shipped', 'Track it here']);
    const res = await login(app, 'proactive-login', await userJwt(app.key, 'proactive-login'));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.user).toMatchObject({ id: userId, externalId: 'proactive-login', authenticated: true });
    expect(res.body.conversation.id).toBe(conversationId);
    const token: string = res.body.session.token;

    const page = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`, token);
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual(sent.map((m) => m.id));
    expect(await sdkConversations(token)).toEqual([expect.objectContaining({ id: conversationId, unreadCount: 2 })]);
    // The browser joined the business's conversation: no second conversation was opened for the login.
    const listed = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${userId}`, app.auth);
    expect(listed.body.conversations.map((c: { id: string }) => c.id)).toEqual([conversationId]);
  });

  it('gets the same on login from a browser whose anonymous session never wrote', async () => {
    const { conversationId, sent } = await businessReachesOut('proactive-merge', ['Welcome back']);
    const visitor = await startSession(app);
    const res = await login(app, 'proactive-merge', await userJwt(app.key, 'proactive-merge'), visitor.token);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.conversation.id).toBe(conversationId);
    const token: string = res.body.session.token;
    const page = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`, token);
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual(sent.map((m) => m.id));
    expect(await sdkConversations(token)).toEqual([expect.objectContaining({ id: conversationId, unreadCount: 1 })]);

    // And what the business writes next reaches the logged-in browser live.
    const socket = await openSocket(app, conversationId, token, sent.at(-1).seq);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    const next = await businessSays(app, conversationId, { type: 'text', text: 'Anything else?' });
    await eventually(() => messageFrames(socket).some((m) => m.id === next.id));
    socket.ws.close();
  });
});
