/**
 * Custom integrations, their webhooks and their API keys (contract §1.3–1.5,
 * §2.8, §2.9, §4.1): response shapes as the official client models them, the
 * 400s that name the field, the per-app and per-integration limits, tenant
 * walls, secret rotation as the delivery side sees it (appWebhooks), cascade
 * on delete, and which webhook targets are allowed (checkTarget).
 *
 * The suites run with PARLEY_ENV=local, as `npm start` does; hosted-mode
 * target rules are pinned through checkTarget with local=false.
 */
import { env } from 'cloudflare:test';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { appWebhooks, findIntegrationKeySecret, PREVIOUS_SECRET_MS } from '../../src/db/integrations';
import { checkTarget } from '../../src/http/targets';
import { asAccount, call, newApp } from './helpers';
import { expectError } from './fixtures';

const ID = /^[0-9a-f]{24}$/;
const TARGET = 'https://hooks.example.com/parley';

const hook = (overrides: Record<string, unknown> = {}) => ({ target: TARGET, triggers: ['conversation:message'], ...overrides });

async function createCustom(appId: string, auth: string, webhook: Record<string, unknown> = hook(), extra: Record<string, unknown> = {}) {
  const res = await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [webhook], ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.integration as { id: string; webhooks: { id: string; secret: string }[] };
}

const count = async (table: 'integrations' | 'webhooks' | 'integration_keys', column: string, value: string) =>
  (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`).bind(value).first<{ n: number }>())!.n;

afterEach(() => {
  vi.useRealTimers();
});

describe('custom integrations', () => {
  it('POST creates a custom integration together with its one webhook and returns the webhook secret', async () => {
    const { appId, auth } = await newApp('Custom create');
    const res = await call('POST', `/v2/apps/${appId}/integrations`, auth, {
      type: 'custom',
      displayName: 'My bot',
      webhooks: [{ target: TARGET, triggers: ['conversation:message', 'conversation:postback'], includeFullSource: true }],
    });
    expect(res.status).toBe(201);
    expect(res.body).toStrictEqual({
      integration: {
        id: expect.stringMatching(ID),
        type: 'custom',
        status: 'active',
        displayName: 'My bot',
        webhooks: [
          {
            id: expect.stringMatching(ID),
            version: 'v2',
            target: TARGET,
            triggers: ['conversation:message', 'conversation:postback'],
            includeFullUser: false,
            includeFullSource: true,
            secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
          },
        ],
      },
    });
    const got = await call('GET', `/v2/apps/${appId}/integrations/${res.body.integration.id}`, auth);
    expect(got).toStrictEqual({ status: 200, body: res.body });
  });

  it('displayName is null when none is given, and the account key may create integrations too', async () => {
    const { appId } = await newApp('Custom by account');
    const res = await call('POST', `/v2/apps/${appId}/integrations`, asAccount, { type: 'custom', webhooks: [hook()] });
    expect(res.status).toBe(201);
    expect(res.body.integration.displayName).toBeNull();
  });

  it('GET lists integrations with cursor pagination, meta and links, and filter[types] picks types', async () => {
    const { appId, auth } = await newApp('Custom list');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await createCustom(appId, auth, hook(), { displayName: `bot ${i}` })).id);
    const base = `/v2/apps/${appId}/integrations`;

    const first = await call('GET', `${base}?page[size]=2`, auth);
    expect(first.status).toBe(200);
    expect(first.body.integrations.map((i: { id: string }) => i.id)).toEqual(ids.slice(0, 2));
    expect(first.body.integrations[0]).toMatchObject({ type: 'custom', status: 'active', displayName: 'bot 0', webhooks: [{ target: TARGET }] });
    expect(first.body.meta).toStrictEqual({ hasMore: true, afterCursor: ids[1] });
    const next = new URL(first.body.links.next);
    expect(next.searchParams.get('page[after]')).toBe(ids[1]);

    const second = await call('GET', `${next.pathname}${next.search}`, auth);
    expect(second.body.integrations.map((i: { id: string }) => i.id)).toEqual([ids[2]]);
    expect(second.body.meta).toStrictEqual({ hasMore: false, beforeCursor: ids[2] });

    const back = await call('GET', `${base}?page[before]=${ids[2]}&page[size]=1`, auth);
    expect(back.body.integrations.map((i: { id: string }) => i.id)).toEqual([ids[1]]);

    expect((await call('GET', `${base}?filter[types]=web`, auth)).body.integrations).toEqual([]);
    expect((await call('GET', `${base}?filter[types]=web,custom`, auth)).body.integrations).toHaveLength(3);
    expect((await call('GET', base, auth)).body.integrations).toHaveLength(3);
  });

  it('a bad filter[types] or page query is refused naming it', async () => {
    const { appId, auth } = await newApp('Custom list filter');
    expectError(await call('GET', `/v2/apps/${appId}/integrations?filter[types]=custom;drop`, auth), 400, 'bad_request', /^filter\[types\]: /);
    expectError(await call('GET', `/v2/apps/${appId}/integrations?page[size]=0`, auth), 400, 'bad_request', /^page\[size\]: /);
  });

  it('PATCH changes displayName, null unsets it, and the webhook is left as it was', async () => {
    const { appId, auth } = await newApp('Custom patch');
    const created = await createCustom(appId, auth, hook(), { displayName: 'Before' });
    const path = `/v2/apps/${appId}/integrations/${created.id}`;
    const renamed = await call('PATCH', path, auth, { displayName: 'After' });
    expect(renamed).toStrictEqual({ status: 200, body: { integration: { ...created, displayName: 'After' } } });
    expect((await call('GET', path, auth)).body.integration.displayName).toBe('After');
    const unset = await call('PATCH', path, auth, { displayName: null });
    expect(unset.body.integration).toStrictEqual({ ...created, displayName: null });
    expectError(await call('PATCH', path, auth, { displayName: 'x'.repeat(101) }), 400, 'bad_request', /^displayName: /);
  });

  it('an unknown integration answers 404 integration_not_found on every route', async () => {
    const { appId, auth } = await newApp('Custom 404');
    for (const id of ['0123456789abcdef01234567', 'not-an-id']) {
      const base = `/v2/apps/${appId}/integrations/${id}`;
      expectError(await call('GET', base, auth), 404, 'integration_not_found');
      expectError(await call('PATCH', base, auth, { displayName: 'x' }), 404, 'integration_not_found');
      expectError(await call('DELETE', base, auth), 404, 'integration_not_found');
      expectError(await call('GET', `${base}/webhooks`, auth), 404, 'integration_not_found');
      expectError(await call('POST', `${base}/webhooks`, auth, hook()), 404, 'integration_not_found');
      expectError(await call('GET', `${base}/keys`, auth), 404, 'integration_not_found');
      expectError(await call('POST', `${base}/keys`, auth, { displayName: 'k' }), 404, 'integration_not_found');
    }
  });

  it('DELETE removes the integration with its webhooks and keys, for the API and for delivery', async () => {
    const { appId, auth } = await newApp('Custom delete');
    const integration = await createCustom(appId, auth);
    const keep = await createCustom(appId, auth, hook({ target: 'https://keep.example.com/' }));
    const base = `/v2/apps/${appId}/integrations/${integration.id}`;
    expect((await call('POST', `${base}/webhooks`, auth, hook({ triggers: ['user:update'] }))).status).toBe(201);
    const key = await call('POST', `${base}/keys`, auth, { displayName: 'doomed' });
    expect(key.status).toBe(201);
    expect(await findIntegrationKeySecret(env, key.body.key.id)).toBeDefined();
    expect((await appWebhooks(env, appId)).map((w) => w.integrationId).sort()).toEqual([integration.id, integration.id, keep.id].sort());

    expect(await call('DELETE', base, auth)).toStrictEqual({ status: 200, body: {} });

    expectError(await call('GET', base, auth), 404, 'integration_not_found');
    expectError(await call('GET', `${base}/webhooks`, auth), 404, 'integration_not_found');
    expect(await count('webhooks', 'integration_id', integration.id)).toBe(0);
    expect(await count('integration_keys', 'integration_id', integration.id)).toBe(0);
    expect(await findIntegrationKeySecret(env, key.body.key.id)).toBeUndefined();
    expect((await appWebhooks(env, appId)).map((w) => w.integrationId)).toEqual([keep.id]);
    expect((await call('GET', `/v2/apps/${appId}/integrations`, auth)).body.integrations.map((i: { id: string }) => i.id)).toEqual([keep.id]);
    expectError(await call('DELETE', base, auth), 404, 'integration_not_found');
  });

  it('deleting the app removes its integrations, webhooks and keys', async () => {
    const { appId, auth } = await newApp('Custom app delete');
    const integration = await createCustom(appId, auth);
    expect((await call('POST', `/v2/apps/${appId}/integrations/${integration.id}/keys`, auth, { displayName: 'k' })).status).toBe(201);
    expect((await call('DELETE', `/v2/apps/${appId}`, asAccount)).status).toBe(200);
    expect(await count('integrations', 'app_id', appId)).toBe(0);
    expect(await count('webhooks', 'app_id', appId)).toBe(0);
    expect(await count('integration_keys', 'app_id', appId)).toBe(0);
  });
});

describe('integration bodies are validated at the edge, naming the field', () => {
  let appId: string;
  let auth: string;
  beforeAll(async () => {
    ({ appId, auth } = await newApp('Custom validation'));
  });

  const cases: [string, unknown, RegExp][] = [
    ['a type Parley does not have', { type: 'kakao' }, /^type: must be one of custom, web, whatsapp/],
    ['no type', { webhooks: [hook()] }, /^type: is required/],
    ['no webhooks', { type: 'custom' }, /^webhooks: is required/],
    ['zero webhooks', { type: 'custom', webhooks: [] }, /^webhooks: must hold exactly one webhook/],
    ['two webhooks', { type: 'custom', webhooks: [hook(), hook()] }, /^webhooks: must hold exactly one webhook/],
    ['a webhook without target', { type: 'custom', webhooks: [{ triggers: ['conversation:message'] }] }, /^webhooks\[0\]\.target: is required/],
    ['an unknown trigger', { type: 'custom', webhooks: [hook({ triggers: ['conversation:message', 'message:appUser'] })] }, /^webhooks\[0\]\.triggers\[1\]: must be a webhook trigger/],
    ['a private target', { type: 'custom', webhooks: [hook({ target: 'https://192.168.0.10/hook' })] }, /^webhooks\[0\]\.target: must not be a private/],
    ['a too long displayName', { type: 'custom', displayName: 'x'.repeat(101), webhooks: [hook()] }, /^displayName: /],
  ];

  it.each(cases)('refuses %s', async (_name, body, title) => {
    expectError(await call('POST', `/v2/apps/${appId}/integrations`, auth, body), 400, 'bad_request', title);
  });

  it('none of the refused bodies created an integration', async () => {
    expect(await count('integrations', 'app_id', appId)).toBe(0);
  });
});

describe('webhooks', () => {
  it('POST, GET, list, PATCH and DELETE a webhook; its secret shows on create and get and survives updates', async () => {
    const { appId, auth } = await newApp('Webhook crud');
    const integration = await createCustom(appId, auth);
    const base = `/v2/apps/${appId}/integrations/${integration.id}/webhooks`;

    const created = await call('POST', base, auth, { target: 'https://other.example.com/in', triggers: ['*'] });
    expect(created.status).toBe(201);
    const webhook = created.body.webhook;
    expect(webhook).toStrictEqual({
      id: expect.stringMatching(ID),
      version: 'v2',
      target: 'https://other.example.com/in',
      triggers: ['*'],
      includeFullUser: false,
      includeFullSource: false,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
    });
    expect(webhook.secret).not.toBe(integration.webhooks[0]!.secret);

    expect(await call('GET', `${base}/${webhook.id}`, auth)).toStrictEqual({ status: 200, body: { webhook } });
    const listed = await call('GET', base, auth);
    expect(listed).toStrictEqual({ status: 200, body: { webhooks: [integration.webhooks[0], webhook] } });

    const patched = await call('PATCH', `${base}/${webhook.id}`, auth, {
      target: 'https://moved.example.com/in',
      triggers: ['conversation:create', 'user:merge'],
      includeFullUser: true,
    });
    const expected = { ...webhook, target: 'https://moved.example.com/in', triggers: ['conversation:create', 'user:merge'], includeFullUser: true };
    expect(patched).toStrictEqual({ status: 200, body: { webhook: expected } });
    expect((await call('GET', `${base}/${webhook.id}`, auth)).body.webhook).toStrictEqual(expected);

    expect(await call('DELETE', `${base}/${webhook.id}`, auth)).toStrictEqual({ status: 200, body: {} });
    expectError(await call('GET', `${base}/${webhook.id}`, auth), 404, 'not_found', /Webhook not found/);
    expectError(await call('PATCH', `${base}/${webhook.id}`, auth, { includeFullUser: false }), 404, 'not_found');
    expectError(await call('DELETE', `${base}/${webhook.id}`, auth), 404, 'not_found');
    expect((await call('GET', base, auth)).body.webhooks).toStrictEqual([integration.webhooks[0]]);
  });

  it('version v1 (Parley legacy payloads) can be chosen at creation; v2 is the default', async () => {
    const { appId, auth } = await newApp('Webhook version');
    const integration = await createCustom(appId, auth, hook({ version: 'v1' }));
    expect(integration.webhooks[0]).toMatchObject({ version: 'v1' });
    const base = `/v2/apps/${appId}/integrations/${integration.id}/webhooks`;
    expect((await call('POST', base, auth, hook())).body.webhook.version).toBe('v2');
    expectError(await call('POST', base, auth, hook({ version: 'v1.1' })), 400, 'bad_request', /^version: must be v2 or v1/);
    expect((await appWebhooks(env, appId)).map((w) => w.version)).toEqual(['v1', 'v2']);
  });

  it('repeated triggers are stored once', async () => {
    const { appId, auth } = await newApp('Webhook dup triggers');
    const integration = await createCustom(appId, auth, hook({ triggers: ['conversation:message', 'conversation:message', 'user:update'] }));
    expect((integration.webhooks[0] as unknown as { triggers: string[] }).triggers).toEqual(['conversation:message', 'user:update']);
  });

  it('a local Parley accepts http://localhost and http://127.0.0.1 targets', async () => {
    const { appId, auth } = await newApp('Webhook local');
    const integration = await createCustom(appId, auth, hook({ target: 'http://localhost:3000/hooks' }));
    const res = await call('POST', `/v2/apps/${appId}/integrations/${integration.id}/webhooks`, auth, hook({ target: 'http://127.0.0.1:8080/' }));
    expect(res.status).toBe(201);
    expect((await appWebhooks(env, appId)).map((w) => w.target)).toEqual(['http://localhost:3000/hooks', 'http://127.0.0.1:8080/']);
  });

  describe('bad webhook bodies are refused naming the field, and change nothing', () => {
    let appId: string;
    let auth: string;
    let base: string;
    let original: unknown;
    beforeAll(async () => {
      ({ appId, auth } = await newApp('Webhook validation'));
      const integration = await createCustom(appId, auth);
      base = `/v2/apps/${appId}/integrations/${integration.id}/webhooks`;
      original = integration.webhooks[0];
    });

    const cases: [string, unknown, RegExp][] = [
      ['no target', { triggers: ['conversation:message'] }, /^target: is required/],
      ['a target that is not a URL', hook({ target: 'hooks.example.com' }), /^target: must be a valid URI/],
      ['no triggers', { target: TARGET }, /^triggers: is required/],
      ['empty triggers', hook({ triggers: [] }), /^triggers: must hold at least one trigger/],
      ['an unknown trigger', hook({ triggers: ['conversation:message', 'conversation:Message'] }), /^triggers\[1\]: must be a webhook trigger/],
      ['triggers as a string', hook({ triggers: 'conversation:message' }), /^triggers: must be an array/],
      ['an ftp target', hook({ target: 'ftp://hooks.example.com/' }), /^target: must be an https:\/\/ URL/],
      ['plain http to a public host, even locally', hook({ target: 'http://hooks.example.com/' }), /^target: must be an https:\/\/ URL/],
      ['a private IPv4 target', hook({ target: 'https://10.1.2.3/hook' }), /^target: must not be a private/],
      ['a link-local (metadata) target', hook({ target: 'https://169.254.169.254/latest' }), /^target: must not be a private/],
      ['an IPv4-mapped IPv6 target', hook({ target: 'https://[::ffff:10.0.0.1]/' }), /^target: must not be a private/],
      ['credentials in the target', hook({ target: 'https://user:pass@hooks.example.com/' }), /^target: must not contain a username or password/],
      ['a non-boolean includeFullUser', hook({ includeFullUser: 'yes' }), /^includeFullUser: must be a boolean/],
    ];

    it.each(cases)('POST refuses %s', async (_name, body, title) => {
      expectError(await call('POST', base, auth, body), 400, 'bad_request', title);
    });

    it.each([
      ['a private target', { target: 'https://192.168.1.1/' }, /^target: must not be a private/],
      ['an unknown trigger', { triggers: ['nope'] }, /^triggers\[0\]: must be a webhook trigger/],
      ['empty triggers', { triggers: [] }, /^triggers: must hold at least one trigger/],
    ] as [string, unknown, RegExp][])('PATCH refuses %s', async (_name, body, title) => {
      expectError(await call('PATCH', `${base}/${(original as { id: string }).id}`, auth, body), 400, 'bad_request', title);
    });

    it('the integration still has exactly its original webhook', async () => {
      expect((await call('GET', base, auth)).body.webhooks).toStrictEqual([original]);
    });
  });

  it('an app holds at most 10 webhooks, across its integrations; a custom integration is refused at the limit and leaves nothing behind', async () => {
    const { appId, auth } = await newApp('Webhook limit');
    const first = await createCustom(appId, auth);
    const second = await createCustom(appId, auth);
    const base = (id: string) => `/v2/apps/${appId}/integrations/${id}/webhooks`;
    for (let i = 0; i < 8; i++) {
      const res = await call('POST', base(i % 2 ? first.id : second.id), auth, hook({ target: `https://hooks.example.com/${i}` }));
      expect(res.status).toBe(201);
    }
    expect(await count('webhooks', 'app_id', appId)).toBe(10);

    expectError(await call('POST', base(first.id), auth, hook()), 400, 'bad_request', /at most 10 webhooks/);
    expectError(await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [hook()] }), 400, 'bad_request', /at most 10 webhooks/);
    expect(await count('webhooks', 'app_id', appId)).toBe(10);
    expect(await count('integrations', 'app_id', appId)).toBe(2);

    const victim = (await call('GET', base(second.id), auth)).body.webhooks[0].id;
    expect((await call('DELETE', `${base(second.id)}/${victim}`, auth)).status).toBe(200);
    expect((await call('POST', base(first.id), auth, hook())).status).toBe(201);
  });

  it('a webhook of one integration is not reachable under another integration of the same app', async () => {
    const { appId, auth } = await newApp('Webhook cross integration');
    const a = await createCustom(appId, auth);
    const b = await createCustom(appId, auth);
    const wrong = `/v2/apps/${appId}/integrations/${b.id}/webhooks/${a.webhooks[0]!.id}`;
    expectError(await call('GET', wrong, auth), 404, 'not_found');
    expectError(await call('PATCH', wrong, auth, { target: 'https://stolen.example.com/' }), 404, 'not_found');
    expectError(await call('POST', `${wrong}/rotateSecret`, auth), 404, 'not_found');
    expectError(await call('DELETE', wrong, auth), 404, 'not_found');
    expect((await call('GET', `/v2/apps/${appId}/integrations/${b.id}/webhooks`, auth)).body.webhooks).toStrictEqual(b.webhooks);
    expect((await call('GET', `/v2/apps/${appId}/integrations/${a.id}`, auth)).body.integration).toStrictEqual(a);
  });
});

describe('webhook secret rotation', () => {
  it('rotateSecret issues a new secret, and delivery keeps the previous one for 24 hours', async () => {
    const { appId, auth } = await newApp('Webhook rotation');
    const integration = await createCustom(appId, auth);
    const original = integration.webhooks[0]!;
    const path = `/v2/apps/${appId}/integrations/${integration.id}/webhooks/${original.id}`;

    const rotated = await call('POST', `${path}/rotateSecret`, auth);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toStrictEqual({ webhook: { ...original, secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) } });
    const fresh = rotated.body.webhook.secret as string;
    expect(fresh).not.toBe(original.secret);
    expect((await call('GET', path, auth)).body.webhook.secret).toBe(fresh);

    const [sub] = await appWebhooks(env, appId);
    expect(sub).toStrictEqual({
      id: original.id,
      integrationId: integration.id,
      integrationType: 'custom',
      target: TARGET,
      triggers: ['conversation:message'],
      includeFullUser: false,
      includeFullSource: false,
      version: 'v2',
      secrets: [fresh, original.secret],
      createdAt: expect.any(String),
    });

    vi.useFakeTimers({ now: Date.now() + PREVIOUS_SECRET_MS + 1_000, toFake: ['Date'] });
    expect((await appWebhooks(env, appId))[0]!.secrets).toEqual([fresh]);
  });

  it('the previous secret leaves the subscription the moment it expires, even while the subscription is cached', async () => {
    const { appId, auth } = await newApp('Webhook rotation expiry');
    const integration = await createCustom(appId, auth);
    const rotatedAt = Date.now();
    const fresh = (await call('POST', `/v2/apps/${appId}/integrations/${integration.id}/webhooks/${integration.webhooks[0]!.id}/rotateSecret`, auth)).body.webhook.secret;
    vi.useFakeTimers({ now: rotatedAt + PREVIOUS_SECRET_MS - 1_000, toFake: ['Date'] });
    expect((await appWebhooks(env, appId))[0]!.secrets).toEqual([fresh, integration.webhooks[0]!.secret]);
    vi.setSystemTime(rotatedAt + PREVIOUS_SECRET_MS + 1_000);
    expect((await appWebhooks(env, appId))[0]!.secrets).toEqual([fresh]);
  });

  it('a second rotation retires the oldest secret at once', async () => {
    const { appId, auth } = await newApp('Webhook double rotation');
    const integration = await createCustom(appId, auth);
    const path = `/v2/apps/${appId}/integrations/${integration.id}/webhooks/${integration.webhooks[0]!.id}/rotateSecret`;
    const second = (await call('POST', path, auth)).body.webhook.secret;
    const third = (await call('POST', path, auth)).body.webhook.secret;
    expect((await appWebhooks(env, appId))[0]!.secrets).toEqual([third, second]);
  });

  it('appWebhooks sees changes made through the API at once, and only the asked app', async () => {
    const { appId, auth } = await newApp('Webhook cache');
    const other = await newApp('Webhook cache other');
    await createCustom(other.appId, other.auth, hook({ target: 'https://other-tenant.example.com/' }));
    const integration = await createCustom(appId, auth);
    expect((await appWebhooks(env, appId)).map((w) => w.target)).toEqual([TARGET]);
    const path = `/v2/apps/${appId}/integrations/${integration.id}/webhooks/${integration.webhooks[0]!.id}`;
    expect((await call('PATCH', path, auth, { target: 'https://changed.example.com/' })).status).toBe(200);
    expect((await appWebhooks(env, appId)).map((w) => w.target)).toEqual(['https://changed.example.com/']);
    expect((await call('DELETE', path, auth)).status).toBe(200);
    expect(await appWebhooks(env, appId)).toEqual([]);
  });
});

describe('custom integration API keys', () => {
  it('POST returns the secret once; list and get never do; DELETE removes it from authentication lookups', async () => {
    const { appId, auth } = await newApp('Integration keys');
    const integration = await createCustom(appId, auth);
    const base = `/v2/apps/${appId}/integrations/${integration.id}/keys`;

    const created = await call('POST', base, auth, { displayName: 'Bot key' });
    expect(created.status).toBe(201);
    expect(created.body).toStrictEqual({ key: { id: expect.stringMatching(/^int_[0-9a-f]{24}$/), displayName: 'Bot key', secret: expect.stringMatching(/^[\w-]{32,}$/) } });
    const { id, secret } = created.body.key;

    expect(await call('GET', base, auth)).toStrictEqual({ status: 200, body: { keys: [{ id, displayName: 'Bot key' }] } });
    expect(await call('GET', `${base}/${id}`, auth)).toStrictEqual({ status: 200, body: { key: { id, displayName: 'Bot key' } } });
    expect(await findIntegrationKeySecret(env, id)).toStrictEqual({ appId, integrationId: integration.id, secret });

    expect(await call('DELETE', `${base}/${id}`, auth)).toStrictEqual({ status: 200, body: {} });
    expectError(await call('GET', `${base}/${id}`, auth), 404, 'key_not_found');
    expectError(await call('DELETE', `${base}/${id}`, auth), 404, 'key_not_found');
    expect(await findIntegrationKeySecret(env, id)).toBeUndefined();
    expect((await call('GET', base, auth)).body.keys).toEqual([]);
  });

  it('findIntegrationKeySecret knows nothing of app keys or made-up ids', async () => {
    const { key } = await newApp('Integration keys lookup');
    expect(await findIntegrationKeySecret(env, key.id)).toBeUndefined();
    expect(await findIntegrationKeySecret(env, 'int_0123456789abcdef01234567')).toBeUndefined();
  });

  it('a custom integration holds at most 10 keys', async () => {
    const { appId, auth } = await newApp('Integration key limit');
    const integration = await createCustom(appId, auth);
    const base = `/v2/apps/${appId}/integrations/${integration.id}/keys`;
    for (let i = 0; i < 10; i++) expect((await call('POST', base, auth, { displayName: `k${i}` })).status).toBe(201);
    expectError(await call('POST', base, auth, { displayName: 'k10' }), 400, 'bad_request', /at most 10 keys/);
    expect(await count('integration_keys', 'integration_id', integration.id)).toBe(10);
    // The limit is per integration, not per app.
    const other = await createCustom(appId, auth);
    expect((await call('POST', `/v2/apps/${appId}/integrations/${other.id}/keys`, auth, { displayName: 'k' })).status).toBe(201);
  });

  it('a key body without displayName is refused naming it', async () => {
    const { appId, auth } = await newApp('Integration key validation');
    const integration = await createCustom(appId, auth);
    expectError(await call('POST', `/v2/apps/${appId}/integrations/${integration.id}/keys`, auth, {}), 400, 'bad_request', /^displayName: is required/);
    expect(await count('integration_keys', 'integration_id', integration.id)).toBe(0);
  });

  it("a key of one integration is not reachable under another", async () => {
    const { appId, auth } = await newApp('Integration key cross');
    const a = await createCustom(appId, auth);
    const b = await createCustom(appId, auth);
    const key = (await call('POST', `/v2/apps/${appId}/integrations/${a.id}/keys`, auth, { displayName: 'a' })).body.key;
    expectError(await call('GET', `/v2/apps/${appId}/integrations/${b.id}/keys/${key.id}`, auth), 404, 'key_not_found');
    expectError(await call('DELETE', `/v2/apps/${appId}/integrations/${b.id}/keys/${key.id}`, auth), 404, 'key_not_found');
    expect((await call('GET', `/v2/apps/${appId}/integrations/${a.id}/keys`, auth)).body.keys).toHaveLength(1);
  });
});

describe('tenancy: app A cannot see or change app B integrations', () => {
  let A: Awaited<ReturnType<typeof newApp>>;
  let B: Awaited<ReturnType<typeof newApp>>;
  let aIntegration: { id: string; webhooks: { id: string }[] };
  let bIntegration: { id: string; webhooks: { id: string; secret: string }[] };
  let bKeyId: string;
  let bBefore: unknown;

  beforeAll(async () => {
    A = await newApp('Integrations tenant A');
    B = await newApp('Integrations tenant B');
    aIntegration = await createCustom(A.appId, A.auth);
    bIntegration = await createCustom(B.appId, B.auth, hook({ target: 'https://tenant-b.example.com/' }));
    bKeyId = (await call('POST', `/v2/apps/${B.appId}/integrations/${bIntegration.id}/keys`, B.auth, { displayName: 'b' })).body.key.id;
    bBefore = await bState();
  });

  async function bState() {
    const base = `/v2/apps/${B.appId}/integrations`;
    return {
      integrations: (await call('GET', base, B.auth)).body,
      webhooks: (await call('GET', `${base}/${bIntegration.id}/webhooks`, B.auth)).body,
      keys: (await call('GET', `${base}/${bIntegration.id}/keys`, B.auth)).body,
      subscriptions: await appWebhooks(env, B.appId),
    };
  }

  const underB = (): [string, string, unknown?][] => {
    const i = `/v2/apps/${B.appId}/integrations`;
    const one = `${i}/${bIntegration.id}`;
    const w = `${one}/webhooks/${bIntegration.webhooks[0]!.id}`;
    return [
      ['POST', i, { type: 'custom', webhooks: [hook()] }],
      ['GET', i],
      ['GET', one],
      ['PATCH', one, { displayName: 'owned' }],
      ['DELETE', one],
      ['POST', `${one}/webhooks`, hook()],
      ['GET', `${one}/webhooks`],
      ['GET', w],
      ['PATCH', w, { target: 'https://attacker.example.com/' }],
      ['POST', `${w}/rotateSecret`],
      ['DELETE', w],
      ['POST', `${one}/keys`, { displayName: 'planted' }],
      ['GET', `${one}/keys`],
      ['GET', `${one}/keys/${bKeyId}`],
      ['DELETE', `${one}/keys/${bKeyId}`],
    ];
  };

  it("app A's key gets 403 on every integration, webhook and key route of app B", async () => {
    for (const [method, path, body] of underB()) {
      expectError(await call(method, path, A.auth, body), 403, 'forbidden');
    }
  });

  it("B's ids under A's own path are not found", async () => {
    const a = `/v2/apps/${A.appId}/integrations`;
    expectError(await call('GET', `${a}/${bIntegration.id}`, A.auth), 404, 'integration_not_found');
    expectError(await call('PATCH', `${a}/${bIntegration.id}`, A.auth, { displayName: 'owned' }), 404, 'integration_not_found');
    expectError(await call('DELETE', `${a}/${bIntegration.id}`, A.auth), 404, 'integration_not_found');
    expectError(await call('POST', `${a}/${bIntegration.id}/webhooks`, A.auth, hook()), 404, 'integration_not_found');
    expectError(await call('GET', `${a}/${bIntegration.id}/keys`, A.auth), 404, 'integration_not_found');
    const bWebhookUnderA = `${a}/${aIntegration.id}/webhooks/${bIntegration.webhooks[0]!.id}`;
    expectError(await call('GET', bWebhookUnderA, A.auth), 404, 'not_found');
    expectError(await call('PATCH', bWebhookUnderA, A.auth, { target: 'https://attacker.example.com/' }), 404, 'not_found');
    expectError(await call('POST', `${bWebhookUnderA}/rotateSecret`, A.auth), 404, 'not_found');
    expectError(await call('DELETE', bWebhookUnderA, A.auth), 404, 'not_found');
    expectError(await call('GET', `${a}/${aIntegration.id}/keys/${bKeyId}`, A.auth), 404, 'key_not_found');
    expectError(await call('DELETE', `${a}/${aIntegration.id}/keys/${bKeyId}`, A.auth), 404, 'key_not_found');
    expect((await call('GET', a, A.auth)).body.integrations.map((i: { id: string }) => i.id)).toEqual([aIntegration.id]);
  });

  it("B's integrations, webhooks, keys and subscriptions are unchanged, and A's subscriptions hold only A's webhook", async () => {
    expect(await bState()).toStrictEqual(bBefore);
    expect((await appWebhooks(env, A.appId)).map((w) => w.id)).toEqual([aIntegration.webhooks[0]!.id]);
  });
});

describe('checkTarget: where webhooks may point', () => {
  const refusedHosted: [string, RegExp][] = [
    ['http://hooks.example.com/', /https/],
    ['ftp://hooks.example.com/', /https/],
    ['not a url', /valid URL/],
    ['https://user:pass@hooks.example.com/', /username or password/],
    ['https://user@hooks.example.com/', /username or password/],
    ['http://localhost:3000/', /https/],
    ['https://localhost/', /local or internal/],
    ['https://localhost./', /local or internal/],
    ['https://api.localhost/', /local or internal/],
    ['https://metadata.google.internal/', /local or internal/],
    ['https://printer.local/', /local or internal/],
    ['https://127.0.0.1/', /private/],
    ['https://127.8.9.10/', /private/],
    ['https://0x7f.1/', /private/],
    ['https://2130706433/', /private/],
    ['https://0.0.0.0/', /private/],
    ['https://10.0.0.1/', /private/],
    ['https://172.16.0.1/', /private/],
    ['https://172.31.255.255/', /private/],
    ['https://192.168.1.1/', /private/],
    ['https://169.254.169.254/', /private/],
    ['https://100.64.0.1/', /private/],
    ['https://100.127.255.255/', /private/],
    ['https://[::1]/', /private/],
    ['https://[::]/', /private/],
    ['https://[fc00::1]/', /private/],
    ['https://[fd12:3456::1]/', /private/],
    ['https://[fe80::1]/', /private/],
    ['https://[::ffff:10.0.0.1]/', /private/],
    ['https://[::ffff:8.8.8.8]/', /private/],
    ['https://[::ffff:127.0.0.1]/', /private/],
    ['https://[64:ff9b::a00:1]/', /private/],
  ];

  it.each(refusedHosted)('a hosted Parley refuses %s', (url, title) => {
    expect(checkTarget(url, false)).toMatch(title);
  });

  it.each([
    'https://hooks.example.com/parley',
    'https://hooks.example.com:8443/parley?x=1',
    'https://8.8.8.8/',
    'https://172.32.0.1/',
    'https://172.15.255.255/',
    'https://100.128.0.1/',
    'https://192.169.0.1/',
    'https://[2606:4700:4700::1111]/',
    'https://[64:ff9b::808:808]/',
    'https://example.localhost.com/',
  ])('a hosted Parley accepts %s', (url) => {
    expect(checkTarget(url, false)).toBeUndefined();
  });

  it.each(['http://localhost/', 'http://localhost:3000/hooks', 'http://127.0.0.1:8080/', 'https://127.0.0.1/', 'https://localhost/', 'https://dev.local/'])(
    'a local Parley also accepts %s',
    (url) => {
      expect(checkTarget(url, true)).toBeUndefined();
    },
  );

  it.each([
    ['http://127.0.0.2/', /https/],
    ['http://hooks.example.com/', /https/],
    ['http://[::1]/', /https/],
    ['https://10.0.0.1/', /private/],
    ['https://192.168.1.1/', /private/],
    ['https://169.254.169.254/', /private/],
    ['http://user:pass@localhost/', /username or password/],
  ] as [string, RegExp][])('a local Parley still refuses %s', (url, title) => {
    expect(checkTarget(url, true)).toMatch(title);
  });
});
