/**
 * `npm start`: runs all of Parley locally. State (D1, Durable Objects, Queues,
 * R2) persists under .parley/ between runs. On first start it creates a demo
 * app with an app key and prints the credentials; later starts print them again.
 * Once Parley answers it also starts the channel simulator (scripts/simulator/,
 * bundled into .parley/simulator.mjs) on SIMULATOR_PORT (default 8790), and
 * the Web Messenger demo (scripts/demo/, bundled into .parley/demo.mjs: a
 * storefront with the widget and a support inbox) on DEMO_PORT (default 8795);
 * SIMULATOR=off and DEMO=off leave them out. Every port is checked before
 * anything starts (scripts/ports.mjs): a busy one ends the run, naming the
 * variable that moves it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureDevVars, NODE_NOTE, ROOT, startParley } from './local.mjs';
import { bundleTool } from './bundle.mjs';
import { localPortProblems, localPorts } from './ports.mjs';

const problems = await localPortProblems(process.env);
if (problems.length) {
  console.error(`Parley did not start:\n${problems.map((line) => `  ${line}`).join('\n')}`);
  process.exit(1);
}
const ports = localPorts(process.env);
const port = ports.parley;
// PARLEY_STATE moves the state (tests start a throwaway Parley without touching a developer's).
const stateDir = process.env.PARLEY_STATE ? path.resolve(process.env.PARLEY_STATE) : path.join(ROOT, '.parley');
const persistTo = path.join(stateDir, 'state');
const demoFile = path.join(stateDir, 'demo.json');
mkdirSync(persistTo, { recursive: true });

const vars = ensureDevVars();
const shownState = path.relative(ROOT, stateDir).startsWith('..') ? stateDir : path.relative(ROOT, stateDir);
console.log(`Starting Parley on http://127.0.0.1:${port} (state in ${shownState}/) ...`);
const parley = await startParley({ port, persistTo, inspectorPort: ports.inspector }).catch((err) => {
  console.error(`Parley did not start: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
});
const account = `Basic ${Buffer.from(`${vars.ACCOUNT_KEY_ID}:${vars.ACCOUNT_KEY_SECRET}`).toString('base64')}`;

async function api(method, p, body) {
  const res = await fetch(`${parley.url}${p}`, {
    method,
    headers: { authorization: account, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok && res.status !== 404) throw new Error(`${method} ${p} answered ${res.status}: ${JSON.stringify(json)}`);
  return { status: res.status, json };
}

let demo = existsSync(demoFile) ? JSON.parse(readFileSync(demoFile, 'utf8')) : undefined;
if (demo && (await api('GET', `/v2/apps/${demo.appId}`)).status === 404) demo = undefined;
if (!demo) {
  const app = await api('POST', '/v2/apps', { displayName: 'Parley demo' });
  const key = await api('POST', `/v2/apps/${app.json.app.id}/keys`, { displayName: 'demo key' });
  demo = { appId: app.json.app.id, keyId: key.json.key.id, keySecret: key.json.key.secret };
  writeFileSync(demoFile, JSON.stringify(demo, null, 2), { mode: 0o600 });
}

/** The simulator is a convenience: when it cannot start, Parley keeps running and says why. */
async function startChannelSimulator() {
  if (ports.simulator === undefined) return undefined;
  try {
    const { startSimulator } = await import(pathToFileURL(await bundleTool('simulator')).href);
    return await startSimulator({
      parleyUrl: parley.url,
      ...demo,
      port: ports.simulator,
      stateFile: path.join(stateDir, 'simulator.json'),
    });
  } catch (err) {
    console.error(`The channel simulator did not start: ${err instanceof Error ? err.message : err}`);
    return undefined;
  }
}
const simulator = await startChannelSimulator();

/** The Web Messenger demo, likewise a convenience. */
async function startWebDemo() {
  if (ports.demo === undefined) return undefined;
  try {
    const { startDemo } = await import(pathToFileURL(await bundleTool('demo')).href);
    return await startDemo({
      parleyUrl: parley.url,
      ...demo,
      port: ports.demo,
      stateFile: path.join(stateDir, 'inbox.json'),
    });
  } catch (err) {
    console.error(`The Web Messenger demo did not start: ${err instanceof Error ? err.message : err}`);
    return undefined;
  }
}
const webDemo = await startWebDemo();
const channelLines = (simulator?.channels ?? []).map((c) => `    ${c.label.padEnd(14)} ${c.ready ? 'ready' : `not available (${c.error})`}`);

console.log(`
Parley is running at ${parley.url}

  Demo app id       ${demo.appId}
  App key id        ${demo.keyId}
  App key secret    ${demo.keySecret}

  Account key id    ${vars.ACCOUNT_KEY_ID}
  Account secret    ${vars.ACCOUNT_KEY_SECRET}   (manages apps; from .dev.vars)

For the README's examples, paste this into your shell:
  export PARLEY=${parley.url} APP=${demo.appId} KEY=${demo.keyId}:${demo.keySecret}
Then try:
  curl -u $KEY $PARLEY/v2/apps/$APP
${
  simulator
    ? `
Channel simulator   ${simulator.url}
  Chat with the demo app as a Telegram, SMS (Twilio or MessageBird), WhatsApp, Messenger, LINE, Viber, email, WeChat, X or Apple Messages user.
  Customer webhooks of the demo app go to ${simulator.receiverUrl} and are logged below.
${channelLines.join('\n')}
`
    : ''
}${
  webDemo
    ? `
Web Messenger demo  ${webDemo.url}
  A storefront with the chat widget: talk to Acme Outfitters as a visitor.
Inbox               ${webDemo.inboxUrl}
  Answer as the business; the demo app's webhook events show up beside the conversation.
`
    : ''
}
Request logs are off; PARLEY_LOG=requests npm start shows them.${NODE_NOTE ? `\n${NODE_NOTE}` : ''}
Press Ctrl+C to stop.`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await webDemo?.close();
  await simulator?.close();
  await parley.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
parley.child.on('exit', (code) => {
  if (stopping) return;
  console.error(`wrangler dev exited (${code})`);
  process.exit(code ?? 1);
});
