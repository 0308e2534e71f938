/**
 * Ordering under concurrency: the ConversationDO is the single writer of a
 * conversation, so any number of simultaneous POSTs must each get a 201 and a
 * distinct `seq`, and the listing must hold every message exactly once, with
 * `seq` running 1..n with no gap, in both paging directions. Wall times are
 * printed for the closing note; they are never asserted.
 */
import { describe, expect, it } from 'vitest';
import { addConversation, expectExactSequence, type Fixture, newConversation, outboxRows, pollUntil, postAll, walkListing } from './load-fixtures';

const PAGE_SIZE = 100;

/** Posts per conversation in the 50-conversation run (see the note in the report for the measured time). */
const MANY_CONVERSATIONS = 50;
const POSTS_PER_CONVERSATION = 200;

const texts = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} #${i} ${crypto.randomUUID()}`);

function answered(results: { status: number; body: any }[], sent: string[]) {
  const failures = results.map((r, i) => ({ i, status: r.status, body: r.body })).filter((r) => r.status !== 201);
  expect(failures.slice(0, 5), `${failures.length} of ${results.length} posts did not answer 201`).toEqual([]);
  return results.map((r, i) => {
    const m = r.body.messages[0];
    expect(m.content.text).toBe(sent[i]);
    return { id: m.id as string, seq: m.seq as number, text: sent[i]! };
  });
}

/**
 * Waits until every index op of these conversations is confirmed (their outboxes are empty). The
 * consumer is still applying and confirming ops when the listing walks end; a file that ended then
 * would tear its environment down under that work, which workerd prints as uncaught exceptions.
 */
async function expectIndexSettled(fixtures: Fixture[]) {
  const left = await pollUntil(
    async () => (await Promise.all(fixtures.map((f) => outboxRows(f.appId, f.conversationId)))).reduce((n, rows) => n + rows.length, 0),
    (n) => n === 0,
    60_000,
    250,
  );
  expect(left.value, 'index ops still waiting in the conversations\' outboxes').toBe(0);
}

describe('message ordering under concurrent posts', () => {
  it('200 concurrent posts to one conversation: all 201, seq 1..200 with no gap, each message listed once', { timeout: 90_000 }, async () => {
    const f = await newConversation('Ordering: one conversation');
    const sent = texts('solo', 200);

    const t0 = performance.now();
    const results = await postAll(f, sent);
    const postMs = performance.now() - t0;

    const posted = answered(results, sent);
    expect(new Set(posted.map((p) => p.seq)).size, 'the 201 answers carry distinct seq').toBe(200);

    const t1 = performance.now();
    const { backward, forward, pages } = await walkListing(f, PAGE_SIZE);
    const listMs = performance.now() - t1;

    expectExactSequence(backward, sent, posted, 'page[before] walk:');
    expectExactSequence(forward, sent, posted, 'page[after] walk:');
    expect(forward.map((m) => m.id)).toEqual(backward.map((m) => m.id));
    await expectIndexSettled([f]);

    console.log(
      `[ordering] 1 conversation x 200 concurrent POSTs: ${postMs.toFixed(0)} ms wall (${(200 / (postMs / 1000)).toFixed(0)} msg/s); ` +
        `listing walk (${pages} pages each way): ${listMs.toFixed(0)} ms`,
    );
  });

  it(`${MANY_CONVERSATIONS} conversations x ${POSTS_PER_CONVERSATION} concurrent posts each, all in flight together`, { timeout: 240_000 }, async () => {
    const first = await newConversation('Ordering: many conversations');
    const fixtures: Fixture[] = [first];
    const more = await Promise.all(
      Array.from({ length: MANY_CONVERSATIONS - 1 }, () => addConversation(first.appId, first.auth, first.userId)),
    );
    for (const conversationId of more) fixtures.push({ ...first, conversationId });
    expect(new Set(fixtures.map((f) => f.conversationId)).size).toBe(MANY_CONVERSATIONS);

    const sent = fixtures.map((_, c) => texts(`c${c}`, POSTS_PER_CONVERSATION));
    const total = MANY_CONVERSATIONS * POSTS_PER_CONVERSATION;

    const t0 = performance.now();
    // Every request of every conversation starts before any is awaited.
    const results = await Promise.all(fixtures.map((f, c) => postAll(f, sent[c]!)));
    const postMs = performance.now() - t0;

    const posted = results.map((r, c) => answered(r, sent[c]!));

    const t1 = performance.now();
    const walks = await Promise.all(fixtures.map((f) => walkListing(f, PAGE_SIZE)));
    const listMs = performance.now() - t1;

    walks.forEach((w, c) => {
      expectExactSequence(w.backward, sent[c]!, posted[c]!, `conversation ${c} page[before] walk:`);
      expectExactSequence(w.forward, sent[c]!, posted[c]!, `conversation ${c} page[after] walk:`);
    });
    // No message leaked into another conversation: ids are globally distinct.
    expect(new Set(walks.flatMap((w) => w.backward.map((m) => m.id))).size).toBe(total);
    await expectIndexSettled(fixtures);

    console.log(
      `[ordering] ${MANY_CONVERSATIONS} conversations x ${POSTS_PER_CONVERSATION} concurrent POSTs (${total} in flight): ` +
        `${postMs.toFixed(0)} ms wall (${(total / (postMs / 1000)).toFixed(0)} msg/s); listing walks: ${listMs.toFixed(0)} ms`,
    );
  });
});
