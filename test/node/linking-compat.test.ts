/**
 * Channel linking through the official `sunshine-conversations-client@14`,
 * once with HTTP Basic and once with HS256 JWTs: ClientsApi.createClient
 * attaches a phone number on a Twilio SMS integration to one of the user's
 * conversations, against a locally started Parley whose Twilio calls go to the
 * Twilio fake served on loopback (the integration's `apiBaseUrl`). The
 * lifecycle webhooks (`client:add` channelLinking, `client:update`
 * confirmed / matched) go to a local receiver; the user's inbound SMS is
 * signed as Twilio signs it and posted to the integration's `webhookUrl`.
 * Where a model could drop fields, the raw `response.body` of
 * `createClientWithHttpInfo` is checked as well.
 */
import Sunco from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TwilioFake } from '../fakes/twilio';
import { Receiver, verifySignature, waitFor } from './receiver';
import { apiClient, apis, expectApiError, ISO_MS, OBJECT_ID, unique, type Apis, type AuthMode } from './sunco';

const url = inject('parleyUrl');
const accountKey = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };

const textContent = (text: string) => Object.assign(new Sunco.TextMessage('text'), { text });

/** Each auth mode gets its own Twilio account and number, so the two apps never share a channel identity. */
const TWILIO = {
  basic: { accountSid: 'AC11111111111111111111111111111111', numberSid: 'PN11111111111111111111111111111111', number: '+15005550101', prefix: '+1514555010' },
  jwt: { accountSid: 'AC22222222222222222222222222222222', numberSid: 'PN22222222222222222222222222222222', number: '+15005550102', prefix: '+1514555020' },
} as const;

describe.each<AuthMode>(['basic', 'jwt'])('ClientsApi.createClient links a Twilio SMS number with %s auth', (auth) => {
  const account = apis(apiClient(url, auth, accountKey));
  const twilioAccount = TWILIO[auth];
  const receiver = new Receiver();
  let fake!: TwilioFake;
  let served!: ServedFake;
  let app!: Apis;
  let appId = '';
  let webhookSecret = '';
  let customId = '';
  let twilio = { id: '', webhookUrl: '' };

  beforeAll(async () => {
    await receiver.listen();
    const { app: created } = await account.apps.createApp(new Sunco.AppCreateBody(unique(`linking-${auth}`)));
    appId = created.id;
    const { key } = await account.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('linking suite'));
    app = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));

    const s = await serveFake(
      (origin) =>
        new TwilioFake({ origin, accountSid: twilioAccount.accountSid, authToken: `linking${auth}`.padEnd(32, '0'), phoneNumbers: { [twilioAccount.numberSid]: twilioAccount.number } }),
    );
    served = s;
    fake = s.handler as TwilioFake;
    const integration = await app.integrations.createIntegrationWithHttpInfo(appId, {
      type: 'twilio',
      accountSid: fake.accountSid,
      authToken: fake.authToken,
      phoneNumberSid: twilioAccount.numberSid,
      apiBaseUrl: served.url,
    });
    expect(integration.response.status, JSON.stringify(integration.response.body)).toBe(201);
    twilio = { id: integration.response.body.integration.id, webhookUrl: integration.response.body.integration.webhookUrl };
    expect(twilio.webhookUrl).toBe(`${url}/hooks/${twilio.id}`);

    // WebhookCreateBody's constructor drops its arguments (a generator quirk of the client), so the fields are assigned.
    const hook = Object.assign(new Sunco.WebhookCreateBody(), { target: receiver.url, triggers: ['client:add', 'client:update', 'conversation:message'] });
    const custom = await app.integrations.createIntegrationWithHttpInfo(appId, new Sunco.Custom('custom', [hook]));
    expect(custom.response.status).toBe(201);
    customId = custom.response.body.integration.id;
    webhookSecret = custom.response.body.integration.webhooks[0].secret;
  });
  afterAll(async () => {
    await receiver.close();
    await served?.close();
  });

  // ---- fixtures --------------------------------------------------------------

  let numbers = 0;
  /** A fresh customer phone number for this auth mode. */
  const phoneNumber = () => `${twilioAccount.prefix}${numbers++}`;

  async function customer() {
    const { user } = await app.users.createUser(appId, new Sunco.UserCreateBody(unique('linking-user')));
    const body = Object.assign(new Sunco.ConversationCreateBody('personal'), { participants: [{ userId: user.id }] });
    const { conversation } = await app.conversations.createConversation(appId, body);
    return { userId: user.id as string, conversationId: conversation.id as string };
  }

  /**
   * A ClientCreate built from the client's own models. `message` is sent as given: the contract's
   * message post (`{author, content}`).
   */
  function clientCreate(phone: string | undefined, confirmationType: string, conversationId: string, message?: object) {
    const confirmation = new Sunco.Confirmation(confirmationType);
    if (message) confirmation.message = message;
    return new Sunco.ClientCreate(new Sunco.MatchCriteriaTwilio('twilio', twilio.id, phone), confirmation, new Sunco.Target(conversationId));
  }

  /** Signed webhook events for one client, in the order they arrived. */
  function eventsFor(type: string, clientId: string) {
    for (const r of receiver.uniqueDeliveries()) expect(verifySignature(webhookSecret, r.headers, r.body), 'every delivery is signed with the webhook secret').toBe(true);
    return receiver.events().filter((e) => e.type === type && e.payload.client?.id === clientId);
  }

  const smsTo = (phone: string) => [...fake.messages.values()].filter((m) => m.to === phone);

  /** The user texts in: an SMS webhook signed as Twilio signs it, posted to the integration's webhookUrl. */
  async function textIn(from: string, text: string) {
    const res = await fetch(await fake.text(twilio.webhookUrl, { from }, text));
    expect(res.status, await res.clone().text()).toBe(200);
  }

  // ---- immediate -------------------------------------------------------------

  it('immediate: 201 with the active twilio client, client:add then client:update confirmed, the confirmation SMS, and business messages then go out by SMS', async () => {
    const c = await customer();
    const phone = phoneNumber();
    const confirmationText = unique('You can now reach us by SMS');

    const info = await app.clients.createClientWithHttpInfo(appId, c.userId, clientCreate(phone, 'immediate', c.conversationId, { author: { type: 'business' }, content: { type: 'text', text: confirmationText } }));
    expect(info.response.status, JSON.stringify(info.response.body)).toBe(201);
    const raw = info.response.body.client;
    expect(raw).toMatchObject({ type: 'twilio', status: 'active', integrationId: twilio.id, externalId: phone, linkedAt: expect.stringMatching(ISO_MS) });
    expect(raw.id).toMatch(OBJECT_ID);
    expect(info.data).toBeInstanceOf(Sunco.ClientResponse);
    expect(info.data.client).toBeInstanceOf(Sunco.Client);
    // The Client model keeps every field Parley sends.
    expect({ ...info.data.client }).toEqual(raw);
    const clientId = raw.id as string;

    // The receiver gets client:add (channelLinking, with the conversation), then client:update (confirmed).
    const update = await waitFor('client:update', () => eventsFor('client:update', clientId)[0]);
    const add = eventsFor('client:add', clientId);
    expect(add).toHaveLength(1);
    expect(add[0]!.payload).toMatchObject({
      reason: 'channelLinking',
      conversation: { id: c.conversationId },
      user: { id: c.userId },
      client: { id: clientId, type: 'twilio', integrationId: twilio.id, externalId: phone },
    });
    expect(update.payload).toMatchObject({
      reason: 'confirmed',
      conversation: { id: c.conversationId },
      user: { id: c.userId },
      client: { id: clientId, type: 'twilio', status: 'active', externalId: phone },
    });
    const all = receiver.events();
    expect(all.indexOf(add[0]!), 'client:add arrives before client:update').toBeLessThan(all.indexOf(update));
    expect(eventsFor('client:update', clientId)).toHaveLength(1);

    // The Twilio fake receives the confirmation SMS, from the integration's number.
    const confirmationSms = await waitFor('the confirmation SMS', () => smsTo(phone).find((m) => m.body === confirmationText));
    expect(confirmationSms.from).toBe(twilioAccount.number);

    // listClients shows the client.
    const listed = await app.clients.listClientsWithHttpInfo(appId, c.userId);
    expect(listed.response.body.clients).toEqual([expect.objectContaining({ id: clientId, type: 'twilio', status: 'active', integrationId: twilio.id, externalId: phone })]);
    expect(listed.data.clients[0]).toBeInstanceOf(Sunco.Client);

    // A business message posted afterwards, with no destination, is texted to that number.
    const appointment = unique('Your appointment is at 3pm');
    const posted = await app.messages.postMessageWithHttpInfo(appId, c.conversationId, new Sunco.MessagePost(new Sunco.Author('business'), textContent(appointment)));
    expect(posted.response.status).toBe(201);
    const sms = await waitFor('the business message by SMS', () => smsTo(phone).find((m) => m.body === appointment));
    expect(sms.from).toBe(twilioAccount.number);

    // Linking the same number to the same user again is a conflict.
    await expectApiError(app.clients.createClient(appId, c.userId, clientCreate(phone, 'immediate', c.conversationId)), 409, 'conflict');
    expect((await app.clients.listClients(appId, c.userId)).clients.map((x: { id: string }) => x.id)).toEqual([clientId]);
  });

  // ---- userActivity ------------------------------------------------------------

  it('userActivity: pending, no SMS; the user texting in lands in the target conversation and raises client:update matched; then active', async () => {
    const c = await customer();
    const phone = phoneNumber();

    const info = await app.clients.createClientWithHttpInfo(appId, c.userId, clientCreate(phone, 'userActivity', c.conversationId));
    expect(info.response.status, JSON.stringify(info.response.body)).toBe(201);
    expect(info.response.body.client).toMatchObject({ type: 'twilio', status: 'pending', integrationId: twilio.id, externalId: phone });
    expect(info.data.client).toBeInstanceOf(Sunco.Client);
    expect(info.data.client.status).toBe('pending');
    const clientId = info.response.body.client.id as string;

    const add = await waitFor('client:add', () => eventsFor('client:add', clientId)[0]);
    expect(add.payload).toMatchObject({ reason: 'channelLinking', conversation: { id: c.conversationId }, user: { id: c.userId } });
    expect(eventsFor('client:update', clientId), 'a userActivity link is not confirmed until the user writes').toEqual([]);
    expect(smsTo(phone), 'userActivity texts nothing').toEqual([]);
    const waiting = await app.clients.listClientsWithHttpInfo(appId, c.userId);
    expect(waiting.response.body.clients).toEqual([expect.objectContaining({ id: clientId, type: 'twilio', status: 'pending', externalId: phone })]);

    const text = unique('hi, it is me');
    await textIn(phone, text);

    const update = await waitFor('client:update matched', () => eventsFor('client:update', clientId)[0]);
    expect(update.payload).toMatchObject({ reason: 'matched', conversation: { id: c.conversationId }, user: { id: c.userId }, client: { id: clientId, externalId: phone } });
    expect(eventsFor('client:add', clientId).map((e) => e.payload.reason), 'the user writing adds no second client').toEqual(['channelLinking']);

    // The SMS lands in the linked conversation, authored by the linked user through the Twilio integration.
    const landed = await waitFor('the SMS in the target conversation', () =>
      receiver.events().find((e) => e.type === 'conversation:message' && e.payload.message?.content?.text === text),
    );
    expect(landed.payload.conversation.id).toBe(c.conversationId);
    const { response } = await app.messages.listMessagesWithHttpInfo(appId, c.conversationId);
    const stored = response.body.messages.filter((m: { content: { text?: string } }) => m.content.text === text);
    expect(stored).toEqual([
      expect.objectContaining({
        author: expect.objectContaining({ type: 'user', userId: c.userId }),
        source: expect.objectContaining({ type: 'twilio', integrationId: twilio.id }),
      }),
    ]);

    // listClients then shows the client active, still the only one.
    const listed = await app.clients.listClientsWithHttpInfo(appId, c.userId);
    expect(listed.response.body.clients).toEqual([expect.objectContaining({ id: clientId, type: 'twilio', status: 'active', externalId: phone })]);
  });

  // ---- refusals ----------------------------------------------------------------

  it('refuses with a 400 naming the field: no +country, no phoneNumber, an integration of another type, a conversation the user is not in; nothing is created', async () => {
    const c = await customer();
    const stranger = await customer();
    const phone = phoneNumber();
    const cases: [string, object, RegExp][] = [
      ['a number without +country', clientCreate(phone.slice(1), 'immediate', c.conversationId), /^matchCriteria\.phoneNumber\b/],
      ['no phoneNumber', clientCreate(undefined, 'immediate', c.conversationId), /^matchCriteria\.phoneNumber\b/],
      [
        'a custom integration as a twilio one',
        new Sunco.ClientCreate(new Sunco.MatchCriteriaTwilio('twilio', customId, phone), new Sunco.Confirmation('immediate'), new Sunco.Target(c.conversationId)),
        /^matchCriteria\.integrationId\b/,
      ],
      [
        'the twilio integration as a whatsapp one',
        new Sunco.ClientCreate(new Sunco.MatchCriteriaWhatsapp('whatsapp', twilio.id, phone), new Sunco.Confirmation('immediate'), new Sunco.Target(c.conversationId)),
        /^matchCriteria\.integrationId\b/,
      ],
      ["another user's conversation", clientCreate(phone, 'immediate', stranger.conversationId), /^target\.conversationId\b/],
    ];
    for (const [what, body, title] of cases) {
      const err = await expectApiError(app.clients.createClient(appId, c.userId, body), 400, 'bad_request');
      expect(err.body.errors[0].title, what).toMatch(title);
    }
    expect((await app.clients.listClientsWithHttpInfo(appId, c.userId)).response.body.clients, 'no client after the refusals').toEqual([]);

    // The same number then links fine: its client:add is the first and only one for this user, and the
    // only SMS the number ever gets is this link's confirmation.
    const confirmationText = unique('linked after all');
    const ok = await app.clients.createClientWithHttpInfo(appId, c.userId, clientCreate(phone, 'immediate', c.conversationId, { author: { type: 'business' }, content: { type: 'text', text: confirmationText } }));
    expect(ok.response.status, JSON.stringify(ok.response.body)).toBe(201);
    const clientId = ok.response.body.client.id as string;
    await waitFor('client:update for the valid link', () => eventsFor('client:update', clientId)[0]);
    await waitFor('the confirmation SMS', () => smsTo(phone).find((m) => m.body === confirmationText));
    expect(receiver.events().filter((e) => e.type === 'client:add' && e.payload.user?.id === c.userId).map((e) => e.payload.client.id)).toEqual([clientId]);
    expect(receiver.events().filter((e) => e.type.startsWith('client:') && e.payload.user?.id === stranger.userId)).toEqual([]);
    expect(smsTo(phone).map((m) => m.body)).toEqual([confirmationText]);
    expect(smsTo(phone.slice(1))).toEqual([]);
  });
});
