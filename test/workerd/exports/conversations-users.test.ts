/**
 * GET /v2/apps/{appId}/exports/conversations and /exports/users: NDJSON of
 * the v2 objects (conversations with their participants, users with
 * createdAt), CSV with fixed columns, (createdAt, id) order, since/until and
 * limit + Link, deleted conversations and users absent, and a scrubbed user
 * exported with only what the scrub left.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { applyIndexOps } from '../../../src/delivery/index-consumer';
import { call, newApp } from '../helpers';
import { at, exportRaw, hexId, ndjson, nextLink, parseCsv } from './fixtures';

const CONVERSATION_COLUMNS = ['id', 'type', 'isDefault', 'displayName', 'description', 'createdAt', 'lastUpdatedAt', 'businessLastRead', 'participantCount', 'userIds'];
const USER_COLUMNS = ['id', 'externalId', 'createdAt', 'signedUpAt', 'givenName', 'surname', 'email', 'avatarUrl', 'locale', 'authenticated', 'toBeRetained'];

async function users(appId: string, auth: string, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const res = await call('POST', `/v2/apps/${appId}/users`, auth, {
      externalId: `ext-${i}`,
      profile: { givenName: `Given, ${i}`, surname: `"Sur" ${i}`, email: `u${i}@example.com`, locale: 'fr-FR' },
      metadata: { tier: 'gold' },
    });
    expect(res.status).toBe(201);
    out.push(res.body.user);
  }
  return out;
}

describe('conversation export', () => {
  it('NDJSON: v2 conversations with participants; CSV: fixed columns; in createdAt order; deleted ones absent', async () => {
    const { appId, auth } = await newApp('export conversations');
    const [u1, u2] = await users(appId, auth, 2);
    const made: any[] = []; // v2 conversations as the API answered them
    for (const participants of [[u1], [u1, u2], [u2]]) {
      const res = await call('POST', `/v2/apps/${appId}/conversations`, auth, {
        type: 'sdkGroup',
        displayName: `Room, "${made.length}"`,
        participants: participants.map((u) => ({ userId: u.id })),
      });
      expect(res.status).toBe(201);
      made.push(res.body.conversation);
    }
    expect((await call('DELETE', `/v2/apps/${appId}/conversations/${made[2].id}`, auth)).status).toBe(200);
    const res = await exportRaw(`/v2/apps/${appId}/exports/conversations`, auth);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = ndjson(res.text);
    const order = (c: { createdAt: string; id: string }) => `${c.createdAt} ${c.id}`;
    expect(lines.map((c) => c.id)).toEqual([made[0], made[1]].sort((a, b) => (order(a) < order(b) ? -1 : 1)).map((c) => c.id));
    expect(lines[1]).toMatchObject({ id: made[1].id, type: 'sdkGroup', displayName: 'Room, "1"', createdAt: made[1].createdAt });
    expect(lines[1].participants.map((p: { userId: string }) => p.userId)).toEqual([u1.id, u2.id].sort());
    expect(lines[1].participants[0].id).toMatch(/^[0-9a-f]{24}$/);

    const csv = parseCsv((await exportRaw(`/v2/apps/${appId}/exports/conversations?format=csv`, auth)).text);
    expect(csv[0]).toEqual(CONVERSATION_COLUMNS);
    const room1 = csv.find((r) => r[0] === made[1].id)!;
    expect(room1.slice(0, 4)).toEqual([made[1].id, 'sdkGroup', 'false', 'Room, "1"']);
    expect(room1.slice(8)).toEqual(['2', [u1.id, u2.id].sort().join(' ')]);
  });

  it('pages by createdAt with since, until, limit and Link', async () => {
    const { appId, auth } = await newApp('export conversation pages');
    const ids = [hexId(), hexId(), hexId(), hexId(), hexId()];
    await applyIndexOps(
      env,
      ids.map((id, i) => ({
        op: 'conversation.upsert' as const,
        appId,
        conversation: { id, type: 'personal' as const, isDefault: false, metadata: null, businessLastRead: null, lastUpdatedAt: null, createdAt: at(i < 3 ? 0 : i * 100) },
        participants: [],
      })),
    );
    const walk = async (path: string) => {
      const seen: string[] = [];
      let next: string | undefined = path;
      while (next) {
        const res = await exportRaw(next, auth);
        seen.push(...ndjson(res.text).map((c) => c.id));
        next = nextLink(res.headers);
      }
      return seen;
    };
    const tied = ids.slice(0, 3).sort();
    expect(await walk(`/v2/apps/${appId}/exports/conversations?limit=2`)).toEqual([...tied, ids[3], ids[4]]);
    expect(await walk(`/v2/apps/${appId}/exports/conversations?limit=1&since=${at(1)}&until=${at(400)}`)).toEqual([ids[3]]);
  });
});

describe('user export', () => {
  it('NDJSON: v2 users with createdAt; CSV: profile columns quoted; deleted users absent; a scrubbed user keeps only what the scrub left', async () => {
    const { appId, auth } = await newApp('export users');
    const made = await users(appId, auth, 4);
    expect((await call('DELETE', `/v2/apps/${appId}/users/${made[3].id}`, auth)).status).toBe(200);
    expect((await call('DELETE', `/v2/apps/${appId}/users/${made[1].id}/personalinformation`, auth)).status).toBe(200);
    const lines = ndjson((await exportRaw(`/v2/apps/${appId}/exports/users`, auth)).text);
    // Users made in one millisecond are ordered by id.
    const key = (u: { createdAt: string; id: string }) => `${u.createdAt} ${u.id}`;
    expect(lines.map(key)).toEqual(lines.map(key).sort());
    expect(lines.map((u) => u.id).sort()).toEqual([made[0].id, made[1].id, made[2].id].sort());
    const byId = new Map(lines.map((u) => [u.id, u]));
    expect(byId.get(made[0].id)).toEqual({ ...made[0], createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) });
    const scrubbed = byId.get(made[1].id);
    expect(scrubbed).toMatchObject({ externalId: 'ext-1', profile: { locale: 'fr-FR' }, metadata: {}, identities: [] });
    expect(scrubbed.profile.givenName).toBeUndefined();
    const [header, ...rows] = parseCsv((await exportRaw(`/v2/apps/${appId}/exports/users?format=csv`, auth)).text);
    expect(header).toEqual(USER_COLUMNS);
    expect(rows.map((r) => r[0])).toEqual(lines.map((u) => u.id));
    const row = (id: string) => rows.find((r) => r[0] === id);
    expect(row(made[0].id)).toEqual([made[0].id, 'ext-0', byId.get(made[0].id).createdAt, made[0].signedUpAt, 'Given, 0', '"Sur" 0', 'u0@example.com', '', 'fr-FR', 'false', 'false']);
    expect(row(made[1].id)).toEqual([made[1].id, 'ext-1', scrubbed.createdAt, made[1].signedUpAt, '', '', '', '', 'fr-FR', 'false', 'false']);
    // since and limit on createdAt.
    const one = await exportRaw(`/v2/apps/${appId}/exports/users?limit=1&since=${lines[1].createdAt}`, auth);
    expect(ndjson(one.text).map((u) => u.id)).toEqual([lines.find((u) => u.createdAt >= lines[1].createdAt).id]);
    expect(nextLink(one.headers)).toMatch(/after=/);
  });
});
