/**
 * `npm run bench`: Parley's load benchmark. Starts Parley on workerd with
 * fresh state in a temporary folder, as the bench Worker (scripts/bench/worker/:
 * Parley's entry points plus its floor routes and counters), the Telegram, Twilio and Meta fakes and a customer webhook
 * receiver on loopback; runs the floors and the scenarios one after another;
 * prints absolute figures, ratios to the floors, operations and cost per
 * message and the targets; and writes `.parley/bench/<time>.json`
 * with a latency chart beside it (`.svg`).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CHANNELS, DEFAULT_CHANNELS, startChannels, type Channel } from './channels';
import { latencyChart } from './chart';
import { costPerMillion, diff, prices, quietCounters, sameIsolate, unitsPerMessage } from './cost';
import { Api, basic, closeConnections, now } from './http';
import { summarize, type Sample } from './load';
import { startReceiver } from './receiver';
import { NOT_COUNTED, TARGETS_TITLE, absoluteTable, costBreakdown, costTable, priceSources, ratioTable, ratios, targetLines, targets, topWriters, type Result } from './report';
import { Listings } from './checks';
import { SIZES, apiSend, doWriteFloor, endToEnd, hotConversation, ingest, noopFloor, round, type Ctx, type Run, type Scenario } from './scenarios';

type StartParley = (opts: { port?: number; persistTo: string; vars?: Record<string, string>; quiet?: boolean }) => Promise<{ url: string; child: { pid?: number }; stop: () => Promise<void> }>;

const PARLEY_SCENARIOS = ['ingest-new', 'ingest', 'hot', 'api-send', 'e2e', 'e2e-idle'] as const;
const ACCOUNT = { id: 'act_bench00000000000000000001', secret: 'bench-account-secret' };

const HELP = `npm run bench [-- options]

  --quick              smaller sizes (about a quarter), for a fast look
  --scenario=a,b       only these: ${PARLEY_SCENARIOS.join(', ')} (the floors they are compared with always run)
  --channels=a,b       the channels the users write on (default ${DEFAULT_CHANNELS.join(',')}; any of ${CHANNELS.join(', ')}),
                       e.g. --channels=line for one channel's own inbound and outbound figures
  --switchboard        the app runs an enabled switchboard (the customer webhook's integration the default, in
                       control of every conversation, beside a second switchboard integration in standby), to
                       measure what switchboard routing adds to a message
  --port=N             port for wrangler dev (default 8897; N+10000 is its inspector)

Starts Parley locally with fresh state and prints, per scenario, requests/s and
p50/p95/p99 latency (also as ratios to a bare Worker and a Worker doing one
Durable Object write, measured in the same run), correctness checks, billable
operations and cost per million messages. Writes .parley/bench/<time>.json and .svg.`;

/**
 * CPU time (ms) used so far by a process and all its descendants, from /proc (Linux; undefined
 * elsewhere): for wrangler dev, its workerd processes, where Parley's Worker, Durable Objects,
 * D1 and queue broker all run.
 */
function treeCpuMs(root: number | undefined): number | undefined {
  if (root === undefined) return undefined;
  try {
    const stats = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .flatMap((pid) => {
        try {
          // Fields after the command name, which may itself hold spaces and parentheses.
          const after = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
          return [{ pid: Number(pid), ppid: Number(after[1]), ticks: Number(after[11]) + Number(after[12]) }];
        } catch {
          return [];
        }
      });
    const children = new Map<number, number[]>();
    for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s.pid]);
    const ticks = new Map(stats.map((s) => [s.pid, s.ticks]));
    let total = 0;
    for (const stack = [root]; stack.length; ) {
      const pid = stack.pop()!;
      total += ticks.get(pid) ?? 0;
      stack.push(...(children.get(pid) ?? []));
    }
    // Linux reports in clock ticks of 1/100 s.
    return total * 10;
  } catch {
    return undefined;
  }
}

/** Busy share of all CPUs between two reads of /proc/stat (Linux); undefined elsewhere. */
function cpuTimes(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3]! + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export async function runBench({ argv, startParley, root }: { argv: string[]; startParley: StartParley; root: string }): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean', default: false }, switchboard: { type: 'boolean', default: false }, channels: { type: 'string' }, scenario: { type: 'string' }, port: { type: 'string', default: '8897' }, help: { type: 'boolean', default: false } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const chosen = values.scenario ? values.scenario.split(',').map((s) => s.trim()) : [...PARLEY_SCENARIOS];
  const unknown = chosen.filter((s) => !(PARLEY_SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) {
    console.error(`Unknown scenario ${unknown.join(', ')}; scenarios: ${PARLEY_SCENARIOS.join(', ')}`);
    return 2;
  }
  const sizes = SIZES[values.quick ? 'quick' : 'full'];
  const channelList = (values.channels ? values.channels.split(',').map((c) => c.trim()) : [...DEFAULT_CHANNELS]) as Channel[];
  const unknownChannels = channelList.filter((c) => !(CHANNELS as readonly string[]).includes(c));
  if (unknownChannels.length || channelList.length === 0) {
    console.error(`Unknown channel ${unknownChannels.join(', ')}; channels: ${CHANNELS.join(', ')}`);
    return 2;
  }
  const parleyScenarios: Scenario[] = [
    ingest(32, true),
    ingest(32, false),
    hotConversation(64),
    apiSend(32),
    endToEnd(32),
    endToEnd(1, true),
  ].filter((s) => chosen.includes(s.id));
  const floorIds = new Set(parleyScenarios.flatMap((s) => s.floors ?? []));
  const floors: Scenario[] = [noopFloor(32), noopFloor(64), noopFloor(1), doWriteFloor(32, 1000), doWriteFloor(64, 1), doWriteFloor(1, 1000)].filter((f) => floorIds.has(f.id));
  const scenarios = [...floors, ...parleyScenarios];

  const startedAt = new Date();
  const loadBefore = loadavg();
  console.log(`Parley bench${values.quick ? ' (quick)' : ''}${values.switchboard ? ' with a switchboard' : ''}, channels ${channelList.join(', ')}: ${scenarios.length} runs on loopback, Parley on wrangler dev (workerd), fresh state`);
  console.log(`  machine: ${cpus().length} CPUs (${cpus()[0]?.model.trim() ?? '?'}), load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, Node ${process.version}`);
  if (loadBefore[0]! > cpus().length * 0.5) console.log(`  note: the machine is already busy (1-minute load ${loadBefore[0]!.toFixed(2)}); figures will be lower than on a quiet machine`);

  const persistTo = mkdtempSync(path.join(tmpdir(), 'parley-bench-'));
  const closers: (() => Promise<unknown>)[] = [async () => rmSync(persistTo, { recursive: true, force: true })];
  try {
    const t0 = now();
    const parley = await startParley({
      port: Number(values.port),
      persistTo,
      quiet: true,
      vars: { PARLEY_ENV: 'local', ACCOUNT_KEY_ID: ACCOUNT.id, ACCOUNT_KEY_SECRET: ACCOUNT.secret, MASTER_KEY: Buffer.alloc(32, 7).toString('base64') },
    });
    closers.unshift(() => parley.stop());
    console.log(`  Parley is up at ${parley.url} (${((now() - t0) / 1000).toFixed(1)} s, state in ${persistTo})`);

    const account = new Api(parley.url, basic(ACCOUNT.id, ACCOUNT.secret));
    const { app } = await account.call('POST', '/v2/apps', { displayName: 'Parley bench' });
    const { key } = await account.call('POST', `/v2/apps/${app.id}/keys`, { displayName: 'bench' });
    const auth = basic(key.id, key.secret);
    const api = account.as(auth);
    const receiver = await startReceiver();
    closers.unshift(() => receiver.close());
    const { integration: hooked } = await api.call('POST', `/v2/apps/${app.id}/integrations`, { type: 'custom', displayName: 'Bench: customer webhook', webhooks: [{ target: receiver.url, triggers: ['conversation:message'] }] });
    if (values.switchboard) {
      const { switchboard } = await api.call('POST', `/v2/apps/${app.id}/switchboards`);
      const sbBase = `/v2/apps/${app.id}/switchboards/${switchboard.id}/switchboardIntegrations`;
      await api.call('POST', sbBase, { name: 'desk', integrationType: 'zd:agentWorkspace', deliverStandbyEvents: false });
      const { switchboardIntegration: bot } = await api.call('POST', sbBase, { name: 'bot', integrationId: hooked.id, deliverStandbyEvents: false });
      await api.call('PATCH', `/v2/apps/${app.id}/switchboards/${switchboard.id}`, { enabled: true, defaultSwitchboardIntegrationId: bot.id });
      console.log('  switchboard enabled: every conversation starts on the webhook\'s integration ("bot"), "desk" in standby');
    }
    const channels = await startChannels(api, app.id, channelList);
    closers.unshift(() => channels.close());
    const ctx: Ctx = { parleyUrl: parley.url, appId: app.id, auth, api, channels, receiver, sizes, conversations: new Map() };

    const results: Result[] = [];
    const samplesOf = new Map<string, Sample[]>();
    let lastQuiet: Awaited<ReturnType<typeof quietCounters>> | undefined;
    const pendingChecks = new Map<string, NonNullable<Run['check']>>();
    for (const scenario of scenarios) {
      console.log(`\n▸ ${scenario.title}`);
      const began = now();
      await scenario.prepare?.(ctx);
      // The previous run ended quiet and nothing ran since: with nothing to prepare, its counters still hold.
      const before = !scenario.prepare && lastQuiet?.quiet ? lastQuiet : await quietCounters(parley.url);
      const cpu0 = cpuTimes();
      const workerd0 = treeCpuMs(parley.child.pid);
      const own0 = process.cpuUsage();
      const wall0 = now();
      const run = await scenario.run(ctx);
      const own = process.cpuUsage(own0);
      const ownMs = (own.user + own.system) / 1000;
      const wall = now() - wall0;
      const cpu1 = cpuTimes();
      const workerdRun = treeCpuMs(parley.child.pid);
      const after = (lastQuiet = await quietCounters(parley.url));
      const workerd1 = treeCpuMs(parley.child.pid);
      const ops = diff(after.counters, before.counters);
      const summary = summarize(run.samples);
      // A reload restarts the counters (and workerd's processes): nothing of this run can be counted then.
      const reloaded = !sameIsolate(before.counters, after.counters);
      const units = unitsPerMessage(ops, reloaded ? 0 : run.messages, workerd0 !== undefined && workerd1 !== undefined && !reloaded ? workerd1 - workerd0 : undefined);
      if (run.check) pendingChecks.set(scenario.id, run.check);
      const result: Result = {
        scenario,
        summary,
        messages: run.messages,
        ops,
        units,
        cost: costPerMillion(units),
        checks: [],
        notes: run.notes ?? [],
        extra: run.extra ?? {},
        machineBusy: cpu0 && cpu1 ? (cpu1.busy - cpu0.busy) / Math.max(1, cpu1.total - cpu0.total) : undefined,
        // What neither Parley's runtime nor the bench used: other processes competing for the machine.
        othersBusy:
          cpu0 && cpu1 && workerd0 !== undefined && workerdRun !== undefined
            ? Math.max(0, (cpu1.busy - cpu0.busy) * 10 - (workerdRun - workerd0) - ownMs) / Math.max(1, (cpu1.total - cpu0.total) * 10)
            : undefined,
        generatorCores: ownMs / wall,
        quiet: before.quiet && after.quiet,
        reloaded,
      };
      results.push(result);
      samplesOf.set(scenario.id, run.samples);
      console.log(
        `  ${summary.requests} requests in ${summary.seconds.toFixed(1)} s: ${summary.perSecond.toFixed(0)}/s, p50 ${summary.p50.toFixed(1)} ms, p95 ${summary.p95.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms, ${summary.errors} errors` +
          (result.machineBusy !== undefined ? `; CPU ${Math.round(result.machineBusy * 100)}% busy, the bench itself ${Math.round(result.generatorCores * 100)}% of a core` : '') +
          (result.othersBusy !== undefined ? `, other processes ${Math.round(result.othersBusy * 100)}% of the machine` : ''),
      );
      for (const n of result.notes) console.log(`  ${n}`);
      if (!result.quiet) console.log('  note: Parley was still busy when the counters were read; operations may be charged to the next run');
      if (reloaded) console.log('  note: Parley was reloaded during this run (wrangler dev restarts when a source file changes): its requests may have failed and its operations are not counted');
      console.log(`  (${((now() - began) / 1000).toFixed(1)} s with setup and settling)`);
    }

    // Read back once everything is written: each conversation is listed once for all the checks.
    console.log('\n▸ correctness checks');
    const listings = new Listings(api, app.id);
    for (const r of results) {
      const check = pendingChecks.get(r.scenario.id);
      if (!check) continue;
      r.checks = await check(listings);
      for (const c of r.checks) console.log(`  ${r.scenario.id.padEnd(10)} ${c.ok ? 'ok    ' : 'FAILED'} ${c.name}: ${c.detail}`);
    }

    const ratioList = ratios(results);
    const targetList = targets(results);
    console.log('\nResults (latency in ms on loopback; throughput from first send to last measured moment; CPU busy: the whole machine; others: processes neither Parley nor the bench)\n');
    console.log(absoluteTable(results));
    console.log('\nAgainst the floors, same run and runtime (req/s: higher is better; latency: lower is better)\n');
    console.log(ratioTable(results, ratioList));
    console.log('\nBillable operations per message (per request for the floors) and list-price cost per million\n');
    console.log(costTable(results));
    console.log('');
    for (const r of results.filter((r) => r.scenario.kind === 'parley')) console.log(`  ${costBreakdown(r)}`);
    console.log('');
    for (const r of results.filter((r) => r.scenario.kind === 'parley')) console.log(`  ${topWriters(r)}`);
    console.log(`\n${TARGETS_TITLE}\n`);
    console.log(targetLines(targetList));
    console.log('\nNot counted');
    for (const n of NOT_COUNTED) console.log(`  - ${n}`);
    console.log('\nPrices (scripts/bench/prices.json)');
    console.log(priceSources().join('\n'));

    const loadAfter = loadavg();
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const dir = path.join(root, '.parley', 'bench');
    mkdirSync(dir, { recursive: true });
    const jsonFile = path.join(dir, `${stamp}.json`);
    const svgFile = path.join(dir, `${stamp}.svg`);
    const timeline = (id: string) => {
      const samples = samplesOf.get(id)!;
      const start = Math.min(...samples.map((s) => s.start));
      return samples.map((s) => [round((s.start - start) / 1000, 3), round(s.end - s.start, 2), s.ok ? 1 : 0]);
    };
    writeFileSync(
      jsonFile,
      `${JSON.stringify(
        {
          startedAt: startedAt.toISOString(),
          finishedAt: new Date().toISOString(),
          options: { quick: values.quick, switchboard: values.switchboard, channels: channelList, scenarios: chosen },
          machine: { cpus: cpus().length, model: cpus()[0]?.model.trim(), loadavgBefore: loadBefore, loadavgAfter: loadAfter, node: process.version, platform: process.platform },
          sizes,
          results: results.map((r) => ({
            id: r.scenario.id,
            title: r.scenario.title,
            kind: r.scenario.kind,
            concurrency: r.scenario.concurrency,
            measures: r.scenario.measures,
            summary: { ...r.summary, perSecond: round(r.summary.perSecond), p50: round(r.summary.p50, 2), p95: round(r.summary.p95, 2), p99: round(r.summary.p99, 2), max: round(r.summary.max, 2) },
            messages: r.messages,
            operations: r.ops,
            perMessage: Object.fromEntries(Object.entries(r.units).map(([k, v]) => [k, Number.isFinite(v) ? Number(v.toPrecision(4)) : null])),
            costPerMillionMessages: { totalUsd: Number(r.cost.total.toPrecision(4)), lines: r.cost.lines.map((l) => ({ ...l, perMessage: Number(l.perMessage.toPrecision(4)), usdPerMillion: Number(l.usdPerMillion.toPrecision(4)) })), usdPerCpuMsPerInvocation: Number(r.cost.perCpuMsPerInvocation.toPrecision(4)) },
            checks: r.checks,
            extra: r.extra,
            notes: r.notes,
            machineBusy: r.machineBusy === undefined ? null : round(r.machineBusy, 3),
            otherProcessesBusy: r.othersBusy === undefined ? null : round(r.othersBusy, 3),
            benchProcessCores: round(r.generatorCores, 3),
            countersSettled: r.quiet,
            reloadedDuringRun: r.reloaded,
            // [seconds since the scenario's first send, latency ms, ok]
            samples: timeline(r.scenario.id),
          })),
          ratios: ratioList.map((q) => ({ ...q, throughput: round(q.throughput, 3), p50: round(q.p50, 3), p95: round(q.p95, 3), p99: round(q.p99, 3) })),
          targets: targetList,
          notCounted: NOT_COUNTED,
          prices,
        },
        null,
        1,
      )}\n`,
    );
    writeFileSync(
      svgFile,
      latencyChart(
        `Parley bench ${startedAt.toISOString()}: latency over time (log scale)`,
        results.map((r) => ({ title: r.scenario.title, measures: r.scenario.measures, samples: samplesOf.get(r.scenario.id)! })),
      ),
    );
    console.log(`\nWrote ${path.relative(process.cwd(), jsonFile)}\n  and ${path.relative(process.cwd(), svgFile)}`);
    console.log(`  load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
    const failed = results.flatMap((r) => r.checks.filter((c) => !c.ok).map((c) => `${r.scenario.id}: ${c.name}`));
    if (failed.length) {
      console.log(`\nCorrectness checks FAILED: ${failed.join('; ')}`);
      return 1;
    }
    return 0;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    closeConnections();
  }
}
