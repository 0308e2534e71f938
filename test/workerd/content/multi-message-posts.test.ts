/**
 * One API post that makes several messages (shorthand, stored templates) is one run of messages: stored together, all or none.
 * Each test states the behaviour the design promises; a failing one is a finding.
 */
import { runInDurableObject } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { call } from '../helpers';
import { conversationDO, messagesPath, newConversation, type Fixture } from '../load-fixtures';

type Json = Record<string, any>;
const templatesPath = (appId: string) => `/v2/apps/${appId}/templates`;

describe('stored templates', () => {
  let f: Fixture;
  const send = (content: Json) => call('POST', messagesPath(f), f.auth, { author: { type: 'business' }, content });
  const listed = async () => (await call('GET', messagesPath(f), f.auth)).body.messages as Json[];
  beforeAll(async () => {
    f = await newConversation('review templates');
  });

  it('refuses, at create, a template whose own shorthand makes more messages than one post may send', async () => {
    const images = Array.from({ length: 11 }, (_, i) => `![](https://example.org/${i}.png)`).join(' ');
    const made = await call('POST', templatesPath(f.appId), f.auth, { name: 'gallery', content: { type: 'text', text: images } });
    // Stored as 201 today; every later send of it then answers 400 "makes 11 messages".
    const sent = await send({ type: 'text', text: '%((template:gallery))%' });
    expect({ create: made.status, send: sent.status }).toEqual({ create: 400, send: 400 });
  });

  it('stores all of a multi-message post or none of it (conversation one short of the cap)', async () => {
    const g = await newConversation('review half-stored');
    await call('POST', templatesPath(g.appId), g.auth, { name: 'two', content: { type: 'text', text: 'first ![](https://example.org/x.png)' } });
    await runInDurableObject(conversationDO(g.appId, g.conversationId), async (_o, state) => {
      state.storage.sql.exec('UPDATE conversation SET message_count = 29999');
    });
    const res = await call('POST', messagesPath(g), g.auth, { author: { type: 'business' }, content: { type: 'text', text: '%((template:two))%' } });
    const stored = await runInDurableObject(conversationDO(g.appId, g.conversationId), async (_o, state) => state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM messages').one().n);
    expect({ status: res.status, stored }).toEqual({ status: 423, stored: 0 });
  });
});

describe('one post, one run of messages', () => {
  it("keeps the messages one post makes together: a concurrent post's never land between them", async () => {
    const f = await newConversation('review interleave');
    const five = Array.from({ length: 5 }, (_, i) => `![](https://example.org/${i}.png)`).join(' ');
    await call('POST', templatesPath(f.appId), f.auth, { name: 'five', content: { type: 'text', text: five } });
    const post = (text: string) => call('POST', messagesPath(f), f.auth, { author: { type: 'business' }, content: { type: 'text', text } });
    const [a, b] = await Promise.all([post('A %((template:five))%'), post('B %((template:five))%')]);
    expect([a.status, b.status]).toEqual([201, 201]);
    const seqs = (r: { body: Json }) => r.body.messages.map((m: Json) => m.seq as number);
    const contiguous = (s: number[]) => s.every((n, i) => i === 0 || n === s[i - 1]! + 1);
    expect({ a: seqs(a), b: seqs(b), contiguous: contiguous(seqs(a)) && contiguous(seqs(b)) }).toMatchObject({ contiguous: true });
  });
});
