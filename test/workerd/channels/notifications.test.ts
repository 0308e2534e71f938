/**
 * Notifications: a business's first message to a phone number over Twilio
 * SMS. The user, client and conversation are created (`creationReason:
 * notification`), the SMS goes out through Twilio's API and reports its
 * delivery like any message, a retried call with the same Idempotency-Key
 * sends nothing twice, the user's reply carries the notification in
 * `recentNotifications` (once), and the v1.1 route answers as Sunshine's did.
 * Bad destinations are refused with a 400 naming the field, creating nobody.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaFake } from '../../fakes/meta';
import { TwilioFake } from '../../fakes/twilio';
import { call, newApp } from '../helpers';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://twilio-notifications.test';
const fake = new TwilioFake({ origin: API, deliver: (request) => hook(request) });
const META = 'https://meta-notifications.test';
const meta = new MetaFake({ origin: META });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: { id: string; webhookUrl: string };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver, [META]: meta });
  restore = () => spy.mockRestore();
  app = await newApp('notifications');
  await subscribe(app.appId, app.auth);
  const [phoneNumberSid] = [...fake.phoneNumbers.keys()];
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'twilio', accountSid: fake.accountSid, authToken: fake.authToken, phoneNumberSid, apiBaseUrl: API });
  expect(res.status).toBe(201);
  integration = res.body.integration;
});
afterAll(() => restore());

const notify = (body: unknown, headers: Record<string, string> = {}, version = 'v2') => call('POST', `/${version}/apps/${app.appId}/notifications`, app.auth, body, headers);
const smsTo = (to: string) => [...fake.messages.values()].filter((m) => m.to === to);
const ofUser = (type: string, externalId: string) =>
  receiver.events.filter((e) => e.type === type && ((e.payload.client as { externalId?: string } | undefined)?.externalId === externalId || JSON.stringify(e.payload).includes(externalId)));

describe('notifications', () => {
  it('reach a new phone number: user, client and conversation created, the SMS sent, its delivery reported', async () => {
    const to = '+15005550201';
    const res = await notify({ destination: { integrationId: integration.id, destinationId: to }, author: { role: 'appMaker', name: 'Acme' }, message: { type: 'text', text: 'Your order shipped' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toEqual({ notification: { _id: expect.stringMatching(/^[0-9a-f]{24}$/) } });
    await eventually(() => expect(smsTo(to).map((m) => m.body)).toEqual(['Your order shipped']));
    const created = await eventually(() => {
      const e = receiver.ofType('conversation:create').find((ev) => ev.payload.creationReason === 'notification');
      if (!e) throw new Error('no conversation:create yet');
      return e;
    });
    const userId = (created.payload.user as { id: string }).id;
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${userId}/clients`, app.auth);
    expect(clients.body.clients).toMatchObject([{ type: 'twilio', externalId: to, integrationId: integration.id }]);
    const conversationId = (created.payload.conversation as { id: string }).id;
    const stored = await call('GET', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth);
    expect(stored.body.messages).toMatchObject([{ author: { type: 'business', displayName: 'Acme' }, content: { type: 'text', text: 'Your order shipped' }, source: { type: 'notification', integrationId: integration.id } }]);
    await eventually(() => expect(receiver.ofType('conversation:message:delivery:channel').some((e) => (e.payload.conversation as { id: string }).id === conversationId)).toBe(true));

    // The reply names the notification it answers, once.
    expect((await hook(await fake.text(integration.webhookUrl, { from: to }, 'Thanks!'))).status).toBe(200);
    const reply = await eventually(() => {
      const e = receiver.ofType('conversation:message').find((ev) => (ev.payload.message as { content: { text: string } }).content.text === 'Thanks!');
      if (!e) throw new Error('no reply yet');
      return e;
    });
    expect(reply.payload.recentNotifications).toMatchObject([{ id: stored.body.messages[0].id, content: { text: 'Your order shipped' } }]);
    expect((await hook(await fake.text(integration.webhookUrl, { from: to }, 'Again'))).status).toBe(200);
    const second = await eventually(() => {
      const e = receiver.ofType('conversation:message').find((ev) => (ev.payload.message as { content: { text: string } }).content.text === 'Again');
      if (!e) throw new Error('not yet');
      return e;
    });
    expect(second.payload.recentNotifications).toBeUndefined();
  });

  it('a retried call with the same Idempotency-Key answers the same notification and sends one SMS; the v1.1 route works the same', async () => {
    const to = '+15005550202';
    const body = { destination: { integrationId: integration.id, destinationId: to }, author: { role: 'appMaker' }, message: { type: 'text', text: 'Code 1234' } };
    const first = await notify(body, { 'idempotency-key': 'order-77' }, 'v1.1');
    const again = await notify(body, { 'idempotency-key': 'order-77' }, 'v1.1');
    expect(first.status).toBe(201);
    expect(again.body).toEqual(first.body);
    await eventually(() => expect(smsTo(to)).toHaveLength(1));
    const other = await notify({ ...body, destination: { integrationId: integration.id, destinationId: '+15005550203' } }, { 'idempotency-key': 'order-77' });
    expect(other.status).toBe(409);
    // Without a key, each call is a notification of its own, in the same conversation.
    expect((await notify(body)).status).toBe(201);
    await eventually(() => expect(smsTo(to)).toHaveLength(2));
  });

  it('refuses what cannot be delivered with a 400 naming the field, and creates nobody', async () => {
    const custom = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: `${RECEIVER_ORIGIN}/x`, triggers: ['client:add'] }] });
    const cases: [unknown, RegExp][] = [
      [{ destination: { integrationId: integration.id, destinationId: '5550100' }, message: { type: 'text', text: 'x' } }, /^destination\.destinationId: must be a phone number in E\.164 form/],
      [{ destination: { integrationId: integration.id, destinationId: '+15005550204' } }, /^message: exactly one of message or content is required/],
      [{ destination: { integrationId: custom.body.integration.id, destinationId: '+15005550204' }, message: { type: 'text', text: 'x' } }, /^destination\.integrationId: the app has no channel integration/],
      [{ destination: { integrationId: integration.id, destinationId: '+15005550204' }, message: { type: 'template', template: { name: 'x', language: { code: 'en' } } } }, /^messageSchema: template content requires/],
      [{ destination: { integrationId: integration.id }, message: { type: 'text', text: 'x' } }, /^destination\.destinationId: is required/],
    ];
    for (const [body, title] of cases) {
      const res = await notify(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors[0].title, JSON.stringify(body)).toMatch(title);
    }
    expect((await notify({ destination: { integrationId: integration.id, destinationId: '+15005550204' }, message: { type: 'text', text: 'x' } }, { 'idempotency-key': 'bad key with spaces' })).status).toBe(400);
    expect(smsTo('+15005550204')).toEqual([]);
    expect(ofUser('client:add', '+15005550204')).toEqual([]);
  });
});

describe('notifications on WhatsApp', () => {
  it('a template reaches a number that never wrote; plain text is refused by the channel and reported as delivery:failure 131047', async () => {
    const wa = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'whatsapp', phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, apiBaseUrl: META });
    expect(wa.status, JSON.stringify(wa.body)).toBe(201);
    const template = { type: 'template', template: { name: 'order_update', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'A-17' }] }] } };
    const sent = await notify({ destination: { integrationId: wa.body.integration.id, destinationId: '+15145550111' }, messageSchema: 'whatsapp', message: template });
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
    await eventually(() => expect(meta.sent().map((c) => c.body)).toEqual([expect.objectContaining({ to: '15145550111', type: 'template', template: expect.objectContaining({ name: 'order_update' }) })]));

    const text = await notify({ destination: { integrationId: wa.body.integration.id, destinationId: '+15145550112' }, message: { type: 'text', text: 'plain text first' } });
    expect(text.status).toBe(201);
    const failure = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:failure').find((ev) => (ev.payload.destination as { integrationId: string }).integrationId === wa.body.integration.id);
      if (!e) throw new Error('no failure yet');
      return e;
    });
    expect(failure.payload.error).toMatchObject({ code: '131047' });
    expect(meta.sent()).toHaveLength(1);
  });
});
