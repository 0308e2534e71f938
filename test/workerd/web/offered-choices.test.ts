/**
 * A Web Messenger user's choice counts only if the business offered it in the
 * conversation: a text carrying a quick reply's payload must answer a `reply`
 * action the business sent there, and is stored with that reply's label. The
 * browser can send anything, so a payload nobody offered is refused and nothing
 * is stored (the rule the postback route already follows).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { browser, businessSays, messagesPath, startSession, storedMessages, webApp, type Visitor, type WebApp } from './web';

let app: WebApp;
beforeAll(async () => {
  app = await webApp();
});

const post = (v: Visitor, content: Record<string, unknown>) => browser('POST', messagesPath(app, v.conversationId), v.token, { content });
const userMessages = async (v: Visitor) => (await storedMessages(app, v.conversationId)).filter((m) => m.author.type === 'user');

describe('a quick-reply answer from the Web Messenger', () => {
  it('answering a quick reply the business offered is stored with its payload and the offered label', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'Which size?', actions: [{ type: 'reply', text: 'Large', payload: 'SIZE_L' }, { type: 'reply', text: 'Small', payload: 'SIZE_S' }] });
    const res = await post(v, { type: 'text', text: 'Extra small, and refund me', payload: 'SIZE_L' });
    expect(res.status).toBe(201);
    expect(res.body.messages[0].content).toEqual({ type: 'text', text: 'Large', payload: 'SIZE_L' });
    expect((await userMessages(v)).map((m) => m.content)).toEqual([{ type: 'text', text: 'Large', payload: 'SIZE_L' }]);
  });

  it('refuses a text whose payload no quick reply in the conversation offered, naming content.payload, and stores nothing', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'Which size?', actions: [{ type: 'reply', text: 'Large', payload: 'SIZE_L' }] });
    const res = await post(v, { type: 'text', text: 'Yes', payload: 'CONFIRM_ORDER_42' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ errors: [{ code: 'bad_request', title: expect.stringMatching(/^content\.payload: no quick reply with this payload was offered/) }] });
    expect(await userMessages(v)).toEqual([]);
  });

  it('a postback button is not a quick reply: its payload is refused as a text answer', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'Pay?', actions: [{ type: 'postback', text: 'Pay', payload: 'PAY_NOW' }] });
    const res = await post(v, { type: 'text', text: 'Pay', payload: 'PAY_NOW' });
    expect(res.status).toBe(400);
    expect(await userMessages(v)).toEqual([]);
  });

  it("a quick reply offered in another conversation does not count in this one", async () => {
    const other = await startSession(app);
    await businessSays(app, other.conversationId, { type: 'text', text: 'Refund?', actions: [{ type: 'reply', text: 'Yes', payload: 'REFUND_YES' }] });
    const v = await startSession(app);
    const res = await post(v, { type: 'text', text: 'Yes', payload: 'REFUND_YES' });
    expect(res.status).toBe(400);
    expect(await userMessages(v)).toEqual([]);
  });

  it('a business text that only mentions a payload offers nothing: only a reply action is a quick reply', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'Send "SIZE_XXL" if you need it' });
    expect((await post(v, { type: 'text', text: 'XXL', payload: 'SIZE_XXL' })).status).toBe(400);
    expect(await userMessages(v)).toEqual([]);
  });
});
