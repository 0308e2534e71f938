/**
 * What Parley stored, read back through the REST API as a customer would:
 * every message of every conversation (all pages), checked for a strictly
 * increasing `seq` in the order the listing gives.
 */
import type { ParleyApi } from '../simulator/parley';

export interface StoredMessage {
  conversationId: string;
  id: string;
  seq: number;
  originalMessageId?: string;
  authorType: string;
  /** When Parley committed it (ms). */
  received?: number;
}

export interface SeqViolation {
  conversationId: string;
  previous: number;
  next: number;
}

export interface StoredRead {
  messages: StoredMessage[];
  seqViolations: SeqViolation[];
  conversations: number;
  failures: string[];
}

async function withRetry<T>(what: string, run: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 5; i++) {
    try {
      return await run();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500 * (i + 1)));
    }
  }
  throw new Error(`${what}: ${last instanceof Error ? last.message : String(last)}`);
}

/** All messages of one conversation, oldest first (the listing gives the newest page first, each page oldest first). */
async function listConversation(api: ParleyApi, conversationId: string): Promise<StoredMessage[]> {
  const pages: StoredMessage[][] = [];
  let before: string | undefined;
  for (;;) {
    const query = `page[size]=100${before ? `&page[before]=${encodeURIComponent(before)}` : ''}`;
    const answer = await withRetry(`listing ${conversationId}`, () => api.expect([200], 'GET', `/conversations/${conversationId}/messages?${query}`));
    pages.unshift(
      (answer.body.messages as any[]).map((m) => ({
        conversationId,
        id: m.id,
        seq: Number(m.seq),
        ...(m.source?.originalMessageId ? { originalMessageId: String(m.source.originalMessageId) } : {}),
        authorType: m.author?.type,
        ...(m.received ? { received: Date.parse(m.received) } : {}),
      })),
    );
    before = answer.body.meta?.beforeCursor;
    if (!answer.body.meta?.hasMore || !before) break;
  }
  return pages.flat();
}

export async function readStored(api: ParleyApi, conversationIds: string[], concurrency = 8): Promise<StoredRead> {
  const result: StoredRead = { messages: [], seqViolations: [], conversations: 0, failures: [] };
  const queue = [...conversationIds];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          const messages = await listConversation(api, id);
          result.conversations++;
          for (let i = 1; i < messages.length; i++) {
            if (!(messages[i]!.seq > messages[i - 1]!.seq)) result.seqViolations.push({ conversationId: id, previous: messages[i - 1]!.seq, next: messages[i]!.seq });
          }
          result.messages.push(...messages);
        } catch (err) {
          result.failures.push(err instanceof Error ? err.message : String(err));
        }
      }
    }),
  );
  return result;
}
