/**
 * What must hold after a scenario, read back through the public API and the
 * local receivers: every message stored exactly once in its conversation,
 * `seq` strictly increasing along each conversation's listing (and, where the
 * bench sent a conversation's messages one after another, in sending order),
 * every conversation:message webhook event received exactly once, and every
 * business message received by its channel exactly once, in order.
 */
import type { Api } from './http';
import { TOKEN } from './channels';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface Listed {
  id: string;
  seq: number;
  text: string;
}

/**
 * Conversations' whole histories, oldest first (walking page[before] from the
 * newest page), each read once: checks run after the last scenario, when
 * nothing is written any more, so every scenario's check reads the same copy.
 */
export class Listings {
  private cache = new Map<string, Promise<Listed[]>>();

  constructor(
    private readonly api: Api,
    private readonly appId: string,
  ) {}

  get(conversationId: string): Promise<Listed[]> {
    let listed = this.cache.get(conversationId);
    if (!listed) this.cache.set(conversationId, (listed = this.read(conversationId)));
    return listed;
  }

  private async read(conversationId: string): Promise<Listed[]> {
    const pages: Listed[][] = [];
    let before: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const body = await this.api.call('GET', `/v2/apps/${this.appId}/conversations/${conversationId}/messages?page[size]=100${before ? `&page[before]=${before}` : ''}`);
      pages.unshift(body.messages.map((m: any) => ({ id: m.id, seq: m.seq, text: typeof m.content?.text === 'string' ? m.content.text : '' })));
      before = body.meta?.beforeCursor;
      if (!before) break;
    }
    return pages.flat();
  }
}

async function inParallel<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!);
  }));
}

/**
 * `sent`: token → conversation it was sent to, for the tokens of one scenario.
 * `ordered`: the conversations whose tokens the bench sent one after another (send order = token number).
 * `refused`: tokens whose request failed; stored once or not at all is right for them (the failure may
 * have come after the commit), twice is not.
 */
export async function storedOnce(listings: Listings, sent: Map<string, string>, ordered: boolean, refused = new Set<string>()): Promise<Check[]> {
  const byConversation = new Map<string, Set<string>>();
  for (const [t, c] of sent) {
    if (!byConversation.has(c)) byConversation.set(c, new Set());
    byConversation.get(c)!.add(t);
  }
  let missing = 0;
  let duplicated = 0;
  let misplaced = 0;
  let seqBroken = 0;
  let outOfOrder = 0;
  const failures: string[] = [];
  await inParallel([...byConversation.keys()], 16, async (conversationId) => {
    const expected = byConversation.get(conversationId)!;
    const listed = await listings.get(conversationId);
    for (let i = 1; i < listed.length; i++) if (!(listed[i]!.seq > listed[i - 1]!.seq)) seqBroken++;
    const seen = new Map<string, number>();
    const order: number[] = [];
    for (const m of listed) {
      for (const match of m.text.matchAll(TOKEN)) {
        const t = match[0];
        if (!sent.has(t)) continue;
        seen.set(t, (seen.get(t) ?? 0) + 1);
        if (!expected.has(t)) misplaced++;
        else order.push(Number(t.slice(t.lastIndexOf('-') + 1)));
      }
    }
    for (const t of expected) {
      const n = seen.get(t) ?? 0;
      if (n === 0 && !refused.has(t)) missing++;
      if (n > 1) duplicated += n - 1;
      if ((n > 1 || (n === 0 && !refused.has(t))) && failures.length < 5) failures.push(`${t} stored ${n}×`);
    }
    if (ordered) for (let i = 1; i < order.length; i++) if (order[i]! < order[i - 1]!) outOfOrder++;
  });
  const checks: Check[] = [
    {
      name: 'stored once',
      ok: missing === 0 && duplicated === 0 && misplaced === 0,
      detail: `${sent.size} messages in ${byConversation.size} conversations${refused.size ? ` (${refused.size} refused, may be absent)` : ''}: ${missing} missing, ${duplicated} duplicated, ${misplaced} in another conversation${failures.length ? ` (${failures.join(', ')})` : ''}`,
    },
    { name: 'seq increasing', ok: seqBroken === 0, detail: seqBroken === 0 ? 'strictly increasing in every conversation' : `${seqBroken} listings where seq does not increase` },
  ];
  if (ordered) checks.push({ name: 'send order kept', ok: outOfOrder === 0, detail: outOfOrder === 0 ? 'each conversation lists its messages in the order they were sent' : `${outOfOrder} messages listed before one sent earlier` });
  return checks;
}

/** `count`: token → times received; `refused` tokens (their request failed) may be missing, never doubled. */
export function receivedOnce(what: string, tokens: Iterable<string>, count: Map<string, number>, refused = new Set<string>()): Check {
  let missing = 0;
  let extra = 0;
  let n = 0;
  for (const t of tokens) {
    n++;
    const c = count.get(t) ?? 0;
    if (c === 0 && !refused.has(t)) missing++;
    if (c > 1) extra += c - 1;
  }
  return {
    name: `${what} once`,
    ok: missing === 0 && extra === 0,
    detail: `${n - refused.size} expected${refused.size ? ` (+${refused.size} refused, may be absent)` : ''}: ${missing} never received, ${extra} received again`,
  };
}

/** Per conversation, the channel received the messages in the order they were sent. */
export function deliveredInOrder(sent: Map<string, string>, first: Map<string, number>): Check {
  const byConversation = new Map<string, { n: number; at: number }[]>();
  for (const [t, c] of sent) {
    const at = first.get(t);
    if (at === undefined) continue;
    if (!byConversation.has(c)) byConversation.set(c, []);
    byConversation.get(c)!.push({ n: Number(t.slice(t.lastIndexOf('-') + 1)), at });
  }
  let outOfOrder = 0;
  for (const list of byConversation.values()) {
    list.sort((a, b) => a.n - b.n);
    for (let i = 1; i < list.length; i++) if (list[i]!.at < list[i - 1]!.at) outOfOrder++;
  }
  return { name: 'channel order kept', ok: outOfOrder === 0, detail: outOfOrder === 0 ? "each user's channel got the messages in the order they were sent" : `${outOfOrder} messages reached the channel before one sent earlier` };
}
