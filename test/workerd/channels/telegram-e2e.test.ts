/**
 * Telegram through the whole product: integration setup against the fake Bot
 * API, signed updates to /hooks/{id}, users and conversations created on first
 * contact, dedupe of redelivered updates, business messages rendered and sent
 * through the deliveries queue, retries honouring retry_after, and the
 * customer webhook events each step raises.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { TelegramFake, type TelegramUser } from '../../fakes/telegram';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://telegram.test';
const fake = new TelegramFake({ webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string };

const ann: TelegramUser = { id: 7001, first_name: 'Ann', last_name: 'Lee', username: 'ann', language_code: 'en' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('telegram e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: fake.token, apiBaseUrl: API, displayName: 'Support bot' });
  expect(res.status).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

async function conversationOf(externalId: string): Promise<string> {
  const clientAdd = await eventually(() => {
    const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as { externalId: string }).externalId === externalId);
    if (!e) throw new Error('no client:add yet');
    return e;
  });
  const userId = (clientAdd.payload.user as { id: string }).id;
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${userId}`, app.auth);
  return list.body.conversations[0].id;
}

describe('telegram integration', () => {
  it('is created active: Parley registered its webhook with a secret token and learned the bot', () => {
    expect(integration).toMatchObject({ type: 'telegram', status: 'active', displayName: 'Support bot', username: fake.bot.username, botId: String(fake.bot.id) });
    expect(integration.webhookUrl).toBe(`http://parley.test/hooks/${integration.id}`);
    expect(fake.webhook?.url).toBe(integration.webhookUrl);
    expect(fake.webhook?.secretToken).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(JSON.stringify(integration)).not.toContain(fake.token);
  });

  it('a bad token leaves the integration in status error with what to do', async () => {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: '123456:wrong-token-wrong-token-wrong-token', apiBaseUrl: API });
    expect(res.status).toBe(201);
    expect(res.body.integration.status).toBe('error');
    expect(res.body.integration.error).toMatch(/token/i);
  });
});

describe('inbound', () => {
  it('an update without the secret token is refused and stores nothing', async () => {
    const req = fake.text(integration.webhookUrl, { id: 7999, first_name: 'Mallory' }, 'hi');
    const unsigned = new Request(req.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await req.text() });
    const res = await hook(unsigned);
    expect(res.status).toBe(401);
    const users = await call('GET', `/v2/apps/${app.appId}/users/7999`, app.auth);
    expect(users.status).toBe(404);
  });

  it('the same update delivered three times gives one message, one client:add and one conversation:message', async () => {
    const req = fake.text(integration.webhookUrl, ann, 'Hello from Telegram');
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) {
      const res = await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }));
      expect(res.status).toBe(200);
    }
    const conversationId = await conversationOf(String(ann.id));
    const stored = await messages(app.appId, app.auth, conversationId);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Hello from Telegram' }, source: { type: 'telegram', integrationId: integration.id } });
    await eventually(() => expect(receiver.ofType('conversation:message').filter((e) => (e.payload.conversation as { id: string }).id === conversationId)).toHaveLength(1));
    expect(receiver.ofType('client:add').filter((e) => (e.payload.client as { externalId: string }).externalId === String(ann.id))).toHaveLength(1);
    const client = receiver.ofType('client:add')[0]!.payload.client as Record<string, unknown>;
    expect(client).toMatchObject({ type: 'telegram', integrationId: integration.id, displayName: 'Ann Lee' });
  });

  it('a redelivered update stays out after its message was deleted, one by one or all at once', async () => {
    const bo: TelegramUser = { id: 7002, first_name: 'Bo' };
    const deliver = async (req: Request, body: ArrayBuffer) => expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    const first = fake.text(integration.webhookUrl, bo, 'first');
    const firstBody = await first.clone().arrayBuffer();
    await deliver(first, firstBody);
    const conversationId = await conversationOf(String(bo.id));
    const [stored] = await messages(app.appId, app.auth, conversationId);
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${conversationId}/messages/${stored!.id}`, app.auth)).status).toBe(200);
    await deliver(first, firstBody);
    expect(await messages(app.appId, app.auth, conversationId)).toEqual([]);

    const second = fake.text(integration.webhookUrl, bo, 'second');
    const secondBody = await second.clone().arrayBuffer();
    await deliver(second, secondBody);
    expect(await messages(app.appId, app.auth, conversationId)).toHaveLength(1);
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth)).status).toBe(200);
    await deliver(second, secondBody);
    await deliver(first, firstBody);
    expect(await messages(app.appId, app.auth, conversationId)).toEqual([]);
  });

  it('a photo is stored as an image served from Parley, copied from Telegram into R2', async () => {
    const req = fake.photo(integration.webhookUrl, ann, { caption: 'look' });
    expect((await hook(req)).status).toBe(200);
    const conversationId = await conversationOf(String(ann.id));
    const image = await eventually(() => {
      const m = messages(app.appId, app.auth, conversationId).then((list) => list.find((x) => x.content.type === 'image'));
      return m.then((x) => x ?? Promise.reject(new Error('no image yet')));
    });
    const url = String(image.content.mediaUrl);
    expect(url).toMatch(new RegExp(`^http://parley.test/media/${integration.id}/`));
    expect(url).not.toContain(fake.token);
    const res = await hook(new Request(url));
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });
});

describe('outbound', () => {
  it('a business message reaches the user, raises delivery:channel with Telegram\'s message id, and a tapped button raises a postback', async () => {
    const conversationId = await conversationOf(String(ann.id));
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, {
      author: { type: 'business' },
      content: { type: 'text', text: 'Pick one', actions: [{ type: 'postback', text: 'Buy', payload: 'BUY_NOW' }, { type: 'link', text: 'Site', uri: 'https://example.org' }] },
    });
    expect(posted.status).toBe(201);
    const sent = await eventually(() => {
      const call = fake.callsTo('sendMessage').find((c) => JSON.stringify(c.body).includes('Pick one'));
      if (!call) throw new Error('not sent yet');
      return call;
    });
    expect(JSON.stringify(sent.body)).toContain('BUY_NOW');
    const delivered = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:channel').find((ev) => (ev.payload.message as { id: string }).id === posted.body.messages[0].id);
      if (!e) throw new Error('no delivery event yet');
      return e;
    });
    expect(delivered.payload).toMatchObject({ destination: { type: 'telegram', integrationId: integration.id } });
    expect((delivered.payload.externalMessages as unknown[]).length).toBe(1);

    expect((await hook(fake.callbackQuery(integration.webhookUrl, ann, 'BUY_NOW'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).toContain('BUY_NOW'));
  });

  it('429 with retry_after: the message is sent again after the wait, once', async () => {
    const conversationId = await conversationOf(String(ann.id));
    fake.rateLimitNext(1);
    const started = Date.now();
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'after the flood' } });
    expect(posted.status).toBe(201);
    await eventually(() => expect(fake.callsTo('sendMessage').filter((c) => c.status === 200 && JSON.stringify(c.body).includes('after the flood'))).toHaveLength(1), 15_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('messages to one client keep their order even when the first one is rate-limited', async () => {
    const conversationId = await conversationOf(String(ann.id));
    fake.rateLimitNext(1);
    const texts = ['one', 'two', 'three', 'four', 'five'].map((t) => `order ${t}`);
    await Promise.all(texts.map(async (text, i) => {
      // Posted in quick succession, in order: each post waits for the previous one's commit.
      await new Promise((r) => setTimeout(r, i * 20));
      await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text } });
    }));
    const sentTexts = () => fake.callsTo('sendMessage').filter((c) => c.status === 200).map((c) => (c.body as { text?: string }).text).filter((t) => t?.startsWith('order '));
    await eventually(() => expect(sentTexts()).toHaveLength(5), 15_000);
    const stored = (await messages(app.appId, app.auth, conversationId)).map((m) => m.content.text).filter((t) => String(t).startsWith('order '));
    expect(sentTexts()).toEqual(stored);
  });

  it('the business typing activity shows Telegram\'s typing action, and raises no delivery event', async () => {
    const conversationId = await conversationOf(String(ann.id));
    const deliveriesBefore = receiver.events.filter((e) => e.type.startsWith('conversation:message:delivery')).length;
    const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/activity`, app.auth, { type: 'typing:start', author: { type: 'business' } });
    expect(res.status).toBe(200);
    const action = await eventually(() => {
      const found = fake.callsTo('sendChatAction').find((c) => (c.body as { chat_id?: unknown }).chat_id !== undefined);
      if (!found) throw new Error('no chat action yet');
      return found;
    });
    expect(action.body).toMatchObject({ action: 'typing' });
    expect(String((action.body as { chat_id: unknown }).chat_id)).toBe(String(ann.id));
    expect(receiver.events.filter((e) => e.type.startsWith('conversation:message:delivery')).length).toBe(deliveriesBefore);
  });

  it('a blocked bot raises delivery:failure with Telegram\'s code', async () => {
    const conversationId = await conversationOf(String(ann.id));
    fake.blockUser(ann.id);
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'are you there?' } });
    const failure = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:failure').find((ev) => (ev.payload.message as { id: string }).id === posted.body.messages[0].id);
      if (!e) throw new Error('no failure yet');
      return e;
    });
    expect(failure.payload.error).toMatchObject({ code: '403' });
    expect(String((failure.payload.error as { message: string }).message)).toMatch(/blocked/);
  });
});
