/**
 * The ports a local run (`npm start`) listens on, each with the variable that
 * moves it, and the check scripts/start.mjs makes before it starts anything:
 * a port that is taken, wanted twice or not a port number ends the run at
 * once with a line naming it and its variable, instead of a success banner
 * followed by wrangler's or Node's errors.
 */
import { createServer } from 'node:net';

/** Parley's own default, and the DEFAULT_PORT that scripts/simulator and scripts/demo export. */
export const DEFAULT_PORTS = { PORT: 8787, SIMULATOR_PORT: 8790, DEMO_PORT: 8795 };
/** What the simulator serves on SIMULATOR_PORT and the four ports after it (scripts/simulator/index.ts). */
const SIMULATOR_PARTS = ['page', 'shared channel fakes', 'Twilio fake', 'Meta fake', 'webhook receiver'];

/**
 * Why 127.0.0.1:`port` cannot be listened on ('in use', 'not allowed'), or undefined when it is free.
 * Binding is the only reliable probe: a server on 0.0.0.0 or [::] blocks it too.
 * @param {number} port
 * @returns {Promise<'in use' | 'not allowed' | undefined>}
 */
export function portProblem(port) {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => {
      if (err.code === 'EADDRINUSE') resolve('in use');
      else if (err.code === 'EACCES') resolve('not allowed');
      else reject(err);
    });
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

export const switchedOff = (value) => ['0', 'off', 'false', 'no'].includes(String(value ?? '').toLowerCase());

/**
 * @typedef {{ port: number, what: string, variable: string, fix: string }} LocalPort
 * @param {Record<string, string | undefined>} env
 * @returns {{ parley: number, inspector: number, simulator?: number, demo?: number, ports: LocalPort[], errors: string[] }}
 *   simulator/demo are undefined when switched off; 0 there means "any free port" and is not checked.
 */
export function localPorts(env) {
  const errors = [];
  const read = (variable, fallback, { zeroMeansAny = false, span = 1 } = {}) => {
    const raw = env[variable];
    if (raw === undefined || raw.trim() === '') return fallback;
    const port = Number(raw);
    if (Number.isInteger(port) && ((zeroMeansAny && port === 0) || (port >= 1 && port + span - 1 <= 65535))) return port;
    errors.push(`${variable}=${raw} is not a port number (1 to ${65536 - span}${zeroMeansAny ? ', or 0 for any free port' : ''}).`);
    return undefined;
  };
  const parley = read('PORT', DEFAULT_PORTS.PORT);
  let inspector = read('INSPECTOR_PORT', parley === undefined ? undefined : parley + 10000);
  if (inspector !== undefined && inspector > 65535) {
    errors.push(`PORT=${parley} leaves no port for wrangler's debugger at PORT + 10000: set INSPECTOR_PORT too.`);
    inspector = undefined;
  }
  const simulator = switchedOff(env.SIMULATOR) ? undefined : read('SIMULATOR_PORT', DEFAULT_PORTS.SIMULATOR_PORT, { zeroMeansAny: true, span: SIMULATOR_PARTS.length });
  const demo = switchedOff(env.DEMO) ? undefined : read('DEMO_PORT', DEFAULT_PORTS.DEMO_PORT, { zeroMeansAny: true });

  const ports = [];
  if (parley !== undefined) ports.push({ port: parley, what: "Parley's API", variable: 'PORT', fix: 'Set PORT to a free port, or stop what holds it (an earlier npm start?).' });
  if (inspector !== undefined) {
    ports.push({ port: inspector, what: "wrangler's debugger (inspector)", variable: 'INSPECTOR_PORT', fix: 'Set INSPECTOR_PORT to a free port (it defaults to PORT + 10000).' });
  }
  if (simulator) {
    SIMULATOR_PARTS.forEach((part, i) =>
      ports.push({
        port: simulator + i,
        what: `the channel simulator's ${part}`,
        variable: i === 0 ? 'SIMULATOR_PORT' : `SIMULATOR_PORT + ${i}`,
        fix: `Set SIMULATOR_PORT to move the simulator's ${SIMULATOR_PARTS.length} ports, or SIMULATOR=off to leave it out.`,
      }),
    );
  }
  if (demo) ports.push({ port: demo, what: 'the Web Messenger demo', variable: 'DEMO_PORT', fix: 'Set DEMO_PORT to a free port, or DEMO=off to leave it out.' });
  return { parley: parley ?? 0, inspector: inspector ?? 0, simulator, demo, ports, errors };
}

/** One line per port of `env` that a local run could not listen on; none when all of them are free. */
export async function localPortProblems(env) {
  const { ports, errors } = localPorts(env);
  const problems = [...errors];
  const first = new Map();
  for (const p of ports) {
    const earlier = first.get(p.port);
    if (earlier) {
      problems.push(`Port ${p.port} is wanted twice: by ${earlier.what} (${earlier.variable}) and by ${p.what} (${p.variable}). ${p.fix}`);
      continue;
    }
    first.set(p.port, p);
    const problem = await portProblem(p.port);
    if (problem) problems.push(`Port ${p.port} on 127.0.0.1 (${p.what}, ${p.variable}) is ${problem === 'in use' ? 'already in use' : 'not allowed to this user'}. ${p.fix}`);
  }
  return problems;
}
