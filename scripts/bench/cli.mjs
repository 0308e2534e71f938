/**
 * `npm run bench`: bundles the benchmark (TypeScript, importing the channel
 * fakes from test/fakes/) into `.parley/bench.mjs` and runs it against the
 * bench Worker (scripts/bench/worker/). See scripts/bench/main.ts.
 */
import { pathToFileURL } from 'node:url';
import { bundleTool } from '../bundle.mjs';
import { ROOT, startParley } from '../local.mjs';
import { writeBenchConfig } from './worker/config.mjs';

const { runBench } = await import(pathToFileURL(await bundleTool('bench', { entry: 'main.ts' })).href);
// Parley runs as the bench Worker (its entry points plus the floor and counters): scripts/bench/worker/.
const config = writeBenchConfig(ROOT);
process.exitCode = await runBench({ argv: process.argv.slice(2), startParley: (opts) => startParley({ ...opts, config }), root: ROOT });
