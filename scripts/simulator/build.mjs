/**
 * Bundles the simulator (TypeScript, importing the channel fakes from
 * test/fakes/) into one ES module, `.parley/simulator.mjs`, with esbuild.
 * The page's HTML and JS go in as text through `?raw` imports, the same
 * syntax vitest understands, so the tests import the sources unchanged.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `import text from './file?raw'`: the file's contents as a string. */
const raw = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text', watchFiles: [args.path] }));
  },
};

/** Builds the bundle and returns its path. */
export async function buildSimulator(outfile = path.join(ROOT, '.parley', 'simulator.mjs')) {
  await build({
    entryPoints: [path.join(ROOT, 'scripts', 'simulator', 'index.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    plugins: [raw],
    logLevel: 'warning',
    banner: { js: '// Built from scripts/simulator/ by scripts/simulator/build.mjs; do not edit.' },
  });
  return outfile;
}
