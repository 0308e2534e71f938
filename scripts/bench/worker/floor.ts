/**
 * BenchDO: the floor `npm run bench` measures Parley against. One call, one
 * SQLite row written, nothing else: what the cheapest possible "store it in a
 * Durable Object, then answer" costs on the same runtime, in the same run.
 * Only the bench Worker exports it; a deployment has no such class.
 */
import { DurableObject } from 'cloudflare:workers';
import { countDurableObjectStorage, type BenchEnv } from './counters';

export class BenchDO extends DurableObject<BenchEnv> {
  constructor(ctx: DurableObjectState, env: BenchEnv) {
    super(ctx, env);
    // The first object the bench touches hands the counters its storage, whose methods all objects share.
    countDurableObjectStorage(ctx.storage);
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
