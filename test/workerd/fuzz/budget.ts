/**
 * How long the fuzz suite runs. `npm test` runs every property a few dozen
 * times; `npm run fuzz` (scripts/fuzz.mjs) runs them thousands of times and
 * can replay a seed. Code inside workerd sees no `process.env`, so the script
 * passes its settings as `VITE_FUZZ_*` variables, which Vite exposes on
 * `import.meta.env`.
 */
import fc from 'fast-check';
import { takeKnownCounts } from './known';

const viteEnv = (import.meta as unknown as { env?: Record<string, string | undefined> }).env ?? {};

const positive = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
};

/** Runs per property: small in `npm test`, large through `npm run fuzz`. */
export const RUNS = positive(viteEnv.VITE_FUZZ_RUNS, 30);

/** One seed for every property of a test file (of every file, through the script), so a failure replays with `npm run fuzz -- --seed <n>`. */
export const SEED = viteEnv.VITE_FUZZ_SEED !== undefined && /^-?\d+$/.test(viteEnv.VITE_FUZZ_SEED) ? Number(viteEnv.VITE_FUZZ_SEED) : (Date.now() ^ (Math.random() * 0x100000000)) | 0;

/** Per-test timeout: each run sends a handful of requests into workerd; a long run gets room in proportion. */
export const timeoutFor = (runs = RUNS, msPerRun = 150) => Math.max(30_000, runs * msPerRun);

/** Answers seen by the running property, by status: a property whose runs all end in the same 400 tests little. */
let statuses: Record<number, number> = {};
export const tally = (status: number) => {
  statuses[status] = (statuses[status] ?? 0) + 1;
};

/**
 * Runs a property and, when it fails, throws fast-check's report (seed, replay
 * path, shrunk counterexample) and the failure of the shrunk case, which
 * carries the Worker's stack for a 5xx.
 */
export async function check<T>(name: string, property: fc.IAsyncPropertyWithHooks<T>): Promise<void> {
  const numRuns = RUNS;
  const started = Date.now();
  statuses = {};
  takeKnownCounts();
  const details = await fc.check(property, { numRuns, seed: SEED });
  const ms = Date.now() - started;
  const known = takeKnownCounts();
  console.log(`[fuzz] ${JSON.stringify({ property: name, runs: details.numRuns, seed: SEED, ms, failed: details.failed, statuses, ...(Object.keys(known).length ? { known } : {}) })}`);
  if (!details.failed) return;
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(`${fc.defaultReportMessage(details)}\n\nFailure: ${cause}\n\nReplay: npm run fuzz -- --seed ${SEED} --runs ${numRuns}`);
}
