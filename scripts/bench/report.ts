/**
 * How results are shown: the absolute table, each Parley scenario as a ratio
 * to its floors, the billable operations and cost per message, and the
 * issue's targets with how far each is met or missed.
 */
import type { Check } from './checks';
import { prices, type Cost, type Counters, type Units } from './cost';
import type { Summary } from './load';
import type { Scenario } from './scenarios';

export interface Result {
  scenario: Scenario;
  summary: Summary;
  messages: number;
  ops: Counters;
  units: Units;
  cost: Cost;
  checks: Check[];
  notes: string[];
  extra: Record<string, unknown>;
  /** Share of the machine's CPU busy during the run, and of one core used by the bench process itself. */
  machineBusy: number | undefined;
  othersBusy: number | undefined;
  generatorCores: number;
  quiet: boolean;
  /** Parley was reloaded during the run: its operations could not be counted. */
  reloaded: boolean;
}

const ms = (n: number) => (Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n.toFixed(1)) : '–');
const x = (n: number) => (Number.isFinite(n) ? `${n >= 10 ? n.toFixed(0) : n.toFixed(2)}×` : '–');
const num = (n: number, digits = 2) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits)) : '–');
const usd = (n: number) => `$${n >= 10 ? n.toFixed(2) : n.toFixed(3)}`;

function table(header: string[], rows: string[][], alignLeft = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

const shortTitle = (r: Result) => r.scenario.title.replace(/^floor: /, 'floor: ');

export function absoluteTable(results: Result[]): string {
  return table(
    ['scenario', 'requests', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'checks', 'CPU busy', 'others'],
    results.map((r) => [
      shortTitle(r),
      String(r.summary.requests),
      r.summary.perSecond.toFixed(0),
      ms(r.summary.p50),
      ms(r.summary.p95),
      ms(r.summary.p99),
      String(r.summary.errors),
      r.checks.length === 0 ? '–' : r.checks.every((c) => c.ok) ? `${r.checks.length} ok` : `${r.checks.filter((c) => !c.ok).length} FAILED`,
      r.machineBusy === undefined ? '–' : `${Math.round(r.machineBusy * 100)}%`,
      r.othersBusy === undefined ? '–' : `${Math.round(r.othersBusy * 100)}%`,
    ]),
  );
}

export interface Ratio {
  scenario: string;
  floor: string;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
}

export function ratios(results: Result[]): Ratio[] {
  const byId = new Map(results.map((r) => [r.scenario.id, r]));
  const out: Ratio[] = [];
  for (const r of results) {
    for (const f of r.scenario.floors ?? []) {
      const floor = byId.get(f);
      if (!floor) continue;
      out.push({
        scenario: r.scenario.id,
        floor: f,
        throughput: r.summary.perSecond / floor.summary.perSecond,
        p50: r.summary.p50 / floor.summary.p50,
        p95: r.summary.p95 / floor.summary.p95,
        p99: r.summary.p99 / floor.summary.p99,
      });
    }
  }
  return out;
}

export function ratioTable(results: Result[], list: Ratio[]): string {
  const title = (id: string) => results.find((r) => r.scenario.id === id)!.scenario.title;
  return table(
    ['scenario', 'compared with', 'req/s', 'p50', 'p95', 'p99'],
    list.map((q) => [q.scenario, title(q.floor).replace(/^floor: /, ''), x(q.throughput), x(q.p50), x(q.p95), x(q.p99)]),
    2,
  );
}

export function costTable(results: Result[]): string {
  return table(
    ['per message', 'Worker inv.', 'DO req.', 'DO GB-s', 'DO rows r/w', 'D1 queries', 'D1 rows r/w', 'Queue ops', 'R2 A/B', '$ / M msgs', 'runtime CPU ms'],
    results.map((r) => {
      const u = r.units;
      if (r.reloaded) return [r.scenario.id, ...Array(10).fill('–').slice(0, 9), 'reloaded'];
      return [
        r.scenario.id,
        num(u.workerRequests),
        num(u.doRequests),
        u.doDurationGBs.toExponential(1),
        `${num(u.doRowsRead, 1)}/${num(u.doRowsWritten, 1)}`,
        num(u.d1Queries),
        `${num(u.d1RowsRead, 1)}/${num(u.d1RowsWritten, 1)}`,
        num(u.queueOperations),
        `${num(u.r2ClassA)}/${num(u.r2ClassB)}`,
        usd(r.cost.total),
        num(u.workerdCpuMs, 1),
      ];
    }),
  );
}

export function costBreakdown(r: Result): string {
  if (r.reloaded) return `${r.scenario.id}: not counted (Parley was reloaded during the run)`;
  const parts = r.cost.lines.filter((l) => l.usdPerMillion >= 0.0005).sort((a, b) => b.usdPerMillion - a.usdPerMillion);
  const cpu = Number.isFinite(r.cost.cpuUpperBound) ? ` (at most ${usd(r.cost.cpuUpperBound)} if all the local runtime's CPU here were Worker CPU)` : '';
  return `${r.scenario.id}: ${parts.map((l) => `${l.item} ${usd(l.usdPerMillion)}`).join(', ')}; CPU not counted: + ${usd(r.cost.perCpuMsPerInvocation)} per ms of Worker CPU per invocation${cpu}`;
}

/** The statements that wrote the most rows per message, DO and D1 alike. */
export function topWriters(r: Result, n = 5): string {
  if (r.reloaded) return `${r.scenario.id}: not counted (Parley was reloaded during the run)`;
  const per = (x: number) => (r.messages > 0 ? x / r.messages : 0);
  const top = Object.entries(r.ops.statements ?? {})
    .filter(([q, [, , w]]) => w > 0 && !q.startsWith('local '))
    .slice(0, n)
    .map(([q, [, , w]]) => `${per(w).toFixed(2)} ${q.length > 70 ? `${q.slice(0, 69)}…` : q}`);
  return `${r.scenario.id}: rows written per message, largest first:\n${top.map((t) => `      ${t}`).join('\n')}`;
}

export interface Target {
  name: string;
  goal: string;
  measured: string;
  met: boolean | undefined;
  margin: string;
}

export function targets(results: Result[]): Target[] {
  const get = (id: string) => results.find((r) => r.scenario.id === id);
  const out: Target[] = [];
  for (const id of ['ingest', 'ingest-new']) {
    const ingest = get(id);
    const floor = ingest && get(ingest.scenario.floors![1]!);
    if (!ingest || !floor) continue;
    const which = id === 'ingest' ? 'returning users' : 'first contact';
    const t = ingest.summary.perSecond / floor.summary.perSecond;
    out.push({
      name: `ingest throughput (${which})`,
      goal: '≥ 0.6 × the one-DO-write floor',
      measured: `${ingest.summary.perSecond.toFixed(0)}/s vs ${floor.summary.perSecond.toFixed(0)}/s = ${t.toFixed(2)}×`,
      met: t >= 0.6,
      margin: t >= 0.6 ? `met with ${((t / 0.6 - 1) * 100).toFixed(0)}% to spare` : `missed: ${((1 - t / 0.6) * 100).toFixed(0)}% short (needs ${(0.6 * floor.summary.perSecond).toFixed(0)}/s)`,
    });
    const p = ingest.summary.p99 / floor.summary.p99;
    out.push({
      name: `ingest p99 (${which})`,
      goal: "≤ 2 × the one-DO-write floor's p99",
      measured: `${ms(ingest.summary.p99)} ms vs ${ms(floor.summary.p99)} ms = ${p.toFixed(2)}×`,
      met: p <= 2,
      margin: p <= 2 ? `met with ${((1 - p / 2) * 100).toFixed(0)}% to spare` : `missed: ${((p / 2 - 1) * 100).toFixed(0)}% over (needs ≤ ${ms(2 * floor.summary.p99)} ms)`,
    });
  }
  for (const id of ['e2e', 'e2e-idle']) {
    const r = get(id);
    if (!r) continue;
    const p50 = r.summary.p50;
    out.push({
      name: `end-to-end p50 (${id === 'e2e' ? `${r.scenario.concurrency} senders` : 'one at a time'})`,
      goal: '< 100 ms locally',
      measured: `${ms(p50)} ms`,
      met: p50 < 100,
      margin: p50 < 100 ? `met with ${(100 - p50).toFixed(0)} ms to spare` : `missed by ${(p50 - 100).toFixed(0)} ms (${(p50 / 100).toFixed(1)}× the goal)`,
    });
  }
  return out;
}

export function targetLines(list: Target[]): string {
  return list.map((t) => `  ${t.met ? 'MET   ' : 'MISSED'}  ${t.name}: goal ${t.goal}; measured ${t.measured}; ${t.margin}`).join('\n');
}

export const NOT_COUNTED = [
  "Worker CPU time: workerd does not report it per invocation; the 'runtime CPU ms' column is all CPU of wrangler dev and its workerd processes (Worker, objects, local D1, queue broker, proxy) per message, an upper bound",
  "Durable Object duration is the wall time calls and alarms were in flight here: it grows with this machine's latency under load, and misses work an object does after answering (its outbox drain)",
  'Queue operations are counted where messages are consumed, 64 KB units, one write and one delete per first delivery',
  "R2 is counted as the Worker calls it; these scenarios send no media, so it stays 0",
  'Storage (GB-month) of D1, Durable Objects and R2: not a per-message operation',
  "Prices are list prices beyond the Workers Paid plan's monthly inclusions (ignored here)",
];

export const priceSources = () =>
  Object.entries(prices.prices).map(([k, p]) => `  ${k.padEnd(16)} $${p.usdPerMillion} per million ${p.unit}${p.counted ? '' : ' (not counted)'}\n  ${''.padEnd(16)} ${p.page} (checked ${prices.checked} against ${p.checkedAgainst})`);
