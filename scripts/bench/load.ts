/**
 * Load shapes and their arithmetic: a closed loop of N concurrent senders
 * (each sends its next request when the last one is answered), a progress bar
 * (redrawn at most 10 times a second on a terminal, every tenth otherwise),
 * and the summary of a run: throughput and latency percentiles.
 */
import { now } from './http';

export interface Sample {
  /** When the request left, on the bench clock (ms). */
  start: number;
  /** When the measured moment happened: the answer, or the receipt downstream. */
  end: number;
  ok: boolean;
}

export class Progress {
  private lastDraw = 0;
  private lastTenth = -1;

  constructor(
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(done: number): void {
    const finished = done >= this.total;
    if (!process.stdout.isTTY) {
      const tenth = Math.floor((done * 10) / Math.max(1, this.total));
      if (tenth !== this.lastTenth && (tenth > 0 || finished)) console.log(`  ${this.label}: ${done}/${this.total}`);
      this.lastTenth = tenth;
      return;
    }
    const t = now();
    if (!finished && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    const width = 30;
    const filled = Math.round((Math.min(done, this.total) / Math.max(1, this.total)) * width);
    process.stdout.write(`\r  ${this.label.padEnd(34)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}`);
    if (finished) process.stdout.write('\n');
  }
}

/** Runs `job(0..total-1)` with `concurrency` senders; a job that throws is a failed sample. */
export async function closedLoop(label: string, total: number, concurrency: number, job: (i: number) => Promise<Sample>): Promise<Sample[]> {
  const samples: Sample[] = new Array(total);
  const progress = new Progress(label, total);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, total) }, async () => {
      for (let i = next++; i < total; i = next++) {
        const start = now();
        try {
          samples[i] = await job(i);
        } catch {
          samples[i] = { start, end: now(), ok: false };
        }
        progress.update(++done);
      }
    }),
  );
  return samples;
}

export interface Summary {
  requests: number;
  errors: number;
  seconds: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN);

/** Throughput counts successes over the span from the first send to the last measured moment. */
export function summarize(samples: Sample[]): Summary {
  const ok = samples.filter((s) => s.ok);
  const latencies = ok.map((s) => s.end - s.start).sort((a, b) => a - b);
  const first = Math.min(...samples.map((s) => s.start));
  const last = Math.max(...samples.map((s) => s.end));
  const seconds = samples.length ? (last - first) / 1000 : 0;
  return {
    requests: samples.length,
    errors: samples.length - ok.length,
    seconds,
    perSecond: seconds > 0 ? ok.length / seconds : 0,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `done` until it holds or `ms` pass; returns whether it held. */
export async function waitFor(done: () => boolean, ms: number, label?: string, progress?: () => [number, number]): Promise<boolean> {
  const deadline = now() + ms;
  const bar = label && progress ? new Progress(label, progress()[1]) : undefined;
  for (;;) {
    if (bar) bar.update(progress!()[0]);
    if (done()) {
      if (bar) bar.update(progress!()[1]);
      return true;
    }
    if (now() > deadline) {
      if (bar && process.stdout.isTTY) process.stdout.write('\n');
      return false;
    }
    await sleep(25);
  }
}
