/**
 * Bundles the Web Messenger demo (TypeScript, sharing a few helpers with the
 * channel simulator) into one ES module, `.parley/demo.mjs`, with esbuild.
 * Pages, scripts and product images go in as text through `?raw` imports, the
 * syntax vitest understands too, so the Node test imports the sources as is.
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
export async function buildDemo(outfile = path.join(ROOT, '.parley', 'demo.mjs')) {
  await build({
    entryPoints: [path.join(ROOT, 'scripts', 'demo', 'index.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    plugins: [raw],
    logLevel: 'warning',
    banner: { js: '// Built from scripts/demo/ by scripts/demo/build.mjs; do not edit.' },
  });
  return outfile;
}
