/** Abuse limits on the browser routes a visitor reaches without credentials (or with a free session): per IP, 429 past them. */
import { describe, expect, it } from 'vitest';
import { BASE, browser, ORIGIN, startSession, webApp } from './web';
import { SELF } from 'cloudflare:test';

/**
 * The limiter's windows are aligned to the wall clock (a minute starts at :00),
 * so 31 requests that straddle a minute's end are two windows' worth. Each
 * test starts early in a window, leaving it 45 s for its requests.
 */
async function startOfWindow(): Promise<void> {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 15_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 50));
}

describe('Web Messenger rate limits', () => {
  it('one address gets 30 new sessions a minute, then 429; another address is not held back', { timeout: 120_000 }, async () => {
    const app = await webApp();
    await startOfWindow();
    const from = (ip: string) =>
      SELF.fetch(`${BASE}/sdk/v2/apps/${app.appId}/sessions`, {
        method: 'POST',
        headers: { origin: ORIGIN, 'content-type': 'application/json', 'cf-connecting-ip': ip },
        body: JSON.stringify({ integrationId: app.integrationId }),
      });
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await from('203.0.113.7')).status);
    expect(statuses.slice(0, 30).every((s) => s === 201)).toBe(true);
    const refused = await from('203.0.113.7');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as any).errors[0].code).toBe('too_many_requests');
    expect((await from('198.51.100.9')).status).toBe(201);
  });

  it('uploads are limited per address too', { timeout: 120_000 }, async () => {
    const app = await webApp();
    const v = await startSession(app);
    await startOfWindow();
    const send = () => {
      const form = new FormData();
      form.append('source', new File(['x'], 'x.txt', { type: 'text/plain' }));
      return SELF.fetch(`${BASE}/sdk/v2/apps/${app.appId}/attachments`, { method: 'POST', headers: { origin: ORIGIN, authorization: `Bearer ${v.token}`, 'cf-connecting-ip': '203.0.113.8' }, body: form });
    };
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await send()).status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(30);
    expect(statuses[30]).toBe(429);
    expect((await browser('GET', `/sdk/v2/apps/${app.appId}/conversations`, v.token)).status).toBe(200);
  });
});
