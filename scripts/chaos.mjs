/**
 * Chaos test: a sustained ingest of signed channel webhooks (Telegram, WhatsApp
 * and Twilio SMS formats, built by the channel fakes) from several hundred
 * users, every webhook sent three times (copies spread out, some after a
 * restart), two SIGKILLs of the local runtime's process tree with restarts on
 * the same persisted state, and the customer's webhook receiver answering 500
 * for a minute. Senders behave as the channels do: Telegram and Meta redeliver
 * on a non-2xx or a connection error, Twilio posts once (a Twilio message whose
 * posts all met a down Parley is "never acknowledged", not lost).
 *
 * Then it prints the counts and checks, through the REST API and the receiver:
 * every acknowledged message stored exactly once (by source.originalMessageId),
 * seq strictly increasing per conversation, a conversation:message event for
 * every stored message (exactly one event id each), raw duplicate deliveries.
 *
 *   npm run chaos                      full run: 60 s receiver outage, 2.5-4.5 minutes
 *   npm run chaos -- --quick           15 s receiver outage, 1.5-2.5 minutes
 *   npm run chaos -- --users 300 --rate 10   the defaults (rate: new messages/s, all users together)
 *   npm run chaos -- --verbose         wrangler's own log too
 *   npm run chaos -- --keep            keep the temp state folder even when all is well
 *
 * Fresh temp state and free ports every run; every child process is killed on
 * exit, Ctrl-C included. Exits non-zero when anything is lost, doubled, out of
 * order or not announced (the state folder is then kept and its path printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleTool } from './bundle.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    users: { type: 'string', default: '300' },
    rate: { type: 'string', default: '10' },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const users = Number(opts.users);
const rate = Number(opts.rate);
if (!Number.isInteger(users) || users < 3) throw new Error('--users must be an integer of at least 3');
if (!(rate > 0)) throw new Error('--rate must be a positive number of messages per second');

const work = mkdtempSync(path.join(tmpdir(), 'parley-chaos-'));
const cleanup = () => rmSync(work, { recursive: true, force: true });
const interruptedWhileBuilding = () => {
  cleanup();
  process.exit(130);
};
process.once('SIGINT', interruptedWhileBuilding);
process.once('SIGTERM', interruptedWhileBuilding);

// The fakes are TypeScript: bundle the chaos driver with them, as the simulator is bundled.
const bundle = await bundleTool('chaos', { outfile: path.join(work, 'chaos.mjs') });
const { runChaos } = await import(pathToFileURL(bundle).href);
process.removeListener('SIGINT', interruptedWhileBuilding);
process.removeListener('SIGTERM', interruptedWhileBuilding);

let ok = false;
try {
  ({ ok } = await runChaos({ root: path.resolve(HERE, '..'), quick: opts.quick, verbose: opts.verbose, users, rate, persistTo: path.join(work, 'state'), runtimeWorker: path.join(HERE, 'chaos', 'runtime-worker.mjs'), onInterrupt: cleanup }));
} catch (err) {
  console.error(`\nchaos: ${err instanceof Error ? err.stack : err}`);
}
if (ok && !opts.keep) cleanup();
else console.log(`State kept in ${work}`);
process.exit(ok ? 0 : 1);
