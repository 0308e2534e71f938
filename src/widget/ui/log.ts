/**
 * Keeps the message log's DOM in step with the timeline. Rows are cached by
 * entry key with a signature of everything they show; an unchanged row keeps
 * its node (and so its focus, scroll position and form drafts), and nodes are
 * only moved when their position changed.
 */
import { quickReplies } from '../content';
import { isFormSubmitted, type Entry } from '../timeline';
import { h } from './dom';
import { dayKey, dayLabel } from './format';
import { renderRow, type RenderContext, type RowFlags } from './message';

/** Messages by the same author closer than this share one avatar and one time. */
const GROUP_MS = 5 * 60_000;

export class LogView {
  private readonly rows = new Map<string, { signature: string; node: HTMLElement }>();

  constructor(
    readonly element: HTMLElement,
    private readonly ctx: RenderContext,
  ) {}

  render(entries: readonly Entry[], seenKey: string | undefined): void {
    const focused = this.focusedRow();
    const wanted: HTMLElement[] = [];
    const live = new Set<string>();
    const now = new Date();
    const chips = quickReplies(entries[entries.length - 1]?.message);
    entries.forEach((entry, i) => {
      const prev = entries[i - 1]?.message;
      const next = entries[i + 1]?.message;
      const m = entry.message;
      const day = dayKey(m.received);
      if (!prev || dayKey(prev.received) !== day) {
        const label = dayLabel(m.received, now, this.ctx.t, this.ctx.lang);
        wanted.push(this.node(`day:${day}`, label, () => h('div', { class: 'day', role: 'separator' }, label), live));
      }
      const flags: RowFlags = {
        start: !sameRun(prev, m),
        end: !sameRun(m, next),
        seen: entry.key === seenKey,
        chips: i === entries.length - 1 ? chips : [],
        submitted: m.content.type === 'form' && isFormSubmitted(entries, m.id),
      };
      const signature = [entry.status, m.id, m.seq, flags.start, flags.end, flags.seen, flags.chips.length, flags.submitted].join('|');
      wanted.push(this.node(entry.key, signature, () => renderRow(entry, flags, this.ctx), live));
    });
    for (const key of this.rows.keys()) if (!live.has(key)) this.rows.delete(key);
    wanted.forEach((node, i) => {
      if (this.element.children[i] !== node) this.element.insertBefore(node, this.element.children[i] ?? null);
    });
    while (this.element.children.length > wanted.length) this.element.lastElementChild!.remove();
    if (focused && !focused.element.isConnected) this.refocus(focused.key, focused.element);
  }

  /** A form field being typed in whose row is rebuilt (say, a new message changed its avatar) gets its focus back. */
  private focusedRow(): { key: string; element: Element } | undefined {
    const active = (this.element.getRootNode() as Document | ShadowRoot).activeElement;
    if (!active || !this.element.contains(active)) return undefined;
    for (const [key, row] of this.rows) if (row.node.contains(active)) return { key, element: active };
    return undefined;
  }

  private refocus(key: string, was: Element): void {
    const name = was.getAttribute('name');
    const row = this.rows.get(key)?.node;
    const same = name ? row?.querySelector<HTMLElement>(`[name="${CSS.escape(name)}"]`) : undefined;
    same?.focus();
  }

  private node(key: string, signature: string, build: () => HTMLElement, live: Set<string>): HTMLElement {
    live.add(key);
    const cached = this.rows.get(key);
    if (cached?.signature === signature) return cached.node;
    const node = build();
    this.rows.set(key, { signature, node });
    return node;
  }
}

function sameRun(a: Entry['message'] | undefined, b: Entry['message'] | undefined): boolean {
  if (!a || !b || a.author.type !== b.author.type || a.author.displayName !== b.author.displayName) return false;
  return dayKey(a.received) === dayKey(b.received) && Math.abs(Date.parse(b.received) - Date.parse(a.received)) < GROUP_MS;
}
