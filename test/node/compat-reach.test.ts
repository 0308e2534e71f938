/**
 * Compatibility beyond the core resources: drives a locally started Parley
 * through the official `sunshine-conversations-client@14`, once with HTTP
 * Basic and once with HS256 JWTs, on the parts a customer reaches less often:
 * DevicesApi (a Web Messenger browser is a device of its user's `sdk` client),
 * ClientsApi.removeClient (refused for `sdk` clients, done for a channel
 * client, which raises `client:remove`), AttachmentsApi (uploads tied to a
 * conversation go with it; deleteAttachment), the `user:update` webhook raised
 * by UsersApi.updateUser, and `includeFullSource` webhooks, which add the
 * sending browser's client and device to a message's `source`.
 *
 * The browser is played from Node through the widget's own routes
 * (`/sdk/v2/apps/{appId}/...`) with an Origin the web integration whitelists;
 * the Telegram client comes from the Telegram fake served on loopback, and
 * webhooks go to local receivers. Where a model drops fields, the raw
 * `response.body` of the `...WithHttpInfo` call is checked as well.
 */
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Sunco from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serveFake } from '../fakes/serve';
import { TelegramFake } from '../fakes/telegram';
import { Receiver, waitFor } from './receiver';
import { apiClient, apis, expectApiError, expectEmptyOk, ISO_MS, OBJECT_ID, unique, type Apis, type AuthMode } from './sunco';

const url = inject('parleyUrl');
const accountKey = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };

/** The site the widget is embedded in: whitelisted on the web integration, sent as Origin, never contacted. */
const SHOP = 'https://shop.example.com';
const CHROME_ON_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const SDK_VERSION = '3.14.1';
const NO_SUCH_ID = '0123456789abcdef01234567';

const idsOf = (list: { id: string }[]) => list.map((x) => x.id);

let files = '';
beforeAll(() => {
  files = mkdtempSync(path.join(tmpdir(), 'parley-compat-reach-'));
});
afterAll(() => rmSync(files, { recursive: true, force: true }));

/** A file on disk as the client uploads it (an fs.ReadStream; superagent names the part after the file). */
function fileStream(name: string, text: string) {
  const file = path.join(files, `${unique('f')}-${name}`);
  writeFileSync(file, text);
  return createReadStream(file);
}

/** Polls an async probe until it holds; throws with the last value seen after the timeout. */
async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const statusOf = async (mediaUrl: string) => (await fetch(mediaUrl)).status;

describe.each<AuthMode>(['basic', 'jwt'])('sunshine-conversations-client reaches devices, client removal, attachments and user webhooks with %s auth', (auth) => {
  const account = apis(apiClient(url, auth, accountKey));
  /** Gets every event of a custom integration's plain webhook (no includeFullSource). */
  const plain = new Receiver();
  let app!: Apis;
  let appId = '';
  let webId = '';
  let customId = '';

  beforeAll(async () => {
    await plain.listen();
    const { app: created } = await account.apps.createApp(new Sunco.AppCreateBody(unique(`compat-reach-${auth}`)));
    appId = created.id;
    const { key } = await account.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('compat reach suite'));
    app = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));

    const web = await app.integrations.createIntegrationWithHttpInfo(appId, Object.assign(new Sunco.Web('web'), { displayName: 'Shop', originWhitelist: [SHOP] }));
    expect(web.response.status).toBe(201);
    webId = web.response.body.integration.id;

    // WebhookCreateBody's constructor drops its arguments (a generator quirk of the client), so the fields are assigned.
    const hook = Object.assign(new Sunco.WebhookCreateBody(), { target: plain.url, triggers: ['conversation:message', 'user:update', 'client:remove'] });
    const custom = await app.integrations.createIntegrationWithHttpInfo(appId, new Sunco.Custom('custom', [hook]));
    expect(custom.response.status).toBe(201);
    customId = custom.response.body.integration.id;
  });
  afterAll(() => plain.close());

  // ---- fixtures -------------------------------------------------------------

  async function createUser(extra: Record<string, unknown> = {}) {
    const { user } = await app.users.createUser(appId, Object.assign(new Sunco.UserCreateBody(unique('reach-user')), extra));
    return user as { id: string; externalId: string };
  }

  /** A call from the browser: the widget's routes, from the shop's page, with the session token once there is one. */
  async function browser(method: string, route: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: { origin: SHOP, 'user-agent': CHROME_ON_MAC, 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** A visitor opens the widget: a new anonymous user with an `sdk` client, the browser (`guid`) its device. */
  async function openWidget(guid = unique('guid')) {
    const device = { guid, sdkVersion: SDK_VERSION, currentUrl: `${SHOP}/checkout`, browserLanguage: 'fr-CA' };
    const res = await browser('POST', `/sdk/v2/apps/${appId}/sessions`, { integrationId: webId, device });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return {
      guid,
      device,
      token: res.body.session.token as string,
      userId: res.body.user.id as string,
      clientId: res.body.client.id as string,
      conversationId: res.body.conversation.id as string,
    };
  }
  type Visitor = Awaited<ReturnType<typeof openWidget>>;

  /** The device a visitor's browser became, as the API lists it (raw JSON). */
  async function deviceOf(visitor: Visitor) {
    const { response } = await app.devices.listDevicesWithHttpInfo(appId, visitor.userId);
    const device = response.body.devices.find((d: { guid: string }) => d.guid === visitor.guid);
    expect(device, `a device with guid ${visitor.guid}`).toBeDefined();
    return device as { id: string; guid: string; [field: string]: unknown };
  }

  // ---- DevicesApi -------------------------------------------------------------

  describe('DevicesApi', () => {
    it("listDevices and getDevice show a Web Messenger browser as a device of its user's sdk client", async () => {
      const visitor = await openWidget();

      const listed = await app.devices.listDevicesWithHttpInfo(appId, visitor.userId);
      expect(listed.response.status).toBe(200);
      expect(listed.data).toBeInstanceOf(Sunco.DeviceListResponse);
      const raw = listed.response.body.devices;
      expect(raw).toEqual([
        {
          id: expect.stringMatching(OBJECT_ID),
          guid: visitor.guid,
          clientId: visitor.clientId,
          integrationId: webId,
          status: 'active',
          type: 'web',
          lastSeen: expect.stringMatching(ISO_MS),
          appVersion: SDK_VERSION,
          info: expect.objectContaining({ sdkVersion: SDK_VERSION, currentUrl: `${SHOP}/checkout`, browserLanguage: 'fr-CA', browser: 'Chrome 124', os: 'macOS' }),
        },
      ]);
      expect(Math.abs(Date.parse(raw[0].lastSeen) - Date.now())).toBeLessThan(60_000);
      // The client's Device model keeps every field Parley sends.
      const model = listed.data.devices[0];
      expect(model).toBeInstanceOf(Sunco.Device);
      expect({ ...model }).toEqual(raw[0]);

      // The device belongs to the user's sdk client, which listClients shows.
      const { clients } = await app.clients.listClients(appId, visitor.userId);
      expect(clients).toHaveLength(1);
      expect(clients[0]).toBeInstanceOf(Sunco.Client);
      expect(clients[0]).toMatchObject({ id: visitor.clientId, type: 'sdk', integrationId: webId, status: 'active' });

      const got = await app.devices.getDeviceWithHttpInfo(appId, visitor.userId, raw[0].id);
      expect(got.response.status).toBe(200);
      expect(got.data).toBeInstanceOf(Sunco.DeviceResponse);
      expect(got.data.device).toBeInstanceOf(Sunco.Device);
      expect(got.response.body.device).toEqual(raw[0]);
    });

    it("getDevice of another user's device answers 404 device_not_found; a user without a browser has no devices; a missing user is 404 user_not_found", async () => {
      const mine = await openWidget();
      const theirs = await openWidget();
      const theirDevice = await deviceOf(theirs);
      expect((await app.devices.getDevice(appId, theirs.userId, theirDevice.id)).device.guid).toBe(theirs.guid);

      await expectApiError(app.devices.getDevice(appId, mine.userId, theirDevice.id), 404, 'device_not_found');
      await expectApiError(app.devices.getDevice(appId, mine.userId, NO_SUCH_ID), 404, 'device_not_found');

      const apiOnly = await createUser();
      const none = await app.devices.listDevicesWithHttpInfo(appId, apiOnly.externalId);
      expect(none.response.body).toEqual({ devices: [] });

      await expectApiError(app.devices.listDevices(appId, 'no-such-user'), 404, 'user_not_found');
      await expectApiError(app.devices.getDevice(appId, 'no-such-user', theirDevice.id), 404, 'user_not_found');
    });
  });

  // ---- ClientsApi.removeClient --------------------------------------------------

  describe('ClientsApi.removeClient', () => {
    it("refuses an sdk client (400 naming clientId), and answers 404 client_not_found for an unknown client or another user's", async () => {
      const visitor = await openWidget();
      const refused = await expectApiError(app.clients.removeClient(appId, visitor.userId, visitor.clientId), 400, 'bad_request');
      expect(refused.body.errors[0].title).toContain('clientId');
      expect(idsOf((await app.clients.listClients(appId, visitor.userId)).clients)).toEqual([visitor.clientId]);
      expect((await deviceOf(visitor)).clientId).toBe(visitor.clientId);

      await expectApiError(app.clients.removeClient(appId, visitor.userId, NO_SUCH_ID), 404, 'client_not_found');
      const stranger = await createUser();
      await expectApiError(app.clients.removeClient(appId, stranger.id, visitor.clientId), 404, 'client_not_found');
      await expectApiError(app.clients.removeClient(appId, 'no-such-user', visitor.clientId), 404, 'user_not_found');
    });

    it('removes a Telegram client: answers {}, listClients drops it and the webhook gets client:remove with reason api', async () => {
      const botId = auth === 'basic' ? 700000001 : 700000002;
      const telegram = new TelegramFake({ token: `${botId}:AAHcompatReachFakeToken_${auth}_0123456789` });
      const served = await serveFake(telegram);
      try {
        const created = await app.integrations.createIntegrationWithHttpInfo(appId, { type: 'telegram', token: telegram.token, apiBaseUrl: served.url });
        expect(created.response.status, JSON.stringify(created.response.body)).toBe(201);
        const integrationId = created.response.body.integration.id as string;
        const webhookUrl = created.response.body.integration.webhookUrl as string;

        const text = unique('hello from telegram');
        const hook = await fetch(telegram.text(webhookUrl, { id: botId + 1000, first_name: 'Tess' }, text));
        expect(hook.status, await hook.clone().text()).toBe(200);
        const said = await waitFor('the Telegram message', () => plain.events().find((e) => e.type === 'conversation:message' && e.payload.message?.content?.text === text));
        const userId = said.payload.message.author.userId as string;

        const before = await app.clients.listClients(appId, userId);
        const client = before.clients.find((c: { type: string }) => c.type === 'telegram');
        expect(client).toBeInstanceOf(Sunco.Client);
        expect(client).toMatchObject({ type: 'telegram', integrationId, status: 'active' });

        expectEmptyOk(await app.clients.removeClientWithHttpInfo(appId, userId, client.id));
        expect(idsOf((await app.clients.listClients(appId, userId)).clients)).not.toContain(client.id);
        const removed = await waitFor('client:remove', () => plain.events().find((e) => e.type === 'client:remove' && e.payload.client?.id === client.id));
        expect(removed.payload).toMatchObject({ reason: 'api', user: { id: userId }, client: { id: client.id, type: 'telegram', integrationId } });
        await expectApiError(app.clients.removeClient(appId, userId, client.id), 404, 'client_not_found');
      } finally {
        await served.close();
      }
    });
  });

  // ---- AttachmentsApi ------------------------------------------------------------

  describe('AttachmentsApi', () => {
    it('uploadAttachment for=message with conversationId ties the file to the conversation: deleting it deletes the file, an untied upload stays', async () => {
      const user = await createUser();
      const { conversation } = await app.conversations.createConversation(appId, Object.assign(new Sunco.ConversationCreateBody('sdkGroup'), { participants: [{ userId: user.id }] }));

      const tied = await app.attachments.uploadAttachmentWithHttpInfo(appId, 'public', fileStream('receipt.pdf', '%PDF-1.4 tied'), { _for: 'message', conversationId: conversation.id });
      expect(tied.response.status).toBe(201);
      expect(tied.data).toBeInstanceOf(Sunco.AttachmentResponse);
      const tiedUrl = tied.response.body.attachment.mediaUrl as string;
      expect(tied.response.body.attachment).toMatchObject({ mediaType: 'application/pdf', mediaUrl: expect.stringMatching(new RegExp(`^${url}/attachments/${appId}/[0-9a-f]{24}/`)) });
      expect(tied.data.attachment.mediaUrl).toBe(tiedUrl);
      const loose = await app.attachments.uploadAttachment(appId, 'public', fileStream('loose.pdf', '%PDF-1.4 loose'));
      const looseUrl = loose.attachment.mediaUrl as string;

      const served = await fetch(tiedUrl);
      expect(served.status).toBe(200);
      expect(await served.text()).toBe('%PDF-1.4 tied');

      expectEmptyOk(await app.conversations.deleteConversationWithHttpInfo(appId, conversation.id));
      await eventually('the tied file to go', () => statusOf(tiedUrl), (status) => status === 404);
      expect(await statusOf(looseUrl), 'an upload not tied to the conversation stays').toBe(200);
    });

    it('uploadAttachment for=message without conversationId answers 400', async () => {
      const err = await expectApiError(app.attachments.uploadAttachment(appId, 'public', fileStream('orphan.txt', 'no conversation'), { _for: 'message' }), 400, 'bad_request');
      expect(err.body.errors[0].title).toContain('conversationId');
    });

    it("deleteAttachment deletes a file; a URL on another host answers 400, an unknown one 404 attachment_not_found", async () => {
      const { attachment } = await app.attachments.uploadAttachment(appId, 'public', fileStream('doomed.txt', 'soon gone'));
      const kept = (await app.attachments.uploadAttachment(appId, 'public', fileStream('kept.txt', 'stays'))).attachment.mediaUrl as string;
      expect(await statusOf(attachment.mediaUrl)).toBe(200);

      expectEmptyOk(await app.attachments.deleteAttachmentWithHttpInfo(appId, new Sunco.AttachmentDeleteBody(attachment.mediaUrl)));
      expect(await statusOf(attachment.mediaUrl)).toBe(404);
      await expectApiError(app.attachments.deleteAttachment(appId, new Sunco.AttachmentDeleteBody(attachment.mediaUrl)), 404, 'attachment_not_found');

      // The same path on another host is not this Parley's file, even though a file lives at that path here.
      const elsewhere = `https://files.example.org${new URL(kept).pathname}`;
      await expectApiError(app.attachments.deleteAttachment(appId, new Sunco.AttachmentDeleteBody(elsewhere)), 400, 'bad_request');
      expect(await statusOf(kept)).toBe(200);

      const unknown = `${new URL(kept).origin}/attachments/${appId}/${NO_SUCH_ID}/nothing.txt`;
      await expectApiError(app.attachments.deleteAttachment(appId, new Sunco.AttachmentDeleteBody(unknown)), 404, 'attachment_not_found');
    });
  });

  // ---- UsersApi.updateUser → user:update --------------------------------------------

  describe('UsersApi.updateUser', () => {
    it('raises user:update carrying the updated profile and metadata, with no reason', async () => {
      const user = await createUser({ profile: { givenName: 'Ada' }, metadata: { tier: 'free' } });
      const body = Object.assign(new Sunco.UserUpdateBody(), { profile: { surname: 'Lovelace', email: 'ada@example.org' }, metadata: { tier: 'pro', seats: 3 } });
      const info = await app.users.updateUserWithHttpInfo(appId, user.externalId, body);
      expect(info.response.status).toBe(200);

      const event = await waitFor('user:update', () => plain.events().find((e) => e.type === 'user:update' && e.payload.user?.id === user.id));
      expect(event.payload.user).toMatchObject({
        id: user.id,
        externalId: user.externalId,
        profile: { givenName: 'Ada', surname: 'Lovelace', email: 'ada@example.org' },
        metadata: { tier: 'pro', seats: 3 },
      });
      expect(event.payload.user.profile).toEqual(info.response.body.user.profile);
      expect(event.payload.user.metadata).toEqual({ tier: 'pro', seats: 3 });
      expect(event.payload, 'a change made through the API names no reason').not.toHaveProperty('reason');
    });
  });

  // ---- includeFullSource --------------------------------------------------------------

  describe('a webhook with includeFullSource', () => {
    const full = new Receiver();
    beforeAll(() => full.listen());
    afterAll(() => full.close());

    it("gets a Web Messenger user's message with source.client (the session's sdk client) and source.device (the browser)", async () => {
      const body = Object.assign(new Sunco.WebhookCreateBody(), { target: full.url, triggers: ['conversation:message'], includeFullSource: true });
      const created = await app.webhooks.createWebhookWithHttpInfo(appId, customId, body);
      expect(created.response.status).toBe(201);
      expect(created.response.body.webhook).toMatchObject({ target: full.url, triggers: ['conversation:message'], includeFullSource: true });
      expect(created.data.webhook).toBeInstanceOf(Sunco.Webhook);
      expect(created.data.webhook.includeFullSource).toBe(true);

      const visitor = await openWidget();
      const device = await deviceOf(visitor);
      const text = unique('hello from the browser');
      const posted = await browser('POST', `/sdk/v2/apps/${appId}/conversations/${visitor.conversationId}/messages`, { content: { type: 'text', text } }, visitor.token);
      expect(posted.status, JSON.stringify(posted.body)).toBe(201);

      const event = await waitFor('the message with its full source', () => full.events().find((e) => e.payload.message?.content?.text === text));
      const source = event.payload.message.source;
      expect(event.payload.message.author).toMatchObject({ type: 'user', userId: visitor.userId });
      expect(source).toMatchObject({ type: 'web', integrationId: webId });
      expect(source.client).toMatchObject({ id: visitor.clientId, type: 'sdk', integrationId: webId, status: 'active' });
      expect(source.device).toMatchObject({ id: device.id, guid: visitor.guid, clientId: visitor.clientId, integrationId: webId, status: 'active' });
      // The client's Source model reads both as its own models.
      const model = Sunco.Source.constructFromObject(source);
      expect(model.client).toBeInstanceOf(Sunco.Client);
      expect(model.client.id).toBe(visitor.clientId);
      expect(model.device).toBeInstanceOf(Sunco.Device);
      expect(model.device.guid).toBe(visitor.guid);

      // The same message to the webhook that did not ask for the full source carries neither.
      const bare = await waitFor('the message without its full source', () => plain.events().find((e) => e.payload.message?.content?.text === text));
      expect(bare.payload.message.source).toMatchObject({ type: 'web', integrationId: webId });
      expect(bare.payload.message.source).not.toHaveProperty('client');
      expect(bare.payload.message.source).not.toHaveProperty('device');
    });
  });
});
