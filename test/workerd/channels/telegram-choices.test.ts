/**
 * Telegram lets a client put any data in a callback query ("the message that
 * originated the query can contain no callback buttons with this data"), so a
 * tap counts as a choice only when the message Telegram names carries a button
 * with that data: anything else raises no conversation:postback and stores
 * nothing. Events of one conversation reach a webhook in order, so a genuine
 * tap sent after a forged one is the barrier that proves the forged one raised
 * nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { TelegramFake, type TelegramUser } from '../../fakes/telegram';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://telegram-choices.test';
const fake = new TelegramFake({ webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let webhookUrl: string;

const bea: TelegramUser = { id: 8101, first_name: 'Bea' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('telegram choices');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: fake.token, apiBaseUrl: API });
  expect(res.status).toBe(201);
  webhookUrl = res.body.integration.webhookUrl;
});

afterAll(() => restore());

async function conversationOf(user: TelegramUser): Promise<string> {
  expect((await hook(fake.text(webhookUrl, user, 'hello'))).status).toBe(200);
  const added = await eventually(() => {
    const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as { externalId: string }).externalId === String(user.id));
    if (!e) throw new Error('no client:add yet');
    return e;
  });
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${(added.payload.user as { id: string }).id}`, app.auth);
  return list.body.conversations[0].id;
}

/** The business sends a message with these postback buttons; resolves once the bot has sent it. */
async function businessOffers(conversationId: string, text: string, buttons: { text: string; payload: string }[]) {
  const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, {
    author: { type: 'business' },
    content: { type: 'text', text, actions: buttons.map((b) => ({ type: 'postback', ...b })) },
  });
  expect(posted.status).toBe(201);
  return eventually(() => {
    const sent = fake.sent.get(String(bea.id))?.find((m) => m.text === text);
    if (!sent) throw new Error('not sent yet');
    return sent;
  });
}

const postbacksIn = (conversationId: string) =>
  receiver
    .ofType('conversation:postback')
    .filter((e) => (e.payload.conversation as { id: string }).id === conversationId)
    .map((e) => e.payload.postback as { payload: string; text?: string });

describe('a Telegram tap', () => {
  let conversationId: string;
  let first: Record<string, unknown>;
  beforeAll(async () => {
    conversationId = await conversationOf(bea);
    first = await businessOffers(conversationId, 'Keep your order?', [{ text: 'Keep it', payload: 'KEEP' }]);
    await businessOffers(conversationId, 'Refund what?', [{ text: 'Refund one item', payload: 'REFUND_ONE' }]);
  });

  it('whose data no button of its message carries raises no conversation:postback and stores nothing', async () => {
    const before = (await messages(app.appId, app.auth, conversationId)).length;
    expect((await hook(fake.callbackQuery(webhookUrl, bea, 'REFUND_ALL'))).status).toBe(200);
    expect((await hook(fake.callbackQuery(webhookUrl, bea, '#9'))).status).toBe(200);
    // Data a button of another message carries is no choice on this one.
    expect((await hook(fake.callbackQuery(webhookUrl, bea, 'KEEP'))).status).toBe(200);
    expect((await hook(fake.tap(webhookUrl, bea, 'Refund one item'))).status).toBe(200);
    await eventually(() => expect(postbacksIn(conversationId).map((p) => p.payload)).toContain('REFUND_ONE'));
    expect(postbacksIn(conversationId)).toEqual([{ payload: 'REFUND_ONE', text: 'Refund one item' }]);
    expect(await messages(app.appId, app.auth, conversationId)).toHaveLength(before);
  });

  it("on a button of an earlier message still raises that button's postback", async () => {
    expect((await hook(fake.callbackQuery(webhookUrl, bea, 'KEEP', { message: first }))).status).toBe(200);
    await eventually(() => expect(postbacksIn(conversationId)).toContainEqual({ payload: 'KEEP', text: 'Keep it' }));
  });

  it('with no message to check it against (inline mode, which Parley never sends) raises nothing', async () => {
    const update = { update_id: fake.nextUpdateId(), callback_query: { id: '99', from: { id: bea.id, is_bot: false, first_name: 'Bea' }, chat_instance: '-1', inline_message_id: 'AAA', data: 'REFUND_ONE' } };
    expect((await hook(fake.update(webhookUrl, update))).status).toBe(200);
    const count = postbacksIn(conversationId).filter((p) => p.payload === 'REFUND_ONE').length;
    const keeps = postbacksIn(conversationId).filter((p) => p.payload === 'KEEP').length;
    expect((await hook(fake.callbackQuery(webhookUrl, bea, 'KEEP', { message: first }))).status).toBe(200);
    await eventually(() => expect(postbacksIn(conversationId).filter((p) => p.payload === 'KEEP')).toHaveLength(keeps + 1));
    expect(postbacksIn(conversationId).filter((p) => p.payload === 'REFUND_ONE')).toHaveLength(count);
  });
});
