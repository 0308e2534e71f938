/**
 * The ConversationDO's safety net for queue messages lost after its outbox
 * drained (in-memory local queues die with the runtime; production queues are
 * durable, but Parley does not rely on one message): the object's own state
 * says what is still owed, and its alarm kicks the queue again until a
 * consumer serves it, and stays unset once nothing is owed.
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelLedger } from '../../durable/channel-ledger';
import type { Env } from '../../src/env';
import { FEED_CLAIM_GRACE_MS, type WebhookKick } from '../../src/schema/webhook-queue';
import { eventually, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './channels/harness';
import { conversationDO, indexRows, newConversation, outboxRows, postText, sleep } from './load-fixtures';

type Stub = ReturnType<typeof conversationDO>;
type QueueName = 'WEBHOOKS_QUEUE' | 'DELIVERIES_QUEUE';

/** A queue that accepts every send and delivers nothing, as a crashed local runtime does; it keeps what it was given. */
function blackHole() {
  const sent: unknown[] = [];
  const queue = {
    send: async (body: unknown) => void sent.push(body),
    sendBatch: async (batch: { body: unknown }[]) => void sent.push(...batch.map((m) => m.body)),
  };
  return { sent, queue };
}

/** Gives the object an env with the re-kick wait shortened and, optionally, some queues replaced; returns the undo. */
async function withEnv(stub: Stub, queues: Partial<Record<QueueName, unknown>> | ((real: Env) => Partial<Record<QueueName, unknown>>), rekickMs = '50'): Promise<() => Promise<void>> {
  let real: Env | undefined;
  await runInDurableObject(stub, (instance) => {
    const holder = instance as unknown as { env: Env };
    real = holder.env;
    const props: PropertyDescriptorMap = { QUEUE_REKICK_MS: { value: rekickMs } };
    for (const [name, queue] of Object.entries(typeof queues === 'function' ? queues(real) : queues)) props[name] = { value: queue };
    holder.env = Object.create(real, props) as Env;
  });
  return () => runInDurableObject(stub, (instance) => void ((instance as unknown as { env: Env }).env = real!));
}

const alarmOf = (stub: Stub) => runInDurableObject(stub, (_i, state) => state.storage.getAlarm());

/**
 * Caught up: the object's last alarm is left to fire rather than deleted (a
 * write saved per message), and firing it finds nothing owed and sets none.
 */
async function expectNothingOwed(stub: Stub) {
  await eventually(async () => {
    await runDurableObjectAlarm(stub);
    expect(await alarmOf(stub), 'no alarm is set again').toBeNull();
  });
}
/** The kicks the alarm recorded (a row with no kick only remembers an app without webhooks). */
const kickWatch = (stub: Stub) =>
  runInDurableObject(stub, (_i, state) => state.storage.sql.exec<{ name: string; rekicks: number }>('SELECT name, rekicks FROM kick_watch WHERE kicked_at > 0').toArray());

let undo: (() => Promise<void>) | undefined;
let spy: { mockRestore(): void } | undefined;
afterEach(async () => {
  await undo?.();
  undo = undefined;
  spy?.mockRestore();
  spy = undefined;
});

describe('lost webhook kicks', () => {
  it('a feed message lost after the outbox drained is made good by the alarm once its claims lapse, and the event is delivered', { timeout: 30_000 }, async () => {
    const receiver = new WebhookReceiver();
    spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
    const f = await newConversation('Lost kicks: webhooks');
    await subscribe(f.appId, f.auth);
    const stub = conversationDO(f.appId, f.conversationId);
    const ofMessage = (id: string) => receiver.ofType('conversation:message').filter((e) => (e.payload.message as { id: string }).id === id);
    // A first message served for real: the consumer's report tells the object how it claims for the webhook.
    const first = (await postText(f, 'served')).body.messages[0].id as string;
    await eventually(() => expect(ofMessage(first)).toHaveLength(1));
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));

    const lost = blackHole();
    // The default re-kick wait while the queue loses messages, so the alarm does not kick into the void meanwhile.
    undo = await withEnv(stub, { WEBHOOKS_QUEUE: lost.queue }, '60000');
    const posted = await postText(f, 'the feed message for this one is lost');
    expect(posted.status).toBe(201);
    const messageId = posted.body.messages[0].id as string;
    await eventually(() => expect(lost.sent, 'the feed left the outbox').toHaveLength(1));
    const feed = lost.sent[0] as WebhookKick;
    expect(feed).toMatchObject({ appId: f.appId, conversationId: f.conversationId });
    expect(feed.index?.map((op) => op.op), 'the index op rides in the same message').toEqual(['message.upsert']);
    // Each webhook's next batch, claimed at drain time: the consumer would have delivered without asking.
    expect(feed.claims, 'the webhook\'s claimed batch').toHaveLength(1);
    for (const c of feed.claims!) expect((JSON.parse(c.eventsJson) as { payload: { message?: { id: string } } }[]).map((e) => e.payload.message?.id)).toContain(messageId);
    expect((await outboxRows(f.appId, f.conversationId)).filter((r) => r.queue === 'webhooks')).toEqual([]);
    await sleep(300);
    expect(ofMessage(messageId), 'nothing delivers it: its feed message is gone').toEqual([]);
    const alarm = await alarmOf(stub);
    expect(alarm, 'the claims still owed keep an alarm set').not.toBeNull();
    expect(alarm!, 'no later than the claims lapse').toBeLessThanOrEqual(Date.now() + 20_000 + 5_000 + 60_000 + FEED_CLAIM_GRACE_MS);

    // The queue works again; time passes beyond the claims' lease (as it would for a message lost in a crash).
    await undo();
    undo = await withEnv(stub, {});
    await runInDurableObject(stub, (_i, state) => void state.storage.sql.exec('UPDATE webhook_cursors SET lease_until = ? WHERE lease_until IS NOT NULL', Date.now() - 1));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await eventually(() => expect(ofMessage(messageId)).toHaveLength(1));
    // Caught up (event delivered, index op confirmed): nothing is owed.
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));
    await expectNothingOwed(stub);
    expect(await indexRows(f.conversationId).then((rows) => rows.map((r) => r.id))).toEqual([first, messageId]);
  });

  it('nothing is kicked again once the stream is caught up', async () => {
    const receiver = new WebhookReceiver();
    spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
    const f = await newConversation('Lost kicks: caught up');
    await subscribe(f.appId, f.auth);
    const stub = conversationDO(f.appId, f.conversationId);
    const kicks: unknown[] = [];
    undo = await withEnv(stub, (real) => ({
      WEBHOOKS_QUEUE: {
        sendBatch: async (batch: MessageSendRequest[]) => {
          kicks.push(...batch.map((m) => m.body));
          return real.WEBHOOKS_QUEUE.sendBatch(batch as MessageSendRequest<never>[]);
        },
      },
      // Longer than a consumer takes to report, so the confirmation comes well within it.
    }), '1500');
    const posted = await postText(f, 'served at once');
    const messageId = posted.body.messages[0].id as string;
    await eventually(() => expect(receiver.ofType('conversation:message').filter((e) => (e.payload.message as { id: string }).id === messageId)).toHaveLength(1));
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));
    await sleep(2_000); // longer than the re-kick wait
    await expectNothingOwed(stub);
    expect(kicks, 'only the commit kicked: the alarm left set fired and sent nothing').toHaveLength(1);
    expect(await runDurableObjectAlarm(stub), 'no alarm is set').toBe(false);
    expect(await kickWatch(stub)).toEqual([]);
  });

  it('an app without webhooks is owed nothing: after one kick is served, the alarm is not set again', async () => {
    const f = await newConversation('Lost kicks: no webhooks');
    const stub = conversationDO(f.appId, f.conversationId);
    undo = await withEnv(stub, {}, '1500');
    expect((await postText(f, 'no one listens')).status).toBe(201);
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));
    await expectNothingOwed(stub);
    await sleep(2_000);
    expect(await alarmOf(stub)).toBeNull();
  });
});

describe('lost delivery kicks', () => {
  const client = { id: 'c-lost', integrationId: 'i-lost', type: 'telegram', externalId: '42', userId: 'u-lost', raw: null };

  it('a queued delivery whose kick was lost is kicked again by the alarm, and no more once it is gone', async () => {
    const f = await newConversation('Lost kicks: deliveries');
    const stub = conversationDO(f.appId, f.conversationId);
    const kicks = blackHole();
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));
    undo = await withEnv(stub, { DELIVERIES_QUEUE: kicks.queue }, '1000');
    // A delivery queued a while ago whose kick went nowhere (its outbox row is long gone).
    await runInDurableObject(stub, async (_i, state) => {
      const ledger = new ChannelLedger(state.storage.sql);
      ledger.touchClient(client, Date.now() - 5_000, Date.now() - 5_000);
      ledger.add('m-lost', client.id, '{}', Date.now() - 5_000);
      await state.storage.setAlarm(Date.now());
    });
    await eventually(() => expect(kicks.sent).toHaveLength(1));
    expect(kicks.sent).toEqual([{ appId: f.appId, conversationId: f.conversationId, clientId: client.id }]);
    // Kicked just now: the next kick waits for the (doubled) interval, so an alarm is set but nothing more is sent yet.
    expect(await alarmOf(stub)).toBeGreaterThan(Date.now() + 500);
    expect(await kickWatch(stub)).toEqual([{ name: `deliveries:${client.id}`, rekicks: 1 }]);

    // Served (here: the delivery finished, and the consumer comes for it once more), the client is owed nothing and the alarm goes.
    await runInDurableObject(stub, (_i, state) => void state.storage.sql.exec('DELETE FROM deliveries'));
    expect(await stub.claimDelivery(client.id, 60_000)).toBeUndefined();
    await expectNothingOwed(stub);
    expect(kicks.sent).toHaveLength(1);
    expect(await kickWatch(stub), 'the kick record of a served client is dropped').toEqual([]);
  });
});

describe('lost index ops', () => {
  it('an index op whose queue message was lost stays in the outbox unconfirmed, and the alarm sends it again until D1 holds it', async () => {
    const f = await newConversation('Lost kicks: index');
    const stub = conversationDO(f.appId, f.conversationId);
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));
    const lost = blackHole();
    undo = await withEnv(stub, { WEBHOOKS_QUEUE: lost.queue }, '60000');
    const posted = await postText(f, 'its index op is lost');
    const messageId = posted.body.messages[0].id as string;
    await eventually(() => expect(lost.sent).toHaveLength(1));
    expect(lost.sent[0]).toMatchObject({ index: [{ op: 'message.upsert', message: { id: messageId }, ack: expect.any(Number) }] });
    await sleep(300);
    expect(await indexRows(f.conversationId)).toEqual([]);
    expect((await outboxRows(f.appId, f.conversationId)).map((r) => r.queue), 'kept until the consumer confirms it').toEqual(['index']);

    await undo();
    undo = await withEnv(stub, {});
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await eventually(async () => expect((await indexRows(f.conversationId)).map((r) => r.id)).toEqual([messageId]));
    // Confirmed: the op leaves the outbox and nothing is left to wake for.
    await eventually(async () => expect(await outboxRows(f.appId, f.conversationId)).toEqual([]));
    await expectNothingOwed(stub);
  });
});
