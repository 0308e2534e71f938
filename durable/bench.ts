/**
 * BenchDO: the floor `npm run bench` measures Parley against. One call, one
 * SQLite row written, nothing else: what the cheapest possible "store it in a
 * Durable Object, then answer" costs on the same runtime, in the same run.
 *
 * It is deployed with Parley because a binding must name an exported class,
 * but only the bench-only routes reach it (src/bench.ts), and those answer 404
 * unless BENCH_COUNTERS=1: in a deployment no BenchDO is ever created.
 */
import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../src/env';
import { countDurableObjectStorage } from '../src/bench';

export class BenchDO extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // The first object the bench touches hands the counters its storage, whose methods all objects share.
    if (env.BENCH_COUNTERS === '1') countDurableObjectStorage(ctx.storage);
  }

  write(): number {
    try {
      this.ctx.storage.sql.exec('INSERT INTO writes (at) VALUES (?)', Date.now());
    } catch (err) {
      // The table is made on the first write, not in the constructor, so an object woken again costs no extra rows.
      if (!String(err).includes('no such table')) throw err;
      this.ctx.storage.sql.exec('CREATE TABLE writes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)');
      this.ctx.storage.sql.exec('INSERT INTO writes (at) VALUES (?)', Date.now());
    }
    return 1;
  }
}
