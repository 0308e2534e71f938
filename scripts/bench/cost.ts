/**
 * Billable operations per message, and what they cost. The counts come from
 * Parley itself (GET /_bench/counters, scripts/bench/worker/counters.ts), read once the system
 * is quiet before and after a scenario, so queue consumers and index writes
 * a scenario set off are charged to it; the prices come from prices.json.
 */
import prices from './prices.json';
import { send } from './http';
import { sleep } from './load';
import type { CountersAnswer } from './worker/wire';

export type Counters = CountersAnswer;

export async function readCounters(parleyUrl: string): Promise<Counters> {
  const answer = await send({ method: 'GET', url: `${parleyUrl}/_bench/counters`, headers: {} });
  if (answer.status !== 200) throw new Error(`GET /_bench/counters answered ${answer.status}: is Parley running as the bench Worker (scripts/bench/worker/)?`);
  return JSON.parse(answer.body);
}

/** Whether the counts between two reads are whole: the same isolate counted both. */
export const sameIsolate = (a: Counters, b: Counters) => a.isolate === b.isolate;

const sameCounts = (a: Counters, b: Counters) => JSON.stringify({ ...a, doActiveMs: 0, statements: 0 }) === JSON.stringify({ ...b, doActiveMs: 0, statements: 0 });

/** Counters once nothing has moved for 1.35 s (the index queue waits up to 1 s to fill a batch), waiting at most `ms`. */
export async function quietCounters(parleyUrl: string, ms = 20_000): Promise<{ counters: Counters; quiet: boolean }> {
  const deadline = Date.now() + ms;
  let last = await readCounters(parleyUrl);
  let still = 0;
  for (;;) {
    await sleep(450);
    const next = await readCounters(parleyUrl);
    still = sameCounts(last, next) ? still + 1 : 0;
    last = next;
    if (still >= 3) return { counters: last, quiet: true };
    if (Date.now() > deadline) return { counters: last, quiet: false };
  }
}

const diffMap = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys(a).map((k) => [k, a[k]! - (b[k] ?? 0)]).filter(([, v]) => v !== 0));

export function diff(after: Counters, before: Counters): Counters {
  const out = { ...after };
  for (const k of Object.keys(after) as (keyof Counters)[]) {
    if (typeof after[k] === 'number') (out as any)[k] = (after[k] as number) - (before[k] as number);
  }
  out.doCalls = diffMap(after.doCalls, before.doCalls);
  out.queueMessages = diffMap(after.queueMessages, before.queueMessages);
  out.statements = Object.fromEntries(
    Object.entries(after.statements)
      .map(([k, [c, r, w]]): [string, [number, number, number]] => {
        const [c0, r0, w0] = before.statements[k] ?? [0, 0, 0];
        return [k, [c - c0, r - r0, w - w0]];
      })
      .filter(([, [c]]) => c !== 0)
      .sort((a, b) => b[1][2] - a[1][2]),
  );
  return out;
}

/** Billable units per message, keyed like prices.json. */
export type Units = Record<keyof typeof prices.prices, number> & { d1Queries: number; workerdCpuMs: number };

/** 128 MB per object, as Durable Objects duration is billed. */
const DO_GB = 128 / 1000;

/** `workerdCpuMs`: CPU the local runtime spent over the scenario, when the OS tells. */
export function unitsPerMessage(ops: Counters, messages: number, workerdCpuMs?: number): Units {
  const per = (n: number) => (messages > 0 ? n / messages : 0);
  return {
    workerRequests: per(ops.workerFetches + ops.queueInvocations),
    workerCpuMs: NaN,
    doRequests: per(ops.doRequests),
    doDurationGBs: per((ops.doActiveMs / 1000) * DO_GB),
    doRowsRead: per(ops.doRowsRead),
    doRowsWritten: per(ops.doRowsWritten),
    d1RowsRead: per(ops.d1RowsRead),
    d1RowsWritten: per(ops.d1RowsWritten),
    // Each message is written once, read once per delivery and deleted once.
    queueOperations: per(ops.queueWrites * 2 + ops.queueReads),
    r2ClassA: per(ops.r2ClassA),
    r2ClassB: per(ops.r2ClassB),
    // Not billed, but D1 answers one query at a time: the design's budget counts them.
    d1Queries: per(ops.d1Queries),
    // All of wrangler dev and its workerd (Worker, objects, local D1, queue broker, proxy): an upper bound of billed Worker CPU.
    workerdCpuMs: workerdCpuMs === undefined ? NaN : per(workerdCpuMs),
  };
}

export interface Cost {
  /** USD per million messages, counted items only. */
  total: number;
  lines: { item: keyof typeof prices.prices; perMessage: number; usdPerMillion: number }[];
  /** USD per million messages that each 1 ms of Worker CPU per invocation would add. */
  perCpuMsPerInvocation: number;
  /** USD per million messages if all of workerd's CPU were billed as Worker CPU: an upper bound. */
  cpuUpperBound: number;
}

export function costPerMillion(units: Units): Cost {
  const lines = (Object.keys(prices.prices) as (keyof typeof prices.prices)[])
    .filter((item) => prices.prices[item].counted)
    .map((item) => ({ item, perMessage: units[item], usdPerMillion: units[item] * prices.prices[item].usdPerMillion }));
  return {
    total: lines.reduce((sum, l) => sum + l.usdPerMillion, 0),
    lines,
    perCpuMsPerInvocation: units.workerRequests * prices.prices.workerCpuMs.usdPerMillion,
    cpuUpperBound: units.workerdCpuMs * prices.prices.workerCpuMs.usdPerMillion,
  };
}

export { prices };
