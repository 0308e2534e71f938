/**
 * `npm start` with a port already taken (issue 11, point 11): it checks every
 * port it is about to listen on before it starts anything, and a busy one
 * ends the run with a non-zero exit code and a line naming the port and the
 * variable that moves it, with no banner. Runs scripts/start.mjs itself, every
 * other port pointed at a free one.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/local.mjs';

const held: Server[] = [];

afterEach(async () => {
  await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Listens on 127.0.0.1:`port` until the test ends; rejects when the port is taken. */
async function hold(port: number): Promise<void> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  held.push(server);
}

/** A base port whose `count` ports from it are all free now (each is bound once, then let go). */
async function freeRange(count: number): Promise<number> {
  for (;;) {
    const base = randomInt(30_000, 60_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const bound = await Promise.allSettled(ports.map(hold));
    await Promise.all(held.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
    if (bound.every((b) => b.status === 'fulfilled')) return base;
  }
}

function runStart(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'start.mjs')], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 45_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every variable of `npm start` pointed at free ports: Parley, its debugger, the simulator's five, the demo. */
async function freePorts(): Promise<Record<string, number>> {
  const base = await freeRange(8);
  return { PORT: base, INSPECTOR_PORT: base + 1, SIMULATOR_PORT: base + 2, DEMO_PORT: base + 7 };
}

describe('npm start with a port already taken', () => {
  it.each([
    ['PORT', 'PORT', 0, "Parley's API"],
    ['INSPECTOR_PORT', 'INSPECTOR_PORT', 0, "wrangler's debugger"],
    ['SIMULATOR_PORT', 'SIMULATOR_PORT', 0, "the channel simulator's page"],
    ['the Meta fake on SIMULATOR_PORT + 3', 'SIMULATOR_PORT', 3, "the channel simulator's Meta fake"],
    ['DEMO_PORT', 'DEMO_PORT', 0, 'the Web Messenger demo'],
  ] as const)('%s busy: exits non-zero naming the port and its variable, before any banner', async (_, variable, offset, what) => {
    const ports = await freePorts();
    const busy = ports[variable]! + offset;
    await hold(busy);
    const run = await runStart(Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])));

    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`Port ${busy} on 127.0.0.1 (${what}`);
    expect(run.stderr).toContain(`Set ${variable} `);
    expect(run.stdout).not.toContain('Starting Parley');
    expect(run.stdout).not.toContain('Parley is running');
  });

  it('names every busy port at once, and a port number that is not one', async () => {
    const ports = await freePorts();
    await hold(ports.PORT!);
    await hold(ports.DEMO_PORT!);
    const run = await runStart({ PORT: String(ports.PORT), INSPECTOR_PORT: String(ports.INSPECTOR_PORT), SIMULATOR_PORT: 'eighty', DEMO_PORT: String(ports.DEMO_PORT) });

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('SIMULATOR_PORT=eighty is not a port number');
    expect(run.stderr).toContain(`Port ${ports.PORT} on 127.0.0.1 (Parley's API, PORT) is already in use`);
    expect(run.stderr).toContain(`Port ${ports.DEMO_PORT} on 127.0.0.1 (the Web Messenger demo, DEMO_PORT) is already in use`);
    expect(run.stdout).toBe('');
  });
});
