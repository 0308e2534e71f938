/**
 * The conversation as the widget shows it: server messages ordered by `seq`,
 * followed by the user's own messages still on their way, and before them all
 * a campaign's message while it is only a local preview. Messages arrive from
 * the cache, REST pages and the socket, in any order and more than once; every
 * path goes through `mergeMessages`, so a message is never shown twice and
 * never out of order. Pure: no DOM, no I/O.
 */
import type { Content, Message } from './types';

export type Status = 'sending' | 'sent' | 'failed';

export interface Entry {
  /** Stable across the optimistic → stored transition, so the bubble is updated in place. */
  key: string;
  message: Message;
  status: Status;
  /** Set for messages this browser sent: the server stores it as source.originalMessageId and dedupes retries on it. */
  clientMessageId?: string;
  /** Set on a campaign's message shown before any conversation exists (./campaign): stored nowhere yet. */
  campaignId?: string;
}

export interface MergeResult {
  entries: Entry[];
  /** Messages not known before. */
  added: Message[];
  /** Own messages that went from sending/failed to stored. */
  confirmed: Entry[];
}

/**
 * Folds server messages into the timeline. A message matches an existing entry
 * by the clientMessageId echoed in source.originalMessageId first (the
 * optimistic bubble), then by id, then by seq; otherwise it is new. The
 * conversation's first message (seq 1) takes the place of a campaign preview
 * when the business wrote it: the server stored the campaign's message there
 * when the visitor answered. Any other first message means it did not (the
 * campaign is gone), and the preview goes.
 */
export function mergeMessages(entries: readonly Entry[], incoming: readonly Message[]): MergeResult {
  const next = entries.slice();
  const added: Message[] = [];
  const confirmed: Entry[] = [];
  for (const message of incoming) {
    const echoed = message.source?.originalMessageId;
    let i = echoed ? next.findIndex((e) => e.clientMessageId === echoed) : -1;
    if (i < 0) i = next.findIndex((e) => e.message.id === message.id);
    if (i < 0 && message.seq !== undefined) i = next.findIndex((e) => e.message.seq === message.seq);
    const preview = message.seq === 1 ? next.findIndex((e) => e.campaignId) : -1;
    if (preview >= 0 && i < 0 && message.author.type === 'business') i = preview;
    else if (preview >= 0) {
      next.splice(preview, 1);
      if (i > preview) i--;
    }
    const previous = next[i];
    if (previous) {
      const { campaignId: _preview, ...kept } = previous;
      const entry: Entry = { ...kept, message, status: 'sent' };
      if (previous.status !== 'sent') confirmed.push(entry);
      next[i] = entry;
    } else {
      next.push({ key: message.id, message, status: 'sent' });
      added.push(message);
    }
  }
  return { entries: sortEntries(next), added, confirmed };
}

/** The timeline without the messages the server deleted (by id, or every stored one up to a seq); unsent ones stay. */
export function dropMessages(entries: readonly Entry[], gone: { ids?: readonly string[]; upToSeq?: number }): Entry[] {
  const ids = new Set(gone.ids ?? []);
  return entries.filter((e) => !ids.has(e.message.id) && !(gone.upToSeq !== undefined && e.message.seq !== undefined && e.message.seq <= gone.upToSeq));
}

/** Stored messages by seq; messages without one (not stored yet) stay last, in the order they were written; a campaign preview goes first (it opens the conversation). */
export function sortEntries(entries: Entry[]): Entry[] {
  return entries.sort((a, b) => {
    const x = a.campaignId ? 0 : a.message.seq;
    const y = b.campaignId ? 0 : b.message.seq;
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    return x - y;
  });
}

/** The optimistic bubble for a message the user just wrote. */
export function pendingEntry(clientMessageId: string, content: Content, userId: string | undefined, now: Date): Entry {
  return {
    key: clientMessageId,
    clientMessageId,
    status: 'sending',
    message: { id: clientMessageId, received: now.toISOString(), author: { type: 'user', userId }, content },
  };
}

export function setStatus(entries: readonly Entry[], clientMessageId: string, status: Status): Entry[] {
  return entries.map((e) => (e.clientMessageId === clientMessageId && e.status !== 'sent' ? { ...e, status } : e));
}

/** Keeps the messages still unconfirmed, e.g. when the stored history is replaced by a fresh page. */
export function unconfirmed(entries: readonly Entry[]): Entry[] {
  return entries.filter((e) => e.status !== 'sent');
}

export function maxSeq(entries: readonly Entry[]): number {
  let max = 0;
  for (const e of entries) if (e.message.seq !== undefined && e.message.seq > max) max = e.message.seq;
  return max;
}

/** The newest stored messages, as they are cached for an instant history after a reload. */
export function cacheable(entries: readonly Entry[], limit: number): Message[] {
  return entries.filter((e) => e.status === 'sent' && e.message.seq !== undefined).slice(-limit).map((e) => e.message);
}

/** Business messages stored after the last one the user saw. */
export function unreadCount(entries: readonly Entry[], lastSeenSeq: number): number {
  return entries.filter((e) => e.message.author.type === 'business' && (e.message.seq ?? 0) > lastSeenSeq).length;
}

/** The newest user message the business has read by `readAt`: where "Seen" goes. */
export function seenKey(entries: readonly Entry[], readAt: string | undefined): string | undefined {
  if (!readAt) return undefined;
  const until = Date.parse(readAt);
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.message.author.type !== 'user' || e.status !== 'sent') continue;
    if (Date.parse(e.message.received) <= until) return e.key;
  }
  return undefined;
}

/**
 * A form counts as answered once the server marks it submitted or a
 * formResponse quotes it: our own while it is on its way (content.quotedMessageId),
 * the stored one through its quotedMessage.
 */
export function isFormSubmitted(entries: readonly Entry[], formId: string): boolean {
  return entries.some(({ message: m }) => {
    if (m.id === formId) return m.content.submitted === true;
    if (m.content.type !== 'formResponse') return false;
    return m.content.quotedMessageId === formId || (m.quotedMessage?.type === 'message' && m.quotedMessage.message?.id === formId);
  });
}

/** The composer is closed while the newest message asks for it (blockChatInput) and, for a form, until it is answered. */
export function isChatInputBlocked(entries: readonly Entry[]): boolean {
  const last = entries[entries.length - 1];
  if (!last || last.message.author.type !== 'business' || !last.message.content.blockChatInput) return false;
  return !(last.message.content.type === 'form' && isFormSubmitted(entries, last.message.id));
}
