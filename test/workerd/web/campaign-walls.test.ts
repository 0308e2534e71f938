/**
 * Web campaigns: walls between apps on the
 * REST and /sdk sides, and bad query input answered with a 4xx.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call } from '../helpers';
import { browser, webApp, type WebApp } from './web';

const TEXT = { type: 'text', text: 'Need help?' };
async function createCampaign(app: WebApp, extra: Record<string, unknown> = {}) {
  const res = await call('POST', `/v2/apps/${app.appId}/campaigns`, app.auth, { displayName: 'c', integrationId: app.integrationId, message: { content: TEXT }, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.campaign as { id: string; integrationId: string };
}

describe('campaign walls', () => {
  it("cannot move a campaign onto another app's web integration, nor create one there", async () => {
    const a = await webApp();
    const b = await webApp();
    const mine = await createCampaign(a);
    const moved = await call('PATCH', `/v2/apps/${a.appId}/campaigns/${mine.id}`, a.auth, { integrationId: b.integrationId });
    expect(moved.status).toBe(400);
    expect(moved.body.errors[0].title).toMatch(/^integrationId: /);
    const made = await call('POST', `/v2/apps/${a.appId}/campaigns`, a.auth, { displayName: 'x', integrationId: b.integrationId, message: { content: TEXT } });
    expect(made.status).toBe(400);
    const row = await env.DB.prepare('SELECT integration_id FROM campaigns WHERE id = ?').bind(mine.id).first<{ integration_id: string }>();
    expect(row!.integration_id).toBe(a.integrationId);
    expect((await env.DB.prepare('SELECT count(*) AS n FROM campaigns WHERE integration_id = ?').bind(b.integrationId).first<{ n: number }>())!.n).toBe(0);
  });

  it("never lists one app's campaigns under another app's id, even with the cache warm", async () => {
    const a = await webApp();
    const b = await webApp();
    await createCampaign(a);
    const own = await browser('GET', `/sdk/v2/apps/${a.appId}/integrations/${a.integrationId}/campaigns`, undefined);
    expect(own.body.campaigns).toHaveLength(1);
    const crossed = await browser('GET', `/sdk/v2/apps/${b.appId}/integrations/${a.integrationId}/campaigns`, undefined);
    expect(crossed.status).toBe(404);
  });

  it('answers a repeated url query with a 4xx naming url, not a 5xx', async () => {
    const a = await webApp();
    const res = await browser('GET', `/sdk/v2/apps/${a.appId}/integrations/${a.integrationId}/campaigns?url=a&url=b`, undefined);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
  });

  it('answers a repeated page[size] on the REST list with a 4xx, not a 5xx', async () => {
    const a = await webApp();
    const res = await call('GET', `/v2/apps/${a.appId}/campaigns?page[size]=1&page[size]=2`, a.auth);
    expect(res.status, JSON.stringify(res.body)).toBeLessThan(500);
  });
});
