/**
 * Message search results. The `highlight` snippet marks matches between
 * « and » (src/db/insights-search.ts); it is split on those markers as plain text and rebuilt from text nodes and <mark> elements, so
 * the rest of a message — whatever characters it holds — is only ever text.
 */
import { h } from './dom';
import { dayLabel } from './stats';

export interface FoundMessage {
  id: string;
  conversationId?: string;
  received?: string;
  author?: { type?: string; displayName?: string; userId?: string };
  content?: { type?: string; text?: string };
  source?: { type?: string };
  highlight?: string;
}

const MARKERS = /(«|»)/;

/** The snippet as nodes: text between open and close markers goes into <mark>. */
export function highlighted(snippet: string): Node[] {
  const out: Node[] = [];
  let inMark = false;
  for (const part of snippet.split(MARKERS)) {
    if (part === '«') inMark = true;
    else if (part === '»') inMark = false;
    else if (part) out.push(inMark ? h('mark', {}, part) : document.createTextNode(part));
  }
  return out;
}

export function resultItem(m: FoundMessage): HTMLElement {
  const snippet = m.highlight ?? m.content?.text ?? `(${m.content?.type ?? 'message'})`;
  const when = m.received ? `${dayLabel(m.received)} ${new Date(m.received).toISOString().slice(11, 16)} UTC` : '';
  const meta = [when, m.source?.type, m.author?.type === 'business' ? 'business' : m.author?.displayName || 'user', m.conversationId ? `conversation ${m.conversationId}` : ''].filter(Boolean).join(' · ');
  return h('li', { class: 'result', 'data-message-id': m.id }, h('p', { class: 'snippet' }, ...highlighted(snippet)), h('p', { class: 'meta' }, meta));
}
