/**
 * `npm run deploy`: applies pending D1 migrations to the remote database, then
 * deploys the Worker and its Durable Object with wrangler. Needs `wrangler
 * login` (or CLOUDFLARE_API_TOKEN) and the secrets described in the README.
 */
import { spawnSync } from 'node:child_process';
import { ROOT, WRANGLER as wrangler } from './local.mjs';

for (const args of [['d1', 'migrations', 'apply', 'DB', '--remote'], ['deploy']]) {
  console.log(`> wrangler ${args.join(' ')}`);
  const res = spawnSync(process.execPath, [wrangler, ...args], { cwd: ROOT, stdio: 'inherit' });
  if (res.status !== 0) {
    console.error(`wrangler ${args[0]} failed; fix the error above and run npm run deploy again (it is safe to repeat).`);
    process.exit(res.status ?? 1);
  }
}
