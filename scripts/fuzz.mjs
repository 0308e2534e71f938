/**
 * The fuzz suite (test/workerd/fuzz/), run long: every property of every REST
 * route and channel endpoint gets thousands of generated requests instead of
 * the few dozen `npm test` gives it. One seed drives every property, so a
 * failure replays with the same inputs.
 *
 *   npm run fuzz                          2000 runs per property, a fresh seed
 *   npm run fuzz -- --runs 500            fewer (or FUZZ_RUNS=500 npm run fuzz)
 *   npm run fuzz -- --seed 1234567        replay a run
 *   npm run fuzz -- --grep twilio         only the properties whose name matches
 *
 * Prints a summary (properties, runs, answers seen, failures with their shrunk
 * counterexample, the seed) and exits non-zero when a property failed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: process.env.FUZZ_RUNS ?? '2000' },
    seed: { type: 'string', default: process.env.FUZZ_SEED },
    grep: { type: 'string' },
  },
});

const runs = Number(opts.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, not ${opts.runs}`);
const seed = opts.seed === undefined ? (Math.random() * 2 ** 31) | 0 : Number(opts.seed);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, not ${opts.seed}`);

const out = mkdtempSync(path.join(tmpdir(), 'parley-fuzz-'));
const report = path.join(out, 'report.json');
const args = [
  path.join(ROOT, 'node_modules/vitest/vitest.mjs'),
  'run',
  '--project',
  'workerd',
  'test/workerd/fuzz',
  '--maxWorkers=2',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
  ...(opts.grep ? ['-t', opts.grep] : []),
];

console.log(`fuzz: ${runs} runs per property, seed ${seed}${opts.grep ? `, properties matching /${opts.grep}/` : ''}`);
const started = Date.now();
// The tests run inside workerd, where only VITE_-prefixed variables reach them (as import.meta.env).
const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, VITE_FUZZ_RUNS: String(runs), VITE_FUZZ_SEED: String(seed) }, stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * workerd logs a line and a stack each time a client stops reading a body it
 * refused (every oversize request: 413 before the rest arrives). Thousands of
 * them bury the report, so they are counted, not printed.
 */
const NOISE = /^exception = (kj\/async-io\.c\+\+:\d+: disconnected: read end of pipe was aborted|workerd\/api\/streams\/[\w.-]+\+\+:\d+: disconnected: (reader|pump) canceled)/;
let noise = 0;
let skipStack = false;
let pendingErr = '';
child.stderr.on('data', (chunk) => {
  pendingErr += chunk.toString('utf8');
  const lines = pendingErr.split('\n');
  pendingErr = lines.pop() ?? '';
  for (const line of lines) {
    if (NOISE.test(line)) {
      noise++;
      skipStack = true;
      continue;
    }
    if (skipStack && line.startsWith('stack: ')) {
      skipStack = false;
      continue;
    }
    skipStack = false;
    process.stderr.write(`${line}\n`);
  }
});

/** The `[fuzz] {...}` line each property logs when it ends: its runs, time and the answers it saw. */
const properties = new Map();
let pending = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  pending += chunk.toString('utf8');
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) {
    const at = line.indexOf('[fuzz] {');
    if (at < 0) continue;
    try {
      const entry = JSON.parse(line.slice(at + '[fuzz] '.length).replace(/\x1b\[[0-9;]*m/g, ''));
      properties.set(entry.property, entry);
    } catch {
      // a line cut by the reporter's colouring: the JSON report still has the result
    }
  }
});

const code = await new Promise((resolve) => child.on('close', (status) => resolve(status ?? 1)));
const seconds = ((Date.now() - started) / 1000).toFixed(0);

let tests = [];
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  tests = json.testResults.flatMap((file) => file.assertionResults.map((t) => ({ file: path.relative(ROOT, file.name), ...t })));
} catch (err) {
  console.error(`fuzz: no test report (${err instanceof Error ? err.message : String(err)})`);
}
rmSync(out, { recursive: true, force: true });

const failed = tests.filter((t) => t.status === 'failed');
const passed = tests.filter((t) => t.status === 'passed');
const known = passed.filter((t) => /known failure/i.test(t.fullName));
const totalRuns = [...properties.values()].reduce((n, p) => n + p.runs, 0);
const answers = {};
const knownHits = {};
for (const p of properties.values()) {
  for (const [status, n] of Object.entries(p.statuses ?? {})) answers[status] = (answers[status] ?? 0) + n;
  for (const [id, n] of Object.entries(p.known ?? {})) knownHits[id] = (knownHits[id] ?? 0) + n;
}

console.log('\n──────── fuzz summary ────────');
console.log(`seed           ${seed}`);
console.log(`runs/property  ${runs}`);
console.log(`properties     ${properties.size} (${tests.length} tests: ${passed.length} passed, ${failed.length} failed${known.length ? `, ${known.length} known failures pinned with it.fails` : ''})`);
console.log(`runs           ${totalRuns} generated requests in ${seconds} s${noise ? ` (${noise} workerd "disconnected" notes from refused bodies not shown)` : ''}`);
console.log(`answers        ${Object.entries(answers).sort(([a], [b]) => Number(a) - Number(b)).map(([s, n]) => `${s}×${n}`).join('  ')}`);
if (Object.keys(knownHits).length) console.log(`known bugs hit ${Object.entries(knownHits).map(([id, n]) => `${id}×${n}`).join('  ')} (test/workerd/fuzz/known.ts: counted, not failed)`);
for (const t of known) console.log(`pinned         ${t.title.replace(/^known failure: /, '')}`);
if (failed.length) {
  console.log(`\nfailures (${failed.length}):`);
  for (const t of failed) {
    const message = (t.failureMessages?.[0] ?? '').replace(/\x1b\[[0-9;]*m/g, '');
    const keep = message.split('\n').filter((l) => /Counterexample|^Failure|before:|after:|answer|worker log|unhandled error|^\s+at /.test(l)).slice(0, 12);
    console.log(`  ✗ ${t.fullName}\n    ${(keep.length ? keep : message.split('\n').slice(0, 6)).join('\n    ')}`);
  }
  console.log(`\nreplay: npm run fuzz -- --seed ${seed} --runs ${runs}${opts.grep ? ` --grep '${opts.grep}'` : ''}`);
}
process.exit(failed.length > 0 || code !== 0 ? 1 : 0);
