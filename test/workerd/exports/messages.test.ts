/**
 * GET /v2/apps/{appId}/exports/messages: NDJSON and CSV shapes, (received, id)
 * order with ties, each filter alone and combined, since/until bounds
 * (since inclusive, until exclusive), limit + Link + after walking every row
 * exactly once, and deleted messages left out.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ndjsonMessage } from '../../../src/api/exports';
import { applyIndexOps } from '../../../src/delivery/index-consumer';
import { call, newApp } from '../helpers';
import { pollUntil } from '../load-fixtures';
import { at, exportRaw, hexId, ndjson, nextLink, parseCsv, seed } from './fixtures';

const MESSAGE_COLUMNS = ['id', 'conversationId', 'seq', 'received', 'authorType', 'userId', 'integrationType', 'contentType', 'text', 'mediaUrl'];

describe('message export shapes', () => {
  it('NDJSON: one stored v2 message per line with conversationId and seq, as application/x-ndjson attachment', async () => {
    const { appId, auth } = await newApp('export ndjson');
    const conv = hexId();
    const user = hexId();
    const ids = await seed(appId, [
      { conversationId: conv, seq: 1, received: at(0), userId: user, text: 'hello' },
      { conversationId: conv, seq: 2, received: at(5), authorType: 'business', channel: 'whatsapp', text: 'hi back' },
    ]);
    const res = await exportRaw(`/v2/apps/${appId}/exports/messages`, auth);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    expect(res.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="parley-${appId}-messages-.*\\.ndjson"$`));
    expect(res.headers.get('link')).toBeNull();
    const lines = ndjson(res.text);
    expect(lines).toEqual([
      { id: ids[0], received: at(0), seq: 1, author: { type: 'user', userId: user }, content: { type: 'text', text: 'hello' }, source: { type: 'whatsapp' }, conversationId: conv },
      { id: ids[1], received: at(5), seq: 2, author: { type: 'business' }, content: { type: 'text', text: 'hi back' }, source: { type: 'api:conversations' }, conversationId: conv },
    ]);
  });

  it('CSV: header then RFC 4180 records (commas, quotes, CR/LF and unicode kept), CRLF line ends', async () => {
    const { appId, auth } = await newApp('export csv');
    const conv = hexId();
    const user = hexId();
    const tricky = ['a, b', 'say "hi"', 'line1\nline2', 'cr\rlf\r\n', 'ünïcödé — 日本語 🎉', '', ' spaced '];
    const ids = await seed(appId, [
      ...tricky.map((text, i) => ({ conversationId: conv, seq: i + 1, received: at(i), userId: user, text })),
      { conversationId: conv, seq: 99, received: at(100), authorType: 'business' as const, channel: 'messenger', mediaUrl: 'https://cdn.example/a,b.png' },
    ]);
    const res = await exportRaw(`/v2/apps/${appId}/exports/messages?format=csv`, auth);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/\.csv"$/);
    expect(res.text.startsWith(`${MESSAGE_COLUMNS.join(',')}\r\n`)).toBe(true);
    expect(res.text).toContain('"say ""hi"""');
    expect(res.text).toContain('"a, b"');
    const [header, ...records] = parseCsv(res.text);
    expect(header).toEqual(MESSAGE_COLUMNS);
    expect(records.map((r) => r[8])).toEqual([...tricky, '']);
    expect(records[0]).toEqual([ids[0], conv, '1', at(0), 'user', user, 'whatsapp', 'text', 'a, b', '']);
    expect(records[tricky.length]).toEqual([ids[tricky.length], conv, '99', at(100), 'business', '', 'messenger', 'image', '', 'https://cdn.example/a,b.png']);
  });

  it('NDJSON adds conversationId by splicing only a body of the stored form; any other body is parsed, with the same result', () => {
    const conv = 'c'.repeat(24);
    const stored = JSON.stringify({ id: 'a'.repeat(24), received: at(0), seq: 7, author: { type: 'business' }, content: { type: 'text', text: '"seq":1, {"id":' } });
    const reordered = JSON.stringify({ author: { type: 'business', seq: 7 }, id: 'a'.repeat(24), received: at(0), seq: 7, content: { type: 'text', text: 'x' } });
    const noSeq = JSON.stringify({ id: 'a'.repeat(24), received: at(0), content: { type: 'text', text: 'x' } });
    for (const body of [stored, reordered, noSeq]) {
      expect(JSON.parse(ndjsonMessage(body, conv, 7))).toEqual({ ...JSON.parse(body), conversationId: conv, seq: 7 });
    }
    expect(ndjsonMessage(stored, conv, 7)).toBe(`{"conversationId":"${conv}",${stored.slice(1)}`);
    // A seq that disagrees with the row's is replaced by the row's.
    expect(JSON.parse(ndjsonMessage(stored, conv, 8)).seq).toBe(8);
  });

  it('an empty export is a bare header (CSV) or an empty body (NDJSON)', async () => {
    const { appId, auth } = await newApp('export empty');
    expect((await exportRaw(`/v2/apps/${appId}/exports/messages?format=csv`, auth)).text).toBe(`${MESSAGE_COLUMNS.join(',')}\r\n`);
    expect((await exportRaw(`/v2/apps/${appId}/exports/messages`, auth)).text).toBe('');
  });
});

describe('message export order, bounds and filters', () => {
  it('orders by received then id, ties included, whatever order the rows were indexed in', async () => {
    const { appId, auth } = await newApp('export order');
    const a = hexId();
    const b = hexId();
    // Three messages share one millisecond; their ids decide.
    const rows = [
      { id: `f${hexId().slice(1)}`, conversationId: a, seq: 3, received: at(10) },
      { id: `1${hexId().slice(1)}`, conversationId: b, seq: 1, received: at(10) },
      { id: `8${hexId().slice(1)}`, conversationId: a, seq: 2, received: at(10) },
      { id: hexId(), conversationId: a, seq: 1, received: at(-50) },
      { id: hexId(), conversationId: b, seq: 2, received: at(20) },
    ];
    await seed(appId, rows);
    const got = ndjson((await exportRaw(`/v2/apps/${appId}/exports/messages`, auth)).text).map((m) => m.id);
    const expected = [...rows].sort((x, y) => (x.received < y.received ? -1 : x.received > y.received ? 1 : x.id < y.id ? -1 : 1)).map((r) => r.id);
    expect(got).toEqual(expected);
    expect(got.slice(1, 4).map((id) => id[0])).toEqual(['1', '8', 'f']);
  });

  it('since is inclusive and until exclusive; dates and offsets are read as instants', async () => {
    const { appId, auth } = await newApp('export bounds');
    const conv = hexId();
    const ids = await seed(appId, [0, 1000, 2000, 3000].map((ms, i) => ({ conversationId: conv, seq: i + 1, received: at(ms) })));
    const path = (q: string) => `/v2/apps/${appId}/exports/messages?${q}`;
    const idsOf = async (q: string) => ndjson((await exportRaw(path(q), auth)).text).map((m) => m.id);
    expect(await idsOf(`since=${at(1000)}&until=${at(3000)}`)).toEqual([ids[1], ids[2]]);
    expect(await idsOf(`since=${at(1001)}`)).toEqual([ids[2], ids[3]]);
    expect(await idsOf(`until=${at(1000)}`)).toEqual([ids[0]]);
    // 2026-01-10T00:00:01+00:00 is at(1000); +01:00 an hour earlier, so everything is after it.
    expect(await idsOf(`since=${encodeURIComponent('2026-01-10T00:00:01+00:00')}`)).toEqual(ids.slice(1));
    expect(await idsOf(`since=${encodeURIComponent('2026-01-10T00:00:01+01:00')}`)).toEqual(ids);
    expect(await idsOf('since=2026-01-10&until=2026-01-11')).toEqual(ids);
    expect(await idsOf('until=2026-01-10')).toEqual([]);
  });

  it('filters by conversationId, userId, integrationType and authorType, alone and combined', async () => {
    const { appId, auth } = await newApp('export filters');
    const [c1, c2, u1, u2] = [hexId(), hexId(), hexId(), hexId()];
    const rows = [
      { conversationId: c1, seq: 1, received: at(1), userId: u1, source: 'whatsapp' },
      { conversationId: c1, seq: 2, received: at(2), authorType: 'business' as const, channel: 'whatsapp' },
      { conversationId: c1, seq: 3, received: at(3), userId: u1, source: 'web' },
      { conversationId: c2, seq: 1, received: at(4), userId: u2, source: 'telegram' },
      { conversationId: c2, seq: 2, received: at(5), authorType: 'business' as const, channel: 'telegram' },
      { conversationId: c2, seq: 3, received: at(6), authorType: 'business' as const },
      { conversationId: c2, seq: 4, received: at(7), userId: u1, source: 'telegram' },
    ];
    const ids = await seed(appId, rows);
    const pick = (...idx: number[]) => idx.map((i) => ids[i]);
    const q = async (query: string) => ndjson((await exportRaw(`/v2/apps/${appId}/exports/messages?${query}`, auth)).text).map((m) => m.id);
    expect(await q(`conversationId=${c1}`)).toEqual(pick(0, 1, 2));
    expect(await q(`userId=${u1}`)).toEqual(pick(0, 2, 6));
    expect(await q('integrationType=telegram')).toEqual(pick(3, 4, 6));
    expect(await q('integrationType=whatsapp')).toEqual(pick(0, 1));
    expect(await q('integrationType=api:conversations')).toEqual(pick(5));
    expect(await q('authorType=business')).toEqual(pick(1, 4, 5));
    expect(await q('authorType=user')).toEqual(pick(0, 2, 3, 6));
    expect(await q(`conversationId=${c2}&authorType=user`)).toEqual(pick(3, 6));
    expect(await q(`conversationId=${c2}&userId=${u1}&integrationType=telegram&authorType=user`)).toEqual(pick(6));
    expect(await q(`userId=${u1}&integrationType=web&since=${at(3)}&until=${at(4)}`)).toEqual(pick(2));
    expect(await q(`conversationId=${c1}&integrationType=telegram`)).toEqual([]);
    // The CSV carries the same rows.
    const csv = parseCsv((await exportRaw(`/v2/apps/${appId}/exports/messages?format=csv&integrationType=telegram`, auth)).text);
    expect(csv.slice(1).map((r) => [r[0], r[6]])).toEqual(pick(3, 4, 6).map((id) => [id, 'telegram']));
  });

  it('walks the whole export with limit, Link and after: no row lost or doubled, ties split across pages', async () => {
    const { appId, auth } = await newApp('export pages');
    const conv = hexId();
    // 23 messages in 8 milliseconds: pages of 4 end inside runs of equal times.
    const rows = Array.from({ length: 23 }, (_, i) => ({ conversationId: conv, seq: i + 1, received: at(Math.floor(i / 3)) }));
    const ids = await seed(appId, rows);
    const expected = rows.map((r, i) => ({ id: ids[i]!, r: r.received })).sort((x, y) => (x.r < y.r ? -1 : x.r > y.r ? 1 : x.id < y.id ? -1 : 1)).map((x) => x.id);
    for (const format of ['ndjson', 'csv'] as const) {
      const seen: string[] = [];
      let path: string | undefined = `/v2/apps/${appId}/exports/messages?format=${format}&limit=4`;
      let pages = 0;
      while (path) {
        const res = await exportRaw(path, auth);
        expect(res.status).toBe(200);
        const got = format === 'ndjson' ? ndjson(res.text).map((m) => m.id) : parseCsv(res.text).slice(1).map((r) => r[0]!);
        expect(got.length).toBeLessThanOrEqual(4);
        seen.push(...got);
        path = nextLink(res.headers);
        if (path) expect(new URL(`http://x${path}`).searchParams.get('format')).toBe(format);
        pages++;
      }
      expect(pages).toBe(6);
      expect(seen).toEqual(expected);
    }
    // Exactly `limit` rows left: the last full page has no Link.
    const last = await exportRaw(`/v2/apps/${appId}/exports/messages?limit=23`, auth);
    expect(ndjson(last.text)).toHaveLength(23);
    expect(last.headers.get('link')).toBeNull();
    const cut = await exportRaw(`/v2/apps/${appId}/exports/messages?limit=22`, auth);
    expect(nextLink(cut.headers)).toMatch(/after=/);
  });

  it('a Link keeps its filters and bounds, and rows indexed past the cut appear on the next page, not twice', async () => {
    const { appId, auth } = await newApp('export link filters');
    const [c1, c2] = [hexId(), hexId()];
    await seed(appId, Array.from({ length: 6 }, (_, i) => ({ conversationId: i % 2 ? c1 : c2, seq: i + 1, received: at(i * 10) })));
    const first = await exportRaw(`/v2/apps/${appId}/exports/messages?conversationId=${c1}&since=${at(0)}&limit=2`, auth);
    const firstIds = ndjson(first.text).map((m) => m.id);
    const next = nextLink(first.headers)!;
    const params = new URL(`http://x${next}`).searchParams;
    expect([params.get('conversationId'), params.get('since'), params.get('limit')]).toEqual([c1, at(0), '2']);
    const [late] = await seed(appId, [{ conversationId: c1, seq: 100, received: at(55) }]);
    const rest = ndjson((await exportRaw(next, auth)).text).map((m) => m.id);
    expect(rest).toHaveLength(2);
    expect(rest).toContain(late);
    expect(rest.some((id) => firstIds.includes(id))).toBe(false);
  });

  it('leaves out deleted and cleared messages and deleted conversations', async () => {
    const { appId, auth } = await newApp('export deletions');
    const [c1, c2] = [hexId(), hexId()];
    const ids = await seed(appId, [
      { conversationId: c1, seq: 1, received: at(1) },
      { conversationId: c1, seq: 2, received: at(2) },
      { conversationId: c1, seq: 3, received: at(3) },
      { conversationId: c2, seq: 1, received: at(4) },
    ]);
    expect(await applyIndexOps(env, [{ op: 'message.delete', appId, conversationId: c1, messageId: ids[1]! }])).toBe(true);
    const idsNow = async () => ndjson((await exportRaw(`/v2/apps/${appId}/exports/messages`, auth)).text).map((m) => m.id);
    expect(await idsNow()).toEqual([ids[0], ids[2], ids[3]]);
    expect(await applyIndexOps(env, [{ op: 'conversation.delete', appId, conversationId: c2 }])).toBe(true);
    expect(await idsNow()).toEqual([ids[0], ids[2]]);
    // A redelivered upsert of the deleted message does not bring it back.
    await seed(appId, [{ id: ids[1], conversationId: c1, seq: 2, received: at(2) }]);
    expect(await idsNow()).toEqual([ids[0], ids[2]]);
  });

  it('exports messages posted through the API once the index consumer has them, integrationType from the stored source', async () => {
    const { appId, auth } = await newApp('export e2e');
    const user = await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'exp-user' });
    const conv = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    const path = `/v2/apps/${appId}/conversations/${conv.body.conversation.id}/messages`;
    const posted = [];
    posted.push((await call('POST', path, auth, { author: { type: 'user', userId: user.body.user.id }, content: { type: 'text', text: 'from the user, with a "quote"' } })).body.messages[0]);
    posted.push((await call('POST', path, auth, { author: { type: 'business' }, content: { type: 'text', text: 'answer' } })).body.messages[0]);
    const { value } = await pollUntil(
      async () => ndjson((await exportRaw(`/v2/apps/${appId}/exports/messages?conversationId=${conv.body.conversation.id}`, auth)).text),
      (lines) => lines.length === 2,
    );
    expect(value).toEqual(posted.map((m) => ({ ...m, conversationId: conv.body.conversation.id })));
    const csv = parseCsv((await exportRaw(`/v2/apps/${appId}/exports/messages?format=csv&authorType=user`, auth)).text);
    expect(csv.slice(1)).toEqual([[posted[0].id, conv.body.conversation.id, String(posted[0].seq), posted[0].received, 'user', user.body.user.id, 'api:conversations', 'text', 'from the user, with a "quote"', '']]);
  });
});
