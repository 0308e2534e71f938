/**
 * Shared steps of the ordering, index and ConversationDO suites: make a
 * conversation, post many messages at once, walk the whole message listing
 * both ways, and poll D1's message index. Only the ordering/index/DO suites
 * use these; helpers.ts stays the general-purpose file.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult, runInDurableObject } from 'cloudflare:test';
import { expect } from 'vitest';
import type { Env } from '../../src/env';
import worker from '../../src/index';
import { call, newApp } from './helpers';

export interface ListedMessage {
  id: string;
  seq: number;
  received: string;
  author: { type: string; userId?: string };
  content: { type: string; text?: string };
}

export interface Fixture {
  appId: string;
  auth: string;
  conversationId: string;
  userId: string;
}

/** A fresh app with one user and one personal conversation. */
export async function newConversation(name = 'Load app'): Promise<Fixture> {
  const { appId, auth } = await newApp(name);
  const user = await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: `u-${crypto.randomUUID()}` });
  expect(user.status, JSON.stringify(user.body)).toBe(201);
  const conversationId = await addConversation(appId, auth, user.body.user.id);
  return { appId, auth, conversationId, userId: user.body.user.id as string };
}

/** Another sdkGroup conversation in the same app, with the user as participant. */
export async function addConversation(appId: string, auth: string, userId: string): Promise<string> {
  const conv = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: [{ userId }] });
  expect(conv.status, JSON.stringify(conv.body)).toBe(201);
  return conv.body.conversation.id as string;
}

export const messagesPath = (f: { appId: string; conversationId: string }) => `/v2/apps/${f.appId}/conversations/${f.conversationId}/messages`;

export function postText(f: Fixture, text: string) {
  return call('POST', messagesPath(f), f.auth, { author: { type: 'business' }, content: { type: 'text', text } });
}

/** The ConversationDO stub, addressed the way the API addresses it. */
export function conversationDO(appId: string, conversationId: string) {
  return env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${appId}/${conversationId}`));
}

/**
 * Posts `texts` all at once (every request in flight before any is awaited)
 * and returns each response, in the order of `texts`.
 */
export async function postAll(f: Fixture, texts: string[]) {
  return Promise.all(texts.map((t) => postText(f, t)));
}

const MAX_PAGES = 1_000;

/**
 * Walks the whole listing: newest page first, back through `page[before]`
 * until no beforeCursor; then forward again from the oldest page through
 * `page[after]` until no afterCursor. Returns both walks in chronological
 * order; a correct server gives the same list twice.
 */
export async function walkListing(f: Fixture, size = 100): Promise<{ backward: ListedMessage[]; forward: ListedMessage[]; pages: number }> {
  const base = `${messagesPath(f)}?page[size]=${size}`;
  const pagesBack: ListedMessage[][] = [];
  let before: string | undefined;
  for (let i = 0; ; i++) {
    if (i >= MAX_PAGES) throw new Error('listing did not end walking page[before]');
    const res = await call('GET', before ? `${base}&page[before]=${before}` : base, f.auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const page = res.body.messages as ListedMessage[];
    expect(page.length, 'a page never exceeds page[size]').toBeLessThanOrEqual(size);
    pagesBack.unshift(page);
    before = res.body.meta.beforeCursor;
    if (!before) break;
    expect(page.length, 'a page with older messages behind it is full').toBe(size);
  }
  const backward = pagesBack.flat();

  const forward: ListedMessage[] = [...(pagesBack[0] ?? [])];
  let after: string | undefined = forward[forward.length - 1]?.id;
  // Walk forward from the last message of the oldest page.
  let pages = 1;
  for (let i = 0; after !== undefined; i++) {
    if (i >= MAX_PAGES) throw new Error('listing did not end walking page[after]');
    const res = await call('GET', `${base}&page[after]=${after}`, f.auth);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const page = res.body.messages as ListedMessage[];
    pages++;
    forward.push(...page);
    after = res.body.meta.afterCursor;
    if (page.length === 0) break;
  }
  return { backward, forward, pages: Math.max(pagesBack.length, pages) };
}

/**
 * The ordering contract for one conversation: exactly the posted texts, each
 * once, distinct ids, seq 1..n strictly increasing with no gap, and the
 * listing agreeing with what each POST answered.
 */
export function expectExactSequence(listed: ListedMessage[], texts: string[], posted: { id: string; seq: number; text: string }[], label = '') {
  const n = texts.length;
  expect(listed.length, `${label} listed count`).toBe(n);
  expect(new Set(listed.map((m) => m.id)).size, `${label} distinct ids`).toBe(n);
  expect(
    listed.map((m) => m.seq),
    `${label} seq is 1..n in listing order`,
  ).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  const counts = new Map<string, number>();
  for (const m of listed) counts.set(m.content.text ?? '', (counts.get(m.content.text ?? '') ?? 0) + 1);
  const missing = texts.filter((t) => counts.get(t) !== 1);
  expect(missing, `${label} every posted text appears exactly once`).toEqual([]);
  // What each POST answered is what the listing holds.
  const byId = new Map(listed.map((m) => [m.id, m]));
  const mismatched = posted.filter((p) => {
    const m = byId.get(p.id);
    return !m || m.seq !== p.seq || m.content.text !== p.text;
  });
  expect(mismatched, `${label} listing matches the 201 answers (id, seq, text)`).toEqual([]);
  // received never goes backwards along seq.
  for (let i = 1; i < listed.length; i++) {
    expect(listed[i]!.received >= listed[i - 1]!.received, `${label} received is non-decreasing along seq at ${i}`).toBe(true);
  }
}

export interface IndexCount {
  n: number;
  distinct: number;
}

export async function indexCount(conversationId: string): Promise<IndexCount> {
  const row = await env.DB.prepare('SELECT count(*) AS n, count(DISTINCT id) AS distinct_ids FROM message_index WHERE conversation_id = ?')
    .bind(conversationId)
    .first<{ n: number; distinct_ids: number }>();
  return { n: row?.n ?? 0, distinct: row?.distinct_ids ?? 0 };
}

/**
 * Polls until `check` holds or `timeoutMs` passes; returns the last value
 * and the time it took, so the caller asserts on the value (never on time).
 */
export async function pollUntil<T>(read: () => Promise<T>, check: (v: T) => boolean, timeoutMs = 15_000, everyMs = 100): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let value = await read();
  while (!check(value) && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, everyMs));
    value = await read();
  }
  return { value, ms: Date.now() - start };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- watching D1 and the outbox ------------------------------------------

export interface D1BatchRecord {
  at: number;
  ok: boolean;
  error?: string;
  statements: { sql: string; params: unknown[] }[];
}

/**
 * Records every `D1Database#batch` call in this isolate (the index consumer
 * runs in the same isolate as the tests) without changing it: each call goes
 * to the real D1 and its outcome is recorded. Used to prove the consumer
 * really failed and was retried, never to make it fail.
 */
export function watchD1Batches(): { records: D1BatchRecord[]; restore: () => void } {
  const proto = Object.getPrototypeOf(env.DB) as { batch: D1Database['batch'] };
  const original = proto.batch;
  const records: D1BatchRecord[] = [];
  proto.batch = async function (this: D1Database, statements: D1PreparedStatement[]) {
    const record: D1BatchRecord = {
      at: Date.now(),
      ok: false,
      statements: statements.map((s) => {
        const raw = s as unknown as { statement?: unknown; params?: unknown };
        return { sql: String(raw.statement ?? ''), params: Array.isArray(raw.params) ? raw.params : [] };
      }),
    };
    records.push(record);
    try {
      const result = await original.call(this, statements);
      record.ok = true;
      return result;
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      throw err;
    }
  } as D1Database['batch'];
  return { records, restore: () => void (proto.batch = original) };
}

/** Batches whose statements touch `message_index` with any of `ids` among their parameters. */
export function batchesTouching(records: D1BatchRecord[], ids: string[]): D1BatchRecord[] {
  const wanted = new Set(ids);
  return records.filter((r) => r.statements.some((s) => s.sql.includes('message_index') && s.params.some((p) => typeof p === 'string' && wanted.has(p))));
}

export interface OutboxRow {
  id: number;
  queue: string;
  body: string;
}

export function outboxRows(appId: string, conversationId: string): Promise<OutboxRow[]> {
  return runInDurableObject(conversationDO(appId, conversationId), (_instance, state) =>
    state.storage.sql.exec<{ id: number; queue: string; body: string }>('SELECT id, queue, body FROM outbox ORDER BY id').toArray(),
  );
}

export interface IndexRow {
  id: string;
  app_id: string;
  conversation_id: string;
  seq: number;
  received: string;
  author_type: string;
  author_user_id: string | null;
  content_type: string;
  text: string | null;
  body: string;
}

export async function indexRows(conversationId: string): Promise<IndexRow[]> {
  const { results } = await env.DB.prepare('SELECT * FROM message_index WHERE conversation_id = ? ORDER BY seq').bind(conversationId).all<IndexRow>();
  return results;
}

/**
 * Hands `bodies` to the Worker's own queue handler as one batch of the
 * `parley-index` queue, the way the Queues runtime would (used only where a
 * test needs one exact delivery order). Returns whether the batch would be
 * acknowledged or retried.
 */
export async function deliverIndexBatch(bodies: unknown[], attempts = 1): Promise<'ack' | 'retry'> {
  const batch = createMessageBatch(
    'parley-index',
    bodies.map((body) => ({ id: crypto.randomUUID(), timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  try {
    await worker.queue!(batch, env as unknown as Env);
  } catch {
    // A queue handler that throws has its whole batch retried.
    await getQueueResult(batch, ctx);
    return 'retry';
  }
  const result = await getQueueResult(batch, ctx);
  return result.retryBatch.retry || result.retryMessages.length > 0 ? 'retry' : 'ack';
}
