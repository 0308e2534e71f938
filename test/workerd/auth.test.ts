/**
 * Authentication (contract §5.1, §9 checks 1, 2, 4): Basic with key id and
 * secret, Bearer HS256 JWTs whose `kid` names the key and whose `scope` must
 * match it, `alg:none`, bad signatures and expired tokens refused; app keys
 * managed only with the account key; a deleted key stops working at once; a
 * key's secret is shown only when it is created.
 *
 * Tokens are built by hand with WebCrypto (fixtures.handJwt); `signHs256` from
 * src is used once and checked byte-for-byte against the hand-built token.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { signHs256 } from '../../src/auth/jwt';
import { ACCOUNT, asAccount, basic, call, newApp } from './helpers';
import { b64url, bearer, expectError, handJwt, hmacSha256, nowSeconds, raw } from './fixtures';

let appId: string;
let key: { id: string; secret: string };
let appAuth: string;

beforeAll(async () => {
  const a = await newApp('Auth app');
  appId = a.appId;
  key = a.key;
  appAuth = a.auth;
});

const getApp = (authorization?: string) => raw('GET', `/v2/apps/${appId}`, { headers: authorization === undefined ? {} : { authorization } });
const appToken = (payload: Record<string, unknown> = { scope: 'app' }, header: Record<string, unknown> = {}) =>
  handJwt({ alg: 'HS256', typ: 'JWT', kid: key.id, ...header }, payload, key.secret);
const accountToken = (payload: Record<string, unknown> = { scope: 'account' }) => handJwt({ alg: 'HS256', typ: 'JWT', kid: ACCOUNT.id }, payload, ACCOUNT.secret);

const expectApp = async (res: Awaited<ReturnType<typeof getApp>>) => {
  expect(res.status).toBe(200);
  expect(res.body).toStrictEqual({ app: { id: appId, displayName: 'Auth app', settings: expect.any(Object), metadata: null } });
};

describe('Basic auth', () => {
  it('the app key id and secret → 200 with the app', async () => {
    await expectApp(await getApp(basic(key.id, key.secret)));
  });

  it('the account key → 200 with the app', async () => {
    await expectApp(await getApp(asAccount));
  });

  it('wrong secret → 401 unauthorized', async () => {
    expectError(await getApp(basic(key.id, `${key.secret}x`)), 401, 'unauthorized');
    expectError(await getApp(basic(key.id, key.secret.slice(0, -1))), 401, 'unauthorized');
    expectError(await getApp(basic(ACCOUNT.id, 'not-the-account-secret')), 401, 'unauthorized');
  });

  it('another key id with this secret → 401 unauthorized', async () => {
    expectError(await getApp(basic('app_0123456789abcdef01234567', key.secret)), 401, 'unauthorized');
    expectError(await getApp(basic('act_0123456789abcdef01234567', ACCOUNT.secret)), 401, 'unauthorized');
  });

  it('missing Authorization header → 401 unauthorized "Authorization is required"', async () => {
    expectError(await getApp(), 401, 'unauthorized', /Authorization is required/);
  });

  it.each([
    ['empty header', ''],
    ['scheme only', 'Basic'],
    ['not base64', 'Basic !!!not-base64!!!'],
    ['no colon', `Basic ${btoa('app_no_colon_here')}`],
    ['empty secret', `Basic ${btoa(`${'app_'}:`)}`],
    ['empty key id', `Basic ${btoa(':secret')}`],
    ['unknown scheme', `Digest ${btoa('a:b')}`],
    ['credentials without a scheme', btoa('a:b')],
    ['Bearer with a non-JWT', 'Bearer not-a-jwt'],
    ['Bearer with two segments', 'Bearer abc.def'],
  ])('malformed header (%s) → 401 unauthorized', async (_name, header) => {
    expectError(await getApp(header), 401, 'unauthorized');
  });

  it('key ids are case-sensitive: the upper-cased id with the right secret → 401', async () => {
    expectError(await getApp(basic(key.id.toUpperCase(), key.secret)), 401, 'unauthorized');
  });
});

describe('Bearer JWT (HS256)', () => {
  it('hand-built token, kid = app key id, scope app → 200', async () => {
    await expectApp(await getApp(bearer(await appToken())));
  });

  it('a token with a future exp and an iat → 200', async () => {
    await expectApp(await getApp(bearer(await appToken({ scope: 'app', iat: nowSeconds(), exp: nowSeconds() + 300 }))));
  });

  it("src's signHs256 mints byte-for-byte the hand-built token, and it is accepted", async () => {
    const payload = { scope: 'app', iat: 1_700_000_000 };
    const theirs = await signHs256(payload, key.id, key.secret);
    const ours = await handJwt({ alg: 'HS256', typ: 'JWT', kid: key.id }, payload, key.secret);
    expect(theirs).toBe(ours);
    await expectApp(await getApp(bearer(theirs)));
  });

  it('scope mismatch → 401: app key with scope account, none, or user; account key with scope app', async () => {
    for (const payload of [{ scope: 'account' }, {}, { scope: 'user', external_id: 'u1' }, { scope: 'integration' }]) {
      const res = await getApp(bearer(await appToken(payload)));
      expect({ payload, status: res.status }).toEqual({ payload, status: 401 });
      expectError(res, 401, 'unauthorized');
    }
    expectError(await getApp(bearer(await accountToken({ scope: 'app' }))), 401, 'unauthorized');
  });

  it("alg 'none' → 401, unsigned or even with a valid HMAC signature", async () => {
    const header = b64url(JSON.stringify({ alg: 'none', typ: 'JWT', kid: key.id }));
    const payload = b64url(JSON.stringify({ scope: 'app' }));
    expectError(await getApp(bearer(`${header}.${payload}.`)), 401, 'unauthorized');
    const signed = `${header}.${payload}.${b64url(await hmacSha256(key.secret, `${header}.${payload}`))}`;
    expectError(await getApp(bearer(signed)), 401, 'unauthorized');
  });

  it('other algorithms (HS512 label, no alg) → 401', async () => {
    expectError(await getApp(bearer(await appToken({ scope: 'app' }, { alg: 'HS512' }))), 401, 'unauthorized');
    expectError(await getApp(bearer(await handJwt({ typ: 'JWT', kid: key.id }, { scope: 'app' }, key.secret))), 401, 'unauthorized');
  });

  it('bad signature → 401: wrong secret, altered signature, altered payload', async () => {
    expectError(await getApp(bearer(await handJwt({ alg: 'HS256', typ: 'JWT', kid: key.id }, { scope: 'app' }, 'wrong-secret'))), 401, 'unauthorized');
    const good = await appToken();
    const [h, p, sig] = good.split('.') as [string, string, string];
    // Change the first signature character: its 6 bits all count (the last one's low bits are padding).
    const flipped = `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expectError(await getApp(bearer(`${h}.${p}.${flipped}`)), 401, 'unauthorized');
    const otherPayload = b64url(JSON.stringify({ scope: 'app', exp: nowSeconds() + 10_000 }));
    expectError(await getApp(bearer(`${h}.${otherPayload}.${sig}`)), 401, 'unauthorized');
    expectError(await getApp(bearer(`${h}.${p}.`)), 401, 'unauthorized');
  });

  it('expired exp → 401, also a second ago', async () => {
    expectError(await getApp(bearer(await appToken({ scope: 'app', exp: nowSeconds() - 3600 }))), 401, 'unauthorized');
    expectError(await getApp(bearer(await appToken({ scope: 'app', exp: nowSeconds() - 1 }))), 401, 'unauthorized');
  });

  it('unknown kid or no kid → 401', async () => {
    expectError(await getApp(bearer(await appToken({ scope: 'app' }, { kid: 'app_0123456789abcdef01234567' }))), 401, 'unauthorized');
    expectError(await getApp(bearer(await handJwt({ alg: 'HS256', typ: 'JWT' }, { scope: 'app' }, key.secret))), 401, 'unauthorized');
  });

  it('an account-key JWT with scope account can create and list apps', async () => {
    const token = bearer(await accountToken());
    const created = await call('POST', '/v2/apps', token, { displayName: 'Made with a JWT' });
    expect(created.status).toBe(201);
    expect(created.body.app).toMatchObject({ id: expect.stringMatching(/^[0-9a-f]{24}$/), displayName: 'Made with a JWT' });
    const listed = await call('GET', '/v2/apps?page[size]=100', token);
    expect(listed.status).toBe(200);
    expect(listed.body.apps.map((a: { id: string }) => a.id)).toContain(created.body.app.id);
  });

  it('an app-key JWT cannot create or list apps → 403 forbidden', async () => {
    const token = bearer(await appToken());
    expectError(await raw('POST', '/v2/apps', { headers: { authorization: token, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'nope' }) }), 403, 'forbidden');
    expectError(await raw('GET', '/v2/apps', { headers: { authorization: token } }), 403, 'forbidden');
  });
});

describe('app keys', () => {
  it('the secret is returned only at creation; list and get never include it', async () => {
    const created = await call('POST', `/v2/apps/${appId}/keys`, asAccount, { displayName: 'second key' });
    expect(created.status).toBe(201);
    expect(created.body).toStrictEqual({ key: { id: expect.stringMatching(/^app_/), displayName: 'second key', secret: expect.any(String) } });
    expect(created.body.key.secret.length).toBeGreaterThanOrEqual(20);
    const id = created.body.key.id as string;

    const listed = await call('GET', `/v2/apps/${appId}/keys`, asAccount);
    expect(listed.status).toBe(200);
    expect(listed.body.keys).toContainEqual({ id, displayName: 'second key' });
    expect(listed.body.keys).toContainEqual({ id: key.id, displayName: 'test key' });
    for (const k of listed.body.keys) expect(Object.keys(k).sort()).toEqual(['displayName', 'id']);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key.secret);

    const one = await call('GET', `/v2/apps/${appId}/keys/${id}`, asAccount);
    expect(one).toStrictEqual({ status: 200, body: { key: { id, displayName: 'second key' } } });
  });

  it('a deleted app key stops working at once (Basic and JWT); the other key keeps working', async () => {
    const created = await call('POST', `/v2/apps/${appId}/keys`, asAccount, { displayName: 'doomed key' });
    expect(created.status).toBe(201);
    const doomed = created.body.key as { id: string; secret: string };
    const doomedBasic = basic(doomed.id, doomed.secret);
    const doomedJwt = bearer(await handJwt({ alg: 'HS256', typ: 'JWT', kid: doomed.id }, { scope: 'app' }, doomed.secret));
    await expectApp(await getApp(doomedBasic));
    await expectApp(await getApp(doomedJwt));

    const removed = await call('DELETE', `/v2/apps/${appId}/keys/${doomed.id}`, asAccount);
    expect(removed).toStrictEqual({ status: 200, body: {} });

    expectError(await getApp(doomedBasic), 401, 'unauthorized');
    expectError(await getApp(doomedJwt), 401, 'unauthorized');
    expectError(await raw('GET', `/v2/apps/${appId}/keys/${doomed.id}`, { headers: { authorization: asAccount } }), 404, 'key_not_found');
    expectError(await raw('DELETE', `/v2/apps/${appId}/keys/${doomed.id}`, { headers: { authorization: asAccount } }), 404, 'key_not_found');
    await expectApp(await getApp(appAuth));
  });

  it("a deleted app's keys stop working at once", async () => {
    const other = await newApp('Short-lived app');
    expect((await getApp(other.auth)).status).toBe(403); // its key is valid, just not for this app
    expect((await call('GET', `/v2/apps/${other.appId}`, other.auth)).status).toBe(200);
    expect(await call('DELETE', `/v2/apps/${other.appId}`, asAccount)).toStrictEqual({ status: 200, body: {} });
    expectError(await raw('GET', `/v2/apps/${other.appId}`, { headers: { authorization: other.auth } }), 401, 'unauthorized');
    expectError(await raw('GET', `/v2/apps/${other.appId}`, { headers: { authorization: asAccount } }), 404, 'app_not_found');
  });

  it('key routes need the account key: an app key (Basic or JWT) gets 403 forbidden, even on its own app', async () => {
    for (const authorization of [appAuth, bearer(await appToken())]) {
      const h = { authorization };
      expectError(await raw('POST', `/v2/apps/${appId}/keys`, { headers: { ...h, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'sneaky' }) }), 403, 'forbidden');
      expectError(await raw('GET', `/v2/apps/${appId}/keys`, { headers: h }), 403, 'forbidden');
      expectError(await raw('GET', `/v2/apps/${appId}/keys/${key.id}`, { headers: h }), 403, 'forbidden');
      expectError(await raw('DELETE', `/v2/apps/${appId}/keys/${key.id}`, { headers: h }), 403, 'forbidden');
    }
    // Nothing changed: no "sneaky" key, and the app key still works.
    const listed = await call('GET', `/v2/apps/${appId}/keys`, asAccount);
    expect(listed.body.keys.map((k: { displayName: string }) => k.displayName)).not.toContain('sneaky');
    expect(listed.body.keys.map((k: { id: string }) => k.id)).toContain(key.id);
    await expectApp(await getApp(appAuth));
  });

  it('key routes without credentials → 401', async () => {
    expectError(await raw('GET', `/v2/apps/${appId}/keys`), 401, 'unauthorized');
  });

  it('an app holds at most 10 keys: the 11th → 400', async () => {
    const fresh = await newApp('Key limit app'); // 1 key
    for (let i = 2; i <= 10; i++) expect((await call('POST', `/v2/apps/${fresh.appId}/keys`, asAccount, { displayName: `k${i}` })).status).toBe(201);
    expectError(
      await raw('POST', `/v2/apps/${fresh.appId}/keys`, { headers: { authorization: asAccount, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'k11' }) }),
      400,
      'bad_request',
      /10/,
    );
    expect((await call('GET', `/v2/apps/${fresh.appId}/keys`, asAccount)).body.keys).toHaveLength(10);
  });
});
