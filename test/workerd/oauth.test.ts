/**
 * Parley as an OAuth 2.0 provider for partner integrations: the account key
 * registers a partner client; an app's owner approves it on the consent page
 * with an app key; the partner exchanges the code for a token that acts as the
 * integration the approval created (integration scope, its own webhooks, a
 * switchboard naming it by client id); and every way access ends (revocation
 * with its signed removeUrl notice, a replayed code, deleting the integration,
 * the app or the client) takes effect at once. The partner's servers sit
 * behind the fetch-routing harness: no test reaches the network.
 */
import { env, SELF } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, routeFetch, WebhookReceiver, type FetchHandler } from './channels/harness';
import { asAccount, basic, call, newApp } from './helpers';
import { expectError } from './fixtures';

const ORIGIN = 'http://parley.test';
const PARTNER = 'https://partner.test';
const CALLBACK = `${PARTNER}/oauth/callback`;
const HOOKS = 'https://partner-hooks.test';
const AUDIT = 'https://audit.test';

/** The partner's removeUrl endpoint: keeps what it is sent. */
class Notices implements FetchHandler {
  got: { headers: Headers; text: string }[] = [];
  async fetch(request: Request): Promise<Response> {
    this.got.push({ headers: request.headers, text: await request.text() });
    return new Response('ok');
  }
}

const notices = new Notices();
const hooks = new WebhookReceiver();
const audit = new WebhookReceiver();
let restore: () => void;
beforeAll(() => {
  const spy = routeFetch({ [PARTNER]: notices, [HOOKS]: hooks, [AUDIT]: audit });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

type App = Awaited<ReturnType<typeof newApp>>;
interface Client {
  id: string;
  name: string;
  secret: string;
  redirectUris: string[];
}

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
const sha256 = async (s: string) => hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)));
const bearer = (token: string) => `Bearer ${token}`;

async function register(body: Record<string, unknown> = {}): Promise<Client> {
  const res = await call('POST', '/v2/oauth/clients', asAccount, { name: 'Acme Helpdesk', redirectUris: [CALLBACK], removeUrl: `${PARTNER}/removed`, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.client;
}

async function browse(method: 'GET' | 'POST', path: string, form?: Record<string, string>) {
  const res = await SELF.fetch(`${ORIGIN}${path}`, {
    method,
    redirect: 'manual',
    ...(form ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() } : {}),
  });
  return { status: res.status, headers: res.headers, text: await res.text(), location: res.headers.get('location') };
}

const authorizePath = (query: Record<string, string>) => `/oauth/authorize?${new URLSearchParams(query)}`;
const consent = (fields: Record<string, string>) => browse('POST', '/oauth/authorize', fields);
const approval = (client: Client, app: App, extra: Record<string, string> = {}) =>
  consent({ response_type: 'code', client_id: client.id, redirect_uri: CALLBACK, decision: 'approve', key_id: app.key.id, key_secret: app.key.secret, ...extra });

async function codeFor(client: Client, app: App, extra: Record<string, string> = {}): Promise<string> {
  const res = await approval(client, app, extra);
  expect(res.status, res.text).toBe(302);
  return new URL(res.location!).searchParams.get('code')!;
}

async function exchange(body: Record<string, string>, as: 'json' | 'form' = 'json', headers: Record<string, string> = {}) {
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': as === 'json' ? 'application/json' : 'application/x-www-form-urlencoded', ...headers },
    body: as === 'json' ? JSON.stringify(body) : new URLSearchParams(body).toString(),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, string> };
}

const grantBody = (client: Client, code: string) => ({ grant_type: 'authorization_code', code, client_id: client.id, client_secret: client.secret });

/** The whole flow: approve with the app's key, exchange the code; the token's integration comes from tokenInfo. */
async function connect(client: Client, app: App) {
  const code = await codeFor(client, app);
  const issued = await exchange(grantBody(client, code));
  expect(issued.status, JSON.stringify(issued.body)).toBe(200);
  const auth = bearer(issued.body.access_token!);
  const info = await call('GET', '/v2/tokenInfo', auth);
  expect(info.status, JSON.stringify(info.body)).toBe(200);
  return { code, token: issued.body.access_token!, auth, integrationId: info.body.integration.id as string };
}

const newUser = (app: App, auth: string) => call('POST', `/v2/apps/${app.appId}/users`, auth, { externalId: `u-${crypto.randomUUID()}` });
const oauthRows = async (table: string) => (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;

describe('registering OAuth clients (account key)', () => {
  it('creates a client whose secret is shown once and sealed at rest; lists, gets and deletes it', async () => {
    const client = await register({ name: 'Registry test' });
    expect(client).toEqual({ id: expect.stringMatching(/^oauth_[0-9a-f]{24}$/), name: 'Registry test', redirectUris: [CALLBACK], removeUrl: `${PARTNER}/removed`, secret: expect.any(String) });
    const row = await env.DB.prepare('SELECT secret_sealed FROM oauth_clients WHERE id = ?').bind(client.id).first<{ secret_sealed: string }>();
    expect(row!.secret_sealed).toMatch(/^v1\./);
    expect(row!.secret_sealed).not.toContain(client.secret);

    const { secret: _shownOnce, ...shown } = client;
    expect((await call('GET', `/v2/oauth/clients/${client.id}`, asAccount)).body).toEqual({ client: shown });
    expect((await call('GET', '/v2/oauth/clients', asAccount)).body.clients).toContainEqual(shown);
    expect((await call('DELETE', `/v2/oauth/clients/${client.id}`, asAccount)).body).toEqual({});
    expectError(await call('GET', `/v2/oauth/clients/${client.id}`, asAccount), 404, 'not_found');
    expectError(await call('DELETE', `/v2/oauth/clients/${client.id}`, asAccount), 404, 'not_found');
  });

  it('bad input answers 400 naming the field and stores nothing; http://localhost is allowed only because this Parley runs locally', async () => {
    const before = await oauthRows('oauth_clients');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ redirectUris: [CALLBACK] }, /^name: is required/],
      [{ name: '', redirectUris: [CALLBACK] }, /^name: must be at least 1 character/],
      [{ name: 'x', redirectUris: [] }, /^redirectUris: must hold at least one URI/],
      [{ name: 'x', redirectUris: 'https://partner.test/cb' }, /^redirectUris: must be an array/],
      [{ name: 'x', redirectUris: ['http://partner.test/cb'] }, /^redirectUris\[0\]: must be an https:\/\/ URL/],
      [{ name: 'x', redirectUris: [CALLBACK, `${PARTNER}/cb#frag`] }, /^redirectUris\[1\]: must not contain a fragment/],
      [{ name: 'x', redirectUris: [CALLBACK, CALLBACK] }, /^redirectUris: must not list a URI twice/],
      [{ name: 'x', redirectUris: ['https://10.0.0.1/cb'] }, /^redirectUris\[0\]: must not be a private/],
      [{ name: 'x', redirectUris: [CALLBACK], removeUrl: 'https://user:pw@partner.test/r' }, /^removeUrl: must not contain a username/],
    ];
    for (const [body, title] of cases) expectError(await call('POST', '/v2/oauth/clients', asAccount, body), 400, 'bad_request', title);
    expect(await oauthRows('oauth_clients')).toBe(before);

    const local = await register({ redirectUris: ['http://localhost:8080/callback'], removeUrl: 'http://127.0.0.1:8080/removed' });
    expect(local.redirectUris).toEqual(['http://localhost:8080/callback']);
    await call('DELETE', `/v2/oauth/clients/${local.id}`, asAccount);
  });

  it('only the account key registers, reads or deletes clients', async () => {
    const app = await newApp('oauth: not the account');
    const client = await register();
    for (const [method, path] of [['POST', '/v2/oauth/clients'], ['GET', '/v2/oauth/clients'], ['GET', `/v2/oauth/clients/${client.id}`], ['DELETE', `/v2/oauth/clients/${client.id}`]] as const) {
      const body = method === 'POST' ? { name: 'x', redirectUris: [CALLBACK] } : undefined;
      expectError(await call(method, path, app.auth, body), 403, 'forbidden');
      expectError(await call(method, path, '', body), 401, 'unauthorized');
    }
    expect((await call('GET', `/v2/oauth/clients/${client.id}`, asAccount)).status).toBe(200);
  });
});

describe('the authorization request and the consent page', () => {
  it('GET /oauth/authorize answers the consent page naming the client, under a strict CSP, with no cookie', async () => {
    const client = await register({ name: 'Acme <Helpdesk> & Co' });
    const res = await browse('GET', authorizePath({ response_type: 'code', client_id: client.id, state: 'xyz"<', redirect_uri: CALLBACK }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('Acme &#60;Helpdesk&#62; &#38; Co');
    expect(res.text).not.toContain('<Helpdesk>');
    expect(res.text).toContain('name="state" value="xyz&#34;&#60;"');
    expect(res.text).toMatch(/<input id="key_secret" name="key_secret" type="password"/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self' https:\/\/partner\.test; frame-ancestors 'none'; base-uri 'none'$/);
    expect(res.text).not.toMatch(/<script|<img|<link|https?:\/\/(?!partner\.test)[a-z]/i);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });

  it('an unknown client, an unregistered redirect_uri or a response_type other than code gets an error page, never a redirect', async () => {
    const client = await register();
    const good = { response_type: 'code', client_id: client.id, redirect_uri: CALLBACK };
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...good, client_id: 'oauth_000000000000000000000000' }, /No OAuth client oauth_000000000000000000000000 is registered/],
      [{ ...good, client_id: 'nonsense' }, /No OAuth client nonsense is/],
      [{ response_type: 'code' }, /client_id is required/],
      [{ ...good, redirect_uri: 'https://evil.test/steal' }, /redirect_uri https:\/\/evil\.test\/steal is not registered/],
      [{ ...good, redirect_uri: `${CALLBACK}/` }, /is not registered/],
      [{ ...good, response_type: 'token' }, /response_type token is not supported/],
      [{ client_id: client.id }, /response_type is required/],
    ];
    for (const [query, reason] of cases) {
      const res = await browse('GET', authorizePath(query));
      expect({ status: res.status, location: res.location, type: res.headers.get('content-type') }).toEqual({ status: 400, location: null, type: 'text/html; charset=utf-8' });
      expect(res.text).toMatch(reason);
      expect(res.headers.get('content-security-policy')).toContain("form-action 'none'");
    }
    const repeated = await browse('GET', `${authorizePath(good)}&client_id=${client.id}`);
    expect([repeated.status, repeated.location, /client_id is given more than once/.test(repeated.text)]).toEqual([400, null, true]);
    // The form is judged again: its hidden fields cannot turn it into an open redirect.
    const forged = await consent({ ...good, redirect_uri: 'https://evil.test/steal', decision: 'deny' });
    expect([forged.status, forged.location]).toEqual([400, null]);
  });

  it('deny redirects with error=access_denied and the state, and needs no key', async () => {
    const client = await register();
    const res = await consent({ response_type: 'code', client_id: client.id, redirect_uri: CALLBACK, state: 's 1/&', decision: 'deny' });
    expect(res.status).toBe(302);
    expect(res.location).toBe(`${CALLBACK}?error=access_denied&state=s+1%2F%26`);
  });

  it('a wrong key shows the page again with 401, the key id kept and the secret not, and issues no code', async () => {
    const client = await register();
    const app = await newApp('oauth: wrong key');
    const base = { response_type: 'code', client_id: client.id, redirect_uri: CALLBACK, decision: 'approve' };
    for (const [keyId, secret] of [
      [app.key.id, 'wrong-secret'],
      [app.key.id, ''],
      [env.ACCOUNT_KEY_ID!, env.ACCOUNT_KEY_SECRET!],
      ['app_000000000000000000000000', app.key.secret],
    ] as const) {
      const res = await consent({ ...base, key_id: keyId, key_secret: secret });
      expect([res.status, res.location]).toEqual([401, null]);
      expect(res.text).toMatch(/role="alert">That app key ID and secret do not match/);
      expect(res.text).toContain(`value="${keyId}"`);
      if (secret) expect(res.text).not.toContain(secret);
    }
    expect((await env.DB.prepare('SELECT count(*) AS n FROM oauth_codes WHERE client_id = ?').bind(client.id).first<{ n: number }>())!.n).toBe(0);
  });

  it('approving redirects with a code and the state, keeps the redirect URI\'s own query, and stores the code only as its hash', async () => {
    const withQuery = `${PARTNER}/cb?tenant=7`;
    const client = await register({ redirectUris: [CALLBACK, withQuery] });
    const app = await newApp('oauth: approve');
    const res = await approval(client, app, { state: 'abc', redirect_uri: withQuery });
    expect(res.status).toBe(302);
    const location = new URL(res.location!);
    expect(`${location.origin}${location.pathname}`).toBe(`${PARTNER}/cb`);
    expect(Object.fromEntries(location.searchParams)).toEqual({ tenant: '7', code: expect.stringMatching(/^oac_[A-Za-z0-9_-]{43}$/), state: 'abc' });
    const code = location.searchParams.get('code')!;
    const rows = (await env.DB.prepare('SELECT * FROM oauth_codes WHERE client_id = ?').bind(client.id).all()).results;
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ code_hash: await sha256(code), app_id: app.appId, redirect_uri: withQuery, used_at: null });
    expect(JSON.stringify(rows)).not.toContain(code);
    // Without redirect_uri, the first registered one is used.
    const plain = await consent({ response_type: 'code', client_id: client.id, decision: 'approve', key_id: app.key.id, key_secret: app.key.secret });
    expect(plain.location).toMatch(new RegExp(`^${CALLBACK}\\?code=oac_`));
  });
});

describe('the token endpoint', () => {
  it('exchanges a code sent as JSON (as the official client does) or as a form with HTTP Basic, for a token stored only as its hash', async () => {
    const client = await register();
    const app = await newApp('oauth: token');
    const json = await exchange(grantBody(client, await codeFor(client, app)));
    expect(json.status).toBe(200);
    expect(json.body).toEqual({ access_token: expect.stringMatching(/^oat_[A-Za-z0-9_-]{43}$/), token_type: 'Bearer', appId: app.appId });
    expect(json.headers.get('cache-control')).toBe('no-store');
    const form = await exchange({ grant_type: 'authorization_code', code: await codeFor(client, app) }, 'form', { authorization: basic(client.id, client.secret) });
    expect(form.status, JSON.stringify(form.body)).toBe(200);
    for (const token of [json.body.access_token!, form.body.access_token!]) {
      const row = await env.DB.prepare('SELECT app_id, client_id FROM oauth_tokens WHERE token_hash = ?').bind(await sha256(token)).first();
      expect(row).toEqual({ app_id: app.appId, client_id: client.id });
      expect((await newUser(app, bearer(token))).status).toBe(201);
    }
    expect(JSON.stringify((await env.DB.prepare('SELECT * FROM oauth_tokens WHERE client_id = ?').bind(client.id).all()).results)).not.toContain(json.body.access_token);
  });

  it('refuses in the shape of RFC 6749 §5.2, and a refused exchange does not spend the code', async () => {
    const client = await register();
    const other = await register({ name: 'Other partner' });
    const app = await newApp('oauth: token errors');
    const code = await codeFor(client, app);
    const cases: [Promise<Awaited<ReturnType<typeof exchange>>>, number, string][] = [
      [exchange({ ...grantBody(client, code), client_secret: 'wrong' }), 401, 'invalid_client'],
      [exchange({ ...grantBody(client, code), client_id: 'oauth_000000000000000000000000' }), 401, 'invalid_client'],
      [exchange({ grant_type: 'authorization_code', code }), 401, 'invalid_client'],
      [exchange({ ...grantBody(client, code), grant_type: 'password' }), 400, 'unsupported_grant_type'],
      [exchange({ ...grantBody(client, code), grant_type: '' }), 400, 'unsupported_grant_type'],
      [exchange({ code, client_id: client.id, client_secret: client.secret }), 400, 'invalid_request'],
      [exchange({ ...grantBody(client, code), code: '' }), 400, 'invalid_request'],
      [exchange(grantBody(client, 'oac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')), 400, 'invalid_grant'],
      [exchange(grantBody(other, code)), 400, 'invalid_grant'],
      [exchange({ ...grantBody(client, code), redirect_uri: `${PARTNER}/elsewhere` }), 400, 'invalid_grant'],
      [exchange(grantBody(client, code), 'json', { 'content-type': 'text/plain' }), 400, 'invalid_request'],
      [exchange({ grant_type: 'authorization_code', code }, 'form', { authorization: basic(client.id, 'wrong') }), 401, 'invalid_client'],
    ];
    for (const [pending, status, error] of cases) {
      const res = await pending;
      expect({ status: res.status, body: res.body }).toEqual({ status, body: { error, error_description: expect.any(String) } });
    }
    const malformed = await SELF.fetch(`${ORIGIN}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":' });
    expect([malformed.status, ((await malformed.json()) as { error: string }).error]).toEqual([400, 'invalid_request']);
    const basicRefused = await exchange({ grant_type: 'authorization_code', code }, 'form', { authorization: basic(client.id, 'wrong') });
    expect(basicRefused.headers.get('www-authenticate')).toBe('Basic realm="parley"');
    // None of the refusals spent the code; its own client, with the redirect URI it was issued for, still gets a token.
    expect((await exchange({ ...grantBody(client, code), redirect_uri: CALLBACK })).status).toBe(200);
  });

  it('a code is refused once ten minutes have passed', async () => {
    const client = await register();
    const app = await newApp('oauth: expiry');
    const code = await codeFor(client, app);
    const row = await env.DB.prepare('SELECT expires_at FROM oauth_codes WHERE code_hash = ?').bind(await sha256(code)).first<{ expires_at: number }>();
    expect(row!.expires_at - Date.now()).toBeGreaterThan(9 * 60_000);
    expect(row!.expires_at - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    await env.DB.prepare('UPDATE oauth_codes SET expires_at = ? WHERE code_hash = ?').bind(Date.now() - 1, await sha256(code)).run();
    const res = await exchange(grantBody(client, code));
    expect([res.status, res.body.error, res.body.error_description]).toEqual([400, 'invalid_grant', expect.stringMatching(/expired/)]);
  });

  it('a replayed code is refused and revokes the token issued from it, at once', async () => {
    const client = await register();
    const app = await newApp('oauth: replay');
    const { code, auth } = await connect(client, app);
    expect((await newUser(app, auth)).status).toBe(201);
    const replay = await exchange(grantBody(client, code));
    expect([replay.status, replay.body.error, replay.body.error_description]).toEqual([400, 'invalid_grant', expect.stringMatching(/already used/)]);
    expectError(await newUser(app, auth), 401, 'unauthorized');
  });
});

describe('what an access token may do', () => {
  it('acts as its integration on users, conversations, messages and attachments, and gets 403 wherever integration keys do', async () => {
    const client = await register();
    const app = await newApp('oauth: scope');
    const { auth, integrationId } = await connect(client, app);
    const base = `/v2/apps/${app.appId}`;
    const info = await call('GET', '/v2/tokenInfo', auth);
    expect(info.body).toEqual({ app: { id: app.appId, displayName: 'oauth: scope' }, integration: { id: integrationId, type: client.id } });

    const user = await newUser(app, auth);
    expect(user.status).toBe(201);
    const conversation = await call('POST', `${base}/conversations`, auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    expect(conversation.status).toBe(201);
    const message = await call('POST', `${base}/conversations/${conversation.body.conversation.id}/messages`, auth, { author: { type: 'business' }, content: { type: 'text', text: 'from the partner' } });
    expect(message.status).toBe(201);
    const form = new FormData();
    form.append('source', new File(['hello'], 'note.txt', { type: 'text/plain' }));
    const upload = await SELF.fetch(`${ORIGIN}${base}/attachments?access=public`, { method: 'POST', headers: { authorization: auth }, body: form });
    expect(upload.status).toBe(201);

    const refused = await Promise.all([
      call('GET', base, auth),
      call('PATCH', base, auth, { displayName: 'taken over' }),
      call('GET', `${base}/keys`, auth),
      call('POST', `${base}/keys`, auth, { displayName: 'escalate' }),
      call('GET', `${base}/integrations`, auth),
      call('POST', `${base}/switchboards`, auth),
      call('GET', `${base}/switchboards`, auth),
      call('GET', `/v2/apps/${(await newApp('oauth: another app')).appId}/users/anyone`, auth),
    ]);
    expect(refused.map((r) => [r.status, r.body.errors[0].code])).toEqual(Array(8).fill([403, 'forbidden']));
    expectError(await call('GET', '/v2/apps', auth), 403, 'forbidden');
    expectError(await newUser(app, bearer(`oat_${'A'.repeat(43)}`)), 401, 'unauthorized');
  });

  it('approving again in the same app reuses its integration; another app gets its own', async () => {
    const client = await register();
    const app = await newApp('oauth: reuse');
    const first = await connect(client, app);
    const second = await connect(client, app);
    expect(second.integrationId).toBe(first.integrationId);
    expect((await newUser(app, first.auth)).status).toBe(201);
    const elsewhere = await connect(client, await newApp('oauth: reuse, other app'));
    expect(elsewhere.integrationId).not.toBe(first.integrationId);
    const stored = await env.DB.prepare('SELECT type, display_name, config FROM integrations WHERE id = ?').bind(first.integrationId).first();
    expect(stored).toEqual({ type: client.id, display_name: 'Acme Helpdesk', config: JSON.stringify({ oauthClientId: client.id }) });
  });

  it("GET integrations shows it with the client id as its type, beside the app's other integrations", async () => {
    const client = await register();
    const app = await newApp('oauth: listed');
    const { integrationId } = await connect(client, app);
    const list = await call('GET', `/v2/apps/${app.appId}/integrations`, app.auth);
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect(list.body.integrations).toContainEqual({ id: integrationId, type: client.id, status: 'active', displayName: 'Acme Helpdesk', webhooks: [] });
    expect((await call('GET', `/v2/apps/${app.appId}/integrations/${integrationId}`, app.auth)).body.integration.type).toBe(client.id);
    await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: `${AUDIT}/hook`, triggers: ['*'] }] });
    const filtered = await call('GET', `/v2/apps/${app.appId}/integrations?filter[types]=${client.id}`, app.auth);
    expect(filtered.body.integrations.map((i: { id: string }) => i.id)).toEqual([integrationId]);
  });

  it('manages its own webhooks through integrations/me, and only its own; revoking removes them', async () => {
    const client = await register();
    const app = await newApp('oauth: webhooks');
    const { auth, integrationId } = await connect(client, app);
    const me = `/v2/apps/${app.appId}/integrations/me/webhooks`;
    const created = await call('POST', me, auth, { target: `${HOOKS}/hook`, triggers: ['conversation:message'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await call('GET', me, auth)).body.webhooks.map((w: { id: string }) => w.id)).toEqual([created.body.webhook.id]);
    expect((await call('GET', `/v2/apps/${app.appId}/integrations/${integrationId}/webhooks`, auth)).status).toBe(200);
    const custom = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: `${AUDIT}/hook`, triggers: ['*'] }] });
    expectError(await call('GET', `/v2/apps/${app.appId}/integrations/${custom.body.integration.id}/webhooks`, auth), 403, 'forbidden');
    expect((await call('DELETE', '/oauth/authorization', auth)).status).toBe(200);
    expectError(await call('GET', me, auth), 401, 'unauthorized');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM webhooks WHERE integration_id = ?').bind(integrationId).first()).toEqual({ n: 0 });
  });
});

describe('the switchboard names an OAuth integration by its client id', () => {
  /** An app with the partner connected (its webhook hears messages), an audit integration outside the switchboard, and a switchboard: the agent desk by default, the partner named by integrationType. */
  async function partnerOnSwitchboard() {
    const client = await register();
    const app = await newApp('oauth: switchboard');
    const partner = await connect(client, app);
    await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: `${AUDIT}/hook`, triggers: ['conversation:message'] }] });
    const sb = (await call('POST', `/v2/apps/${app.appId}/switchboards`, app.auth)).body.switchboard.id;
    const sbBase = `/v2/apps/${app.appId}/switchboards/${sb}`;
    const partnerSb = await call('POST', `${sbBase}/switchboardIntegrations`, app.auth, { name: 'partner', integrationType: client.id, deliverStandbyEvents: false });
    expect(partnerSb.status, JSON.stringify(partnerSb.body)).toBe(201);
    const agentSb = await call('POST', `${sbBase}/switchboardIntegrations`, app.auth, { name: 'agent', integrationType: 'zd:agentWorkspace' });
    expect((await call('PATCH', sbBase, app.auth, { enabled: true, defaultSwitchboardIntegrationId: agentSb.body.switchboardIntegration.id })).status).toBe(200);
    const user = await newUser(app, app.auth);
    const conversation = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    return { client, app, partner, sbBase, userId: user.body.user.id as string, conversationId: conversation.body.conversation.id as string };
  }

  it('named by integrationType, control passes to it by its client id and the token acts as it; named by integrationId, its stored integrationType is the client id', async () => {
    const s = await partnerOnSwitchboard();
    const act = (name: string, body?: unknown, auth = s.partner.auth) => call('POST', `/v2/apps/${s.app.appId}/conversations/${s.conversationId}/${name}`, auth, body);
    // The agent desk is in control, so the partner may not release it; once it is passed control, it may.
    expectError(await act('releaseControl'), 403, 'forbidden');
    expect((await act('passControl', { switchboardIntegration: s.client.id }, s.app.auth)).status).toBe(200);
    const now = await call('GET', `/v2/apps/${s.app.appId}/conversations/${s.conversationId}`, s.app.auth);
    expect(now.body.conversation.activeSwitchboardIntegration).toMatchObject({ name: 'partner', integrationType: s.client.id });
    expect((await act('passControl', { switchboardIntegration: 'agent' })).status).toBe(200);
    const byId = await call('POST', `${s.sbBase}/switchboardIntegrations`, s.app.auth, { name: 'partner-by-id', integrationId: s.partner.integrationId });
    expect(byId.body.switchboardIntegration).toMatchObject({ integrationId: s.partner.integrationId, integrationType: s.client.id });
  });

  it("webhook events reach the partner only while its switchboard integration is in control", async () => {
    const s = await partnerOnSwitchboard();
    const created = await call('POST', `/v2/apps/${s.app.appId}/integrations/me/webhooks`, s.partner.auth, { target: `${HOOKS}/hook`, triggers: ['conversation:message'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const says = async (text: string) => expect((await call('POST', `/v2/apps/${s.app.appId}/conversations/${s.conversationId}/messages`, s.app.auth, { author: { type: 'user', userId: s.userId }, content: { type: 'text', text } })).status).toBe(201);
    const heard = (receiver: WebhookReceiver) =>
      receiver.ofType('conversation:message').filter((e) => (e.payload.conversation as { id: string }).id === s.conversationId).map((e) => (e.payload.message as { content: { text: string } }).content.text);
    await says('to the agent');
    await eventually(() => expect(heard(audit)).toEqual(['to the agent']));
    expect(heard(hooks)).toEqual([]);
    expect((await call('POST', `/v2/apps/${s.app.appId}/conversations/${s.conversationId}/passControl`, s.app.auth, { switchboardIntegration: 'partner' })).status).toBe(200);
    await says('to the partner');
    await eventually(() => expect(heard(hooks)).toEqual(['to the partner']));
  });
});

describe('ending access', () => {
  it('DELETE /oauth/authorization revokes the token, removes the integration, and POSTs a signed notice to removeUrl', async () => {
    const client = await register({ removeUrl: `${PARTNER}/removed` });
    const app = await newApp('oauth: revoke');
    const { auth, integrationId } = await connect(client, app);
    const seen = notices.got.length;

    const res = await call('DELETE', '/oauth/authorization', auth);
    expect([res.status, res.body]).toEqual([200, {}]);
    expectError(await newUser(app, auth), 401, 'unauthorized');
    expectError(await call('GET', `/v2/apps/${app.appId}/integrations/${integrationId}`, app.auth), 404, 'integration_not_found');

    const notice = await eventually(() => {
      const found = notices.got.slice(seen).find((n) => n.text.includes(integrationId));
      expect(found).toBeDefined();
      return found!;
    });
    expect(JSON.parse(notice.text)).toEqual({ type: 'authorization:revoke', reason: 'revoked', clientId: client.id, appId: app.appId, integrationId, revokedAt: expect.any(String) });
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(client.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const mac = hex(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(notice.text)));
    expect(notice.headers.get('x-parley-signature')).toBe(`sha256=${mac}`);
    expect(notice.headers.get('content-type')).toBe('application/json');
  });

  it("the app's owner deleting the OAuth integration tells the partner's removeUrl too", async () => {
    const client = await register();
    const app = await newApp('oauth: owner removes');
    const { integrationId } = await connect(client, app);
    expect((await call('DELETE', `/v2/apps/${app.appId}/integrations/${integrationId}`, app.auth)).status).toBe(200);
    const notice = await eventually(() => {
      const found = notices.got.find((n) => n.text.includes(integrationId));
      expect(found, 'a notice at removeUrl').toBeDefined();
      return found!;
    }, 4_000);
    expect(JSON.parse(notice.text)).toMatchObject({ type: 'authorization:revoke', reason: 'removed', clientId: client.id, appId: app.appId, integrationId });
  });

  it('only an access token may revoke its authorization', async () => {
    const app = await newApp('oauth: revoke refused');
    expectError(await call('DELETE', '/oauth/authorization', app.auth), 403, 'forbidden');
    expectError(await call('DELETE', '/oauth/authorization', asAccount), 403, 'forbidden');
    expectError(await call('DELETE', '/oauth/authorization', ''), 401, 'unauthorized');
  });

  it('deleting the integration, or the app, ends a token at once in the isolate that deleted it', async () => {
    const client = await register();
    const app = await newApp('oauth: delete integration');
    const viaIntegration = await connect(client, app);
    expect((await newUser(app, viaIntegration.auth)).status).toBe(201);
    expect((await call('DELETE', `/v2/apps/${app.appId}/integrations/${viaIntegration.integrationId}`, app.auth)).status).toBe(200);
    expectError(await newUser(app, viaIntegration.auth), 401, 'unauthorized');

    const doomed = await newApp('oauth: delete app');
    const viaApp = await connect(client, doomed);
    expect((await newUser(doomed, viaApp.auth)).status).toBe(201);
    expect((await call('DELETE', `/v2/apps/${doomed.appId}`, asAccount)).status).toBe(200);
    expectError(await call('GET', `/v2/apps/${doomed.appId}/users/anyone`, viaApp.auth), 401, 'unauthorized');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM oauth_tokens WHERE app_id = ?').bind(doomed.appId).first()).toEqual({ n: 0 });
  });

  it("deleting the client ends its tokens and removes its integration from every app", async () => {
    const client = await register();
    const apps = [await newApp('oauth: client gone 1'), await newApp('oauth: client gone 2')];
    const connected = await Promise.all(apps.map((app) => connect(client, app)));
    for (const [i, app] of apps.entries()) expect((await newUser(app, connected[i]!.auth)).status).toBe(201);
    expect((await call('DELETE', `/v2/oauth/clients/${client.id}`, asAccount)).status).toBe(200);
    for (const [i, app] of apps.entries()) {
      expectError(await newUser(app, connected[i]!.auth), 401, 'unauthorized');
      expectError(await call('GET', `/v2/apps/${app.appId}/integrations/${connected[i]!.integrationId}`, app.auth), 404, 'integration_not_found');
    }
    const page = await browse('GET', authorizePath({ response_type: 'code', client_id: client.id }));
    expect([page.status, page.location]).toEqual([400, null]);
  });
});
