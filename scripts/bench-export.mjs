/**
 * `npm run bench:export [-- --messages=100000 --keep]`: the export proof.
 *
 * 1. Starts a local Parley (scripts/local.mjs, fresh state in a temp folder),
 *    makes an app and an app key through the REST API, and stops it.
 * 2. Seeds the index straight into the local D1 with `wrangler d1 execute
 *    --local --file` (Parley stopped): users, conversations, participants and
 *    N messages (default 100,000) over a realistic spread of channels, users
 *    and conversation sizes, with ties in `received`. Straight into D1 because
 *    the exports read only the index: sending 100,000 messages through the
 *    message path would take this 2-core machine most of an hour and measure
 *    ingest, not export; and wrangler's local D1 is the same SQLite file the
 *    Worker reads, so no bench-only code enters any Worker.
 * 3. Starts Parley again and runs a full NDJSON and a full CSV export through
 *    the real route (`GET /v2/apps/{id}/exports/messages?limit=N`), reading the
 *    stream as a client would, while sampling the RSS of workerd (the Worker,
 *    its Durable Objects and D1) and of this client every 50 ms. It checks every
 *    row arrived exactly once and in (received, id) order.
 * 4. If the search route answers, times a set of queries on the same data.
 *
 * Prints a table and writes `.parley/bench/export-<time>.json`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, WRANGLER, applyMigrations, startParley } from './local.mjs';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')).map(([k, v]) => [k, v ?? 'true']));
const N = Number(args.messages ?? 100_000);
const USERS = Math.max(10, Math.round(N / 40));
const EXTRA_CONVERSATIONS = Math.round(USERS / 2);
const ACCOUNT = { id: `act_${randomBytes(12).toString('hex')}`, secret: randomBytes(24).toString('base64url') };
const VARS = { ACCOUNT_KEY_ID: ACCOUNT.id, ACCOUNT_KEY_SECRET: ACCOUNT.secret, MASTER_KEY: randomBytes(32).toString('base64'), PARLEY_ENV: 'local' };
const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A seeded pseudo-random generator, so every run seeds the same data. */
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(15);
const hex24 = () => Array.from({ length: 24 }, () => Math.floor(rand() * 16).toString(16)).join('');
const pickWeighted = (pairs) => {
  let r = rand() * pairs.reduce((a, [, w]) => a + w, 0);
  for (const [v, w] of pairs) if ((r -= w) < 0) return v;
  return pairs[0][0];
};
const CHANNELS = [['whatsapp', 35], ['messenger', 20], ['web', 20], ['telegram', 10], ['twilio', 8], ['instagram', 5], ['line', 2]];
/**
 * Words follow Zipf's law as in real chat: a handful of very common words, a
 * long tail of rare ones (5,000 made-up words from syllables, plus accented
 * and non-Latin ones), so search has common and rare terms to look for.
 */
const COMMON = ['the', 'a', 'is', 'my', 'to', 'and', 'please', 'thanks', 'hello', 'order', 'when', 'where', 'can', 'you', 'help', 'ok', 'today'];
const SYLLABLES = ['ka', 'lo', 'mi', 'ren', 'tas', 'vu', 'zel', 'dor', 'fin', 'gra', 'hul', 'jep', 'nox', 'pra', 'qui', 'sol', 'tri', 'wen', 'yat', 'bel'];
const SPECIAL = ['café', 'naïve', 'größe', '配送', 'размер', 'refund', 'invoice', 'password', 'tracking', 'delivery', 'shipping', 'tomorrow'];
const VOCAB = [...SPECIAL, ...Array.from({ length: 5000 }, (_, i) => SYLLABLES[i % 20] + SYLLABLES[Math.floor(i / 20) % 20] + (i >= 400 ? SYLLABLES[Math.floor(i / 400) % 20] : ''))];
const word = () => (rand() < 0.45 ? COMMON[Math.floor(rand() * COMMON.length)] : VOCAB[Math.min(VOCAB.length - 1, Math.floor(Math.exp(rand() * Math.log(VOCAB.length + 1))) - 1)]);
function text() {
  const n = 3 + Math.floor(rand() * 30);
  let t = Array.from({ length: n }, word).join(' ');
  // Characters a CSV must quote, now and then.
  const r = rand();
  if (r < 0.05) t += ', and more';
  else if (r < 0.08) t = `"${t}" he said`;
  else if (r < 0.1) t += '\nsecond line';
  else if (r < 0.11) t += ' 🎉';
  return t;
}

/** SQL text literal. */
const q = (v) => (v === null || v === undefined ? 'NULL' : typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

/** The seed as SQL statements of at most 100 rows each; also returns the expected export order. */
function seedSql(appId, sqlFile) {
  const out = createWriteStream(sqlFile);
  const rows = (table, cols, values) => {
    for (let i = 0; i < values.length; i += 100) {
      out.write(`INSERT INTO ${table} (${cols.join(', ')}) VALUES\n${values.slice(i, i + 100).map((v) => `(${v.map(q).join(', ')})`).join(',\n')};\n`);
    }
  };
  const base = Date.UTC(2026, 9, 1);
  const users = Array.from({ length: USERS }, (_, i) => ({ id: hex24(), channel: pickWeighted(CHANNELS), createdAt: new Date(base - (USERS - i) * 60_000).toISOString(), i }));
  rows(
    'users',
    ['id', 'app_id', 'external_id', 'signed_up_at', 'to_be_retained', 'authenticated', 'profile', 'metadata', 'identities', 'created_at'],
    users.map((u) => [u.id, appId, `customer-${u.i}`, u.createdAt, 0, 0, JSON.stringify({ givenName: `Given ${u.i}`, surname: `Sur, ${u.i}`, email: `c${u.i}@example.com`, locale: 'en-US' }), '{}', '[]', u.createdAt]),
  );
  // Every user has a personal conversation; some have a second; a few group conversations hold several users.
  const conversations = users.map((u) => ({ id: hex24(), type: 'personal', users: [u], createdAt: u.createdAt }));
  for (let i = 0; i < EXTRA_CONVERSATIONS; i++) {
    const group = rand() < 0.2;
    const members = Array.from({ length: group ? 2 + Math.floor(rand() * 4) : 1 }, () => users[Math.floor(rand() * users.length)]);
    conversations.push({ id: hex24(), type: group ? 'sdkGroup' : 'personal', users: [...new Set(members)], createdAt: new Date(base + i * 1000).toISOString() });
  }
  // Conversation sizes are skewed: a few busy ones, a long tail (weights ~ 1/rank).
  const weights = conversations.map((_, i) => 1 / (1 + (i % 97)));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative = [];
  weights.reduce((acc, w, i) => (cumulative[i] = acc + w / total), 0);
  const pickConversation = () => {
    const r = rand();
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return conversations[lo];
  };
  const seqs = new Map();
  const last = new Map();
  const expected = [];
  const messages = [];
  // 30 days; three messages share each millisecond stamp, so ties in received are everywhere.
  const step = Math.floor((30 * 86_400_000) / Math.ceil(N / 3));
  for (let i = 0; i < N; i++) {
    const c = pickConversation();
    const seq = (seqs.get(c.id) ?? 0) + 1;
    seqs.set(c.id, seq);
    const received = new Date(base + 86_400_000 + Math.floor(i / 3) * step).toISOString();
    last.set(c.id, received);
    const byUser = rand() < 0.55;
    const user = c.users[Math.floor(rand() * c.users.length)];
    const id = hex24();
    const image = rand() < 0.05;
    const content = image ? { type: 'image', mediaUrl: `https://media.example.com/${id}.jpg`, mediaType: 'image/jpeg' } : { type: 'text', text: text() };
    const source = byUser ? { type: user.channel, integrationId: `int${user.channel}`.padEnd(24, '0').slice(0, 24) } : { type: 'api:conversations' };
    const body = { id, received, seq, author: byUser ? { type: 'user', userId: user.id, displayName: `Given ${user.i}` } : { type: 'business', displayName: 'Support' }, content, source };
    messages.push([id, appId, c.id, seq, received, byUser ? 'user' : 'business', byUser ? user.id : null, content.type, content.text ?? null, JSON.stringify(body), user.channel]);
    expected.push({ id, received });
    if (messages.length === 2000) rows('message_index', ['id', 'app_id', 'conversation_id', 'seq', 'received', 'author_type', 'author_user_id', 'content_type', 'text', 'body', 'integration_type'], messages.splice(0));
  }
  rows('message_index', ['id', 'app_id', 'conversation_id', 'seq', 'received', 'author_type', 'author_user_id', 'content_type', 'text', 'body', 'integration_type'], messages);
  rows(
    'conversations',
    ['id', 'app_id', 'type', 'is_default', 'created_at', 'last_updated_at'],
    conversations.map((c) => [c.id, appId, c.type, 0, c.createdAt, last.get(c.id) ?? c.createdAt]),
  );
  rows(
    'conversation_participants',
    ['conversation_id', 'app_id', 'user_id', 'participant_id'],
    conversations.flatMap((c) => c.users.map((u) => [c.id, appId, u.id, hex24()])),
  );
  expected.sort((a, b) => (a.received < b.received ? -1 : a.received > b.received ? 1 : a.id < b.id ? -1 : 1));
  return new Promise((resolve) => out.end(() => resolve({ expected, users: users.length, conversations: conversations.length })));
}

function wranglerExecute(persistTo, file) {
  const res = spawnSync(process.execPath, [WRANGLER, 'd1', 'execute', 'DB', '--local', '--persist-to', persistTo, '--file', file, '--yes'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (res.status !== 0) throw new Error(`wrangler d1 execute failed:\n${res.stdout.slice(-2000)}\n${res.stderr.slice(-2000)}`);
}

/** workerd processes under a pid (wrangler dev's child tree). */
function workerdPids(rootPid) {
  const children = new Map();
  const comm = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      comm.set(Number(d), name);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const found = [];
  const walk = (pid) => {
    for (const c of children.get(pid) ?? []) {
      if (comm.get(c)?.startsWith('workerd')) found.push(c);
      walk(c);
    }
  };
  walk(rootPid);
  return found;
}
/** VmRSS, and its anonymous part (heap: the isolate's and SQLite's caches) apart from file pages mapped. */
const rssOf = (pid, field = 'VmRSS') => {
  try {
    return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`${field}:\\s+(\\d+)`))[1]) * 1024;
  } catch {
    return 0;
  }
};

/**
 * The Worker isolate's own JS heap, read over wrangler dev's inspector
 * (Runtime.getHeapUsage): workerd's RSS also holds the local D1 (SQLite and its
 * simulator's isolate), the Durable Objects and V8's lazily collected garbage.
 */
async function workerHeap(inspectorPort) {
  try {
    const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
    const WS = globalThis.WebSocket ?? (await import('ws')).default;
    const ws = new WS(target.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve);
      ws.addEventListener('error', reject);
    });
    let id = 0;
    const waiting = new Map();
    ws.addEventListener('message', (e) => {
      const m = JSON.parse(typeof e.data === 'string' ? e.data : e.data.toString());
      waiting.get(m.id)?.(m.result);
      waiting.delete(m.id);
    });
    return {
      usage: () =>
        new Promise((resolve) => {
          const my = ++id;
          waiting.set(my, resolve);
          ws.send(JSON.stringify({ id: my, method: 'Runtime.getHeapUsage' }));
          setTimeout(() => waiting.delete(my) && resolve(undefined), 1000);
        }),
      close: () => ws.close(),
    };
  } catch (err) {
    console.warn(`the Worker's heap is not measured: ${err instanceof Error ? err.message : err}`);
    return undefined;
  }
}

/** RSS of workerd and of this process, and the Worker's heap, sampled every 50 ms until stopped. */
function sampler(pids, heap) {
  const samples = [];
  let heapUsed = 0;
  let heapTotal = 0;
  let asking = false;
  const take = () => {
    if (heap && !asking) {
      asking = true;
      heap.usage().then((u) => {
        asking = false;
        if (u) [heapUsed, heapTotal] = [u.usedSize, u.totalSize];
      });
    }
    samples.push({ t: Date.now(), workerd: pids.reduce((a, p) => a + rssOf(p), 0), workerdAnon: pids.reduce((a, p) => a + rssOf(p, 'RssAnon'), 0), client: process.memoryUsage().rss, heapUsed, heapTotal });
  };
  take();
  const timer = setInterval(take, 50);
  return {
    stop() {
      clearInterval(timer);
      take();
      const peak = (k) => Math.max(...samples.map((s) => s[k]));
      const at = (k, i) => samples.at(i)[k];
      const series = (k) => ({ start: at(k, 0), peak: peak(k), end: at(k, -1) });
      // One sample a second, to see the shape.
      const timeline = samples.filter((_, i) => i % 20 === 0).map((x) => ({ s: +((x.t - samples[0].t) / 1000).toFixed(1), workerdMB: +(x.workerd / 1048576).toFixed(1), workerHeapMB: +(x.heapUsed / 1048576).toFixed(1), clientMB: +(x.client / 1048576).toFixed(1) }));
      const heapSeries = (k) => {
        const known = samples.filter((x) => x.heapTotal > 0);
        return known.length ? { start: known[0][k], peak: Math.max(...known.map((x) => x[k])), end: known.at(-1)[k] } : undefined;
      };
      return { samples: samples.length, workerd: series('workerd'), workerdAnon: series('workerdAnon'), workerHeapUsed: heapSeries('heapUsed'), workerHeapTotal: heapSeries('heapTotal'), client: series('client'), timeline };
    },
  };
}

/** CSV records from a stream of text (RFC 4180: quoted fields, doubled quotes, CRLF). */
function csvReader(onRecord) {
  let field = '';
  let fields = [];
  let quoted = false;
  let afterQuote = false;
  let prevCR = false;
  return (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (quoted) {
        if (c === '"') {
          quoted = false;
          afterQuote = true;
        } else field += c;
        continue;
      }
      if (c === '"') {
        if (afterQuote) field += '"';
        quoted = true;
        afterQuote = false;
        continue;
      }
      afterQuote = false;
      if (c === ',') {
        fields.push(field);
        field = '';
      } else if (c === '\r') prevCR = true;
      else if (c === '\n' && prevCR) {
        prevCR = false;
        fields.push(field);
        onRecord(fields);
        fields = [];
        field = '';
      } else field += c;
    }
  };
}

async function exportOnce(url, auth, format, expected, pids, heap) {
  const check = { rows: 0, outOfOrder: 0, wrong: 0, missingFields: 0, header: null };
  const onRow = (id, received, extra) => {
    const want = expected[check.rows];
    if (!want || want.id !== id || want.received !== received) check.wrong++;
    if (extra === false) check.missingFields++;
    if (check.rows > 0 && (check.prevReceived > received || (check.prevReceived === received && check.prevId >= id))) check.outOfOrder++;
    check.prevReceived = received;
    check.prevId = id;
    check.rows++;
  };
  const mem = sampler(pids, heap);
  const started = performance.now();
  const res = await fetch(`${url}&format=${format}`, { headers: { authorization: auth } });
  if (res.status !== 200) throw new Error(`export answered ${res.status}: ${await res.text()}`);
  const firstByteMs = performance.now() - started;
  const decoder = new TextDecoder();
  let bytes = 0;
  let rest = '';
  const csv = csvReader((r) => {
    if (!check.header) check.header = r;
    else onRow(r[0], r[3], r.length === 10);
  });
  for await (const chunk of res.body) {
    bytes += chunk.byteLength;
    const text = decoder.decode(chunk, { stream: true });
    if (format === 'csv') csv(text);
    else {
      const lines = (rest + text).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        const m = JSON.parse(line);
        onRow(m.id, m.received, typeof m.conversationId === 'string' && typeof m.seq === 'number');
      }
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const memory = mem.stop();
  return {
    format,
    rows: check.rows,
    seconds: +seconds.toFixed(2),
    rowsPerSecond: Math.round(check.rows / seconds),
    bytes,
    firstByteMs: Math.round(firstByteMs),
    link: res.headers.get('link'),
    memory,
    check: { exactlyOnceInOrder: check.rows === expected.length && check.wrong === 0 && check.outOfOrder === 0 && check.missingFields === 0, wrong: check.wrong, outOfOrder: check.outOfOrder, missingFields: check.missingFields, header: check.header?.join(',') ?? null },
  };
}

async function searchTimes(base, auth, appId) {
  const probe = await fetch(`${base}/v2/apps/${appId}/search/messages?q=refund`, { headers: { authorization: auth } });
  if (probe.status === 404 && /No route/.test(await probe.text())) return { available: false };
  // Common, middling and rare words, and two-word queries.
  const queries = ['refund', 'delivery tracking', 'invoice', 'password help', 'cafe', 'order', 'where is my order', 'größe', VOCAB[40], VOCAB[300], VOCAB[1200], VOCAB[4000], `${VOCAB[60]} ${VOCAB[90]}`, `please ${VOCAB[700]}`];
  const times = [];
  let hits = 0;
  let status = probe.status;
  for (let round = 0; round < 5; round++) {
    for (const q of queries) {
      const t = performance.now();
      const res = await fetch(`${base}/v2/apps/${appId}/search/messages?q=${encodeURIComponent(q)}`, { headers: { authorization: auth } });
      const body = await res.json();
      times.push(performance.now() - t);
      status = res.status;
      if (res.status !== 200) return { available: true, status, error: body };
      hits += body.messages?.length ?? 0;
    }
  }
  times.sort((a, b) => a - b);
  const pct = (p) => +times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1);
  return { available: true, status, requests: times.length, p50Ms: pct(0.5), p95Ms: pct(0.95), maxMs: +times.at(-1).toFixed(1), meanHits: +(hits / times.length).toFixed(1) };
}

const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;

async function main() {
  const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-bench-export-'));
  const port = 28787 + Math.floor(Math.random() * 1000);
  let parley;
  try {
    console.log(`bench:export: ${N.toLocaleString('en')} messages; Parley state in ${persistTo}`);
    parley = await startParley({ port, persistTo, quiet: true, vars: VARS });
    const account = basic(ACCOUNT.id, ACCOUNT.secret);
    const app = await (await fetch(`${parley.url}/v2/apps`, { method: 'POST', headers: { authorization: account, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'export bench' }) })).json();
    const key = await (await fetch(`${parley.url}/v2/apps/${app.app.id}/keys`, { method: 'POST', headers: { authorization: account, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: 'bench' }) })).json();
    const appId = app.app.id;
    const auth = basic(key.key.id, key.key.secret);
    await parley.stop();
    parley = undefined;

    const sqlFile = path.join(persistTo, 'seed.sql');
    let t = performance.now();
    const seed = await seedSql(appId, sqlFile);
    const genSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    applyMigrations(persistTo);
    wranglerExecute(persistTo, sqlFile);
    const seedSeconds = (performance.now() - t) / 1000;
    console.log(`seeded ${N} messages, ${seed.users} users, ${seed.conversations} conversations in ${seedSeconds.toFixed(1)} s (SQL made in ${genSeconds.toFixed(1)} s)`);

    parley = await startParley({ port, persistTo, quiet: true, vars: VARS });
    const pids = workerdPids(parley.child.pid);
    const heap = await workerHeap(port + 10000);
    const url = `${parley.url}/v2/apps/${appId}/exports/messages?limit=${N}`;
    // One small export first, so the isolate is warm and the start RSS is the idle Worker's.
    await (await fetch(`${parley.url}/v2/apps/${appId}/exports/messages?limit=10`, { headers: { authorization: auth } })).arrayBuffer();
    const runs = [];
    // NDJSON again at the end: a Worker that kept what it streamed would grow by a whole export each time.
    for (const format of ['ndjson', 'csv', 'ndjson']) {
      runs.push(await exportOnce(url, auth, format, seed.expected, pids, heap));
      const r = runs.at(-1);
      console.log(`${format}: ${r.rows} rows in ${r.seconds} s, ${r.rowsPerSecond} rows/s, ${mb(r.bytes)}`);
    }
    heap?.close();
    const search = await searchTimes(parley.url, auth, appId);

    console.log('');
    const three = (m) => `${mb(m.start)} / ${mb(m.peak)} / ${mb(m.end)}`;
    console.log('| export | rows | seconds | rows/s | bytes | first byte | Worker JS heap used start / peak / end | workerd RSS start / peak / end | of it anonymous | client RSS start / peak / end | each row once, in order |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |');
    for (const r of runs) {
      console.log(
        `| ${r.format} | ${r.rows.toLocaleString('en')} | ${r.seconds} | ${r.rowsPerSecond.toLocaleString('en')} | ${mb(r.bytes)} | ${r.firstByteMs} ms | ${r.memory.workerHeapUsed ? three(r.memory.workerHeapUsed) : 'n/a'} | ${three(r.memory.workerd)} | ${three(r.memory.workerdAnon)} | ${three(r.memory.client)} | ${r.check.exactlyOnceInOrder ? 'yes' : `NO (${JSON.stringify(r.check)})`} |`,
      );
    }
    console.log('');
    if (!search.available) console.log('search: GET …/search/messages has no route in this build; not measured');
    else if (search.p50Ms === undefined) console.log(`search: answered ${search.status}: ${JSON.stringify(search.error).slice(0, 300)}`);
    else console.log(`search: ${search.requests} queries, p50 ${search.p50Ms} ms, p95 ${search.p95Ms} ms, max ${search.maxMs} ms, ${search.meanHits} hits per answer`);

    const outDir = path.join(ROOT, '.parley', 'bench');
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `export-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        { startedAt: new Date().toISOString(), messages: N, users: seed.users, conversations: seed.conversations, seed: { method: 'wrangler d1 execute --local --file', seconds: +seedSeconds.toFixed(1) }, workerdPids: pids, exports: runs, search },
        null,
        2,
      ),
    );
    console.log(`written ${path.relative(ROOT, file)}`);
    const ok = runs.every((r) => r.check.exactlyOnceInOrder && !r.link);
    if (!ok) console.error('bench:export: a check failed');
    return ok ? 0 : 1;
  } finally {
    await parley?.stop();
    if (!args.keep) rmSync(persistTo, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
