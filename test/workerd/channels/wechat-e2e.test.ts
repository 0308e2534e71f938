/**
 * WeChat through the whole product: the integration created against the fake
 * (setup checks the credentials and makes the token the customer pastes into
 * the console, whose GET check /hooks answers), signed XML callbacks to
 * /hooks/{id} deduped by their 64-bit MsgIds, a tampered or unsigned callback
 * refused, media copied into R2, business messages sent through the
 * deliveries queue as customer-service messages (menus and their taps
 * included), an expired access token refreshed on the way, a failure
 * raising delivery:failure with WeChat's errcode, and a safe-mode (AES)
 * account end to end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { WeChatFake } from '../../fakes/wechat';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://api.weixin.test';
const SAFE_API = 'https://api-safe.weixin.test';
const KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const fake = new WeChatFake({ origin: API, webhookFetch: (request) => hook(request) });
const safeFake = new WeChatFake({ origin: SAFE_API, appId: 'wx49f0ab532d5d035a', originalId: 'gh_safe00000001', webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string; token: string };

const ann = 'oAnnWeChatOpenId000000000000';

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [SAFE_API]: safeFake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('wechat e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'wechat', appId: fake.appId, appSecret: fake.appSecret, apiBaseUrl: API, displayName: 'Taco Service' });
  expect(res.status).toBe(201);
  integration = res.body.integration;
  // The customer copies URL and Token into the console's server configuration.
  fake.server = { token: integration.token, mode: 'plain' };
});

afterAll(() => restore());

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const post = async (conversationId: string, content: Record<string, unknown>) => {
  const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
  expect(res.status).toBe(201);
  return res.body.messages[0].id as string;
};

const eventFor = (type: string, messageId: string) =>
  eventually(() => {
    const e = receiver.ofType(type).find((ev) => (ev.payload.message as { id: string }).id === messageId);
    if (!e) throw new Error(`no ${type} yet`);
    return e;
  }, 15_000);

describe('wechat integration', () => {
  it('is created active, showing the appId and the token to paste beside webhookUrl, never the appSecret', async () => {
    expect(integration).toMatchObject({ type: 'wechat', status: 'active', displayName: 'Taco Service', appId: fake.appId, token: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(integration.webhookUrl).toMatch(new RegExp(`/hooks/${integration.id}$`));
    expect(JSON.stringify(integration)).not.toContain(fake.appSecret);
    expect(fake.callsTo('/cgi-bin/stable_token')).toHaveLength(1);
  });

  it("answers the console's signed GET check with the echostr, and refuses one signed with another token", async () => {
    const check = await hook(await fake.verifyServer(integration.webhookUrl, '4375120948345356249'));
    expect(check.status).toBe(200);
    expect(await check.text()).toBe('4375120948345356249');
    const forged = new WeChatFake({ origin: API });
    forged.server = { token: 'notTheToken', mode: 'plain' };
    expect((await hook(await forged.verifyServer(integration.webhookUrl))).status).toBe(403);
  });
});

describe('inbound', () => {
  it('a signed text delivered three times (WeChat retries) is stored once under its 64-bit MsgId, and answered success', async () => {
    const req = await fake.text(integration.webhookUrl, ann, '你好, tacos?', { msgId: 18_014_398_509_481_985n });
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) {
      const res = await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }));
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('success');
    }
    const conversationId = await conversationOf(ann);
    const stored = await messages(app.appId, app.auth, conversationId);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: '你好, tacos?' }, source: { type: 'wechat', integrationId: integration.id, originalMessageId: '18014398509481985' } });
    expect((receiver.ofType('client:add')[0]!.payload.client as Record<string, unknown>)).toMatchObject({ type: 'wechat', integrationId: integration.id, externalId: ann });
    await eventually(() => expect(receiver.ofType('conversation:message').map((e) => (e.payload.message as { id: string }).id)).toEqual([stored[0]!.id]));
  });

  it('a body swapped under a used signature, an unsigned, a wrongly signed and a stale callback are refused and store nothing', async () => {
    const conversationId = await conversationOf(ann);
    const genuine = await fake.text(integration.webhookUrl, ann, 'pay 10');
    const raw = await genuine.clone().text();
    expect((await hook(genuine)).status).toBe(200);
    expect((await hook(new Request(genuine.url, { method: 'POST', body: raw.replace('pay 10', 'pay 99') }))).status).toBe(403);
    expect((await messages(app.appId, app.auth, conversationId)).map((m) => m.content.text)).toEqual(['你好, tacos?', 'pay 10']);

    const mallory = 'oMalloryOpenId00000000000000';
    const unsigned = new URL((await fake.text(integration.webhookUrl, mallory, 'hi')).url);
    unsigned.searchParams.delete('signature');
    expect((await hook(new Request(unsigned, { method: 'POST', body: '<xml/>' }))).status).toBe(401);
    const other = new WeChatFake({ origin: API });
    other.server = { token: 'wrongToken', mode: 'plain' };
    expect((await hook(await other.text(integration.webhookUrl, mallory, 'hi'))).status).toBe(403);
    // Signed right, but ten minutes old: a replay.
    expect((await hook(await fake.event(integration.webhookUrl, mallory, 'subscribe', 'qrscene_old', { at: Date.now() - 10 * 60_000 }))).status).toBe(403);
    expect(receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === mallory)).toBe(false);
  });

  it('an image is stored with a Parley media URL, copied from media/get into R2', async () => {
    const bytes = new TextEncoder().encode('a wechat jpeg');
    expect((await hook(await fake.image(integration.webhookUrl, ann, bytes))).status).toBe(200);
    const conversationId = await conversationOf(ann);
    const image = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
      if (!found) throw new Error('no image yet');
      return found;
    });
    const url = String(image.content.mediaUrl);
    expect(url).toMatch(new RegExp(`^http://parley.test/media/${integration.id}/`));
    const res = await hook(new Request(url));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    expect(fake.callsTo('/cgi-bin/media/get').some((c) => c.status === 200 && c.errcode === undefined)).toBe(true);
  });

  it('following from a parametric QR code raises conversation:referral with the scene', async () => {
    const bo = 'oBoOpenId0000000000000000000';
    expect((await hook(await fake.event(integration.webhookUrl, bo, 'subscribe', 'qrscene_spring-promo'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:referral').map((e) => (e.payload.referral as { code: string }).code)).toContain('spring-promo'));
  });
});

describe('outbound', () => {
  it('a business text goes out through custom/send to the openid, and raises delivery:channel', async () => {
    const conversationId = await conversationOf(ann);
    const id = await post(conversationId, { type: 'text', text: 'Hi Ann, how can we help?' });
    const delivered = await eventFor('conversation:message:delivery:channel', id);
    expect(delivered.payload).toMatchObject({ destination: { type: 'wechat', integrationId: integration.id } });
    expect(fake.sent.get(ann)).toContainEqual({ msgtype: 'text', text: { content: 'Hi Ann, how can we help?' }, touser: ann });
  });

  it('quick replies go out as a msgmenu, and a tapped option comes back as the user\'s answer carrying its payload', async () => {
    const conversationId = await conversationOf(ann);
    const id = await post(conversationId, { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes', payload: 'SPICY_YES' }, { type: 'reply', text: 'No', payload: 'SPICY_NO' }] });
    await eventFor('conversation:message:delivery:channel', id);
    expect(fake.sent.get(ann)!.at(-1)).toEqual({ msgtype: 'msgmenu', msgmenu: { head_content: 'Spicy?', list: [{ id: 'r1:SPICY_YES', content: 'Yes' }, { id: 'r2:SPICY_NO', content: 'No' }], tail_content: '' }, touser: ann });
    expect((await hook(await fake.tapMenu(integration.webhookUrl, ann, 'No'))).status).toBe(200);
    await eventually(async () => {
      expect((await messages(app.appId, app.auth, conversationId)).at(-1)).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'No', payload: 'SPICY_NO' } });
    });
  });

  it("a menu tapped after a later business message still raises its own option's payload", async () => {
    const conversationId = await conversationOf(ann);
    const first = await post(conversationId, { type: 'text', text: 'Which drink?', actions: [{ type: 'postback', text: 'Tea', payload: 'DRINK_TEA' }, { type: 'postback', text: 'Coffee', payload: 'DRINK_COFFEE' }] });
    await eventFor('conversation:message:delivery:channel', first);
    const drinks = fake.sent.get(ann)!.at(-1)!.msgmenu as { list: { id: string; content: string }[] };
    const later = await post(conversationId, { type: 'text', text: 'Dessert?', actions: [{ type: 'postback', text: 'Flan', payload: 'DESSERT_FLAN' }, { type: 'postback', text: 'Churros', payload: 'DESSERT_CHURROS' }] });
    await eventFor('conversation:message:delivery:channel', later);
    // Ann scrolls up and taps Coffee on the first menu: WeChat sends the option's text and id, as for any tap.
    const coffee = drinks.list.find((o) => o.content === 'Coffee')!;
    const tap = await fake.callback(integration.webhookUrl, { ToUserName: fake.originalId, FromUserName: ann, CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: coffee.content, bizmsgmenuid: coffee.id, MsgId: fake.msgId() });
    expect((await hook(tap)).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'DRINK_COFFEE', text: 'Coffee' }));
    expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).not.toContain('DESSERT_CHURROS');
  });

  it('the business typing activity shows WeChat\'s typing status to a user who just wrote', async () => {
    expect((await hook(await fake.text(integration.webhookUrl, ann, 'anyone there?'))).status).toBe(200);
    const conversationId = await conversationOf(ann);
    await eventually(async () => expect((await messages(app.appId, app.auth, conversationId)).at(-1)!.content.text).toBe('anyone there?'));
    const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/activity`, app.auth, { type: 'typing:start', author: { type: 'business' } });
    expect(res.status).toBe(200);
    await eventually(() => expect(fake.callsTo('/cgi-bin/message/custom/typing').map((c) => [c.body, c.errcode])).toContainEqual([{ touser: ann, command: 'Typing' }, 0]));
    expect(fake.typingState.get(ann)).toBe(true);
  });

  it('an expired access token is fetched again and the message delivered once', async () => {
    const conversationId = await conversationOf(ann);
    fake.expireToken();
    const tokensBefore = fake.issued.length;
    const id = await post(conversationId, { type: 'text', text: 'after the token expired' });
    await eventFor('conversation:message:delivery:channel', id);
    const tries = fake.callsTo('/cgi-bin/message/custom/send').filter((c) => (c.body?.text as { content?: string } | undefined)?.content === 'after the token expired');
    expect(tries.map((c) => c.errcode)).toEqual([42001, 0]);
    expect(fake.issued.length).toBe(tokensBefore + 1);
  });

  it('a permanent errcode fails the delivery with WeChat\'s code and message', async () => {
    const conversationId = await conversationOf(ann);
    fake.failNext(1, { errcode: 45047 });
    const id = await post(conversationId, { type: 'text', text: 'one too many' });
    const failure = await eventFor('conversation:message:delivery:failure', id);
    expect(failure.payload.error).toMatchObject({ code: '45047', message: expect.stringMatching(/^WeChat errcode 45047: out of response count limit/) });
    expect(fake.callsTo('/cgi-bin/message/custom/send').filter((c) => (c.body?.text as { content?: string } | undefined)?.content === 'one too many')).toHaveLength(1);
  });

  it('system busy (-1) is retried, then the message is delivered once', async () => {
    const conversationId = await conversationOf(ann);
    fake.failNext(1, { errcode: -1 });
    const id = await post(conversationId, { type: 'text', text: 'after busy' });
    await eventFor('conversation:message:delivery:channel', id);
    expect(fake.callsTo('/cgi-bin/message/custom/send').filter((c) => (c.body?.text as { content?: string } | undefined)?.content === 'after busy').map((c) => c.errcode)).toEqual([-1, 0]);
  });
});

describe('safe mode (AES)', () => {
  let safe: Record<string, unknown> & { id: string; webhookUrl: string; token: string };

  beforeAll(async () => {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'wechat', appId: safeFake.appId, appSecret: safeFake.appSecret, encodingAesKey: KEY, apiBaseUrl: SAFE_API });
    expect(res.status).toBe(201);
    safe = res.body.integration;
    safeFake.server = { token: safe.token, encodingAesKey: KEY, mode: 'safe' };
  });

  it('never shows the encodingAesKey; encrypted callbacks are verified, decrypted, stored once, and answered', async () => {
    expect(JSON.stringify(safe)).not.toContain(KEY);
    const carol = 'oCarolOpenId0000000000000000';
    const req = await safeFake.text(safe.webhookUrl, carol, '加密的消息');
    const body = await req.clone().arrayBuffer();
    expect(new TextDecoder().decode(body)).not.toContain('加密的消息');
    for (let i = 0; i < 2; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    const conversationId = await conversationOf(carol);
    expect((await messages(app.appId, app.auth, conversationId)).map((m) => m.content.text)).toEqual(['加密的消息']);
    const id = await post(conversationId, { type: 'text', text: 'reply in safe mode' });
    await eventFor('conversation:message:delivery:channel', id);
    expect(safeFake.sent.get(carol)).toEqual([{ msgtype: 'text', text: { content: 'reply in safe mode' }, touser: carol }]);
  });

  it('a plain callback (whose signature covers no body) is refused once a key is set, and a tampered ciphertext too', async () => {
    const dan = 'oDanOpenId000000000000000000';
    safeFake.server.mode = 'plain';
    expect((await hook(await safeFake.text(safe.webhookUrl, dan, 'plain'))).status).toBe(403);
    safeFake.server.mode = 'safe';
    const req = await safeFake.text(safe.webhookUrl, dan, 'x');
    const raw = await req.text();
    const tampered = raw.replace(/(<Encrypt><!\[CDATA\[)(.)/, (_, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`);
    expect((await hook(new Request(req.url, { method: 'POST', body: tampered }))).status).toBe(403);
    expect(receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === dan)).toBe(false);
  });
});
