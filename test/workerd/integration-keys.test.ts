/** Integration keys (`int_…`): integration scope, as the contract grants it, and the `integrations/me` alias. */
import { describe, expect, it } from 'vitest';
import { basic, call, newApp } from './helpers';

async function customIntegration(appId: string, auth: string, target = 'https://example.com/hook') {
  const res = await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [{ target, triggers: ['conversation:message'] }] });
  expect(res.status).toBe(201);
  return res.body.integration as { id: string; webhooks: { id: string }[] };
}

describe('integration keys', () => {
  it('authenticate with Basic, work on users and conversations, and reach only their own webhooks', async () => {
    const { appId, auth } = await newApp('int keys');
    const mine = await customIntegration(appId, auth);
    const other = await customIntegration(appId, auth, 'https://example.org/other');
    const key = await call('POST', `/v2/apps/${appId}/integrations/${mine.id}/keys`, auth, { displayName: 'bot' });
    expect(key.status).toBe(201);
    const asInt = basic(key.body.key.id, key.body.key.secret);

    expect((await call('POST', `/v2/apps/${appId}/users`, asInt, { externalId: 'via-int' })).status).toBe(201);
    const own = await call('GET', `/v2/apps/${appId}/integrations/me/webhooks`, asInt);
    expect(own.status).toBe(200);
    expect(own.body.webhooks.map((w: { id: string }) => w.id)).toEqual([mine.webhooks[0]!.id]);
    expect((await call('GET', `/v2/apps/${appId}/integrations/${mine.id}/webhooks`, asInt)).status).toBe(200);

    const refused = [
      await call('GET', `/v2/apps/${appId}/integrations/${other.id}/webhooks`, asInt),
      await call('GET', `/v2/apps/${appId}`, asInt),
      await call('PATCH', `/v2/apps/${appId}`, asInt, { displayName: 'taken over' }),
      await call('GET', `/v2/apps/${appId}/integrations`, asInt),
      await call('POST', `/v2/apps/${appId}/keys`, asInt, { displayName: 'escalate' }),
    ];
    expect(refused.map((r) => [r.status, r.body.errors[0].code])).toEqual(Array(5).fill([403, 'forbidden']));

    const another = await newApp('int keys, other app');
    expect((await call('GET', `/v2/apps/${another.appId}/users/via-int`, asInt)).status).toBe(403);
    expect((await call('GET', `/v2/apps/${appId}/integrations/me/webhooks`, auth)).status).toBe(400);
  });

  it('stops working when its integration is deleted', async () => {
    const { appId, auth } = await newApp('int keys 2');
    const mine = await customIntegration(appId, auth);
    const key = await call('POST', `/v2/apps/${appId}/integrations/${mine.id}/keys`, auth, { displayName: 'bot' });
    const asInt = basic(key.body.key.id, key.body.key.secret);
    expect((await call('POST', `/v2/apps/${appId}/users`, asInt, { externalId: 'before' })).status).toBe(201);
    expect((await call('DELETE', `/v2/apps/${appId}/integrations/${mine.id}`, auth)).status).toBe(200);
    expect((await call('POST', `/v2/apps/${appId}/users`, asInt, { externalId: 'after' })).status).toBe(401);
  });
});
