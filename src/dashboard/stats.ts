/**
 * The stats route's answer turned into the dashboard's charts and totals.
 * Fields are read defensively (a missing number counts as 0, a missing
 * percentile as "no data"), so an older or newer Parley still draws.
 */
import { chart, type ChartSpec } from './charts';
import { duration, fmt, h } from './dom';

export interface StatsBucket {
  start: string;
  messages?: { inbound?: number; outbound?: number; byChannel?: Record<string, { inbound?: number; outbound?: number }> };
  conversations?: { created?: number; active?: number };
  users?: { created?: number; active?: number };
  deliveries?: { sent?: number; failed?: number };
  webhooks?: { delivered?: number; failed?: number; deadLettered?: number };
  firstResponseMs?: { p50?: number | null; p90?: number | null };
}

const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const maybe = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const pct = (part: number, whole: number) => (whole ? `${((part / whole) * 100).toFixed(1)} %` : '0 %');

/** "Dec 06" style labels, in UTC like the buckets. */
export const dayLabel = (iso: string) => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString('en-US', { month: 'short', day: '2-digit', timeZone: 'UTC' });
};

export interface Rendered {
  kpis: HTMLElement;
  charts: Record<'messages' | 'firstResponse' | 'deliveries' | 'webhooks' | 'users', HTMLElement>;
}

/** `widths`: the wide panel's and a grid panel's width in CSS pixels. */
export function renderStats(buckets: StatsBucket[], widths: { wide: number; narrow: number }): Rendered {
  const labels = buckets.map((b) => dayLabel(b.start));
  const days = buckets.length;

  // Messages per channel, inbound + outbound; channels ordered by volume.
  const channelTotals = new Map<string, { inbound: number; outbound: number }>();
  for (const b of buckets)
    for (const [ch, v] of Object.entries(b.messages?.byChannel ?? {})) {
      const t = channelTotals.get(ch) ?? { inbound: 0, outbound: 0 };
      t.inbound += n(v?.inbound);
      t.outbound += n(v?.outbound);
      channelTotals.set(ch, t);
    }
  const channels = [...channelTotals.entries()].sort((a, b) => b[1].inbound + b[1].outbound - (a[1].inbound + a[1].outbound) || a[0].localeCompare(b[0]));
  const inbound = sum(buckets.map((b) => n(b.messages?.inbound)));
  const outbound = sum(buckets.map((b) => n(b.messages?.outbound)));
  const messages: ChartSpec = {
    key: 'messages',
    wide: true,
    width: widths.wide,
    title: 'Messages per day by channel',
    kind: 'stacked',
    labels,
    series: channels.map(([ch]) => ({ name: ch, values: buckets.map((b) => n(b.messages?.byChannel?.[ch]?.inbound) + n(b.messages?.byChannel?.[ch]?.outbound)) })),
    summary:
      `${fmt.format(inbound + outbound)} messages over ${days} days: ${fmt.format(inbound)} inbound, ${fmt.format(outbound)} outbound.` +
      (channels.length ? ` By channel: ${channels.map(([ch, t]) => `${ch} ${fmt.format(t.inbound + t.outbound)} (${fmt.format(t.inbound)} in, ${fmt.format(t.outbound)} out)`).join('; ')}.` : ' No messages in this range.'),
  };

  const p50 = buckets.map((b) => maybe(b.firstResponseMs?.p50));
  const p90 = buckets.map((b) => maybe(b.firstResponseMs?.p90));
  const answered = p50.filter((v): v is number => v !== null);
  const answered90 = p90.filter((v): v is number => v !== null);
  const firstResponse: ChartSpec = {
    key: 'firstResponse',
    title: 'First-response time (p50 and p90)',
    kind: 'lines',
    labels,
    format: (v) => duration(v),
    series: [
      { name: 'p50 (median)', values: p50 },
      { name: 'p90', values: p90 },
    ],
    summary: answered.length
      ? `On ${answered.length} of ${days} days with a first business reply, the median first response (p50) ranged from ${duration(Math.min(...answered))} to ${duration(Math.max(...answered))}; p90 from ${duration(Math.min(...answered90))} to ${duration(Math.max(...answered90))}.`
      : 'No first business replies in this range.',
  };

  const sent = sum(buckets.map((b) => n(b.deliveries?.sent)));
  const failed = sum(buckets.map((b) => n(b.deliveries?.failed)));
  const deliveries: ChartSpec = {
    key: 'deliveries',
    title: 'Channel deliveries and failures',
    kind: 'stacked',
    labels,
    series: [
      { name: 'sent', values: buckets.map((b) => n(b.deliveries?.sent)) },
      { name: 'failed', values: buckets.map((b) => n(b.deliveries?.failed)) },
    ],
    summary: `${fmt.format(sent)} deliveries sent, ${fmt.format(failed)} failed (${pct(failed, sent + failed)} of attempts).`,
  };

  const wd = sum(buckets.map((b) => n(b.webhooks?.delivered)));
  const wf = sum(buckets.map((b) => n(b.webhooks?.failed)));
  const wl = sum(buckets.map((b) => n(b.webhooks?.deadLettered)));
  const webhooks: ChartSpec = {
    key: 'webhooks',
    title: 'Webhook health',
    kind: 'stacked',
    labels,
    series: [
      { name: 'delivered', values: buckets.map((b) => n(b.webhooks?.delivered)) },
      { name: 'failed attempts', values: buckets.map((b) => n(b.webhooks?.failed)) },
      { name: 'dead-lettered', values: buckets.map((b) => n(b.webhooks?.deadLettered)) },
    ],
    summary: `${fmt.format(wd)} webhooks delivered, ${fmt.format(wf)} failed attempts, ${fmt.format(wl)} dead-lettered.`,
  };

  const active = buckets.map((b) => n(b.users?.active));
  const created = buckets.map((b) => n(b.users?.created));
  const peak = Math.max(0, ...active);
  const peakAt = active.indexOf(peak);
  const users: ChartSpec = {
    key: 'users',
    title: 'Active users per day',
    kind: 'lines',
    labels,
    series: [
      { name: 'active users', values: active },
      { name: 'new users', values: created },
    ],
    summary: `Peak of ${fmt.format(peak)} active users${peak && peakAt >= 0 ? ` on ${labels[peakAt]}` : ''}; ${fmt.format(sum(created))} new users; ${fmt.format(sum(buckets.map((b) => n(b.conversations?.created))))} conversations started.`,
  };

  const kpi = (key: string, label: string, value: string, note: string) => h('div', { class: 'kpi', 'data-kpi': key }, h('p', { class: 'kpi-label' }, label), h('p', { class: 'kpi-value' }, value), h('p', { class: 'kpi-note' }, note));
  const kpis = h(
    'div',
    { class: 'kpi-row' },
    kpi('messages', 'Messages', fmt.format(inbound + outbound), `${fmt.format(inbound)} in · ${fmt.format(outbound)} out`),
    kpi('users', 'Peak daily active users', fmt.format(peak), `${fmt.format(sum(created))} new`),
    kpi('failures', 'Delivery failures', fmt.format(failed), pct(failed, sent + failed)),
    kpi('deadLettered', 'Dead-lettered webhooks', fmt.format(wl), `${fmt.format(wd)} delivered`),
  );

  const narrow = (spec: ChartSpec) => chart({ ...spec, width: widths.narrow });
  return { kpis, charts: { messages: chart(messages), firstResponse: narrow(firstResponse), deliveries: narrow(deliveries), webhooks: narrow(webhooks), users: narrow(users) } };
}
