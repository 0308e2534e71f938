/**
 * What GET /_bench/counters answers: the bench Worker (counters.ts) fills it,
 * the Node side (scripts/bench/cost.ts) reads it. No imports, so both sides,
 * with their different runtimes, share it.
 */
export interface Counters {
  workerFetches: number;
  queueInvocations: number;
  /** Queue operations in 64 KB units: every delivery is a read; a first delivery stands for the message's write and delete. */
  queueReads: number;
  queueWrites: number;
  doRequests: number;
  doAlarms: number;
  /** Wall time during which each object had a call in flight, summed over objects. */
  doActiveMs: number;
  doRowsRead: number;
  doRowsWritten: number;
  d1Queries: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  r2ClassA: number;
  r2ClassB: number;
}

/** The whole answer: the counters, which isolate counted them, and where they went. */
export interface CountersAnswer extends Counters {
  /** Which isolate counted: a different one means Parley was reloaded and counting started over. */
  isolate: string;
  /** Whether Durable Object storage is counted yet (from the first BenchDO on). */
  storageCounted: boolean;
  /** Per binding and method (`CONVERSATIONS.receive`). */
  doCalls: Record<string, number>;
  queueMessages: Record<string, number>;
  /** `DO …` / `D1 …` statement (first 100 characters) → [calls, rows read, rows written]. */
  statements: Record<string, [number, number, number]>;
}
