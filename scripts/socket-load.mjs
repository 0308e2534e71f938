/**
 * `npm run bench:sockets`: load on the Web Messenger's realtime sockets; see
 * scripts/socket-load/run.mjs and `npm run bench:sockets -- --help`.
 *
 * Node 20 has no global WebSocket without --experimental-websocket (Node 22
 * has it by default), so on Node 20 this re-runs itself with the flag rather
 * than reaching for a WebSocket package: the client is the one Node ships.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (typeof WebSocket === 'undefined') {
  const child = spawn(process.execPath, ['--experimental-websocket', '--disable-warning=ExperimentalWarning', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  // The child runs in this terminal's process group: Ctrl-C reaches it directly; only forward a TERM.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const { ROOT, startParley } = await import('./local.mjs');
  const { runSocketLoad } = await import('./socket-load/run.mjs');
  try {
    process.exitCode = await runSocketLoad({ argv: process.argv.slice(2), startParley, root: ROOT });
  } catch (err) {
    console.error(`\nbench:sockets: ${err instanceof Error ? err.stack : err}`);
    process.exitCode = 1;
  }
  process.exit();
}
