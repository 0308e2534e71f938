/**
 * What `wrangler deploy` would upload carries nothing of the bench: no floor
 * routes, no counters, no floor object, no binding for it. The bench Worker is
 * built from its own config, made from wrangler.toml, and does carry them.
 * Both are built as wrangler builds them (`deploy --dry-run`, offline).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, WRANGLER } from '../../scripts/local.mjs';
import { benchConfigText, writeBenchConfig } from '../../scripts/bench/worker/config.mjs';

const outDirs: string[] = [];
afterAll(() => outDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The bundle and the binding table wrangler prints for a config. */
function dryRun(config: string): { bundle: string; printed: string } {
  const outdir = mkdtempSync(path.join(tmpdir(), 'parley-bundle-'));
  outDirs.push(outdir);
  const res = spawnSync(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir, '--config', config], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' },
  });
  expect(res.status, res.stderr).toBe(0);
  return { bundle: readFileSync(path.join(outdir, 'index.js'), 'utf8'), printed: res.stdout };
}

const BENCH_ONLY = ['/_bench/', 'BenchDO', 'countDurableObjectStorage', 'benchFetch'];

describe('the deployed bundle', () => {
  it('holds no bench routes, counters or floor object, and binds none', { timeout: 60_000 }, () => {
    const { bundle, printed } = dryRun(path.join(ROOT, 'wrangler.toml'));
    expect(bundle).toContain('ConversationDO');
    for (const marker of BENCH_ONLY) expect(bundle, marker).not.toContain(marker);
    expect(printed).not.toMatch(/\bBENCH\b/);
  });

  it('the bench Worker, built from a config made of wrangler.toml, holds them', { timeout: 60_000 }, () => {
    const { bundle, printed } = dryRun(writeBenchConfig(ROOT));
    for (const marker of BENCH_ONLY) expect(bundle, marker).toContain(marker);
    expect(printed).toMatch(/env\.BENCH \(BenchDO\)/);
    expect(printed).toMatch(/env\.CONVERSATIONS \(ConversationDO\)/);
  });

  it('the bench config keeps every binding of wrangler.toml and points paths back at the project', () => {
    const toml = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
    const bench = benchConfigText(toml);
    expect(bench).toMatch(/^main = "\.\.\/\.\.\/scripts\/bench\/worker\/index\.ts"$/m);
    expect(bench).toMatch(/^migrations_dir = "\.\.\/\.\.\/src\/db\/migrations"$/m);
    expect(bench).not.toMatch(/^\[build\]/m);
    for (const table of toml.match(/^\[\[?[a-z_.]+\]\]?$/gm)!.filter((t) => t !== '[build]')) {
      expect(bench.split(table).length, table).toBeGreaterThanOrEqual(toml.split(table).length);
    }
    expect(() => benchConfigText('name = "x"\n')).toThrow(/no `main` line/);
  });
});
