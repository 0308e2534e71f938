/**
 * The app settings that change what happens to a conversation:
 * `maskCreditCardNumbers` (Luhn-valid card numbers masked before anything is
 * stored), `echoPostback` (a tap is also the user's message),
 * `useAnimalNames` (anonymous visitors get a generated name),
 * `ignoreAutoConversationStart` (opening the widget is announced with the
 * first message, not before) and `conversationRetentionSeconds` (a quiet
 * conversation loses its messages through the object's alarm).
 */
import { env, runDurableObjectAlarm } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskCardNumbers } from '../../src/content/card-numbers';
import { eventually, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './channels/harness';
import { call } from './helpers';
import { browser, businessSays, say, startSession, storedMessages, webApp, type WebApp } from './web/web';

const receiver = new WebhookReceiver();
let restore: () => void;
beforeAll(() => {
  const spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

async function appWith(settings: Record<string, unknown>): Promise<WebApp> {
  const app = await webApp();
  const res = await call('PATCH', `/v2/apps/${app.appId}`, app.auth, { settings });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return app;
}

async function userConversation(app: WebApp) {
  const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: `s-${crypto.randomUUID()}` });
  const conv = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
  return { userId: user.body.user.id as string, conversationId: conv.body.conversation.id as string };
}

const userPost = (app: WebApp, c: { userId: string; conversationId: string }, text: string) =>
  call('POST', `/v2/apps/${app.appId}/conversations/${c.conversationId}/messages`, app.auth, { author: { type: 'user', userId: c.userId }, content: { type: 'text', text } });

describe('maskCreditCardNumbers', () => {
  it('masks Luhn-valid card numbers, with any spacing, and leaves other long numbers alone', () => {
    expect(maskCardNumbers('pay with 4111 1111 1111 1111 please')).toBe('pay with **** **** **** 1111 please');
    expect(maskCardNumbers('5500-0000-0000-0004')).toBe('****-****-****-0004');
    expect(maskCardNumbers('amex 378282246310005.')).toBe('amex ***********0005.');
    expect(maskCardNumbers('order 1234 5678 9012 3456')).toBe('order 1234 5678 9012 3456');
    expect(maskCardNumbers('amex 3782 822463 10005')).toBe('amex **** ****** *0005');
    // Phone numbers, and digits inside ids (a UUID's groups, a reference glued to letters), stay.
    expect(maskCardNumbers('call +1 415 555 0100 or ref 4111111111111111x')).toBe('call +1 415 555 0100 or ref 4111111111111111x');
    expect(maskCardNumbers('id 12345678-1234-5abc-9def-0123456789ab')).toBe('id 12345678-1234-5abc-9def-0123456789ab');
    expect(maskCardNumbers('see https://shop.example/o/4111111111111111 and 2015 2016 2017 2018')).toBe('see https://shop.example/o/4111111111111111 and 2015 2016 2017 2018');
    expect(maskCardNumbers('diners 3056 930902 5904.')).toBe('diners **** ****** 5904.');
    expect(maskCardNumbers('4111-1111-1111-1111-ab')).toBe('4111-1111-1111-1111-ab');
  });

  it('is on by default: a user message through the API or the widget is stored masked; off, it is stored as written', async () => {
    const app = await webApp();
    const c = await userConversation(app);
    const posted = await userPost(app, c, 'my card is 4242 4242 4242 4242');
    expect(posted.body.messages[0].content.text).toBe('my card is **** **** **** 4242');
    const visitor = await startSession(app);
    const said = await say(app, visitor, '4000056655665556 exp 12/30');
    expect(said.content.text).toBe('************5556 exp 12/30');
    expect((await storedMessages(app, visitor.conversationId)).map((m) => m.content.text)).toEqual(['************5556 exp 12/30']);

    const open = await appWith({ maskCreditCardNumbers: false });
    const c2 = await userConversation(open);
    expect((await userPost(open, c2, 'my card is 4242 4242 4242 4242')).body.messages[0].content.text).toBe('my card is 4242 4242 4242 4242');
  });
});

describe('echoPostback', () => {
  it('on: a postback tap is also stored as the user\'s message (label and payload); off: only the postback event', async () => {
    for (const echo of [true, false]) {
      const app = await appWith({ echoPostback: echo });
      const visitor = await startSession(app);
      await businessSays(app, visitor.conversationId, { type: 'text', text: 'Pick one', actions: [{ type: 'postback', text: 'Large', payload: 'SIZE_L' }] });
      const tap = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${visitor.conversationId}/postback`, visitor.token, { payload: 'SIZE_L' });
      expect(tap.status, JSON.stringify(tap.body)).toBe(200);
      const stored = await storedMessages(app, visitor.conversationId);
      const fromUser = stored.filter((m) => m.author.type === 'user');
      if (echo) expect(fromUser.map((m) => m.content)).toEqual([{ type: 'text', text: 'Large', payload: 'SIZE_L' }]);
      else expect(fromUser).toEqual([]);
    }
  });
});

describe('useAnimalNames', () => {
  it('gives an anonymous visitor a generated given name and surname; off, no name', async () => {
    const named = await appWith({ useAnimalNames: true });
    const visitor = await startSession(named);
    const user = await call('GET', `/v2/apps/${named.appId}/users/${visitor.userId}`, named.auth);
    expect(user.body.user.profile).toEqual({ givenName: expect.stringMatching(/^[A-Z][a-z]+$/), surname: expect.stringMatching(/^[A-Z][a-z]+$/) });
    const plain = await webApp();
    const other = await startSession(plain);
    expect((await call('GET', `/v2/apps/${plain.appId}/users/${other.userId}`, plain.auth)).body.user.profile).toEqual({});
  });
});

describe('ignoreAutoConversationStart', () => {
  it('opening the widget raises no conversation:create; the first message does, just before its own event', async () => {
    const app = await appWith({ ignoreAutoConversationStart: true });
    await subscribe(app.appId, app.auth);
    const visitor = await startSession(app);
    const ofConversation = (type: string) => receiver.ofType(type).filter((e) => (e.payload.conversation as { id: string } | undefined)?.id === visitor.conversationId || (e.payload.user as { id: string } | undefined)?.id === visitor.userId);
    // client:add follows the creation in the conversation's stream: once it is here, a creation event would be too.
    await eventually(() => expect(ofConversation('client:add')).toHaveLength(1));
    expect(ofConversation('conversation:create')).toEqual([]);
    await say(app, visitor, 'hello?');
    await eventually(() => expect(ofConversation('conversation:message')).toHaveLength(1));
    const [created] = ofConversation('conversation:create');
    expect(created!.payload).toMatchObject({ creationReason: 'message', conversation: { id: visitor.conversationId }, user: { id: visitor.userId } });
    const order = receiver.events.filter((e) => ['conversation:create', 'conversation:message'].includes(e.type) && (e.payload.conversation as { id: string }).id === visitor.conversationId).map((e) => e.type);
    expect(order).toEqual(['conversation:create', 'conversation:message']);
    await say(app, visitor, 'still there?');
    await eventually(() => expect(ofConversation('conversation:message')).toHaveLength(2));
    expect(ofConversation('conversation:create')).toHaveLength(1);
  });
});

describe('conversationRetentionSeconds', () => {
  it("a conversation quiet for longer than the retention loses its messages at its object's alarm", async () => {
    const app = await appWith({ conversationRetentionSeconds: 1 });
    const c = await userConversation(app);
    expect((await userPost(app, c, 'soon gone')).status).toBe(201);
    const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${app.appId}/${c.conversationId}`));
    await new Promise((r) => setTimeout(r, 1_200));
    await runDurableObjectAlarm(stub);
    expect(await storedMessages(app, c.conversationId)).toEqual([]);
    // The conversation itself stays, and takes new messages.
    expect((await userPost(app, c, 'new start')).status).toBe(201);
    expect((await storedMessages(app, c.conversationId)).map((m) => m.content.text)).toEqual(['new start']);

    // Turned off after the last message: the deadline passes and the messages stay.
    const changed = await appWith({ conversationRetentionSeconds: 1 });
    const d = await userConversation(changed);
    await userPost(changed, d, 'kept after all');
    expect((await call('PATCH', `/v2/apps/${changed.appId}`, changed.auth, { settings: { conversationRetentionSeconds: 0 } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_200));
    await runDurableObjectAlarm(env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${changed.appId}/${d.conversationId}`)));
    expect((await storedMessages(changed, d.conversationId)).map((m) => m.content.text)).toEqual(['kept after all']);

    const keeps = await webApp();
    const k = await userConversation(keeps);
    await userPost(keeps, k, 'kept');
    await new Promise((r) => setTimeout(r, 1_200));
    await runDurableObjectAlarm(env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${keeps.appId}/${k.conversationId}`)));
    expect((await storedMessages(keeps, k.conversationId)).map((m) => m.content.text)).toEqual(['kept']);
  });
});
