/** Percentiles, a progress bar like `npm run bench`'s, and the printed table. */

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] : NaN);

/** { n, p50, p95, p99, max } of a list of ms values. */
export function dist(values) {
  const sorted = Float64Array.from(values).sort();
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : NaN };
}

export const round = (x, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);
export const ms = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');
export const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Redrawn at most 10 times a second on a terminal, printed every tenth otherwise. */
export class Progress {
  constructor(label, total) {
    this.label = label;
    this.total = total;
    this.lastDraw = 0;
    this.lastTenth = -1;
  }

  update(done, extra = '') {
    const finished = done >= this.total;
    if (!process.stdout.isTTY) {
      const tenth = Math.floor((done * 10) / Math.max(1, this.total));
      if (tenth !== this.lastTenth && (tenth > 0 || finished)) console.log(`  ${this.label}: ${done}/${this.total}${extra}`);
      this.lastTenth = tenth;
      return;
    }
    const t = performance.now();
    if (!finished && t - this.lastDraw < 100) return;
    this.lastDraw = t;
    const width = 30;
    const filled = Math.round((Math.min(done, this.total) / Math.max(1, this.total)) * width);
    process.stdout.write(`\r  ${this.label.padEnd(20)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total}${extra}  `);
    if (finished) process.stdout.write('\n');
  }
}

/** A plain text table: first column left-aligned, the rest right-aligned (or all left-aligned). */
export function table(header, rows, { left = false } = {}) {
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 || left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].map((l) => `  ${l}`).join('\n');
}
