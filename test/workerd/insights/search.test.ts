/**
 * Message search: best match first with highlights, filters, keyset pages,
 * deletions and scrubs leaving the index, tenant walls and bad queries.
 */
import { describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { apply, integrationAuth, messageOp, testEnv, waitIndexed } from './seed';
import { newId } from '../../../src/ids';

const path = (appId: string, query: string) => `/v2/apps/${appId}/search/messages?${query}`;

describe('search over the message index', () => {
  it('ranks better matches first and marks matched words in the highlight, as plain text', async () => {
    const { appId, auth } = await newApp('search ranking');
    const conversationId = newId();
    const texts = [
      'the parcel arrived damaged, the parcel box was crushed and the parcel was wet',
      'my parcel is late',
      'refund please, nothing about it here',
      'a <b>parcel</b> « quoted » in html',
    ];
    const ops = texts.map((text, i) =>
      messageOp(appId, { conversationId, received: `2026-11-0${i + 1}T10:00:00.000Z`, authorType: 'user', userId: 'u1', channel: 'whatsapp', text }),
    );
    await apply(ops.map((o) => o.op));
    const res = await call('GET', path(appId, 'q=parcel'), auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ids = res.body.messages.map((m: { id: string }) => m.id);
    expect(ids).toHaveLength(3);
    expect(ids[0]).toBe(ops[0]!.seeded.id);
    expect(ids).not.toContain(ops[2]!.seeded.id);
    const first = res.body.messages[0];
    expect(first.conversationId).toBe(conversationId);
    expect(first.content.text).toBe(texts[0]);
    expect(first.highlight).toContain('«parcel»');
    const html = res.body.messages.find((m: { id: string }) => m.id === ops[3]!.seeded.id);
    // The text is returned as text: markers are « », a literal « » becomes ‹ ›, and HTML stays inert characters.
    expect(html.highlight).toBe('a <b>«parcel»</b> ‹ quoted › in html');
    expect(res.body.meta).toEqual({ hasMore: false });
  });

  it('needs every word, ignores FTS syntax in q, and refuses an empty or too long q naming it', async () => {
    const { appId, auth } = await newApp('search syntax');
    const conversationId = newId();
    await apply(
      ['red apple pie', 'green apple', 'NEAR the column: AND "quote"'].map(
        (text, i) => messageOp(appId, { conversationId, received: `2026-11-0${i + 1}T10:00:00.000Z`, authorType: 'user', userId: 'u1', channel: 'web', text }).op,
      ),
    );
    const both = await call('GET', path(appId, `q=${encodeURIComponent('apple red')}`), auth);
    expect(both.body.messages.map((m: { content: { text: string } }) => m.content.text)).toEqual(['red apple pie']);
    for (const q of ['NEAR(', '"quote', 'column: AND', 'apple OR', '*', 'a"b']) {
      const res = await call('GET', path(appId, `q=${encodeURIComponent(q)}`), auth);
      expect([200, 400], q).toContain(res.status);
      if (res.status === 400) expect(res.body.errors[0].title).toMatch(/^q: /);
    }
    const near = await call('GET', path(appId, `q=${encodeURIComponent('NEAR column')}`), auth);
    expect(near.body.messages).toHaveLength(1);
    for (const q of ['', '   ', '!!!', 'x'.repeat(257)]) {
      const res = await call('GET', path(appId, `q=${encodeURIComponent(q)}`), auth);
      expect(res.status, q).toBe(400);
      expect(res.body.errors[0].title).toMatch(/^q: /);
    }
    expect((await call('GET', `/v2/apps/${appId}/search/messages`, auth)).body.errors[0].title).toMatch(/^q: /);
    expect((await call('GET', path(appId, `q=apple&since=yesterday`), auth)).body.errors[0].title).toMatch(/^since: /);
    expect((await call('GET', path(appId, `q=apple&since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z`), auth)).body.errors[0].title).toMatch(/^until: /);
    expect((await call('GET', path(appId, `q=apple&page[after]=nonsense`), auth)).body.errors[0].title).toMatch(/^page\[after\]: /);
    expect((await call('GET', path(appId, `q=apple&page[size]=0`), auth)).body.errors[0].title).toMatch(/^page\[size\]: /);
    expect((await call('GET', path(appId, `q=apple&conversationId=nope`), auth)).body.errors[0].title).toMatch(/^conversationId: /);
  });

  it('filters by since, until and conversation, and pages every match exactly once in rank order', async () => {
    const { appId, auth } = await newApp('search pages');
    const a = newId();
    const b = newId();
    const seeded = [];
    for (let i = 0; i < 23; i++) {
      // Different repetition counts give different scores; equal ones tie and fall back to rowid.
      const text = `${'invoice '.repeat(1 + (i % 4))}number ${i}`;
      const { op, seeded: s } = messageOp(appId, { conversationId: i % 2 ? a : b, received: new Date(Date.UTC(2026, 10, 1 + i)).toISOString(), authorType: 'user', userId: 'u1', channel: 'web', text });
      await apply([op]);
      seeded.push(s);
    }
    const all = await call('GET', path(appId, 'q=invoice&page[size]=100'), auth);
    expect(all.body.messages).toHaveLength(23);
    const walked: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const res = await call('GET', path(appId, `q=invoice&page[size]=5${after ? `&page[after]=${after}` : ''}`), auth);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      walked.push(...res.body.messages.map((m: { id: string }) => m.id));
      after = res.body.meta.afterCursor;
      expect(res.body.meta.hasMore).toBe(after !== undefined);
      pages++;
    } while (after);
    expect(pages).toBe(5);
    expect(walked).toEqual(all.body.messages.map((m: { id: string }) => m.id));

    const inA = await call('GET', path(appId, `q=invoice&page[size]=100&conversationId=${a}`), auth);
    expect(new Set(inA.body.messages.map((m: { id: string }) => m.id))).toEqual(new Set(seeded.filter((s) => s.conversationId === a).map((s) => s.id)));
    const since = '2026-11-05T00:00:00.000Z';
    const until = '2026-11-10T00:00:00.000Z';
    const ranged = await call('GET', path(appId, `q=invoice&page[size]=100&since=${since}&until=${until}`), auth);
    expect(new Set(ranged.body.messages.map((m: { id: string }) => m.id))).toEqual(new Set(seeded.filter((s) => s.received >= since && s.received < until).map((s) => s.id)));
  });

  it('forgets deleted and cleared messages and a scrubbed or deleted user’s messages', async () => {
    const { appId, auth } = await newApp('search forgets');
    const user = await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'scrub-me' });
    const other = await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'stays' });
    const conv = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: [{ userId: user.body.user.id }, { userId: other.body.user.id }] });
    const conversationId = conv.body.conversation.id;
    const post = (userId: string | null, text: string) =>
      call('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, auth, {
        author: userId ? { type: 'user', userId } : { type: 'business' },
        content: { type: 'text', text },
      });
    const gone = await post(null, 'zebra one, deleted');
    await post(user.body.user.id, 'zebra two from the scrubbed user');
    await post(other.body.user.id, 'zebra three from the other user');
    await post(null, 'zebra four from the business');
    await waitIndexed(appId, 4);
    const search = async () => (await call('GET', path(appId, 'q=zebra'), auth)).body.messages.map((m: { content: { text: string } }) => m.content.text).sort();
    expect(await search()).toHaveLength(4);

    expect((await call('DELETE', `/v2/apps/${appId}/conversations/${conversationId}/messages/${gone.body.messages[0].id}`, auth)).status).toBe(200);
    expect((await call('DELETE', `/v2/apps/${appId}/users/${user.body.user.id}/personalinformation`, auth)).status).toBe(200);
    const deadline = Date.now() + 10_000;
    while ((await search()).length !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await search()).toEqual(['zebra four from the business', 'zebra three from the other user']);
    // The scrubbed user's message stays in the message index (the contract keeps messages); only search forgets it.
    const kept = await testEnv.DB.prepare('SELECT count(*) AS n FROM message_index WHERE app_id = ? AND author_user_id = ?').bind(appId, user.body.user.id).first<{ n: number }>();
    expect(kept!.n).toBe(1);

    // A redelivered upsert of the scrubbed user's message (an op in flight at scrub time) does not bring it back.
    const row = await testEnv.DB.prepare('SELECT * FROM message_index WHERE app_id = ? AND author_user_id = ?').bind(appId, user.body.user.id).first<Record<string, string>>();
    await apply([{ op: 'message.upsert', appId, conversationId, message: { id: row!.id!, seq: Number(row!.seq), received: row!.received!, authorType: 'user', authorUserId: user.body.user.id, contentType: 'text', text: 'zebra two again', body: row!.body! } }]);
    expect(await search()).toHaveLength(2);

    // A deleted user's messages in a group conversation leave search too.
    expect((await call('DELETE', `/v2/apps/${appId}/users/${other.body.user.id}`, auth)).status).toBe(200);
    expect(await search()).toEqual(['zebra four from the business']);

    expect((await call('DELETE', `/v2/apps/${appId}/conversations/${conversationId}/messages`, auth)).status).toBe(200);
    while ((await search()).length !== 0 && Date.now() < deadline + 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(await search()).toEqual([]);
    const orphans = await testEnv.DB.prepare('SELECT count(*) AS n FROM message_search WHERE rowid NOT IN (SELECT rowid FROM message_index)').first<{ n: number }>();
    expect(orphans!.n).toBe(0);
  });

  it('forgets a deleted conversation’s messages and a deleted app’s', async () => {
    const { appId, auth } = await newApp('search deletions');
    const gone = newId();
    const kept = newId();
    await apply(
      [gone, kept].map((conversationId) => messageOp(appId, { conversationId, received: '2026-11-01T00:00:00.000Z', authorType: 'user', userId: 'u', channel: 'web', text: `heron in ${conversationId}` }).op),
    );
    expect((await call('GET', path(appId, 'q=heron'), auth)).body.messages).toHaveLength(2);
    await apply([{ op: 'conversation.delete', appId, conversationId: gone }]);
    expect((await call('GET', path(appId, 'q=heron'), auth)).body.messages.map((m: { conversationId: string }) => m.conversationId)).toEqual([kept]);
    const { asAccount } = await import('../helpers');
    expect((await call('DELETE', `/v2/apps/${appId}`, asAccount)).status).toBe(200);
    const left = await testEnv.DB.prepare(`SELECT count(*) AS n FROM message_search WHERE message_search MATCH ?`).bind(`app_id : "${appId}"`).first<{ n: number }>();
    expect(left!.n).toBe(0);
  });

  it('keeps tenants apart: another app’s key is refused, and an app never sees another app’s messages', async () => {
    const one = await newApp('search tenant one');
    const two = await newApp('search tenant two');
    await apply([messageOp(one.appId, { conversationId: newId(), received: '2026-11-01T00:00:00.000Z', authorType: 'user', userId: 'u', channel: 'web', text: 'secret walrus' }).op]);
    expect((await call('GET', path(one.appId, 'q=walrus'), two.auth)).status).toBe(403);
    expect((await call('GET', path(two.appId, 'q=walrus'), two.auth)).body.messages).toEqual([]);
    expect((await call('GET', path(one.appId, 'q=walrus'), one.auth)).body.messages).toHaveLength(1);
    // An integration key reads its app's messages.
    const intAuth = await integrationAuth(one.appId, one.auth);
    expect((await call('GET', path(one.appId, 'q=walrus'), intAuth)).body.messages).toHaveLength(1);
    expect((await call('GET', path(two.appId, 'q=walrus'), intAuth)).status).toBe(403);
  });
});
