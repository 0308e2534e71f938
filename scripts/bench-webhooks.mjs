/**
 * Webhook fan-out benchmark: starts Parley locally (fresh state), local
 * receivers on loopback, posts messages across conversations, and measures
 * events per second delivered to one and to ten receivers, and end-to-end
 * latency from commit (the message's `received`) to receipt, p50/p99.
 *
 *   npm run bench:webhooks [-- --messages 2000 --conversations 50]
 *
 * Bounded: a fixed number of messages, a 120 s cap per scenario, loopback only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startParley } from './local.mjs';

const { values: opts } = parseArgs({
  options: { messages: { type: 'string', default: '2000' }, conversations: { type: 'string', default: '50' }, port: { type: 'string', default: '8899' } },
});
const MESSAGES = Number(opts.messages);
const CONVERSATIONS = Number(opts.conversations);
const ACCOUNT = { id: 'act_bench00000000000000000001', secret: 'bench-account-secret' };
const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-bench-'));

const progress = (label, done, total) => {
  // Without a terminal (CI, a log file) print tenths only, not a line per message.
  if (!process.stdout.isTTY) {
    if (done === total || Math.floor((done * 10) / total) !== Math.floor(((done - 1) * 10) / total)) console.log(`  ${label}: ${done}/${total}`);
    return;
  }
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stdout.write(`\r  ${label.padEnd(28)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stdout.write('\n');
};

function receiver() {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const e of body.events ?? []) if (e.type === 'conversation:message') received.push({ id: e.id, at, committed: Date.parse(e.payload.message.received) });
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ received, url: `http://127.0.0.1:${server.address().port}/hook`, close: () => server.close() })));
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

const parley = await startParley({
  port: Number(opts.port),
  persistTo,
  quiet: true,
  vars: { PARLEY_ENV: 'local', ACCOUNT_KEY_ID: ACCOUNT.id, ACCOUNT_KEY_SECRET: ACCOUNT.secret, MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
});

async function api(auth, method, p, body) {
  const res = await fetch(`${parley.url}${p}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function scenario(receiverCount) {
  const account = `Basic ${Buffer.from(`${ACCOUNT.id}:${ACCOUNT.secret}`).toString('base64')}`;
  const { app } = await api(account, 'POST', '/v2/apps', { displayName: `bench ${receiverCount}` });
  const { key } = await api(account, 'POST', `/v2/apps/${app.id}/keys`, { displayName: 'bench' });
  const auth = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
  const receivers = await Promise.all(Array.from({ length: receiverCount }, receiver));
  for (const r of receivers) await api(auth, 'POST', `/v2/apps/${app.id}/integrations`, { type: 'custom', webhooks: [{ target: r.url, triggers: ['conversation:message'] }] });
  const conversations = [];
  for (let i = 0; i < CONVERSATIONS; i++) {
    const { user } = await api(auth, 'POST', `/v2/apps/${app.id}/users`, { externalId: `u${i}` });
    const { conversation } = await api(auth, 'POST', `/v2/apps/${app.id}/conversations`, { type: 'personal', participants: [{ userId: user.id }] });
    conversations.push(conversation.id);
  }
  const started = Date.now();
  let posted = 0;
  const concurrency = 32;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; i < MESSAGES; i += concurrency) {
        await api(auth, 'POST', `/v2/apps/${app.id}/conversations/${conversations[i % CONVERSATIONS]}/messages`, { author: { type: 'business' }, content: { type: 'text', text: `m${i}` } });
        progress(`posting (${receiverCount} receiver${receiverCount > 1 ? 's' : ''})`, ++posted, MESSAGES);
      }
    }),
  );
  const expected = MESSAGES * receiverCount;
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    const got = receivers.reduce((n, r) => n + new Set(r.received.map((x) => x.id)).size, 0);
    if (got !== last) progress('receiving', Math.min(got, expected), expected);
    last = got;
    if (got >= expected || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const all = receivers.flatMap((r) => r.received);
  const latencies = all.map((x) => x.at - x.committed).sort((a, b) => a - b);
  const elapsed = (Math.max(...all.map((x) => x.at)) - started) / 1000;
  for (const r of receivers) r.close();
  const unique = receivers.reduce((n, r) => n + new Set(r.received.map((x) => x.id)).size, 0);
  return { receivers: receiverCount, messages: MESSAGES, events: unique, lost: expected - unique, eventsPerSecond: Math.round(unique / elapsed), p50: pct(latencies, 50), p99: pct(latencies, 99) };
}

/** Unloaded latency: one message at a time, each waited for, so queueing under load does not hide the path's own cost. */
async function idleLatency(samples = 50) {
  const account = `Basic ${Buffer.from(`${ACCOUNT.id}:${ACCOUNT.secret}`).toString('base64')}`;
  const { app } = await api(account, 'POST', '/v2/apps', { displayName: 'bench idle' });
  const { key } = await api(account, 'POST', `/v2/apps/${app.id}/keys`, { displayName: 'bench' });
  const auth = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
  const r = await receiver();
  await api(auth, 'POST', `/v2/apps/${app.id}/integrations`, { type: 'custom', webhooks: [{ target: r.url, triggers: ['conversation:message'] }] });
  const { user } = await api(auth, 'POST', `/v2/apps/${app.id}/users`, { externalId: 'idle' });
  const { conversation } = await api(auth, 'POST', `/v2/apps/${app.id}/conversations`, { type: 'personal', participants: [{ userId: user.id }] });
  for (let i = 0; i < samples; i++) {
    await api(auth, 'POST', `/v2/apps/${app.id}/conversations/${conversation.id}/messages`, { author: { type: 'business' }, content: { type: 'text', text: `idle${i}` } });
    const deadline = Date.now() + 10_000;
    while (r.received.length <= i && Date.now() < deadline) await new Promise((res) => setTimeout(res, 2));
    progress('idle latency samples', i + 1, samples);
  }
  r.close();
  const latencies = r.received.map((x) => x.at - x.committed).sort((a, b) => a - b);
  return { samples, received: r.received.length, p50: pct(latencies, 50), p99: pct(latencies, 99) };
}

try {
  console.log(`Webhook fan-out: ${MESSAGES} messages over ${CONVERSATIONS} conversations, 32 concurrent senders, Parley on wrangler dev (workerd)`);
  const rows = [await scenario(1), await scenario(10)];
  console.log('\n receivers | events delivered | lost | events/s | commit→receipt p50 | p99');
  for (const r of rows) console.log(` ${String(r.receivers).padStart(9)} | ${String(r.events).padStart(16)} | ${String(r.lost).padStart(4)} | ${String(r.eventsPerSecond).padStart(8)} | ${String(r.p50).padStart(15)} ms | ${r.p99} ms`);
  const idle = await idleLatency();
  console.log(`\n unloaded (one message at a time): ${idle.received}/${idle.samples} received, commit→receipt p50 ${idle.p50} ms, p99 ${idle.p99} ms`);
  console.log(JSON.stringify({ webhookFanout: rows, unloaded: idle }));
} finally {
  await parley.stop();
  rmSync(persistTo, { recursive: true, force: true });
}
