/**
 * `npm start`'s terminal (issue 16, point 5): quiet by default, so the
 * simulator's `webhook …` lines stand out — no request log lines from wrangler
 * dev and no Node 22 warning, which the banner explains in one line instead
 * on older Node — and request logs back with PARLEY_LOG=requests. Its banner
 * prints an `export` line whose variables the README's curl examples use: pasted
 * into a shell, the curl it suggests answers 200. Runs scripts/start.mjs
 * itself (simulator and demo off) on free ports with throwaway state.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/local.mjs';

const state = mkdtempSync(path.join(tmpdir(), 'parley-start-'));
const devVars = path.join(ROOT, '.dev.vars');
const hadDevVars = existsSync(devVars);

afterAll(() => {
  rmSync(state, { recursive: true, force: true });
  // npm start writes .dev.vars when there is none; a test leaves the checkout as it found it.
  if (!hadDevVars) rmSync(devVars, { force: true });
});

async function freePort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  await new Promise((r) => server.close(r));
  return port;
}

interface Run {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts scripts/start.mjs and resolves once its banner is out. */
async function start(env: Record<string, string>): Promise<Run> {
  const [port, inspector] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), INSPECTOR_PORT: String(inspector), SIMULATOR: 'off', DEMO: 'off', PARLEY_STATE: state, PARLEY_LOG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 100_000;
  while (!out.includes('Press Ctrl+C to stop.')) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`npm start printed no banner within 100 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs `script` in bash after the banner's export line, as a user pasting both would. */
const shell = (exportLine: string, script: string) => execFileSync('bash', ['-c', `${exportLine}\n${script}`], { encoding: 'utf8', env: { PATH: process.env.PATH } });

describe('npm start', () => {
  it('prints export lines the README uses, keeps request logs and the Node warning out, and shows requests with PARLEY_LOG=requests', async () => {
    const quiet = await start({});
    let exportLine = '';
    try {
      exportLine = quiet.output().match(/^ {2}(export PARLEY=\S+ APP=\S+ KEY=\S+)$/m)?.[1] ?? '';
      expect(exportLine, quiet.output()).not.toBe('');
      expect(quiet.output()).toContain('  curl -u $KEY $PARLEY/v2/apps/$APP');
      expect(shell(exportLine, 'curl -sS -o /dev/null -w "%{http_code}" -u $KEY $PARLEY/v2/apps/$APP')).toBe('200');
      await new Promise((r) => setTimeout(r, 500));
      const out = quiet.output();
      expect(out).not.toMatch(/\[wrangler:info\]|GET \/v2\/apps|GET \/healthz/);
      expect(out).not.toContain('requires at least Node.js');
      expect(out).toContain('Request logs are off; PARLEY_LOG=requests npm start shows them.');
      if (Number(process.versions.node.split('.')[0]) < 22) expect(out).toContain("wrangler declares Node >= 22; Parley's local run and tests work on Node 20.19+");
    } finally {
      await quiet.stop();
    }

    const loud = await start({ PARLEY_LOG: 'requests' });
    try {
      const again = loud.output().match(/^ {2}(export PARLEY=\S+ APP=\S+ KEY=\S+)$/m)![1]!;
      expect(again.replace(/PARLEY=\S+ /, ''), 'the same demo app and key on a second start').toBe(exportLine.replace(/PARLEY=\S+ /, ''));
      shell(again, 'curl -sS -o /dev/null -u $KEY $PARLEY/v2/apps/$APP');
      const deadline = Date.now() + 10_000;
      while (!/GET \/v2\/apps\/\w+ 200/.test(loud.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(loud.output()).toMatch(/GET \/v2\/apps\/\w+ 200/);
    } finally {
      await loud.stop();
    }
  }, 240_000);
});
