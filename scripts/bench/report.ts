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
  /** Undefined when the figure could not be measured in this run (Parley reloaded, CPU not readable). */
  met: boolean | undefined;
  margin: string;
  /** The measured figure and the goal as numbers, so runs can be compared without parsing text. */
  value: number | null;
  limit: number;
  /** How the goal is read, printed once under the list. */
  note?: string;
}

export const TARGETS_TITLE = 'Targets (issue 12: one lean message path)';

/** `value` against `limit`, higher or lower being better, with how much is left or missing. */
function judged(name: string, goal: string, measured: string, value: number, limit: number, better: 'higher' | 'lower', unit = ''): Target {
  if (!Number.isFinite(value)) return { name, goal, measured: 'not measured in this run', met: undefined, margin: 'n/a', value: null, limit };
  const met = better === 'higher' ? value >= limit : value <= limit;
  const fmt = (n: number) => `${Number(n.toPrecision(3))}${unit}`;
  let margin: string;
  if (better === 'higher') margin = met ? `met with ${((value / limit - 1) * 100).toFixed(0)}% to spare` : `missed: ${((1 - value / limit) * 100).toFixed(0)}% short (needs ≥ ${fmt(limit)})`;
  else if (met) margin = limit === 0 ? 'met' : `met with ${((1 - value / limit) * 100).toFixed(0)}% to spare`;
  else margin = limit === 0 ? `missed by ${fmt(value)}` : `missed: ${(value / limit).toFixed(1)}× the goal (needs ≤ ${fmt(limit)})`;
  return { name, goal, measured, met, margin, value: Number(value.toPrecision(4)), limit };
}

/** A read statement run on at least this share of messages is not cached: a cached read runs once per key and cache lifetime. */
export const UNCACHED_SHARE = 0.05;

/**
 * D1 reads (SELECT statements) per message, from the statements counted: all of them, and those
 * run often enough to be uncached (each on at least UNCACHED_SHARE of messages), the most frequent first.
 */
export function d1Reads(r: Result): { perMessage: number; uncached: number; uncachedQueries: string[] } {
  const per = (n: number) => (r.messages > 0 ? n / r.messages : NaN);
  const reads = Object.entries(r.ops.statements ?? {})
    .filter(([q]) => /^D1\s+(SELECT|WITH)\b/i.test(q))
    .map(([q, [calls]]) => ({ q: q.slice(3), share: per(calls) }))
    .sort((a, b) => b.share - a.share);
  const uncached = reads.filter((s) => s.share >= UNCACHED_SHARE);
  return {
    perMessage: reads.reduce((sum, s) => sum + s.share, 0),
    uncached: uncached.reduce((sum, s) => sum + s.share, 0),
    uncachedQueries: uncached.map((s) => `${s.share.toFixed(2)} ${s.q.length > 60 ? `${s.q.slice(0, 59)}…` : s.q}`),
  };
}

/** Issue 12's targets, each judged on this run's figures. */
export function targets(results: Result[]): Target[] {
  const get = (id: string) => results.find((r) => r.scenario.id === id);
  /** The one-DO-write floor at the same concurrency (each Parley scenario names it second). */
  const floorOf = (r: Result) => get(r.scenario.floors?.[1] ?? '');
  const out: Target[] = [];
  const counted = (r: Result, n: number) => (r.reloaded ? NaN : n);

  const returning = get('ingest');
  const returningFloor = returning && floorOf(returning);
  if (returning && returningFloor) {
    const t = returning.summary.perSecond / returningFloor.summary.perSecond;
    out.push(judged('ingest throughput (returning users)', '≥ 0.5 × the one-DO-write floor', `${returning.summary.perSecond.toFixed(0)}/s vs ${returningFloor.summary.perSecond.toFixed(0)}/s = ${x(t)}`, t, 0.5, 'higher', '×'));
    const p = returning.summary.p99 / returningFloor.summary.p99;
    out.push(judged('ingest p99 (returning users)', "≤ 2 × the one-DO-write floor's p99", `${ms(returning.summary.p99)} ms vs ${ms(returningFloor.summary.p99)} ms = ${x(p)}`, p, 2, 'lower', '×'));
  }
  const first = get('ingest-new');
  const firstFloor = first && floorOf(first);
  if (first && firstFloor) {
    const t = first.summary.perSecond / firstFloor.summary.perSecond;
    out.push(judged('ingest throughput (first contact)', '≥ 0.25 × the one-DO-write floor', `${first.summary.perSecond.toFixed(1)}/s vs ${firstFloor.summary.perSecond.toFixed(0)}/s = ${x(t)}`, t, 0.25, 'higher', '×'));
  }
  for (const [id, goal] of [['e2e', 150], ['e2e-idle', 15]] as const) {
    const r = get(id);
    if (!r) continue;
    const label = id === 'e2e' ? `${r.scenario.concurrency} senders` : 'one at a time';
    out.push(judged(`end-to-end p50 (${label})`, `≤ ${goal} ms`, `${ms(r.summary.p50)} ms`, r.summary.p50, goal, 'lower', ' ms'));
  }
  const api = get('api-send');
  const apiFloor = api && floorOf(api);
  if (api && apiFloor) {
    const t = api.summary.perSecond / apiFloor.summary.perSecond;
    out.push(judged('API send → channel fake throughput', '≥ 0.35 × the one-DO-write floor', `${api.summary.perSecond.toFixed(0)}/s vs ${apiFloor.summary.perSecond.toFixed(0)}/s = ${x(t)}`, t, 0.35, 'higher', '×'));
  }

  if (returning) {
    const u = returning.units;
    const each = 'per returning-user message (one webhook subscribed)';
    const lower = (what: string, value: number, limit: number, unit = '', digits = 2) =>
      out.push(judged(`${what} ${each}`, `≤ ${limit}${unit}`, Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : '–', value, limit, 'lower', unit));
    lower('DO requests', counted(returning, u.doRequests), 1.5);
    lower('DO rows written', counted(returning, u.doRowsWritten), 8, '', 1);
    lower('D1 rows written', counted(returning, u.d1RowsWritten), 1);
    const reads = d1Reads(returning);
    out.push({
      ...judged(
        `uncached D1 reads ${each}`,
        '0 (steady state)',
        `${counted(returning, reads.uncached).toFixed(3)} uncached of ${counted(returning, reads.perMessage).toFixed(3)} D1 reads per message${reads.uncachedQueries.length ? ` (${reads.uncachedQueries.join('; ')})` : ''}; ${num(counted(returning, u.d1Queries))} D1 queries in all`,
        counted(returning, reads.uncached),
        0,
        'lower',
      ),
      note: `"No uncached D1 query": in steady state an isolate cache answers every D1 read of a returning user's message, so D1 reads per message tend to 0 as a run gets longer. A SELECT run on 1 message in ${Math.round(1 / UNCACHED_SHARE)} or more is uncached, and its reads per message are the figure compared with 0; one run once per key and cache lifetime (a refresh) is not. D1 writes (the message index, the delivery log) fall under the rows-written target.`,
    });
    lower('queue operations', counted(returning, u.queueOperations), 3);
    lower('runtime CPU', counted(returning, u.workerdCpuMs), 6, ' ms', 1);
    out.push(judged(`list price ${each}`, '≤ $8 per million messages', returning.reloaded ? '–' : `${usd(returning.cost.total)} per million`, counted(returning, returning.cost.total), 8, 'lower', ' USD per million'));
  }
  if (first) {
    const u = first.units;
    const each = 'per first-contact message';
    const lower = (what: string, value: number, limit: number, unit = '', digits = 1) =>
      out.push(judged(`${what} ${each}`, `≤ ${limit}${unit}`, Number.isFinite(value) ? `${value.toFixed(digits)}${unit}` : '–', value, limit, 'lower', unit));
    lower('DO rows written', counted(first, u.doRowsWritten), 20);
    lower('D1 rows written', counted(first, u.d1RowsWritten), 4);
    lower('runtime CPU', counted(first, u.workerdCpuMs), 15, ' ms');
  }
  return out;
}

export function targetLines(list: Target[]): string {
  const mark = (t: Target) => (t.met === undefined ? 'n/a   ' : t.met ? 'MET   ' : 'MISSED');
  const met = list.filter((t) => t.met).length;
  return [
    ...list.map((t) => `  ${mark(t)}  ${t.name}: goal ${t.goal}; measured ${t.measured}; ${t.margin}`),
    `  ${met} of ${list.length} met${list.some((t) => t.met === undefined) ? ` (${list.filter((t) => t.met === undefined).length} not measurable in this run)` : ''}`,
    ...list.flatMap((t) => (t.note ? [`  note: ${t.note}`] : [])),
  ].join('\n');
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
