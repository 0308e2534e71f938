/**
 * SMS through MessageBird, end to end: the integration set up with its
 * access key, signed inbound texts (three deliveries, one message), unsigned,
 * tampered and expired requests refused with nothing stored, buttons sent as
 * numbered text whose numbered answer comes back as the option's postback,
 * status reports raising delivery:user and delivery:failure, a 429 retried,
 * a refused recipient failing with MessageBird's code, and a notification to
 * an E.164 number.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { MessageBirdFake } from '../../fakes/messagebird';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://messagebird.test';
const fake = new MessageBirdFake({ origin: API, deliver: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: { id: string; webhookUrl: string; status: string; originator: string; webhookSecret?: string; accessKey?: string; signingKey?: string };
const bob = '+31612345001';

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('messagebird e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'messagebird', accessKey: fake.accessKey, signingKey: fake.signingKey, originator: `+${fake.number}`, apiBaseUrl: API });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

const clientAdded = (externalId: string) => receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === externalId);

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const sentTo = (to: string, text: string) => [...fake.messages.values()].filter((m) => `+${m.recipient}` === to && m.body.includes(text));
const post = (conversationId: string, content: unknown) => call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
const eventFor = (type: string, messageId: string) =>
  eventually(() => {
    const e = receiver.ofType(type).find((ev) => (ev.payload.message as { id: string }).id === messageId);
    if (!e) throw new Error(`no ${type} yet`);
    return e;
  }, 15_000);

describe('messagebird integration', () => {
  it('is active after proving the access key, shows the originator and webhookSecret, never the keys', () => {
    expect(integration).toMatchObject({ status: 'active', originator: `+${fake.number}`, webhookSecret: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(integration.accessKey).toBeUndefined();
    expect(integration.signingKey).toBeUndefined();
    expect(fake.calls.some((c) => c.path === '/balance')).toBe(true);
  });

  it('refuses unsigned, tampered and expired requests, and stores nothing', async () => {
    const stranger = '+31612345999';
    const good = await fake.text(integration.webhookUrl, stranger, 'hello');
    const raw = new TextDecoder().decode(await good.clone().arrayBuffer());
    const unsigned = new Request(good.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    expect((await hook(unsigned)).status).toBe(401);
    const tampered = new Request(good.url, { method: 'POST', headers: good.headers, body: raw.replace('hello', 'hijack') });
    expect((await hook(tampered)).status).toBe(401);
    const expired = await fake.text(integration.webhookUrl, stranger, 'hello', { skewSeconds: -600 });
    expect((await hook(expired)).status).toBe(401);
    const otherKey = await fake.text(integration.webhookUrl, stranger, 'hello', { signingKey: 'not the account key' });
    expect((await hook(otherKey)).status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(clientAdded(stranger)).toBe(false);
  });
});

describe('SMS conversation', () => {
  it('three deliveries of one signed text store one message', async () => {
    const req = await fake.text(integration.webhookUrl, bob, 'Hi there');
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    const conversationId = await conversationOf(bob);
    const list = await messages(app.appId, app.auth, conversationId);
    expect(list.filter((m) => m.content.text === 'Hi there')).toHaveLength(1);
    const added = receiver.ofType('client:add').find((e) => (e.payload.client as { externalId: string }).externalId === bob)!;
    expect(added.payload.client).toMatchObject({ type: 'messagebird', info: { phoneNumber: bob } });
  });

  it('a text goes out over POST /messages, and status reports raise delivery:user with MessageBird\'s id', async () => {
    const conversationId = await conversationOf(bob);
    const posted = await post(conversationId, { type: 'text', text: 'Your order shipped' });
    expect(posted.status).toBe(201);
    const [sms] = await eventually(() => {
      const found = sentTo(bob, 'Your order shipped');
      if (!found.length) throw new Error('not sent yet');
      return found;
    });
    expect(sms!).toMatchObject({ originator: fake.number, body: 'Your order shipped', reportUrl: integration.webhookUrl });
    await eventFor('conversation:message:delivery:channel', posted.body.messages[0].id);
    const answers = await fake.progress(sms!.id, ['sent', 'delivered']);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    const user = await eventFor('conversation:message:delivery:user', posted.body.messages[0].id);
    expect(user.payload.externalMessages).toEqual([{ id: sms!.id }]);
  });

  it('a delivery_failed report raises delivery:failure with MessageBird\'s statusErrorCode', async () => {
    const conversationId = await conversationOf(bob);
    const posted = await post(conversationId, { type: 'text', text: 'Lost in transit' });
    const [sms] = await eventually(() => {
      const found = sentTo(bob, 'Lost in transit');
      if (!found.length) throw new Error('not sent yet');
      return found;
    });
    await eventFor('conversation:message:delivery:channel', posted.body.messages[0].id);
    await fake.progress(sms!.id, ['delivery_failed'], { statusErrorCode: 104, statusReason: 'unknown subscriber' });
    const failure = await eventFor('conversation:message:delivery:failure', posted.body.messages[0].id);
    expect(failure.payload.error).toMatchObject({ code: '104' });
  });

  it('buttons go out as numbered text with links, and the reply "2" comes back as that option\'s postback', async () => {
    const conversationId = await conversationOf(bob);
    const posted = await post(conversationId, {
      type: 'text',
      text: 'Pick a size',
      actions: [
        { type: 'postback', text: 'Small', payload: 'SIZE_S' },
        { type: 'postback', text: 'Large', payload: 'SIZE_L' },
        { type: 'link', text: 'Size chart', uri: 'https://shop.example/sizes' },
      ],
    });
    expect(posted.status).toBe(201);
    const [sms] = await eventually(() => {
      const found = sentTo(bob, 'Pick a size');
      if (!found.length) throw new Error('not sent yet');
      return found;
    });
    expect(sms!.body).toBe('Pick a size\n\n1. Small\n2. Large\n\nSize chart: https://shop.example/sizes\n\nReply with the number of your choice.');
    await eventFor('conversation:message:delivery:channel', posted.body.messages[0].id);
    expect((await hook(await fake.text(integration.webhookUrl, bob, '2'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).toContain('SIZE_L'));
  });

  it('429 from MessageBird: sent again after Retry-After, exactly once', async () => {
    const conversationId = await conversationOf(bob);
    fake.rateLimitNext(1);
    const started = Date.now();
    await post(conversationId, { type: 'text', text: 'slow down' });
    await eventually(() => expect(sentTo(bob, 'slow down')).toHaveLength(1), 15_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('a refused recipient fails at once with MessageBird\'s code 9 in delivery:failure', async () => {
    const carol = '+31612345002';
    expect((await hook(await fake.text(integration.webhookUrl, carol, 'hello'))).status).toBe(200);
    const conversationId = await conversationOf(carol);
    fake.refuse(carol);
    const posted = await post(conversationId, { type: 'text', text: 'promo' });
    const failure = await eventFor('conversation:message:delivery:failure', posted.body.messages[0].id);
    expect(failure.payload.error).toMatchObject({ code: '9' });
  });
});

describe('notifications', () => {
  it('reach a new E.164 number over MessageBird', async () => {
    const to = '+31612345003';
    const res = await call('POST', `/v2/apps/${app.appId}/notifications`, app.auth, { destination: { integrationId: integration.id, destinationId: to }, author: { role: 'appMaker', name: 'Acme' }, message: { type: 'text', text: 'Your code is 1234' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await eventually(() => expect(sentTo(to, 'Your code is 1234')).toHaveLength(1));
    const bad = await call('POST', `/v2/apps/${app.appId}/notifications`, app.auth, { destination: { integrationId: integration.id, destinationId: 'bob' }, author: { role: 'appMaker' }, message: { type: 'text', text: 'x' } });
    expect(bad.status).toBe(400);
  });
});
