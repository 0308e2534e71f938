/**
 * Which URLs Parley may call: webhook targets, channel API bases, channel
 * media and every redirect hop (src/http/outbound.ts applies these rules to
 * each call). A URL that came from input must not turn Parley into a proxy
 * into a private network: https only, no credentials in the URL, no literal private,
 * loopback or link-local addresses and no names reserved for local networks.
 * A local Parley (`PARLEY_ENV=local`) may also call the developer's own
 * machine over plain http.
 *
 * `checkTarget` judges the URL as written (at create and update, and before
 * each send). Workers have no DNS API, so before each send in production the
 * name is also resolved over DNS-over-HTTPS (`checkResolvedTarget`) and
 * refused when any address it resolves to is private; a rebinding race between
 * that lookup and the fetch's own remains possible.
 */
import { TtlCache } from '../db/ttl-cache';

/** An error title for the target, or undefined when Parley may deliver to it. */
export function checkTarget(url: string, local: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be a valid URL';
  }
  if (parsed.username || parsed.password) return 'must not contain a username or password';
  // The URL parser has already canonicalized the host: IPv4 in any notation (0x7f.1, 2130706433) is dotted decimal, IPv6 is compressed hex.
  const host = parsed.hostname.toLowerCase().replace(/\.$/, '');
  const loopbackHost = host === 'localhost' || host === '127.0.0.1';
  if (parsed.protocol !== 'https:' && !(local && parsed.protocol === 'http:' && loopbackHost)) {
    return local ? 'must be an https:// URL, or http://localhost or http://127.0.0.1 when running locally' : 'must be an https:// URL';
  }
  const v4 = parseIPv4(host);
  if (v4 !== undefined) return privateIPv4(v4, local) ? 'must not be a private, loopback or link-local address' : undefined;
  if (host.startsWith('[')) {
    const v6 = parseIPv6(host.slice(1, -1));
    if (!v6) return 'must be a valid URL';
    return privateIPv6(v6) ? 'must not be a private, loopback or link-local address' : undefined;
  }
  if (!local && (host === 'localhost' || /\.(localhost|internal|local)$/.test(host))) return 'must not name a local or internal host';
  return undefined;
}

/** [first address, prefix length] of IPv4 ranges that are not publicly routable. */
const PRIVATE_V4: [number, number][] = [
  [ip4(0, 0, 0, 0), 8], // "this" network
  [ip4(10, 0, 0, 0), 8],
  [ip4(100, 64, 0, 0), 10], // carrier-grade NAT
  [ip4(169, 254, 0, 0), 16], // link-local, incl. cloud metadata endpoints
  [ip4(172, 16, 0, 0), 12],
  [ip4(192, 0, 0, 0), 24], // IETF protocol assignments
  [ip4(192, 168, 0, 0), 16],
  [ip4(198, 18, 0, 0), 15], // benchmarking
  [ip4(224, 0, 0, 0), 4], // multicast
  [ip4(240, 0, 0, 0), 4], // reserved, incl. broadcast
];
const LOOPBACK_V4: [number, number] = [ip4(127, 0, 0, 0), 8];

function ip4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

const inRange = (addr: number, [base, bits]: [number, number]) => bits === 0 || addr >>> (32 - bits) === base >>> (32 - bits);

function privateIPv4(addr: number, local: boolean): boolean {
  if (inRange(addr, LOOPBACK_V4)) return !local;
  return PRIVATE_V4.some((r) => inRange(addr, r));
}

function parseIPv4(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ip4(parts[0]!, parts[1]!, parts[2]!, parts[3]!);
}

/**
 * Eight 16-bit groups. The URL parser always hands over compressed hex, but
 * DNS answers may end in a dotted IPv4 tail (`::ffff:127.0.0.1`), which is
 * read as its two groups rather than rejected as unreadable.
 */
function parseIPv6(text: string): number[] | undefined {
  const dotted = /^(.*:)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text);
  if (dotted) {
    const v4 = parseIPv4(dotted[2]!);
    if (v4 === undefined) return undefined;
    text = `${dotted[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s ? s.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)) : []);
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const all = [...head, ...Array<number>(fill).fill(0), ...tail];
  return all.some(Number.isNaN) ? undefined : all;
}

function privateIPv6(g: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (upperZero && g5 === 0) return true; // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
  if (upperZero && g5 === 0xffff) return true; // IPv4-mapped: reaches whatever IPv4 address it embeds
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    // NAT64 well-known prefix: judge the IPv4 address it translates to.
    return privateIPv4(((g6 << 16) | g7) >>> 0, false);
  }
  if ((g0 & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return true; // deprecated site-local fec0::/10
  if ((g0 & 0xff00) === 0xff00) return true; // multicast
  return false;
}

/** A local Parley (`npm start`, the test suites) may deliver to the developer's machine. */
export const isLocal = (env: { PARLEY_ENV?: string }) => env.PARLEY_ENV === 'local';

/** The JSON form of a DNS-over-HTTPS answer (application/dns-json): record type 1 is A, 28 is AAAA. */
export interface DnsJsonAnswer {
  Status: number;
  Answer?: { type: number; data: string }[];
}
export type DnsLookup = (name: string, type: 'A' | 'AAAA') => Promise<DnsJsonAnswer>;

const DNS_CACHE_MS = 60_000;
/** Verdicts per host name; a safe verdict is `undefined`, kept as long as an unsafe one. Tied to no app: nothing to forget on a delete. */
const dnsCache = new TtlCache<string | undefined>({ ttlMs: DNS_CACHE_MS, missMs: DNS_CACHE_MS, tags: () => [] });

/** Refuses a target whose host name resolves to any private, loopback or link-local address, or to one this check cannot read. */
export async function checkResolvedTarget(url: string, lookup: DnsLookup): Promise<string | undefined> {
  const host = new URL(url).hostname.toLowerCase().replace(/\.$/, '');
  if (parseIPv4(host) !== undefined || host.startsWith('[')) return undefined; // literal: judged by checkTarget
  return dnsCache.read(host, async () => {
    const answers = await Promise.all([lookup(host, 'A'), lookup(host, 'AAAA')]);
    for (const record of answers.flatMap((a) => a.Answer ?? [])) {
      // Other record types (CNAME on the way) say nothing about where the connection goes.
      if (record.type !== 1 && record.type !== 28) continue;
      const v4 = record.type === 1 ? parseIPv4(record.data) : undefined;
      const v6 = record.type === 28 ? parseIPv6(String(record.data).toLowerCase()) : undefined;
      // An address this check cannot read is one it cannot call safe.
      if (v4 === undefined && v6 === undefined) return `must resolve to readable addresses (${host} resolves to ${JSON.stringify(record.data)})`;
      if ((v4 !== undefined && privateIPv4(v4, false)) || (v6 !== undefined && privateIPv6(v6))) {
        return `must not resolve to a private, loopback or link-local address (${host} resolves to ${record.data})`;
      }
    }
    return undefined;
  });
}

/** A DNS-over-HTTPS resolver speaking the JSON API (Cloudflare's by default; `DNS_OVER_HTTPS_URL` overrides it). */
export function dohLookup(base = 'https://cloudflare-dns.com/dns-query', fetcher: typeof fetch = fetch): DnsLookup {
  return async (name, type) => {
    const res = await fetcher(`${base}?name=${encodeURIComponent(name)}&type=${type}`, { headers: { accept: 'application/dns-json' } });
    if (!res.ok) throw new Error(`DNS-over-HTTPS lookup of ${name} answered ${res.status}`);
    return (await res.json()) as DnsJsonAnswer;
  };
}
