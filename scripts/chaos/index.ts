/**
 * `npm run chaos`: Parley's invariants under a rough day. Channel users on
 * Telegram, WhatsApp, Twilio SMS and LINE write in steadily through their
 * channels' signed webhooks, every webhook is sent three times (the copies
 * spread out, some landing after a restart), the runtime is SIGKILLed and
 * restarted on its persisted state twice, and the customer's webhook
 * receiver answers 500 for a while. Afterwards the REST API and the
 * receiver's log must show every acknowledged channel message stored exactly
 * once, in seq order, and announced exactly once (after dedupe by event id)
 * by the end of a bounded drain. A last "probe" message per user then finds
 * every conversation for the REST check and tells events that were stuck
 * (they go out with the conversation's next event) from events that are gone.
 *
 * Bundled by scripts/chaos.mjs (the channel fakes are TypeScript); see
 * that file for the options.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHANNELS, Channels, type Channel, type ChannelMessage, type ChaosUser, type Copy, type Wire } from './channels';
import { ChaosReceiver } from './receiver';
import { Runtime } from './runtime';
import { readStored } from './verify';
import { ParleyApi } from '../simulator/parley';

export interface ChaosOptions {
  quick: boolean;
  users: number;
  /** New channel messages per second, all users together (each is then sent three times). */
  rate: number;
  persistTo: string;
  runtimeWorker: string;
  /** The repository: its Worker sources are watched for edits during the run. */
  root: string;
  /** Shows wrangler's output (for digging into a failure). */
  verbose?: boolean;
  /** Called after the runtime was killed on Ctrl-C, before exiting (removes the temp state). */
  onInterrupt?: () => void;
}

/** Times are ms after the ingest starts. */
interface Plan {
  /** New messages are created until then; their later copies go out after. */
  ingestMs: number;
  /** When each SIGKILL is due; a kill also waits for the previous restart and MIN_UPTIME_MS. */
  kills: number[];
  /** When the customer's receiver starts answering 500, and for how long. */
  outage: { from: number; ms: number };
  /** Delay ranges of the second and third copy after the first, ms. */
  copyDelays: [number, number][];
  /**
   * How long to wait for the last events after the storm. It covers a webhook lease
   * claimed at drain time (WEBHOOK_TIMEOUT_MS + 5 s + 60 s + FEED_CLAIM_GRACE_MS 10 s): a
   * feed message lost in a kill, or a consumer killed between delivering a batch and
   * reporting it, holds that conversation's webhook until its lease lapses.
   */
  drainMs: number;
}

const PLANS: Record<'full' | 'quick', Plan> = {
  // Both kills fall inside the receiver outage; the second lands a few seconds after the first restart,
  // while Parley is still catching up with the channels' redeliveries and the webhook retries (a crash
  // loop), late enough that most conversations get no new message afterwards. The quick plan kills
  // during the users' first contacts instead.
  full: { ingestMs: 100_000, kills: [55_000, 62_000], outage: { from: 30_000, ms: 60_000 }, copyDelays: [[1_000, 20_000], [8_000, 30_000]], drainMs: 90_000 },
  quick: { ingestMs: 35_000, kills: [8_000, 24_000], outage: { from: 12_000, ms: 15_000 }, copyDelays: [[1_000, 6_000], [3_000, 12_000]], drainMs: 90_000 },
};

/**
 * Worker sources edited since `since`. wrangler dev reloads the Worker when they change,
 * which aborts whatever is in flight: a reload the run did not plan, worth knowing about.
 */
function editedSince(root: string, since: number): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (statSync(full).mtimeMs > since) found.push(path.relative(root, full));
    }
  };
  for (const dir of ['src', 'durable']) walk(path.join(root, dir));
  if (statSync(path.join(root, 'wrangler.toml')).mtimeMs > since) found.push('wrangler.toml');
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** An event slower than this, once the receiver could take it, is reported as late. */
const LATE_MS = 20_000;
/** How long the probe messages' events may take. */
const PROBE_WAIT_MS = 30_000;
/** How long the channels' senders may still take once the storm is over. */
const SETTLE_MS = 60_000;
/** QUEUE_REKICK_MS for the run. */
const REKICK_MS = 10_000;
/** After the last probe, before the runtime stops and D1 is read: a re-sent index op needs REKICK_MS and a batch. */
const INDEX_SETTLE_MS = 2 * REKICK_MS + 5_000;
/** Uptime between a restart and the next kill. */
const MIN_UPTIME_MS = 5_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const between = ([lo, hi]: [number, number]) => lo + Math.random() * (hi - lo);
const clock = (ms: number) => {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

export async function runChaos(options: ChaosOptions): Promise<{ ok: boolean }> {
  const plan = PLANS[options.quick ? 'quick' : 'full'];
  const started = Date.now();
  const account = { id: `act_${randomBytes(12).toString('hex')}`, secret: randomBytes(24).toString('base64url') };
  const vars = {
    PARLEY_ENV: 'local',
    ACCOUNT_KEY_ID: account.id,
    ACCOUNT_KEY_SECRET: account.secret,
    MASTER_KEY: randomBytes(32).toString('base64'),
    // Short webhook retries, so deliveries resume within seconds of the receiver's recovery and the run stays bounded.
    WEBHOOK_RETRY_BASE_MS: '500',
    WEBHOOK_RETRY_CAP_MS: '4000',
    // The lease of a batch whose consumer died is this + 65 s (see drainMs).
    WEBHOOK_TIMEOUT_MS: '5000',
    // A conversation kicks its queues again (webhooks, deliveries) and re-sends unconfirmed index ops after 10 s
    // without progress, instead of 60 s: queue messages held in memory die with the runtime, and the run is bounded.
    QUEUE_REKICK_MS: String(REKICK_MS),
  };
  const port = await freePort();
  const runtime = new Runtime(options.runtimeWorker, { port, inspectorPort: await freePort(), persistTo: options.persistTo, vars, verbose: options.verbose ?? false });
  const receiver = new ChaosReceiver();
  const channels = new Channels();

  const outageWindow = { from: Infinity, until: -Infinity };
  let phase = 'setup';
  let t0 = 0;
  const notes: string[] = [];
  const messages: ChannelMessage[] = [];
  const inflight = new Set<Promise<void>>();
  const tty = process.stdout.isTTY;
  let lastLine = 0;

  const copies = () => {
    let sent = 0;
    let acked = 0;
    let refused = 0;
    let pending = 0;
    for (const m of messages)
      for (const c of m.copies) {
        sent++;
        if (c.state === 'acked') acked++;
        else if (c.state === 'refused') refused++;
        else pending++;
      }
    return { sent, acked, refused, pending };
  };
  const progress = (force = false) => {
    const now = Date.now();
    if (!force && !tty && now - lastLine < 5_000) return;
    lastLine = now;
    const c = copies();
    const flags = [runtime.up ? '' : 'parley DOWN', receiver.failing ? 'receiver 500' : ''].filter(Boolean).join(', ');
    const line =
      `[${clock(now - started)}] ${phase}${flags ? ` (${flags})` : ''}` +
      ` | msgs ${messages.length}, webhooks sent ${c.sent} acked ${c.acked} pending ${c.pending} refused ${c.refused}` +
      ` | attempts ${channels.counts.attempts} | events ${receiver.messageEvents.size} (500s ${receiver.counts.refused500})`;
    if (tty) process.stdout.write(`\r\x1b[2K${line}`);
    else console.log(line);
  };
  const say = (text: string) => {
    if (tty) process.stdout.write('\r\x1b[2K');
    console.log(`[${clock(Date.now() - started)}] ${text}`);
    notes.push(`${clock(Date.now() - started)} ${text}`);
  };
  const ticker = setInterval(() => progress(), tty ? 1_000 : 5_000);

  const onSignal = (signal: NodeJS.Signals) => {
    clearInterval(ticker);
    console.log(`\n${signal}: killing the runtime and stopping.`);
    runtime.killNow();
    options.onInterrupt?.();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => runtime.killNow());

  try {
    console.log(
      `Chaos run (${options.quick ? 'quick' : 'full'}): ${options.users} channel users (${CHANNELS.join(', ')}), ${options.rate} new messages/s, each webhook sent 3 times;` +
        ` 2 SIGKILL restarts at ${plan.kills.map((k) => `${k / 1000}s`).join(' and ')}, receiver 500 for ${plan.outage.ms / 1000}s from ${plan.outage.from / 1000}s.`,
    );
    console.log(`State: ${options.persistTo}`);
    await receiver.listen();
    await channels.serve();
    progress(true);
    await runtime.start();
    say(`Parley up at ${runtime.url} (setup took ${((Date.now() - started) / 1000).toFixed(1)} s)`);

    const accountAuth = `Basic ${Buffer.from(`${account.id}:${account.secret}`).toString('base64')}`;
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${runtime.url}${path}`, { method: 'POST', headers: { authorization: accountAuth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json: any = await res.json();
      if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const { app } = await post('/v2/apps', { displayName: 'chaos' });
    const { key } = await post(`/v2/apps/${app.id}/keys`, { displayName: 'chaos' });
    const api = new ParleyApi({ parleyUrl: runtime.url, appId: app.id, keyId: key.id, keySecret: key.secret });
    const custom = await api.expect([201], 'POST', '/integrations', {
      type: 'custom',
      displayName: 'Chaos: customer webhook',
      webhooks: [{ target: receiver.url, triggers: ['conversation:message', 'conversation:create'] }],
    });
    receiver.secret = custom.body.integration.webhooks[0].secret;
    await channels.connect(api);

    const users: ChaosUser[] = Array.from({ length: options.users }, (_, index) => ({ index, channel: CHANNELS[index % CHANNELS.length]!, sent: 0 }));
    let order: ChaosUser[] = [];
    const nextUser = () => {
      if (order.length === 0) order = [...users].sort(() => Math.random() - 0.5);
      return order.pop()!;
    };

    const track = (p: Promise<void>) => {
      // A send that throws leaves its copy pending, which the report shows as unsettled.
      const settled = p.catch(() => undefined);
      inflight.add(settled);
      void settled.finally(() => inflight.delete(settled));
    };
    const sendCopy = (m: ChannelMessage, wire: Wire) => {
      const copy: Copy = { state: 'pending', statuses: [] };
      m.copies.push(copy);
      track(channels.send(m.channel, wire, copy));
    };
    const newMessage = async () => {
      const user = nextUser();
      user.sent++;
      const { wire, id } = await channels.build(user, `chaos ${user.channel} user ${user.index} message ${user.sent}`);
      const m: ChannelMessage = { channel: user.channel, id, user: user.index, createdAt: Date.now(), copies: [] };
      messages.push(m);
      sendCopy(m, wire);
      for (const range of plan.copyDelays) {
        const timer = sleep(between(range)).then(() => sendCopy(m, wire));
        track(timer);
      }
    };

    // ---- the storm ---------------------------------------------------------------------
    phase = 'ingest';
    t0 = Date.now();
    say(`ingest starts: ${options.rate} messages/s from ${options.users} users`);
    const at = (ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));
    // Kills run one after the other: the next kill waits for the previous restart and some uptime.
    const kills = (async () => {
      for (const [i, k] of plan.kills.entries()) {
        await at(k);
        const before = Date.now();
        say(`kill #${i + 1}: SIGKILL to the wrangler/workerd process group, then a restart on the same state`);
        await runtime.kill();
        await runtime.start();
        say(`restart #${i + 1}: Parley answers again after ${((Date.now() - before) / 1000).toFixed(1)} s down`);
        await sleep(MIN_UPTIME_MS);
      }
    })();
    const outage = (async () => {
      await at(plan.outage.from);
      receiver.failing = true;
      outageWindow.from = Date.now();
      say(`customer webhook receiver answers HTTP 500 for ${plan.outage.ms / 1000} s`);
      await sleep(plan.outage.ms);
      receiver.failing = false;
      outageWindow.until = Date.now();
      say('customer webhook receiver recovered (answers 200)');
    })();
    const chaos = Promise.all([kills, outage]);
    // A failed restart surfaces where the storm is awaited, not as an unhandled rejection meanwhile.
    chaos.catch(() => undefined);

    let credit = 0;
    while (Date.now() - t0 < plan.ingestMs) {
      credit += options.rate / 10;
      const batch: Promise<void>[] = [];
      for (; credit >= 1; credit--) batch.push(newMessage());
      await Promise.all(batch);
      await sleep(Math.max(0, 100 - ((Date.now() - t0) % 100)));
    }
    phase = 'duplicates tail (no new messages)';
    say(`ingest stops: ${messages.length} channel messages created; the last copies go out over the next ${plan.copyDelays[1]![1] / 1000} s`);
    await chaos;

    // ---- drain -------------------------------------------------------------------------
    // Redelivering senders settle once Parley is back; a copy still open after this is reported as unsettled.
    const settleBy = Date.now() + SETTLE_MS;
    while (inflight.size > 0 && Date.now() < settleBy) await Promise.race([...inflight, sleep(1_000)]);
    phase = 'drain';
    const unsettled = copies().pending;
    say(`${unsettled ? `${unsettled} copies still unsettled` : 'every copy is settled'}; waiting for the webhook events of every acknowledged message`);
    const drainUntil = Date.now() + plan.drainMs;
    const announced = () => new Set([...receiver.messageEvents.values()].map((e) => e.originalMessageId));
    const acked = messages.filter((m) => m.copies.some((c) => c.state === 'acked'));
    for (;;) {
      const seen = announced();
      if (acked.every((m) => seen.has(m.id)) || Date.now() > drainUntil) break;
      await sleep(500);
    }

    // ---- probe -------------------------------------------------------------------------
    // Conversations are found through webhook events (the API lists conversations per user id, and
    // channel users are created by Parley). One more message from every user raises a new event in
    // each conversation: its id becomes known for the REST check, and events stuck behind a lost
    // queue kick go out with it, which tells "stuck" apart from "gone".
    phase = 'probe';
    const probeStart = Date.now();
    const attemptsBeforeProbe = { ...channels.counts };
    say('probe: one more message from every user, so every conversation raises a fresh event');
    const probes: ChannelMessage[] = [];
    const todo = [...users];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let user = todo.shift(); user; user = todo.shift()) {
          user.sent++;
          const { wire, id } = await channels.build(user, `chaos probe from user ${user.index}`);
          const copy: Copy = { state: 'pending', statuses: [] };
          probes.push({ channel: user.channel, id, user: user.index, createdAt: Date.now(), copies: [copy] });
          await channels.send(user.channel, wire, copy);
        }
      }),
    );
    const probeUntil = Date.now() + PROBE_WAIT_MS;
    const ackedProbes = probes.filter((m) => m.copies[0]!.state === 'acked');
    while (Date.now() < probeUntil) {
      const seen = announced();
      if (ackedProbes.every((m) => seen.has(m.id))) break;
      await sleep(500);
    }

    // ---- verify ------------------------------------------------------------------------
    phase = 'verify';
    progress(true);
    const stored = await readStored(api, [...receiver.conversations]);
    // The D1 index is eventually consistent: give unconfirmed index ops time to be sent again, then read D1
    // with the runtime stopped (the local D1 is a SQLite file wrangler opens).
    say(`verify: waiting ${INDEX_SETTLE_MS / 1000} s for the D1 index, then stopping Parley to read it`);
    await sleep(INDEX_SETTLE_MS);
    clearInterval(ticker);
    await runtime.stop();
    const { queryD1 } = (await import(pathToFileURL(path.join(options.root, 'scripts', 'local.mjs')).href)) as typeof import('../local.mjs');
    const index = queryD1<IndexRow>(options.persistTo, `SELECT id, conversation_id, seq FROM message_index WHERE app_id = '${String(app.id).replace(/[^A-Za-z0-9]/g, '')}'`);
    if (tty) process.stdout.write('\r\x1b[2K');

    const edited = editedSince(options.root, started);
    if (edited.length) notes.push(`WARNING: Worker sources changed during the run (${edited.join(', ')}): wrangler dev reloaded the Worker, an unplanned restart`);
    return report({
      started,
      outageWindow,
      messages,
      probes,
      probeStart,
      attemptsBeforeProbe,
      receiver,
      channels,
      stored,
      index,
      wallMs: Date.now() - started,
      notes,
    });
  } finally {
    clearInterval(ticker);
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await runtime.stop().catch(() => runtime.killNow());
    await Promise.race([Promise.all([receiver.close(), channels.close()]), sleep(3_000)]);
  }
}

interface IndexRow {
  id: string;
  conversation_id: string;
  seq: number;
}

interface ReportInput {
  started: number;
  outageWindow: { from: number; until: number };
  messages: ChannelMessage[];
  probes: ChannelMessage[];
  probeStart: number;
  attemptsBeforeProbe: Channels['counts'];
  receiver: ChaosReceiver;
  channels: Channels;
  stored: Awaited<ReturnType<typeof readStored>>;
  /** The app's rows of D1's message_index at the end. */
  index: IndexRow[];
  wallMs: number;
  notes: string[];
}

function report(r: ReportInput): { ok: boolean } {
  const { messages, probes, receiver, stored } = r;
  const storedByOriginal = new Map<string, number>();
  for (const m of stored.messages) if (m.originalMessageId) storedByOriginal.set(m.originalMessageId, (storedByOriginal.get(m.originalMessageId) ?? 0) + 1);
  const sentIds = new Set(messages.map((m) => m.id));
  const probeIds = new Set(probes.map((m) => m.id));
  // A user's conversation is known once any event named one of their messages.
  const announcedOriginals = new Set([...receiver.messageEvents.values()].map((e) => e.originalMessageId));
  const discoveredUsers = new Set([...messages, ...probes].filter((m) => announcedOriginals.has(m.id)).map((m) => `${m.channel}/${m.user}`));
  const isAcked = (m: ChannelMessage) => m.copies.some((c) => c.state === 'acked');

  const perChannel = (channel: Channel | 'all') => {
    const ms = messages.filter((m) => channel === 'all' || m.channel === channel);
    const acked = ms.filter(isAcked);
    const notAcked = ms.filter((m) => !isAcked(m));
    const lost = acked.filter((m) => !storedByOriginal.get(m.id));
    return {
      created: ms.length,
      webhooksSent: ms.reduce((n, m) => n + m.copies.length, 0),
      webhooksAcked: ms.reduce((n, m) => n + m.copies.filter((c) => c.state === 'acked').length, 0),
      webhooksRefused: ms.reduce((n, m) => n + m.copies.filter((c) => c.state === 'refused').length, 0),
      webhooksPending: ms.reduce((n, m) => n + m.copies.filter((c) => c.state === 'pending').length, 0),
      redeliveries: ms.reduce((n, m) => n + m.copies.reduce((k, c) => k + Math.max(0, c.statuses.length - 1), 0), 0),
      acked: acked.length,
      neverAcked: notAcked.length,
      storedOnce: acked.filter((m) => storedByOriginal.get(m.id) === 1).length,
      lost,
      lostUndiscovered: lost.filter((m) => !discoveredUsers.has(`${m.channel}/${m.user}`)),
      doubled: ms.filter((m) => (storedByOriginal.get(m.id) ?? 0) > 1),
      storedNeverAcked: notAcked.filter((m) => storedByOriginal.get(m.id) === 1).length,
    };
  };
  const rows = { ...(Object.fromEntries(CHANNELS.map((c) => [c, perChannel(c)])) as Record<Channel, ReturnType<typeof perChannel>>), all: perChannel('all') };
  const all = rows.all;

  // Webhook events, by the stored message they announce.
  const eventsByMessage = new Map<string, { count: number; firstAt: number }>();
  let rawMessageEvents = 0;
  for (const e of receiver.messageEvents.values()) {
    const known = eventsByMessage.get(e.messageId);
    eventsByMessage.set(e.messageId, { count: (known?.count ?? 0) + 1, firstAt: Math.min(known?.firstAt ?? Infinity, e.firstAt) });
    rawMessageEvents += e.copies;
  }
  const stormStored = stored.messages.filter((m) => m.originalMessageId && sentIds.has(m.originalMessageId));
  const probeStored = stored.messages.filter((m) => m.originalMessageId && probeIds.has(m.originalMessageId));
  const unknownStored = stored.messages.filter((m) => !m.originalMessageId || (!sentIds.has(m.originalMessageId) && !probeIds.has(m.originalMessageId)));
  const announcedInRun = stormStored.filter((m) => (eventsByMessage.get(m.id)?.firstAt ?? Infinity) < r.probeStart);
  const stuck = stormStored.filter((m) => (eventsByMessage.get(m.id)?.firstAt ?? -1) >= r.probeStart);
  const neverAnnounced = stored.messages.filter((m) => !eventsByMessage.has(m.id));
  // How long each run message's event took once the receiver could take it (from its commit, or from the
  // end of the outage for messages committed during it). Retries come every <= 4 s; much more means a
  // webhook lease lapsing (a consumer killed mid-batch) or a kick lost and made good by a later event.
  const delays = stormStored
    .filter((m) => eventsByMessage.has(m.id) && m.received !== undefined)
    .map((m) => {
      const committed = m.received!;
      const ready = committed >= r.outageWindow.from && committed <= r.outageWindow.until ? r.outageWindow.until : committed;
      return { m, delay: eventsByMessage.get(m.id)!.firstAt - ready };
    })
    .sort((a, b) => a.delay - b.delay);
  const pct = (p: number) => (delays.length ? `${(delays[Math.min(delays.length - 1, Math.floor((p / 100) * delays.length))]!.delay / 1000).toFixed(1)} s` : '-');
  const late = delays.filter((d) => d.delay > LATE_MS);
  const announcedTwice = [...eventsByMessage].filter(([, e]) => e.count > 1).map(([id, e]) => `${id} x${e.count}`);
  const storedIds = new Set(stored.messages.map((m) => m.id));
  const eventsForUnlisted = [...receiver.messageEvents.values()].filter((e) => !storedIds.has(e.messageId));
  const nonTwilioNeverAcked = CHANNELS.filter((c) => c !== 'twilio').reduce((n, c) => n + rows[c].neverAcked, 0);
  const byId = new Map(messages.map((m) => [m.id, m]));
  const sentAt = (originalId: string | undefined) => {
    const m = originalId ? byId.get(originalId) : undefined;
    return m ? clock(m.createdAt - r.started) : '?';
  };
  // When the stuck messages were first sent, in 5 s buckets: they cluster just before a kill.
  const buckets = new Map<string, number>();
  for (const m of stuck) {
    const first = byId.get(m.originalMessageId!)!;
    const bucket = clock(Math.floor((first.createdAt - r.started) / 5_000) * 5_000);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
  }

  // The D1 index must hold every stored message once, under its conversation and seq, and nothing else.
  const indexById = new Map<string, IndexRow[]>();
  for (const row of r.index) indexById.set(row.id, [...(indexById.get(row.id) ?? []), row]);
  const indexMissing = stored.messages.filter((m) => !indexById.has(m.id));
  const indexWrong = stored.messages.filter((m) => indexById.get(m.id)?.some((row) => row.conversation_id !== m.conversationId || row.seq !== m.seq));
  const indexDoubled = [...indexById].filter(([, rows]) => rows.length > 1);
  const indexExtra = r.index.filter((row) => !storedIds.has(row.id));

  const problems: string[] = [];
  if (all.lost.length) {
    const undiscovered = all.lostUndiscovered.length ? ` (${all.lostUndiscovered.length} of them from users whose conversation never showed up in any webhook event, so it could not be listed)` : '';
    problems.push(`LOST: ${all.lost.length} acknowledged channel messages are not stored${undiscovered}: ${all.lost.slice(0, 10).map((m) => m.id).join(', ')}`);
  }
  if (all.doubled.length) problems.push(`DOUBLED: ${all.doubled.length} channel messages are stored more than once: ${all.doubled.slice(0, 10).map((m) => `${m.id} x${storedByOriginal.get(m.id)}`).join(', ')}`);
  if (stored.seqViolations.length) problems.push(`SEQ: ${stored.seqViolations.length} places where seq does not strictly increase: ${JSON.stringify(stored.seqViolations.slice(0, 5))}`);
  if (stuck.length) {
    problems.push(
      `EVENT STUCK: ${stuck.length} stored messages (in ${new Set(stuck.map((m) => m.conversationId)).size} conversations) were not announced by the end of the drain and went out only when the probe raised a new event in their conversation;` +
        ` first sent at ${[...buckets].map(([b, n]) => `${b}+5s: ${n}`).join(', ')}. E.g. ${stuck.slice(0, 5).map((m) => `message ${m.id} in conversation ${m.conversationId} (channel id ${m.originalMessageId}, sent ${sentAt(m.originalMessageId)})`).join('; ')}`,
    );
  }
  if (neverAnnounced.length) problems.push(`EVENT MISSING: ${neverAnnounced.length} stored messages never reached the receiver as conversation:message, even after the probe: ${neverAnnounced.slice(0, 10).map((m) => `${m.id} (${m.originalMessageId ?? '-'} in ${m.conversationId})`).join(', ')}`);
  if (announcedTwice.length) problems.push(`EVENT DOUBLED: ${announcedTwice.length} messages announced under more than one event id: ${announcedTwice.slice(0, 10).join(', ')}`);
  if (eventsForUnlisted.length) problems.push(`EVENT FOR UNLISTED MESSAGE: ${eventsForUnlisted.length} conversation:message events name a message the REST API does not list: ${eventsForUnlisted.slice(0, 5).map((e) => e.messageId).join(', ')}`);
  if (unknownStored.length) problems.push(`UNKNOWN: ${unknownStored.length} stored messages carry no channel id that was sent: ${unknownStored.slice(0, 5).map((m) => m.id).join(', ')}`);
  if (all.webhooksPending) problems.push(`UNSETTLED: ${all.webhooksPending} webhook copies still pending at the end`);
  if (nonTwilioNeverAcked) problems.push(`GAVE UP: ${nonTwilioNeverAcked} Telegram/WhatsApp messages never acknowledged although the sender redelivers`);
  if (indexMissing.length) problems.push(`INDEX MISSING: ${indexMissing.length} stored messages have no D1 index row: ${indexMissing.slice(0, 10).map((m) => `${m.id} (seq ${m.seq} in ${m.conversationId})`).join(', ')}`);
  if (indexWrong.length) problems.push(`INDEX WRONG: ${indexWrong.length} index rows name another conversation or seq: ${indexWrong.slice(0, 5).map((m) => m.id).join(', ')}`);
  if (indexDoubled.length) problems.push(`INDEX DOUBLED: ${indexDoubled.length} messages have more than one index row`);
  if (indexExtra.length) problems.push(`INDEX EXTRA: ${indexExtra.length} index rows name no stored message: ${indexExtra.slice(0, 5).map((row) => row.id).join(', ')}`);
  if (receiver.counts.badSignature) problems.push(`SIGNATURE: ${receiver.counts.badSignature} customer webhook deliveries failed signature verification`);
  if (stored.failures.length) problems.push(`REST: ${stored.failures.length} conversations could not be listed: ${stored.failures.slice(0, 3).join('; ')}`);

  const line = (label: string, ...cols: (string | number)[]) => console.log(`  ${label.padEnd(50)}${cols.map((c) => String(c).padStart(10)).join('')}`);
  console.log('\nTimeline');
  for (const n of r.notes) console.log(`  ${n}`);
  console.log('\nChannel messages (acknowledged = at least one of its 3 webhook copies answered 2xx)');
  line('', ...CHANNELS, 'total');
  const cols = (f: (x: ReturnType<typeof perChannel>) => number) => [...CHANNELS.map((c) => f(rows[c])), f(all)];
  line('messages created', ...cols((x) => x.created));
  line('webhook copies sent (3 per message)', ...cols((x) => x.webhooksSent));
  line('  copies acknowledged (2xx)', ...cols((x) => x.webhooksAcked));
  line('  copies refused for good', ...cols((x) => x.webhooksRefused));
  line('  copies still pending', ...cols((x) => x.webhooksPending));
  line('  sender redeliveries (extra HTTP attempts)', ...cols((x) => x.redeliveries));
  line('messages acknowledged', ...cols((x) => x.acked));
  line('messages never acknowledged', ...cols((x) => x.neverAcked));
  line('acknowledged and stored exactly once', ...cols((x) => x.storedOnce));
  line('acknowledged but NOT stored (lost)', ...cols((x) => x.lost.length));
  line('stored more than once (doubled)', ...cols((x) => x.doubled.length));
  line('stored once but never acknowledged', ...cols((x) => x.storedNeverAcked));
  console.log('  Twilio does not retry: a message whose three posts all met a down (or overloaded) Parley is "never');
  console.log('  acknowledged", not lost; if Parley committed it before the connection died it is "stored but never acknowledged".');
  console.log('\nStored (REST API, every page of every conversation)');
  line('conversations listed', stored.conversations);
  line('messages listed', stored.messages.length);
  line('  channel messages of the run', stormStored.length);
  line('  probe messages', probeStored.length);
  line('seq violations (not strictly increasing)', stored.seqViolations.length);
  console.log('\nCustomer webhook (conversation:message; the receiver answered 500 during the outage)');
  line('deliveries received', receiver.counts.requests);
  line('  answered 500 during the outage', receiver.counts.refused500);
  line('  accepted (signature verified)', receiver.counts.accepted);
  line('  bad signature', receiver.counts.badSignature);
  line('raw duplicate deliveries (webhook-id seen before)', receiver.counts.duplicateDeliveries);
  line('raw duplicate events (event id seen before)', receiver.counts.duplicateEvents);
  line('message events received raw', rawMessageEvents);
  line('message events after dedupe by event id', receiver.messageEvents.size);
  line('run messages stored', stormStored.length);
  line('  announced by the end of the drain', announcedInRun.length);
  line('  announced only after the probe (stuck)', stuck.length);
  line('  never announced', stormStored.filter((m) => !eventsByMessage.has(m.id)).length);
  line('event delay once deliverable p50 / p99 / max', pct(50), pct(99), pct(100));
  line(`  late (> ${LATE_MS / 1000} s)`, late.length);
  line('stored messages with exactly one event id', stored.messages.filter((m) => eventsByMessage.get(m.id)?.count === 1).length);
  line('messages announced under >1 event id', announcedTwice.length);
  line('events arriving behind a later seq', receiver.counts.outOfOrder);
  console.log('\nD1 index (message_index, read after the run)');
  line('index rows of the app', r.index.length);
  line('stored messages with exactly one index row', stored.messages.filter((m) => indexById.get(m.id)?.length === 1).length);
  line('stored messages MISSING from the index', indexMissing.length);
  line('index rows with another conversation or seq', indexWrong.length);
  line('messages with more than one index row', indexDoubled.length);
  line('index rows for no stored message', indexExtra.length);
  console.log('\nProbe (one more message per user after the drain)');
  line('probes sent / acknowledged / announced', probes.length, probes.filter(isAcked).length, probes.filter((m) => announcedOriginals.has(m.id)).length);
  console.log('\nChannel sender HTTP attempts during the run');
  line('attempts / 2xx / failed', r.attemptsBeforeProbe.attempts, r.attemptsBeforeProbe.attemptsOk, r.attemptsBeforeProbe.attemptsFailed);
  console.log(`\nWall time ${(r.wallMs / 1000).toFixed(1)} s.`);
  if (late.length) {
    console.log(
      `WARNING: ${late.length} events came more than ${LATE_MS / 1000} s after the receiver could take them, e.g. ` +
        late.slice(-3).map((d) => `message ${d.m.id} in conversation ${d.m.conversationId} (${(d.delay / 1000).toFixed(0)} s; committed ${clock(d.m.received! - r.started)})`).join('; '),
    );
  }
  if (problems.length === 0) {
    console.log('OK: every acknowledged channel message is stored exactly once, seq increases, and every stored message was announced exactly once.');
    return { ok: true };
  }
  console.log('\nFAILED:');
  for (const p of problems) console.log(`  ${p}`);
  return { ok: false };
}
