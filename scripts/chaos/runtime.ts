/**
 * The local Parley the chaos test kills: started through startParley on a
 * worker thread (runtime-worker.mjs), on one port and one persisted state for
 * its whole life, and killed with SIGKILL on its process group (wrangler and
 * the workerd it spawned), with no chance to flush anything. Every process
 * group it ever spawned is remembered until it is gone, so an exit (Ctrl-C
 * included) leaves nothing running.
 */
import { Worker } from 'node:worker_threads';

export interface RuntimeOptions {
  port: number;
  inspectorPort: number;
  persistTo: string;
  vars: Record<string, string>;
  /** Lets wrangler's own output (info level) through to this process's stdout and stderr. */
  verbose?: boolean;
}

type Reply = { type: 'started'; id: number; pid: number; url: string } | { type: 'stopped'; id: number } | { type: 'error'; id: number; message: string };

const groupAlive = (pid: number): boolean => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

export class Runtime {
  readonly url: string;
  /** Process groups spawned and not yet seen gone. */
  private readonly groups = new Set<number>();
  private readonly worker: Worker;
  private readonly ready: Promise<void>;
  private readonly waiting = new Map<number, (reply: Reply) => void>();
  private nextId = 0;
  up = false;

  constructor(
    workerFile: string,
    private readonly options: RuntimeOptions,
  ) {
    this.url = `http://127.0.0.1:${options.port}`;
    this.worker = new Worker(workerFile);
    this.worker.unref();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (msg: { type: string; pid?: number; id?: number }) => {
        if (msg.type === 'ready') resolve();
        else if (msg.type === 'spawned') this.groups.add(msg.pid!);
        else this.waiting.get(msg.id!)?.(msg as Reply);
      });
    });
  }

  private async call(type: 'start' | 'stop'): Promise<Reply> {
    await this.ready;
    const id = ++this.nextId;
    const reply = new Promise<Reply>((resolve) => this.waiting.set(id, resolve));
    this.worker.postMessage({ type, id, options: { port: this.options.port, inspectorPort: this.options.inspectorPort, persistTo: this.options.persistTo, vars: this.options.vars, verbose: this.options.verbose ?? false } });
    const answer = await reply;
    this.waiting.delete(id);
    if (answer.type === 'error') throw new Error(answer.message);
    return answer;
  }

  /** Applies migrations (a no-op after the first start) and starts wrangler dev; resolves once /healthz answers. */
  async start(): Promise<void> {
    await this.call('start');
    this.up = true;
  }

  /** SIGKILL to every process group of the runtime; resolves once they are gone. */
  async kill(): Promise<void> {
    this.up = false;
    this.killNow();
    const deadline = Date.now() + 15_000;
    for (const pid of this.groups) {
      while (groupAlive(pid)) {
        if (Date.now() > deadline) throw new Error(`process group ${pid} survived SIGKILL for 15 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      this.groups.delete(pid);
    }
  }

  /** Graceful stop at the end of the run (SIGTERM, then SIGKILL after 5 s, as startParley's stop does); bounded. */
  private stopped = false;

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.up = false;
    await Promise.race([this.call('stop').catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
    await this.kill().catch(() => this.killNow());
    await this.worker.terminate();
  }

  /** Synchronous, for exit handlers: SIGKILL to every process group still known. */
  killNow(): void {
    for (const pid of this.groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
