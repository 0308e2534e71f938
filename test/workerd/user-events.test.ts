/**
 * User-level webhook events raised by the REST API: `user:update` after a
 * profile or metadata change (the user as it now is), none for a refused
 * change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './channels/harness';
import { call, newApp } from './helpers';

const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;

beforeAll(async () => {
  const spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('user events');
  await subscribe(app.appId, app.auth);
});
afterAll(() => restore());

const updatesOf = (userId: string) => receiver.ofType('user:update').filter((e) => (e.payload.user as { id: string }).id === userId);

describe('user:update', () => {
  it('follows a profile and metadata change, carrying the user as it now is', async () => {
    const created = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'ue-1', profile: { givenName: 'Ann' } });
    const id = created.body.user.id as string;
    expect((await call('PATCH', `/v2/apps/${app.appId}/users/${id}`, app.auth, { profile: { surname: 'Lee' }, metadata: { plan: 'pro' } })).status).toBe(200);
    const [event] = await eventually(() => {
      const found = updatesOf(id);
      expect(found).toHaveLength(1);
      return found;
    });
    expect(event!.payload).toMatchObject({
      user: { id, externalId: 'ue-1', profile: { givenName: 'Ann', surname: 'Lee' }, metadata: { plan: 'pro' } },
      source: { type: 'api:users' },
    });
    expect(event!.payload.reason).toBeUndefined();
  });

  it('a refused change raises nothing', async () => {
    const created = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: 'ue-2' });
    const id = created.body.user.id as string;
    expect((await call('PATCH', `/v2/apps/${app.appId}/users/${id}`, app.auth, { metadata: { nested: { no: true } } })).status).toBe(400);
    // The next accepted change is the first event: its user's stream holds nothing before it.
    expect((await call('PATCH', `/v2/apps/${app.appId}/users/${id}`, app.auth, { metadata: { ok: true } })).status).toBe(200);
    await eventually(() => expect(updatesOf(id)).toHaveLength(1));
    expect(updatesOf(id)[0]!.payload.user).toMatchObject({ metadata: { ok: true } });
  });
});
