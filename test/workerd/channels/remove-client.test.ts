/**
 * removeClient: a Telegram client removed through the API stops receiving the
 * user's business messages, is announced once with `client:remove` (reason
 * api), and the same Telegram user writing again becomes a new user; `sdk`
 * clients cannot be removed and unknown clients answer 404.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelegramFake } from '../../fakes/telegram';
import { call, newApp } from '../helpers';
import { startSession, webApp } from '../web/web';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const TELEGRAM = 'https://telegram-remove-client.test';
const telegram = new TelegramFake({ webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;

beforeAll(() => {
  const spy = routeFetch({ [TELEGRAM]: telegram, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

describe('removeClient', () => {
  it('a removed Telegram client hears nothing more, is announced once, and its channel user comes back as a new user', async () => {
    const app = await newApp('remove client');
    await subscribe(app.appId, app.auth);
    const tg = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: telegram.token, apiBaseUrl: TELEGRAM });
    expect(tg.status).toBe(201);
    const webhookUrl = tg.body.integration.webhookUrl as string;
    const from = { id: 880_001, first_name: 'Rae' };
    expect((await hook(telegram.text(webhookUrl, from, 'first'))).status).toBe(200);
    const added = await eventually(() => {
      const e = receiver.ofType('client:add')[0];
      if (!e) throw new Error('no client:add yet');
      return e;
    });
    const userId = (added.payload.user as { id: string }).id;
    const clientId = (added.payload.client as { id: string }).id;
    const conversationId = (receiver.ofType('conversation:message')[0]!.payload.conversation as { id: string }).id;

    const removed = await call('DELETE', `/v2/apps/${app.appId}/users/${userId}/clients/${clientId}`, app.auth);
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect(removed.body).toEqual({});
    expect((await call('GET', `/v2/apps/${app.appId}/users/${userId}/clients`, app.auth)).body.clients).toEqual([]);
    const event = await eventually(() => {
      const e = receiver.ofType('client:remove')[0];
      if (!e) throw new Error('no client:remove yet');
      return e;
    });
    expect(event.payload).toMatchObject({ reason: 'api', user: { id: userId }, client: { id: clientId, type: 'telegram' }, conversation: { id: conversationId } });
    // Repeating the call finds nothing to remove and announces nothing twice.
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${userId}/clients/${clientId}`, app.auth)).status).toBe(404);

    // An isolate that still has the identity cached reaches the conversation with the old client: refused, so it resolves again.
    const stale = await env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${app.appId}/${conversationId}`)).receive(
      { id: clientId, integrationId: tg.body.integration.id, type: 'telegram', externalId: String(from.id), userId, raw: null, view: {} },
      [{ kind: 'message', dedupeKey: 'stale-isolate-1', author: { type: 'user', userId }, content: { type: 'text', text: 'via a stale cache' }, source: { type: 'telegram' } }],
    );
    expect(stale).toMatchObject({ ok: false, status: 404, code: 'client_not_found' });

    const sentBefore = telegram.sent.get(String(from.id))?.length ?? 0;
    const business = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'anyone there?' } });
    expect(business.status).toBe(201);
    const participants = await call('GET', `/v2/apps/${app.appId}/conversations/${conversationId}/participants`, app.auth);
    expect(participants.body.participants[0].clientAssociations).toEqual([]);

    expect((await hook(telegram.text(webhookUrl, from, 'me again'))).status).toBe(200);
    const again = await eventually(() => {
      const e = receiver.ofType('conversation:message').find((m) => (m.payload.message as { content: { text: string } }).content.text === 'me again');
      if (!e) throw new Error('not yet');
      return e;
    });
    const newUserId = (again.payload.message as { author: { userId: string } }).author.userId;
    expect(newUserId).not.toBe(userId);
    expect((again.payload.conversation as { id: string }).id).not.toBe(conversationId);
    expect(telegram.sent.get(String(from.id))?.length ?? 0).toBe(sentBefore);
    expect(receiver.ofType('client:remove')).toHaveLength(1);
  });

  it('an sdk client cannot be removed (400); an unknown client answers 404 client_not_found', async () => {
    const app = await webApp();
    const visitor = await startSession(app);
    const sdk = await call('DELETE', `/v2/apps/${app.appId}/users/${visitor.userId}/clients/${visitor.clientId}`, app.auth);
    expect(sdk.status).toBe(400);
    expect(sdk.body.errors[0].title).toMatch(/^clientId: sdk clients cannot be removed/);
    expect((await call('GET', `/v2/apps/${app.appId}/users/${visitor.userId}/clients`, app.auth)).body.clients).toHaveLength(1);
    for (const id of ['0123456789abcdef01234567', 'nope']) {
      const res = await call('DELETE', `/v2/apps/${app.appId}/users/${visitor.userId}/clients/${id}`, app.auth);
      expect(res.status).toBe(404);
      expect(res.body.errors[0].code).toBe('client_not_found');
    }
  });
});
