/**
 * Keeps a delivery's lease alive while a send runs. The conversation's object
 * hands a delivery whose lease lapsed to the next consumer that asks, which
 * then sends it again: a send that outlasts the lease (a large media upload
 * to X or Apple, several parts at the channel timeout each) would go out
 * twice. So the consumer renews the lease on a beat well inside its length
 * for as long as the send runs, and learns when a renewal was refused (the
 * delivery was taken over or settled meanwhile) so it sends no further part.
 */

export interface LeaseKeeper {
  /** True once the object refused a renewal: the delivery is no longer this consumer's. */
  lost(): boolean;
  stop(): void;
}

/**
 * Renews with `extend(now() + leaseMs)` every `leaseMs / 4`. A renewal that
 * fails to arrive (network) is tried again at the next beat: three in a row
 * must fail before the lease can lapse.
 */
export function keepLease(extend: (until: number) => Promise<boolean>, leaseMs: number, now: () => number = Date.now): LeaseKeeper {
  let lost = false;
  const timer = setInterval(() => {
    extend(now() + leaseMs).then(
      (ok) => {
        if (!ok) lost = true;
      },
      () => undefined,
    );
  }, leaseMs / 4);
  return {
    lost: () => lost,
    stop: () => clearInterval(timer),
  };
}
