/**
 * `npm run bench:model`: the scale model. Reads the operations per message a
 * bench run measured (the newest `.parley/bench/*.json` holding the ingest
 * scenarios, or --from=file) and Cloudflare's published limits (limits.json),
 * and prints, for message rates spread over N conversations, each resource's
 * share of its limit, which one saturates first and at what rate, and what
 * moves it. The arithmetic is in scale.ts; this file reads, chooses and prints.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import limitsFile from './limits.json';
import prices from './prices.json';
import {
  blend,
  bySaturation,
  hotCases,
  instancesNeeded,
  profileOf,
  resources,
  ROLES,
  saturationRate,
  utilisation,
  type Deployment,
  type Limits,
  type Profile,
  type Resource,
  type Role,
  type ScenarioFigures,
} from './scale';

const HELP = `npm run bench:model [-- options]

  --from=FILE                a bench JSON (default: the newest .parley/bench/*.json with the ingest scenarios)
  --conversations=A,B        active conversations the load is spread over (default 10000,1000000)
  --rates=A,B,C              messages per second (default 1000,10000,100000)
  --first-contact=F          share of messages that are a channel user's first (default 0.05)
  --users=N                  users behind the conversations (default: one per conversation)
  --apps=N                   apps sharing the traffic (default 1: one customer, the worst case for anything per app)
  --queue-shards=N           queues of each kind (default 1, as deployed today)
  --d1-shards=N              D1 databases (default 1, as deployed today)
  --d1-query-ms=MS           average D1 query time (default 1, the docs' example for 1,000 queries/s; writes take longer)
  --d1-bytes-per-message=B   bytes each message leaves in D1, an assumption for the storage line (default 1000)
  --design-rate=R            the rate the sharded design is sized for (default 10000)

Prints, per resource, its share of Cloudflare's published limit (scripts/bench/limits.json) at each
rate, which saturates first and at what rate, and how many shards keep each at or under half its limit.`;

const LIMITS: Limits = {
  doRequestsPerObject: limitsFile.limits.doRequestsPerObject.value,
  queueMessagesPerQueue: limitsFile.limits.queueMessagesPerQueue.value,
  d1QueriesPerDatabase: limitsFile.limits.d1QueriesPerDatabase.value,
  d1QueryMsAtLimit: limitsFile.limits.d1QueriesPerDatabase.atQueryMs,
};
/** The line the issue draws: nothing above half its published limit. */
const CEILING = 0.5;

/**
 * Used only when no bench run exists: issue 12's table (full run, 2026-12-06),
 * DO requests and queue messages split by role and queue as in that day's
 * quick run (user objects: one claimDefaultConversation per first contact).
 */
const BUILT_IN: Record<'returning' | 'first', Profile> = {
  returning: {
    source: "built-in: issue 12's table (full run 2026-12-06), not measured here",
    doRequests: { conversation: 4.9, user: 0, identity: 0, app: 0, global: 0 },
    queueMessages: { 'parley-webhooks': 1, 'parley-index': 1 },
    d1Reads: 0,
    d1Writes: 3,
    cpuMs: 23.6,
  },
  first: {
    source: "built-in: issue 12's table (full run 2026-12-06), not measured here",
    doRequests: { conversation: 7, user: 1, identity: 0, app: 0, global: 0 },
    queueMessages: { 'parley-webhooks': 2, 'parley-index': 2 },
    d1Reads: 2,
    d1Writes: 9,
    cpuMs: 55.6,
  },
};

interface BenchResult extends ScenarioFigures {
  id: string;
  reloadedDuringRun?: boolean;
}
interface BenchRun {
  startedAt: string;
  options?: { quick?: boolean };
  results: BenchResult[];
}

const SCENARIO = { returning: 'ingest', first: 'ingest-new' } as const;

/** The newest run holding a counted result of each ingest scenario (each may come from a different run). */
function findRuns(root: string, from: string | undefined): { file: string; run: BenchRun }[] {
  if (from) return [{ file: from, run: JSON.parse(readFileSync(from, 'utf8')) as BenchRun }];
  const dir = path.join(root, '.parley', 'bench');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse()
    .map((f) => {
      try {
        return [{ file: path.join(dir, f), run: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as BenchRun }];
      } catch {
        return [];
      }
    })
    .flat();
}

function pick(runs: { file: string; run: BenchRun }[], id: string, root: string): { profile: Profile; unmapped: string[] } | undefined {
  for (const { file, run } of runs) {
    const r = run.results.find((x) => x.id === id && !x.reloadedDuringRun && x.messages > 0);
    if (!r) continue;
    const when = run.startedAt.replace(/:\d\d\.\d+Z$/, 'Z').replace('T', ' ');
    return profileOf(`${id} in ${path.relative(root, file) || file} (${run.options?.quick ? 'quick run' : 'full run'}, ${when}, ${r.messages} messages)`, r);
  }
  return undefined;
}

// ---- formatting ------------------------------------------------------------------

const int = (n: number) => Math.round(n).toLocaleString('en');
function rate(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const sig = (x: number) => Number(x.toPrecision(3)).toLocaleString('en');
  if (n >= 1e9) return `${sig(n / 1e9)}G`;
  if (n >= 1e6) return `${sig(n / 1e6)}M`;
  if (n >= 1e3) return `${sig(n / 1e3)}k`;
  return int(n);
}
const short = (n: number) => (!Number.isFinite(n) ? '–' : n === 0 ? '0' : n >= 100 ? int(n) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const rateLabel = (n: number) => `${rate(n)}/s`;
function pct(u: number): string {
  const p = u * 100;
  const text = p >= 100 ? `${int(p)}%` : p >= 10 ? `${p.toFixed(0)}%` : p >= 0.1 ? `${p.toFixed(1)}%` : p > 0 ? '<0.1%' : '0%';
  return `${text}${u >= 1 ? ' !!' : u > CEILING ? ' ! ' : '   '}`;
}

function table(header: string[], rows: string[][], alignLeft = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].map((l) => `  ${l}`.trimEnd()).join('\n');
}

const unitShort: Record<string, string> = { requests: 'req', messages: 'msgs', queries: 'queries' };

function resourceTable(list: Resource[], rates: number[]): string {
  return table(
    ['resource', 'instances', 'per message', 'limit, each', 'limit reached at', ...rates.map(rateLabel)],
    bySaturation(list).map((r) => [
      r.name,
      int(r.instances),
      `${short(r.perMessage)} ${unitShort[r.unit] ?? r.unit}`,
      `${int(r.limit)} ${unitShort[r.unit] ?? r.unit}/s`,
      `${rate(saturationRate(r))} msg/s`,
      ...rates.map((x) => pct(utilisation(r, x))),
    ]),
  );
}

/** What keeps every resource at or under the ceiling at `at` messages per second. */
function moves(list: Resource[], at: number): string {
  const over = bySaturation(list).filter((r) => utilisation(r, at) > CEILING);
  if (over.length === 0) return 'nothing to move: every resource is at or under half its limit';
  return over
    .map((r) => {
      if (!r.shardable && r.kind === 'object') return `${r.name}: ${pct(utilisation(r, at)).trim()}; ${r.lever}`;
      const n = instancesNeeded(r, at, CEILING);
      const noun = r.kind === 'queue' ? 'queues of this kind' : r.kind === 'database' ? 'databases' : 'objects';
      return `${r.name.replace(/ \((the only one|each of \d+)\)$/, '').replace(/^D1 database$/, 'D1')}: ${int(n)} ${noun} (now ${pct(utilisation(r, at)).trim()})`;
    })
    .join('; ');
}

function profileTable(cols: { title: string; p: Profile }[]): string {
  const queues = [...new Set(cols.flatMap((c) => Object.keys(c.p.queueMessages)))].sort();
  const roles = ROLES.filter((r) => cols.some((c) => c.p.doRequests[r] > 0));
  const rows: string[][] = [
    ...roles.map((r: Role) => [`DO requests, ${r} objects`, ...cols.map((c) => short(c.p.doRequests[r]))]),
    ...queues.map((q) => [`queue messages, ${q}`, ...cols.map((c) => short(c.p.queueMessages[q] ?? 0))]),
    ['D1 reads (SELECT)', ...cols.map((c) => short(c.p.d1Reads))],
    ['D1 writes (other statements)', ...cols.map((c) => short(c.p.d1Writes))],
    ['runtime CPU ms (upper bound)', ...cols.map((c) => short(c.p.cpuMs))],
  ];
  return table(['per message', ...cols.map((c) => c.title)], rows);
}

// ---- the model ---------------------------------------------------------------------

const list = (s: string | undefined, fallback: number[]) => (s ? s.split(',').map((x) => Number(x.trim())) : fallback);

export function runModel({ argv, root }: { argv: string[]; root: string }): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string' },
      conversations: { type: 'string' },
      rates: { type: 'string' },
      'first-contact': { type: 'string', default: '0.05' },
      users: { type: 'string' },
      apps: { type: 'string', default: '1' },
      'queue-shards': { type: 'string', default: '1' },
      'd1-shards': { type: 'string', default: '1' },
      'd1-query-ms': { type: 'string', default: '1' },
      'd1-bytes-per-message': { type: 'string', default: '1000' },
      'design-rate': { type: 'string', default: '10000' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const conversationCounts = list(values.conversations, [10_000, 1_000_000]);
  const rates = list(values.rates, [1_000, 10_000, 100_000]);
  const firstShare = Number(values['first-contact']);
  const designRate = Number(values['design-rate']);
  const bytesPerMessage = Number(values['d1-bytes-per-message']);
  const numbers = [...conversationCounts, ...rates, firstShare, designRate, bytesPerMessage, Number(values.apps), Number(values['queue-shards']), Number(values['d1-shards']), Number(values['d1-query-ms'])];
  if (numbers.some((n) => !Number.isFinite(n) || n < 0) || firstShare > 1) {
    console.error('Options take non-negative numbers (--first-contact between 0 and 1); see --help');
    return 2;
  }

  const runs = findRuns(root, values.from);
  const returning = pick(runs, SCENARIO.returning, root);
  const first = pick(runs, SCENARIO.first, root);
  const pReturning = returning?.profile ?? BUILT_IN.returning;
  const pFirst = first?.profile ?? BUILT_IN.first;
  const mix = blend(pReturning, pFirst, firstShare);
  const unmapped = [...new Set([...(returning?.unmapped ?? []), ...(first?.unmapped ?? [])])];

  console.log("Parley scale model: where Cloudflare's published limits stop today's message path\n");
  console.log('Input (operations per message, measured by npm run bench)');
  console.log(`  returning users: ${pReturning.source}`);
  console.log(`  first contact:   ${pFirst.source}`);
  if (!returning || !first) console.log(`  note: ${values.from ? `${values.from} holds` : 'no bench run holds'} ${[!returning && SCENARIO.returning, !first && SCENARIO.first].filter(Boolean).join(' or ')} with counted operations; the built-in figures stand in, labelled so`);
  if (unmapped.length) console.log(`  note: calls the model does not know the object role of, counted as per-conversation: ${unmapped.join(', ')} (scale.ts ROLE_RULES)`);
  console.log(`  mix: ${mix.source} (--first-contact=${firstShare})`);
  console.log(`  limits: scripts/bench/limits.json (checked ${limitsFile.checked}): ${int(LIMITS.doRequestsPerObject)} requests/s per Durable Object, ${int(LIMITS.queueMessagesPerQueue)} messages/s per queue, ${int(LIMITS.d1QueriesPerDatabase)} queries/s per D1 database at ${LIMITS.d1QueryMsAtLimit} ms a query (single-threaded)`);
  console.log('');
  console.log(profileTable([{ title: 'returning', p: pReturning }, { title: 'first contact', p: pFirst }, { title: 'mix', p: mix }]));

  const base = {
    apps: Number(values.apps),
    queueShards: Number(values['queue-shards']),
    d1Shards: Number(values['d1-shards']),
    d1QueryMs: Number(values['d1-query-ms']),
  };
  const asDeployed = base.queueShards === 1 && base.d1Shards === 1;
  for (const conversations of conversationCounts) {
    const d: Deployment = { ...base, conversations, users: values.users ? Number(values.users) : conversations };
    const res = resources(mix, d, LIMITS);
    const ranked = bySaturation(res);
    console.log(
      `\n${asDeployed ? "Today's design" : 'This design'}: ${int(conversations)} active conversations, ${int(d.users)} users, ${int(d.apps)} app${d.apps === 1 ? '' : 's'}, ${d.queueShards === 1 ? 'one queue per kind' : `${d.queueShards} queues per kind`}, ${d.d1Shards === 1 ? 'one D1 database' : `${d.d1Shards} D1 databases`}; load spread evenly\n`,
    );
    console.log(resourceTable(res, rates));
    console.log(`  (share of each instance's published limit at each rate; ! above ${CEILING * 100}%, !! at or above the limit)`);
    const [firstOut, second] = ranked;
    if (firstOut) {
      console.log(
        `\n  Saturates first: ${firstOut.name} at ${rate(saturationRate(firstOut))} msg/s (half its limit at ${rate(CEILING * saturationRate(firstOut))} msg/s)${second ? `; next ${second.name} at ${rate(saturationRate(second))} msg/s` : ''}.`,
      );
      console.log(`  What moves it: ${firstOut.lever}.`);
    }
    console.log(`  To keep every resource at or under ${CEILING * 100}% of its limit:`);
    for (const at of rates) console.log(`    ${rateLabel(at).padEnd(8)} ${moves(res, at)}`);

    // Size queues and D1 for the design rate, then see what is left standing.
    const sized: Deployment = {
      ...d,
      queueShards: Math.max(d.queueShards, ...res.filter((r) => r.kind === 'queue').map((r) => instancesNeeded({ ...r, instances: 1 }, designRate, CEILING))),
      d1Shards: Math.max(d.d1Shards, ...res.filter((r) => r.kind === 'database').map((r) => instancesNeeded({ ...r, instances: 1 }, designRate, CEILING))),
    };
    const after = bySaturation(resources(mix, sized, LIMITS));
    const busiest = [...after].sort((a, b) => utilisation(b, designRate) - utilisation(a, designRate))[0];
    const kinds = Object.keys(mix.queueMessages).filter((q) => mix.queueMessages[q]! > 0).length;
    if (busiest) {
      console.log(
        `  Sized for ${rateLabel(designRate)}: ${sized.queueShards} queue${sized.queueShards === 1 ? '' : 's'} per kind (${kinds * sized.queueShards} queues; ${int(limitsFile.limits.queuesPerAccount.value)} per account) and ${int(sized.d1Shards)} D1 database${sized.d1Shards === 1 ? '' : 's'} (${int(limitsFile.limits.d1DatabasesPerAccount.value)} per account, ~${int(limitsFile.limits.d1BindingsPerWorker.value)} bound to one Worker): the busiest resource at ${rateLabel(designRate)} is ${busiest.name} at ${pct(utilisation(busiest, designRate)).trim()}; the first then to saturate is ${after[0]!.name} at ${rate(saturationRate(after[0]!))} msg/s.`,
      );
    }
  }

  const hot = hotCases(mix, LIMITS);
  const onPath = (['app', 'global'] as const).filter((r) => mix.doRequests[r] > 0);
  console.log('\nHot single objects (no sharding of queues or databases moves these)');
  console.log(
    `  one conversation: at most ${rate(hot.conversationByRequests)} msg/s (${int(LIMITS.doRequestsPerObject)} requests/s ÷ ${short(mix.doRequests.conversation)} requests per message), half of that at the ${CEILING * 100}% line; a busy group conversation meets this long before the deployment does`,
  );
  if (Number.isFinite(hot.conversationByCpu)) {
    console.log(
      `    by CPU: if all ${short(mix.cpuMs)} ms of runtime CPU per message ran in that object (an upper bound: the Worker's share runs elsewhere), ${rate(hot.conversationByCpu)} msg/s`,
    );
  }
  console.log(
    `  an object per app on the message path (1 request per message): each app at most ${rate(hot.perAppObject)} msg/s, ${rate(CEILING * hot.perAppObject)} at the ${CEILING * 100}% line; a deployment-wide object caps the whole deployment the same way.`,
  );
  console.log(
    onPath.length
      ? `    This run's path has ${onPath.map((r) => `${short(mix.doRequests[r])} ${r}-object requests per message`).join(' and ')}: see the tables above.`
      : '    The measured path has no per-app or deployment-wide object; the one D1 database plays that part (a single writer for the deployment).',
  );

  const wave = bySaturation(resources(pFirst, { ...base, conversations: conversationCounts[0]!, users: conversationCounts[0]! }, LIMITS))[0];
  if (wave) {
    const extraD1 = pFirst.d1Reads + pFirst.d1Writes - (pReturning.d1Reads + pReturning.d1Writes);
    console.log(`\nA wave of first contacts (every message from a new channel user, e.g. replies to a campaign): ${wave.name} saturates first, at ${rate(saturationRate(wave))} msg/s.`);
    if (wave.kind === 'database' && extraD1 > 0) {
      console.log(
        `  A first contact makes ${short(extraD1)} more D1 queries than a returning user's message: the user, the client and the conversation's index are written to D1 while the channel waits. Identity objects (Durable Objects sharded by integration and channel user) resolving the identity, with D1 fed by the index queue in batches as messages are, move this ceiling to the objects', which grow with the users.`,
      );
    }
  }

  console.log('\nNot limits, but worth knowing');
  const cpuPrice = prices.prices.workerCpuMs.usdPerMillion;
  if (Number.isFinite(mix.cpuMs)) {
    console.log(
      `  Worker CPU: Workers have no request-rate limit (limits.json workerCpuMsPerInvocation). At ${rateLabel(designRate)}, ${short(mix.cpuMs)} ms per message (upper bound) is ${int((designRate * mix.cpuMs) / 1000)} CPU-seconds each second, $${(mix.cpuMs * cpuPrice).toFixed(2)} per million messages at list price.`,
    );
  }
  const bytes = limitsFile.limits.d1DatabaseBytes.value;
  const hours = (at: number) => bytes / (at * bytesPerMessage) / 3600;
  const fill = (h: number) => (h >= 48 ? `${(h / 24).toFixed(0)} days` : h >= 1 ? `${h.toFixed(1)} h` : `${(h * 60).toFixed(0)} min`);
  console.log(
    `  D1 storage (assumption: ${int(bytesPerMessage)} bytes per message kept in D1, --d1-bytes-per-message): one 10 GB database, which cannot grow, fills in ${rates.map((at) => `${fill(hours(at))} at ${rateLabel(at)}`).join(', ')}; sharding D1 divides it, and old index rows must be let go.`,
  );
  console.log(
    `  Queue consumers: at most ${limitsFile.limits.queueConcurrentConsumers.value} concurrent invocations per queue, so a queue delivers at most ${limitsFile.limits.queueConcurrentConsumers.value} × batch size ÷ batch duration; webhook batches held by slow customer endpoints lower it (sharded queues raise it).`,
  );
  console.log('  The spread is even here; real traffic is skewed, which is why the hot single objects above matter more than the averages.');
  return 0;
}
