/**
 * What a web client's `info` says about the browser behind it: browser and OS
 * from the User-Agent, the language the widget reports (else the
 * Accept-Language header), the page it was opened on, and the city, region
 * and country Cloudflare attaches to the request (`request.cf`, which
 * SELF.fetch passes through from RequestInit).
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { browserOf, clientInfo, osOf } from '../../../src/web/client-info';
import { call } from '../helpers';
import { BASE, ORIGIN, webApp, type WebApp } from './web';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.127 Safari/537.36';

let app: WebApp;
beforeAll(async () => {
  app = await webApp();
});

async function sessionFrom(headers: Record<string, string>, body: Record<string, unknown>, cf?: Record<string, unknown>) {
  const res = await SELF.fetch(`${BASE}/sdk/v2/apps/${app.appId}/sessions`, {
    method: 'POST',
    headers: { origin: ORIGIN, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ integrationId: app.integrationId, ...body }),
    ...(cf ? { cf } : {}),
  } as RequestInit);
  const answer = (await res.json()) as any;
  expect(res.status, JSON.stringify(answer)).toBe(201);
  return answer;
}

describe('client info of a new session', () => {
  it('Chrome on Windows in Lyon: browser with its major version, OS, place, page and language', async () => {
    const started = await sessionFrom(
      { 'user-agent': CHROME_WINDOWS, 'accept-language': 'de-DE,de;q=0.9' },
      { device: { browserLanguage: 'fr-FR', currentUrl: 'https://shop.example.com/cart', currentTitle: 'Cart', referrer: 'https://search.example', sdkVersion: '1.0.0', timezone: 'Europe/Paris' } },
      { city: 'Lyon', region: 'Auvergne-Rhone-Alpes', country: 'FR', timezone: 'Europe/Berlin' },
    );
    const expected = {
      browser: 'Chrome 126',
      os: 'Windows',
      browserLanguage: 'fr-FR',
      currentUrl: 'https://shop.example.com/cart',
      currentTitle: 'Cart',
      referrer: 'https://search.example',
      sdkVersion: '1.0.0',
      timezone: 'Europe/Paris',
      city: 'Lyon',
      region: 'Auvergne-Rhone-Alpes',
      country: 'FR',
      userAgent: CHROME_WINDOWS,
    };
    expect(started.client.info).toEqual(expected);
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${started.user.id}/clients`, app.auth);
    expect(clients.body.clients).toHaveLength(1);
    expect(clients.body.clients[0]).toMatchObject({ id: started.client.id, type: 'sdk', integrationId: app.integrationId, info: expected });
  });

  it('takes the language from Accept-Language and the timezone from Cloudflare when the widget says nothing', async () => {
    const started = await sessionFrom({ 'user-agent': CHROME_WINDOWS, 'accept-language': 'pt-BR,pt;q=0.9,en;q=0.8' }, {}, { country: 'BR', timezone: 'America/Sao_Paulo' });
    expect(started.client.info).toMatchObject({ browserLanguage: 'pt-BR', timezone: 'America/Sao_Paulo', country: 'BR' });
  });

  it('leaves out what nothing says', async () => {
    const started = await sessionFrom({}, {});
    expect(started.client.info).toEqual({});
  });
});

describe('clientInfo()', () => {
  it('reads request.cf on a Request', () => {
    const request = new Request('https://parley.test/', { headers: { 'user-agent': CHROME_WINDOWS }, cf: { city: 'Osaka', region: 'Osaka', country: 'JP' } } as RequestInit);
    expect(clientInfo(request, undefined)).toMatchObject({ browser: 'Chrome 126', os: 'Windows', city: 'Osaka', region: 'Osaka', country: 'JP' });
  });

  it.each([
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67', 'Edge 125', 'Windows'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari 17', 'macOS'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1', 'Chrome 126', 'iOS'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0', 'Firefox 127', 'Linux'],
    ['Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36', 'Samsung Internet 25', 'Android'],
  ])('%s → %s on %s', (ua, browser, os) => {
    expect(browserOf(ua)).toBe(browser);
    expect(osOf(ua)).toBe(os);
  });
});
