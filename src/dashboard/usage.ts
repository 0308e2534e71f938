/**
 * The month's usage (`GET …/usage?month=`, shape in src/db/insights-usage.ts)
 * as a short list of figures: monthly active users (the billed unit),
 * messages per channel, deliveries, notifications, webhook attempts, media
 * stored and the estimated Cloudflare cost. Missing fields show as "—".
 */
import { fmt, h } from './dom';

interface Usage {
  month?: string;
  monthlyActiveUsers?: number;
  messages?: { inbound?: number; outbound?: number; byChannel?: Record<string, { inbound?: number; outbound?: number }> };
  deliveries?: { sent?: number; failed?: number };
  notifications?: number;
  webhookAttempts?: { total?: number; delivered?: number; failed?: number };
  media?: { objects?: number; bytes?: number };
  estimatedCost?: { currency?: string; total?: number; pricesChecked?: string };
}

const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? fmt.format(v) : '—');

function bytes(v: unknown): string {
  if (typeof v !== 'number') return '—';
  for (const [unit, size] of [['GB', 1e9], ['MB', 1e6], ['kB', 1e3]] as const) if (v >= size) return `${(v / size).toFixed(1)} ${unit}`;
  return `${v} B`;
}

function money(cost: Usage['estimatedCost']): string {
  if (!cost || typeof cost.total !== 'number') return '—';
  const text = cost.total.toLocaleString('en-US', { style: 'currency', currency: cost.currency || 'USD', minimumFractionDigits: 2, maximumFractionDigits: cost.total < 1 ? 4 : 2 });
  return text;
}

export function renderUsage(body: unknown): HTMLElement {
  const u = ((body as { usage?: Usage })?.usage ?? {}) as Usage;
  const rows: [string, string, string][] = [
    ['monthlyActiveUsers', 'Monthly active users', num(u.monthlyActiveUsers)],
    ['messages', 'Messages in · out', `${num(u.messages?.inbound)} · ${num(u.messages?.outbound)}`],
    ...Object.entries(u.messages?.byChannel ?? {})
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([ch, c]): [string, string, string] => [`messages.${ch}`, `  ${ch}`, `${num(c?.inbound)} · ${num(c?.outbound)}`]),
    ['deliveries', 'Channel deliveries sent · failed', `${num(u.deliveries?.sent)} · ${num(u.deliveries?.failed)}`],
    ['notifications', 'Notifications', num(u.notifications)],
    ['webhookAttempts', 'Webhook attempts', `${num(u.webhookAttempts?.total)} (${num(u.webhookAttempts?.failed)} failed)`],
    ['media', 'Media stored', `${num(u.media?.objects)} files, ${bytes(u.media?.bytes)}`],
    ['estimatedCost', 'Estimated Cloudflare cost', money(u.estimatedCost)],
  ];
  return h(
    'div',
    {},
    h('dl', { class: 'usage' }, ...rows.flatMap(([key, label, value]) => [h('dt', { class: key.includes('.') ? 'sub' : '' }, label.trim()), h('dd', { 'data-usage': key }, value)])),
    u.estimatedCost?.pricesChecked ? h('p', { class: 'hint' }, `Estimate at Cloudflare list prices checked ${u.estimatedCost.pricesChecked}.`) : null,
  );
}
