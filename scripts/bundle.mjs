/**
 * Bundles one of Parley's Node-side tools (the channel simulator, the Web
 * Messenger demo, the benchmark), written in TypeScript and importing the
 * channel fakes, into one ES module under `.parley/` with esbuild. Page
 * assets go in as text through `?raw` imports, the syntax vitest understands
 * too, so the Node tests import the sources unchanged.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** `import text from './file?raw'`: the file's contents as a string. */
const raw = {
  name: 'raw',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: path.resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text', watchFiles: [args.path] }));
  },
};

/** Builds `scripts/<tool>/<entry>` into `.parley/<tool>.mjs` (or `outfile`) and returns the bundle's path. */
export async function bundleTool(tool, { entry = 'index.ts', outfile = path.join(ROOT, '.parley', `${tool}.mjs`) } = {}) {
  await build({
    entryPoints: [path.join(ROOT, 'scripts', tool, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    plugins: [raw],
    logLevel: 'warning',
    banner: { js: `// Built from scripts/${tool}/ by scripts/bundle.mjs; do not edit.` },
  });
  return outfile;
}
