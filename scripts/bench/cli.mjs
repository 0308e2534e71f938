/**
 * `npm run bench`: bundles the benchmark (TypeScript, importing the channel
 * fakes from test/fakes/) into `.parley/bench.mjs` with esbuild, as the
 * simulator is bundled, and runs it. See scripts/bench/main.ts.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { ROOT, startParley } from '../local.mjs';

const outfile = path.join(ROOT, '.parley', 'bench.mjs');
await build({
  entryPoints: [path.join(ROOT, 'scripts', 'bench', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
  banner: { js: '// Built from scripts/bench/ by scripts/bench/cli.mjs; do not edit.' },
});
const { runBench } = await import(pathToFileURL(outfile).href);
process.exitCode = await runBench({ argv: process.argv.slice(2), startParley, root: ROOT });
