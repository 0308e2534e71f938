/**
 * `npm run deploy`: puts Parley into your Cloudflare account, creating what is
 * missing first, so a first deploy needs nothing but `wrangler login` (or
 * CLOUDFLARE_API_TOKEN). Each step asks wrangler what exists and creates only
 * the rest, so running it again is safe and creates nothing:
 *
 *   1. the D1 database named in wrangler.toml (`wrangler d1 list --json`, else
 *      `wrangler d1 create`), writing its id over the placeholder `database_id`;
 *   2. every queue and dead-letter queue wrangler.toml names (`wrangler queues
 *      list`, else `wrangler queues create`);
 *   3. the R2 bucket (`wrangler r2 bucket list`, else `wrangler r2 bucket create`);
 *   4. pending D1 migrations (`wrangler d1 migrations apply --remote`);
 *   5. `wrangler deploy`; then it prints the steps that follow (secrets, an
 *      app and its key, a web integration, PUBLIC_URL).
 *
 * A placeholder `database_id` never reaches `wrangler deploy`: when no id
 * could be found or created, the run stops and says what to run.
 * PARLEY_WRANGLER runs another wrangler (the tests' fake); PARLEY_DEPLOY_CONFIG
 * names another wrangler.toml (passed to wrangler as --config).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { NODE_NOTE, ROOT, WRANGLER } from './local.mjs';

const CONFIG = process.env.PARLEY_DEPLOY_CONFIG ? path.resolve(process.env.PARLEY_DEPLOY_CONFIG) : path.join(ROOT, 'wrangler.toml');
const configArgs = process.env.PARLEY_DEPLOY_CONFIG ? ['--config', CONFIG] : [];
/** A wrangler script run with this Node (its CLI, not its launcher, which refuses Node 20). */
const wranglerScript = process.env.PARLEY_WRANGLER ? path.resolve(process.env.PARLEY_WRANGLER) : WRANGLER;
const PLACEHOLDER = /^(0{8}-0{4}-0{4}-0{4}-0{12}|<.*>|)$/;
/** What Cloudflare answers when a resource is already there: a race with another deploy, or a list that paged past it. */
const ALREADY = /already exists|already taken|\[code: (10004|11009)\]/i;

/** Runs wrangler, echoing its output as it comes, and hands back what it printed. */
function wrangler(args, { echo = true } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [wranglerScript, ...args, ...configArgs], {
      cwd: ROOT,
      // Its banner carries a Node 22 warning this run explains once instead (NODE_NOTE).
      env: { ...process.env, WRANGLER_HIDE_BANNER: 'true', WRANGLER_SEND_METRICS: 'false' },
      stdio: ['inherit', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      if (echo) process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      stderr += d;
      process.stderr.write(d);
    });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout: stripVTControlCharacters(stdout), stderr: stripVTControlCharacters(stderr) }));
  });
}

function fail(lines) {
  console.error(`\n${lines.join('\n')}`);
  process.exit(1);
}

/** Runs a step that must succeed. */
async function must(args, why) {
  console.log(`\n> wrangler ${args.join(' ')}${why ? `   # ${why}` : ''}`);
  const res = await wrangler(args);
  if (res.status !== 0) fail([`wrangler ${args.slice(0, 2).join(' ')} failed; fix the error above and run npm run deploy again (it is safe to repeat).`]);
  return res;
}

/** Creates `what`; "already exists" counts as done. Undefined when it failed and `orElse` says the caller explains. */
async function create(args, what, orElse = 'fail') {
  console.log(`\n> wrangler ${args.join(' ')}`);
  // Not echoed: its answer ends in a config snippet to paste, which this script has no need of.
  const res = await wrangler(args, { echo: false });
  if (res.status === 0) console.log(`Created ${what}.`);
  else if (ALREADY.test(res.stdout + res.stderr)) console.log(`${what} already exists: fine.`);
  if (res.status === 0 || ALREADY.test(res.stdout + res.stderr)) return res;
  process.stdout.write(res.stdout);
  if (orElse === 'fail') fail([`wrangler ${args.slice(0, 3).join(' ')} failed; fix the error above and run npm run deploy again (it is safe to repeat).`]);
  return undefined;
}

/** The string values of `key = "…"` lines in wrangler.toml, comments left out. */
function values(toml, key) {
  return [...toml.matchAll(new RegExp(`^\\s*${key}\\s*=\\s*"([^"]*)"`, 'gm'))].map((m) => m[1]);
}

if (NODE_NOTE) console.log(NODE_NOTE);
let toml = readFileSync(CONFIG, 'utf8');
const [databaseName] = values(toml, 'database_name');
let [databaseId] = values(toml, 'database_id');
if (!databaseName) fail([`${CONFIG} names no D1 database (database_name under [[d1_databases]]).`]);

// 1. D1
console.log(`\n> wrangler d1 list --json   # is there a D1 database "${databaseName}"?`);
const listed = await wrangler(['d1', 'list', '--json'], { echo: false });
if (listed.status !== 0) fail(['wrangler d1 list failed (see above). Log in first: npm run wrangler -- login (or set CLOUDFLARE_API_TOKEN), then npm run deploy again.']);
/** The databases `d1 list --json` printed; what comes before its JSON (a warning) is skipped. */
function databasesIn(stdout) {
  try {
    return JSON.parse(stdout.slice(stdout.indexOf('[')));
  } catch {
    return fail([`wrangler d1 list --json printed no list:\n${stdout}`]);
  }
}
const databases = databasesIn(listed.stdout);
const found = databases.find((db) => db.name === databaseName);
if (PLACEHOLDER.test(databaseId ?? '')) {
  let id = found?.uuid;
  if (id) console.log(`D1 database "${databaseName}" exists (${id}).`);
  else {
    const made = await create(['d1', 'create', databaseName], `D1 database ${databaseName}`, 'explain');
    id = (made?.stdout.match(/database_id"?\s*[=:]\s*"([0-9a-f-]{36})"/) ?? [])[1];
    if (!id && made) {
      const again = await wrangler(['d1', 'list', '--json'], { echo: false });
      id = again.status === 0 ? databasesIn(again.stdout).find((db) => db.name === databaseName)?.uuid : undefined;
    }
  }
  if (!id) {
    fail([
      `${path.relative(ROOT, CONFIG) || CONFIG} still has the placeholder database_id "${databaseId}", and no D1 database "${databaseName}" could be found or created.`,
      `Run:  npm run wrangler -- d1 create ${databaseName}`,
      `and put the database_id it prints into ${path.basename(CONFIG)} ([[d1_databases]] database_id), then npm run deploy again.`,
    ]);
  }
  toml = toml.replace(/^(\s*database_id\s*=\s*)"[^"]*"/m, `$1"${id}"`);
  writeFileSync(CONFIG, toml);
  console.log(`Wrote database_id = "${id}" into ${path.basename(CONFIG)} (commit it: deploys need it).`);
  databaseId = id;
} else if (!found || found.uuid !== databaseId) {
  fail([
    `${path.basename(CONFIG)} says database_id "${databaseId}", but this account's D1 database "${databaseName}" is ${found ? `"${found.uuid}"` : 'missing'}.`,
    found ? `Put "${found.uuid}" in database_id, or log in to the account that owns "${databaseId}".` : `Set database_id back to "00000000-0000-0000-0000-000000000000" and npm run deploy will create the database, or log in to the account that owns it.`,
  ]);
} else console.log(`D1 database "${databaseName}" exists (${databaseId}).`);

// 2. Queues (producers, consumers and dead-letter queues alike)
const queues = [...new Set([...values(toml, 'queue'), ...values(toml, 'dead_letter_queue')])];
console.log('\n> wrangler queues list   # which of the queues exist?');
const queueList = await wrangler(['queues', 'list'], { echo: false });
if (queueList.status !== 0) fail(['wrangler queues list failed (see above). Queues need the Workers Paid plan on your account.']);
const listedName = (text, name) => new RegExp(`(^|[\\s│|:])${name.replace(/[-]/g, '\\-')}($|[\\s│|])`, 'm').test(text);
for (const queue of queues) {
  if (listedName(queueList.stdout, queue)) console.log(`Queue ${queue} exists.`);
  else await create(['queues', 'create', queue], `queue ${queue}`);
}

// 3. R2
const buckets = [...new Set(values(toml, 'bucket_name'))];
if (buckets.length) {
  console.log('\n> wrangler r2 bucket list   # does the attachments bucket exist?');
  const bucketList = await wrangler(['r2', 'bucket', 'list'], { echo: false });
  if (bucketList.status !== 0) fail(['wrangler r2 bucket list failed (see above). R2 must be enabled on your account (dashboard → R2, once).']);
  for (const bucket of buckets) {
    if (new RegExp(`^\\s*name:\\s+${bucket}\\s*$`, 'm').test(bucketList.stdout)) console.log(`R2 bucket ${bucket} exists.`);
    else await create(['r2', 'bucket', 'create', bucket], `R2 bucket ${bucket}`);
  }
}

// 4, 5. Migrations, then the Worker
await must(['d1', 'migrations', 'apply', databaseName, '--remote'], 'only the pending ones');
const deployed = await must(['deploy']);
const url = (deployed.stdout.match(/https:\/\/[^\s]+\.workers\.dev/) ?? [])[0] ?? 'https://<your worker>.workers.dev';

console.log(`
Parley is deployed at ${url}

Next steps (once; later deploys keep all of this):
  1. Set its secrets (each command asks for the value):
       npm run wrangler -- secret put ACCOUNT_KEY_ID       # act_ and 24 hex characters: echo act_$(openssl rand -hex 12)
       npm run wrangler -- secret put ACCOUNT_KEY_SECRET   # openssl rand -base64 32
       npm run wrangler -- secret put MASTER_KEY           # openssl rand -base64 32; keep a copy: without it stored key secrets are unreadable
  2. Create an app and an app key with the account key:
       export PARLEY=${url} ACCOUNT=<ACCOUNT_KEY_ID>:<ACCOUNT_KEY_SECRET>
       curl -u $ACCOUNT -X POST $PARLEY/v2/apps -H 'content-type: application/json' -d '{"displayName":"My app"}'
       export APP=<app id from the answer>
       curl -u $ACCOUNT -X POST $PARLEY/v2/apps/$APP/keys -H 'content-type: application/json' -d '{"displayName":"server"}'
       export KEY=<key id>:<key secret from the answer>   # the secret is shown once
  3. Put the Web Messenger on your site: a web integration allowed on your origin,
       curl -u $KEY -X POST $PARLEY/v2/apps/$APP/integrations -H 'content-type: application/json' \\
         -d '{"type":"web","displayName":"Website","originWhitelist":["https://www.example.com"]}'
     then <script src="${url}/web-messenger.js"></script> and ParleyMessenger.init({ appId, integrationId }) on your pages.
  4. If channels reach Parley through a custom domain or a proxy, set PUBLIC_URL (e.g. https://chat.example.com)
     under [vars] in ${path.basename(CONFIG)} and npm run deploy again: channel webhook URLs are built from it.
  5. Receive webhooks: a custom integration whose webhook targets your server (https://), see README "Receiving webhooks".`);
