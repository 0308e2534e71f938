/**
 * The D1 message index (`message_index`, and `conversations.last_updated_at`)
 * is fed by the ConversationDO's outbox through the `index` queue. It must hold
 * every committed message exactly once, a few seconds after the commit, even
 * when the consumer failed and the queue retried; deletions must be reflected;
 * and a redelivered upsert must never bring back a message the DO deleted.
 *
 * The first two tests use the real queue and consumer end to end; the consumer
 * is made to fail for real by renaming `message_index` away. The reordering
 * tests need one exact delivery order, which the real queue produces only by
 * timing luck, so they capture the bodies the DO sends and hand them to the
 * Worker's own queue handler in that order (see deliverIndexBatch).
 */
import { env, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import type { Env } from '../../src/env';
import type { IndexOp } from '../../src/schema/index-ops';
import type { WebhookKick } from '../../src/schema/webhook-queue';
import { call } from './helpers';
import {
  addConversation,
  batchesTouching,
  conversationDO,
  deliverIndexBatch,
  type Fixture,
  indexCount,
  indexRows,
  type ListedMessage,
  messagesPath,
  newConversation,
  outboxRows,
  pollUntil,
  postAll,
  postText,
  sleep,
  walkListing,
  watchD1Batches,
} from './load-fixtures';

const PARKED = 'message_index_parked';
let restoreWatch: (() => void) | undefined;
let parked = false;

async function parkIndexTable() {
  await env.DB.exec(`ALTER TABLE message_index RENAME TO ${PARKED}`);
  parked = true;
}
async function unparkIndexTable() {
  await env.DB.exec(`ALTER TABLE ${PARKED} RENAME TO message_index`);
  parked = false;
}

afterEach(async () => {
  restoreWatch?.();
  restoreWatch = undefined;
  if (parked) await unparkIndexTable();
});

/** Waits until the DO has handed every outbox row to the queue (e.g. the conversation's own create op). */
async function outboxDrained(f: Fixture) {
  const { value } = await pollUntil(() => outboxRows(f.appId, f.conversationId), (rows) => rows.length === 0, 10_000);
  expect(value, 'the DO outbox drains').toEqual([]);
}

/** The index must be a faithful copy of the DO's listing: same ids, seq, received, author, text and body. */
async function expectIndexMatchesListing(f: Fixture) {
  const { backward: listed } = await walkListing(f);
  const rows = await indexRows(f.conversationId);
  expect(
    rows.map((r) => ({ id: r.id, seq: r.seq, received: r.received, text: r.text, authorType: r.author_type, contentType: r.content_type, appId: r.app_id })),
  ).toEqual(
    listed.map((m) => ({ id: m.id, seq: m.seq, received: m.received, text: m.content.text ?? null, authorType: m.author.type, contentType: m.content.type, appId: f.appId })),
  );
  expect(rows.map((r) => JSON.parse(r.body))).toEqual(listed);
  return listed;
}

async function conversationIndexRow(conversationId: string) {
  return env.DB.prepare('SELECT last_updated_at, cleared_up_to_seq, deleted_at FROM conversations WHERE id = ?')
    .bind(conversationId)
    .first<{ last_updated_at: string | null; cleared_up_to_seq: number; deleted_at: string | null }>();
}

const newest = (listed: ListedMessage[]) => listed.map((m) => m.received).sort().at(-1);

describe('D1 message index', () => {
  it('holds every message exactly once after the consumer failed and the queue retried it', { timeout: 60_000 }, async () => {
    const f = await newConversation('Index: consumer fails then recovers');
    await outboxDrained(f);
    const watch = watchD1Batches();
    restoreWatch = watch.restore;

    await parkIndexTable();
    const concurrent = Array.from({ length: 40 }, (_, i) => `burst ${i}`);
    const results = await postAll(f, concurrent);
    const sequential: typeof results = [];
    for (let i = 0; i < 10; i++) sequential.push(await postText(f, `trickle ${i}`));
    const lastCommitAt = Date.now();
    const all = [...results, ...sequential];
    expect(all.filter((r) => r.status !== 201).map((r) => r.body)).toEqual([]);
    const ids = all.map((r) => r.body.messages[0].id as string);
    const total = ids.length;

    // The consumer really fails, and the queue really tries again: at least two failed batches carry our messages.
    const { value: failed } = await pollUntil(
      async () => batchesTouching(watch.records, ids).filter((b) => !b.ok),
      (bs) => bs.length >= 2,
      15_000,
    );
    expect(failed.length, 'failed consumer batches carrying the posted messages').toBeGreaterThanOrEqual(2);
    expect(failed[0]!.error).toMatch(/no such table: message_index/);
    // Only index ops wait in the DO, sent and unconfirmed (no D1 batch holding them succeeded); the DO sends them
    // again only after QUEUE_REKICK_MS (60 s), so it is the queue's redelivery that fills the index here.
    expect((await outboxRows(f.appId, f.conversationId)).filter((r) => r.queue !== 'index')).toEqual([]);
    const leaked = await env.DB.prepare(`SELECT count(*) AS n FROM ${PARKED} WHERE conversation_id = ?`).bind(f.conversationId).first<{ n: number }>();
    expect(leaked?.n, 'no row was written while the consumer was failing').toBe(0);

    await unparkIndexTable();
    const healedAt = Date.now();
    const { value: counted, ms } = await pollUntil(() => indexCount(f.conversationId), (c) => c.n >= total, 15_000);
    console.log(
      `[index] ${total} messages indexed ${ms} ms after D1 recovered (${Date.now() - lastCommitAt} ms after the last commit); ` +
        `${failed.length} failed consumer attempts before that`,
    );
    expect(counted).toEqual({ n: total, distinct: total });
    const succeeded = batchesTouching(watch.records, ids).filter((b) => b.ok && b.at >= healedAt);
    expect(succeeded.length, 'a redelivered batch succeeded after recovery').toBeGreaterThan(0);

    // Still exactly once after any further redelivery has had time to land.
    await sleep(2_500);
    expect(await indexCount(f.conversationId)).toEqual({ n: total, distinct: total });
    const listed = await expectIndexMatchesListing(f);
    expect(new Set(listed.map((m) => m.id))).toEqual(new Set(ids));

    // conversations.last_updated_at follows the newest message, and agrees with the DO.
    const conv = await conversationIndexRow(f.conversationId);
    expect(conv?.last_updated_at).toBe(newest(listed));
    const fromDO = await call('GET', `/v2/apps/${f.appId}/conversations/${f.conversationId}`, f.auth);
    expect(fromDO.body.conversation.lastUpdatedAt).toBe(newest(listed));
  });

  it('reflects deleting one message and deleting all messages; seq continues after a clear; last_updated_at follows', { timeout: 60_000 }, async () => {
    const f = await newConversation('Index: deletions');
    const posted: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await postText(f, `m${i}`);
      expect(r.status).toBe(201);
      posted.push(r.body.messages[0].id);
    }
    const first = await pollUntil(() => indexCount(f.conversationId), (c) => c.n >= 10);
    expect(first.value).toEqual({ n: 10, distinct: 10 });
    let listed = await expectIndexMatchesListing(f);
    expect((await conversationIndexRow(f.conversationId))?.last_updated_at).toBe(newest(listed));

    // Delete one from the middle.
    const victim = posted[4]!;
    expect((await call('DELETE', `${messagesPath(f)}/${victim}`, f.auth)).status).toBe(200);
    const afterOne = await pollUntil(() => indexRows(f.conversationId), (rows) => !rows.some((r) => r.id === victim));
    expect(afterOne.value.map((r) => r.id)).toEqual(posted.filter((id) => id !== victim));
    listed = await expectIndexMatchesListing(f);
    expect(listed.map((m) => m.seq)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);

    // Delete all.
    expect((await call('DELETE', messagesPath(f), f.auth)).status).toBe(200);
    const afterAll = await pollUntil(() => indexCount(f.conversationId), (c) => c.n === 0);
    expect(afterAll.value).toEqual({ n: 0, distinct: 0 });
    expect((await walkListing(f)).backward).toEqual([]);
    expect((await conversationIndexRow(f.conversationId))?.cleared_up_to_seq).toBe(10);

    // New messages after a clear continue the sequence and are indexed.
    const again = [await postText(f, 'after clear 1'), await postText(f, 'after clear 2')];
    expect(again.map((r) => [r.status, r.body.messages[0].seq])).toEqual([
      [201, 11],
      [201, 12],
    ]);
    const refilled = await pollUntil(() => indexCount(f.conversationId), (c) => c.n >= 2);
    expect(refilled.value).toEqual({ n: 2, distinct: 2 });
    listed = await expectIndexMatchesListing(f);
    expect((await conversationIndexRow(f.conversationId))?.last_updated_at).toBe(newest(listed));
  });
});

// ---- reordered redelivery -------------------------------------------------

/**
 * Makes the DO hand its feed messages to `captured` instead of the real
 * webhooks queue, keeping the index ops they carry, so the test owns the
 * exact ops the DO emitted (in outbox order). Replaces only this instance's
 * env; returns the restore.
 */
async function captureIndexOps(f: Fixture, captured: IndexOp[]): Promise<() => Promise<void>> {
  const stub = conversationDO(f.appId, f.conversationId);
  await runInDurableObject(stub, (instance) => {
    const holder = instance as unknown as { env: Env; __realEnv?: Env };
    const real = holder.env;
    const fake = {
      sendBatch: async (msgs: Iterable<MessageSendRequest<WebhookKick>>) => void captured.push(...[...msgs].flatMap((m) => m.body.index ?? [])),
    } as unknown as Queue<WebhookKick>;
    holder.__realEnv = real;
    holder.env = Object.create(real, { WEBHOOKS_QUEUE: { value: fake } }) as Env;
  });
  return async () => {
    await runInDurableObject(stub, (instance) => {
      const holder = instance as unknown as { env: Env; __realEnv?: Env };
      if (holder.__realEnv) holder.env = holder.__realEnv;
      delete holder.__realEnv;
    });
  };
}

const ofKind = <K extends IndexOp['op']>(ops: IndexOp[], kind: K) => ops.filter((o): o is Extract<IndexOp, { op: K }> => o.op === kind);

/**
 * Queues retry a failed batch after a delay, while later batches go ahead; so
 * an upsert whose first delivery failed can arrive after the delete that
 * followed it. Delivers: upserts (D1 failing for real, so they are retried),
 * then the later op (D1 back), then the upserts again (attempt 2).
 */
async function deliverUpsertsAroundLaterOp(upserts: IndexOp[], later: IndexOp[]) {
  await parkIndexTable();
  expect(await deliverIndexBatch(upserts), 'with message_index gone, the consumer asks for a retry').toBe('retry');
  await unparkIndexTable();
  expect(await deliverIndexBatch(later)).toBe('ack');
  expect(await deliverIndexBatch(upserts, 2)).toBe('ack');
}

describe('D1 message index under reordered redelivery', () => {
  it('a message deleted while its upsert was being retried stays deleted in the index', async () => {
    const f = await newConversation('Index: delete overtakes retried upsert');
    await outboxDrained(f);
    const keep = (await postText(f, 'keep')).body.messages[0];
    await pollUntil(() => indexCount(f.conversationId), (c) => c.n === 1);

    const captured: IndexOp[] = [];
    const restore = await captureIndexOps(f, captured);
    try {
      const doomed = (await postText(f, 'doomed')).body.messages[0];
      expect((await call('DELETE', `${messagesPath(f)}/${doomed.id}`, f.auth)).status).toBe(200);
      await pollUntil(async () => captured.length, (n) => n >= 2, 5_000);
    } finally {
      await restore();
    }
    const upserts = ofKind(captured, 'message.upsert');
    const deletes = ofKind(captured, 'message.delete');
    expect(captured.map((o) => o.op)).toEqual(['message.upsert', 'message.delete']);

    await deliverUpsertsAroundLaterOp(upserts, deletes);

    const listed = (await walkListing(f)).backward;
    expect(listed.map((m) => m.id)).toEqual([keep.id]);
    expect(
      (await indexRows(f.conversationId)).map((r) => r.id),
      'the index holds what the DO holds: a late upsert must not resurrect a deleted message',
    ).toEqual([keep.id]);
  });

  it('messages cleared while their upserts were being retried stay cleared in the index', async () => {
    const f = await newConversation('Index: clear overtakes retried upserts');
    await outboxDrained(f);
    const captured: IndexOp[] = [];
    const restore = await captureIndexOps(f, captured);
    try {
      for (let i = 0; i < 3; i++) expect((await postText(f, `gone ${i}`)).status).toBe(201);
      expect((await call('DELETE', messagesPath(f), f.auth)).status).toBe(200);
      await pollUntil(async () => captured.length, (n) => n >= 4, 5_000);
    } finally {
      await restore();
    }
    expect(captured.map((o) => o.op)).toEqual(['message.upsert', 'message.upsert', 'message.upsert', 'conversation.messagesCleared']);

    await deliverUpsertsAroundLaterOp(ofKind(captured, 'message.upsert'), ofKind(captured, 'conversation.messagesCleared'));

    expect((await walkListing(f)).backward).toEqual([]);
    expect(await indexCount(f.conversationId)).toEqual({ n: 0, distinct: 0 });

    // And a message posted after the clear is still indexed (the tombstone only covers cleared seq).
    const after = await postText(f, 'after clear');
    expect(after.body.messages[0].seq).toBe(4);
    const { value } = await pollUntil(() => indexRows(f.conversationId), (rows) => rows.length >= 1);
    expect(value.map((r) => [r.id, r.seq])).toEqual([[after.body.messages[0].id, 4]]);
  });

  it('a conversation deleted while its message upserts were being retried leaves nothing in the index', async () => {
    const base = await newConversation('Index: conversation delete overtakes retried upserts');
    // Only a non-default conversation can be deleted.
    const f: Fixture = { ...base, conversationId: await addConversation(base.appId, base.auth, base.userId) };
    await outboxDrained(f);
    const captured: IndexOp[] = [];
    const restore = await captureIndexOps(f, captured);
    try {
      for (let i = 0; i < 2; i++) expect((await postText(f, `orphan ${i}`)).status).toBe(201);
      expect((await call('DELETE', `/v2/apps/${f.appId}/conversations/${f.conversationId}`, f.auth)).status).toBe(200);
      await pollUntil(async () => captured.length, (n) => n >= 3, 5_000);
    } finally {
      await restore();
    }
    expect(captured.map((o) => o.op)).toEqual(['message.upsert', 'message.upsert', 'conversation.delete']);

    await deliverUpsertsAroundLaterOp(ofKind(captured, 'message.upsert'), ofKind(captured, 'conversation.delete'));

    expect((await call('GET', `/v2/apps/${f.appId}/conversations/${f.conversationId}`, f.auth)).status).toBe(404);
    expect(await indexCount(f.conversationId)).toEqual({ n: 0, distinct: 0 });
    const listedForUser = await call('GET', `/v2/apps/${f.appId}/conversations?filter[userId]=${f.userId}`, f.auth);
    expect(listedForUser.status).toBe(200);
    expect((listedForUser.body.conversations as { id: string }[]).map((c) => c.id)).not.toContain(f.conversationId);
  });
});
