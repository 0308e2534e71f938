/**
 * Channel linking (createClient): the business attaches a phone number on
 * Twilio SMS to one of its user's conversations. `immediate` confirms at once
 * and the number becomes where business messages go; `userActivity` waits for
 * the user to text in (`client:update` matched); `prompt` texts a prompt and
 * waits for the reply (`client:update` confirmed); a number that belonged to
 * another user moves (`client:remove` theft for them). Bad input is a 400
 * naming the field, and creates nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwilioFake } from '../../fakes/twilio';
import { call, newApp } from '../helpers';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://twilio-linking.test';
const fake = new TwilioFake({ origin: API, deliver: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let twilio: { id: string; webhookUrl: string };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('linking');
  await subscribe(app.appId, app.auth);
  const [phoneNumberSid] = [...fake.phoneNumbers.keys()];
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'twilio', accountSid: fake.accountSid, authToken: fake.authToken, phoneNumberSid, apiBaseUrl: API });
  expect(res.status).toBe(201);
  twilio = res.body.integration;
});
afterAll(() => restore());

async function customer() {
  const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: `link-${crypto.randomUUID()}` });
  const conv = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
  return { userId: user.body.user.id as string, conversationId: conv.body.conversation.id as string };
}
const link = (userId: string, body: unknown) => call('POST', `/v2/apps/${app.appId}/users/${userId}/clients`, app.auth, body);
const linkBody = (phoneNumber: string, conversationId: string, confirmation: Record<string, unknown>) => ({
  matchCriteria: { type: 'twilio', integrationId: twilio.id, phoneNumber },
  confirmation,
  target: { conversationId },
});
const smsTo = (to: string) => [...fake.messages.values()].filter((m) => m.to === to).map((m) => m.body);
const eventsFor = (type: string, clientId: string) => receiver.ofType(type).filter((e) => (e.payload.client as { id: string }).id === clientId);
const business = (conversationId: string, text: string) =>
  call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text } });
const textIn = async (from: string, text: string) => expect((await hook(await fake.text(twilio.webhookUrl, { from }, text))).status).toBe(200);
const storedTexts = async (conversationId: string) =>
  (await call('GET', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth)).body.messages.map((m: { content: { text: string } }) => m.content.text);

describe('createClient', () => {
  it('immediate: confirmed at once, the confirmation texted, and business messages then go out by SMS', async () => {
    const c = await customer();
    const phone = '+15005550301';
    const res = await link(c.userId, linkBody(phone, c.conversationId, { type: 'immediate', message: { type: 'text', text: 'You can now reach us by SMS' } }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.client).toMatchObject({ type: 'twilio', status: 'active', integrationId: twilio.id, externalId: phone });
    const clientId = res.body.client.id as string;
    await eventually(() => expect(eventsFor('client:update', clientId)).toHaveLength(1));
    expect(eventsFor('client:add', clientId)[0]!.payload).toMatchObject({ reason: 'channelLinking', conversation: { id: c.conversationId }, user: { id: c.userId } });
    expect(eventsFor('client:update', clientId)[0]!.payload).toMatchObject({ reason: 'confirmed', client: { status: 'active' } });
    await eventually(() => expect(smsTo(phone)).toEqual(['You can now reach us by SMS']));
    const participants = await call('GET', `/v2/apps/${app.appId}/conversations/${c.conversationId}/participants`, app.auth);
    expect(participants.body.participants[0].clientAssociations[0]).toEqual({ type: 'twilio', clientId });
    expect((await business(c.conversationId, 'Your appointment is at 3pm')).status).toBe(201);
    await eventually(() => expect(smsTo(phone)).toContain('Your appointment is at 3pm'));
    expect((await link(c.userId, linkBody(phone, c.conversationId, { type: 'immediate' }))).status).toBe(409);
  });

  it('userActivity: pending until the user texts in, which lands in the linked conversation as client:update matched', async () => {
    const c = await customer();
    const phone = '+15005550302';
    const res = await link(c.userId, linkBody(phone, c.conversationId, { type: 'userActivity' }));
    expect(res.body.client.status).toBe('pending');
    const clientId = res.body.client.id as string;
    expect(smsTo(phone)).toEqual([]);
    await textIn(phone, 'hi, it is me');
    await eventually(() => expect(eventsFor('client:update', clientId)).toHaveLength(1));
    expect(eventsFor('client:update', clientId)[0]!.payload).toMatchObject({ reason: 'matched', conversation: { id: c.conversationId } });
    expect(eventsFor('client:add', clientId).map((e) => e.payload.reason)).toEqual(['channelLinking']);
    expect(await storedTexts(c.conversationId)).toEqual(['hi, it is me']);
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${c.userId}/clients`, app.auth);
    expect(clients.body.clients).toMatchObject([{ id: clientId, status: 'active' }]);
  });

  it('prompt: the prompt is texted, and the reply confirms the link', async () => {
    const c = await customer();
    const phone = '+15005550303';
    const res = await link(c.userId, linkBody(phone, c.conversationId, { type: 'prompt' }));
    const clientId = res.body.client.id as string;
    await eventually(() => expect(smsTo(phone)).toHaveLength(1));
    expect(eventsFor('client:update', clientId)).toEqual([]);
    await textIn(phone, 'yes');
    await eventually(() => expect(eventsFor('client:update', clientId).map((e) => e.payload.reason)).toEqual(['confirmed']));
  });

  it("a number another user has moves to the linking user: the other gets client:remove (theft)", async () => {
    const phone = '+15005550304';
    await textIn(phone, 'I was here first');
    const first = await eventually(() => {
      const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as { externalId: string }).externalId === phone);
      if (!e) throw new Error('no client:add yet');
      return e;
    });
    const clientId = (first.payload.client as { id: string }).id;
    const formerUser = (first.payload.user as { id: string }).id;
    const c = await customer();
    const res = await link(c.userId, linkBody(phone, c.conversationId, { type: 'immediate' }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.client.id).toBe(clientId);
    await eventually(() => expect(eventsFor('client:remove', clientId).map((e) => e.payload.reason)).toEqual(['theft']));
    expect((eventsFor('client:remove', clientId)[0]!.payload.user as { id: string }).id).toBe(formerUser);
    expect((await call('GET', `/v2/apps/${app.appId}/users/${formerUser}/clients`, app.auth)).body.clients).toEqual([]);
    await textIn(phone, 'now with the new owner');
    await eventually(async () => expect(await storedTexts(c.conversationId)).toEqual(['now with the new owner']));

    // Linked back to the conversation it was taken from: that conversation hears the number again.
    const formerConversation = (receiver.ofType('conversation:message').find((e) => (e.payload.message as { content: { text: string } }).content.text === 'I was here first')!.payload.conversation as { id: string }).id;
    const back = await link(formerUser, linkBody(phone, formerConversation, { type: 'immediate' }));
    expect(back.status, JSON.stringify(back.body)).toBe(201);
    await textIn(phone, 'back again');
    await eventually(async () => expect(await storedTexts(formerConversation)).toEqual(['I was here first', 'back again']));
  });

  it('refuses what it cannot link with a 400 naming the field, and creates nothing', async () => {
    const c = await customer();
    const other = await customer();
    const cases: [unknown, RegExp][] = [
      [linkBody('5145550000', c.conversationId, { type: 'immediate' }), /^matchCriteria\.phoneNumber: must be a phone number in E\.164 form/],
      [{ ...linkBody('+15005550305', c.conversationId, { type: 'immediate' }), matchCriteria: { type: 'twilio', integrationId: twilio.id } }, /^matchCriteria\.phoneNumber: is required/],
      [{ ...linkBody('+15005550305', c.conversationId, { type: 'immediate' }), matchCriteria: { type: 'whatsapp', integrationId: twilio.id, phoneNumber: '+15005550305' } }, /^matchCriteria\.integrationId: the app has no whatsapp integration/],
      [linkBody('+15005550305', other.conversationId, { type: 'immediate' }), /^target\.conversationId: the user is not a participant/],
      [linkBody('+15005550305', c.conversationId, { type: 'sometime' }), /^confirmation\.type: must be immediate, userActivity or prompt/],
      [linkBody('+15005550305', c.conversationId, { type: 'immediate', message: { type: 'carousel', items: [{ title: 'x', actions: [{ type: 'postback', text: 'a', payload: 'b' }] }] } }), /^confirmation\.message: must be a message post/],
    ];
    for (const [body, title] of cases) {
      const res = await link(c.userId, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors[0].title, JSON.stringify(body)).toMatch(title);
    }
    expect((await call('GET', `/v2/apps/${app.appId}/users/${c.userId}/clients`, app.auth)).body.clients).toEqual([]);
    expect(smsTo('+15005550305')).toEqual([]);
  });
});
