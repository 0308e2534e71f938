/** Exactly one personal conversation per user is the default, even when several are created at once. */
import { expect, it } from 'vitest';
import { call, newApp } from './helpers';

it('marks exactly one of several concurrently created personal conversations as the default', async () => {
  const { appId, auth } = await newApp('defaults');
  const user = await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'racer' });
  const created = await Promise.all(
    Array.from({ length: 8 }, () => call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userId: user.body.user.id }] })),
  );
  expect(created.map((c) => c.status)).toEqual(Array(8).fill(201));
  expect(created.filter((c) => c.body.conversation.isDefault)).toHaveLength(1);
  const later = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
  expect(later.body.conversation.isDefault).toBe(false);
  const theDefault = created.find((c) => c.body.conversation.isDefault)!.body.conversation.id;
  expect((await call('DELETE', `/v2/apps/${appId}/conversations/${theDefault}`, auth)).status).toBe(400);
});
