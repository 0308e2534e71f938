/**
 * The operations Cloudflare bills, counted inside the bench Worker
 * (scripts/bench/worker/index.ts), which `npm run bench` runs instead of the
 * deployed entry: never part of Parley's own bundle.
 *
 * - two floor routes, GET /_bench/noop (answers at once) and POST
 *   /_bench/do-write?key= (one SQLite row written in a BenchDO), measured in
 *   the same run and runtime as Parley's own routes;
 * - counters, read at GET /_bench/counters. The Worker counts its
 *   invocations and hands Parley's handlers an env whose D1, Durable Object
 *   and R2 bindings count what goes through them (D1 rows from each result's
 *   `meta`, one DO request per stub call). Queue operations are counted where
 *   messages are consumed: every message is read there, and its first
 *   delivery stands for its one write and one delete. Inside the Durable
 *   Objects, SQLite rows come from each cursor's rowsRead/rowsWritten and each
 *   setAlarm() is a row written, as billed: the first BenchDO hands over its
 *   storage, whose methods every object of this isolate shares. Rows of
 *   miniflare's own bookkeeping tables are kept apart: production has none.
 *
 * Locally the Worker and its Durable Objects share one isolate, so one set of
 * module-level counters sees both. Not counted: Worker CPU time (workerd does
 * not expose it), DO duration beyond the time calls are in flight.
 */
import type { Env } from '../../../src/env';
import { router } from '../../../src/router';
import { ConversationDO } from '../../../durable/conversation';
import type { BenchDO } from './floor';
import type { Counters, CountersAnswer } from './wire';

/** Parley's bindings and the floor's object, which only the bench config declares. */
export interface BenchEnv extends Env {
  BENCH: DurableObjectNamespace<BenchDO>;
}


const counters: Counters = {
  workerFetches: 0,
  queueInvocations: 0,
  queueReads: 0,
  queueWrites: 0,
  doRequests: 0,
  doAlarms: 0,
  doActiveMs: 0,
  doRowsRead: 0,
  doRowsWritten: 0,
  d1Queries: 0,
  d1RowsRead: 0,
  d1RowsWritten: 0,
  r2ClassA: 0,
  r2ClassB: 0,
};
/** Per binding and method (`CONVERSATIONS.receive`), per queue, and per SQL statement ([calls, rows read, rows written]), to see where the operations go. */
const doCalls: Record<string, number> = {};
const queueMessages: Record<string, number> = {};
const statements: Record<string, [number, number, number]> = {};
/** Counters live as long as this isolate: a reload (wrangler dev watches the sources) starts them again, and the bench must know. */
let isolate: string | undefined;
let storageCounted = false;
let alarmsCounted = false;

const bump = (map: Record<string, number>, key: string, by = 1) => (map[key] = (map[key] ?? 0) + by);

function countStatement(where: 'DO' | 'D1' | 'local', query: string, read: number, written: number): void {
  const key = `${where} ${query.replace(/\s+/g, ' ').trim().slice(0, 100)}`;
  const entry = (statements[key] ??= [0, 0, 0]);
  entry[0]++;
  entry[1] += read;
  entry[2] += written;
}

export async function benchFetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
  countAlarms();
  const url = new URL(request.url);
  if (url.pathname === '/_bench/counters' && request.method === 'GET') {
    // Storage is counted from the first BenchDO on: make one before the bench reads its baseline.
    if (!storageCounted) await env.BENCH.get(env.BENCH.idFromName('counters')).write();
    // Random values cannot be made at global scope, so the isolate names itself on its first read.
    isolate ??= crypto.randomUUID();
    return Response.json({ ...counters, isolate, storageCounted, doCalls, queueMessages, statements } satisfies CountersAnswer);
  }
  counters.workerFetches++;
  const counted = countedEnv(env);
  if (url.pathname === '/_bench/noop' && request.method === 'GET') return new Response('ok');
  if (url.pathname === '/_bench/do-write' && request.method === 'POST') {
    await counted.BENCH.get(counted.BENCH.idFromName(url.searchParams.get('key') ?? 'floor')).write();
    return new Response('ok');
  }
  return router.fetch(request, counted, ctx);
}

/** Counts one consumer invocation and its messages; returns the env its consumer should use. */
export function benchQueue(batch: MessageBatch<unknown>, env: BenchEnv): BenchEnv {
  countAlarms();
  counters.queueInvocations++;
  for (const m of batch.messages) {
    // A KB is 1,000 bytes and each message carries about 100 bytes of metadata (Queues pricing).
    const units = Math.max(1, Math.ceil((JSON.stringify(m.body).length + 100) / 64_000));
    counters.queueReads += units;
    if (m.attempts === 1) counters.queueWrites += units;
  }
  bump(queueMessages, batch.queue, batch.messages.length);
  return countedEnv(env);
}

/** SQLite rows of every Durable Object, from the cursors' own counts, and setAlarm() as one row written each. */
export function countDurableObjectStorage(storage: DurableObjectStorage): void {
  if (storageCounted) return;
  storageCounted = true;
  const sql = Object.getPrototypeOf(storage.sql) as SqlStorage;
  const exec = sql.exec;
  // A cursor's counts are final once it is consumed, which Parley does in the same synchronous step.
  let pending: [string, SqlStorageCursor<Record<string, SqlStorageValue>>][] = [];
  const settle = () => {
    for (const [query, c] of pending) {
      // Miniflare records each object's name when it wakes one; production has no such table.
      if (query.includes('__miniflare_')) {
        countStatement('local', query, c.rowsRead, c.rowsWritten);
        continue;
      }
      counters.doRowsRead += c.rowsRead;
      counters.doRowsWritten += c.rowsWritten;
      countStatement('DO', query, c.rowsRead, c.rowsWritten);
    }
    pending = [];
  };
  sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
    const cursor = exec.call(this, query, ...bindings);
    if (pending.push([query, cursor]) === 1) queueMicrotask(settle);
    return cursor;
  } as SqlStorage['exec'];
  const proto = Object.getPrototypeOf(storage) as DurableObjectStorage;
  const setAlarm = proto.setAlarm;
  proto.setAlarm = function (this: DurableObjectStorage, ...args: Parameters<DurableObjectStorage['setAlarm']>) {
    counters.doRowsWritten++;
    countStatement('DO', 'setAlarm()', 0, 1);
    return setAlarm.apply(this, args);
  };
}

/** Alarms are DO requests the runtime makes, not the Worker: counted on the class. */
function countAlarms(): void {
  if (alarmsCounted) return;
  alarmsCounted = true;
  const proto = ConversationDO.prototype;
  const alarm = proto.alarm;
  proto.alarm = async function (this: ConversationDO) {
    counters.doRequests++;
    counters.doAlarms++;
    const started = Date.now();
    try {
      return await alarm.call(this);
    } finally {
      counters.doActiveMs += Date.now() - started;
    }
  };
}

const envs = new WeakMap<BenchEnv, BenchEnv>();

function countedEnv(env: BenchEnv): BenchEnv {
  let counted = envs.get(env);
  if (!counted) {
    counted = {
      ...env,
      DB: countedD1(env.DB),
      CONVERSATIONS: countedNamespace('CONVERSATIONS', env.CONVERSATIONS),
      BENCH: countedNamespace('BENCH', env.BENCH),
      ATTACHMENTS: countedR2(env.ATTACHMENTS),
    };
    envs.set(env, counted);
  }
  return counted;
}

/** A property of `target`; methods come bound to it, so what is not counted behaves as before. */
const passThrough = (target: object, prop: string | symbol) => {
  const value = Reflect.get(target, prop, target) as unknown;
  return typeof value === 'function' ? value.bind(target) : value;
};

function countedD1(db: D1Database): D1Database {
  const originals = new WeakMap<object, D1PreparedStatement>();
  const queries = new WeakMap<object, string>();
  const count = (query: string, meta: Partial<D1Meta> | undefined) => {
    counters.d1Queries++;
    counters.d1RowsRead += meta?.rows_read ?? 0;
    counters.d1RowsWritten += meta?.rows_written ?? 0;
    countStatement('D1', query, meta?.rows_read ?? 0, meta?.rows_written ?? 0);
  };
  const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
    const wrapped = new Proxy(statement, {
      get(target, prop) {
        switch (prop) {
          case 'bind':
            return (...values: unknown[]) => wrap(target.bind(...values), query);
          case 'all':
          case 'run':
            return async () => {
              const result = await target[prop]();
              count(query, result.meta);
              return result;
            };
          case 'first':
            // first() runs the same query as all() and drops the meta, so it is answered from all().
            return async (column?: string) => {
              const result = await target.all<Record<string, unknown>>();
              count(query, result.meta);
              const row = result.results[0];
              if (row === undefined) return null;
              if (column === undefined) return row;
              if (!(column in row)) throw new Error(`D1_COLUMN_NOTFOUND: Column not found (${column})`);
              return row[column];
            };
          default:
            // raw() carries no meta (nor do sessions); Parley uses neither.
            return passThrough(target, prop);
        }
      },
    });
    originals.set(wrapped, statement);
    queries.set(wrapped, query);
    return wrapped;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (query: string) => wrap(target.prepare(query), query);
      if (prop === 'batch') {
        return async (list: D1PreparedStatement[]) => {
          const results = await target.batch(list.map((s) => originals.get(s) ?? s));
          results.forEach((r, i) => count(queries.get(list[i]!) ?? '?', r.meta));
          return results;
        };
      }
      return passThrough(target, prop);
    },
  });
}

/** Each object's in-flight calls, to sum the time it was busy. */
const inFlight = new Map<string, { calls: number; since: number }>();

function countedNamespace<T extends Rpc.DurableObjectBranded | undefined>(binding: string, ns: DurableObjectNamespace<T>): DurableObjectNamespace<T> {
  return new Proxy(ns, {
    get(target, prop) {
      if (prop === 'get' || prop === 'getByName') {
        return (...args: unknown[]) => countedStub(binding, (target[prop] as (...a: unknown[]) => DurableObjectStub<T>).apply(target, args));
      }
      return passThrough(target, prop);
    },
  });
}

function countedStub<T extends Rpc.DurableObjectBranded | undefined>(binding: string, stub: DurableObjectStub<T>): DurableObjectStub<T> {
  const key = stub.id.toString();
  const settled = () => {
    const entry = inFlight.get(key)!;
    if (--entry.calls === 0) {
      counters.doActiveMs += Date.now() - entry.since;
      inFlight.delete(key);
    }
  };
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      // Every method call on a stub is its own RPC session: one billed request.
      return (...args: unknown[]) => {
        counters.doRequests++;
        bump(doCalls, `${binding}.${prop}`);
        const entry = inFlight.get(key) ?? { calls: 0, since: Date.now() };
        entry.calls++;
        inFlight.set(key, entry);
        const result = (target as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args);
        Promise.resolve(result).then(settled, settled);
        return result;
      };
    },
  });
}

/** R2 Class A: writes and listings; Class B: reads; deletes are free (R2 pricing). */
const R2_CLASS_A = new Set(['put', 'list', 'createMultipartUpload']);
const R2_CLASS_B = new Set(['get', 'head']);

function countedR2(bucket: R2Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, prop) {
      const value = passThrough(target, prop);
      if (typeof prop !== 'string' || typeof value !== 'function') return value;
      if (R2_CLASS_A.has(prop)) return (...args: unknown[]) => (counters.r2ClassA++, value(...args));
      if (R2_CLASS_B.has(prop)) return (...args: unknown[]) => (counters.r2ClassB++, value(...args));
      return value;
    },
  });
}
