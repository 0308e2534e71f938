/**
 * How a failed webhook call is explained where the suite's network cannot
 * stage it (the real runtime's failures are pinned in
 * test/node/webhook-causes.test.ts): production's DNS-over-HTTPS verdict on a
 * name, the statuses Cloudflare's edge answers for an origin it could not
 * reach, and the hints that go with a receiver's own status.
 */
import { describe, expect, it } from 'vitest';
import { describeFetchFailure, statusCause } from '../../src/http/fetch-failure';
import type { DnsLookup } from '../../src/http/targets';

const nxdomain: DnsLookup = async () => ({ Status: 3 });
const noRecords: DnsLookup = async () => ({ Status: 0, Answer: [{ type: 5, data: 'alias.example.' }] });
const resolverDown: DnsLookup = async () => {
  throw new Error('DNS-over-HTTPS lookup answered 503');
};

describe('describeFetchFailure', () => {
  it('names a DNS failure from the deployment resolver: NXDOMAIN, or no address record', async () => {
    const lost = new Error('internal error; reference = abc123');
    expect(await describeFetchFailure('https://gone.example.com/hook', lost, 20_000, nxdomain)).toEqual({
      kind: 'dns',
      text: "DNS failure: gone.example.com does not resolve (the name does not exist, NXDOMAIN); check the host name in the webhook's target and its DNS records",
    });
    expect((await describeFetchFailure('https://alias.example.com/hook', lost, 20_000, noRecords)).text).toContain('the name has no A or AAAA record');
  });

  it('says timeout, with the cap, without probing anything', async () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    const cause = await describeFetchFailure('https://hooks.example.com/hook', timeout, 20_000, resolverDown);
    expect(cause.kind).toBe('timeout');
    expect(cause.text).toBe('timeout: hooks.example.com:443 sent no answer within 20 s; answer webhooks at once and do the work afterwards (WEBHOOK_TIMEOUT_MS sets the cap)');
  });
});

describe('statusCause', () => {
  it.each([
    [521, 'refused the connection (521)'],
    [522, 'timed out (522)'],
    [525, 'TLS handshake with the receiver failed (525)'],
    [526, 'certificate is invalid (526)'],
    [530, 'origin DNS'],
  ])("reads Cloudflare's edge status %i as what happened to the origin", (status, words) => {
    expect(statusCause(status, true).text).toContain(words);
    expect(statusCause(status, true).text).toMatch(/; Parley retries$/);
  });

  it("hints at the receiver's side, and says whether Parley retries", () => {
    expect(statusCause(401, false).text).toBe(
      "receiver answered HTTP 401; check that the receiver verifies X-API-Key or webhook-signature with this webhook's current secret; not retried (the contract lists 400, 401, 403, 404 and 406 as final)",
    );
    expect(statusCause(404, false).text).toContain('check the path and method');
    expect(statusCause(503, true).text).toBe('receiver answered HTTP 503; the receiver failed: see its logs; Parley retries');
    expect(statusCause(302, true).text).toContain('Parley follows no redirects');
  });
});
