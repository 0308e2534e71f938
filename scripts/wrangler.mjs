/**
 * `npm run wrangler -- <args>`: runs the project's pinned wrangler on any
 * supported Node version (20.19+), for the deploy steps in the README.
 */
import { spawnSync } from 'node:child_process';
import { ROOT, WRANGLER } from './local.mjs';

const res = spawnSync(process.execPath, [WRANGLER, ...process.argv.slice(2)], { cwd: ROOT, stdio: 'inherit' });
process.exit(res.status ?? 1);
