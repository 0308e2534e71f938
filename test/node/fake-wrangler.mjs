/**
 * A stand-in for wrangler's CLI in test/node/deploy.test.ts (run by
 * scripts/deploy.mjs through PARLEY_WRANGLER): keeps an account (D1
 * databases, queues, R2 buckets, the Worker) in FAKE_WRANGLER_STATE, appends
 * each call's arguments to FAKE_WRANGLER_CALLS, and answers in the formats of
 * wrangler 4.155 (`d1 list --json` is JSON, `d1 create` prints the TOML
 * snippet for a .toml config, `queues list` a cli-table3 box table, `r2
 * bucket list` labelled values, Cloudflare API errors as `✘ [ERROR]` blocks).
 * FAKE_WRANGLER_FAIL="d1 create" makes that command fail as a logged-out
 * wrangler does.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

const { FAKE_WRANGLER_STATE: stateFile, FAKE_WRANGLER_CALLS: callsFile, FAKE_WRANGLER_FAIL: failing = '' } = process.env;
const args = process.argv.slice(2);
const configAt = args.indexOf('--config');
const command = configAt >= 0 ? args.slice(0, configAt) : args;
appendFileSync(callsFile, `${JSON.stringify(command)}\n`);

const state = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : { databases: [], queues: [], buckets: [], migrations: 0, deploys: 0 };
const save = () => writeFileSync(stateFile, JSON.stringify(state));
const out = (text) => process.stdout.write(`${text}\n`);
const apiError = (path, message, code) => {
  process.stderr.write(`\n✘ [ERROR] A request to the Cloudflare API (/accounts/0123abcd/${path}) failed.\n\n  ${message} [code: ${code}]\n\n`);
  process.exit(1);
};
const now = '2026-12-06T22:00:00.000Z';

const joined = command.join(' ');
if (failing && joined.startsWith(failing)) {
  process.stderr.write('\n✘ [ERROR] You are not logged in. Run `wrangler login` or set CLOUDFLARE_API_TOKEN.\n\n');
  process.exit(1);
}

if (joined === 'd1 list --json') {
  out(JSON.stringify(state.databases.map((db) => ({ uuid: db.uuid, name: db.name, created_at: now, version: 'production', num_tables: 0, file_size: 12288 })), null, 2));
} else if (command[0] === 'd1' && command[1] === 'create') {
  const name = command[2];
  if (state.databases.some((db) => db.name === name)) {
    process.stderr.write('\n✘ [ERROR] A database with that name already exists\n\n');
    process.exit(1);
  }
  const uuid = randomUUID();
  state.databases.push({ name, uuid });
  save();
  out(`✅ Successfully created DB '${name}' in region WEUR\nCreated your new D1 database.\n`);
  out(`To access your new D1 Database in your Worker, add the following snippet to your configuration file:\n[[d1_databases]]\nbinding = "${name}"\ndatabase_name = "${name}"\ndatabase_id = "${uuid}"\n`);
} else if (joined === 'queues list') {
  const rows = state.queues.map((name, i) => [`5c3a0e0${i}b1d24f6c8e7f9a0b1c2d3e4f`, name, now, now, '1', '1']);
  const head = ['id', 'name', 'created_on', 'modified_on', 'producers', 'consumers'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)) + 2);
  const line = (l, m, r) => l + widths.map((w) => '─'.repeat(w)).join(m) + r;
  const row = (cells) => `│${cells.map((cell, c) => ` ${cell.padEnd(widths[c] - 1)}`).join('│')}│`;
  out([line('┌', '┬', '┐'), row(head), ...rows.flatMap((r) => [line('├', '┼', '┤'), row(r)]), line('└', '┴', '┘')].join('\n'));
} else if (command[0] === 'queues' && command[1] === 'create') {
  const name = command[2];
  out(`🌀 Creating queue '${name}'`);
  // `unlisted` queues exist past the page `queues list` shows.
  if (state.queues.includes(name) || state.unlisted?.includes(name)) apiError('queues', 'Queue name already taken', 11009);
  state.queues.push(name);
  save();
  out(`✅ Created queue '${name}'\n\nConfigure your Worker to send messages to this queue:\n\n[[queues.producers]]\nqueue = "${name}"\nbinding = "${name.replace(/-/g, '_')}"\n`);
} else if (joined === 'r2 bucket list') {
  out('Listing buckets...');
  out(state.buckets.map((name) => `name:           ${name}\ncreation_date:  ${now}`).join('\n\n'));
} else if (command[0] === 'r2' && command[2] === 'create') {
  const name = command[3];
  out(`Creating bucket '${name}'...`);
  if (state.buckets.includes(name)) apiError(`r2/buckets`, 'The bucket you tried to create already exists, and you own it.', 10004);
  state.buckets.push(name);
  save();
  out(`✅ Created bucket '${name}' with default storage class of Standard.`);
} else if (command[0] === 'd1' && command[1] === 'migrations' && command[2] === 'apply') {
  if (!state.databases.some((db) => db.name === command[3])) apiError('d1/database', `Couldn't find DB with name '${command[3]}'`, 7404);
  out(state.migrations++ === 0 ? 'Migrations to be applied:\n│ 0001_init.sql │\n🚣 Executed 13 migrations' : '✅ No migrations to apply!');
  save();
} else if (joined === 'deploy') {
  state.deploys++;
  save();
  out('Total Upload: 1024.00 KiB / gzip: 256.00 KiB\nUploaded parley (3.10 sec)\nDeployed parley triggers (0.52 sec)\n  https://parley.acme-dev.workers.dev\n  Producer for parley-index\nCurrent Version ID: 0b5e2f9c-0000-4000-8000-000000000001');
} else {
  process.stderr.write(`fake wrangler: no answer for ${joined}\n`);
  process.exit(2);
}
