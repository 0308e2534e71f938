/**
 * Latency over time as a hand-written SVG, one panel per scenario: each
 * request a dot at (when it was sent, how long it took) on a log scale, the
 * p50 and p99 of each time slice as lines, failed requests as red ticks.
 */
import { percentile, type Sample } from './load';

const W = 960;
const PANEL_H = 205;
const PAD = { left: 64, right: 150, top: 30, bottom: 44 };
const MAX_DOTS = 900;
const SLICES = 40;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f1 = (n: number) => n.toFixed(1);

function niceStep(span: number, ticks = 8): number {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
}

function panel(title: string, measures: string, samples: Sample[], top: number): string {
  const out: string[] = [];
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = top + PAD.top;
  const y1 = top + PANEL_H - PAD.bottom;
  out.push(`<text x="${x0}" y="${top + 18}" class="title">${esc(title)}</text>`);
  const ok = samples.filter((s) => s.ok);
  if (samples.length === 0) return out.join('\n');
  const t0 = Math.min(...samples.map((s) => s.start));
  const span = Math.max(0.001, (Math.max(...samples.map((s) => s.start)) - t0) / 1000);
  const lat = ok.map((s) => Math.max(0.1, s.end - s.start));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...lat, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...lat, 10)));
  const x = (sec: number) => x0 + (sec / span) * (x1 - x0);
  const y = (ms: number) => y1 - ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (y1 - y0);

  out.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" class="frame"/>`);
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${x0}" x2="${x1}" y1="${f1(y(d))}" y2="${f1(y(d))}" class="grid"/>`);
    out.push(`<text x="${x0 - 6}" y="${f1(y(d) + 4)}" class="ylab">${d >= 1000 ? `${d / 1000} s` : `${d} ms`}</text>`);
  }
  const step = niceStep(span);
  for (let s = 0; s <= span + 1e-9; s += step) {
    out.push(`<line x1="${f1(x(s))}" x2="${f1(x(s))}" y1="${y1}" y2="${y1 + 4}" class="axis"/>`);
    out.push(`<text x="${f1(x(s))}" y="${y1 + 16}" class="xlab">${+s.toFixed(2)} s</text>`);
  }
  out.push(`<text x="${x0}" y="${y1 + 32}" class="axislab">x: time since the first send · y: ${esc(measures)}</text>`);

  const stride = Math.max(1, Math.ceil(ok.length / MAX_DOTS));
  const dots: string[] = [];
  for (let i = 0; i < ok.length; i += stride) {
    const s = ok[i]!;
    dots.push(`<circle cx="${f1(x((s.start - t0) / 1000))}" cy="${f1(y(s.end - s.start))}" r="1.7"/>`);
  }
  out.push(`<g class="dots">${dots.join('')}</g>`);

  const slices: Sample[][] = Array.from({ length: SLICES }, () => []);
  for (const s of ok) slices[Math.min(SLICES - 1, Math.floor((((s.start - t0) / 1000) / span) * SLICES))]!.push(s);
  for (const [p, cls] of [[50, 'p50'], [99, 'p99']] as const) {
    const pts = slices
      .map((slice, i) => {
        if (slice.length === 0) return undefined;
        const sorted = slice.map((s) => s.end - s.start).sort((a, b) => a - b);
        return `${f1(x(((i + 0.5) / SLICES) * span))},${f1(y(percentile(sorted, p)))}`;
      })
      .filter(Boolean);
    if (pts.length > 1) out.push(`<polyline points="${pts.join(' ')}" class="${cls}"/>`);
  }
  const failed = samples.filter((s) => !s.ok);
  if (failed.length) out.push(`<g class="fail">${failed.map((s) => `<line x1="${f1(x((s.start - t0) / 1000))}" x2="${f1(x((s.start - t0) / 1000))}" y1="${y1 - 8}" y2="${y1}"/>`).join('')}</g>`);

  const sorted = lat.slice().sort((a, b) => a - b);
  const legend = [
    ['p50', `p50 ${f1(percentile(sorted, 50))} ms`],
    ['p99', `p99 ${f1(percentile(sorted, 99))} ms`],
    ['dotlab', `${ok.length} ok${failed.length ? `, ${failed.length} failed` : ''}`],
  ];
  legend.forEach(([cls, label], i) => {
    const ly = y0 + 14 + i * 18;
    if (cls === 'dotlab') out.push(`<circle cx="${x1 + 16}" cy="${ly - 4}" r="2.5" class="dotkey"/>`);
    else out.push(`<line x1="${x1 + 8}" x2="${x1 + 24}" y1="${ly - 4}" y2="${ly - 4}" class="${cls}"/>`);
    out.push(`<text x="${x1 + 30}" y="${ly}" class="legend">${esc(label!)}</text>`);
  });
  return out.join('\n');
}

export function latencyChart(heading: string, series: { title: string; measures: string; samples: Sample[] }[]): string {
  const height = 40 + series.length * PANEL_H;
  const panels = series.map((s, i) => panel(s.title, s.measures, s.samples, 40 + i * PANEL_H));
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="ui-sans-serif, system-ui, sans-serif">
<style>
  .heading { font-size: 15px; font-weight: 600; fill: #111; }
  .title { font-size: 13px; font-weight: 600; fill: #222; }
  .frame { fill: #fcfcfd; stroke: #ccc; }
  .grid { stroke: #e4e4e8; }
  .axis { stroke: #888; }
  .ylab { font-size: 10px; fill: #666; text-anchor: end; }
  .xlab { font-size: 10px; fill: #666; text-anchor: middle; }
  .legend { font-size: 11px; fill: #333; }
  .axislab { font-size: 10px; fill: #888; }
  .dots circle { fill: #3d6fc4; fill-opacity: 0.45; }
  .dotkey { fill: #6a8fd0; }
  .p50 { fill: none; stroke: #1a7f37; stroke-width: 2; }
  .p99 { fill: none; stroke: #cf4b00; stroke-width: 2; }
  .fail line { stroke: #d00; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${PAD.left}" y="24" class="heading">${esc(heading)}</text>
${panels.join('\n')}
</svg>
`;
}
