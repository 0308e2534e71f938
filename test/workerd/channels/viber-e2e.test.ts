/**
 * Viber through the whole product: integration setup against the fake REST
 * Bot API, signed callbacks to /hooks/{id} deduped by their 64-bit tokens,
 * media copied into R2, business messages rendered into Viber's shapes and
 * sent through the deliveries queue, keyboard taps mapped back to the choice
 * offered, receipts, retries of status 12, and the customer webhook events
 * each step raises.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { ViberFake, type ViberUser } from '../../fakes/viber';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://viber.test';
const MEDIA = 'https://dl-media.viber.test';
/** Viber's set_webhook check, and every callback, reach Parley's own /hooks endpoint (the integration is stored before its setup runs). */
const fake = new ViberFake({ origin: MEDIA, webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string };

const ann: ViberUser = { id: 'AnnViberId0000000000==', name: 'Ann Lee', avatar: 'https://avatar.viber.test/ann.jpg' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [MEDIA]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('viber e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'viber', token: fake.token, apiBaseUrl: API, displayName: 'Support bot' });
  expect(res.status).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const post = async (conversationId: string, content: Record<string, unknown>) => {
  const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
  expect(res.status).toBe(201);
  return res.body.messages[0].id as string;
};

/** The send_message calls Viber accepted for one user whose body matches. */
const accepted = (userId: string, match: (body: Record<string, any>) => boolean) =>
  fake.callsTo('send_message').filter((c) => c.viberStatus === 0 && c.body?.receiver === userId && match(c.body as Record<string, any>));

const eventFor = (type: string, messageId: string) =>
  eventually(() => {
    const e = receiver.ofType(type).find((ev) => (ev.payload.message as { id: string }).id === messageId);
    if (!e) throw new Error(`no ${type} yet`);
    return e;
  }, 15_000);

describe('viber integration', () => {
  it('is created active: the webhook is set with every event type, and the bot\'s uri and id are shown, never the token', () => {
    expect(integration).toMatchObject({ type: 'viber', status: 'active', displayName: 'Support bot', uri: fake.account.uri, accountId: fake.account.id });
    expect(fake.webhook).toEqual({ url: integration.webhookUrl, eventTypes: ['delivered', 'seen', 'failed', 'subscribed', 'unsubscribed', 'conversation_started'], sendName: true, sendPhoto: true });
    expect(JSON.stringify(integration)).not.toContain(fake.token);
  });

  it('re-registering (a PATCH) survives Viber\'s check: /hooks answers the signed webhook event 200 and stores nothing', async () => {
    const res = await call('PATCH', `/v2/apps/${app.appId}/integrations/${integration.id}`, app.auth, { senderName: 'Taco Support' });
    expect(res.status).toBe(200);
    expect(res.body.integration).toMatchObject({ status: 'active', senderName: 'Taco Support' });
    expect(fake.checks.at(-1)).toEqual({ url: integration.webhookUrl, status: 200 });
    expect(receiver.ofType('client:add')).toHaveLength(0);
  });
});

describe('inbound', () => {
  it('a signed text delivered three times is stored once, keyed by its 64-bit token; its neighbour token is another message', async () => {
    const token = 9_007_199_254_740_993n; // 2^53 + 1: through a JSON number it would collide with 2^53 and 2^53 + 2
    const req = await fake.text(integration.webhookUrl, ann, 'Hello from Viber', { token });
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    const conversationId = await conversationOf(ann.id);
    let stored = await messages(app.appId, app.auth, conversationId);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Hello from Viber' }, source: { type: 'viber', integrationId: integration.id, originalMessageId: '9007199254740993' } });
    expect((await hook(await fake.text(integration.webhookUrl, ann, 'next', { token: token + 1n }))).status).toBe(200);
    stored = await messages(app.appId, app.auth, conversationId);
    expect(stored.map((m) => m.source.originalMessageId)).toEqual(['9007199254740993', '9007199254740994']);
    const client = receiver.ofType('client:add')[0]!.payload.client as Record<string, unknown>;
    expect(client).toMatchObject({ type: 'viber', integrationId: integration.id, externalId: ann.id, displayName: 'Ann Lee' });
  });

  it('a tampered or unsigned callback is refused and stores nothing', async () => {
    const mallory: ViberUser = { id: 'MalloryId000000000000==', name: 'Mallory' };
    const signed = await fake.text(integration.webhookUrl, mallory, 'hi');
    const tampered = new Request(signed.url, { method: 'POST', headers: signed.headers, body: (await signed.text()).replace('"hi"', '"pwned"') });
    expect((await hook(tampered)).status).toBe(403);
    const unsigned = await fake.text(integration.webhookUrl, mallory, 'hi');
    unsigned.headers.delete('x-viber-content-signature');
    expect((await hook(unsigned)).status).toBe(401);
    expect((await call('GET', `/v2/apps/${app.appId}/users/${encodeURIComponent(mallory.id)}`, app.auth)).status).toBe(404);
  });

  it('a picture is stored as an image served from Parley, copied from Viber\'s link without the token', async () => {
    const bytes = new TextEncoder().encode('a viber jpeg');
    expect((await hook(await fake.picture(integration.webhookUrl, ann, { caption: 'look', bytes }))).status).toBe(200);
    const conversationId = await conversationOf(ann.id);
    const image = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
      if (!found) throw new Error('no image yet');
      return found;
    });
    const url = String(image.content.mediaUrl);
    expect(url).toMatch(new RegExp(`^http://parley.test/media/${integration.id}/`));
    expect(url).not.toContain('viber.test');
    expect(image.content.text).toBe('look');
    const res = await hook(new Request(url));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    const downloads = fake.callsTo('media');
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((c) => !('x-viber-auth-token' in c.headers))).toBe(true);
  });

  it('conversation_started from a deep link raises conversation:referral and stores no message', async () => {
    const bo: ViberUser = { id: 'BoViberId0000000000000==', name: 'Bo' };
    expect((await hook(await fake.conversationStarted(integration.webhookUrl, bo, { context: 'spring-promo' }))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:referral').map((e) => (e.payload.referral as { code: string }).code)).toContain('spring-promo'));
    const conversationId = await conversationOf(bo.id);
    expect(await messages(app.appId, app.auth, conversationId)).toEqual([]);
    expect((await hook(await fake.subscribedEvent(integration.webhookUrl, bo))).status).toBe(200);
  });
});

describe('outbound', () => {
  it('a business text goes out as Viber text from the named sender; delivered and seen raise delivery:user and conversation:read', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Hi Ann, how can we help?' });
    const delivered = await eventFor('conversation:message:delivery:channel', id);
    const [send] = accepted(ann.id, (b) => b.text === 'Hi Ann, how can we help?');
    expect(send!.body).toEqual({ sender: { name: 'Taco Support' }, type: 'text', text: 'Hi Ann, how can we help?', receiver: ann.id });
    const token = fake.sent.get(ann.id)!.find((m) => m.text === 'Hi Ann, how can we help?')!.message_token;
    expect(delivered.payload).toMatchObject({ destination: { type: 'viber', integrationId: integration.id }, externalMessages: [{ id: token }] });

    const readsBefore = receiver.ofType('conversation:read').length;
    expect((await hook(await fake.receipt(integration.webhookUrl, 'delivered', ann.id, token))).status).toBe(200);
    expect((await eventFor('conversation:message:delivery:user', id)).payload).toMatchObject({ externalMessages: [{ id: token }] });
    expect((await hook(await fake.receipt(integration.webhookUrl, 'seen', ann.id, token))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:read').length).toBe(readsBefore + 1));
  });

  it('quick replies go out as a keyboard, and a tapped one comes back as the user\'s answer carrying its payload', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes', payload: 'SPICY_YES' }, { type: 'reply', text: 'No', payload: 'SPICY_NO' }] });
    await eventFor('conversation:message:delivery:channel', id);
    const [send] = accepted(ann.id, (b) => b.text === 'Spicy?');
    expect(send!.body!.keyboard).toEqual({
      Type: 'keyboard',
      DefaultHeight: false,
      Buttons: [
        { Columns: 6, Rows: 1, ActionType: 'reply', ActionBody: 'Yes', Text: 'Yes' },
        { Columns: 6, Rows: 1, ActionType: 'reply', ActionBody: 'No', Text: 'No' },
      ],
    });
    expect((await hook(await fake.tap(integration.webhookUrl, ann, 'No'))).status).toBe(200);
    await eventually(async () => {
      const answer = (await messages(app.appId, app.auth, conversationId)).at(-1)!;
      expect(answer).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'No', payload: 'SPICY_NO' } });
    });
  });

  it('a carousel goes out as rich_media, and a tapped card button raises the postback it offered', async () => {
    const conversationId = await conversationOf(ann.id);
    const id = await post(conversationId, {
      type: 'carousel',
      items: ['Tacos', 'Ramen'].map((title) => ({
        title,
        mediaUrl: `https://cdn.example/${title.toLowerCase()}.jpg`,
        actions: [{ type: 'postback', text: `Order ${title}`, payload: `ORDER_${title.toUpperCase()}` }, { type: 'link', text: 'Menu', uri: 'https://food.example/menu' }],
      })),
    });
    await eventFor('conversation:message:delivery:channel', id);
    const [send] = accepted(ann.id, (b) => b.type === 'rich_media' && b.alt_text === 'Tacos\nRamen');
    expect(send!.body).toMatchObject({ min_api_version: 2, rich_media: { Type: 'rich_media', ButtonsGroupColumns: 6, ButtonsGroupRows: 7 } });
    expect((send!.body!.rich_media as { Buttons: { ActionType: string; Text?: string }[] }).Buttons.map((b) => [b.ActionType, b.Text])).toEqual([
      ['none', undefined],
      ['none', '<b>Tacos</b>'],
      ['reply', 'Order Tacos'],
      ['open-url', 'Menu'],
      ['none', undefined],
      ['none', '<b>Ramen</b>'],
      ['reply', 'Order Ramen'],
      ['open-url', 'Menu'],
    ]);
    expect((await hook(await fake.tapCard(integration.webhookUrl, ann, 'Order Ramen'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'ORDER_RAMEN', text: 'Order Ramen' }));
  });

  it('falls back deterministically for what Viber cannot show: postbacks beyond its keyboard become numbered lines, a typed number answers', async () => {
    const conversationId = await conversationOf(ann.id);
    const sizes = ['XXS', 'XS', 'S', 'M', 'L', 'XL', 'XXL'];
    const id = await post(conversationId, { type: 'text', text: 'Which size?', actions: sizes.map((s) => ({ type: 'postback', text: s, payload: `SIZE_${s}` })) });
    await eventFor('conversation:message:delivery:channel', id);
    const [send] = accepted(ann.id, (b) => String(b.text).startsWith('Which size?'));
    expect(send!.body).toEqual({
      sender: { name: 'Taco Support' },
      type: 'text',
      text: `Which size?\n\n${sizes.map((s, i) => `${i + 1}. ${s}`).join('\n')}\n\nReply with the number of your choice.`,
      receiver: ann.id,
    });
    expect((await hook(await fake.text(integration.webhookUrl, ann, '7'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'SIZE_XXL', text: 'XXL' }));
  });

  it('status 12 (tooManyRequests) is retried, then the message is delivered once', async () => {
    const conversationId = await conversationOf(ann.id);
    fake.failNext(1, { viberStatus: 12 });
    const id = await post(conversationId, { type: 'text', text: 'after the throttle' });
    await eventFor('conversation:message:delivery:channel', id);
    const tries = fake.callsTo('send_message').filter((c) => c.body?.text === 'after the throttle');
    expect(tries.map((c) => c.viberStatus)).toEqual([12, 0]);
  });

  it('another non-zero status fails the delivery for good with Viber\'s status as the code', async () => {
    const conversationId = await conversationOf(ann.id);
    fake.failNext(1, { viberStatus: 7, message: 'publicAccountBlocked' });
    const id = await post(conversationId, { type: 'text', text: 'blocked?' });
    const failure = await eventFor('conversation:message:delivery:failure', id);
    expect(failure.payload.error).toEqual({ code: '7', message: 'Viber status 7: publicAccountBlocked' });
    expect(fake.callsTo('send_message').filter((c) => c.body?.text === 'blocked?')).toHaveLength(1);
  });
});

describe('a token change', () => {
  it("a PATCH bringing the right token passes Viber's check, which is signed with that new token", async () => {
    const wrong = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'viber', token: '0000aaaa11112222-3333bbbb4444cccc-5555dddd6666eeee', apiBaseUrl: API });
    expect(wrong.status).toBe(201);
    expect(wrong.body.integration.status).toBe('error');
    const patched = await call('PATCH', `/v2/apps/${app.appId}/integrations/${wrong.body.integration.id}`, app.auth, { token: fake.token });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.integration.status).toBe('active');
    expect(fake.checks.at(-1)).toEqual({ url: wrong.body.integration.webhookUrl, status: 200 });
  });
});
