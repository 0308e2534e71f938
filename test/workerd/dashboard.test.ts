/**
 * The dashboard page as the Worker serves it: a static HTML document under a
 * strict CSP whose hashes match its one inline script and style, not
 * frameable, not cached, no referrer, no inline event handlers, nothing loaded
 * from elsewhere, and no secret of any kind in it. Also pinned: the v2 API
 * the page calls answers a same-origin browser request with Basic auth (the
 * Origin header is no obstacle) and sends no CORS headers, so pages on other
 * sites cannot read its answers.
 */
import { env, SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, newApp } from './helpers';

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}

const directives = (csp: string) => new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name!, values]));

describe('GET /dashboard', () => {
  it('answers the page with a hash-pinned CSP, no framing, no caching and no referrer', async () => {
    const res = await SELF.fetch('https://parley.test/dashboard');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const html = await res.text();

    const csp = directives(res.headers.get('content-security-policy')!);
    expect(csp.get('default-src')).toEqual(["'none'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('base-uri')).toEqual(["'none'"]);
    expect(csp.get('form-action')).toEqual(["'none'"]);
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(csp.get('script-src')).toEqual([await sha256(scripts[0]!)]);
    expect(csp.get('style-src')).toEqual([await sha256(styles[0]!)]);
    for (const values of csp.values()) expect(values.join(' ')).not.toMatch(/unsafe|\*|https?:/);

    // No inline handlers, no external script, stylesheet, image or frame: the markup outside the one script is static.
    const markup = html.replace(scripts[0]!, '');
    expect(markup).not.toMatch(/\son[a-z]+\s*=/i);
    expect(markup).not.toMatch(/<(link|iframe|img|object|embed)\b/i);
    expect(markup).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/localStorage|sessionStorage|document\.cookie|indexedDB/);
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // "A few tens of KB".
    expect(new TextEncoder().encode(html).byteLength).toBeLessThan(48 * 1024);
  });

  it('holds no secret: not the account key, the master key, nor any app key made before', async () => {
    const { key } = await newApp('dashboard secrets');
    const html = await (await SELF.fetch('https://parley.test/dashboard')).text();
    for (const secret of [env.ACCOUNT_KEY_SECRET!, env.ACCOUNT_KEY_ID!, env.MASTER_KEY!, key.secret, key.id]) expect(html).not.toContain(secret);
  });

  it('the v2 API takes the page\'s same-origin Basic-auth calls and grants no other site a read', async () => {
    const { appId, auth } = await newApp('dashboard origin');
    const sameOrigin = await call('GET', `/v2/apps/${appId}`, auth, undefined, { origin: 'https://parley.test', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors' });
    expect(sameOrigin.status).toBe(200);
    const res = await SELF.fetch(`https://parley.test/v2/apps/${appId}`, { headers: { authorization: auth, origin: 'https://evil.example' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    await res.body?.cancel();
    // A wrong key is a plain 401 with no Basic challenge, so the browser shows no login prompt of its own over the page.
    const wrong = await SELF.fetch(`https://parley.test/v2/apps/${appId}`, { headers: { authorization: `Basic ${btoa('app_nope:nope')}`, origin: 'https://parley.test' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBeNull();
    await wrong.body?.cancel();
  });
});
