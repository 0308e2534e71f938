/**
 * SMS through Twilio, end to end: the number registered at setup, signed
 * inbound texts (three deliveries, one message), MMS media copied into R2, a
 * carousel sent as numbered text whose numbered answer comes back as the
 * option's postback, status callbacks raising delivery:user, a 429 honoured
 * and an unsubscribed number failing with Twilio's code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { TwilioFake } from '../../fakes/twilio';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://twilio.test';
const fake = new TwilioFake({ origin: API, deliver: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: { id: string; webhookUrl: string; status: string; phoneNumber?: string };
const bob = { from: '+15005550123' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('twilio e2e');
  await subscribe(app.appId, app.auth);
  const [phoneNumberSid] = [...fake.phoneNumbers.keys()];
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'twilio', accountSid: fake.accountSid, authToken: fake.authToken, phoneNumberSid, apiBaseUrl: API });
  expect(res.status).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const sentTo = (to: string, text: string) => [...fake.messages.values()].filter((m) => m.to === to && m.body.includes(text));

describe('twilio integration', () => {
  it('is active, knows its number, and pointed the number at Parley', () => {
    expect(integration).toMatchObject({ status: 'active', phoneNumber: '+15005550001' });
    expect([...fake.phoneNumbers.values()][0]!.smsUrl).toBe(integration.webhookUrl);
  });

  it('refuses a request whose signature does not match and stores nothing', async () => {
    const good = await fake.text(integration.webhookUrl, { from: '+15005550999' }, 'hello');
    const tampered = new Request(good.url, { method: 'POST', headers: good.headers, body: new TextDecoder().decode(await good.arrayBuffer()).replace('hello', 'hijack') });
    expect((await hook(tampered)).status).toBe(403);
    expect(receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === '+15005550999')).toBe(false);
  });
});

describe('SMS conversation', () => {
  it('three deliveries of one text store one message, answered with empty TwiML', async () => {
    const req = await fake.text(integration.webhookUrl, bob, 'Hi there');
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) {
      const res = await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/xml/);
      expect(await res.text()).toContain('<Response/>');
    }
    const conversationId = await conversationOf(bob.from);
    const list = await messages(app.appId, app.auth, conversationId);
    expect(list.filter((m) => m.content.text === 'Hi there')).toHaveLength(1);
    const added = receiver.ofType('client:add').find((e) => (e.payload.client as { externalId: string }).externalId === bob.from)!;
    expect(added.payload.client).toMatchObject({ type: 'twilio', info: { phoneNumber: bob.from } });
  });

  it('a blank text is acknowledged and skipped, so Twilio does not fail the webhook, and nothing is stored', async () => {
    const conversationId = await conversationOf(bob.from);
    const before = (await messages(app.appId, app.auth, conversationId)).length;
    const res = await hook(await fake.text(integration.webhookUrl, bob, '   '));
    expect(res.status).toBe(200);
    expect((await messages(app.appId, app.auth, conversationId)).length).toBe(before);
  });

  it('an MMS photo is stored as an image served by Parley from R2', async () => {
    const req = await fake.media(integration.webhookUrl, bob, [{ contentType: 'image/png', body: new Uint8Array([137, 80, 78, 71]) }], 'my receipt');
    expect((await hook(req)).status).toBe(200);
    const conversationId = await conversationOf(bob.from);
    const image = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
      if (!found) throw new Error('no image yet');
      return found;
    });
    expect(image.content.text).toBe('my receipt');
    const res = await hook(new Request(String(image.content.mediaUrl)));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([137, 80, 78, 71]));
  });

  it('a carousel goes out as numbered text with links, and the reply "2" comes back as that option\'s postback', async () => {
    const conversationId = await conversationOf(bob.from);
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, {
      author: { type: 'business' },
      content: {
        type: 'carousel',
        items: [
          { title: 'Tacos', description: 'Crunchy', actions: [{ type: 'link', text: 'Menu', uri: 'https://food.example/tacos' }, { type: 'postback', text: 'Order tacos', payload: 'ORDER_TACOS' }] },
          { title: 'Ramen', actions: [{ type: 'postback', text: 'Order ramen', payload: 'ORDER_RAMEN' }] },
        ],
      },
    });
    expect(posted.status).toBe(201);
    const [sms] = await eventually(() => {
      const found = sentTo(bob.from, 'Tacos');
      if (!found.length) throw new Error('not sent yet');
      return found;
    });
    expect(sms!.body).toBe('Tacos\nCrunchy\nMenu: https://food.example/tacos\n1. Order tacos\n\nRamen\n2. Order ramen\n\nReply with the number of your choice.');
    // The delivery is reported before the choices are live; wait for it so the answer maps.
    await eventually(() => expect(receiver.ofType('conversation:message:delivery:channel').some((e) => (e.payload.message as { id: string }).id === posted.body.messages[0].id)).toBe(true));

    expect((await hook(await fake.text(integration.webhookUrl, bob, '2'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).toContain('ORDER_RAMEN'));
  });

  it('status callbacks raise delivery:user for the message with Twilio\'s sid', async () => {
    const conversationId = await conversationOf(bob.from);
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'Your order shipped' } });
    const [sms] = await eventually(() => {
      const found = sentTo(bob.from, 'Your order shipped');
      if (!found.length) throw new Error('not sent yet');
      return found;
    });
    await eventually(() => expect(receiver.ofType('conversation:message:delivery:channel').some((e) => (e.payload.message as { id: string }).id === posted.body.messages[0].id)).toBe(true));
    const responses = await fake.progress(sms!.sid, ['sent', 'delivered']);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const userEvent = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:user').find((ev) => (ev.payload.message as { id: string }).id === posted.body.messages[0].id);
      if (!e) throw new Error('no delivery:user yet');
      return e;
    });
    expect(userEvent.payload.externalMessages).toEqual([{ id: sms!.sid }]);
  });

  it('destination picks the client: its integration sends, an integration without a client is refused, "none" sends nothing', async () => {
    const conversationId = await conversationOf(bob.from);
    const post = (text: string, destination: unknown) =>
      call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text }, destination });
    expect((await post('via twilio', { integrationId: integration.id })).status).toBe(201);
    await eventually(() => expect(sentTo(bob.from, 'via twilio')).toHaveLength(1));
    const refused = await post('nowhere', { integrationId: '0123456789abcdef01234567' });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].title).toMatch(/^destination: /);
    const silent = await post('kept silent', { integrationType: 'none' });
    expect(silent.status).toBe(201);
    expect((await post('after the silent one', {})).status).toBe(400);
    expect((await post('after the silent one', { integrationType: 'twilio' })).status).toBe(201);
    await eventually(() => expect(sentTo(bob.from, 'after the silent one')).toHaveLength(1));
    expect(sentTo(bob.from, 'kept silent')).toHaveLength(0);
  });

  it('429 from Twilio: sent again after Retry-After, exactly once', async () => {
    const conversationId = await conversationOf(bob.from);
    fake.rateLimitNext(1);
    const started = Date.now();
    await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'slow down' } });
    await eventually(() => expect(sentTo(bob.from, 'slow down')).toHaveLength(1), 15_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('an unsubscribed number fails with Twilio\'s 21610 in delivery:failure', async () => {
    const conversationId = await conversationOf(bob.from);
    fake.unsubscribe(bob.from);
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'promo' } });
    const failure = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:failure').find((ev) => (ev.payload.message as { id: string }).id === posted.body.messages[0].id);
      if (!e) throw new Error('no failure yet');
      return e;
    });
    expect(failure.payload.error).toMatchObject({ code: '21610' });
  });
});
