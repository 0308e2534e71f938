/**
 * What a Web Messenger user may send and what it raises: every content type a
 * person can type or pick (text with a quick reply's payload, uploaded images
 * and files, location, a form response that marks its form submitted), nothing
 * rich and no media from elsewhere; retried sends are stored once; postbacks,
 * typing and read receipts become the v2 webhook events and socket frames; the
 * business's typing reaches the socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from '../channels/harness';
import { call } from '../helpers';
import {
  BASE,
  browser,
  businessSays,
  eventually,
  messagesPath,
  openSocket,
  startSession,
  storedMessages,
  webApp,
  ORIGIN,
  type Visitor,
  type WebApp,
} from './web';
import { SELF } from 'cloudflare:test';

const receiver = new WebhookReceiver();
let restore: () => void;
let app: WebApp;

beforeAll(async () => {
  const spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await webApp();
  await subscribe(app.appId, app.auth);
});
afterAll(() => restore());

async function upload(v: Visitor, file: File) {
  const form = new FormData();
  form.append('source', file);
  const res = await SELF.fetch(`${BASE}/sdk/v2/apps/${app.appId}/attachments`, { method: 'POST', headers: { origin: ORIGIN, authorization: `Bearer ${v.token}` }, body: form });
  const body = (await res.json()) as any;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.attachment as { mediaUrl: string; mediaType: string; mediaSize: number };
}

const post = (v: Visitor, body: Record<string, unknown>) => browser('POST', messagesPath(app, v.conversationId), v.token, body);

describe('content a user may send', () => {
  let v: Visitor;
  beforeAll(async () => {
    v = await startSession(app);
  });

  it('text with the payload of the quick reply tapped, and metadata', async () => {
    await businessSays(app, v.conversationId, { type: 'text', text: 'Which size?', actions: [{ type: 'reply', text: 'Large', payload: 'SIZE_L' }] });
    const res = await post(v, { content: { type: 'text', text: 'Large', payload: 'SIZE_L' }, metadata: { cart: '42' } });
    expect(res.status).toBe(201);
    const [stored] = (await storedMessages(app, v.conversationId)).filter((m) => m.id === res.body.messages[0].id);
    expect(stored).toMatchObject({
      author: { type: 'user', userId: v.userId },
      content: { type: 'text', text: 'Large', payload: 'SIZE_L' },
      metadata: { cart: '42' },
      source: { type: 'web', integrationId: app.integrationId },
    });
  });

  it('an image and a file it uploaded first', async () => {
    const png = await upload(v, new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])], 'photo.png', { type: 'image/png' }));
    const pdf = await upload(v, new File(['%PDF-1.4 fake'], 'invoice.pdf', { type: 'application/pdf' }));
    expect(png.mediaType).toBe('image/png');
    const image = await post(v, { content: { type: 'image', mediaUrl: png.mediaUrl, altText: 'my photo' } });
    expect(image.status, JSON.stringify(image.body)).toBe(201);
    const file = await post(v, { content: { type: 'file', mediaUrl: pdf.mediaUrl, text: 'the invoice' } });
    expect(file.status, JSON.stringify(file.body)).toBe(201);
    const stored = await storedMessages(app, v.conversationId);
    expect(stored.find((m) => m.id === image.body.messages[0].id).content).toMatchObject({ type: 'image', mediaUrl: png.mediaUrl, altText: 'my photo' });
    expect(stored.find((m) => m.id === file.body.messages[0].id).content).toMatchObject({ type: 'file', mediaUrl: pdf.mediaUrl, text: 'the invoice' });
  });

  it('a location', async () => {
    const res = await post(v, { content: { type: 'location', coordinates: { lat: 45.76, long: 4.83 }, location: { name: 'Home', address: '1 rue X' } } });
    expect(res.status).toBe(201);
    expect(res.body.messages[0].content).toEqual({ type: 'location', coordinates: { lat: 45.76, long: 4.83 }, location: { name: 'Home', address: '1 rue X' } });
  });

  it('a form response quoting the business form: the form is marked submitted and the response has a textFallback', async () => {
    const form = await businessSays(app, v.conversationId, {
      type: 'form',
      fields: [
        { type: 'text', name: 'name', label: 'Name' },
        { type: 'email', name: 'email', label: 'Email' },
        { type: 'select', name: 'plan', label: 'Plan', options: [{ label: 'Pro', name: 'pro' }, { label: 'Free', name: 'free' }] },
      ],
    });
    expect(form.content.submitted).not.toBe(true);
    const res = await post(v, {
      content: {
        type: 'formResponse',
        quotedMessageId: form.id,
        fields: [
          { type: 'text', name: 'name', label: 'Name', text: 'Ann' },
          { type: 'email', name: 'email', label: 'Email', email: 'ann@example.com' },
          { type: 'select', name: 'plan', label: 'Plan', select: [{ label: 'Pro', name: 'pro' }] },
        ],
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const stored = await storedMessages(app, v.conversationId);
    expect(stored.find((m) => m.id === form.id).content.submitted).toBe(true);
    const response = stored.find((m) => m.id === res.body.messages[0].id);
    expect(response.content.textFallback).toBe('Name: Ann\nEmail: ann@example.com\nPlan: Pro');
    expect(response.content.quotedMessageId).toBeUndefined();
    expect(response.quotedMessage).toMatchObject({ type: 'message', message: { id: form.id } });
  });

  it('a form response quoting something that is not a form is refused', async () => {
    const text = await businessSays(app, v.conversationId, { type: 'text', text: 'not a form' });
    const res = await post(v, { content: { type: 'formResponse', quotedMessageId: text.id, fields: [{ type: 'text', name: 'n', label: 'N', text: 'x' }] } });
    expect(res.status).toBe(400);
  });
});

describe('content a user may not send', () => {
  let v: Visitor;
  let before: any[];
  beforeAll(async () => {
    v = await startSession(app);
    before = await storedMessages(app, v.conversationId);
  });

  it('a carousel (rich types are the business\'s): 400, nothing stored', async () => {
    const res = await post(v, { content: { type: 'carousel', items: [{ title: 'A', actions: [{ type: 'postback', text: 'Buy', payload: 'BUY' }] }] } });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].code).toBe('bad_request');
    expect(await storedMessages(app, v.conversationId)).toEqual(before);
  });

  it('a text with actions or an empty text: 400', async () => {
    expect((await post(v, { content: { type: 'text', text: 'x', actions: [{ type: 'link', text: 'go', uri: 'https://x.example' }] } })).status).toBe(400);
    expect((await post(v, { content: { type: 'text', text: '   ' } })).status).toBe(400);
  });

  it('an image whose mediaUrl was not uploaded to this app: 400 naming content.mediaUrl, nothing stored', async () => {
    const foreign = await post(v, { content: { type: 'image', mediaUrl: 'https://evil.example/tracker.png' } });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors[0].title).toMatch(/mediaUrl/);
    const otherApp = await webApp();
    const stranger = await startSession(otherApp);
    const form = new FormData();
    form.append('source', new File(['x'], 'x.png', { type: 'image/png' }));
    const up = await SELF.fetch(`${BASE}/sdk/v2/apps/${otherApp.appId}/attachments`, { method: 'POST', headers: { origin: ORIGIN, authorization: `Bearer ${stranger.token}` }, body: form });
    const otherUpload = ((await up.json()) as any).attachment.mediaUrl;
    const crossApp = await post(v, { content: { type: 'file', mediaUrl: otherUpload } });
    expect(crossApp.status).toBe(400);
    expect(await storedMessages(app, v.conversationId)).toEqual(before);
  });

  it('an uploaded image is stored with the type and size Parley recorded; markup, buttons, made-up or escaping upload URLs are refused', async () => {
    const before = await storedMessages(app, v.conversationId);
    const { mediaUrl } = await upload(v, new File([new Uint8Array(300)], 'shot.png', { type: 'image/png' }));
    const base = mediaUrl.slice(0, mediaUrl.lastIndexOf('/attachments/'));
    const key = mediaUrl.split('/attachments/')[1]!.split('/');
    const refused = [
      { type: 'image', mediaUrl, htmlText: '<img src=x onerror=alert(1)>' },
      { type: 'image', mediaUrl, actions: [{ type: 'link', text: 'win', uri: 'https://evil.example' }] },
      { type: 'file', mediaUrl: `${base}/attachments/${key[0]}/${'0'.repeat(24)}/shot.png` },
      { type: 'file', mediaUrl: `${base}/attachments/${key[0]}/${key[1]}/../../other/x.png` },
      { type: 'file', mediaUrl: `${mediaUrl}?download=1` },
    ];
    for (const content of refused) expect((await post(v, { content })).status, JSON.stringify(content)).toBe(400);
    expect(await storedMessages(app, v.conversationId)).toEqual(before);
    const ok = await post(v, { content: { type: 'image', mediaUrl, altText: 'screenshot' } });
    expect(ok.status).toBe(201);
    expect(ok.body.messages[0].content).toMatchObject({ type: 'image', mediaUrl, mediaType: 'image/png', mediaSize: 300 });
  });
});

describe('clientMessageId', () => {
  it('a retried send with the same clientMessageId returns the stored message and stores it once', async () => {
    const v = await startSession(app);
    const body = { content: { type: 'text', text: 'only once' }, clientMessageId: 'retry-me_1' };
    const first = await post(v, body);
    const second = await post(v, body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.messages[0]).toEqual(first.body.messages[0]);
    expect(first.body.messages[0].source.originalMessageId).toBe('retry-me_1');
    const other = await post(v, { ...body, clientMessageId: 'retry-me_2' });
    expect(other.body.messages[0].id).not.toBe(first.body.messages[0].id);
    expect((await storedMessages(app, v.conversationId)).map((m) => m.content.text)).toEqual(['only once', 'only once']);
  });

  it('refuses a clientMessageId outside [A-Za-z0-9_-]{1,64}', async () => {
    const v = await startSession(app);
    expect((await post(v, { content: { type: 'text', text: 'x' }, clientMessageId: 'has space' })).status).toBe(400);
    expect((await post(v, { content: { type: 'text', text: 'x' }, clientMessageId: 'a'.repeat(65) })).status).toBe(400);
  });
});

describe('postbacks and activity', () => {
  const eventFor = (type: string, conversationId: string, match: (e: any) => boolean = () => true) =>
    eventually(() => {
      const found = receiver.ofType(type).find((e: any) => e.payload.conversation.id === conversationId && match(e));
      if (!found) throw new Error(`no ${type} yet`);
      return found as any;
    });

  it('a tap on an offered button raises conversation:postback with its payload and label, and stores no message', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'carousel', items: [{ title: 'Boots', actions: [{ type: 'postback', text: 'Buy', payload: 'BUY_42' }] }] });
    const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/postback`, v.token, { payload: 'BUY_42', text: 'Forged label' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({});
    const event = await eventFor('conversation:postback', v.conversationId);
    expect(event.payload).toMatchObject({ postback: { payload: 'BUY_42', text: 'Buy' }, user: { id: v.userId }, source: { type: 'web', integrationId: app.integrationId } });
    expect((await storedMessages(app, v.conversationId)).map((m) => m.author.type)).toEqual(['business']);
  });

  it('refuses a postback whose payload no button in the conversation offered', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'Pick', actions: [{ type: 'postback', text: 'Yes', payload: 'YES' }] });
    const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/postback`, v.token, { payload: 'CONFIRM_ORDER_42' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/^payload: no postback button/);
  });

  it('typing raises conversation:typing and reaches the open sockets as typing frames', async () => {
    const v = await startSession(app);
    const socket = await openSocket(app, v.conversationId, v.token, 0);
    for (const type of ['typing:start', 'typing:stop']) {
      const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/activity`, v.token, { type });
      expect(res.status).toBe(200);
    }
    const start = await eventFor('conversation:typing', v.conversationId, (e) => e.payload.activity.type === 'typing:start');
    expect(start.payload.activity).toMatchObject({ type: 'typing:start', author: { type: 'user', userId: v.userId }, source: { type: 'web' } });
    await eventFor('conversation:typing', v.conversationId, (e) => e.payload.activity.type === 'typing:stop');
    await eventually(() => socket.frames.filter((f) => f.type === 'typing').length === 2);
    expect(socket.frames.filter((f) => f.type === 'typing')).toEqual([
      { type: 'typing', state: 'start', author: { type: 'user', userId: v.userId } },
      { type: 'typing', state: 'stop', author: { type: 'user', userId: v.userId } },
    ]);
    socket.ws.close();
  });

  it('conversation:read raises conversation:read, resets unreadCount and reaches the sockets as a read frame', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'unread 1' });
    await businessSays(app, v.conversationId, { type: 'text', text: 'unread 2' });
    const listed = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations`, v.token);
    expect(listed.body.conversations[0].unreadCount).toBe(2);
    const socket = await openSocket(app, v.conversationId, v.token, 2);
    const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/activity`, v.token, { type: 'conversation:read' });
    expect(res.status).toBe(200);
    const event = await eventFor('conversation:read', v.conversationId);
    expect(event.payload.activity).toMatchObject({ type: 'conversation:read', author: { type: 'user', userId: v.userId } });
    await eventually(() => socket.frames.some((f) => f.type === 'read'));
    const frame = socket.frames.find((f) => f.type === 'read');
    expect(frame).toEqual({ type: 'read', author: { type: 'user', userId: v.userId }, at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    const after = await browser('GET', `/sdk/v2/apps/${app.appId}/conversations`, v.token);
    expect(after.body.conversations[0].unreadCount).toBe(0);
    socket.ws.close();
  });

  it('a read with nothing unread (the second tab reporting it) raises no second conversation:read', async () => {
    const v = await startSession(app);
    await businessSays(app, v.conversationId, { type: 'text', text: 'read me' });
    const read = () => browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/activity`, v.token, { type: 'conversation:read' });
    expect((await read()).status).toBe(200);
    await eventFor('conversation:read', v.conversationId);
    expect((await read()).status).toBe(200);
    // A marker after the repeat: once its event is in, the repeat's would have been too.
    await businessSays(app, v.conversationId, { type: 'text', text: 'marker' });
    await eventFor('conversation:message', v.conversationId, (e) => e.payload.message.content.text === 'marker');
    expect(receiver.ofType('conversation:read').filter((e: any) => e.payload.conversation.id === v.conversationId)).toHaveLength(1);
  });

  it('refuses an activity type it does not know', async () => {
    const v = await startSession(app);
    const res = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${v.conversationId}/activity`, v.token, { type: 'typing:maybe' });
    expect(res.status).toBe(400);
  });

  it("the business's typing (v2 activity API) reaches the socket as a typing frame authored by the business", async () => {
    const v = await startSession(app);
    const socket = await openSocket(app, v.conversationId, v.token, 0);
    await eventually(() => socket.frames.some((f) => f.type === 'ready'));
    const res = await call('POST', `/v2/apps/${app.appId}/conversations/${v.conversationId}/activity`, app.auth, {
      author: { type: 'business', displayName: 'Agent Smith', avatarUrl: 'https://cdn.example.com/smith.png' },
      type: 'typing:start',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await eventually(() => socket.frames.some((f) => f.type === 'typing'));
    expect(socket.frames.find((f) => f.type === 'typing')).toEqual({
      type: 'typing',
      state: 'start',
      author: { type: 'business', displayName: 'Agent Smith', avatarUrl: 'https://cdn.example.com/smith.png' },
    });
    socket.ws.close();
  });
});

describe('form responses must answer the form', () => {
  const FORM = {
    type: 'form',
    fields: [
      { type: 'text', name: 'name', label: 'Name' },
      { type: 'select', name: 'size', label: 'Size', options: [{ label: 'M', name: 'm' }, { label: 'L', name: 'l' }] },
    ],
  };
  const answer = (formId: string | undefined, fields: unknown[]) => ({ content: { type: 'formResponse', ...(formId ? { quotedMessageId: formId } : {}), fields } });
  const NAME = { type: 'text', name: 'name', label: 'Name', text: 'Ann' };
  const SIZE_M = { type: 'select', name: 'size', label: 'Size', select: [{ label: 'M', name: 'm' }] };

  it('refuses invented fields, missing answers, wrong types and options the form does not offer, storing nothing', async () => {
    const v = await startSession(app);
    const form = await businessSays(app, v.conversationId, FORM);
    const cases: [unknown[], RegExp][] = [
      [[NAME, SIZE_M, { type: 'text', name: 'admin', label: 'x', text: 'yes' }], /no field admin/],
      [[NAME], /size is not answered/],
      [[{ type: 'email', name: 'name', label: 'Name', email: 'a@b.example' }, SIZE_M], /is a text field/],
      [[NAME, { ...SIZE_M, select: [{ label: 'XXL', name: 'xxl' }] }], /xxl is not one of the field's options/],
    ];
    for (const [fields, title] of cases) {
      const res = await post(v, answer(form.id, fields));
      expect(res.status).toBe(400);
      expect(res.body.errors[0].title).toMatch(title);
    }
    expect((await storedMessages(app, v.conversationId)).map((m) => m.content.type)).toEqual(['form']);
  });

  it('accepts one answer, sends the submitted form to open tabs, and refuses a second answer with 409', async () => {
    const v = await startSession(app);
    const form = await businessSays(app, v.conversationId, FORM);
    const socket = await openSocket(app, v.conversationId, v.token, form.seq);
    expect((await post(v, answer(form.id, [NAME, SIZE_M]))).status).toBe(201);
    await eventually(() => socket.frames.some((f) => f.type === 'message' && f.message.id === form.id && f.message.content.submitted === true));
    const again = await post(v, answer(form.id, [NAME, SIZE_M]));
    expect(again.status).toBe(409);
    socket.ws.close();
  });

  it("answers the integration's prechat form without a quoted message only when prechatCapture is enabled", async () => {
    const v = await startSession(app);
    const refused = await post(v, answer(undefined, [NAME]));
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].title).toMatch(/quotedMessageId: is required/);
    const prechatApp = await webApp({ originWhitelist: [ORIGIN], prechatCapture: { enabled: true } });
    const visitor = await startSession(prechatApp);
    const prechat = await browser('POST', messagesPath(prechatApp, visitor.conversationId), visitor.token, answer(undefined, [NAME, { type: 'email', name: 'email', label: 'Email', email: 'ann@example.com' }]));
    expect(prechat.status, JSON.stringify(prechat.body)).toBe(201);
    expect(prechat.body.messages[0].content.textFallback).toBe('Name: Ann\nEmail: ann@example.com');
  });
});
