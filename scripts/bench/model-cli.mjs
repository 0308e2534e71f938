/**
 * `npm run bench:model`: bundles the scale model (scripts/bench/model.ts) into
 * `.parley/bench-model.mjs` and runs it. It starts nothing: it reads the
 * newest `.parley/bench/*.json` (or --from=file) and Cloudflare's published
 * limits (scripts/bench/limits.json).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleTool } from '../bundle.mjs';
import { ROOT } from '../local.mjs';

const outfile = path.join(ROOT, '.parley', 'bench-model.mjs');
const { runModel } = await import(pathToFileURL(await bundleTool('bench', { entry: 'model.ts', outfile })).href);
process.exitCode = runModel({ argv: process.argv.slice(2), root: ROOT });
