/**
 * The official client's OAuth endpoints against a locally started Parley:
 * `OAuthEndpointsApi.authorize` (the consent page answers 200; an unknown
 * client is refused), `getToken` (JSON body `{code, grant_type, client_id,
 * client_secret}`, answer read as a plain object, errors in the RFC 6749 shape)
 * and `revokeAccess` (with the token as bearer: 200 `{}`, the partner's removeUrl
 * notified). In between, the token drives the client's own API classes as an
 * integration; and the app's integration list still reads into the client's
 * Integration model with the client id as the type. The owner's approval is
 * the form the consent page posts, sent with fetch.
 */
import { createHmac } from 'node:crypto';
import Sunco from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Receiver, waitFor } from './receiver';
import { apiClient, apis, expectEmptyOk, unique } from './sunco';
import { basicAuth } from './rest';

const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));

/** The two classes of the client this suite uses that test/node/sunshine-conversations-client.d.ts does not declare. */
interface OAuthEndpointsApi {
  authorizeWithHttpInfo(clientId: string, responseType: string, opts?: { state?: string; redirectUri?: string }): Promise<Sunco.HttpInfo<null>>;
  getToken(body: object): Promise<Record<string, unknown>>;
  revokeAccessWithHttpInfo(): Promise<Sunco.HttpInfo<unknown>>;
}
const client = Sunco as unknown as {
  OAuthEndpointsApi: new (apiClient?: Sunco.ApiClient) => OAuthEndpointsApi;
  InlineObject: new (code: string, grantType: string, clientId: string, clientSecret: string) => object;
};

/** An ApiClient carrying an OAuth access token, the way a partner configures it. */
function withToken(token?: string): Sunco.ApiClient {
  const api = new Sunco.ApiClient();
  api.basePath = url;
  if (token) api.authentications.bearerAuth.accessToken = token;
  return api;
}

async function rest(method: string, path: string, authorization: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as any };
}

const partner = new Receiver();
let appId = '';
let appKey = { id: '', secret: '' };
let oauthClient = { id: '', secret: '', name: '' };
const callback = () => `http://127.0.0.1:${partner.port}/callback`;

beforeAll(async () => {
  await partner.listen();
  const app = await rest('POST', '/v2/apps', account, { displayName: unique('oauth-compat') });
  appId = app.body.app.id;
  appKey = (await rest('POST', `/v2/apps/${appId}/keys`, account, { displayName: 'owner' })).body.key;
  const registered = await rest('POST', '/v2/oauth/clients', account, { name: 'Compat Partner', redirectUris: [callback()], removeUrl: `http://127.0.0.1:${partner.port}/removed` });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  oauthClient = registered.body.client;
});
afterAll(() => partner.close());

/** The owner approves on the consent page: the form it posts, answered by a redirect to the partner with the code. */
async function approve(state: string): Promise<string> {
  const form = new URLSearchParams({ response_type: 'code', client_id: oauthClient.id, redirect_uri: callback(), state, decision: 'approve', key_id: appKey.id, key_secret: appKey.secret });
  const res = await fetch(`${url}/oauth/authorize`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(location.searchParams.get('state')).toBe(state);
  return location.searchParams.get('code')!;
}

describe('sunshine-conversations-client OAuthEndpointsApi against Parley', () => {
  it('authorize: the consent page answers 200 for a registered client and redirect URI; an unknown client or redirect URI is refused', async () => {
    const oauth = new client.OAuthEndpointsApi(withToken());
    const page = await oauth.authorizeWithHttpInfo(oauthClient.id, 'code', { state: 'compat', redirectUri: callback() });
    expect(page.response.status).toBe(200);
    expect(page.response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.response.text).toContain('Compat Partner');
    expect(page.data).toBeNull();
    for (const [clientId, redirectUri] of [['oauth_000000000000000000000000', callback()], [oauthClient.id, 'https://elsewhere.test/cb']]) {
      const refused = (await oauth.authorizeWithHttpInfo(clientId!, 'code', { redirectUri: redirectUri! }).catch((e: Sunco.ApiError) => e)) as Sunco.ApiError;
      expect(refused.status).toBe(400);
    }
  });

  it('getToken exchanges the code as the client sends it; the token then works through the client as an integration, until revokeAccess', async () => {
    const oauth = new client.OAuthEndpointsApi(withToken());
    const code = await approve('compat-token');
    const wrong = (await oauth.getToken(new client.InlineObject(code, 'authorization_code', oauthClient.id, 'not-the-secret')).catch((e: Sunco.ApiError) => e)) as Sunco.ApiError;
    expect({ status: wrong.status, body: wrong.body }).toEqual({ status: 401, body: { error: 'invalid_client', error_description: expect.any(String) } });

    const issued = await oauth.getToken(new client.InlineObject(code, 'authorization_code', oauthClient.id, oauthClient.secret));
    expect(issued).toEqual({ access_token: expect.stringMatching(/^oat_/), token_type: 'Bearer', appId });
    const replayed = (await oauth.getToken(new client.InlineObject(code, 'authorization_code', oauthClient.id, oauthClient.secret)).catch((e: Sunco.ApiError) => e)) as Sunco.ApiError;
    expect([replayed.status, replayed.body?.error]).toEqual([400, 'invalid_grant']);

    // The replay revoked that token; a fresh approval gives the partner a working one.
    const fresh = await oauth.getToken(new client.InlineObject(await approve('compat-fresh'), 'authorization_code', oauthClient.id, oauthClient.secret));
    const asPartner = apis(withToken(fresh.access_token as string));
    const { user } = await asPartner.users.createUser(appId, new Sunco.UserCreateBody(unique('partner-user')));
    expect(user).toBeInstanceOf(Sunco.User);
    const refused = (await asPartner.switchboards.listSwitchboards(appId).catch((e: Sunco.ApiError) => e)) as Sunco.ApiError;
    expect({ status: refused.status, code: refused.body?.errors?.[0]?.code }).toEqual({ status: 403, code: 'forbidden' });

    const info = await rest('GET', '/v2/tokenInfo', `Bearer ${fresh.access_token}`);
    expect(info.body.app.id).toBe(appId);

    // Like every `{}` answer, the client hands revokeAccess's body back as the text "{}"; the raw response is the check.
    expectEmptyOk(await new client.OAuthEndpointsApi(withToken(fresh.access_token as string)).revokeAccessWithHttpInfo());
    const after = (await asPartner.users.createUser(appId, new Sunco.UserCreateBody(unique('too-late'))).catch((e: Sunco.ApiError) => e)) as Sunco.ApiError;
    expect(after.status).toBe(401);
    const notice = await waitFor('the removeUrl notice', () => partner.requests.find((r) => r.json?.type === 'authorization:revoke'));
    expect(notice.json).toMatchObject({ reason: 'revoked', clientId: oauthClient.id, appId, integrationId: info.body.integration.id });
    expect(notice.headers['x-parley-signature']).toBe(`sha256=${createHmac('sha256', oauthClient.secret).update(notice.body).digest('hex')}`);
  });

  it("listIntegrations reads the OAuth integration into the client's Integration model, its type the client id", async () => {
    const issued = await new client.OAuthEndpointsApi(withToken()).getToken(new client.InlineObject(await approve('compat-listed'), 'authorization_code', oauthClient.id, oauthClient.secret));
    const info = await rest('GET', '/v2/tokenInfo', `Bearer ${issued.access_token}`);
    const asOwner = apis(apiClient(url, 'basic', { keyId: appKey.id, secret: appKey.secret, scope: 'app' }));
    const listed = await asOwner.integrations.listIntegrations(appId);
    const mine = (listed.integrations as Sunco.Integration[]).find((i) => i.id === info.body.integration.id);
    expect(mine).toBeInstanceOf(Sunco.Integration);
    expect({ ...mine }).toEqual({ id: info.body.integration.id, type: oauthClient.id, status: 'active', displayName: 'Compat Partner' });
    const one = await asOwner.integrations.getIntegration(appId, mine!.id);
    expect(one.integration).toBeInstanceOf(Sunco.Integration);
    expect(one.integration.type).toBe(oauthClient.id);
  });
});
