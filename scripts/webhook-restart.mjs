/**
 * Restart test: posts a burst of messages, kills the local runtime (SIGKILL,
 * no graceful shutdown) in the middle of it, starts it again on the same state,
 * finishes the burst, and checks that the webhook receiver got every
 * acknowledged message's event exactly once after deduping by webhook-id, in
 * seq order per conversation.
 *
 *   npm run test:restart [-- --messages 300]
 *
 * Prints the counts and exits non-zero if anything acknowledged was lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startParley } from './local.mjs';

const { values: opts } = parseArgs({ options: { messages: { type: 'string', default: '300' }, port: { type: 'string', default: '8898' } } });
const TOTAL = Number(opts.messages);
const ACCOUNT = { id: 'act_restart000000000000000001', secret: 'restart-account-secret' };
const vars = { PARLEY_ENV: 'local', ACCOUNT_KEY_ID: ACCOUNT.id, ACCOUNT_KEY_SECRET: ACCOUNT.secret, MASTER_KEY: Buffer.alloc(32, 9).toString('base64'), WEBHOOK_RETRY_BASE_MS: '200', WEBHOOK_RETRY_CAP_MS: '2000' };
const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-restart-'));
const port = Number(opts.port);

const deliveries = new Map();
const events = new Map();
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const id = req.headers['webhook-id'];
    if (!deliveries.has(id)) {
      deliveries.set(id, true);
      for (const e of JSON.parse(Buffer.concat(chunks).toString('utf8')).events ?? []) {
        if (e.type === 'conversation:message') events.set(e.id, { conversationId: e.payload.conversation.id, seq: e.payload.message.seq, text: e.payload.message.content.text, dup: events.has(e.id) });
      }
    }
    res.writeHead(200).end();
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const target = `http://127.0.0.1:${server.address().port}/hook`;

let parley = await startParley({ port, persistTo, vars, quiet: true });
const account = `Basic ${Buffer.from(`${ACCOUNT.id}:${ACCOUNT.secret}`).toString('base64')}`;
async function api(auth, method, p, body) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  return { status: res.status, json: await res.json().catch(() => ({})) };
}
const { json: { app } } = await api(account, 'POST', '/v2/apps', { displayName: 'restart' });
const { json: { key } } = await api(account, 'POST', `/v2/apps/${app.id}/keys`, { displayName: 'restart' });
const auth = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
await api(auth, 'POST', `/v2/apps/${app.id}/integrations`, { type: 'custom', webhooks: [{ target, triggers: ['conversation:message'] }] });
const conversations = [];
for (let i = 0; i < 10; i++) {
  const { json: { user } } = await api(auth, 'POST', `/v2/apps/${app.id}/users`, { externalId: `r${i}` });
  const { json: { conversation } } = await api(auth, 'POST', `/v2/apps/${app.id}/conversations`, { type: 'personal', participants: [{ userId: user.id }] });
  conversations.push(conversation.id);
}

const acknowledged = new Set();
let refused = 0;
async function burst(from, to) {
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let i = from + w; i < to; i += 16) {
        try {
          const r = await api(auth, 'POST', `/v2/apps/${app.id}/conversations/${conversations[i % 10]}/messages`, { author: { type: 'business' }, content: { type: 'text', text: `burst-${i}` } });
          if (r.status === 201) acknowledged.add(`burst-${i}`);
          else refused++;
        } catch {
          refused++; // the runtime was down: not acknowledged, so not owed
        }
      }
    }),
  );
}

const half = Math.floor(TOTAL / 2);
const first = burst(0, half);
await new Promise((r) => setTimeout(r, 300));
console.log('killing the runtime mid-burst (SIGKILL) ...');
process.kill(-parley.child.pid, 'SIGKILL');
await first;
parley = await startParley({ port, persistTo, vars, quiet: true });
console.log('restarted on the same state; finishing the burst ...');
await burst(half, TOTAL);

const deadline = Date.now() + 90_000;
while (Date.now() < deadline && [...acknowledged].some((t) => ![...events.values()].some((e) => e.text === t))) await new Promise((r) => setTimeout(r, 250));
const received = new Set([...events.values()].map((e) => e.text));
const lost = [...acknowledged].filter((t) => !received.has(t));
const perConversation = new Map();
let outOfOrder = 0;
for (const e of events.values()) {
  const last = perConversation.get(e.conversationId) ?? 0;
  if (e.seq <= last) outOfOrder++;
  perConversation.set(e.conversationId, e.seq);
}
console.log(JSON.stringify({ posted: TOTAL, acknowledged: acknowledged.size, refusedWhileDown: refused, eventsReceived: events.size, lost: lost.length, outOfOrder }));
await parley.stop();
server.close();
rmSync(persistTo, { recursive: true, force: true });
process.exit(lost.length === 0 && outOfOrder === 0 ? 0 : 1);
