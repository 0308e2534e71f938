/**
 * Devices: each browser that opens the Web Messenger is a device of the
 * user's `sdk` client (`listDevices`, `getDevice`), named by the guid the
 * widget keeps; a login carries the browser's device over to the user it
 * logs in as, and a known user opening the widget on a new browser gains one.
 */
import { describe, expect, it } from 'vitest';
import { call } from '../helpers';
import { browser, login, startSession, userJwt, webApp } from './web';

const devicesOf = async (app: { appId: string; auth: string }, user: string) => {
  const res = await call('GET', `/v2/apps/${app.appId}/users/${user}/devices`, app.auth);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.devices as any[];
};

describe('devices', () => {
  it("a browser's session makes it a device of the visitor's sdk client, with what the browser said about itself", async () => {
    const app = await webApp();
    const visitor = await startSession(app, { guid: 'browser-guid-0001', sdkVersion: '2.4.0', browserLanguage: 'fr-CA' });
    const devices = await devicesOf(app, visitor.userId);
    expect(devices).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f]{24}$/),
        guid: 'browser-guid-0001',
        clientId: visitor.clientId,
        integrationId: app.integrationId,
        status: 'active',
        type: 'web',
        lastSeen: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        appVersion: '2.4.0',
        info: expect.objectContaining({ browserLanguage: 'fr-CA' }),
      },
    ]);
    const one = await call('GET', `/v2/apps/${app.appId}/users/${visitor.userId}/devices/${devices[0].id}`, app.auth);
    expect(one.status).toBe(200);
    expect(one.body.device).toEqual(devices[0]);
  });

  it('a login moves the browser and its device to the known user; a second browser adds a second device', async () => {
    const app = await webApp();
    const known = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'dev-known' });
    const visitor = await startSession(app, { guid: 'laptop-guid-0001' });
    const merged = await login(app, 'dev-known', await userJwt(app.key, 'dev-known'), visitor.token);
    expect(merged.status, JSON.stringify(merged.body)).toBe(200);
    expect((await devicesOf(app, 'dev-known')).map((d) => d.guid)).toEqual(['laptop-guid-0001']);

    const phone = await browser('POST', `/sdk/v2/apps/${app.appId}/login`, undefined, {
      integrationId: app.integrationId,
      externalId: 'dev-known',
      jwt: await userJwt(app.key, 'dev-known'),
      device: { guid: 'phone-guid-00001' },
    });
    expect(phone.status, JSON.stringify(phone.body)).toBe(200);
    const devices = await devicesOf(app, known.body.user.id);
    expect(devices.map((d) => d.guid).sort()).toEqual(['laptop-guid-0001', 'phone-guid-00001']);
    expect(new Set(devices.map((d) => d.clientId)).size).toBe(2);
  });

  it('an unknown device, or another user\'s, answers 404 device_not_found', async () => {
    const app = await webApp();
    const a = await startSession(app, { guid: 'guid-of-user-a1' });
    const b = await startSession(app, { guid: 'guid-of-user-b1' });
    const [deviceOfA] = await devicesOf(app, a.userId);
    for (const path of [`/users/${b.userId}/devices/${deviceOfA.id}`, `/users/${a.userId}/devices/0123456789abcdef01234567`, `/users/${a.userId}/devices/nope`]) {
      const res = await call('GET', `/v2/apps/${app.appId}${path}`, app.auth);
      expect(res.status, path).toBe(404);
      expect(res.body.errors[0].code).toBe('device_not_found');
    }
    expect((await call('GET', `/v2/apps/${app.appId}/users/nobody-here/devices`, app.auth)).body.errors[0].code).toBe('user_not_found');
  });
});
