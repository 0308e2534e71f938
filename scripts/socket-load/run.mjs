/**
 * `npm run bench:sockets`: how Parley's Web Messenger sockets hold up when one
 * conversation has many open tabs. Starts Parley on workerd with fresh state,
 * opens N sockets to one conversation, posts business messages through the v2
 * API and times each socket's receipt from the moment before the POST; then a
 * concurrent burst, then a reconnect-resume of some tabs from their last seq.
 * Every socket must end with every posted message exactly once, in seq order.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { RuntimeMeter, cpuBetween, label, openFileLimit } from './procs.mjs';
import { Progress, dist, mb, ms, round, table } from './stats.mjs';
import { selfTimes, startProfile } from './profile.mjs';
import { Tab, now } from './tabs.mjs';

const ACCOUNT = { id: 'act_sockets000000000000000001', secret: 'socket-load-account-secret' };
/** An sdkGroup conversation holds at most this many participants (LIMITS.sdkGroupParticipants). */
const MAX_GROUP_USERS = 10;

export const HELP = `npm run bench:sockets [-- options]

  --sockets=N             sockets open on one conversation (default 1000)
  --messages=M            business messages posted one at a time (default 50)
  --burst=K               business messages posted concurrently (default 20)
  --reconnect=R           sockets closed, then reopened with ?after=<last seq seen> (default 100)
  --missed=J              messages posted while those R are closed (default 5)
  --users=U               anonymous users sharing the sockets round-robin (default 1: one user, many tabs);
                          U > 1 puts them in one sdkGroup conversation (at most ${MAX_GROUP_USERS})
  --connect-concurrency=C upgrades in flight at once while connecting (default 100)
  --timeout=MS            how long one message may take to reach every socket (default 15000)
  --port=P                port for wrangler dev (default: a free one)
  --profile               also take a V8 CPU profile of Parley's isolate over the sequential phase
                          (through wrangler's inspector; it slows Parley down, so its latencies are not comparable)
  --verbose               wrangler's own log too

Prints the figures, writes .parley/bench/sockets-<time>.json, and exits 1 when a
frame was lost, doubled or out of order, or a socket failed to connect.`;

const sleep = (t) => new Promise((r) => setTimeout(r, t));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Counts, per message id, the sockets that received it, and wakes whoever waits for a count. */
class Deliveries {
  constructor() {
    this.count = new Map();
    this.waiters = new Map();
  }

  received(id) {
    const n = (this.count.get(id) ?? 0) + 1;
    this.count.set(id, n);
    const w = this.waiters.get(id);
    if (w && n >= w.target) {
      this.waiters.delete(id);
      w.resolve(true);
    }
  }

  /** Resolves true once `target` sockets got `id`, false after `timeoutMs`. Counts are cumulative per id. */
  wait(id, target, timeoutMs) {
    if ((this.count.get(id) ?? 0) >= target) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve(false);
      }, timeoutMs);
      this.waiters.set(id, {
        target,
        resolve: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      });
    });
  }
}

export async function runSocketLoad({ argv, startParley, root }) {
  const { values } = parseArgs({
    args: argv,
    options: {
      sockets: { type: 'string', default: '1000' },
      messages: { type: 'string', default: '50' },
      burst: { type: 'string', default: '20' },
      reconnect: { type: 'string', default: '100' },
      missed: { type: 'string', default: '5' },
      users: { type: 'string', default: '1' },
      'connect-concurrency': { type: 'string', default: '100' },
      timeout: { type: 'string', default: '15000' },
      port: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}`);
    return n;
  };
  const N = int('sockets', 1);
  const M = int('messages', 1);
  const K = int('burst', 0);
  const R = Math.min(int('reconnect', 0), N);
  const J = int('missed', 1);
  const U = int('users', 1);
  const C = int('connect-concurrency', 1);
  const timeoutMs = int('timeout', 100);
  if (U > MAX_GROUP_USERS) throw new Error(`--users: an sdkGroup conversation holds at most ${MAX_GROUP_USERS} participants (LIMITS.sdkGroupParticipants), so at most ${MAX_GROUP_USERS} users can share one conversation`);
  if (U > N) throw new Error('--users cannot exceed --sockets');

  const startedAt = new Date();
  const loadBefore = loadavg();
  const fdLimit = openFileLimit();
  console.log(`Parley socket load: ${N} sockets on one conversation (${U === 1 ? 'one user, many tabs' : `${U} users in an sdkGroup conversation`}), ${M} messages one at a time, a burst of ${K}, ${R} reconnects`);
  console.log(`  machine: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}`);
  console.log(`  honest note: Parley (wrangler dev → workerd, one process for the Worker, the Durable Object, D1 and the queues) and this load generator`);
  console.log(`  (all ${N} client sockets in one Node process) share these ${cpus().length} cores on loopback; the figures compare changes on this machine, they are not production capacity.`);
  if (fdLimit !== undefined && fdLimit < N + 200) console.log(`  warning: the open-file limit is ${fdLimit}, below ${N} sockets plus headroom; raise it with \`ulimit -n ${N * 2 + 256}\` in this shell`);
  if (loadBefore[0] > cpus().length * 0.5) console.log(`  note: the machine is already busy (1-minute load ${loadBefore[0].toFixed(2)}); figures will be worse than on a quiet machine`);

  const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-sockets-'));
  const closers = [async () => rmSync(persistTo, { recursive: true, force: true })];
  const tabs = [];
  const closeAll = async () => {
    for (const close of closers.splice(0)) await close().catch(() => undefined);
  };
  // wrangler dev runs in its own process group: on Ctrl-C, stop it here or it outlives this script.
  const interrupted = () => {
    console.log('\ninterrupted: stopping Parley');
    void closeAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const port = values.port ? Number(values.port) : await freePort();
    const t0 = now();
    const inspectorPort = await freePort();
    const parley = await startParley({
      port,
      inspectorPort,
      persistTo,
      quiet: !values.verbose,
      vars: { PARLEY_ENV: 'local', ACCOUNT_KEY_ID: ACCOUNT.id, ACCOUNT_KEY_SECRET: ACCOUNT.secret, MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
    });
    closers.unshift(() => parley.stop());
    console.log(`  Parley is up at ${parley.url} (${((now() - t0) / 1000).toFixed(1)} s, fresh state in ${persistTo})`);

    const call = async (method, p, auth, body) => {
      const res = await fetch(`${parley.url}${p}`, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : undefined;
    };
    const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

    // ---- setup: app, key, web integration, sessions ----------------------------------
    const account = basic(ACCOUNT.id, ACCOUNT.secret);
    const { app } = await call('POST', '/v2/apps', account, { displayName: 'Parley socket load' });
    const { key } = await call('POST', `/v2/apps/${app.id}/keys`, account, { displayName: 'socket load' });
    const auth = basic(key.id, key.secret);
    const { integration } = await call('POST', `/v2/apps/${app.id}/integrations`, auth, { type: 'web', displayName: 'Socket load', businessName: 'Load' });
    const sessions = [];
    for (let u = 0; u < U; u++) sessions.push(await call('POST', `/sdk/v2/apps/${app.id}/sessions`, undefined, { integrationId: integration.id, device: { sdkVersion: 'socket-load' } }));
    let conversationId = sessions[0].conversation.id;
    if (U > 1) {
      const { conversation } = await call('POST', `/v2/apps/${app.id}/conversations`, auth, { type: 'sdkGroup', displayName: 'Socket load group', participants: sessions.map((s) => ({ userId: s.user.id })) });
      conversationId = conversation.id;
    }
    const postUrl = `/v2/apps/${app.id}/conversations/${conversationId}/messages`;
    const socketUrl = (after) => `${parley.url.replace(/^http/, 'ws')}/sdk/v2/apps/${app.id}/conversations/${conversationId}/socket?after=${after}`;
    console.log(`  app ${app.id}, web integration ${integration.id}, conversation ${conversationId} (${U === 1 ? 'the session’s personal conversation' : 'sdkGroup'})`);

    const deliveries = new Deliveries();
    const onMessage = (id) => deliveries.received(id);
    for (let i = 0; i < N; i++) tabs.push(new Tab(i, sessions[i % U].session.token, onMessage));
    closers.unshift(async () => {
      for (const t of tabs) t.closing = true;
      await Promise.race([Promise.all(tabs.map((t) => t.close())), sleep(3000)]);
    });

    const meter = new RuntimeMeter(parley.child.pid);
    closers.unshift(async () => meter.stop());
    await sleep(1000);
    const idle = meter.mark('idle');
    // Parley's own workerd first, then wrangler's proxy.
    const workerdProcs = idle.processes.filter((p) => p.comm.startsWith('workerd')).sort((a, b) => label(b).localeCompare(label(a)));
    console.log(`  runtime processes: ${idle.processes.map((p) => `${label(p)} (${mb(p.rss)})`).join(', ')}`);

    /** Opens `list` with `C` upgrades in flight; returns per-tab results or errors. */
    const connectAll = async (list, after, progressLabel) => {
      const results = new Array(list.length);
      const bar = new Progress(progressLabel, list.length);
      let next = 0;
      let done = 0;
      let failed = 0;
      await Promise.all(
        Array.from({ length: Math.min(C, list.length) }, async () => {
          for (let i = next++; i < list.length; i = next++) {
            try {
              results[i] = await list[i].connect(socketUrl(after(list[i])), 30_000);
            } catch (err) {
              results[i] = { error: String(err?.message ?? err) };
              failed++;
            }
            bar.update(++done, failed ? ` (${failed} failed)` : '');
          }
        }),
      );
      return results;
    };

    const post = async (text) => {
      const sent = now();
      const res = await fetch(`${parley.url}${postUrl}`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: JSON.stringify({ author: { type: 'business', displayName: 'Load' }, content: { type: 'text', text } }),
      });
      const answered = now();
      const body = await res.json();
      if (res.status !== 201) throw new Error(`POST messages answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
      const m = body.messages[0];
      return { id: m.id, seq: m.seq, sent, postMs: answered - sent };
    };
    const posted = [];

    /** Latency of each open tab's receipt of `m`, and how many open tabs are missing it. */
    const receipts = (m, among) => {
      const lat = [];
      let missing = 0;
      for (const t of among) {
        const at = t.at.get(m.id);
        if (at === undefined) missing++;
        else lat.push(at - m.sent);
      }
      return { lat, missing };
    };

    // ---- phase 1: connect ----------------------------------------------------------
    console.log(`\n▸ connect: ${N} sockets, ${C} upgrades in flight`);
    const connectStart = now();
    const connected = await connectAll(tabs, () => 0, 'connecting');
    const connectWall = now() - connectStart;
    const connectErrors = connected.filter((r) => r.error);
    const connectOk = connected.filter((r) => !r.error);
    const connectMark = meter.mark('connected');
    const upgrade = dist(connectOk.map((r) => r.upgradeMs));
    const readyD = dist(connectOk.map((r) => r.readyMs));
    console.log(`  ${connectOk.length}/${N} ready in ${(connectWall / 1000).toFixed(1)} s (${(connectOk.length / (connectWall / 1000)).toFixed(0)}/s); upgrade p50 ${ms(upgrade.p50)} ms p99 ${ms(upgrade.p99)} ms; ready p50 ${ms(readyD.p50)} ms p99 ${ms(readyD.p99)} ms`);
    if (connectErrors.length) {
      const kinds = new Map();
      for (const e of connectErrors) kinds.set(e.error, (kinds.get(e.error) ?? 0) + 1);
      console.log(`  FAILED to connect: ${[...kinds].map(([k, n]) => `${n}× ${k}`).join('; ')}`);
    }
    console.log(`  workerd RSS ${mb(idle.workerdRss)} idle → ${mb(connectMark.workerdRss)} with ${connectOk.length} sockets (${((connectMark.workerdRss - idle.workerdRss) / Math.max(1, connectOk.length) / 1024).toFixed(1)} KB per socket); load generator RSS ${mb(connectMark.loadGeneratorRss)}`);
    const live = () => tabs.filter((t) => t.ready);

    // ---- phase 2: one message at a time ---------------------------------------------
    console.log(`\n▸ sequential: ${M} business messages, each waits until every socket has it (or ${timeoutMs} ms)`);
    const seqRows = [];
    const profiler = values.profile ? await startProfile(inspectorPort) : undefined;
    const seqBar = new Progress('posting', M);
    for (let i = 0; i < M; i++) {
      const among = live();
      const m = await post(`sequential ${i + 1}`);
      posted.push(m);
      const complete = await deliveries.wait(m.id, among.length, timeoutMs);
      const { lat, missing } = receipts(m, among);
      seqRows.push({ ...m, sockets: among.length, complete, missing, first: Math.min(...lat), last: Math.max(...lat), lat });
      seqBar.update(i + 1);
    }
    const seqMark = meter.mark('sequential');
    let profile;
    if (profiler) {
      const raw = await profiler.stop();
      const profileFile = path.join(root, '.parley', 'bench', `sockets-${startedAt.toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
      mkdirSync(path.dirname(profileFile), { recursive: true });
      writeFileSync(profileFile, JSON.stringify(raw));
      profile = { file: profileFile, target: profiler.target, ...selfTimes(raw, 20) };
      console.log(`  CPU profile of ${profiler.target} over the phase (${(profile.spanMs / 1000).toFixed(1)} s), self time:`);
      for (const f of profile.top) console.log(`    ${ms(f.ms).padStart(7)} ms  ${f.name}`);
      console.log(`  wrote ${path.relative(process.cwd(), profileFile)}`);
    }
    const allLat = dist(seqRows.flatMap((r) => r.lat));
    const lastLat = dist(seqRows.map((r) => r.last));
    const firstLat = dist(seqRows.map((r) => r.first));
    const postLat = dist(seqRows.map((r) => r.postMs));
    const seqLost = seqRows.reduce((a, r) => a + r.missing, 0);

    // ---- phase 3: burst --------------------------------------------------------------
    let burst;
    if (K > 0) {
      console.log(`\n▸ burst: ${K} business messages posted at once`);
      const among = live();
      const burstStart = now();
      const results = await Promise.allSettled(Array.from({ length: K }, (_, i) => post(`burst ${i + 1}`)));
      const sent = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      const failures = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason?.message ?? r.reason));
      posted.push(...sent);
      const complete = (await Promise.all(sent.map((m) => deliveries.wait(m.id, among.length, timeoutMs)))).every(Boolean);
      const wall = now() - burstStart;
      const lat = [];
      let missing = 0;
      let lastReceipt = burstStart;
      for (const m of sent) {
        const r = receipts(m, among);
        lat.push(...r.lat);
        missing += r.missing;
        for (const t of among) lastReceipt = Math.max(lastReceipt, t.at.get(m.id) ?? 0);
      }
      // Every socket got the burst in seq order: its receipts of the burst, sorted by time, are sorted by seq.
      const bySeq = [...sent].sort((a, b) => a.seq - b.seq);
      let misordered = 0;
      for (const t of among) {
        const times = bySeq.map((m) => t.at.get(m.id)).filter((x) => x !== undefined);
        for (let i = 1; i < times.length; i++) if (times[i] < times[i - 1]) misordered++;
      }
      burst = { posted: sent.length, failures, sockets: among.length, complete, missing, misordered, wallMs: wall, completionMs: lastReceipt - burstStart, latency: dist(lat), post: dist(sent.map((m) => m.postMs)) };
      console.log(`  ${sent.length}/${K} posted${failures.length ? ` (${failures.length} failed: ${failures[0]})` : ''}; every socket had all of them ${((lastReceipt - burstStart) / 1000).toFixed(2)} s after the first POST left; ${missing} frames missing`);
    }
    const burstMark = meter.mark('burst');

    // ---- phase 4: reconnect-resume -----------------------------------------------------
    let resume;
    if (R > 0) {
      console.log(`\n▸ reconnect-resume: close ${R} sockets, post ${J} messages, reopen them with ?after=<last seq seen>`);
      const step = N / R;
      const leaving = Array.from({ length: R }, (_, i) => tabs[Math.floor(i * step)]).filter((t) => t.ready);
      const lastSeen = new Map(leaving.map((t) => [t, t.highest]));
      const dupsBefore = leaving.reduce((a, t) => a + t.duplicates, 0);
      await Promise.all(leaving.map((t) => t.close()));
      const staying = live();
      const missedMsgs = [];
      for (let i = 0; i < J; i++) {
        const m = await post(`while closed ${i + 1}`);
        posted.push(m);
        missedMsgs.push(m);
        await deliveries.wait(m.id, staying.length, timeoutMs);
      }
      const reopenStart = now();
      const reopened = await connectAll(leaving, (t) => lastSeen.get(t), 'reopening');
      const reopenWall = now() - reopenStart;
      const errors = reopened.filter((r) => r.error);
      const expectedLast = Math.max(...posted.map((m) => m.seq));
      let gaps = 0;
      let wrongReplay = 0;
      let wrongReady = 0;
      for (const [i, t] of leaving.entries()) {
        const r = reopened[i];
        if (r.error) continue;
        if (r.replayed !== J) wrongReplay++;
        if (r.readyLastSeq !== expectedLast) wrongReady++;
        for (const m of posted) if (m.seq <= r.readyLastSeq && !t.seen.has(m.seq)) gaps++;
      }
      const dupsAfter = leaving.reduce((a, t) => a + t.duplicates, 0);
      // One live message after the reopen: the resumed sockets are back on the broadcast.
      const all = live();
      const liveMsg = await post('after resume');
      posted.push(liveMsg);
      const liveOk = await deliveries.wait(liveMsg.id, all.length, timeoutMs);
      const liveR = receipts(liveMsg, all);
      resume = {
        closed: leaving.length,
        reopened: leaving.length - errors.length,
        errors: errors.map((e) => e.error),
        missedWhileClosed: J,
        replayedPerSocket: dist(reopened.filter((r) => !r.error).map((r) => r.replayed)),
        wrongReplayCount: wrongReplay,
        wrongReadyLastSeq: wrongReady,
        gaps,
        duplicates: dupsAfter - dupsBefore,
        reopenWallMs: reopenWall,
        readyAfterReopen: dist(reopened.filter((r) => !r.error).map((r) => r.readyMs)),
        liveAfterResume: { sockets: all.length, complete: liveOk, missing: liveR.missing, last: Math.max(...liveR.lat) },
      };
      console.log(`  ${resume.reopened}/${resume.closed} reopened in ${(reopenWall / 1000).toFixed(2)} s, ready p50 ${ms(resume.readyAfterReopen.p50)} ms p99 ${ms(resume.readyAfterReopen.p99)} ms; replayed ${J} each: ${wrongReplay ? `NO (${wrongReplay} sockets differ)` : 'yes'}; gaps ${gaps}; duplicates ${resume.duplicates}; next live message reached ${all.length - liveR.missing}/${all.length}`);
    }
    const resumeMark = meter.mark('resume');

    // ---- the checks: every socket, every posted message, exactly once, in order -----------
    await sleep(500);
    const postedSeqs = posted.map((m) => m.seq);
    let lost = 0;
    let extra = 0;
    const openAtEnd = live();
    for (const t of openAtEnd) {
      for (const s of postedSeqs) if (!t.seen.has(s)) lost++;
      for (const s of t.seen.keys()) if (!postedSeqs.includes(s)) extra++;
    }
    const duplicates = tabs.reduce((a, t) => a + t.duplicates, 0);
    const outOfOrder = tabs.reduce((a, t) => a + t.outOfOrder, 0);
    const resyncs = tabs.reduce((a, t) => a + t.resyncs, 0);
    const unexpectedCloses = tabs.reduce((a, t) => a + t.closedUnexpectedly, 0);
    const expectedFrames = openAtEnd.length * postedSeqs.length;

    // ---- report ---------------------------------------------------------------------
    const phases = [
      ['connect', idle, connectMark],
      ['sequential', connectMark, seqMark],
      ['burst', seqMark, burstMark],
      ['reconnect-resume', burstMark, resumeMark],
    ]
      .filter(([name]) => (name !== 'burst' || K > 0) && (name !== 'reconnect-resume' || R > 0))
      .map(([name, a, b]) => ({ name, ...cpuBetween(a, b) }));
    const cpuCell = (ph, pred) => {
      const c = ph.perProcess.filter(pred).reduce((a, p) => a + p.cpuMs, 0);
      return `${((c / Math.max(1, ph.wallMs)) * 100).toFixed(0)}%`;
    };

    console.log(`\nResults: ${N} sockets on one conversation, ${U} user${U > 1 ? 's' : ''}; latency in ms from the moment before the POST left to each socket's receipt (loopback, ${cpus().length} cores shared with the load generator)\n`);
    console.log(
      table(
        ['measure', 'n', 'p50', 'p95', 'p99', 'max'],
        [
          ['connect: upgrade (101)', upgrade.n, ms(upgrade.p50), ms(upgrade.p95), ms(upgrade.p99), ms(upgrade.max)],
          ['connect: ready frame', readyD.n, ms(readyD.p50), ms(readyD.p95), ms(readyD.p99), ms(readyD.max)],
          [`sequential: every socket's receipt`, allLat.n, ms(allLat.p50), ms(allLat.p95), ms(allLat.p99), ms(allLat.max)],
          ['sequential: first socket per message', firstLat.n, ms(firstLat.p50), ms(firstLat.p95), ms(firstLat.p99), ms(firstLat.max)],
          ['sequential: last socket per message', lastLat.n, ms(lastLat.p50), ms(lastLat.p95), ms(lastLat.p99), ms(lastLat.max)],
          ['sequential: POST → 201', postLat.n, ms(postLat.p50), ms(postLat.p95), ms(postLat.p99), ms(postLat.max)],
          ...(burst
            ? [
                [`burst of ${K}: every socket's receipt`, burst.latency.n, ms(burst.latency.p50), ms(burst.latency.p95), ms(burst.latency.p99), ms(burst.latency.max)],
                [`burst of ${K}: POST → 201`, burst.post.n, ms(burst.post.p50), ms(burst.post.p95), ms(burst.post.p99), ms(burst.post.max)],
              ]
            : []),
          ...(resume ? [[`resume: reopen → ready (${J} replayed)`, resume.readyAfterReopen.n, ms(resume.readyAfterReopen.p50), ms(resume.readyAfterReopen.p95), ms(resume.readyAfterReopen.p99), ms(resume.readyAfterReopen.max)]] : []),
        ],
      ),
    );
    console.log('');
    console.log(
      table(
        ['check', 'value'],
        [
          ['sockets connected', `${connectOk.length}/${N} in ${(connectWall / 1000).toFixed(1)} s`],
          ['messages posted', `${posted.length} (${M} sequential, ${burst?.posted ?? 0} burst, ${resume ? J + 1 : 0} around the resume)`],
          ['frames expected (sockets open at the end × messages)', expectedFrames],
          ['frames lost (expected − received)', lost],
          ['frames for messages not posted here', extra],
          ['duplicates', duplicates],
          ['out of order', outOfOrder],
          ['burst received out of seq order', burst ? burst.misordered : '–'],
          ['resync frames', resyncs],
          ['sockets closed by the server', unexpectedCloses],
          ['resume: gaps / duplicates / wrong replay count', resume ? `${resume.gaps} / ${resume.duplicates} / ${resume.wrongReplayCount}` : '–'],
          ['broadcast to all sockets, per message (last socket p50 / p99)', `${ms(lastLat.p50)} / ${ms(lastLat.p99)} ms`],
          ['burst: all sockets had all messages after', burst ? `${ms(burst.completionMs)} ms` : '–'],
          [
            'workerd RSS: idle → connected → peak',
            `${mb(idle.workerdRss)} → ${mb(connectMark.workerdRss)} → ${mb(Math.max(...meter.marks.map((m) => m.workerdPeakRss)))} (${((connectMark.workerdRss - idle.workerdRss) / Math.max(1, connectOk.length) / 1024).toFixed(1)} KB/socket)`,
          ],
          ...workerdProcs.map((w) => {
            const rssAt = (mark) => mark.processes.find((p) => p.pid === w.pid)?.rss ?? 0;
            return [`  ${label(w)} RSS: idle → connected → end`, `${mb(rssAt(idle))} → ${mb(rssAt(connectMark))} → ${mb(rssAt(resumeMark))} (${((rssAt(connectMark) - rssAt(idle)) / Math.max(1, connectOk.length) / 1024).toFixed(1)} KB/socket)`];
          }),
          ['load generator RSS', mb(process.memoryUsage.rss())],
        ],
        { left: true },
      ),
    );
    console.log("\nCPU per phase (share of one core over the phase's wall time; machine: all cores busy; others: processes neither Parley nor this script)\n");
    console.log(
      table(
        ['phase', 'wall s', ...workerdProcs.map((p) => label(p)), 'wrangler + esbuild', 'load generator', 'machine', 'others'],
        phases.map((ph) => [
          ph.name,
          (ph.wallMs / 1000).toFixed(1),
          ...workerdProcs.map((w) => cpuCell(ph, (p) => p.pid === w.pid)),
          cpuCell(ph, (p) => !p.comm.startsWith('workerd')),
          `${((ph.loadGeneratorCpuMs / Math.max(1, ph.wallMs)) * 100).toFixed(0)}%`,
          ph.machineBusy === undefined ? '–' : `${(ph.machineBusy * 100).toFixed(0)}%`,
          ph.othersBusy === undefined ? '–' : `${(ph.othersBusy * 100).toFixed(0)}% of the machine`,
        ]),
      ),
    );

    const seqPhase = phases[1];
    const perMessage = (pred) => seqPhase.perProcess.filter(pred).reduce((a, p) => a + p.cpuMs, 0) / M;
    const cpuPerMessage = {
      ...Object.fromEntries(workerdProcs.map((w) => [label(w), round(perMessage((p) => p.pid === w.pid), 2)])),
      'load generator': round(seqPhase.loadGeneratorCpuMs / M, 2),
    };
    console.log(
      `\n  CPU per sequential message with ${live().length} sockets: ${Object.entries(cpuPerMessage)
        .map(([k, v]) => `${k} ${ms(v)} ms`)
        .join(', ')}` + '\n  (/proc CPU ticks are 10 ms: per-message figures are averages over the phase, not exact per message)',
    );

    const busiest = Math.max(...phases.map((ph) => ph.othersBusy ?? 0));
    if (busiest > 0.15) console.log(`\n  note: other processes used up to ${(busiest * 100).toFixed(0)}% of the machine during a phase; these latencies are inflated by that`);

    const ok = connectErrors.length === 0 && lost === 0 && duplicates === 0 && outOfOrder === 0 && extra === 0 && (!burst || (burst.misordered === 0 && burst.failures.length === 0)) && (!resume || (resume.gaps === 0 && resume.duplicates === 0 && resume.errors.length === 0 && resume.wrongReplayCount === 0 && resume.wrongReadyLastSeq === 0));

    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const dir = path.join(root, '.parley', 'bench');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `sockets-${stamp}.json`);
    const r1 = (d) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, k === 'n' ? v : round(v, 2)]));
    writeFileSync(
      file,
      `${JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          options: { sockets: N, messages: M, burst: K, reconnect: R, missed: J, users: U, connectConcurrency: C, timeoutMs },
          machine: { cpus: cpus().length, model: cpus()[0]?.model.trim(), loadavgBefore: loadBefore, loadavgAfter: loadavg(), node: process.version, platform: process.platform, openFileLimit: fdLimit === Infinity ? 'unlimited' : fdLimit },
          note: 'Parley (wrangler dev / workerd) and the load generator (all client sockets in one Node process) share the machine on loopback; compare runs on the same machine, not with production.',
          ok,
          connect: { sockets: N, ready: connectOk.length, wallMs: round(connectWall), upgrade: r1(upgrade), ready_: r1(readyD), errors: connectErrors.map((e) => e.error) },
          sequential: {
            latencyAllSockets: r1(allLat),
            firstSocketPerMessage: r1(firstLat),
            lastSocketPerMessage: r1(lastLat),
            post: r1(postLat),
            lost: seqLost,
            messages: seqRows.map((r) => ({ id: r.id, seq: r.seq, sockets: r.sockets, complete: r.complete, missing: r.missing, postMs: round(r.postMs, 2), firstMs: round(r.first, 2), lastMs: round(r.last, 2), p50Ms: round(dist(r.lat).p50, 2) })),
            // Per message, every socket's latency (ms, 0.1 ms precision), in tab order.
            samples: seqRows.map((r) => r.lat.map((x) => round(x, 1))),
          },
          burst: burst && { ...burst, latency: r1(burst.latency), post: r1(burst.post), wallMs: round(burst.wallMs), completionMs: round(burst.completionMs) },
          resume: resume && { ...resume, replayedPerSocket: r1(resume.replayedPerSocket), readyAfterReopen: r1(resume.readyAfterReopen), reopenWallMs: round(resume.reopenWallMs), liveAfterResume: { ...resume.liveAfterResume, last: round(resume.liveAfterResume.last, 2) } },
          totals: { posted: posted.length, socketsOpenAtEnd: openAtEnd.length, expectedFrames, lost, extra, duplicates, outOfOrder, resyncs, unexpectedCloses },
          memory: meter.marks.map((m) => ({ at: m.name, workerdRss: m.workerdRss, workerdPeakRssSincePreviousMark: m.workerdPeakRss, loadGeneratorRss: m.loadGeneratorRss, processes: m.processes.map(({ pid, comm, rss }) => ({ pid, comm, rss })) })),
          cpuPerSequentialMessageMs: cpuPerMessage,
          profile: profile && { file: path.relative(root, profile.file), target: profile.target, spanMs: round(profile.spanMs), selfTimeTop: profile.top },
          cpu: phases.map((ph) => ({ phase: ph.name, wallMs: round(ph.wallMs), loadGeneratorCpuMs: round(ph.loadGeneratorCpuMs), machineBusy: round(ph.machineBusy ?? NaN, 3), otherProcessesBusy: round(ph.othersBusy ?? NaN, 3), processes: ph.perProcess.map((p) => ({ ...p, label: label(p) })) })),
        },
        null,
        1,
      )}\n`,
    );
    console.log(`\nWrote ${path.relative(process.cwd(), file)}`);
    console.log(ok ? '\nAll checks passed: every socket got every message exactly once, in seq order.' : '\nChecks FAILED (see above): lost, doubled or out-of-order frames, or sockets that did not connect.');
    return ok ? 0 : 1;
  } finally {
    await closeAll();
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
  }
}
