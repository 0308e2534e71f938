/**
 * `npm run bench`: bundles the benchmark (TypeScript, importing the channel
 * fakes from test/fakes/) into `.parley/bench.mjs` and runs it. See
 * scripts/bench/main.ts.
 */
import { pathToFileURL } from 'node:url';
import { bundleTool } from '../bundle.mjs';
import { ROOT, startParley } from '../local.mjs';

const { runBench } = await import(pathToFileURL(await bundleTool('bench', { entry: 'main.ts' })).href);
process.exitCode = await runBench({ argv: process.argv.slice(2), startParley, root: ROOT });
