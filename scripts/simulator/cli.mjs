/**
 * `npm run simulator`: the channel simulator against a Parley that is already
 * running (`npm start` in another terminal, or PARLEY_URL). Reads the demo
 * app's key from .parley/demo.json, as `npm start` wrote it.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleTool } from '../bundle.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const stateDir = path.join(ROOT, '.parley');
const parleyUrl = process.env.PARLEY_URL ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`;

const { startSimulator, readDemo, DEFAULT_PORT } = await import(pathToFileURL(await bundleTool('simulator')).href);
let simulator;
try {
  simulator = await startSimulator({
    parleyUrl,
    ...readDemo(stateDir),
    port: Number(process.env.SIMULATOR_PORT ?? DEFAULT_PORT),
    stateFile: path.join(stateDir, 'simulator.json'),
  });
} catch (err) {
  console.error(`The channel simulator could not start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
console.log(`\nChannel simulator for ${parleyUrl} at ${simulator.url}`);
for (const c of simulator.channels) console.log(`  ${c.label.padEnd(14)} ${c.ready ? 'ready' : `not available: ${c.error}`}`);
console.log(`  ${'Payments'.padEnd(14)} ${simulator.payments.ready ? 'ready: buy buttons ($[Label]($9.99) in an answer) are paid at the fake Stripe checkout' : `not available: ${simulator.payments.error}`}`);
console.log('Press Ctrl+C to stop.');

const stop = async () => {
  await simulator.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
