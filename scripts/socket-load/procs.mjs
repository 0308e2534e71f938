/**
 * What the local runtime costs, read from /proc (Linux; empty elsewhere): the
 * process tree under `wrangler dev` (wrangler's Node, its workerd processes),
 * each process's resident memory (VmRSS) and CPU time. Memory is sampled in
 * the background so the peak between two phases is not missed.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports CPU in clock ticks of 1/100 s. */
const TICK_MS = 10;

function readProc(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    // Fields after the command name, which may itself hold spaces and parentheses.
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? 0) * 1024;
    return { pid: Number(pid), ppid: Number(after[1]), comm, cpuMs: (Number(after[11]) + Number(after[12])) * TICK_MS, rss };
  } catch {
    return undefined;
  }
}

/** Every process under `root` (itself included), each with { pid, ppid, comm, cpuMs, rss }. */
export function processTree(root) {
  if (root === undefined) return [];
  let all;
  try {
    all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(readProc).filter(Boolean);
  } catch {
    return [];
  }
  const children = new Map();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const out = [];
  for (const stack = [all.find((p) => p.pid === root)].filter(Boolean); stack.length; ) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

/**
 * The label a process is reported under. wrangler dev runs two workerd
 * processes: its proxy, listening on the dev port and forwarding every request
 * and socket, and the one running Parley (with the inspector). Production has
 * no proxy hop.
 */
export function label(p) {
  if (!p.comm.startsWith('workerd')) return p.comm;
  try {
    const args = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
    return args.some((a) => a.startsWith('--inspector-addr')) ? 'workerd (Parley)' : 'workerd (wrangler proxy)';
  } catch {
    return `workerd ${p.pid}`;
  }
}

/** All CPUs' busy and total time so far (ms), from /proc/stat. */
function machineCpu() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busyMs: (total - fields[3] - (fields[4] ?? 0)) * TICK_MS, totalMs: total * TICK_MS };
  } catch {
    return undefined;
  }
}

/** Memory and CPU of the runtime's tree, sampled every `everyMs`; `mark(name)` records a named snapshot and the peak since the last mark. */
export class RuntimeMeter {
  constructor(root, everyMs = 200) {
    this.root = root;
    this.marks = [];
    this.peak = 0;
    this.peakByPid = new Map();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.sample();
  }

  sample() {
    const tree = processTree(this.root);
    const workerd = tree.filter((p) => p.comm.startsWith('workerd'));
    const total = workerd.reduce((a, p) => a + p.rss, 0);
    this.peak = Math.max(this.peak, total);
    for (const p of workerd) this.peakByPid.set(p.pid, Math.max(this.peakByPid.get(p.pid) ?? 0, p.rss));
    return tree;
  }

  /** A snapshot: RSS per process now, workerd total now and its peak since the previous mark, CPU times so far. */
  mark(name) {
    const tree = this.sample();
    const workerd = tree.filter((p) => p.comm.startsWith('workerd'));
    const own = process.cpuUsage();
    const snapshot = {
      name,
      workerdRss: workerd.reduce((a, p) => a + p.rss, 0),
      workerdPeakRss: this.peak,
      loadGeneratorRss: process.memoryUsage.rss(),
      processes: tree.map((p) => ({ pid: p.pid, comm: p.comm, rss: p.rss, cpuMs: p.cpuMs })),
      loadGeneratorCpuMs: (own.user + own.system) / 1000,
      machine: machineCpu(),
      at: performance.now(),
    };
    this.marks.push(snapshot);
    this.peak = snapshot.workerdRss;
    return snapshot;
  }

  stop() {
    clearInterval(this.timer);
  }
}

/** CPU ms each process (and the load generator) spent between two marks, and the wall time between them. */
export function cpuBetween(a, b) {
  const before = new Map(a.processes.map((p) => [p.pid, p.cpuMs]));
  const perProcess = b.processes
    .map((p) => ({ pid: p.pid, comm: p.comm, cpuMs: p.cpuMs - (before.get(p.pid) ?? 0) }))
    .filter((p) => p.cpuMs > 0);
  const loadGeneratorCpuMs = b.loadGeneratorCpuMs - a.loadGeneratorCpuMs;
  let machineBusy;
  let othersBusy;
  if (a.machine && b.machine) {
    const total = Math.max(1, b.machine.totalMs - a.machine.totalMs);
    const busy = b.machine.busyMs - a.machine.busyMs;
    machineBusy = busy / total;
    // What neither Parley's runtime nor the load generator used: other processes competing for the machine.
    othersBusy = Math.max(0, busy - perProcess.reduce((x, p) => x + p.cpuMs, 0) - loadGeneratorCpuMs) / total;
  }
  return { wallMs: b.at - a.at, perProcess, loadGeneratorCpuMs, machineBusy, othersBusy };
}

/** The soft limit on open files of this process, from /proc/self/limits (undefined elsewhere). */
export function openFileLimit() {
  try {
    const m = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+|unlimited)/m);
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}
