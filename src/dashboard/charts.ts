/**
 * Hand-drawn SVG charts: stacked bars and lines over days. Each chart is a
 * figure with a heading, a one-paragraph text summary (also the SVG's
 * accessible description) and the same numbers as a table behind a
 * disclosure, so nothing is only visual. Colours come from a palette that
 * keeps at least 3:1 against the white panel; the table and legend carry the
 * names, so colour is never the only cue.
 */
import { fmt, h, nextId, s } from './dom';

export interface Series {
  name: string;
  values: (number | null)[];
}

export interface ChartSpec {
  title: string;
  kind: 'stacked' | 'lines';
  /** One label per bucket (the x axis). */
  labels: string[];
  series: Series[];
  summary: string;
  /** How a value is written in the table and the axis. */
  format?: (v: number | null) => string;
  /** Key for tests and styling. */
  key: string;
  /** Drawn for a full-width panel. */
  wide?: boolean;
  /** The panel's width in CSS pixels: the canvas matches it, so text is drawn at its real size on a phone and a desktop. */
  width?: number;
}

const PALETTE = ['#1f5fbf', '#b54708', '#137333', '#7b3fbf', '#b3261e', '#00707a', '#5c5f66', '#9a3412'];

export const colour = (i: number) => PALETTE[i % PALETTE.length]!;

/** 0, and up to 4 round steps that cover max. */
function ticks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const rough = max / 4;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((st) => st >= rough) ?? rough;
  const out: number[] = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if (out[out.length - 1]! < max) out.push(out[out.length - 1]! + step);
  return out;
}

export function chart(spec: ChartSpec): HTMLElement {
  const f = spec.format ?? ((v: number | null) => (v === null ? '—' : fmt.format(v)));
  const W = Math.round(Math.min(1280, Math.max(280, spec.width || (spec.wide ? 1200 : 640))));
  const H = W < 480 ? 200 : spec.wide ? 260 : 240;
  // Durations ("1.5 min") need a wider gutter than counts.
  const PAD = { left: spec.format ? 64 : 44, right: 12, top: 12, bottom: 28 };
  const titleId = nextId('t');
  const descId = nextId('d');
  const n = spec.labels.length;
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const totals = spec.labels.map((_, i) => spec.series.reduce((a, se) => a + (se.values[i] ?? 0), 0));
  const max = spec.kind === 'stacked' ? Math.max(0, ...totals) : Math.max(0, ...spec.series.flatMap((se) => se.values.map((v) => v ?? 0)));
  const yt = ticks(max);
  const top = yt[yt.length - 1]!;
  const y = (v: number) => PAD.top + innerH - (v / top) * innerH;
  const slot = n ? innerW / n : innerW;
  const x = (i: number) => PAD.left + i * slot;

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, class: `chart chart-${spec.kind}`, focusable: 'false' });
  svg.append(s('title', { id: titleId }, spec.title), s('desc', { id: descId }, spec.summary));
  const grid = s('g', { class: 'grid', 'aria-hidden': 'true' });
  for (const t of yt) {
    grid.append(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(t), y2: y(t) }), s('text', { x: PAD.left - 6, y: y(t) + 4, 'text-anchor': 'end' }, spec.format ? f(t) : fmt.format(t)));
  }
  // One x label per ~64 px at most, so they never collide.
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(innerW / 64))));
  spec.labels.forEach((l, i) => {
    if (i % every === 0) grid.append(s('text', { x: x(i) + slot / 2, y: H - 8, 'text-anchor': 'middle' }, l));
  });
  svg.append(grid);

  const plot = s('g', { class: 'plot', 'aria-hidden': 'true' });
  if (spec.kind === 'stacked') {
    const bw = Math.max(2, slot * 0.7);
    spec.labels.forEach((label, i) => {
      let base = 0;
      spec.series.forEach((se, k) => {
        const v = se.values[i] ?? 0;
        if (v <= 0) return;
        const rect = s('rect', { x: x(i) + (slot - bw) / 2, y: y(base + v), width: bw, height: Math.max(0.5, y(base) - y(base + v)), fill: colour(k), class: 'bar' }, s('title', {}, `${label} · ${se.name}: ${f(v)}`));
        plot.append(rect);
        base += v;
      });
    });
  } else {
    spec.series.forEach((se, k) => {
      let d = '';
      let pen = false;
      se.values.forEach((v, i) => {
        if (v === null) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${(x(i) + slot / 2).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        plot.append(s('circle', { cx: x(i) + slot / 2, cy: y(v), r: 3.5, fill: colour(k) }, s('title', {}, `${spec.labels[i]} · ${se.name}: ${f(v)}`)));
      });
      if (d) plot.insertBefore(s('path', { d, fill: 'none', stroke: colour(k), 'stroke-width': 2.5, class: 'line', 'stroke-dasharray': k === 1 ? '6 4' : undefined }), plot.firstChild);
    });
  }
  svg.append(plot);

  const legend = h('ul', { class: 'legend' }, ...spec.series.map((se, k) => h('li', {}, legendSwatch(k, spec.kind === 'lines' && k === 1), se.name)));
  const table = h(
    'table',
    { class: 'data' },
    h('caption', {}, `${spec.title} (data)`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), ...spec.series.map((se) => h('th', { scope: 'col' }, se.name)), spec.kind === 'stacked' && spec.series.length > 1 ? h('th', { scope: 'col' }, 'Total') : null)),
    h(
      'tbody',
      {},
      ...spec.labels.map((l, i) =>
        h('tr', {}, h('th', { scope: 'row' }, l), ...spec.series.map((se) => h('td', {}, f(se.values[i] ?? null))), spec.kind === 'stacked' && spec.series.length > 1 ? h('td', {}, f(totals[i]!)) : null),
      ),
    ),
  );
  return h(
    'figure',
    { class: 'chart-figure', 'data-chart': spec.key },
    svg,
    legend,
    h('figcaption', { class: 'summary', 'data-summary': spec.key }, spec.summary),
    h('details', {}, h('summary', {}, 'Show the numbers as a table'), h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `${spec.title}: table` }, table)),
  );
}

function legendSwatch(k: number, dashed: boolean): SVGElement {
  return s(
    'svg',
    { viewBox: '0 0 16 10', width: 16, height: 10, 'aria-hidden': 'true', class: 'swatch' },
    dashed ? s('path', { d: 'M0,5H16', stroke: colour(k), 'stroke-width': 3, 'stroke-dasharray': '5 3' }) : s('rect', { width: 16, height: 10, rx: 2, fill: colour(k) }),
  );
}
