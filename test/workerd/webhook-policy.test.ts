/** The pieces of webhook delivery that are pure: the signature, the retry schedule and its settings. */
import { describe, expect, it } from 'vitest';
import { retryDelay, retryPolicy } from '../../src/delivery/webhook-consumer';
import type { Env } from '../../src/env';
import { deliveryHeaders, sign } from '../../src/webhooks/envelope';

describe('Standard Webhooks signature', () => {
  it('matches the specification test vector', async () => {
    // From the Standard Webhooks specification's reference test.
    expect(await sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('signs with every valid secret during a rotation and sends the current one as X-API-Key', async () => {
    const headers = await deliveryHeaders(['whsec_bmV3IHNlY3JldA==', 'whsec_b2xkIHNlY3JldA=='], 'evt', 1700000000, '{}');
    expect(headers['x-api-key']).toBe('whsec_bmV3IHNlY3JldA==');
    expect(headers['webhook-signature']!.split(' ')).toEqual([
      await sign('whsec_bmV3IHNlY3JldA==', 'evt', 1700000000, '{}'),
      await sign('whsec_b2xkIHNlY3JldA==', 'evt', 1700000000, '{}'),
    ]);
    expect(headers['webhook-id']).toBe('evt');
    expect(headers['webhook-timestamp']).toBe('1700000000');
  });
});

describe('retry schedule', () => {
  const policy = retryPolicy({} as Env);

  it('defaults to 10 s doubling to a 1 h cap, a 26 h window and a 20 s timeout', () => {
    expect(policy).toEqual({ baseMs: 10_000, capMs: 3_600_000, windowMs: 26 * 3_600_000, timeoutMs: 20_000 });
  });

  it('uses equal jitter: between half and all of the capped exponential delay', () => {
    expect([1, 2, 3].map((a) => retryDelay(policy, a, 0))).toEqual([5_000, 10_000, 20_000]);
    expect([1, 2, 3].map((a) => retryDelay(policy, a, 1))).toEqual([10_000, 20_000, 40_000]);
    expect(retryDelay(policy, 30, 1)).toBe(3_600_000);
    expect(retryDelay(policy, 30, 0)).toBe(1_800_000);
  });

  it('refuses settings that are not positive numbers, or a window events would not outlive', () => {
    expect(() => retryPolicy({ WEBHOOK_RETRY_BASE_MS: 'soon' } as Env)).toThrow(/WEBHOOK_RETRY_BASE_MS must be a positive number/);
    expect(() => retryPolicy({ WEBHOOK_TIMEOUT_MS: '-1' } as Env)).toThrow(/WEBHOOK_TIMEOUT_MS/);
    expect(() => retryPolicy({ WEBHOOK_RETRY_WINDOW_MS: String(7 * 86_400_000) } as Env)).toThrow(/at most/);
  });
});
