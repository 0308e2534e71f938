/**
 * Deleting an app, an integration or a key ends its use at once in the isolate
 * that deleted it (every per-isolate cache forgets it), and an isolate whose
 * caches still hold it (simulated here by deleting the D1 rows behind the
 * caches' back) refuses with a 4xx, never a 5xx.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appTag, forget, integrationTag, TtlCache } from '../../src/db/ttl-cache';
import { TelegramFake } from '../fakes/telegram';
import { hook, routeFetch } from './channels/harness';
import { asAccount, basic, call, newApp } from './helpers';
import { ORIGIN, browser, login, startSession, userJwt, webApp, type WebApp } from './web/web';

const fakes: Record<string, TelegramFake> = {};
let restore: () => void;
let bots = 0;

beforeAll(() => {
  const spy = routeFetch(fakes);
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

type App = Awaited<ReturnType<typeof newApp>>;

/** A custom integration with a key; returns the key's Authorization header. */
async function integrationKey(app: App) {
  const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: 'https://receiver.test/hook', triggers: ['*'] }] });
  expect(created.status).toBe(201);
  const integrationId = created.body.integration.id as string;
  const key = await call('POST', `/v2/apps/${app.appId}/integrations/${integrationId}/keys`, app.auth, { displayName: 'k' });
  expect(key.status).toBe(201);
  return { integrationId, keyId: key.body.key.id as string, auth: basic(key.body.key.id, key.body.key.secret) };
}

/** A Telegram integration behind a fake bot of its own, with one user's message already received (so every cache on the hook path is warm). */
async function telegramApp(app: App) {
  const api = `https://telegram-${++bots}.test`;
  const fake = new TelegramFake({ webhookFetch: (request) => hook(request) });
  fakes[api] = fake;
  const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: fake.token, apiBaseUrl: api });
  expect(created.status).toBe(201);
  const webhookUrl = created.body.integration.webhookUrl as string;
  const first = await hook(fake.text(webhookUrl, { id: 501, first_name: 'Ann' }, 'hello'));
  expect(first.status).toBe(200);
  return { fake, webhookUrl, integrationId: created.body.integration.id as string };
}

const groupBody = { type: 'sdkGroup', displayName: 'after delete' };

/** A response that refuses (4xx), with the v2 error body. */
async function refused(res: Response | { status: number; body: any }) {
  const status = res.status;
  const body = res instanceof Response ? await res.json() : res.body;
  expect({ status, body }, JSON.stringify(body)).toMatchObject({ status: expect.any(Number), body: { errors: [{ code: expect.any(String) }] } });
  expect(status).toBeGreaterThanOrEqual(400);
  expect(status).toBeLessThan(500);
  return { status, code: (body as { errors: { code: string }[] }).errors[0]!.code };
}

describe('in the isolate that deletes', () => {
  it('deleting an app: its integration key is refused at once and creates no conversation', async () => {
    const app = await newApp('delete app: integration key');
    const key = await integrationKey(app);
    expect((await call('POST', `/v2/apps/${app.appId}/conversations`, key.auth, groupBody)).status).toBe(201);
    expect((await call('DELETE', `/v2/apps/${app.appId}`, asAccount)).status).toBe(200);
    expect(await refused(await call('POST', `/v2/apps/${app.appId}/conversations`, key.auth, groupBody))).toEqual({ status: 401, code: 'unauthorized' });
  });

  it("deleting an app: its channel hook is refused at once, for a known and a new channel user", async () => {
    const app = await newApp('delete app: channel hook');
    const bot = await telegramApp(app);
    expect((await call('DELETE', `/v2/apps/${app.appId}`, asAccount)).status).toBe(200);
    expect(await refused(await hook(bot.fake.text(bot.webhookUrl, { id: 501, first_name: 'Ann' }, 'still there?')))).toEqual({ status: 404, code: 'integration_not_found' });
    expect(await refused(await hook(bot.fake.text(bot.webhookUrl, { id: 502, first_name: 'Bo' }, 'hi')))).toEqual({ status: 404, code: 'integration_not_found' });
  });

  it('deleting an app: a widget session, message or login call answers 404, not 500', async () => {
    const app = await webApp();
    const visitor = await startSession(app);
    expect((await call('DELETE', `/v2/apps/${app.appId}`, asAccount)).status).toBe(200);
    const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId });
    expect(await refused(session)).toEqual({ status: 404, code: 'integration_not_found' });
    const said = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${visitor.conversationId}/messages`, visitor.token, { content: { type: 'text', text: 'hi' } });
    expect((await refused(said)).status).toBe(404);
    expect(await refused(await login(app, 'ann', await userJwt(app.key, 'ann')))).toMatchObject({ status: 404 });
  });

  it('deleting an integration: its key, its channel hook and its widget sessions are refused at once', async () => {
    const app = await newApp('delete integration');
    const key = await integrationKey(app);
    expect((await call('POST', `/v2/apps/${app.appId}/conversations`, key.auth, groupBody)).status).toBe(201);
    const bot = await telegramApp(app);
    const web = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'web', originWhitelist: [ORIGIN] });
    const webIntegration: WebApp = { ...app, integrationId: web.body.integration.id };
    await startSession(webIntegration);

    for (const id of [key.integrationId, bot.integrationId, webIntegration.integrationId]) {
      expect((await call('DELETE', `/v2/apps/${app.appId}/integrations/${id}`, app.auth)).status).toBe(200);
    }
    expect(await refused(await call('POST', `/v2/apps/${app.appId}/conversations`, key.auth, groupBody))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await refused(await hook(bot.fake.text(bot.webhookUrl, { id: 501, first_name: 'Ann' }, 'still there?')))).toEqual({ status: 404, code: 'integration_not_found' });
    const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: webIntegration.integrationId });
    expect(await refused(session)).toEqual({ status: 404, code: 'integration_not_found' });
  });

  it('deleting a key: app keys, integration keys and login JWTs signed by it are refused at once', async () => {
    const app = await webApp();
    const second = await call('POST', `/v2/apps/${app.appId}/keys`, asAccount, { displayName: 'second' });
    const secondAuth = basic(second.body.key.id, second.body.key.secret);
    const key = await integrationKey(app);
    expect((await call('POST', `/v2/apps/${app.appId}/conversations`, secondAuth, groupBody)).status).toBe(201);
    expect((await call('POST', `/v2/apps/${app.appId}/conversations`, key.auth, groupBody)).status).toBe(201);
    const jwt = await userJwt(second.body.key, 'ann');
    expect((await login(app, 'ann', jwt)).status).toBe(200);

    expect((await call('DELETE', `/v2/apps/${app.appId}/keys/${second.body.key.id}`, asAccount)).status).toBe(200);
    expect((await call('DELETE', `/v2/apps/${app.appId}/integrations/${key.integrationId}/keys/${key.keyId}`, app.auth)).status).toBe(200);
    expect(await refused(await call('POST', `/v2/apps/${app.appId}/conversations`, secondAuth, groupBody))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await refused(await call('POST', `/v2/apps/${app.appId}/conversations`, key.auth, groupBody))).toEqual({ status: 401, code: 'unauthorized' });
    expect(await refused(await login(app, 'ann', jwt))).toEqual({ status: 401, code: 'unauthorized' });
  });
});

describe('in an isolate whose caches still hold what was deleted', () => {
  // Deleting the D1 rows directly leaves every cache of this isolate as another isolate's would be.
  const deleteBehindCaches = (sql: string, id: string) => env.DB.prepare(sql).bind(id).run();

  it('a deleted app: writes through its cached keys answer 4xx, never 500', async () => {
    const app = await webApp();
    const key = await integrationKey(app);
    const bot = await telegramApp(app);
    await startSession(app);
    // Warm the account's app-existence cache and the keys' caches.
    expect((await call('GET', `/v2/apps/${app.appId}/keys`, asAccount)).status).toBe(200);
    expect((await call('POST', `/v2/apps/${app.appId}/users`, key.auth, { externalId: 'warm' })).status).toBe(201);
    expect((await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'warm2' })).status).toBe(201);
    expect((await login(app, 'known', await userJwt(app.key, 'known'))).status).toBe(200);

    await deleteBehindCaches('DELETE FROM apps WHERE id = ?', app.appId);

    expect(await refused(await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'late' }))).toEqual({ status: 404, code: 'app_not_found' });
    expect(await refused(await call('POST', `/v2/apps/${app.appId}/users`, key.auth, { externalId: 'late2' }))).toEqual({ status: 404, code: 'app_not_found' });
    expect(await refused(await call('POST', `/v2/apps/${app.appId}/keys`, asAccount, { displayName: 'late' }))).toEqual({ status: 404, code: 'app_not_found' });
    const custom = await call('POST', `/v2/apps/${app.appId}/integrations`, asAccount, { type: 'custom', webhooks: [{ target: 'https://receiver.test/hook', triggers: ['*'] }] });
    expect(await refused(custom)).toEqual({ status: 404, code: 'app_not_found' });
    expect(await refused(await hook(bot.fake.text(bot.webhookUrl, { id: 777, first_name: 'New' }, 'hi')))).toEqual({ status: 404, code: 'integration_not_found' });
    const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId });
    expect(await refused(session)).toEqual({ status: 404, code: 'integration_not_found' });
    expect((await refused(await login(app, 'someone-new', await userJwt(app.key, 'someone-new')))).status).toBe(404);
    expect((await refused(await login(app, 'known', await userJwt(app.key, 'known')))).status).toBe(404);
  });

  it('a deleted integration: its cached channel hook and widget integration create no user and answer 404', async () => {
    const app = await webApp();
    const bot = await telegramApp(app);
    await startSession(app);
    await deleteBehindCaches('DELETE FROM integrations WHERE id = ?', bot.integrationId);
    await deleteBehindCaches('DELETE FROM integrations WHERE id = ?', app.integrationId);

    expect(await refused(await hook(bot.fake.text(bot.webhookUrl, { id: 888, first_name: 'New' }, 'hi')))).toEqual({ status: 404, code: 'integration_not_found' });
    const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId });
    expect(await refused(session)).toEqual({ status: 404, code: 'integration_not_found' });
    expect((await refused(await login(app, 'fresh', await userJwt(app.key, 'fresh')))).status).toBe(404);
    const users = await env.DB.prepare('SELECT count(*) AS n FROM clients WHERE app_id = ? AND integration_id IN (?, ?)').bind(app.appId, bot.integrationId, app.integrationId).first<{ n: number }>();
    // Only the two clients made before the deletion.
    expect(users?.n).toBe(2);
  });
});

describe('the cache helper', () => {
  it('one forget drops the tagged entries of every cache, and a read in flight during it is not kept', async () => {
    const loads: string[] = [];
    const byIntegration = new TtlCache<{ appId: string } | undefined>({ ttlMs: 60_000, missMs: 0, tags: (v, id) => [appTag(v.appId), integrationTag(id)] });
    const byKey = new TtlCache<{ appId: string } | undefined>({ ttlMs: 60_000, missMs: 0, tags: (v) => [appTag(v.appId)] });
    const load = (name: string, appId: string) => async () => (loads.push(name), { appId });
    await byIntegration.read('i1', load('i1', 'a1'));
    await byIntegration.read('i2', load('i2', 'a2'));
    await byKey.read('k1', load('k1', 'a1'));
    let release!: () => void;
    const inFlight = byKey.read('k2', () => new Promise((r) => (release = () => r({ appId: 'a3' }))));

    forget(appTag('a1'));
    release();
    await inFlight;
    await byIntegration.read('i1', load('i1', 'a1'));
    await byIntegration.read('i2', load('i2', 'a2'));
    await byKey.read('k1', load('k1', 'a1'));
    await byKey.read('k2', load('k2', 'a3'));
    // i2 (another app) stayed cached; i1, k1 and the in-flight k2 were read again.
    expect(loads).toEqual(['i1', 'i2', 'k1', 'i1', 'k1', 'k2']);
  });
});
