/**
 * The time claims of every token Parley takes (app and account JWTs, the
 * business's login JWTs, Web Messenger session tokens): `exp`, `nbf` and
 * `iat`, when present, must be numbers, or the token is refused with 401;
 * `exp` in the past and `nbf` in the future refuse it too. A token whose `exp`
 * is "1" or null must not pass as one that never expires.
 */
import { signHs256 } from '../../src/auth/jwt';
import { beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT, call } from './helpers';
import { bearer, handJwt, nowSeconds, raw } from './fixtures';
import { browser, decodePayload, login, messagesPath, sessionSecret, startSession, userJwt, webApp, type Visitor, type WebApp } from './web/web';

/** Every shape that is not a number of seconds, for each time claim. */
const MALFORMED: [string, unknown][] = [
  ['exp', '1'],
  ['exp', null],
  ['exp', 'abc'],
  ['exp', {}],
  ['exp', [1]],
  ['exp', true],
  ['nbf', '1'],
  ['nbf', null],
  ['nbf', 'abc'],
  ['nbf', {}],
  ['iat', '1'],
  ['iat', null],
  ['iat', 'abc'],
  ['iat', {}],
];

const later = () => nowSeconds() + 600;
const earlier = () => nowSeconds() - 600;
/** Numbers in every time claim, valid now: the control every refusal below differs from by one claim. */
const validTimes = () => ({ iat: earlier(), nbf: earlier(), exp: later() });

let app: WebApp;
let visitor: Visitor;

beforeAll(async () => {
  app = await webApp();
  visitor = await startSession(app);
});

const expect401 = (res: { status: number; body: any }, title: RegExp) => {
  expect(res.status, JSON.stringify(res.body)).toBe(401);
  expect(res.body.errors[0]).toMatchObject({ code: 'unauthorized', title: expect.stringMatching(title) });
};

describe('app and account JWTs', () => {
  const appJwt = (payload: Record<string, unknown>) => handJwt({ alg: 'HS256', typ: 'JWT', kid: app.key.id }, { scope: 'app', ...payload }, app.key.secret);
  const accountJwt = (payload: Record<string, unknown>) => handJwt({ alg: 'HS256', typ: 'JWT', kid: ACCOUNT.id }, { scope: 'account', ...payload }, ACCOUNT.secret);
  const getApp = async (token: string) => raw('GET', `/v2/apps/${app.appId}`, { headers: { authorization: bearer(token) } });

  it('numeric exp, nbf and iat valid now are accepted', async () => {
    expect((await getApp(await appJwt(validTimes()))).status).toBe(200);
    expect((await getApp(await accountJwt(validTimes()))).status).toBe(200);
  });

  it.each(MALFORMED)('%s = %j is refused with 401', async (claim, value) => {
    expect401(await getApp(await appJwt({ ...validTimes(), [claim]: value })), new RegExp(`^JWT claim ${claim} must be a number`));
    expect401(await getApp(await accountJwt({ ...validTimes(), [claim]: value })), new RegExp(`^JWT claim ${claim} must be a number`));
  });

  it('nbf in the future is refused with 401', async () => {
    expect401(await getApp(await appJwt({ ...validTimes(), nbf: later() })), /not valid yet/);
  });
});

describe('login JWTs signed by the business', () => {
  it('numeric exp, nbf and iat valid now are accepted', async () => {
    const res = await login(app, 'times-ok', await userJwt(app.key, 'times-ok', validTimes()));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it.each(MALFORMED)('%s = %j is refused with 401 and creates no user', async (claim, value) => {
    const externalId = `bad-${claim}-${JSON.stringify(value)}`;
    expect401(await login(app, externalId, await userJwt(app.key, externalId, { ...validTimes(), [claim]: value })), new RegExp(`^jwt: claim ${claim} must be a number`));
    expect((await call('GET', `/v2/apps/${app.appId}/users/${encodeURIComponent(externalId)}`, app.auth)).status).toBe(404);
  });

  it('nbf in the future is refused with 401', async () => {
    expect401(await login(app, 'too-early', await userJwt(app.key, 'too-early', { ...validTimes(), nbf: later() })), /not valid yet/);
  });
});

describe('Web Messenger session tokens', () => {
  const session = async (claims: Record<string, unknown>) => signHs256({ ...decodePayload(visitor.token), ...claims }, 'web-session', await sessionSecret());
  const list = (token: string) => browser('GET', messagesPath(app, visitor.conversationId), token);

  it('numeric exp, nbf and iat valid now are accepted', async () => {
    expect((await list(await session(validTimes()))).status).toBe(200);
  });

  it.each(MALFORMED)('%s = %j is refused with 401', async (claim, value) => {
    expect401(await list(await session({ ...validTimes(), [claim]: value })), new RegExp(`^The session token claim ${claim} must be a number`));
  });

  it('a session token without exp is refused: Parley always sets one', async () => {
    const { exp: _exp, ...rest } = decodePayload(visitor.token);
    expect401(await list(await signHs256(rest, 'web-session', await sessionSecret())), /claim exp is required/);
  });

  it('nbf in the future is refused with 401', async () => {
    expect401(await list(await session({ ...validTimes(), nbf: later() })), /not valid yet/);
  });
});
