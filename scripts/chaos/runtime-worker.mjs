/**
 * Runs `startParley` (scripts/local.mjs) on a worker thread for the chaos
 * test. startParley applies the D1 migrations with spawnSync, which would
 * freeze the main thread (the channels' senders and the webhook receiver) for
 * seconds on every restart; here only this thread waits. Every process it
 * spawns is reported to the main thread at once, so that thread can SIGKILL
 * the runtime's process group at any moment, even while it is still starting.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { parentPort } from 'node:worker_threads';

const spawn = childProcess.spawn;
childProcess.spawn = function reportingSpawn(...args) {
  const child = spawn.apply(this, args);
  if (child.pid !== undefined) parentPort.postMessage({ type: 'spawned', pid: child.pid });
  return child;
};
// local.mjs imports `spawn` by name: make that binding the reporting one.
syncBuiltinESMExports();
const { startParley } = await import('../local.mjs');

let current;
parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'start') {
      current = await startParley({ ...msg.options, quiet: !msg.options.verbose });
      parentPort.postMessage({ type: 'started', id: msg.id, pid: current.child.pid, url: current.url });
    } else if (msg.type === 'stop') {
      // A no-op when the child already died (our SIGKILL).
      if (current) await current.stop();
      parentPort.postMessage({ type: 'stopped', id: msg.id });
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
  }
});
parentPort.postMessage({ type: 'ready' });
