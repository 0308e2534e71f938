/**
 * Product bugs the fuzz suite found and the owner has not fixed yet. A 5xx
 * that matches one of these (by the Worker's own stack) is counted as known
 * instead of failing its property, so `npm test` stays green while the
 * property keeps running; findings.test.ts pins each one with an `it.fails`
 * reproduction, which turns red the day the bug is fixed: then delete the
 * entry here and make the reproduction a plain `it`.
 */
import type { Sent } from './world';

export interface KnownFailure {
  id: string;
  summary: string;
  matches: (res: Sent, request: string, log: string[]) => boolean;
}

// Every finding so far is fixed and pinned in findings.test.ts; a new one goes here until it is fixed.
export const KNOWN_FAILURES: KnownFailure[] = [];

const seen: Record<string, number> = {};

/** The known failure this 5xx is, if any; counts it for the summary. */
export function knownFailure(res: Sent, request: string, log: string[]): KnownFailure | undefined {
  const known = KNOWN_FAILURES.find((k) => k.matches(res, request, log));
  if (known) seen[known.id] = (seen[known.id] ?? 0) + 1;
  return known;
}

/** How often each known failure was hit since the last call. */
export function takeKnownCounts(): Record<string, number> {
  const counts = { ...seen };
  for (const key of Object.keys(seen)) delete seen[key];
  return counts;
}
