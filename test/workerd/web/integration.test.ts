/**
 * The `web` integration through the v2 integrations API: every widget setting
 * stored and shown, defaults filled in, bad values refused naming the field,
 * PATCH with null putting a setting back to its default, list filtering, and
 * deletion taking the widget's config route with it. The widget's config
 * shows what the integration says, minus the originWhitelist.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { browser } from './web';

const EVERYTHING = {
  type: 'web',
  displayName: 'Website',
  brandColor: 'AA0000',
  conversationColor: '00aa00',
  actionColor: '0000aa',
  businessName: 'Acme',
  businessIconUrl: 'https://cdn.example.com/acme.png',
  buttonIconUrl: 'https://cdn.example.com/button.png',
  buttonWidth: '64',
  buttonHeight: '70',
  displayStyle: 'tab',
  backgroundImageUrl: 'https://cdn.example.com/bg.png',
  fixedIntroPane: true,
  integrationOrder: [],
  originWhitelist: ['https://shop.example.com', 'http://127.0.0.1:8795'],
  prechatCapture: {
    enabled: true,
    avatarUrl: 'https://cdn.example.com/avatar.png',
    enableEmailLinking: true,
    fields: [
      { type: 'text', name: 'name', label: 'Your name' },
      { type: 'email', name: 'email', label: 'Email' },
    ],
  },
  canUserCreateMoreConversations: true,
  canUserSeeConversationList: true,
  attachmentsEnabled: false,
};

let app: Awaited<ReturnType<typeof newApp>>;
beforeAll(async () => {
  app = await newApp('web integration');
});

const create = (body: Record<string, unknown>) => call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, body);
const configOf = (integrationId: string) => browser('GET', `/sdk/v2/apps/${app.appId}/integrations/${integrationId}/config`, undefined, undefined, null);

describe('POST /v2/apps/{appId}/integrations type web', () => {
  it('stores every setting and shows it back (colors lower-cased), active', async () => {
    const res = await create(EVERYTHING);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const { type: _t, ...settings } = EVERYTHING;
    expect(res.body.integration).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      type: 'web',
      status: 'active',
      ...settings,
      brandColor: 'aa0000',
    });
    const got = await call('GET', `/v2/apps/${app.appId}/integrations/${res.body.integration.id}`, app.auth);
    expect(got.body.integration).toEqual(res.body.integration);
  });

  it('fills in the defaults for what is not given', async () => {
    const res = await create({ type: 'web' });
    expect(res.status).toBe(201);
    const got = await call('GET', `/v2/apps/${app.appId}/integrations/${res.body.integration.id}`, app.auth);
    expect(got.body.integration).toMatchObject({
      type: 'web',
      status: 'active',
      brandColor: '65758e',
      conversationColor: '0099ff',
      actionColor: '0099ff',
      displayStyle: 'button',
      buttonWidth: '58',
      buttonHeight: '58',
      fixedIntroPane: false,
      canUserSeeConversationList: true,
      canUserCreateMoreConversations: false,
      attachmentsEnabled: true,
      originWhitelist: [],
      prechatCapture: { enabled: false, enableEmailLinking: false },
    });
  });

  it.each([
    ['brandColor', '#0099ff'],
    ['conversationColor', 'blue'],
    ['actionColor', '0099f'],
    ['originWhitelist', ['https://shop.example.com/checkout']],
    ['originWhitelist', ['https://shop.example.com/']],
    ['originWhitelist', ['shop.example.com']],
    ['displayStyle', 'floating'],
    ['buttonWidth', 58],
    ['businessIconUrl', 'not a url'],
  ])('refuses %s = %j with 400 naming the field', async (field, value) => {
    const res = await create({ type: 'web', [field]: value });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].code).toBe('bad_request');
    expect(res.body.errors[0].title).toContain(field);
  });
});

describe('PATCH, list and DELETE', () => {
  let id: string;
  beforeAll(async () => {
    id = (await create(EVERYTHING)).body.integration.id;
  });

  it('PATCH changes what it names and leaves the rest', async () => {
    const res = await call('PATCH', `/v2/apps/${app.appId}/integrations/${id}`, app.auth, { displayName: 'Renamed', brandColor: '123456', originWhitelist: ['https://new.example.com'] });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.integration).toMatchObject({ displayName: 'Renamed', brandColor: '123456', originWhitelist: ['https://new.example.com'], businessName: 'Acme', displayStyle: 'tab' });
  });

  it('PATCH with null puts a setting back to its default', async () => {
    const res = await call('PATCH', `/v2/apps/${app.appId}/integrations/${id}`, app.auth, { brandColor: null, displayStyle: null, businessName: null, originWhitelist: null, attachmentsEnabled: null });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.integration).toMatchObject({ brandColor: '65758e', displayStyle: 'button', originWhitelist: [], attachmentsEnabled: true });
    expect(res.body.integration).not.toHaveProperty('businessName');
    const got = await call('GET', `/v2/apps/${app.appId}/integrations/${id}`, app.auth);
    expect(got.body.integration).toEqual(res.body.integration);
  });

  it('PATCH refuses a bad value naming the field, and changes nothing', async () => {
    const before = await call('GET', `/v2/apps/${app.appId}/integrations/${id}`, app.auth);
    const res = await call('PATCH', `/v2/apps/${app.appId}/integrations/${id}`, app.auth, { conversationColor: 'zzzzzz', displayName: 'Never' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toContain('conversationColor');
    expect((await call('GET', `/v2/apps/${app.appId}/integrations/${id}`, app.auth)).body).toEqual(before.body);
  });

  it('the widget config follows the integration at once, without the originWhitelist', async () => {
    await call('PATCH', `/v2/apps/${app.appId}/integrations/${id}`, app.auth, { actionColor: 'abcdef', originWhitelist: ['https://shop.example.com'] });
    const config = await configOf(id);
    expect(config.status).toBe(200);
    expect(config.body.config).toMatchObject({ appId: app.appId, integrationId: id, displayName: 'Renamed', actionColor: 'abcdef', canUserCreateMoreConversations: true });
    expect(config.body.config).not.toHaveProperty('originWhitelist');
    expect(config.body.config.attachments).toEqual({ maxBytes: expect.any(Number), types: expect.arrayContaining(['image/png', 'application/pdf']) });
  });

  it('list filter[types]=web returns web integrations only', async () => {
    await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: 'https://receiver.test/hook', triggers: ['conversation:message'] }] });
    const res = await call('GET', `/v2/apps/${app.appId}/integrations?filter[types]=web`, app.auth);
    expect(res.status).toBe(200);
    expect(res.body.integrations.length).toBeGreaterThan(0);
    expect(res.body.integrations.every((i: any) => i.type === 'web')).toBe(true);
    expect(res.body.integrations.map((i: any) => i.id)).toContain(id);
    const all = await call('GET', `/v2/apps/${app.appId}/integrations`, app.auth);
    expect(all.body.integrations.some((i: any) => i.type === 'custom')).toBe(true);
  });

  it('DELETE removes it, and its widget config route answers 404', async () => {
    expect((await configOf(id)).status).toBe(200);
    const res = await call('DELETE', `/v2/apps/${app.appId}/integrations/${id}`, app.auth);
    expect(res.status).toBe(200);
    expect((await call('GET', `/v2/apps/${app.appId}/integrations/${id}`, app.auth)).status).toBe(404);
    const config = await configOf(id);
    expect(config.status).toBe(404);
    expect(config.body.errors[0].code).toBe('integration_not_found');
    const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: id }, null);
    expect(session.status).toBe(404);
  });

  it("another app's web integration is not found under this app", async () => {
    const other = await newApp('other');
    const theirs = await call('POST', `/v2/apps/${other.appId}/integrations`, other.auth, { type: 'web' });
    const config = await browser('GET', `/sdk/v2/apps/${app.appId}/integrations/${theirs.body.integration.id}/config`, undefined, undefined, null);
    expect(config.status).toBe(404);
  });
});
