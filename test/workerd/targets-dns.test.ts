/**
 * Where a webhook target resolves: names resolving to private addresses are
 * refused before a send in production. The resolver is exercised against a
 * fake DNS-over-HTTPS endpoint that speaks the JSON API (GET ?name=&type=,
 * accept: application/dns-json).
 */
import { describe, expect, it } from 'vitest';
import { checkResolvedTarget, dohLookup } from '../../src/http/targets';

const zone: Record<string, { A?: string[]; AAAA?: string[] }> = {
  'hooks.example.com': { A: ['93.184.216.34'], AAAA: ['2606:2800:220:1:248:1893:25c8:1946'] },
  'rebind.example.com': { A: ['93.184.216.34', '10.0.0.7'] },
  'v6-internal.example.com': { AAAA: ['fd00::1'] },
  'metadata.example.com': { A: ['169.254.169.254'] },
};

const requests: string[] = [];
const fakeDoh: typeof fetch = async (input, init) => {
  const url = new URL(String(input));
  requests.push(url.search);
  if (url.pathname !== '/dns-query' || new Headers(init?.headers).get('accept') !== 'application/dns-json') return new Response('bad request', { status: 400 });
  const name = url.searchParams.get('name')!;
  const type = url.searchParams.get('type') as 'A' | 'AAAA';
  const records = zone[name]?.[type] ?? [];
  return Response.json({ Status: zone[name] ? 0 : 3, Answer: records.map((data) => ({ name, type: type === 'A' ? 1 : 28, TTL: 60, data })) });
};
const lookup = dohLookup('https://doh.test/dns-query', fakeDoh);

describe('checkResolvedTarget', () => {
  it('accepts a name whose every address is public', async () => {
    expect(await checkResolvedTarget('https://hooks.example.com/parley', lookup)).toBeUndefined();
    expect(requests).toContain('?name=hooks.example.com&type=A');
    expect(requests).toContain('?name=hooks.example.com&type=AAAA');
  });

  it.each([
    ['rebind.example.com', '10.0.0.7'],
    ['v6-internal.example.com', 'fd00::1'],
    ['metadata.example.com', '169.254.169.254'],
  ])('refuses %s, which resolves to %s', async (host, address) => {
    expect(await checkResolvedTarget(`https://${host}/hook`, lookup)).toBe(`must not resolve to a private, loopback or link-local address (${host} resolves to ${address})`);
  });

  it('leaves literal addresses to checkTarget and asks no resolver', async () => {
    const before = requests.length;
    expect(await checkResolvedTarget('https://93.184.216.34/hook', lookup)).toBeUndefined();
    expect(requests.length).toBe(before);
  });

  it('turns a failing resolver into an error, never into "safe"', async () => {
    const down = dohLookup('https://doh.test/dns-query', async () => new Response('unavailable', { status: 503 }));
    await expect(checkResolvedTarget('https://not-cached.example.com/hook', down)).rejects.toThrow(/answered 503/);
  });
});
