/**
 * Switchboard compatibility: drives a locally started Parley through the
 * official `sunshine-conversations-client@14`, with HTTP Basic credentials and
 * with HS256 JWTs, calling each of the twelve switchboard methods —
 * SwitchboardsApi (create, list, update, delete), SwitchboardIntegrationsApi
 * (create, list, update, delete) and SwitchboardActionsApi (passControl,
 * offerControl, acceptControl, releaseControl) — and checking their effect:
 * the client's models and the raw JSON they answer, the conversation's
 * `activeSwitchboardIntegration` / `pendingSwitchboardIntegration` as
 * getConversation shows them, the refusals (400 and 403, integration keys
 * included), and the point of the feature, the routing of webhook events: a
 * bot and an agent desk, each a custom integration whose v2 webhook points at
 * its own local receiver, hand a conversation over, and each hears the user
 * only while it is in control. The client has no webhook models to rely on, so
 * deliveries are checked as raw JSON.
 */
import Sunco from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Receiver, verifySignature, waitFor } from './receiver';
import { apiClient, apis, expectApiError, expectEmptyOk, OBJECT_ID, signJwt, unique, type Apis, type AuthMode } from './sunco';

const url = inject('parleyUrl');
const accountKey = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };

/** Both suites' bots send to one receiver and their agent desks to another; tests tell their events apart by conversation id. */
const botReceiver = new Receiver();
const agentReceiver = new Receiver();
beforeAll(async () => {
  await botReceiver.listen();
  await agentReceiver.listen();
});
afterAll(async () => {
  await botReceiver.close();
  await agentReceiver.close();
});

type WebhookEvent = ReturnType<Receiver['events']>[number];

/** The events a receiver got for one conversation, in the order it got them, optionally of one type. */
const eventsOf = (receiver: Receiver, conversationId: string, type?: string): WebhookEvent[] =>
  receiver.events().filter((e) => e.payload?.conversation?.id === conversationId && (type === undefined || e.type === type));

/** The texts of the conversation:message events a receiver got for one conversation. */
const heard = (receiver: Receiver, conversationId: string): string[] => eventsOf(receiver, conversationId, 'conversation:message').map((e) => e.payload.message.content.text);

/** An integration key's clients: its JWTs carry `scope: 'integration'`. */
function integrationApis(auth: AuthMode, key: { id: string; secret: string }): Apis {
  const client = new Sunco.ApiClient();
  client.basePath = url;
  if (auth === 'basic') {
    client.authentications.basicAuth.username = key.id;
    client.authentications.basicAuth.password = key.secret;
  } else {
    client.authentications.bearerAuth.accessToken = signJwt(key.id, key.secret, { scope: 'integration' });
  }
  return apis(client);
}

const switchboardUpdate = (fields: { enabled?: boolean; defaultSwitchboardIntegrationId?: string }) => Object.assign(new Sunco.SwitchboardUpdateBody(), fields);
const switchboardIntegrationCreate = (name: string, fields: Record<string, unknown>) => Object.assign(new Sunco.SwitchboardIntegrationCreateBody(name), fields);
const switchboardIntegrationUpdate = (fields: Record<string, unknown>) => Object.assign(new Sunco.SwitchboardIntegrationUpdateBody(), fields);
const passControlBody = (switchboardIntegration: string, metadata?: Record<string, unknown>) =>
  Object.assign(new Sunco.PassControlBody(switchboardIntegration), metadata ? { metadata } : {});
const offerControlBody = (switchboardIntegration: string, metadata?: Record<string, unknown>) =>
  Object.assign(new Sunco.OfferControlBody(switchboardIntegration), metadata ? { metadata } : {});
const acceptControlBody = (metadata?: Record<string, unknown>) => Object.assign(new Sunco.AcceptControlBody(), metadata ? { metadata } : {});

/** What `{}` looks like through a `...WithHttpInfo` action call. */
function expectEmptyActionOk(info: Sunco.HttpInfo<unknown>): void {
  expect(info.response.status).toBe(200);
  expect(info.response.body).toEqual({});
}

describe.each<AuthMode>(['basic', 'jwt'])('switchboards through sunshine-conversations-client with %s auth', (auth) => {
  const account = apis(apiClient(url, auth, accountKey));

  // ---- fixtures, all made through the client ------------------------------

  /** A new app and its app key's clients: an app holds one switchboard, so each test starts from its own app. */
  async function newApp() {
    const { app } = await account.apps.createApp(new Sunco.AppCreateBody(unique(`switchboard-${auth}`)));
    const { key } = await account.appKeys.createAppKey(app.id, new Sunco.AppKeyCreateBody('switchboard suite'));
    return { appId: app.id as string, api: apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' })) };
  }
  type App = Awaited<ReturnType<typeof newApp>>;

  /** A custom integration whose one v2 webhook sends every trigger to `receiver`, and an integration key's clients. */
  async function customIntegration(app: App, receiver: Receiver) {
    // WebhookCreateBody's constructor drops its arguments (a generator quirk of the client), so the fields are assigned.
    const webhook = Object.assign(new Sunco.WebhookCreateBody(), { target: receiver.url, triggers: ['*'] });
    const created = await app.api.integrations.createIntegrationWithHttpInfo(app.appId, new Sunco.Custom('custom', [webhook]));
    expect(created.response.status).toBe(201);
    const integration = created.response.body.integration as { id: string; webhooks: { id: string; secret: string }[] };
    const { key } = await app.api.customIntegrationApiKeys.createCustomIntegrationKey(app.appId, integration.id, new Sunco.IntegrationApiKey('switchboard suite'));
    expect(key.id).toMatch(/^int_/);
    return { integrationId: integration.id, webhook: integration.webhooks[0]!, api: integrationApis(auth, key) };
  }

  async function createSwitchboard(app: App): Promise<string> {
    const { switchboard } = await app.api.switchboards.createSwitchboard(app.appId);
    return switchboard.id as string;
  }

  async function createSwitchboardIntegration(app: App, switchboardId: string, name: string, fields: Record<string, unknown>) {
    const { switchboardIntegration } = await app.api.switchboardIntegrations.createSwitchboardIntegration(app.appId, switchboardId, switchboardIntegrationCreate(name, fields));
    return switchboardIntegration as { id: string; name: string; integrationId?: string; integrationType: string };
  }

  async function newConversation(app: App) {
    const { user } = await app.api.users.createUser(app.appId, new Sunco.UserCreateBody(unique('switchboard-user')));
    const { conversation } = await app.api.conversations.createConversation(app.appId, { type: 'personal', participants: [{ userId: user.id }] });
    return { userId: user.id as string, conversation };
  }

  /**
   * The handover the feature is for: a bot (the default; its next is the agent
   * desk) and an agent desk, neither hearing anything in standby, the switchboard
   * enabled, and a user's conversation, which starts with the bot in control.
   */
  async function handoverApp() {
    const app = await newApp();
    const bot = await customIntegration(app, botReceiver);
    const agent = await customIntegration(app, agentReceiver);
    const switchboardId = await createSwitchboard(app);
    const agentSb = await createSwitchboardIntegration(app, switchboardId, 'agent', { integrationId: agent.integrationId, deliverStandbyEvents: false });
    const botSb = await createSwitchboardIntegration(app, switchboardId, 'bot', {
      integrationId: bot.integrationId,
      deliverStandbyEvents: false,
      nextSwitchboardIntegrationId: agentSb.id,
    });
    await app.api.switchboards.updateSwitchboard(app.appId, switchboardId, switchboardUpdate({ enabled: true, defaultSwitchboardIntegrationId: botSb.id }));
    const { userId, conversation } = await newConversation(app);
    return {
      app,
      bot,
      agent,
      switchboardId,
      botSb,
      agentSb,
      botRef: { id: botSb.id, name: 'bot', integrationId: bot.integrationId, integrationType: 'custom' },
      agentRef: { id: agentSb.id, name: 'agent', integrationId: agent.integrationId, integrationType: 'custom' },
      userId,
      conversationId: conversation.id as string,
    };
  }
  type Handover = Awaited<ReturnType<typeof handoverApp>>;

  async function userSays(h: Handover, text: string) {
    const author = Object.assign(new Sunco.Author('user'), { userId: h.userId });
    const content = Object.assign(new Sunco.TextMessage('text'), { text });
    const info = await h.app.api.messages.postMessageWithHttpInfo(h.app.appId, h.conversationId, new Sunco.MessagePost(author, content));
    expect(info.response.status).toBe(201);
  }

  /** getConversation through the client: the model, and the raw JSON next to it. */
  async function conversationNow(h: Handover) {
    const info = await h.app.api.conversations.getConversationWithHttpInfo(h.app.appId, h.conversationId);
    expect(info.data.conversation).toBeInstanceOf(Sunco.Conversation);
    return { model: info.data.conversation, raw: info.response.body.conversation };
  }

  // ---- SwitchboardsApi ------------------------------------------------------

  describe('SwitchboardsApi', () => {
    it('createSwitchboard answers 201 with a disabled switchboard and no default; listSwitchboards lists it; a second createSwitchboard is refused with 400 bad_request', async () => {
      const app = await newApp();
      const created = await app.api.switchboards.createSwitchboardWithHttpInfo(app.appId);
      expect(created.response.status).toBe(201);
      expect(created.data).toBeInstanceOf(Sunco.SwitchboardResponse);
      expect(created.data.switchboard).toBeInstanceOf(Sunco.Switchboard);
      expect(created.response.body).toEqual({ switchboard: { id: expect.stringMatching(OBJECT_ID), enabled: false, defaultSwitchboardIntegrationId: null } });
      expect(created.data.switchboard).toEqual(created.response.body.switchboard);

      const listed = await app.api.switchboards.listSwitchboardsWithHttpInfo(app.appId);
      expect(listed.data).toBeInstanceOf(Sunco.SwitchboardListResponse);
      expect(listed.data.switchboards[0]).toBeInstanceOf(Sunco.Switchboard);
      expect(listed.response.body).toEqual({ switchboards: [created.response.body.switchboard] });

      await expectApiError(app.api.switchboards.createSwitchboard(app.appId), 400, 'bad_request');
      expect((await app.api.switchboards.listSwitchboards(app.appId)).switchboards).toHaveLength(1);
    });

    it('updateSwitchboard refuses to enable a switchboard without a default (400), then sets the default and enables it; new conversations then start on the default', async () => {
      const app = await newApp();
      const switchboardId = await createSwitchboard(app);
      const desk = await createSwitchboardIntegration(app, switchboardId, 'desk', { integrationType: 'zd:agentWorkspace' });

      await expectApiError(app.api.switchboards.updateSwitchboard(app.appId, switchboardId, switchboardUpdate({ enabled: true })), 400, 'bad_request');
      expect((await app.api.switchboards.listSwitchboards(app.appId)).switchboards[0]).toEqual({ id: switchboardId, enabled: false, defaultSwitchboardIntegrationId: null });
      const before = await newConversation(app);
      expect(before.conversation.activeSwitchboardIntegration, 'a disabled switchboard puts nobody in control').toBeUndefined();

      const withDefault = await app.api.switchboards.updateSwitchboardWithHttpInfo(app.appId, switchboardId, switchboardUpdate({ defaultSwitchboardIntegrationId: desk.id }));
      expect(withDefault.response.status).toBe(200);
      expect(withDefault.data).toBeInstanceOf(Sunco.SwitchboardResponse);
      expect(withDefault.response.body).toEqual({ switchboard: { id: switchboardId, enabled: false, defaultSwitchboardIntegrationId: desk.id } });

      const enabled = await app.api.switchboards.updateSwitchboardWithHttpInfo(app.appId, switchboardId, switchboardUpdate({ enabled: true }));
      expect(enabled.response.body).toEqual({ switchboard: { id: switchboardId, enabled: true, defaultSwitchboardIntegrationId: desk.id } });
      expect(enabled.data.switchboard).toEqual(enabled.response.body.switchboard);
      expect((await app.api.switchboards.listSwitchboards(app.appId)).switchboards).toEqual([enabled.response.body.switchboard]);

      const after = await newConversation(app);
      expect(after.conversation.activeSwitchboardIntegration).toBeInstanceOf(Sunco.SwitchboardIntegrationWebhook);
      expect(after.conversation.activeSwitchboardIntegration).toEqual({ id: desk.id, name: 'desk', integrationType: 'zd:agentWorkspace' });
    });

    it('deleteSwitchboard answers {}; listSwitchboards is then empty and the agent desk, in standby until then, hears every message again', async () => {
      const h = await handoverApp();
      await userSays(h, 'before the delete');
      // Routing is decided when the bot's delivery is sent, so once the bot has it the agent desk's copy was already left out.
      await waitFor('the bot to hear the first message', () => heard(botReceiver, h.conversationId).includes('before the delete'));

      expectEmptyOk(await h.app.api.switchboards.deleteSwitchboardWithHttpInfo(h.app.appId, h.switchboardId));
      expect(await h.app.api.switchboards.listSwitchboardsWithHttpInfo(h.app.appId).then((i) => i.response.body)).toEqual({ switchboards: [] });
      await expectApiError(h.app.api.switchboardIntegrations.listSwitchboardIntegrations(h.app.appId, h.switchboardId), 404, 'switchboard_not_found');

      await userSays(h, 'after the delete');
      await waitFor('the agent desk to hear the message', () => heard(agentReceiver, h.conversationId).includes('after the delete'));
      await waitFor('the bot to hear the message', () => heard(botReceiver, h.conversationId).includes('after the delete'));
      expect(heard(agentReceiver, h.conversationId), 'the switchboard kept the first message from the agent desk').toEqual(['after the delete']);
      expect(heard(botReceiver, h.conversationId)).toEqual(['before the delete', 'after the delete']);
    });
  });

  // ---- SwitchboardIntegrationsApi -------------------------------------------

  describe('SwitchboardIntegrationsApi', () => {
    it('createSwitchboardIntegration by integrationId fills in integrationType custom and defaults deliverStandbyEvents to true; by integrationType keeps the type; listSwitchboardIntegrations lists both', async () => {
      const app = await newApp();
      const bot = await customIntegration(app, botReceiver);
      const switchboardId = await createSwitchboard(app);

      const byId = await app.api.switchboardIntegrations.createSwitchboardIntegrationWithHttpInfo(app.appId, switchboardId, switchboardIntegrationCreate('bot', { integrationId: bot.integrationId }));
      expect(byId.response.status).toBe(201);
      expect(byId.data).toBeInstanceOf(Sunco.SwitchboardIntegrationResponse);
      expect(byId.data.switchboardIntegration).toBeInstanceOf(Sunco.SwitchboardIntegration);
      const botSb = {
        id: expect.stringMatching(OBJECT_ID),
        name: 'bot',
        integrationId: bot.integrationId,
        integrationType: 'custom',
        deliverStandbyEvents: true,
        nextSwitchboardIntegrationId: null,
        messageHistoryCount: null,
      };
      expect(byId.response.body).toEqual({ switchboardIntegration: botSb });
      expect(byId.data.switchboardIntegration).toEqual(byId.response.body.switchboardIntegration);

      const byType = await app.api.switchboardIntegrations.createSwitchboardIntegrationWithHttpInfo(
        app.appId,
        switchboardId,
        switchboardIntegrationCreate('desk', { integrationType: 'zd:agentWorkspace', deliverStandbyEvents: false, nextSwitchboardIntegrationId: byId.data.switchboardIntegration.id, messageHistoryCount: 3 }),
      );
      expect(byType.response.status).toBe(201);
      const deskSb = {
        id: expect.stringMatching(OBJECT_ID),
        name: 'desk',
        integrationType: 'zd:agentWorkspace',
        deliverStandbyEvents: false,
        nextSwitchboardIntegrationId: byId.data.switchboardIntegration.id,
        messageHistoryCount: 3,
      };
      expect(byType.response.body).toEqual({ switchboardIntegration: deskSb });
      expect(byType.data.switchboardIntegration).toEqual(byType.response.body.switchboardIntegration);

      const listed = await app.api.switchboardIntegrations.listSwitchboardIntegrationsWithHttpInfo(app.appId, switchboardId);
      expect(listed.data).toBeInstanceOf(Sunco.SwitchboardIntegrationListResponse);
      for (const item of listed.data.switchboardIntegrations) expect(item).toBeInstanceOf(Sunco.SwitchboardIntegration);
      expect(listed.response.body.switchboardIntegrations).toHaveLength(2);
      expect(listed.response.body.switchboardIntegrations).toEqual(expect.arrayContaining([byId.response.body.switchboardIntegration, byType.response.body.switchboardIntegration]));
    });

    it('the 11th createSwitchboardIntegration is refused with 400 too_many_switchboard_integrations', async () => {
      const app = await newApp();
      const switchboardId = await createSwitchboard(app);
      for (let i = 1; i <= 10; i++) await createSwitchboardIntegration(app, switchboardId, `desk-${i}`, { integrationType: `zd:desk${i}` });
      await expectApiError(
        app.api.switchboardIntegrations.createSwitchboardIntegration(app.appId, switchboardId, switchboardIntegrationCreate('one-too-many', { integrationType: 'zd:more' })),
        400,
        'too_many_switchboard_integrations',
      );
      const { switchboardIntegrations } = await app.api.switchboardIntegrations.listSwitchboardIntegrations(app.appId, switchboardId);
      expect(switchboardIntegrations.map((i: { name: string }) => i.name).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `desk-${i + 1}`).sort());
    });

    it('updateSwitchboardIntegration changes the fields it is given and keeps the others', async () => {
      const app = await newApp();
      const bot = await customIntegration(app, botReceiver);
      const switchboardId = await createSwitchboard(app);
      const botSb = await createSwitchboardIntegration(app, switchboardId, 'bot', { integrationId: bot.integrationId });
      const desk = await createSwitchboardIntegration(app, switchboardId, 'desk', { integrationType: 'zd:agentWorkspace' });

      const info = await app.api.switchboardIntegrations.updateSwitchboardIntegrationWithHttpInfo(
        app.appId,
        switchboardId,
        botSb.id,
        switchboardIntegrationUpdate({ name: 'frontline', deliverStandbyEvents: false, nextSwitchboardIntegrationId: desk.id, messageHistoryCount: 5 }),
      );
      expect(info.response.status).toBe(200);
      expect(info.data).toBeInstanceOf(Sunco.SwitchboardIntegrationResponse);
      const updated = {
        id: botSb.id,
        name: 'frontline',
        integrationId: bot.integrationId,
        integrationType: 'custom',
        deliverStandbyEvents: false,
        nextSwitchboardIntegrationId: desk.id,
        messageHistoryCount: 5,
      };
      expect(info.response.body).toEqual({ switchboardIntegration: updated });
      expect(info.data.switchboardIntegration).toEqual(updated);

      const { switchboardIntegrations } = await app.api.switchboardIntegrations.listSwitchboardIntegrations(app.appId, switchboardId);
      expect(switchboardIntegrations.find((i: { id: string }) => i.id === botSb.id)).toEqual(updated);
      expect(switchboardIntegrations.find((i: { id: string }) => i.id === desk.id)).toMatchObject({ name: 'desk', deliverStandbyEvents: true, nextSwitchboardIntegrationId: null });
    });

    it("deleteSwitchboardIntegration is refused with 400 while it is the default or another's next, and answers {} once it is neither", async () => {
      const app = await newApp();
      const switchboardId = await createSwitchboard(app);
      const sbi = app.api.switchboardIntegrations;
      const second = await createSwitchboardIntegration(app, switchboardId, 'second', { integrationType: 'zd:second' });
      const first = await createSwitchboardIntegration(app, switchboardId, 'first', { integrationType: 'zd:first', nextSwitchboardIntegrationId: second.id });
      await app.api.switchboards.updateSwitchboard(app.appId, switchboardId, switchboardUpdate({ defaultSwitchboardIntegrationId: first.id }));
      const names = async () => (await sbi.listSwitchboardIntegrations(app.appId, switchboardId)).switchboardIntegrations.map((i: { name: string }) => i.name).sort();

      await expectApiError(sbi.deleteSwitchboardIntegration(app.appId, switchboardId, first.id), 400, 'bad_request');
      await expectApiError(sbi.deleteSwitchboardIntegration(app.appId, switchboardId, second.id), 400, 'bad_request');
      expect(await names()).toEqual(['first', 'second']);

      await sbi.updateSwitchboardIntegration(app.appId, switchboardId, first.id, switchboardIntegrationUpdate({ nextSwitchboardIntegrationId: null }));
      expectEmptyOk(await sbi.deleteSwitchboardIntegrationWithHttpInfo(app.appId, switchboardId, second.id));
      expect(await names()).toEqual(['first']);

      const third = await createSwitchboardIntegration(app, switchboardId, 'third', { integrationType: 'zd:third' });
      await app.api.switchboards.updateSwitchboard(app.appId, switchboardId, switchboardUpdate({ defaultSwitchboardIntegrationId: third.id }));
      expectEmptyOk(await sbi.deleteSwitchboardIntegrationWithHttpInfo(app.appId, switchboardId, first.id));
      expect(await names()).toEqual(['third']);
      await expectApiError(sbi.deleteSwitchboardIntegration(app.appId, switchboardId, first.id), 404, 'switchboard_integration_not_found');
    });

    it('integration keys are refused with 403 forbidden on every switchboard and switchboard integration route, and change nothing', async () => {
      const app = await newApp();
      const bot = await customIntegration(app, botReceiver);
      const switchboardId = await createSwitchboard(app);
      const botSb = await createSwitchboardIntegration(app, switchboardId, 'bot', { integrationId: bot.integrationId });
      const as = bot.api;
      const calls: [string, () => Promise<unknown>][] = [
        ['createSwitchboard', () => as.switchboards.createSwitchboard(app.appId)],
        ['listSwitchboards', () => as.switchboards.listSwitchboards(app.appId)],
        ['updateSwitchboard', () => as.switchboards.updateSwitchboard(app.appId, switchboardId, switchboardUpdate({ defaultSwitchboardIntegrationId: botSb.id }))],
        ['deleteSwitchboard', () => as.switchboards.deleteSwitchboard(app.appId, switchboardId)],
        ['createSwitchboardIntegration', () => as.switchboardIntegrations.createSwitchboardIntegration(app.appId, switchboardId, switchboardIntegrationCreate('intruder', { integrationType: 'zd:x' }))],
        ['listSwitchboardIntegrations', () => as.switchboardIntegrations.listSwitchboardIntegrations(app.appId, switchboardId)],
        ['updateSwitchboardIntegration', () => as.switchboardIntegrations.updateSwitchboardIntegration(app.appId, switchboardId, botSb.id, switchboardIntegrationUpdate({ name: 'renamed' }))],
        ['deleteSwitchboardIntegration', () => as.switchboardIntegrations.deleteSwitchboardIntegration(app.appId, switchboardId, botSb.id)],
      ];
      for (const [name, call] of calls) {
        const err = await call().then(
          () => undefined,
          (e: Sunco.ApiError) => e,
        );
        expect({ name, status: err?.status, code: err?.body?.errors?.[0]?.code }).toEqual({ name, status: 403, code: 'forbidden' });
      }
      expect((await app.api.switchboards.listSwitchboards(app.appId)).switchboards).toEqual([{ id: switchboardId, enabled: false, defaultSwitchboardIntegrationId: null }]);
      expect((await app.api.switchboardIntegrations.listSwitchboardIntegrations(app.appId, switchboardId)).switchboardIntegrations.map((i: { name: string }) => i.name)).toEqual(['bot']);
    });
  });

  // ---- SwitchboardActionsApi ------------------------------------------------

  describe('SwitchboardActionsApi', () => {
    it('passControl by id, by name and by integrationType each answer {} and put that switchboard integration in control', async () => {
      const h = await handoverApp();
      const desk = await createSwitchboardIntegration(h.app, h.switchboardId, 'desk', { integrationType: 'zd:agentWorkspace' });
      const actions = h.app.api.switchboardActions;
      expect((await conversationNow(h)).raw.activeSwitchboardIntegration, 'a new conversation starts on the default').toEqual(h.botRef);

      const steps: [string, object][] = [
        [h.agentSb.id, h.agentRef],
        ['bot', h.botRef],
        ['zd:agentWorkspace', { id: desk.id, name: 'desk', integrationType: 'zd:agentWorkspace' }],
      ];
      for (const [target, ref] of steps) {
        expectEmptyActionOk(await actions.passControlWithHttpInfo(h.app.appId, h.conversationId, passControlBody(target)));
        const { model, raw } = await conversationNow(h);
        expect(model.activeSwitchboardIntegration, target).toBeInstanceOf(Sunco.SwitchboardIntegrationWebhook);
        expect(model.activeSwitchboardIntegration, target).toEqual(ref);
        expect(raw.activeSwitchboardIntegration, target).toEqual(ref);
        expect(raw).not.toHaveProperty('pendingSwitchboardIntegration');
      }
      await expectApiError(actions.passControl(h.app.appId, h.conversationId, passControlBody('nobody')), 400, 'bad_request');
      expect((await conversationNow(h)).raw.activeSwitchboardIntegration.id).toBe(desk.id);
    });

    it('offerControl makes the target pending; with integration keys only the pending one may acceptControl (others 403), which puts it in control; releaseControl leaves nobody in control', async () => {
      const h = await handoverApp();
      const actions = (as: Apis) => as.switchboardActions;

      expectEmptyActionOk(await actions(h.bot.api).offerControlWithHttpInfo(h.app.appId, h.conversationId, offerControlBody('agent', { reason: 'billing' })));
      const offered = await conversationNow(h);
      expect(offered.model.activeSwitchboardIntegration).toEqual(h.botRef);
      expect(offered.model.pendingSwitchboardIntegration).toBeInstanceOf(Sunco.SwitchboardIntegrationWebhook);
      expect(offered.model.pendingSwitchboardIntegration).toEqual(h.agentRef);
      expect(offered.raw).toMatchObject({ activeSwitchboardIntegration: h.botRef, pendingSwitchboardIntegration: h.agentRef });

      await expectApiError(actions(h.bot.api).acceptControl(h.app.appId, h.conversationId, acceptControlBody()), 403, 'forbidden');
      expect((await conversationNow(h)).raw).toMatchObject({ activeSwitchboardIntegration: h.botRef, pendingSwitchboardIntegration: h.agentRef });

      expectEmptyActionOk(await actions(h.agent.api).acceptControlWithHttpInfo(h.app.appId, h.conversationId, acceptControlBody({ ticket: 42 })));
      const accepted = await conversationNow(h);
      expect(accepted.model.activeSwitchboardIntegration).toEqual(h.agentRef);
      expect(accepted.model.pendingSwitchboardIntegration).toBeUndefined();
      expect(accepted.raw.activeSwitchboardIntegration).toEqual(h.agentRef);
      expect(accepted.raw).not.toHaveProperty('pendingSwitchboardIntegration');
      const acceptEvent = await waitFor('switchboard:acceptControl at the agent desk', () => eventsOf(agentReceiver, h.conversationId, 'switchboard:acceptControl')[0]);
      expect(acceptEvent.payload).toMatchObject({ metadata: { ticket: 42 }, conversation: { id: h.conversationId, activeSwitchboardIntegration: h.agentRef } });

      expectEmptyActionOk(await actions(h.agent.api).releaseControlWithHttpInfo(h.app.appId, h.conversationId));
      const released = await conversationNow(h);
      expect(released.model.activeSwitchboardIntegration).toBeUndefined();
      expect(released.raw).not.toHaveProperty('activeSwitchboardIntegration');
      expect(released.raw).not.toHaveProperty('pendingSwitchboardIntegration');
    });
  });

  // ---- routing of webhook events ----------------------------------------------

  describe('routing of webhook events', () => {
    it("a user message reaches the bot in control, not the agent desk; passControl 'next' tells both with its metadata; the next message reaches the agent desk only", async () => {
      const h = await handoverApp();
      await userSays(h, 'hello bot');
      const toBot = await waitFor('the bot to hear the first message', () => eventsOf(botReceiver, h.conversationId, 'conversation:message')[0]);
      expect(toBot.payload.message).toMatchObject({ author: { type: 'user', userId: h.userId }, content: { type: 'text', text: 'hello bot' } });
      expect(toBot.payload.conversation.activeSwitchboardIntegration).toEqual(h.botRef);

      const metadata = { reason: 'asked for a human', priority: 2 };
      expectEmptyActionOk(await h.bot.api.switchboardActions.passControlWithHttpInfo(h.app.appId, h.conversationId, passControlBody('next', metadata)));
      const now = await conversationNow(h);
      expect(now.model.activeSwitchboardIntegration).toEqual(h.agentRef);
      expect(now.raw.activeSwitchboardIntegration).toEqual(h.agentRef);

      // Both sides hear the handover itself, whatever their standby setting.
      for (const [receiver, integration] of [
        [botReceiver, h.bot],
        [agentReceiver, h.agent],
      ] as const) {
        const passed = await waitFor('switchboard:passControl', () => eventsOf(receiver, h.conversationId, 'switchboard:passControl')[0]);
        expect(passed.payload).toEqual({ conversation: { id: h.conversationId, type: 'personal', activeSwitchboardIntegration: h.agentRef }, metadata });
        const delivery = receiver.requests.find((r) => r.json?.events?.some((e: { id: string }) => e.id === passed.id))!;
        expect(delivery.json.app).toEqual({ id: h.app.appId });
        expect(delivery.json.webhook).toEqual({ id: integration.webhook.id, version: 'v2' });
        expect(verifySignature(integration.webhook.secret, delivery.headers, delivery.body)).toBe(true);
      }
      // The agent desk's webhook would have got the first message before the handover: it never did, nor the conversation's creation.
      expect(eventsOf(agentReceiver, h.conversationId).map((e) => e.type)).toEqual(['switchboard:passControl']);

      await userSays(h, 'hello agent');
      const toAgent = await waitFor('the agent desk to hear the next message', () => eventsOf(agentReceiver, h.conversationId, 'conversation:message')[0]);
      expect(toAgent.payload.message.content.text).toBe('hello agent');
      expect(toAgent.payload.conversation.activeSwitchboardIntegration).toEqual(h.agentRef);

      // The agent desk hands the conversation back to nobody; the bot's webhook gets that event after 'hello agent' would have come.
      expectEmptyActionOk(await h.agent.api.switchboardActions.releaseControlWithHttpInfo(h.app.appId, h.conversationId));
      await waitFor('switchboard:releaseControl at the bot', () => eventsOf(botReceiver, h.conversationId, 'switchboard:releaseControl')[0]);
      expect(heard(botReceiver, h.conversationId)).toEqual(['hello bot']);
      expect(heard(agentReceiver, h.conversationId)).toEqual(['hello agent']);
    });

    it('offerControl to the switchboard integration already in control answers {} and raises switchboard:offerControl:failure with switchboard_invalid_target', async () => {
      const h = await handoverApp();
      expectEmptyActionOk(await h.app.api.switchboardActions.offerControlWithHttpInfo(h.app.appId, h.conversationId, offerControlBody('bot', { attempt: 1 })));
      for (const receiver of [botReceiver, agentReceiver]) {
        const failure = await waitFor('switchboard:offerControl:failure', () => eventsOf(receiver, h.conversationId, 'switchboard:offerControl:failure')[0]);
        expect(failure.payload).toEqual({
          conversation: { id: h.conversationId, type: 'personal', activeSwitchboardIntegration: h.botRef },
          metadata: { attempt: 1 },
          error: { code: 'switchboard_invalid_target', message: expect.any(String) },
        });
      }
      expect(eventsOf(botReceiver, h.conversationId, 'switchboard:offerControl')).toEqual([]);
      const { raw } = await conversationNow(h);
      expect(raw.activeSwitchboardIntegration).toEqual(h.botRef);
      expect(raw).not.toHaveProperty('pendingSwitchboardIntegration');
    });
  });
});
