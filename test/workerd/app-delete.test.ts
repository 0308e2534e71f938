/** Deleting an app removes its data everywhere, including its conversations' and users' Durable Objects. */
import { runInDurableObject } from 'cloudflare:test';
import { expect, it } from 'vitest';
import { asAccount, call } from './helpers';
import { conversationDO, newConversation, pollUntil, postText } from './load-fixtures';

it("empties every conversation's and user's Durable Object of a deleted app", { timeout: 30_000 }, async () => {
  const f = await newConversation('to be deleted');
  for (const t of ['one', 'two']) expect((await postText(f, t)).status).toBe(201);
  // A user's own stream object (user-level events) must be emptied too.
  const other = await call('POST', `/v2/apps/${f.appId}/users`, f.auth, { externalId: 'stays' });
  await runInDurableObject(conversationDO(f.appId, other.body.user.id), (instance) =>
    instance.raiseUserEvent(f.appId, other.body.user.id, { id: '0123456789abcdef01234567', type: 'user:update', createdAt: new Date().toISOString(), payload: {} }),
  );

  const counts = (appId: string, id: string) =>
    runInDurableObject(conversationDO(appId, id), (_i, state) => ({
      messages: state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM messages').one().n,
      conversations: state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM conversation').one().n,
      events: state.storage.sql.exec<{ n: number }>('SELECT count(*) AS n FROM events').one().n,
    }));
  expect(await counts(f.appId, f.conversationId)).toMatchObject({ messages: 2, conversations: 1 });
  expect((await counts(f.appId, other.body.user.id)).events).toBe(1);

  expect((await call('DELETE', `/v2/apps/${f.appId}`, asAccount)).status).toBe(200);
  const { value } = await pollUntil(() => counts(f.appId, f.conversationId), (c) => c.messages === 0 && c.conversations === 0 && c.events === 0, 10_000);
  expect(value).toEqual({ messages: 0, conversations: 0, events: 0 });
  expect((await pollUntil(() => counts(f.appId, other.body.user.id), (c) => c.events === 0, 10_000)).value.events).toBe(0);
  expect((await call('GET', `/v2/apps/${f.appId}`, asAccount)).status).toBe(404);
});
