/**
 * The workerd suite's network (vitest.config.ts, issue 11 point 12): a fetch
 * the Worker makes for real to a name that is not loopback is answered by the
 * test network before any DNS lookup, so suites whose webhooks point at
 * made-up hosts neither reach past this machine nor print an "uncaught
 * exception" for each failed lookup.
 */
import { describe, expect, it } from 'vitest';

describe('the workerd suite network', () => {
  it('answers a fetch to a public name itself: 502, marked refused, no lookup', async () => {
    for (const target of ['https://receiver.test/hook', 'https://example.org/hook']) {
      const res = await fetch(target, { method: 'POST', body: '{}' });
      expect(res.status, target).toBe(502);
      expect(res.headers.get('x-test-network'), target).toBe('refused');
      expect(await res.text()).toBe(`test network: nothing listens at ${new URL(target).origin}`);
    }
  });

  it('lets loopback through: a closed local port is unreachable, not refused by name', async () => {
    const res = await fetch('http://127.0.0.1:9/hook', { method: 'POST', body: '{}' });
    expect(res.status).toBe(502);
    expect(res.headers.get('x-test-network')).toBe('unreachable');
  });
});
