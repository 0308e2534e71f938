/**
 * Who may export, and what a bad parameter gets: account, app and integration
 * keys of the app may read its exports; another app's key is refused as
 * everywhere else (403), an unknown app with the account key is 404, no key is
 * 401. Each bad parameter answers 400 with a v2 error naming it. The queries
 * stay on the indexes of migration 0012 (no scan of the app's messages).
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { asAccount, basic, call, newApp } from '../helpers';
import { at, exportRaw, hexId, ndjson, seed } from './fixtures';

const KINDS = ['messages', 'conversations', 'users'] as const;

describe('export access', () => {
  it('account, app and integration keys of the app read every export; other tenants and anonymous callers do not', async () => {
    const { appId, auth } = await newApp('export access');
    const other = await newApp('export access other');
    const [id] = await seed(appId, [{ conversationId: hexId(), seq: 1, received: at(0) }]);
    const integration = await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [{ target: 'https://example.com/h', triggers: ['conversation:message'] }] });
    const key = await call('POST', `/v2/apps/${appId}/integrations/${integration.body.integration.id}/keys`, auth, { displayName: 'exporter' });
    const asIntegration = basic(key.body.key.id, key.body.key.secret);
    for (const who of [asAccount, auth, asIntegration]) {
      const res = await exportRaw(`/v2/apps/${appId}/exports/messages`, who);
      expect(res.status).toBe(200);
      expect(ndjson(res.text).map((m) => m.id)).toEqual([id]);
      for (const kind of KINDS.slice(1)) expect((await exportRaw(`/v2/apps/${appId}/exports/${kind}`, who)).status).toBe(200);
    }
    for (const kind of KINDS) {
      const foreign = await exportRaw(`/v2/apps/${appId}/exports/${kind}`, other.auth);
      expect([foreign.status, JSON.parse(foreign.text).errors[0].code]).toEqual([403, 'forbidden']);
      expect((await exportRaw(`/v2/apps/${appId}/exports/${kind}`, '')).status).toBe(401);
      expect((await exportRaw(`/v2/apps/${hexId()}/exports/${kind}`, asAccount)).status).toBe(404);
    }
    // The other app's own export holds none of this app's rows.
    expect((await exportRaw(`/v2/apps/${other.appId}/exports/messages`, other.auth)).text).toBe('');
  });

  it("a cursor made for one app's export reads only the app it is used on", async () => {
    const a = await newApp('export cursor a');
    const b = await newApp('export cursor b');
    await seed(a.appId, [0, 1, 2].map((i) => ({ conversationId: hexId(), seq: 1, received: at(i) })));
    const [bOnly] = await seed(b.appId, [{ conversationId: hexId(), seq: 1, received: at(5) }]);
    const first = await exportRaw(`/v2/apps/${a.appId}/exports/messages?limit=1`, a.auth);
    const after = new URL(first.headers.get('link')!.slice(1).split('>')[0]!).searchParams.get('after')!;
    const res = await exportRaw(`/v2/apps/${b.appId}/exports/messages?after=${after}`, b.auth);
    expect(ndjson(res.text).map((m) => m.id)).toEqual([bOnly]);
  });
});

describe('bad export parameters', () => {
  const cases: [string, string, RegExp][] = [
    ['messages', 'since=yesterday', /^since: must be an ISO 8601 date/],
    ['messages', 'until=2026-13-45', /^until: must be an ISO 8601/],
    ['messages', 'since=2026-01-10T10:00', /^since: /],
    ['messages', `since=${at(10)}&until=${at(5)}`, /^until: must be later than since/],
    ['messages', `since=${at(10)}&until=${at(10)}`, /^until: must be later than since/],
    ['messages', 'format=xml', /^format: must be ndjson or csv/],
    ['messages', 'limit=0', /^limit: must be an integer between 1 and 100000/],
    ['messages', 'limit=100001', /^limit: /],
    ['messages', 'limit=ten', /^limit: /],
    ['messages', 'limit=-5', /^limit: /],
    ['messages', 'after=not-a-cursor!', /^after: /],
    ['messages', `after=${btoa('["m","x","y"]')}`, /^after: /],
    ['messages', 'authorType=bot', /^authorType: must be user or business/],
    ['messages', 'conversationId=abc', /^conversationId: /],
    ['messages', 'userId=zzz', /^userId: /],
    ['messages', 'integrationType=WHATS%20APP', /^integrationType: /],
    ['conversations', 'since=31/01/2026', /^since: /],
    ['conversations', 'format=json', /^format: /],
    ['users', `until=${at(0)}&since=${at(1)}`, /^until: /],
    ['users', 'limit=1e3', /^limit: /],
  ];
  it.each(cases)('%s?%s → 400 naming the parameter', async (kind, query, title) => {
    const { appId, auth } = await newApp('export params');
    const res = await exportRaw(`/v2/apps/${appId}/exports/${kind}?${query}`, auth);
    expect(res.status).toBe(400);
    const body = JSON.parse(res.text);
    expect(body.errors[0].code).toBe('bad_request');
    expect(body.errors[0].title).toMatch(title);
  });

  it("refuses a cursor of another kind of export", async () => {
    const { appId, auth } = await newApp('export cursor kinds');
    await seed(appId, [0, 1].map((i) => ({ conversationId: hexId(), seq: 1, received: at(i) })));
    const link = (await exportRaw(`/v2/apps/${appId}/exports/messages?limit=1`, auth)).headers.get('link')!;
    const after = new URL(link.slice(1).split('>')[0]!).searchParams.get('after')!;
    const res = await exportRaw(`/v2/apps/${appId}/exports/users?after=${after}`, auth);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).errors[0].title).toMatch(/^after: not a cursor of a users export/);
  });
});

describe('export query plans', () => {
  const plan = async (sql: string, ...binds: unknown[]) =>
    (await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...binds).all<{ detail: string }>()).results.map((r) => r.detail).join(' | ');
  const base = `SELECT m.id FROM message_index m WHERE`;
  const page = `AND m.received >= ? AND (m.received, m.id) > (?, ?) ORDER BY m.received, m.id LIMIT 100`;
  it('every message filter is an index range in export order, not a scan or a sort of the app', async () => {
    const unfiltered = await plan(`${base} m.app_id = ? ${page}`, 'a', 'x', 'x', 'x');
    expect(unfiltered).toMatch(/USING (COVERING )?INDEX message_index_by_app_received/);
    const channel = await plan(`${base} m.app_id = ? AND m.integration_type = ? ${page}`, 'a', 'w', 'x', 'x', 'x');
    expect(channel).toMatch(/INDEX message_index_by_channel/);
    const author = await plan(`${base} m.app_id = ? AND m.author_user_id = ? ${page}`, 'a', 'u', 'x', 'x', 'x');
    expect(author).toMatch(/INDEX message_index_by_author/);
    const conversation = await plan(`${base} +m.app_id = ? AND m.conversation_id = ? ${page}`, 'a', 'c', 'x', 'x', 'x');
    expect(conversation).toMatch(/INDEX message_index_by_seq/);
    for (const p of [unfiltered, channel, author]) expect(p).not.toMatch(/TEMP B-TREE/);
    const conversations = await plan(`SELECT c.id FROM conversations c WHERE c.app_id = ? AND c.deleted_at IS NULL AND (c.created_at, c.id) > (?, ?) ORDER BY c.created_at, c.id LIMIT 10`, 'a', 'x', 'x');
    expect(conversations).toMatch(/INDEX conversations_by_app_created/);
    const users = await plan(`SELECT u.id FROM users u WHERE u.app_id = ? AND (u.created_at, u.id) > (?, ?) ORDER BY u.created_at, u.id LIMIT 10`, 'a', 'x', 'x');
    expect(users).toMatch(/INDEX users_by_app_created/);
  });
});
