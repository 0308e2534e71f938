/**
 * The deliveries consumer's lease keeper: a send that outlasts the lease (a
 * large media upload) keeps its delivery, so no second consumer sends it
 * again; a refused renewal is reported, so no further part goes out.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keepLease } from '../../src/delivery/lease-keeper';

const LEASE = 120_000;

describe('keepLease', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('renews the lease every quarter of its length for as long as the send runs, each time to a full lease ahead', async () => {
    const until: number[] = [];
    let clock = 1_000_000;
    const keeper = keepLease(async (u) => (until.push(u), true), LEASE, () => clock);
    for (let beat = 1; beat <= 10; beat++) {
      clock += LEASE / 4;
      await vi.advanceTimersByTimeAsync(LEASE / 4);
    }
    keeper.stop();
    // A ten-minute send: ten renewals, each a full lease past its own time, so the lease never lapsed.
    expect(until).toEqual(Array.from({ length: 10 }, (_, i) => 1_000_000 + (i + 1) * (LEASE / 4) + LEASE));
    expect(keeper.lost()).toBe(false);
    await vi.advanceTimersByTimeAsync(LEASE);
    expect(until).toHaveLength(10);
  });

  it('says the lease is lost once the object refuses a renewal, and shrugs off a renewal that failed to arrive', async () => {
    const answers: (() => Promise<boolean>)[] = [() => Promise.reject(new Error('network')), () => Promise.resolve(true), () => Promise.resolve(false)];
    const keeper = keepLease(() => answers.shift()!(), LEASE);
    await vi.advanceTimersByTimeAsync(LEASE / 4);
    expect(keeper.lost()).toBe(false);
    await vi.advanceTimersByTimeAsync(LEASE / 4);
    expect(keeper.lost()).toBe(false);
    await vi.advanceTimersByTimeAsync(LEASE / 4);
    expect(keeper.lost()).toBe(true);
    keeper.stop();
  });
});
