/**
 * LINE through the whole product: integration setup against the Messaging API
 * fake, signed webhooks to /hooks/{id}, dedupe across duplicate deliveries and
 * LINE's redelivery, business messages rendered and sent through the
 * deliveries queue (reply token first, then push), taps coming back as the
 * offered choice, media copied into R2, and the delivery events each raises.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { LineFake, lineUserId } from '../../fakes/line';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://line.test';
const fake = new LineFake();
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string };

const ann = lineUserId();

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('line e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, {
    type: 'line',
    channelId: '1657000000',
    channelSecret: fake.channelSecret,
    channelAccessToken: fake.channelAccessToken,
    apiBaseUrl: API,
    displayName: 'LINE support',
  });
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

const post = (conversationId: string, content: Record<string, unknown>) =>
  call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });

const eventFor = (type: string, messageId: string) =>
  eventually(() => {
    const e = receiver.ofType(type).find((ev) => (ev.payload.message as { id: string }).id === messageId);
    if (!e) throw new Error(`no ${type} yet`);
    return e;
  }, 15_000);

describe('line integration', () => {
  it('is created active: Parley set the webhook endpoint and learned the bot, and shows no secret', () => {
    expect(integration).toMatchObject({ type: 'line', status: 'active', displayName: 'LINE support', channelId: '1657000000', lineId: '@parley' });
    expect(fake.endpoint).toBe(integration.webhookUrl);
    expect(JSON.stringify(integration)).not.toContain(fake.channelAccessToken);
    expect(JSON.stringify(integration)).not.toContain(fake.channelSecret);
  });
});

describe('inbound', () => {
  it("answers LINE's verification request 200 and stores nothing", async () => {
    const res = await hook(await fake.verification(integration.webhookUrl));
    expect(res.status).toBe(200);
    expect(receiver.ofType('client:add')).toHaveLength(0);
  });

  it('refuses unsigned and tampered webhooks and stores nothing', async () => {
    const mallory = lineUserId();
    const signed = await fake.text(integration.webhookUrl, mallory, 'hi');
    const raw = await signed.clone().text();
    expect((await hook(new Request(signed.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw }))).status).toBe(401);
    expect((await hook(new Request(signed.url, { method: 'POST', headers: signed.headers, body: raw.replace('"hi"', '"ho"') }))).status).toBe(403);
    expect(receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === mallory)).toBe(false);
  });

  it('stores a signed text once across duplicate deliveries and a redelivery', async () => {
    const req = await fake.text(integration.webhookUrl, ann, 'Hello from LINE');
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 2; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    expect((await hook(await fake.redelivery(new Request(req.url, { method: 'POST', headers: req.headers, body })))).status).toBe(200);
    const conversationId = await conversationOf(ann);
    const stored = await messages(app.appId, app.auth, conversationId);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Hello from LINE' }, source: { type: 'line', integrationId: integration.id } });
    await eventually(() => expect(receiver.ofType('conversation:message').filter((e) => (e.payload.conversation as { id: string }).id === conversationId)).toHaveLength(1));
    expect(receiver.ofType('client:add').filter((e) => (e.payload.client as { externalId: string }).externalId === ann)).toHaveLength(1);
  });

  it('copies an image into R2 and serves it from Parley', async () => {
    const bo = lineUserId();
    expect((await hook(await fake.image(integration.webhookUrl, bo, { bytes: new Uint8Array([1, 2, 3, 4, 5]), contentType: 'image/png' }))).status).toBe(200);
    const conversationId = await conversationOf(bo);
    const [image] = await messages(app.appId, app.auth, conversationId);
    expect(image!.content.type).toBe('image');
    const url = String(image!.content.mediaUrl);
    expect(url).toMatch(new RegExp(`^http://parley.test/media/${integration.id}/`));
    await eventually(() => expect(fake.calls.some((c) => c.path.endsWith('/content'))).toBe(true));
    const res = await hook(new Request(url));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    expect(fake.calls.filter((c) => c.path.endsWith('/content'))).toHaveLength(1);
  });
});

describe('outbound', () => {
  it('answers with the reply token first and pushes after; a postback tap comes back as the offered choice', async () => {
    const cy = lineUserId();
    expect((await hook(await fake.text(integration.webhookUrl, cy, 'menu please'))).status).toBe(200);
    const conversationId = await conversationOf(cy);
    const first = await post(conversationId, { type: 'text', text: 'Pick one', actions: [{ type: 'postback', text: 'Buy', payload: 'BUY_NOW' }, { type: 'link', text: 'Site', uri: 'https://example.org' }] });
    await eventFor('conversation:message:delivery:channel', first.body.messages[0].id);
    const second = await post(conversationId, { type: 'text', text: 'Anything else?' });
    await eventFor('conversation:message:delivery:channel', second.body.messages[0].id);
    expect(fake.sent.get(cy)!.map((s) => [s.via, s.message.type])).toEqual([['reply', 'template'], ['push', 'text']]);

    expect((await hook(await fake.tap(integration.webhookUrl, cy, 'Buy'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).toContain('BUY_NOW'));
  });

  it('a tapped quick reply becomes the user message with its payload', async () => {
    const conversationId = await conversationOf(ann);
    const posted = await post(conversationId, { type: 'text', text: 'Happy?', actions: [{ type: 'reply', text: 'Yes', payload: 'HAPPY_YES' }, { type: 'reply', text: 'No', payload: 'HAPPY_NO' }] });
    await eventFor('conversation:message:delivery:channel', posted.body.messages[0].id);
    const sent = fake.sent.get(ann)!.at(-1)!.message as { quickReply: { items: unknown[] } };
    expect(sent.quickReply.items).toHaveLength(2);
    expect((await hook(await fake.tap(integration.webhookUrl, ann, 'No'))).status).toBe(200);
    await eventually(async () => {
      const stored = await messages(app.appId, app.auth, conversationId);
      expect(stored.at(-1)!.content).toMatchObject({ type: 'text', text: 'No', payload: 'HAPPY_NO' });
    });
  });

  it('429 with Retry-After: the message is pushed again after the wait, once', async () => {
    const conversationId = await conversationOf(ann);
    fake.rateLimitNext(1);
    const started = Date.now();
    const posted = await post(conversationId, { type: 'text', text: 'after the limit' });
    await eventFor('conversation:message:delivery:channel', posted.body.messages[0].id);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(fake.sent.get(ann)!.filter((s) => s.message.text === 'after the limit')).toHaveLength(1);
    // The push carries an X-Line-Retry-Key named by the deliveries consumer (stable across retries: see line.test.ts).
    const pushes = fake.calls.filter((c) => c.path === '/v2/bot/message/push' && JSON.stringify(c.body).includes('after the limit'));
    expect(pushes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(pushes.map((c) => c.headers['x-line-retry-key']))).toEqual(new Set([expect.stringMatching(/^[0-9a-f-]{36}$/)]));
  });

  it("a permanent 400 raises delivery:failure with LINE's message", async () => {
    const conversationId = await conversationOf(ann);
    const posted = await post(conversationId, { type: 'image', mediaUrl: 'http://insecure.example.org/a.jpg' });
    const failure = await eventFor('conversation:message:delivery:failure', posted.body.messages[0].id);
    expect(failure.payload.error).toMatchObject({ code: '400' });
    expect(String((failure.payload.error as { message: string }).message)).toMatch(/originalContentUrl: must be https/);
  });
});
