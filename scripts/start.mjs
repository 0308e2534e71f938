/**
 * `npm start`: runs all of Parley locally. State (D1, Durable Objects, Queues,
 * R2) persists under .parley/ between runs. On first start it creates a demo
 * app with an app key and prints the credentials; later starts print them again.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureDevVars, ROOT, startParley } from './local.mjs';

const port = Number(process.env.PORT ?? 8787);
const stateDir = path.join(ROOT, '.parley');
const persistTo = path.join(stateDir, 'state');
const demoFile = path.join(stateDir, 'demo.json');
mkdirSync(persistTo, { recursive: true });

const vars = ensureDevVars();
console.log(`Starting Parley on http://127.0.0.1:${port} (state in .parley/) ...`);
const parley = await startParley({ port, persistTo });
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

console.log(`
Parley is running at ${parley.url}

  Demo app id       ${demo.appId}
  App key id        ${demo.keyId}
  App key secret    ${demo.keySecret}

  Account key id    ${vars.ACCOUNT_KEY_ID}
  Account secret    ${vars.ACCOUNT_KEY_SECRET}   (manages apps; from .dev.vars)

Try:
  curl -u ${demo.keyId}:${demo.keySecret} ${parley.url}/v2/apps/${demo.appId}

Press Ctrl+C to stop.`);

const shutdown = async () => {
  await parley.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
parley.child.on('exit', (code) => {
  console.error(`wrangler dev exited (${code})`);
  process.exit(code ?? 1);
});
