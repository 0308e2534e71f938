/**
 * The `stripe` integration through /v2/apps/{appId}/integrations: created
 * with its secret key and webhook signing secret, which are never shown
 * again and are sealed in D1; shown with type, status, displayName and the
 * `webhookUrl` Stripe must call; updated (secrets rotated: the webhook then
 * takes the new secret only); deleted; one per app; bad bodies refused
 * naming the field; another app's key cannot see or change it.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { hook } from '../channels/harness';
import { hmacHex } from '../../../src/channels/signing';

type Json = Record<string, any>;

const SK = 'sk_test_51Hx0aBcDeFgHiJkLmNoPq';
const WHSEC = 'whsec_AbCdEfGhIjKlMnOpQrStUvWx';
const path = (appId: string, id = '') => `/v2/apps/${appId}/integrations${id ? `/${id}` : ''}`;

const noSecrets = (i: Json) => {
  const text = JSON.stringify(i);
  expect(text).not.toMatch(/sk_test_|rk_test_|whsec_/);
  expect(i).not.toHaveProperty('secretKey');
  expect(i).not.toHaveProperty('webhookSecret');
};

async function signedPost(url: string, secret: string, body = JSON.stringify({ id: 'evt_ping', object: 'event', type: 'customer.created', data: { object: { object: 'customer' } } })) {
  const t = Math.floor(Date.now() / 1000);
  const header = `t=${t},v1=${await hmacHex('SHA-256', secret, `${t}.${body}`)}`;
  return hook(new Request(url, { method: 'POST', headers: { 'stripe-signature': header, 'content-type': 'application/json' }, body }));
}

describe('the stripe integration', () => {
  it('create, get, list, patch, delete: the shape, and secrets never returned', async () => {
    const app = await newApp('stripe crud');
    const created = await call('POST', path(app.appId), app.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC, displayName: 'Payments' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const i = created.body.integration as Json;
    expect(i).toEqual({ id: expect.stringMatching(/^[0-9a-f]{24}$/), type: 'stripe', status: 'active', displayName: 'Payments', webhookUrl: `http://parley.test/payments/stripe/${i.id}` });
    noSecrets(i);

    // Sealed at rest: neither secret is readable in D1.
    const stored = await env.DB.prepare('SELECT config FROM integrations WHERE id = ?').bind(i.id).first<string>('config');
    expect(stored).not.toContain(SK);
    expect(stored).not.toContain(WHSEC);
    expect(JSON.parse(stored!).secretKey).toEqual({ $sealed: expect.stringMatching(/^v1\./) });

    const got = await call('GET', path(app.appId, i.id), app.auth);
    expect(got.body.integration).toEqual(i);
    const listed = await call('GET', `${path(app.appId)}?filter[types]=stripe`, app.auth);
    expect(listed.body.integrations).toEqual([i]);
    noSecrets(listed.body);

    // The webhook takes the secret it was created with.
    expect((await signedPost(i.webhookUrl, WHSEC)).status).toBe(200);

    // Rotating the webhook secret: the old one is refused from now on.
    const NEW = 'whsec_ZyXwVuTsRqPoNmLkJiHgFeDc';
    const patched = await call('PATCH', path(app.appId, i.id), app.auth, { webhookSecret: NEW, secretKey: 'rk_live_51Hx0aBcDeFgHiJkLmNoPq', displayName: 'Shop' });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.integration).toEqual({ ...i, displayName: 'Shop' });
    noSecrets(patched.body.integration);
    expect((await signedPost(i.webhookUrl, WHSEC)).status).toBe(400);
    expect((await signedPost(i.webhookUrl, NEW)).status).toBe(200);

    // An API override can be set and dropped.
    const withBase = await call('PATCH', path(app.appId, i.id), app.auth, { apiBaseUrl: 'https://stripe.override.test' });
    expect(withBase.body.integration.apiBaseUrl).toBe('https://stripe.override.test');
    const dropped = await call('PATCH', path(app.appId, i.id), app.auth, { apiBaseUrl: null });
    expect(dropped.body.integration).not.toHaveProperty('apiBaseUrl');

    expect((await call('DELETE', path(app.appId, i.id), app.auth)).status).toBe(200);
    expect((await call('GET', path(app.appId, i.id), app.auth)).status).toBe(404);
    expect((await signedPost(i.webhookUrl, NEW)).status).toBe(404);
    // Gone, a new one can be made.
    expect((await call('POST', path(app.appId), app.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC })).status).toBe(201);
  });

  it('at most one per app: a second is refused with 409', async () => {
    const app = await newApp('stripe twice');
    expect((await call('POST', path(app.appId), app.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC })).status).toBe(201);
    const second = await call('POST', path(app.appId), app.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC });
    expect(second.status).toBe(409);
    expect(second.body.errors[0].title).toMatch(/already has a Stripe integration/);
    const listed = await call('GET', `${path(app.appId)}?filter[types]=stripe`, app.auth);
    expect(listed.body.integrations).toHaveLength(1);
  });

  it('refuses bad bodies, naming the field, and stores nothing', async () => {
    const app = await newApp('stripe bad');
    const bad = async (body: Json, field: RegExp) => {
      const res = await call('POST', path(app.appId), app.auth, { type: 'stripe', ...body });
      expect(res.status, JSON.stringify(res.body)).toBe(400);
      expect(res.body.errors[0].title).toMatch(field);
    };
    await bad({ webhookSecret: WHSEC }, /secretKey/);
    await bad({ secretKey: 'pk_test_publishableKeyIsNotSecret', webhookSecret: WHSEC }, /secretKey/);
    await bad({ secretKey: SK }, /webhookSecret/);
    await bad({ secretKey: SK, webhookSecret: 'not-a-whsec' }, /webhookSecret/);
    await bad({ secretKey: SK, webhookSecret: WHSEC, apiBaseUrl: 'not a url' }, /apiBaseUrl/);
    expect((await call('GET', path(app.appId), app.auth)).body.integrations).toEqual([]);
    // Not a channel: no /hooks endpoint answers for it.
    const ok = await call('POST', path(app.appId), app.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC });
    const patch = await call('PATCH', path(app.appId, ok.body.integration.id), app.auth, { secretKey: 'nope' });
    expect(patch.status).toBe(400);
    expect(patch.body.errors[0].title).toMatch(/secretKey/);
    expect((await hook(new Request(`http://parley.test/hooks/${ok.body.integration.id}`, { method: 'POST', body: '{}' }))).status).toBe(404);
  });

  it("tenant walls: app B's key can neither read, change nor delete app A's stripe integration", async () => {
    const a = await newApp('stripe wall A');
    const b = await newApp('stripe wall B');
    const created = await call('POST', path(a.appId), a.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC });
    const id = created.body.integration.id;
    expect((await call('GET', path(a.appId, id), b.auth)).status).toBe(403);
    expect((await call('GET', path(b.appId, id), b.auth)).status).toBe(404);
    expect((await call('PATCH', path(b.appId, id), b.auth, { webhookSecret: 'whsec_stolenstolenstolen' })).status).toBe(404);
    expect((await call('DELETE', path(b.appId, id), b.auth)).status).toBe(404);
    expect((await call('GET', path(a.appId, id), a.auth)).status).toBe(200);
    // B still may have its own.
    expect((await call('POST', path(b.appId), b.auth, { type: 'stripe', secretKey: SK, webhookSecret: WHSEC })).status).toBe(201);
  });
});
