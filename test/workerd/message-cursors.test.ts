/** Pagination links keep working after the message a cursor names has been deleted. */
import { expect, it } from 'vitest';
import { call } from './helpers';
import { messagesPath, newConversation, postText } from './load-fixtures';

it('a cursor naming a deleted message still pages from where that message was', async () => {
  const f = await newConversation('cursors');
  const ids: string[] = [];
  for (const t of ['m1', 'm2', 'm3', 'm4', 'm5']) ids.push((await postText(f, t)).body.messages[0].id);
  const newest = await call('GET', `${messagesPath(f)}?page[size]=2`, f.auth);
  expect(newest.body.messages.map((m: { id: string }) => m.id)).toEqual(ids.slice(3));
  const prev = new URL(newest.body.links.prev);
  expect(prev.searchParams.get('page[before]')).toBe(ids[3]);

  expect((await call('DELETE', `${messagesPath(f)}/${ids[3]}`, f.auth)).status).toBe(200);
  const older = await call('GET', `${prev.pathname}${prev.search}`, f.auth);
  expect(older.status).toBe(200);
  expect(older.body.messages.map((m: { id: string }) => m.id)).toEqual(ids.slice(1, 3));

  expect((await call('DELETE', messagesPath(f), f.auth)).status).toBe(200);
  const after = await call('GET', `${messagesPath(f)}?page[after]=${ids[0]}`, f.auth);
  expect(after.status).toBe(200);
  expect(after.body.messages).toEqual([]);
  // An id that never belonged to the conversation is still refused.
  expect((await call('GET', `${messagesPath(f)}?page[after]=0123456789abcdef01234567`, f.auth)).status).toBe(400);
});
