/**
 * `npm run deploy` without Cloudflare (issue 16, point 6): scripts/deploy.mjs
 * runs against a fake wrangler (test/node/fake-wrangler.mjs, through
 * PARLEY_WRANGLER) that keeps an account and records every call, on a copy of
 * wrangler.toml (PARLEY_DEPLOY_CONFIG). A first deploy creates the D1
 * database (writing its id over the placeholder), every queue and dead-letter
 * queue and the R2 bucket, applies migrations and deploys; a second creates
 * nothing; a placeholder that no database can replace is refused before
 * anything is deployed, naming what to run; the steps after deploy are printed.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/local.mjs';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function account() {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-deploy-'));
  dirs.push(dir);
  const config = path.join(dir, 'wrangler.toml');
  copyFileSync(path.join(ROOT, 'wrangler.toml'), config);
  return { dir, config, state: path.join(dir, 'account.json'), calls: path.join(dir, 'calls.jsonl') };
}

function deploy(a: ReturnType<typeof account>, env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'deploy.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      PARLEY_WRANGLER: path.join(ROOT, 'test', 'node', 'fake-wrangler.mjs'),
      PARLEY_DEPLOY_CONFIG: a.config,
      FAKE_WRANGLER_STATE: a.state,
      FAKE_WRANGLER_CALLS: a.calls,
      ...env,
    },
  });
  let calls: string[] = [];
  try {
    calls = readFileSync(a.calls, 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as string[]).join(' '));
  } catch {
    // no call made
  }
  rmSync(a.calls, { force: true });
  return { code: res.status, out: res.stdout, err: res.stderr, calls };
}

const QUEUES = ['parley-index', 'parley-webhooks', 'parley-deliveries', 'parley-webhooks-dlq', 'parley-deliveries-dlq', 'parley-index-dlq'];
const databaseId = (config: string) => readFileSync(config, 'utf8').match(/^database_id = "([^"]+)"/m)![1]!;

describe('npm run deploy', () => {
  it('first deploy creates the database, queues and bucket, writes the id, migrates and deploys; a second creates nothing', () => {
    const a = account();
    expect(databaseId(a.config)).toBe('00000000-0000-0000-0000-000000000000');

    const first = deploy(a);
    expect(first.code, first.err + first.out).toBe(0);
    const created = first.calls.filter((c) => c.includes(' create'));
    expect(created.sort()).toEqual(['d1 create parley', ...QUEUES.map((q) => `queues create ${q}`), 'r2 bucket create parley-attachments'].sort());
    expect(first.calls.slice(-2)).toEqual(['d1 migrations apply parley --remote', 'deploy']);
    const id = databaseId(a.config);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(JSON.parse(readFileSync(a.state, 'utf8')).databases).toEqual([{ name: 'parley', uuid: id }]);
    expect(first.out).toContain(`Wrote database_id = "${id}"`);

    const second = deploy(a);
    expect(second.code, second.err + second.out).toBe(0);
    expect(second.calls.filter((c) => c.includes(' create'))).toEqual([]);
    expect(second.calls).toEqual(['d1 list --json', 'queues list', 'r2 bucket list', 'd1 migrations apply parley --remote', 'deploy']);
    expect(databaseId(a.config)).toBe(id);
    for (const q of QUEUES) expect(second.out).toContain(`Queue ${q} exists.`);
    expect(second.out).toContain('R2 bucket parley-attachments exists.');
  });

  it('prints the steps that follow: secrets, an app and its key, a web integration, PUBLIC_URL', () => {
    const run = deploy(account());
    expect(run.code).toBe(0);
    expect(run.out).toContain('Parley is deployed at https://parley.acme-dev.workers.dev');
    for (const line of [
      'npm run wrangler -- secret put ACCOUNT_KEY_ID',
      'npm run wrangler -- secret put ACCOUNT_KEY_SECRET',
      'npm run wrangler -- secret put MASTER_KEY',
      'export PARLEY=https://parley.acme-dev.workers.dev',
      `curl -u $ACCOUNT -X POST $PARLEY/v2/apps -H 'content-type: application/json' -d '{"displayName":"My app"}'`,
      'curl -u $ACCOUNT -X POST $PARLEY/v2/apps/$APP/keys',
      '"type":"web"',
      '<script src="https://parley.acme-dev.workers.dev/web-messenger.js"></script>',
      'set PUBLIC_URL',
    ]) {
      expect(run.out).toContain(line);
    }
  });

  it('refuses a placeholder database_id it cannot replace, naming what to run, and deploys nothing', () => {
    const a = account();
    const run = deploy(a, { FAKE_WRANGLER_FAIL: 'd1 create' });
    expect(run.code).toBe(1);
    expect(run.err).toContain('still has the placeholder database_id "00000000-0000-0000-0000-000000000000"');
    expect(run.err).toContain('Run:  npm run wrangler -- d1 create parley');
    expect(run.calls).not.toContain('deploy');
    expect(run.calls.some((c) => c.startsWith('d1 migrations'))).toBe(false);
    expect(databaseId(a.config)).toBe('00000000-0000-0000-0000-000000000000');
  });

  it('takes an existing database by name, and treats "already exists" as done', () => {
    const a = account();
    const uuid = '7d1c1a2e-4b5f-4e6a-9c8d-0a1b2c3d4e5f';
    // The queue list pages past one queue that exists: creating it answers "already taken".
    const seeded = { databases: [{ name: 'parley', uuid }], queues: [], unlisted: ['parley-index'], buckets: ['parley-attachments'], migrations: 1, deploys: 0 };
    writeFileSync(a.state, JSON.stringify(seeded));
    const run = deploy(a);
    expect(run.code, run.err).toBe(0);
    expect(run.calls).toContain('queues create parley-index');
    expect(run.err).toContain('Queue name already taken [code: 11009]');
    expect(databaseId(a.config)).toBe(uuid);
    expect(run.calls).not.toContain('d1 create parley');
    expect(run.calls).not.toContain('r2 bucket create parley-attachments');
  });

  it('refuses a database_id that is not the account database of that name', () => {
    const a = account();
    writeFileSync(a.config, readFileSync(a.config, 'utf8').replace(/^database_id = "[^"]+"/m, 'database_id = "11111111-2222-4333-8444-555555555555"'));
    const run = deploy(a);
    expect(run.code).toBe(1);
    expect(run.err).toContain('says database_id "11111111-2222-4333-8444-555555555555", but this account\'s D1 database "parley" is missing');
    expect(run.calls).toEqual(['d1 list --json']);
  });
});
