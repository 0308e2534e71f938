/**
 * WhatsApp, Messenger and Instagram through the whole product, against the
 * Graph fake: integrations set up through the API (learning the number, the
 * Page, the Instagram account), the hub.challenge handshake, X-Hub-Signature-256
 * on the raw bytes, redelivery and batched webhooks, every inbound kind the
 * fake builds landing in storage or as the right event, receipts for Parley's
 * own sends, and outbound: channel ids on delivery:channel, the 24-hour
 * window (131047, templates still going), rate limits waited out and
 * permanent Graph errors reported with Meta's code.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { call, newApp } from '../helpers';
import { MetaFake, type GraphErrorName } from '../../fakes/meta';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver, type FetchHandler } from './harness';

type Json = Record<string, any>;
type Integration = Json & { id: string; webhookUrl: string };
type Kind = 'whatsapp' | 'messenger' | 'instagram';

const API = 'https://meta.test';
const HOUR = 60 * 60 * 1000;
const APP_ID = '1517776481860111';

/** Added to the fake's clock: Meta's side of the messaging windows moves, Parley's clock does not. */
let skew = 0;
const fake = new MetaFake({ origin: API, now: () => Date.now() + skew });
const receiver = new WebhookReceiver();

/** Every Graph call Parley made, with what the fake answered (the fake keeps requests; the ids are in the answers). */
const graph: { method: string; path: string; body: Json | undefined; status: number; answer: Json | undefined }[] = [];
/** Answers this Graph error to the next message send whose body matches (the fake's own errorNext takes calls in order). */
let failSend: { match: (body: Json) => boolean; error: GraphErrorName } | undefined;
const recordedFake: FetchHandler = {
  async fetch(request) {
    const sent = await request.clone().text();
    if (failSend && request.method === 'POST' && sent && failSend.match(JSON.parse(sent))) {
      fake.errorNext(failSend.error);
      failSend = undefined;
    }
    const response = await fake.fetch(request);
    const json = response.headers.get('content-type')?.includes('json');
    const answer = json ? ((await response.clone().json()) as Json) : undefined;
    graph.push({ method: request.method, path: new URL(request.url).pathname, body: sent ? JSON.parse(sent) : undefined, status: response.status, answer });
    return response;
  },
};
/** Message sends (not lookups or downloads) whose body mentions `needle`. */
const sendsWith = (needle: string) => graph.filter((c) => c.method === 'POST' && c.path.endsWith('/messages') && JSON.stringify(c.body).includes(needle));

let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
const integrations = {} as Record<Kind, Integration>;

beforeAll(async () => {
  const spy = routeFetch({ [API]: recordedFake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('meta e2e');
  await subscribe(app.appId, app.auth);
  const bodies: Record<Kind, Json> = {
    whatsapp: { type: 'whatsapp', phoneNumberId: fake.wa.phoneNumberId, accessToken: fake.wa.accessToken, appSecret: fake.appSecret, apiBaseUrl: API },
    messenger: { type: 'messenger', pageAccessToken: fake.page.accessToken, appId: APP_ID, appSecret: fake.appSecret, apiBaseUrl: API },
    instagram: { type: 'instagram', pageAccessToken: fake.page.accessToken, appId: APP_ID, appSecret: fake.appSecret, apiBaseUrl: API },
  };
  for (const kind of Object.keys(bodies) as Kind[]) {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, bodies[kind]);
    expect(res.status).toBe(201);
    integrations[kind] = res.body.integration;
  }
});

afterAll(() => restore());

// ---- helpers ---------------------------------------------------------------------------

function eventFor(type: string, match: (payload: Json) => boolean, timeoutMs?: number) {
  return eventually(() => {
    const found = receiver.ofType(type).find((e) => match(e.payload));
    if (!found) throw new Error(`no ${type} yet`);
    return found;
  }, timeoutMs);
}

const inConversation = (conversationId: string) => (p: Json) => p.conversation?.id === conversationId;
const aboutMessage = (messageId: string) => (p: Json) => p.message?.id === messageId;

async function conversationOf(kind: Kind, externalId: string): Promise<string> {
  const added = await eventFor('client:add', (p) => p.client.externalId === externalId && p.client.integrationId === integrations[kind].id);
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${(added.payload.user as Json).id}`, app.auth);
  return list.body.conversations[0].id;
}

/** The first stored message matching `match`, once it is there. */
function storedMessage(conversationId: string, match: (m: Json) => boolean) {
  return eventually(async () => {
    const found = (await messages(app.appId, app.auth, conversationId)).find(match);
    if (!found) throw new Error('not stored yet');
    return found as Json;
  });
}

/** Posts a business message and waits for its final delivery event (delivery:channel or delivery:failure). */
async function businessSends(conversationId: string, body: Json, timeoutMs?: number) {
  const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, ...body });
  expect(posted.status).toBe(201);
  const messageId: string = posted.body.messages[0].id;
  const outcome = await eventually(() => {
    const e = receiver.events.find((ev) => ['conversation:message:delivery:channel', 'conversation:message:delivery:failure'].includes(ev.type) && aboutMessage(messageId)(ev.payload));
    if (!e) throw new Error('no delivery outcome yet');
    return e;
  }, timeoutMs);
  return { messageId, outcome };
}

/** The same request bytes and headers, as a channel redelivers them. */
async function copies(request: Request, n: number): Promise<Request[]> {
  const body = await request.arrayBuffer();
  return Array.from({ length: n }, () => new Request(request.url, { method: 'POST', headers: request.headers, body }));
}

/**
 * Sends a text from the same user and waits for its event. A conversation's
 * events go out in order, so whatever an earlier request raised is out by then.
 */
async function thenBarrier(conversationId: string, send: (text: string) => Promise<Request>) {
  const marker = `barrier ${crypto.randomUUID()}`;
  expect((await hook(await send(marker))).status).toBe(200);
  await eventFor('conversation:message', (p) => inConversation(conversationId)(p) && p.message.content.text === marker);
}

// ---- the three products, the same webhook protocol ------------------------------------------

interface Product {
  kind: Kind;
  /** A user id in this product's format, distinct per `n`. */
  user: (n: number) => string;
  text: (webhookUrl: string, userId: string, text: string) => Promise<Request>;
  /** One POST carrying a message from each user. */
  batch: (webhookUrl: string, messages: [userId: string, text: string][]) => Promise<Request>;
}

const products: Product[] = [
  {
    kind: 'whatsapp',
    user: (n) => `1555010${String(n).padStart(4, '0')}`,
    text: (url, userId, text) => fake.whatsapp.text(url, { waId: userId, name: `User ${userId}` }, text),
    batch: (url, list) => fake.whatsapp.webhook(url, list.map(([waId, text]) => fake.whatsapp.messageValue({ waId, name: `User ${waId}` }, { type: 'text', text: { body: text } }))),
  },
  {
    kind: 'messenger',
    user: (n) => `29000000000${String(n).padStart(4, '0')}`,
    text: (url, userId, text) => fake.messenger.text(url, userId, text),
    batch: (url, list) => fake.messenger.webhook(url, list.map(([userId, text]) => fake.messenger.item(userId, { message: { mid: fake.messenger.mid(), text } }))),
  },
  {
    kind: 'instagram',
    user: (n) => `17800000000${String(n).padStart(4, '0')}`,
    text: (url, userId, text) => fake.instagram.text(url, userId, text),
    batch: (url, list) => fake.instagram.webhook(url, list.map(([userId, text]) => fake.instagram.item(userId, { message: { mid: fake.instagram.mid(), text } }))),
  },
];

describe('integration setup', () => {
  it('WhatsApp is active and learned the business phone number from Meta', () => {
    const wa = integrations.whatsapp;
    expect(wa).toMatchObject({ type: 'whatsapp', status: 'active', phoneNumberId: fake.wa.phoneNumberId, phoneNumber: '+15550783881' });
    expect(wa.webhookUrl).toBe(`http://parley.test/hooks/${wa.id}`);
    expect(wa.verifyToken).toMatch(/^[0-9a-f]{48}$/);
    expect(JSON.stringify(wa)).not.toContain(fake.wa.accessToken);
    expect(JSON.stringify(wa)).not.toContain(fake.appSecret);
  });

  it('Messenger is active and learned the Page id and name from its token', () => {
    expect(integrations.messenger).toMatchObject({ type: 'messenger', status: 'active', appId: APP_ID, pageId: fake.page.id, pageName: fake.page.name });
    expect(JSON.stringify(integrations.messenger)).not.toContain(fake.page.accessToken);
    expect(JSON.stringify(integrations.messenger)).not.toContain(fake.appSecret);
  });

  it("Instagram is active and learned the Page's linked Instagram account", () => {
    const account = fake.page.instagram!;
    expect(integrations.instagram).toMatchObject({ type: 'instagram', status: 'active', pageId: fake.page.id, businessId: account.id, username: account.username, businessName: account.name });
    expect(JSON.stringify(integrations.instagram)).not.toContain(fake.page.accessToken);
  });
});

describe.each(products)('$kind webhooks', (product) => {
  const integration = () => integrations[product.kind];

  it('the handshake echoes hub.challenge as text/plain for the verify token, and refuses any other token with 403', async () => {
    const ok = await hook(fake.handshake(integration().webhookUrl, integration().verifyToken, '8675309'));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe('8675309');

    const wrong = await hook(fake.handshake(integration().webhookUrl, 'not-the-verify-token', '8675309'));
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).not.toContain('8675309');
  });

  it('a tampered body is refused with 403 and an unsigned one with 401; neither is stored, the genuine one is', async () => {
    const userId = product.user(1);
    const url = integration().webhookUrl;

    const signed = await product.text(url, userId, 'please refund me');
    const tampered = new Request(url, { method: 'POST', headers: signed.headers, body: (await signed.text()).replace('please refund me', 'please refund ALL') });
    expect((await hook(tampered)).status).toBe(403);

    const other = await product.text(url, userId, 'no signature here');
    const unsigned = new Request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await other.arrayBuffer() });
    expect((await hook(unsigned)).status).toBe(401);

    const forged = await fake.signed(url, JSON.parse(await (await product.text(url, userId, 'forged secret')).text()), 'not-the-app-secret');
    expect((await hook(forged)).status).toBe(403);

    expect((await hook(await product.text(url, userId, 'genuine'))).status).toBe(200);
    const conversationId = await conversationOf(product.kind, userId);
    const stored = await messages(app.appId, app.auth, conversationId);
    expect(stored.map((m) => m.content.text)).toEqual(['genuine']);
  });

  it('the same webhook delivered three times stores one message and raises one client:add and one conversation:message', async () => {
    const userId = product.user(2);
    for (const request of await copies(await product.text(integration().webhookUrl, userId, 'said once'), 3)) {
      expect((await hook(request)).status).toBe(200);
    }
    const conversationId = await conversationOf(product.kind, userId);
    await thenBarrier(conversationId, (text) => product.text(integration().webhookUrl, userId, text));

    const stored = await messages(app.appId, app.auth, conversationId);
    expect(stored.filter((m) => m.content.text === 'said once')).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'said once' }, source: { type: product.kind, integrationId: integration().id } });
    const said = receiver.ofType('conversation:message').filter((e) => inConversation(conversationId)(e.payload) && (e.payload.message as Json).content.text === 'said once');
    expect(said).toHaveLength(1);
    const added = receiver.ofType('client:add').filter((e) => (e.payload.client as Json).externalId === userId);
    expect(added).toHaveLength(1);
    expect(added[0]!.payload.client).toMatchObject({ type: product.kind, integrationId: integration().id, externalId: userId });
  });

  it('one webhook carrying messages from two users opens two conversations, each with its own message', async () => {
    const [first, second] = [product.user(3), product.user(4)];
    const res = await hook(await product.batch(integration().webhookUrl, [[first, 'from the first'], [second, 'from the second']]));
    expect(res.status).toBe(200);
    const [c1, c2] = [await conversationOf(product.kind, first), await conversationOf(product.kind, second)];
    expect(c1).not.toBe(c2);
    await storedMessage(c1, (m) => m.content.text === 'from the first');
    await storedMessage(c2, (m) => m.content.text === 'from the second');
    expect((await messages(app.appId, app.auth, c1)).map((m) => m.content.text)).toEqual(['from the first']);
    expect((await messages(app.appId, app.auth, c2)).map((m) => m.content.text)).toEqual(['from the second']);
  });

  it('a business text goes out through the Send API and delivery:channel carries the id Meta answered', async () => {
    const userId = product.user(5);
    expect((await hook(await product.text(integration().webhookUrl, userId, 'hello business'))).status).toBe(200);
    const conversationId = await conversationOf(product.kind, userId);
    const { outcome } = await businessSends(conversationId, { content: { type: 'text', text: `reply on ${product.kind}` } });
    expect(outcome.type).toBe('conversation:message:delivery:channel');
    const [sent] = sendsWith(`reply on ${product.kind}`);
    expect(sent).toBeDefined();
    expect(sent!.status).toBe(200);
    if (product.kind === 'whatsapp') {
      expect(sent!.path).toBe(`/v21.0/${fake.wa.phoneNumberId}/messages`);
      expect(sent!.body).toMatchObject({ messaging_product: 'whatsapp', to: userId, type: 'text', text: { body: `reply on ${product.kind}` } });
    } else {
      expect(sent!.path).toBe(`/v21.0/${fake.page.id}/messages`);
      expect(sent!.body).toMatchObject({ recipient: { id: userId }, messaging_type: 'RESPONSE', message: { text: `reply on ${product.kind}` } });
    }
    const channelId = sent!.answer!.messages?.[0]?.id ?? sent!.answer!.message_id;
    expect(channelId).toMatch(product.kind === 'whatsapp' ? /^wamid\./ : /^m_/);
    expect(outcome.payload).toMatchObject({ destination: { type: product.kind, integrationId: integration().id }, externalMessages: [{ id: channelId }] });
  });
});

// ---- inbound kinds ---------------------------------------------------------------------------

describe('WhatsApp inbound', () => {
  const url = () => integrations.whatsapp.webhookUrl;
  const kim = { waId: '15550109001', name: 'Kim Park' };
  const conversation = () => conversationOf('whatsapp', kim.waId);

  it.each([
    { kind: 'image' as const, stored: 'image', mimeType: 'image/jpeg', caption: 'my receipt' },
    { kind: 'sticker' as const, stored: 'image', mimeType: 'image/webp' },
    { kind: 'document' as const, stored: 'file', mimeType: 'application/pdf', filename: 'invoice.pdf' },
    { kind: 'video' as const, stored: 'file', mimeType: 'video/mp4', caption: 'the noise it makes' },
    { kind: 'audio' as const, stored: 'file', mimeType: 'audio/ogg' },
  ])('$kind is stored as $stored with a Parley /media URL that serves the bytes from Meta', async ({ kind, stored, mimeType, caption, filename }) => {
    const bytes = new TextEncoder().encode(`${kind} ${crypto.randomUUID()}`);
    const res = await hook(await fake.whatsapp.media(url(), kim, kind, { bytes, ...(caption ? { caption } : {}), ...(filename ? { filename } : {}) }));
    expect(res.status).toBe(200);
    const message = await storedMessage(await conversation(), (m) => m.content.mediaType === mimeType);
    expect(message.content).toMatchObject({ type: stored, mediaType: mimeType, ...(caption ? { text: caption } : {}), ...(filename ? { altText: filename } : {}) });
    const mediaUrl = String(message.content.mediaUrl);
    expect(mediaUrl).toMatch(new RegExp(`^http://parley.test/media/${integrations.whatsapp.id}/`));
    expect(mediaUrl).not.toContain(API);
    expect(mediaUrl).not.toContain(fake.wa.accessToken);
    const download = await hook(new Request(mediaUrl));
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe(mimeType);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);
  });

  it('a location is stored as location content with its name and address', async () => {
    expect((await hook(await fake.whatsapp.location(url(), kim, { latitude: 48.8584, longitude: 2.2945, name: 'Eiffel Tower', address: 'Champ de Mars' }))).status).toBe(200);
    const message = await storedMessage(await conversation(), (m) => m.content.type === 'location');
    expect(message.content).toMatchObject({ type: 'location', coordinates: { lat: 48.8584, long: 2.2945 }, location: { name: 'Eiffel Tower', address: 'Champ de Mars' } });
    expect(message.content.text).toContain('https://maps.google.com/maps?q=48.8584,2.2945');
  });

  it('a tapped reply button that carried a postback raises conversation:postback with the payload and stores no message', async () => {
    const conversationId = await conversation();
    expect((await hook(await fake.whatsapp.buttonReply(url(), kim, 'p:TRACK_ORDER', 'Track order'))).status).toBe(200);
    const postback = await eventFor('conversation:postback', (p) => inConversation(conversationId)(p) && p.postback.payload === 'TRACK_ORDER');
    expect(postback.payload).toMatchObject({ postback: { payload: 'TRACK_ORDER', text: 'Track order' }, source: { type: 'whatsapp', integrationId: integrations.whatsapp.id } });
    expect((await messages(app.appId, app.auth, conversationId)).some((m) => m.content.text === 'Track order')).toBe(false);
  });

  it('a list row and a template quick-reply button also come back as postbacks', async () => {
    const conversationId = await conversation();
    await hook(await fake.whatsapp.listReply(url(), kim, 'p:SIZE_M', 'Medium', 'Fits most'));
    await hook(await fake.whatsapp.templateButton(url(), kim, 'STOP_PROMOS', 'Stop promotions'));
    await eventFor('conversation:postback', (p) => inConversation(conversationId)(p) && p.postback.payload === 'SIZE_M' && p.postback.text === 'Medium');
    await eventFor('conversation:postback', (p) => inConversation(conversationId)(p) && p.postback.payload === 'STOP_PROMOS' && p.postback.text === 'Stop promotions');
  });

  it('a tapped quick reply is stored as the user\'s text message with content.payload', async () => {
    expect((await hook(await fake.whatsapp.buttonReply(url(), kim, 'r:YES_PLEASE', 'Yes please'))).status).toBe(200);
    const message = await storedMessage(await conversation(), (m) => m.content.payload === 'YES_PLEASE');
    expect(message).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Yes please', payload: 'YES_PLEASE' } });
  });

  it('a reaction is acknowledged and stores nothing', async () => {
    const conversationId = await conversation();
    const before = (await messages(app.appId, app.auth, conversationId)).length;
    expect((await hook(await fake.whatsapp.reaction(url(), kim, 'wamid.SOMETHING', '👍'))).status).toBe(200);
    await thenBarrier(conversationId, (text) => fake.whatsapp.text(url(), kim, text));
    expect(await messages(app.appId, app.auth, conversationId)).toHaveLength(before + 1);
  });

  it('statuses for a business send: delivered → delivery:user, read → conversation:read, failed → delivery:failure with Meta\'s code', async () => {
    const conversationId = await conversation();
    const shipped = await businessSends(conversationId, { content: { type: 'text', text: 'Your order shipped' } });
    const wamid = (shipped.outcome.payload.externalMessages as { id: string }[])[0]!.id;

    expect((await hook(await fake.whatsapp.status(url(), { id: wamid, status: 'sent', recipientId: kim.waId }))).status).toBe(200);
    expect((await hook(await fake.whatsapp.status(url(), { id: wamid, status: 'delivered', recipientId: kim.waId }))).status).toBe(200);
    const delivered = await eventFor('conversation:message:delivery:user', aboutMessage(shipped.messageId));
    expect(delivered.payload).toMatchObject({ destination: { type: 'whatsapp', integrationId: integrations.whatsapp.id }, externalMessages: [{ id: wamid }], isFinalEvent: true });

    const readsBefore = receiver.ofType('conversation:read').filter((e) => inConversation(conversationId)(e.payload)).length;
    expect((await hook(await fake.whatsapp.status(url(), { id: wamid, status: 'read', recipientId: kim.waId }))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:read').filter((e) => inConversation(conversationId)(e.payload)).length).toBe(readsBefore + 1));
    const read = receiver.ofType('conversation:read').filter((e) => inConversation(conversationId)(e.payload)).at(-1)!;
    expect(read.payload).toMatchObject({ activity: { type: 'conversation:read', author: { type: 'user' }, source: { type: 'whatsapp' } } });

    const lost = await businessSends(conversationId, { content: { type: 'text', text: 'Are you still there?' } });
    const lostId = (lost.outcome.payload.externalMessages as { id: string }[])[0]!.id;
    const failed = await fake.whatsapp.status(url(), { id: lostId, status: 'failed', recipientId: kim.waId, errors: [{ code: 131026, title: 'Message undeliverable' }] });
    expect((await hook(failed)).status).toBe(200);
    const failure = await eventFor('conversation:message:delivery:failure', aboutMessage(lost.messageId));
    expect(failure.payload).toMatchObject({ error: { code: '131026', message: 'Message undeliverable' }, externalMessages: [{ id: lostId }] });
  });

  it('a status for a number Parley never saw is acknowledged and creates no user', async () => {
    const stranger = '15550109999';
    expect((await hook(await fake.whatsapp.status(url(), { id: 'wamid.UNKNOWN', status: 'delivered', recipientId: stranger }))).status).toBe(200);
    const conversationId = await conversation();
    await thenBarrier(conversationId, (text) => fake.whatsapp.text(url(), kim, text));
    expect(receiver.ofType('client:add').some((e) => (e.payload.client as Json).externalId === stranger)).toBe(false);
  });
});

describe.each([
  { kind: 'messenger' as const, builders: () => fake.messenger, userId: '2900000000009001' },
  { kind: 'instagram' as const, builders: () => fake.instagram, userId: '1780000000009001' },
])('$kind inbound', ({ kind, builders, userId }) => {
  const url = () => integrations[kind].webhookUrl;
  const conversation = () => conversationOf(kind, userId);

  beforeAll(async () => {
    expect((await hook(await builders().text(url(), userId, 'hi there'))).status).toBe(200);
  });

  const attachmentKinds = kind === 'messenger' ? ['image', 'sticker', 'file', 'video', 'audio'] : ['image', 'video', 'audio'];
  it.each(attachmentKinds)('a %s attachment is stored with a Parley /media URL serving the bytes from the CDN link', async (type) => {
    const bytes = new TextEncoder().encode(`${type} ${crypto.randomUUID()}`);
    expect((await hook(await builders().attachment(url(), userId, type, { bytes }))).status).toBe(200);
    const conversationId = await conversation();
    const candidates = await eventually(async () => {
      const list = (await messages(app.appId, app.auth, conversationId)).filter((m) => typeof m.content.mediaUrl === 'string');
      for (const m of list) {
        const res = await hook(new Request(String(m.content.mediaUrl)));
        if (res.status === 200 && new TextDecoder().decode(await res.arrayBuffer()) === new TextDecoder().decode(bytes)) return m;
      }
      throw new Error('no stored media with these bytes yet');
    });
    expect(candidates.content.type).toBe(['image', 'sticker'].includes(type) ? 'image' : 'file');
    expect(String(candidates.content.mediaUrl)).toMatch(new RegExp(`^http://parley.test/media/${integrations[kind].id}/`));
    expect(String(candidates.content.mediaUrl)).not.toContain('/cdn/');
  });

  it('one message with two attachments is stored as two messages', async () => {
    const conversationId = await conversation();
    const before = (await messages(app.appId, app.auth, conversationId)).length;
    expect((await hook(await builders().attachments(url(), userId, ['image', 'video']))).status).toBe(200);
    await eventually(async () => expect(await messages(app.appId, app.auth, conversationId)).toHaveLength(before + 2));
    const last = (await messages(app.appId, app.auth, conversationId)).slice(-2);
    expect(last.map((m) => m.content.type)).toEqual(['image', 'file']);
  });

  it('a quick reply is stored as a text message with content.payload', async () => {
    expect((await hook(await builders().quickReply(url(), userId, 'Blue please', 'COLOR_BLUE'))).status).toBe(200);
    const message = await storedMessage(await conversation(), (m) => m.content.payload === 'COLOR_BLUE');
    expect(message.content).toEqual({ type: 'text', text: 'Blue please', payload: 'COLOR_BLUE' });
  });

  it('a postback raises conversation:postback with payload and title', async () => {
    const conversationId = await conversation();
    expect((await hook(await builders().postback(url(), userId, 'Talk to a human', 'HUMAN'))).status).toBe(200);
    const e = await eventFor('conversation:postback', (p) => inConversation(conversationId)(p) && p.postback.payload === 'HUMAN');
    expect(e.payload).toMatchObject({ postback: { payload: 'HUMAN', text: 'Talk to a human' }, source: { type: kind, integrationId: integrations[kind].id } });
  });

  it('a referral raises conversation:referral with the ref and its source', async () => {
    const conversationId = await conversation();
    expect((await hook(await builders().referral(url(), userId, `summer-${kind}`))).status).toBe(200);
    const e = await eventFor('conversation:referral', (p) => inConversation(conversationId)(p) && p.referral.code === `summer-${kind}`);
    expect(e.payload).toMatchObject({ referral: { code: `summer-${kind}`, details: { source: 'SHORTLINK', type: 'OPEN_THREAD' } }, source: { type: kind } });
  });

  it('a Get Started postback that came through an ad raises both the postback and the referral', async () => {
    const conversationId = await conversation();
    const req = await builders().postback(url(), userId, 'Get Started', 'GET_STARTED', { referral: { ref: 'ad-42', source: 'ADS', type: 'OPEN_THREAD' } });
    expect((await hook(req)).status).toBe(200);
    await eventFor('conversation:postback', (p) => inConversation(conversationId)(p) && p.postback.payload === 'GET_STARTED');
    const referral = await eventFor('conversation:referral', (p) => inConversation(conversationId)(p) && p.referral.code === 'ad-42');
    expect(referral.payload.referral).toMatchObject({ details: { source: 'ADS' } });
  });

  if (kind === 'messenger') {
    it('a location pin is stored as location content', async () => {
      expect((await hook(await fake.messenger.location(url(), userId, 40.7128, -74.006, 'Home'))).status).toBe(200);
      const message = await storedMessage(await conversation(), (m) => m.content.type === 'location');
      expect(message.content).toMatchObject({ coordinates: { lat: 40.7128, long: -74.006 }, location: { name: 'Home' } });
    });
  } else {
    it('a story mention raises conversation:referral with the story link', async () => {
      const conversationId = await conversation();
      expect((await hook(await fake.instagram.attachment(url(), userId, 'story_mention'))).status).toBe(200);
      const e = await eventFor('conversation:referral', (p) => inConversation(conversationId)(p) && p.referral.details?.source === 'STORY_MENTION');
      expect(String((e.payload.referral as Json).code)).toMatch(new RegExp(`^${API}/cdn/`));
    });

    it('a story reply and a shared post are stored as text (the shared link kept)', async () => {
      const conversationId = await conversation();
      await hook(await fake.instagram.storyReply(url(), userId, 'love this story', `${API}/cdn/story.jpg`));
      await hook(await fake.instagram.attachment(url(), userId, 'share', { url: 'https://www.instagram.com/p/Cxyz/', title: 'A post' }));
      await storedMessage(conversationId, (m) => m.content.text === 'love this story');
      await storedMessage(conversationId, (m) => m.content.type === 'text' && m.content.text === 'A post\nhttps://www.instagram.com/p/Cxyz/');
    });
  }

  it('an echo of the business\'s own send is acknowledged and stored nowhere', async () => {
    const conversationId = await conversation();
    expect((await hook(await builders().echo(url(), userId, `echo on ${kind}`))).status).toBe(200);
    await thenBarrier(conversationId, (text) => builders().text(url(), userId, text));
    expect((await messages(app.appId, app.auth, conversationId)).some((m) => m.content.text === `echo on ${kind}`)).toBe(false);
    expect(receiver.ofType('conversation:message').some((e) => (e.payload.message as Json).content.text === `echo on ${kind}`)).toBe(false);
  });

  it('receipts after a business send: delivery → delivery:user, read → conversation:read', async () => {
    const conversationId = await conversation();
    const { messageId, outcome } = await businessSends(conversationId, { content: { type: 'text', text: `receipt me on ${kind}` } });
    expect(outcome.type).toBe('conversation:message:delivery:channel');
    const mid = (outcome.payload.externalMessages as { id: string }[])[0]!.id;

    const readsBefore = receiver.ofType('conversation:read').filter((e) => inConversation(conversationId)(e.payload)).length;
    if (kind === 'messenger') {
      expect((await hook(await fake.messenger.delivery(url(), userId, fake.now(), [mid]))).status).toBe(200);
      const delivered = await eventFor('conversation:message:delivery:user', aboutMessage(messageId));
      expect(delivered.payload).toMatchObject({ destination: { type: 'messenger', integrationId: integrations.messenger.id } });
      expect((await hook(await fake.messenger.read(url(), userId, { watermark: fake.now() }))).status).toBe(200);
    } else {
      expect((await hook(await fake.instagram.read(url(), userId, { mid }))).status).toBe(200);
    }
    await eventually(() => expect(receiver.ofType('conversation:read').filter((e) => inConversation(conversationId)(e.payload)).length).toBe(readsBefore + 1));
    const read = receiver.ofType('conversation:read').filter((e) => inConversation(conversationId)(e.payload)).at(-1)!;
    expect(read.payload).toMatchObject({ activity: { type: 'conversation:read', author: { type: 'user' }, source: { type: kind, integrationId: integrations[kind].id } } });
  });
});

// ---- outbound: windows, rate limits, permanent errors ------------------------------------------

describe('outbound failures', () => {
  const template = {
    namespace: 'c8ae5f90_307a_ca4c_b8f6_d1e2a2573574',
    name: 'order_shipped',
    language: { policy: 'deterministic', code: 'en_US' },
    components: [{ type: 'body', parameters: [{ type: 'text', text: '#1042' }] }],
  };

  async function wroteIn(kind: Kind, userId: string): Promise<string> {
    const build = kind === 'whatsapp' ? fake.whatsapp.text(integrations.whatsapp.webhookUrl, { waId: userId }, 'hello') : fake[kind].text(integrations[kind].webhookUrl, userId, 'hello');
    expect((await hook(await build)).status).toBe(200);
    return conversationOf(kind, userId);
  }

  it('WhatsApp, 25 hours after the user last wrote (by Meta\'s clock): a text fails with 131047, a template still goes out natively', async () => {
    const waId = '15550108001';
    const conversationId = await wroteIn('whatsapp', waId);
    skew = 25 * HOUR;
    try {
      const text = await businessSends(conversationId, { content: { type: 'text', text: 'anyone there?' } });
      expect(text.outcome.type).toBe('conversation:message:delivery:failure');
      expect(text.outcome.payload.error).toMatchObject({ code: '131047' });
      expect(sendsWith('anyone there?').map((c) => c.status)).toEqual([400]);

      const tpl = await businessSends(conversationId, { schema: 'whatsapp', content: { type: 'template', template } });
      expect(tpl.outcome.type).toBe('conversation:message:delivery:channel');
      const [sent] = sendsWith('order_shipped');
      expect(sent!.status).toBe(200);
      expect(sent!.body).toMatchObject({ messaging_product: 'whatsapp', to: waId, type: 'template', template: { name: 'order_shipped', language: { code: 'en_US' }, components: template.components } });
      expect(sent!.body!.template).not.toHaveProperty('namespace');
      expect(tpl.outcome.payload.externalMessages).toEqual([{ id: sent!.answer!.messages[0].id }]);
    } finally {
      skew = 0;
    }
  });

  it("WhatsApp, a user whose last message is 25 hours old by Parley's clock: 131047 without calling Meta, and the template goes", async () => {
    const waId = '15550108002';
    const realNow = Date.now.bind(Date);
    // The message is received (and its time recorded by the conversation) 25 hours in the past.
    const past = vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 25 * HOUR);
    try {
      expect((await hook(await fake.whatsapp.text(integrations.whatsapp.webhookUrl, { waId }, 'old news'))).status).toBe(200);
    } finally {
      past.mockRestore();
    }
    const conversationId = await conversationOf('whatsapp', waId);
    const text = await businessSends(conversationId, { content: { type: 'text', text: 'following up on old news' } });
    expect(text.outcome.type).toBe('conversation:message:delivery:failure');
    expect(text.outcome.payload.error).toMatchObject({ code: '131047' });
    expect(sendsWith('following up on old news')).toEqual([]);

    const tpl = await businessSends(conversationId, { schema: 'whatsapp', content: { type: 'template', template: { ...template, name: 'follow_up' } } });
    expect(tpl.outcome.type).toBe('conversation:message:delivery:channel');
    expect(sendsWith('follow_up').map((c) => [c.status, c.body!.type])).toEqual([[200, 'template']]);
  });

  it('WhatsApp throughput limit (Graph code 130429): sent again after the wait, exactly once', async () => {
    const conversationId = await wroteIn('whatsapp', '15550108003');
    fake.errorNext('130429');
    const started = Date.now();
    const { messageId, outcome } = await businessSends(conversationId, { content: { type: 'text', text: 'after the throttle' } }, 15_000);
    expect(outcome.type).toBe('conversation:message:delivery:channel');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(sendsWith('after the throttle').map((c) => c.status)).toEqual([400, 200]);
    expect(receiver.ofType('conversation:message:delivery:channel').filter((e) => aboutMessage(messageId)(e.payload))).toHaveLength(1);
  });

  it('a throttle on the second of the two WhatsApp messages one part became: after the wait only that one is sent again', async () => {
    const waId = '15550108006';
    const conversationId = await wroteIn('whatsapp', waId);
    // A postback and a location request are one rendered part that WhatsApp takes as two interactive messages.
    failSend = { match: (body) => body.to === waId && body.interactive?.type === 'location_request_message', error: '130429' };
    const { outcome } = await businessSends(
      conversationId,
      { content: { type: 'text', text: 'Checkout now', actions: [{ type: 'postback', text: 'Pay', payload: 'PAY_NOW' }, { type: 'locationRequest', text: 'Send location' }] } },
      15_000,
    );
    expect(outcome.type).toBe('conversation:message:delivery:channel');
    const to = (type: string) => graph.filter((c) => c.body?.to === waId && c.body?.interactive?.type === type).map((c) => c.status);
    expect(to('location_request_message')).toEqual([400, 200]);
    expect(to('button')).toEqual([200]);
  });

  it('Messenger HTTP 429 with Retry-After: sent again after the wait, exactly once', async () => {
    const conversationId = await wroteIn('messenger', '2900000000008003');
    fake.failNext(1, {
      status: 429,
      headers: { 'retry-after': '1' },
      body: { error: { message: '(#613) Calls to this api have exceeded the rate limit.', type: 'OAuthException', code: 613, fbtrace_id: 'Aratelimit' } },
    });
    const started = Date.now();
    const { outcome } = await businessSends(conversationId, { content: { type: 'text', text: 'after the 429' } }, 15_000);
    expect(outcome.type).toBe('conversation:message:delivery:channel');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(sendsWith('after the 429').map((c) => c.status)).toEqual([429, 200]);
  });

  it('Messenger outside its 24-hour window: Meta\'s 10/2018278 is a permanent delivery:failure with code 10, not retried', async () => {
    const conversationId = await wroteIn('messenger', '2900000000008004');
    skew = 25 * HOUR;
    try {
      const { outcome } = await businessSends(conversationId, { content: { type: 'text', text: 'late answer' } });
      expect(outcome.type).toBe('conversation:message:delivery:failure');
      expect(outcome.payload.error).toMatchObject({ code: '10' });
      expect(String((outcome.payload.error as Json).message)).toContain('2018278');
      expect(sendsWith('late answer').map((c) => c.status)).toEqual([400]);
    } finally {
      skew = 0;
    }
  });

  it('Instagram with a revoked token: Graph 190 is a permanent delivery:failure with code 190, not retried', async () => {
    const conversationId = await wroteIn('instagram', '1780000000008005');
    fake.errorNext('190');
    const { outcome } = await businessSends(conversationId, { content: { type: 'text', text: 'token gone' } });
    expect(outcome.type).toBe('conversation:message:delivery:failure');
    expect(outcome.payload.error).toMatchObject({ code: '190' });
    expect(String((outcome.payload.error as Json).message)).toMatch(/access token/i);
    expect(sendsWith('token gone').map((c) => c.status)).toEqual([400]);
  });
});
