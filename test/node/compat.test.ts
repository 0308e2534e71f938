/**
 * Compatibility suite: drives a locally started Parley through the official
 * `sunshine-conversations-client@14`, once with HTTP Basic credentials and once
 * with HS256 JWTs, and checks what a customer's code would see: the client's
 * own model classes carrying the values that were sent, the pagination
 * envelope, and errors surfaced as `{status, body: {errors:[{code,title}]}}`.
 * Where a model drops a field (e.g. message `seq`, `user.toBeRetained`), the
 * `...WithHttpInfo` variant is used to assert on the raw JSON as well.
 */
import Sunco from 'sunshine-conversations-client';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { apiClient, apis, expectApiError, expectEmptyOk, ISO_MS, OBJECT_ID, signJwt, unique, type Apis, type AuthMode } from './sunco';

const url = inject('parleyUrl');
const accountKey = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };

/** The app settings the contract documents as defaults on create. */
const DEFAULT_SETTINGS = {
  appLocalizationEnabled: true,
  echoPostback: false,
  maskCreditCardNumbers: true,
  multiConvoEnabled: false,
  useAnimalNames: false,
};

const textContent = (text: string) => Object.assign(new Sunco.TextMessage('text'), { text });
const businessAuthor = () => new Sunco.Author('business');
const idsOf = (list: { id: string }[]) => list.map((x) => x.id);
const linkParam = (link: string, name: string) => new URL(link).searchParams.get(name);

describe.each<AuthMode>(['basic', 'jwt'])('sunshine-conversations-client against Parley with %s auth', (auth) => {
  const account = apis(apiClient(url, auth, accountKey));
  let app!: Apis;
  let appId!: string;

  beforeAll(async () => {
    const { app: created } = await account.apps.createApp(new Sunco.AppCreateBody(unique(`compat-${auth}`)));
    appId = created.id;
    const { key } = await account.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('compat suite'));
    app = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));
  });

  // ---- fixtures, all created through the client with the app key ----------

  async function createUser(extra: Record<string, unknown> = {}) {
    const { user } = await app.users.createUser(appId, Object.assign(new Sunco.UserCreateBody(unique('user')), extra));
    return user as { id: string; externalId: string };
  }

  async function createConversation(body: Record<string, unknown>) {
    const { conversation } = await app.conversations.createConversation(appId, body);
    return conversation as { id: string; [field: string]: unknown };
  }

  async function personalConversation() {
    const user = await createUser();
    const conversation = await createConversation({ type: 'personal', participants: [{ userId: user.id }] });
    return { user, conversation };
  }

  function post(conversationId: string, content: object, extra: Record<string, unknown> = {}, author: object = businessAuthor()) {
    return app.messages.postMessageWithHttpInfo(appId, conversationId, Object.assign(new Sunco.MessagePost(author, content), extra));
  }

  /** Posts, checks the 201 envelope, and reads the same message back through listMessages. */
  async function roundTrip(content: object, extra: Record<string, unknown> = {}) {
    const { conversation } = await personalConversation();
    const info = await post(conversation.id, content, extra);
    expect(info.response.status).toBe(201);
    expect(info.data).toBeInstanceOf(Sunco.MessagePostResponse);
    expect(info.data.messages).toHaveLength(1);
    const message = info.data.messages[0];
    expect(message).toBeInstanceOf(Sunco.Message);
    expect(message.content).toBeInstanceOf(Sunco.Content);
    const raw = info.response.body.messages[0];
    const listed = await app.messages.listMessagesWithHttpInfo(appId, conversation.id);
    const listedRaw = listed.response.body.messages.find((m: { id: string }) => m.id === message.id);
    expect(listedRaw, 'the posted message is listed with the same content').toEqual(raw);
    return { message, raw };
  }

  /** Every app id the account sees, walking listApps forward with page[after]. */
  async function allAppIds(): Promise<string[]> {
    const ids: string[] = [];
    let page = await account.apps.listApps();
    ids.push(...idsOf(page.apps));
    for (let guard = 0; page.meta.hasMore && guard < 50; guard++) {
      page = await account.apps.listApps({ page: { after: page.meta.afterCursor } });
      ids.push(...idsOf(page.apps));
    }
    return ids;
  }

  // ---- AppsApi ------------------------------------------------------------

  describe('AppsApi', () => {
    it('createApp returns the app with every setting and the metadata it was given', async () => {
      const settings = {
        conversationRetentionSeconds: 3600,
        maskCreditCardNumbers: false,
        useAnimalNames: true,
        echoPostback: true,
        ignoreAutoConversationStart: true,
        multiConvoEnabled: true,
        appLocalizationEnabled: false,
      };
      const metadata = { plan: 'gold', seats: 3, beta: true };
      const info = await account.apps.createAppWithHttpInfo(Object.assign(new Sunco.AppCreateBody('Settings app'), { settings, metadata }));
      expect(info.response.status).toBe(201);
      expect(info.data).toBeInstanceOf(Sunco.AppResponse);
      const created = info.data.app;
      expect(created).toBeInstanceOf(Sunco.App);
      expect(created.settings).toBeInstanceOf(Sunco.AppSettings);
      expect(created.id).toMatch(OBJECT_ID);
      expect(created.displayName).toBe('Settings app');
      expect(created.settings).toEqual(settings);
      expect(created.metadata).toEqual(metadata);

      const fetched = await account.apps.getApp(created.id);
      expect(fetched.app.settings).toEqual(settings);
      expect(fetched.app.metadata).toEqual(metadata);
    });

    it('createApp applies the documented default settings', async () => {
      const { app: created } = await account.apps.createApp(new Sunco.AppCreateBody('Defaults app'));
      expect(created.settings).toBeInstanceOf(Sunco.AppSettings);
      expect(created.settings).toMatchObject(DEFAULT_SETTINGS);
    });

    it('getApp with the app key returns its own app', async () => {
      const res = await app.apps.getApp(appId);
      expect(res).toBeInstanceOf(Sunco.AppResponse);
      expect(res.app).toBeInstanceOf(Sunco.App);
      expect(res.app.id).toBe(appId);
      expect(res.app.displayName).toMatch(new RegExp(`^compat-${auth}-`));
      expect(res.app.settings).toMatchObject(DEFAULT_SETTINGS);
    });

    it('updateApp with the app key changes displayName, metadata and the given settings, keeping the others', async () => {
      const { app: created } = await account.apps.createApp(Object.assign(new Sunco.AppCreateBody('Before'), { metadata: { tier: 'free' } }));
      const { key } = await account.appKeys.createAppKey(created.id, new Sunco.AppKeyCreateBody('updater'));
      const own = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));

      const body = Object.assign(new Sunco.AppUpdateBody(), {
        displayName: 'After',
        settings: { useAnimalNames: true, echoPostback: true, conversationRetentionSeconds: 86400 },
        metadata: { tier: 'pro', seats: 10 },
      });
      const res = await own.apps.updateApp(created.id, body);
      expect(res).toBeInstanceOf(Sunco.AppResponse);
      expect(res.app.displayName).toBe('After');
      expect(res.app.metadata).toEqual({ tier: 'pro', seats: 10 });
      expect(res.app.settings).toMatchObject({
        ...DEFAULT_SETTINGS,
        useAnimalNames: true,
        echoPostback: true,
        conversationRetentionSeconds: 86400,
      });
      expect((await own.apps.getApp(created.id)).app).toEqual(res.app);
    });

    it('updateApp refuses to turn multiConvoEnabled off once it is on', async () => {
      const { app: created } = await account.apps.createApp(Object.assign(new Sunco.AppCreateBody('Multi'), { settings: { multiConvoEnabled: true } }));
      await expectApiError(account.apps.updateApp(created.id, { settings: { multiConvoEnabled: false } }), 400, 'bad_request');
      expect((await account.apps.getApp(created.id)).app.settings.multiConvoEnabled).toBe(true);
    });

    it('listApps pages with page[size], page[after] and page[before], with meta and absolute links', async () => {
      const { app: other } = await account.apps.createApp(new Sunco.AppCreateBody(unique('listed')));

      const first = await account.apps.listApps({ page: { size: 1 } });
      expect(first).toBeInstanceOf(Sunco.AppListResponse);
      expect(first.meta).toBeInstanceOf(Sunco.Meta);
      expect(first.links).toBeInstanceOf(Sunco.Links);
      expect(first.apps).toHaveLength(1);
      expect(first.apps[0]).toBeInstanceOf(Sunco.App);
      expect(first.meta.hasMore).toBe(true);
      expect(first.meta.afterCursor).toBe(first.apps[0].id);
      expect(first.meta.beforeCursor).toBeUndefined();
      expect(first.links.prev).toBeUndefined();
      expect(new URL(first.links.next).origin).toBe(new URL(url).origin);
      expect(new URL(first.links.next).pathname).toBe('/v2/apps');
      expect(linkParam(first.links.next, 'page[after]')).toBe(first.apps[0].id);

      const seen: string[] = idsOf(first.apps);
      let page = first;
      for (let guard = 0; page.meta.hasMore && guard < 50; guard++) {
        page = await account.apps.listApps({ page: { after: page.meta.afterCursor } });
        expect(page.meta.beforeCursor).toBe(page.apps[0].id);
        seen.push(...idsOf(page.apps));
      }
      expect(page.meta.hasMore).toBe(false);
      expect(page.links.next).toBeUndefined();
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining([appId, other.id]));

      const lastId = seen[seen.length - 1]!;
      const back = await account.apps.listApps({ page: { before: lastId } });
      expect(back.apps.length).toBeGreaterThan(0);
      expect(idsOf(back.apps)).toEqual(seen.slice(-1 - back.apps.length, -1));
      expect(back.meta.afterCursor).toBe(back.apps[back.apps.length - 1].id);
      expect(linkParam(back.links.next, 'page[after]')).toBe(back.meta.afterCursor);
    });

    it('deleteApp removes the app: getApp answers 404 app_not_found and its keys stop authenticating', async () => {
      const { app: doomed } = await account.apps.createApp(new Sunco.AppCreateBody('Doomed'));
      const { key } = await account.appKeys.createAppKey(doomed.id, new Sunco.AppKeyCreateBody('doomed key'));
      const own = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));
      expect((await own.apps.getApp(doomed.id)).app.id).toBe(doomed.id);

      expect(await allAppIds()).toContain(doomed.id);

      expectEmptyOk(await account.apps.deleteAppWithHttpInfo(doomed.id));
      await expectApiError(account.apps.getApp(doomed.id), 404, 'app_not_found');
      await expectApiError(own.apps.getApp(doomed.id), 401, 'unauthorized');
      expect(await allAppIds()).not.toContain(doomed.id);
    });

    it("an app key cannot reach another app's data", async () => {
      const { app: other } = await account.apps.createApp(new Sunco.AppCreateBody('Other tenant'));
      const { user: theirs } = await account.users.createUser(other.id, new Sunco.UserCreateBody(unique('theirs')));
      const calls = [() => app.apps.getApp(other.id), () => app.users.getUser(other.id, theirs.id), () => app.users.createUser(other.id, new Sunco.UserCreateBody(unique('intruder')))];
      for (const call of calls) {
        const status = await call().then(
          () => 200,
          (err: Sunco.ApiError) => err.status,
        );
        expect([401, 403, 404], 'refused without revealing the other app').toContain(status);
      }
      await expectApiError(app.users.getUser(appId, theirs.id), 404, 'user_not_found');
    });

    it('an app key cannot create, list or delete apps (403 forbidden)', async () => {
      await expectApiError(app.apps.createApp(new Sunco.AppCreateBody('Not allowed')), 403, 'forbidden');
      await expectApiError(app.apps.listApps(), 403, 'forbidden');
      await expectApiError(app.apps.deleteApp(appId), 403, 'forbidden');
      expect((await account.apps.getApp(appId)).app.id).toBe(appId);
    });
  });

  // ---- AppKeysApi ---------------------------------------------------------

  describe('AppKeysApi', () => {
    it('createAppKey returns the id and the secret; getAppKey and listAppKeys never show the secret again', async () => {
      const info = await account.appKeys.createAppKeyWithHttpInfo(appId, new Sunco.AppKeyCreateBody('Key for getAppKey'));
      expect(info.response.status).toBe(201);
      expect(info.data).toBeInstanceOf(Sunco.AppKeyResponse);
      const key = info.data.key;
      expect(key).toBeInstanceOf(Sunco.AppKey);
      expect(key.id).toMatch(/^app_[0-9a-f]{24}$/);
      expect(key.displayName).toBe('Key for getAppKey');
      expect(key.secret).toEqual(expect.any(String));
      expect(key.secret.length).toBeGreaterThanOrEqual(24);

      const got = await account.appKeys.getAppKey(appId, key.id);
      expect(got).toBeInstanceOf(Sunco.AppKeyResponse);
      expect(got.key).toBeInstanceOf(Sunco.AppKey);
      expect(got.key.id).toBe(key.id);
      expect(got.key.displayName).toBe('Key for getAppKey');
      expect(got.key.secret).toBeUndefined();

      const list = await account.appKeys.listAppKeys(appId);
      expect(list).toBeInstanceOf(Sunco.AppKeyListResponse);
      const listed = list.keys.find((k: { id: string }) => k.id === key.id);
      expect(listed).toBeInstanceOf(Sunco.AppKey);
      expect(listed.displayName).toBe('Key for getAppKey');
      for (const k of list.keys) expect(k.secret).toBeUndefined();
    });

    it('a created key authenticates as its app', async () => {
      const { key } = await account.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('Fresh key'));
      const own = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));
      expect((await own.apps.getApp(appId)).app.id).toBe(appId);
    });

    it('deleteAppKey revokes the key: getAppKey answers 404 and the key no longer authenticates', async () => {
      const { key } = await account.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('Short-lived key'));
      const own = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));
      expect((await own.apps.getApp(appId)).app.id).toBe(appId);

      expectEmptyOk(await account.appKeys.deleteAppKeyWithHttpInfo(appId, key.id));
      await expectApiError(account.appKeys.getAppKey(appId, key.id), 404, 'key_not_found');
      expect(idsOf((await account.appKeys.listAppKeys(appId)).keys)).not.toContain(key.id);
      await expectApiError(own.apps.getApp(appId), 401, 'unauthorized');
    });

    it('an app key cannot manage app keys (403 forbidden)', async () => {
      await expectApiError(app.appKeys.listAppKeys(appId), 403, 'forbidden');
      await expectApiError(app.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('Not allowed')), 403, 'forbidden');
    });
  });

  // ---- UsersApi -----------------------------------------------------------

  describe('UsersApi', () => {
    const profile = {
      givenName: 'Ada',
      surname: 'Lovelace',
      email: 'ada@example.org',
      avatarUrl: 'https://example.org/ada.png',
      locale: 'en-GB',
    };

    it('createUser stores externalId, signedUpAt, toBeRetained, profile and metadata', async () => {
      const externalId = unique('ada');
      const body = Object.assign(new Sunco.UserCreateBody(externalId), {
        signedUpAt: '2024-03-01T10:20:30.000Z',
        toBeRetained: true,
        profile,
        metadata: { plan: 'premium', visits: 7, vip: true },
      });
      const info = await app.users.createUserWithHttpInfo(appId, body);
      expect(info.response.status).toBe(201);
      expect(info.data).toBeInstanceOf(Sunco.UserResponse);
      const user = info.data.user;
      expect(user).toBeInstanceOf(Sunco.User);
      expect(user.profile).toBeInstanceOf(Sunco.Profile);
      expect(user.id).toMatch(OBJECT_ID);
      expect(user.externalId).toBe(externalId);
      expect(user.signedUpAt).toBe('2024-03-01T10:20:30.000Z');
      expect(user.profile).toEqual(profile);
      expect(user.metadata).toEqual({ plan: 'premium', visits: 7, vip: true });
      expect(user.identities).toEqual([]);
      // Not in the client's User model: checked on the wire.
      expect(info.response.body.user).toMatchObject({ toBeRetained: true, authenticated: false });
    });

    it('getUser finds the same user by id and by externalId', async () => {
      const created = await createUser({ profile: { givenName: 'Grace' } });
      const byId = await app.users.getUser(appId, created.id);
      const byExternalId = await app.users.getUser(appId, created.externalId);
      expect(byId).toBeInstanceOf(Sunco.UserResponse);
      expect(byId.user).toBeInstanceOf(Sunco.User);
      expect(byId.user.id).toBe(created.id);
      expect(byId.user.profile.givenName).toBe('Grace');
      expect(byExternalId.user).toEqual(byId.user);
    });

    it('updateUser merges profile fields, replaces metadata and sets toBeRetained', async () => {
      const created = await createUser({ profile, metadata: { old: 'value' } });
      const body = Object.assign(new Sunco.UserUpdateBody(), {
        toBeRetained: true,
        profile: { givenName: 'Augusta', email: 'augusta@example.org' },
        metadata: { fresh: 1 },
      });
      const info = await app.users.updateUserWithHttpInfo(appId, created.externalId, body);
      expect(info.data).toBeInstanceOf(Sunco.UserResponse);
      expect(info.data.user.id).toBe(created.id);
      expect(info.data.user.profile).toEqual({ ...profile, givenName: 'Augusta', email: 'augusta@example.org' });
      expect(info.data.user.metadata).toEqual({ fresh: 1 });
      expect(info.response.body.user.toBeRetained).toBe(true);

      const fetched = await app.users.getUserWithHttpInfo(appId, created.id);
      expect(fetched.data.user).toEqual(info.data.user);
      expect(fetched.response.body.user.toBeRetained).toBe(true);
    });

    it('updateUser with a null profile field clears that field only', async () => {
      const created = await createUser({ profile });
      const res = await app.users.updateUser(appId, created.id, { profile: { surname: null } });
      expect(res.user.profile.surname ?? null).toBeNull();
      expect(res.user.profile.givenName).toBe('Ada');
      expect((await app.users.getUser(appId, created.id)).user.profile.surname ?? null).toBeNull();
    });

    it('deleteUserPersonalInformation clears the profile and metadata but keeps the user', async () => {
      const created = await createUser({ profile, metadata: { secret: 'x' } });
      const res = await app.users.deleteUserPersonalInformation(appId, created.id);
      expect(res).toBeInstanceOf(Sunco.UserResponse);
      expect(res.user).toBeInstanceOf(Sunco.User);
      expect(res.user.id).toBe(created.id);
      expect(res.user.externalId).toBe(created.externalId);
      for (const field of ['givenName', 'surname', 'email', 'avatarUrl'] as const) expect(res.user.profile[field]).toBeUndefined();
      expect(res.user.metadata).toEqual({});

      const fetched = await app.users.getUser(appId, created.externalId);
      expect(fetched.user.id).toBe(created.id);
      for (const field of ['givenName', 'surname', 'email', 'avatarUrl'] as const) expect(fetched.user.profile[field]).toBeUndefined();
      expect(fetched.user.metadata).toEqual({});
    });

    it('deleteUser removes the user and its conversation history: getUser answers 404 user_not_found', async () => {
      const { user, conversation } = await personalConversation();
      await post(conversation.id, textContent('soon gone'));

      expectEmptyOk(await app.users.deleteUserWithHttpInfo(appId, user.id));
      await expectApiError(app.users.getUser(appId, user.id), 404, 'user_not_found');
      await expectApiError(app.users.getUser(appId, user.externalId), 404, 'user_not_found');
      const history = await app.messages.listMessages(appId, conversation.id).then(
        (res) => res.messages.length as number,
        (err: Sunco.ApiError) => err.status,
      );
      expect([0, 404], 'the history is gone: no messages, or no conversation').toContain(history);
    });

    it('getUser of a missing user answers 404 user_not_found', async () => {
      await expectApiError(app.users.getUser(appId, 'no-such-user'), 404, 'user_not_found');
      await expectApiError(app.users.getUser(appId, '0123456789abcdef01234567'), 404, 'user_not_found');
    });

    it('createUser with an externalId that is taken answers 409 conflict', async () => {
      const externalId = unique('twice');
      await app.users.createUser(appId, new Sunco.UserCreateBody(externalId));
      await expectApiError(app.users.createUser(appId, new Sunco.UserCreateBody(externalId)), 409, 'conflict');
    });
  });

  // ---- ClientsApi ---------------------------------------------------------

  describe('ClientsApi', () => {
    it('listClients of a fresh user is an empty page', async () => {
      const user = await createUser();
      for (const ref of [user.id, user.externalId]) {
        const res = await app.clients.listClients(appId, ref);
        expect(res).toBeInstanceOf(Sunco.ClientListResponse);
        expect(res.clients).toEqual([]);
        expect(res.meta).toBeInstanceOf(Sunco.Meta);
        expect(res.meta.hasMore).toBe(false);
        expect(res.meta.afterCursor).toBeUndefined();
        expect(res.meta.beforeCursor).toBeUndefined();
      }
    });

    it('listClients of a missing user answers 404 user_not_found', async () => {
      await expectApiError(app.clients.listClients(appId, 'no-such-user'), 404, 'user_not_found');
    });
  });

  // ---- ConversationsApi ---------------------------------------------------

  describe('ConversationsApi', () => {
    it("createConversation personal: the user's first personal conversation is the default one", async () => {
      const user = await createUser();
      const body = Object.assign(new Sunco.ConversationCreateBody('personal'), {
        participants: [{ userId: user.id }],
        displayName: 'Support',
        description: 'Help with orders',
        iconUrl: 'https://example.org/icon.png',
        metadata: { lang: 'en', priority: 2 },
      });
      const info = await app.conversations.createConversationWithHttpInfo(appId, body);
      expect(info.response.status).toBe(201);
      expect(info.data).toBeInstanceOf(Sunco.ConversationResponse);
      const conversation = info.data.conversation;
      expect(conversation).toBeInstanceOf(Sunco.Conversation);
      expect(conversation).toMatchObject({
        type: 'personal',
        isDefault: true,
        displayName: 'Support',
        description: 'Help with orders',
        iconUrl: 'https://example.org/icon.png',
        metadata: { lang: 'en', priority: 2 },
      });
      expect(conversation.id).toMatch(OBJECT_ID);
      expect(conversation.createdAt).toMatch(ISO_MS);
      expect(conversation.lastUpdatedAt).toBe(conversation.createdAt);
      expect(conversation.businessLastRead ?? null).toBeNull();

      const second = await createConversation({ type: 'personal', participants: [{ userExternalId: user.externalId }] });
      expect(second.type).toBe('personal');
      expect(second.isDefault).toBe(false);
    });

    it('createConversation sdkGroup takes participants by userId and by userExternalId', async () => {
      const [a, b] = [await createUser(), await createUser()];
      const body = Object.assign(new Sunco.ConversationCreateBody('sdkGroup'), {
        participants: [{ userId: a.id }, { userExternalId: b.externalId }],
        displayName: 'Team',
      });
      const { conversation } = await app.conversations.createConversation(appId, body);
      expect(conversation).toBeInstanceOf(Sunco.Conversation);
      expect(conversation).toMatchObject({ type: 'sdkGroup', isDefault: false, displayName: 'Team' });

      const { participants } = await app.participants.listParticipants(appId, conversation.id);
      expect(participants.map((p: { userId: string }) => p.userId).sort()).toEqual([a.id, b.id].sort());
      expect(participants.find((p: { userId: string }) => p.userId === b.id).userExternalId).toBe(b.externalId);
    });

    it('getConversation returns the conversation as created', async () => {
      const user = await createUser();
      const created = await createConversation({ type: 'sdkGroup', participants: [{ userId: user.id }], displayName: 'Lookup', metadata: { k: 'v' } });
      const res = await app.conversations.getConversation(appId, created.id);
      expect(res).toBeInstanceOf(Sunco.ConversationResponse);
      expect(res.conversation).toBeInstanceOf(Sunco.Conversation);
      expect(res.conversation).toEqual(created);
    });

    it('updateConversation changes displayName, description, iconUrl and metadata', async () => {
      const { user, conversation } = await personalConversation();
      const body = Object.assign(new Sunco.ConversationUpdateBody(), {
        displayName: 'Renamed',
        description: 'New description',
        iconUrl: 'https://example.org/new.png',
        metadata: { stage: 'billing' },
      });
      const res = await app.conversations.updateConversation(appId, conversation.id, body);
      expect(res).toBeInstanceOf(Sunco.ConversationResponse);
      expect(res.conversation).toMatchObject({ id: conversation.id, type: 'personal', isDefault: true, ...body });

      expect((await app.conversations.getConversation(appId, conversation.id)).conversation).toMatchObject(body);
      const listed = (await app.conversations.listConversations(appId, { userId: user.id })).conversations;
      expect(listed.find((c: { id: string }) => c.id === conversation.id)).toMatchObject(body);

      const cleared = await app.conversations.updateConversation(appId, conversation.id, { description: null });
      expect(cleared.conversation.description ?? null).toBeNull();
      expect(cleared.conversation.displayName).toBe('Renamed');
    });

    it('deleteConversation removes a non-default conversation: getConversation answers 404 and it is no longer listed', async () => {
      const { user } = await personalConversation();
      const group = await createConversation({ type: 'sdkGroup', participants: [{ userId: user.id }] });

      expectEmptyOk(await app.conversations.deleteConversationWithHttpInfo(appId, group.id));
      await expectApiError(app.conversations.getConversation(appId, group.id), 404, 'conversation_not_found');
      expect(idsOf((await app.conversations.listConversations(appId, { userId: user.id })).conversations)).not.toContain(group.id);
    });

    it("deleteConversation refuses the user's default conversation (400)", async () => {
      const { conversation } = await personalConversation();
      await expectApiError(app.conversations.deleteConversation(appId, conversation.id), 400, 'bad_request');
      expect((await app.conversations.getConversation(appId, conversation.id)).conversation.id).toBe(conversation.id);
    });

    it('listConversations filters by userId and by userExternalId', async () => {
      const { user, conversation } = await personalConversation();
      const group = await createConversation({ type: 'sdkGroup', participants: [{ userId: user.id }] });
      await personalConversation(); // someone else's

      const byId = await app.conversations.listConversations(appId, { userId: user.id });
      expect(byId).toBeInstanceOf(Sunco.ConversationListResponse);
      expect(byId.conversations.every((c: unknown) => c instanceof Sunco.Conversation)).toBe(true);
      expect(idsOf(byId.conversations).sort()).toEqual([conversation.id, group.id].sort());
      expect(byId.meta).toBeInstanceOf(Sunco.Meta);
      expect(byId.meta.hasMore).toBe(false);

      const byExternalId = await app.conversations.listConversations(appId, { userExternalId: user.externalId });
      expect(idsOf(byExternalId.conversations).sort()).toEqual([conversation.id, group.id].sort());
    });

    it('listConversations pages with page[size], page[after] and page[before], with meta and links', async () => {
      const user = await createUser();
      const created: string[] = [];
      for (let i = 0; i < 3; i++) created.push((await createConversation({ type: 'sdkGroup', participants: [{ userId: user.id }] })).id);
      const list = (page: { size?: number; after?: string; before?: string }) => app.conversations.listConversations(appId, { userId: user.id }, { page });

      const first = await list({ size: 2 });
      expect(first.conversations).toHaveLength(2);
      expect(first.meta).toBeInstanceOf(Sunco.Meta);
      expect(first.links).toBeInstanceOf(Sunco.Links);
      expect(first.meta.hasMore).toBe(true);
      expect(first.meta.afterCursor).toBe(first.conversations[1].id);
      expect(first.meta.beforeCursor).toBeUndefined();
      expect(first.links.prev).toBeUndefined();
      expect(new URL(first.links.next).origin).toBe(new URL(url).origin);
      expect(new URL(first.links.next).pathname).toBe(`/v2/apps/${appId}/conversations`);
      expect(linkParam(first.links.next, 'page[after]')).toBe(first.meta.afterCursor);
      expect(linkParam(first.links.next, 'filter[userId]')).toBe(user.id);

      const second = await list({ after: first.meta.afterCursor });
      expect(second.conversations).toHaveLength(1);
      expect(second.meta.hasMore).toBe(false);
      expect(second.meta.afterCursor).toBeUndefined();
      expect(second.links.next).toBeUndefined();
      expect(second.meta.beforeCursor).toBe(second.conversations[0].id);
      expect(linkParam(second.links.prev, 'page[before]')).toBe(second.conversations[0].id);
      expect([...idsOf(first.conversations), ...idsOf(second.conversations)].sort()).toEqual([...created].sort());

      const back = await list({ before: second.meta.beforeCursor });
      expect(idsOf(back.conversations)).toEqual(idsOf(first.conversations));
      expect(back.meta.hasMore).toBe(false);
      expect(back.meta.beforeCursor).toBeUndefined();
      expect(back.meta.afterCursor).toBe(back.conversations[1].id);
    });

    it('listConversations shows the same lastUpdatedAt and businessLastRead as getConversation right after a message and a read', async () => {
      const { user, conversation } = await personalConversation();
      await new Promise((resolve) => setTimeout(resolve, 5)); // so the message time differs from the creation time
      await post(conversation.id, textContent('news'));
      await app.activities.postActivity(appId, conversation.id, new Sunco.ActivityPost(businessAuthor(), 'conversation:read'));

      const { conversation: got } = await app.conversations.getConversation(appId, conversation.id);
      expect(got.lastUpdatedAt).not.toBe(got.createdAt);
      expect(got.businessLastRead).toMatch(ISO_MS);
      const listed = (await app.conversations.listConversations(appId, { userId: user.id })).conversations;
      expect(listed.find((c: { id: string }) => c.id === conversation.id)).toEqual(got);
    });

    it('getConversation of a missing conversation answers 404 conversation_not_found', async () => {
      await expectApiError(app.conversations.getConversation(appId, '0123456789abcdef01234567'), 404, 'conversation_not_found');
    });
  });

  // ---- ParticipantsApi ----------------------------------------------------

  describe('ParticipantsApi', () => {
    it('joinConversation adds a user to an sdkGroup and returns the participant', async () => {
      const [owner, joiner] = [await createUser(), await createUser()];
      const group = await createConversation({ type: 'sdkGroup', participants: [{ userId: owner.id }] });

      const info = await app.participants.joinConversationWithHttpInfo(appId, group.id, Object.assign(new Sunco.ParticipantJoinBody(), { userExternalId: joiner.externalId }));
      expect(info.response.status).toBe(201);
      expect(info.data).toBeInstanceOf(Sunco.ParticipantResponse);
      const participant = info.data.participant;
      expect(participant).toBeInstanceOf(Sunco.Participant);
      expect(participant.id).toMatch(OBJECT_ID);
      expect(participant).toMatchObject({ userId: joiner.id, userExternalId: joiner.externalId, unreadCount: 0, clientAssociations: [] });
    });

    it('listParticipants lists every participant', async () => {
      const users = [await createUser(), await createUser(), await createUser()];
      const group = await createConversation({ type: 'sdkGroup', participants: users.slice(0, 2).map((u) => ({ userId: u.id })) });
      const { participant: joined } = await app.participants.joinConversation(appId, group.id, { userId: users[2]!.id });

      const res = await app.participants.listParticipants(appId, group.id);
      expect(res).toBeInstanceOf(Sunco.ParticipantListResponse);
      expect(res.participants).toHaveLength(3);
      expect(res.participants.every((p: unknown) => p instanceof Sunco.Participant)).toBe(true);
      expect(res.participants.map((p: { userId: string }) => p.userId).sort()).toEqual(idsOf(users).sort());
      expect(res.participants.find((p: { id: string }) => p.id === joined.id)).toEqual(joined);
      expect(res.meta).toBeInstanceOf(Sunco.Meta);
      expect(res.meta.hasMore).toBe(false);
    });

    it('listParticipants pages with page[size], page[after] and page[before]', async () => {
      const users = [await createUser(), await createUser(), await createUser()];
      const group = await createConversation({ type: 'sdkGroup', participants: users.map((u) => ({ userId: u.id })) });
      const list = (page?: { size?: number; after?: string; before?: string }) => app.participants.listParticipants(appId, group.id, page && { page });
      const all = idsOf((await list()).participants);
      expect(all).toHaveLength(3);

      const first = await list({ size: 1 });
      expect(idsOf(first.participants)).toEqual(all.slice(0, 1));
      expect(first.meta.hasMore).toBe(true);
      expect(first.meta.afterCursor).toBe(all[0]);
      expect(linkParam(first.links.next, 'page[after]')).toBe(all[0]);

      const rest = await list({ after: first.meta.afterCursor });
      expect(idsOf(rest.participants)).toEqual(all.slice(1));
      expect(rest.meta.hasMore).toBe(false);
      expect(rest.links.next).toBeUndefined();
      expect(rest.meta.beforeCursor).toBe(all[1]);

      const back = await list({ before: all[2] });
      expect(idsOf(back.participants)).toEqual(all.slice(0, 2));
      expect(back.meta.hasMore).toBe(false);
      expect(back.meta.afterCursor).toBe(all[1]);
    });

    it('leaveConversation removes a participant by userId, userExternalId or participantId', async () => {
      const users = [await createUser(), await createUser(), await createUser(), await createUser()];
      const group = await createConversation({ type: 'sdkGroup', participants: users.map((u) => ({ userId: u.id })) });
      const before = (await app.participants.listParticipants(appId, group.id)).participants;
      const third = before.find((p: { userId: string }) => p.userId === users[2]!.id);

      expectEmptyOk(await app.participants.leaveConversationWithHttpInfo(appId, group.id, Object.assign(new Sunco.ParticipantLeaveBody(), { userId: users[0]!.id })));
      expectEmptyOk(await app.participants.leaveConversationWithHttpInfo(appId, group.id, { userExternalId: users[1]!.externalId }));
      expectEmptyOk(await app.participants.leaveConversationWithHttpInfo(appId, group.id, { participantId: third.id }));

      const after = (await app.participants.listParticipants(appId, group.id)).participants;
      expect(after.map((p: { userId: string }) => p.userId)).toEqual([users[3]!.id]);
      const listed = (await app.conversations.listConversations(appId, { userId: users[0]!.id })).conversations;
      expect(idsOf(listed)).not.toContain(group.id);
    });

    it('joinConversation on a personal conversation answers 400', async () => {
      const { conversation } = await personalConversation();
      const other = await createUser();
      await expectApiError(app.participants.joinConversation(appId, conversation.id, { userId: other.id }), 400, 'bad_request');
    });
  });

  // ---- MessagesApi --------------------------------------------------------

  describe('MessagesApi', () => {
    it('postMessage by the business returns the stored message with author, source, received and metadata', async () => {
      const { conversation } = await personalConversation();
      const author = Object.assign(businessAuthor(), { displayName: 'Acme Support', avatarUrl: 'https://example.org/acme.png' });
      const info = await post(conversation.id, textContent('Hello from Acme'), { metadata: { ticket: 'T-1', urgent: false } }, author);
      expect(info.response.status).toBe(201);
      expect(info.data).toBeInstanceOf(Sunco.MessagePostResponse);
      const [message] = info.data.messages;
      expect(message).toBeInstanceOf(Sunco.Message);
      expect(message.author).toBeInstanceOf(Sunco.Author);
      expect(message.source).toBeInstanceOf(Sunco.Source);
      expect(message.content).toBeInstanceOf(Sunco.Content);
      expect(message.id).toMatch(OBJECT_ID);
      expect(message.received).toMatch(ISO_MS);
      expect(message.author).toEqual({ type: 'business', displayName: 'Acme Support', avatarUrl: 'https://example.org/acme.png' });
      expect(message.content).toMatchObject({ type: 'text', text: 'Hello from Acme' });
      expect(message.source.type).toBe('api:conversations');
      expect(message.metadata).toEqual({ ticket: 'T-1', urgent: false });

      const { conversation: after } = await app.conversations.getConversation(appId, conversation.id);
      expect(after.lastUpdatedAt).toBe(message.received);
    });

    it('postMessage by a user, addressed by userId or by userExternalId, is authored by that user', async () => {
      const { user, conversation } = await personalConversation();
      const byId = await post(conversation.id, textContent('by id'), {}, Object.assign(new Sunco.Author('user'), { userId: user.id }));
      const byExternalId = await post(conversation.id, textContent('by external id'), {}, Object.assign(new Sunco.Author('user'), { userExternalId: user.externalId }));
      for (const info of [byId, byExternalId]) {
        expect(info.response.status).toBe(201);
        const [message] = info.data.messages;
        expect(message.author).toBeInstanceOf(Sunco.Author);
        expect(message.author.type).toBe('user');
        expect(message.author.userId).toBe(user.id);
        expect(message.author.userExternalId, 'author.userExternalId is write-only').toBeUndefined();
      }
    });

    it('postMessage by a user who is not a participant answers 400', async () => {
      const { conversation } = await personalConversation();
      const stranger = await createUser();
      await expectApiError(
        app.messages.postMessage(appId, conversation.id, new Sunco.MessagePost(Object.assign(new Sunco.Author('user'), { userId: stranger.id }), textContent('hi'))),
        400,
        'bad_request',
      );
    });

    it('seq (a Parley addition the model drops) is strictly increasing across posted messages', async () => {
      const { user, conversation } = await personalConversation();
      const seqs: number[] = [];
      for (let i = 0; i < 6; i++) {
        const author = i % 2 ? Object.assign(new Sunco.Author('user'), { userId: user.id }) : businessAuthor();
        const info = await post(conversation.id, textContent(`seq ${i}`), {}, author);
        expect(info.data.messages[0].seq, 'the client model has no seq').toBeUndefined();
        seqs.push(info.response.body.messages[0].seq);
      }
      for (const seq of seqs) expect(Number.isInteger(seq)).toBe(true);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);

      const listed = await app.messages.listMessagesWithHttpInfo(appId, conversation.id);
      expect(listed.response.body.messages.map((m: { seq: number }) => m.seq)).toEqual(seqs);
    });

    it('text content carries every action type: link, webview with fallback, postback, reply, buy, locationRequest', async () => {
      const actions = [
        new Sunco.Link('link', 'https://example.org/docs', 'Docs'),
        Object.assign(new Sunco.Webview('webview', 'https://example.org/form', 'Open form', 'https://example.org/fallback'), { size: 'tall' }),
        new Sunco.Postback('postback', 'Talk to sales', 'SALES'),
        Object.assign(new Sunco.Reply('reply', 'Yes', 'YES'), { iconUrl: 'https://example.org/yes.png' }),
        Object.assign(new Sunco.Buy('buy', 'Buy now', 1999), { currency: 'usd' }),
        new Sunco.LocationRequest('locationRequest', 'Share location'),
      ];
      const sent = JSON.parse(JSON.stringify(actions));
      const { message, raw } = await roundTrip(Object.assign(textContent('Pick one'), { actions }));

      expect(raw.content).toEqual({ type: 'text', text: 'Pick one', actions: sent });
      expect(message.content.text).toBe('Pick one');
      expect(message.content.actions).toHaveLength(6);
      expect(message.content.actions.every((a: unknown) => a instanceof Sunco.ActionSubset)).toBe(true);
      expect(message.content.actions.map((a: { type: string }) => a.type)).toEqual(['link', 'webview', 'postback', 'reply', 'buy', 'locationRequest']);
      const [link, webview, postback, reply, buy, locationRequest] = message.content.actions;
      expect(link).toMatchObject({ text: 'Docs', uri: 'https://example.org/docs' });
      expect(webview).toMatchObject({ text: 'Open form', uri: 'https://example.org/form', fallback: 'https://example.org/fallback', size: 'tall' });
      expect(postback).toMatchObject({ text: 'Talk to sales', payload: 'SALES' });
      expect(reply).toMatchObject({ text: 'Yes', payload: 'YES' });
      expect(buy).toMatchObject({ text: 'Buy now', amount: 1999, currency: 'usd' });
      expect(locationRequest).toMatchObject({ text: 'Share location' });
    });

    it('a webview action without fallback answers 400', async () => {
      const { conversation } = await personalConversation();
      const content = Object.assign(textContent('Open'), { actions: [{ type: 'webview', text: 'Open', uri: 'https://example.org/form' }] });
      await expectApiError(app.messages.postMessage(appId, conversation.id, new Sunco.MessagePost(businessAuthor(), content)), 400, 'bad_request');
    });

    it('image content keeps mediaUrl, altText, text and actions', async () => {
      const content = Object.assign(new Sunco.ImageMessage('image', 'https://example.org/cat.jpg'), {
        altText: 'A cat',
        text: 'Look at this',
        actions: [new Sunco.Link('link', 'https://example.org/cats', 'More cats')],
      });
      const { message, raw } = await roundTrip(content);
      expect(message.content).toMatchObject({ type: 'image', mediaUrl: 'https://example.org/cat.jpg', altText: 'A cat', text: 'Look at this' });
      expect(message.content.actions[0]).toMatchObject({ type: 'link', text: 'More cats', uri: 'https://example.org/cats' });
      expect(raw.content).toMatchObject(JSON.parse(JSON.stringify(content)));
    });

    it('file content keeps mediaUrl, altText and text', async () => {
      const content = Object.assign(new Sunco.FileMessage('file', 'https://example.org/invoice.pdf'), { altText: 'Invoice', text: 'Your invoice' });
      const { message, raw } = await roundTrip(content);
      expect(message.content).toMatchObject({ type: 'file', mediaUrl: 'https://example.org/invoice.pdf', altText: 'Invoice', text: 'Your invoice' });
      expect(raw.content).toMatchObject(JSON.parse(JSON.stringify(content)));
    });

    it('carousel content keeps items with their actions and gains a read-only text fallback without postback labels', async () => {
      const tent = Object.assign(
        new Sunco.Item('Tent', [new Sunco.Link('link', 'https://example.org/tent', 'Details'), new Sunco.Postback('postback', 'Reserve tent', 'RESERVE_TENT')]),
        { description: 'Sleeps four', mediaUrl: 'https://example.org/tent.jpg', mediaType: 'image/jpeg', altText: 'A tent', size: 'large', metadata: { sku: 'T-4' } },
      );
      const stove = new Sunco.Item('Stove', [
        new Sunco.Webview('webview', 'https://example.org/stove', 'View stove', 'https://example.org/stove-fallback'),
        new Sunco.Buy('buy', 'Buy stove', 4999),
      ]);
      const content = Object.assign(new Sunco.CarouselMessage('carousel', [tent, stove]), { displaySettings: { imageAspectRatio: 'square' } });
      const { message, raw } = await roundTrip(content);

      expect(raw.content).toMatchObject(JSON.parse(JSON.stringify(content)));
      expect(message.content.type).toBe('carousel');
      expect(message.content.items).toHaveLength(2);
      expect(message.content.items.every((i: unknown) => i instanceof Sunco.Item)).toBe(true);
      expect(message.content.items[0]).toMatchObject({ title: 'Tent', description: 'Sleeps four', mediaUrl: 'https://example.org/tent.jpg', size: 'large', metadata: { sku: 'T-4' } });
      expect(message.content.items[0].actions[1]).toBeInstanceOf(Sunco.ActionSubset);
      expect(message.content.items[0].actions.map((a: { type: string }) => a.type)).toEqual(['link', 'postback']);
      expect(message.content.items[1].actions[0]).toMatchObject({ type: 'webview', fallback: 'https://example.org/stove-fallback' });
      expect(message.content.items[1].actions[1]).toMatchObject({ type: 'buy', amount: 4999 });
      expect(message.content.displaySettings.imageAspectRatio).toBe('square');
      expect(message.content.text).toEqual(expect.stringContaining('1. Tent'));
      expect(message.content.text).toEqual(expect.stringContaining('Details: https://example.org/tent'));
      expect(message.content.text).toEqual(expect.stringContaining('2. Stove'));
      expect(message.content.text).not.toContain('Reserve tent');
    });

    it('list content keeps items and list-level actions', async () => {
      const items = [
        Object.assign(new Sunco.Item('Plan A', [new Sunco.Postback('postback', 'Choose A', 'PLAN_A')]), { description: 'Basic' }),
        Object.assign(new Sunco.Item('Plan B', [new Sunco.Link('link', 'https://example.org/b', 'About B')]), { description: 'Pro' }),
      ];
      const content = Object.assign(new Sunco.ListMessage('list', items), { actions: [new Sunco.Link('link', 'https://example.org/plans', 'All plans')] });
      const { message, raw } = await roundTrip(content);

      expect(raw.content).toMatchObject(JSON.parse(JSON.stringify(content)));
      expect(message.content.type).toBe('list');
      expect(message.content.items.map((i: { title: string }) => i.title)).toEqual(['Plan A', 'Plan B']);
      expect(message.content.items[0].actions[0]).toMatchObject({ type: 'postback', text: 'Choose A', payload: 'PLAN_A' });
      expect(message.content.actions).toHaveLength(1);
      expect(message.content.actions[0]).toMatchObject({ type: 'link', text: 'All plans', uri: 'https://example.org/plans' });
      expect(message.content.text).toEqual(expect.stringContaining('Plan A'));
    });

    it('location content keeps coordinates and location and gains a read-only text fallback', async () => {
      const content = Object.assign(new Sunco.LocationMessage('location', new Sunco.LocationMessageCoordinates(45.5581, -73.5515)), {
        location: Object.assign(new Sunco.LocationMessageLocation(), { name: 'Olympic Stadium', address: '4545 Pierre-de Coubertin Ave' }),
      });
      const { message, raw } = await roundTrip(content);

      expect(raw.content).toMatchObject(JSON.parse(JSON.stringify(content)));
      expect(message.content.type).toBe('location');
      expect(message.content.coordinates).toEqual({ lat: 45.5581, long: -73.5515 });
      expect(message.content.location).toEqual({ name: 'Olympic Stadium', address: '4545 Pierre-de Coubertin Ave' });
      expect(message.content.text).toEqual(expect.stringContaining('Olympic Stadium'));
    });

    it('form content keeps its fields', async () => {
      const fields = [
        Object.assign(new Sunco.FormMessageField('email', 'email', 'Your email'), { placeholder: 'you@example.org' }),
        Object.assign(new Sunco.FormMessageField('select', 'size', 'Size'), { options: [{ label: 'Small', name: 's' }, { label: 'Large', name: 'l' }] }),
        Object.assign(new Sunco.FormMessageField('text', 'note', 'Note'), { minSize: 1, maxSize: 50 }),
      ];
      const content = Object.assign(new Sunco.FormMessage('form', fields), { text: 'Tell us more', blockChatInput: true });
      const { message, raw } = await roundTrip(content);

      expect(raw.content).toMatchObject(JSON.parse(JSON.stringify(content)));
      expect(message.content.type).toBe('form');
      expect(message.content.blockChatInput).toBe(true);
      expect(message.content.fields.map((f: { type: string; name: string; label: string }) => [f.type, f.name, f.label])).toEqual([
        ['email', 'email', 'Your email'],
        ['select', 'size', 'Size'],
        ['text', 'note', 'Note'],
      ]);
    });

    it('template content with schema whatsapp keeps the template', async () => {
      const template = {
        namespace: 'a1b2c3',
        name: 'order_update',
        language: { policy: 'deterministic', code: 'en_US' },
        components: [{ type: 'body', parameters: [{ type: 'text', text: 'Bob' }] }],
      };
      const { message, raw } = await roundTrip(new Sunco.TemplateMessage('template', template), { schema: 'whatsapp' });
      expect(message.content.type).toBe('template');
      expect(message.content.template).toEqual(template);
      expect(raw.content).toEqual({ type: 'template', template });
    });

    it('template content without schema whatsapp answers 400', async () => {
      const { conversation } = await personalConversation();
      const content = new Sunco.TemplateMessage('template', { name: 'order_update', language: { code: 'en_US' } });
      await expectApiError(app.messages.postMessage(appId, conversation.id, new Sunco.MessagePost(businessAuthor(), content)), 400, 'bad_request');
    });

    it('listMessages returns the newest 100, walks back with page[before] and forward with page[after]', async () => {
      const { conversation } = await personalConversation();
      const ids: string[] = [];
      for (let i = 0; i < 105; i++) ids.push((await post(conversation.id, textContent(`message ${i}`))).data.messages[0].id);

      const newest = await app.messages.listMessages(appId, conversation.id);
      expect(newest).toBeInstanceOf(Sunco.MessageListResponse);
      expect(newest.messages.every((m: unknown) => m instanceof Sunco.Message)).toBe(true);
      expect(idsOf(newest.messages)).toEqual(ids.slice(5));
      expect(newest.messages[99].content.text).toBe('message 104');
      expect(newest.meta).toBeInstanceOf(Sunco.Meta);
      expect(newest.links).toBeInstanceOf(Sunco.Links);
      expect(newest.meta.hasMore).toBe(true);
      expect(newest.meta.beforeCursor).toBe(ids[5]);
      expect(newest.meta.afterCursor).toBeUndefined();
      expect(newest.links.next).toBeUndefined();
      expect(new URL(newest.links.prev).origin).toBe(new URL(url).origin);
      expect(new URL(newest.links.prev).pathname).toBe(`/v2/apps/${appId}/conversations/${conversation.id}/messages`);
      expect(linkParam(newest.links.prev, 'page[before]')).toBe(ids[5]);

      const older = await app.messages.listMessages(appId, conversation.id, { page: { before: newest.meta.beforeCursor } });
      expect(idsOf(older.messages)).toEqual(ids.slice(0, 5));
      expect(older.meta.hasMore).toBe(false);
      expect(older.meta.beforeCursor).toBeUndefined();
      expect(older.links.prev).toBeUndefined();
      expect(older.meta.afterCursor).toBe(ids[4]);
      expect(linkParam(older.links.next, 'page[after]')).toBe(ids[4]);

      const newer = await app.messages.listMessages(appId, conversation.id, { page: { after: older.meta.afterCursor } });
      expect(idsOf(newer.messages)).toEqual(ids.slice(5));
      expect(newer.meta.hasMore).toBe(false);
      expect(newer.meta.beforeCursor).toBe(ids[5]);
    });

    it('listMessages honours page[size] (Parley extension; the contract default of 100 applies without it)', async () => {
      const { conversation } = await personalConversation();
      const ids: string[] = [];
      for (const text of ['a', 'b', 'c']) ids.push((await post(conversation.id, textContent(text))).data.messages[0].id);
      const res = await app.messages.listMessages(appId, conversation.id, { page: { size: 2 } });
      expect(idsOf(res.messages)).toEqual(ids.slice(1));
      expect(res.meta.hasMore).toBe(true);
      const all = await app.messages.listMessages(appId, conversation.id);
      expect(idsOf(all.messages)).toEqual(ids);
      expect(all.meta.hasMore).toBe(false);
    });

    it('deleteMessage removes one message and leaves the others', async () => {
      const { conversation } = await personalConversation();
      const keep = (await post(conversation.id, textContent('keep'))).data.messages[0];
      const drop = (await post(conversation.id, textContent('drop'))).data.messages[0];

      expectEmptyOk(await app.messages.deleteMessageWithHttpInfo(appId, conversation.id, drop.id));
      const { messages } = await app.messages.listMessages(appId, conversation.id);
      const dropped = messages.find((m: { id: string }) => m.id === drop.id);
      expect(dropped === undefined || dropped.deleted === true, 'the message is gone or left as a deleted placeholder').toBe(true);
      expect(dropped?.content?.text).toBeUndefined();
      expect(messages.find((m: { id: string }) => m.id === keep.id).content.text).toBe('keep');
      await expectApiError(app.messages.deleteMessage(appId, conversation.id, drop.id), 404, 'message_not_found');
    });

    it('deleteAllMessages empties the conversation, which then takes new messages', async () => {
      const { conversation } = await personalConversation();
      for (const text of ['one', 'two', 'three']) await post(conversation.id, textContent(text));

      expectEmptyOk(await app.messages.deleteAllMessagesWithHttpInfo(appId, conversation.id));
      const empty = await app.messages.listMessages(appId, conversation.id);
      expect(empty).toBeInstanceOf(Sunco.MessageListResponse);
      expect(empty.messages).toEqual([]);
      expect(empty.meta.hasMore).toBe(false);

      const fresh = (await post(conversation.id, textContent('after clearing'))).data.messages[0];
      expect(idsOf((await app.messages.listMessages(appId, conversation.id)).messages)).toEqual([fresh.id]);
    });
  });

  // ---- ActivitiesApi ------------------------------------------------------

  describe('ActivitiesApi', () => {
    it('typing:start and typing:stop by the business are accepted and change no read state', async () => {
      const { conversation } = await personalConversation();
      for (const type of ['typing:start', 'typing:stop']) {
        expectEmptyOk(await app.activities.postActivityWithHttpInfo(appId, conversation.id, new Sunco.ActivityPost(businessAuthor(), type)));
      }
      expect((await app.conversations.getConversation(appId, conversation.id)).conversation.businessLastRead ?? null).toBeNull();
    });

    it('conversation:read by the business sets businessLastRead', async () => {
      const { conversation } = await personalConversation();
      const before = new Date().toISOString();
      expectEmptyOk(await app.activities.postActivityWithHttpInfo(appId, conversation.id, new Sunco.ActivityPost(businessAuthor(), 'conversation:read')));
      const after = new Date().toISOString();

      const read = (await app.conversations.getConversation(appId, conversation.id)).conversation.businessLastRead;
      expect(read).toMatch(ISO_MS);
      expect(read >= before && read <= after, `${read} within [${before}, ${after}]`).toBe(true);
    });

    it("conversation:read by a user resets that participant's unreadCount and sets lastRead", async () => {
      const { user, conversation } = await personalConversation();
      await post(conversation.id, textContent('first'));
      await post(conversation.id, textContent('second'));
      const unread = (await app.participants.listParticipants(appId, conversation.id)).participants[0];
      expect(unread).toMatchObject({ userId: user.id, unreadCount: 2 });

      const activity = new Sunco.ActivityPost(Object.assign(new Sunco.Author('user'), { userId: user.id }), 'conversation:read');
      expectEmptyOk(await app.activities.postActivityWithHttpInfo(appId, conversation.id, activity));
      const read = (await app.participants.listParticipants(appId, conversation.id)).participants[0];
      expect(read).toBeInstanceOf(Sunco.Participant);
      expect(read.unreadCount).toBe(0);
      expect(read.lastRead).toMatch(ISO_MS);
    });

    it('a user author may only send conversation:read (400 for typing)', async () => {
      const { user, conversation } = await personalConversation();
      const activity = new Sunco.ActivityPost(Object.assign(new Sunco.Author('user'), { userId: user.id }), 'typing:start');
      await expectApiError(app.activities.postActivity(appId, conversation.id, activity), 400, 'bad_request');
    });
  });
});

describe('authentication as the client sends it', () => {
  const listApps = (client: Sunco.ApiClient) => new Sunco.AppsApi(client).listApps();
  const bearer = (token: string) => {
    const client = new Sunco.ApiClient();
    client.basePath = url;
    client.authentications.bearerAuth.accessToken = token;
    return client;
  };

  it('a wrong Basic secret answers 401 unauthorized', async () => {
    await expectApiError(listApps(apiClient(url, 'basic', { ...accountKey, secret: 'wrong-secret' })), 401, 'unauthorized');
  });

  it('a JWT signed with the wrong secret answers 401 unauthorized', async () => {
    await expectApiError(listApps(bearer(signJwt(accountKey.keyId, 'wrong-secret', { scope: 'account' }))), 401, 'unauthorized');
  });

  it('a JWT whose scope does not match its key answers 401 unauthorized', async () => {
    await expectApiError(listApps(bearer(signJwt(accountKey.keyId, accountKey.secret, { scope: 'app' }))), 401, 'unauthorized');
  });

  it('an expired JWT answers 401 unauthorized, the same JWT without exp is accepted', async () => {
    const exp = Math.floor(Date.now() / 1000) - 60;
    await expectApiError(listApps(bearer(signJwt(accountKey.keyId, accountKey.secret, { scope: 'account', exp }))), 401, 'unauthorized');
    const res = await listApps(bearer(signJwt(accountKey.keyId, accountKey.secret, { scope: 'account' })));
    expect(res).toBeInstanceOf(Sunco.AppListResponse);
  });
});
