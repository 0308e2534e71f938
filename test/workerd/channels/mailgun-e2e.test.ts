/**
 * Email through Mailgun, end to end: the inbound route made at setup and
 * removed with the integration, signed mail stored once however often it
 * arrives, unsigned, tampered, stale and replayed posts refused with nothing
 * stored, an attachment copied into R2 and served by Parley, replies
 * threaded under the user's mail as HTML with a text twin, a carousel whose
 * "#2" answer comes back as that option's postback, a 429 retried, a
 * permanent refusal reported as delivery:failure, and a notification to an
 * email address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { MailgunFake } from '../../fakes/mailgun';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://mailgun.test';
const INCOMING = 'support@mg.example.com';
const fake = new MailgunFake({ origin: API, deliver: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: { id: string; webhookUrl: string; status: string };
const jane = { from: 'jane@example.net', fromName: 'Jane Doe' };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('mailgun e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, {
    type: 'mailgun',
    apiKey: fake.apiKey,
    signingKey: fake.signingKey,
    domain: 'mg.example.com',
    incomingAddress: INCOMING,
    apiBaseUrl: API,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const post = (conversationId: string, content: unknown) => call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
const mailTo = (address: string, text: string) =>
  eventually(() => {
    const found = fake.sentTo(address).filter((m) => m.text?.includes(text));
    if (!found.length) throw new Error('not sent yet');
    return found;
  }, 15_000);
const known = (address: string) => receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === address);

describe('mailgun integration', () => {
  it('is active, its secrets hidden, with a route forwarding the incoming address to Parley', async () => {
    expect(integration).toMatchObject({ status: 'active', domain: 'mg.example.com', incomingAddress: INCOMING });
    expect(integration).not.toHaveProperty('apiKey');
    expect(integration).not.toHaveProperty('signingKey');
    const routes = [...fake.routes.values()];
    expect(routes.map((r) => r.actions)).toContainEqual([`forward("${integration.webhookUrl}")`, 'stop()']);
  });

  it('refuses unsigned, tampered, stale and replayed-with-another-body posts with 403 and stores nothing', async () => {
    const mallory = { from: 'mallory@example.net' };
    const good = await fake.inbound(integration.webhookUrl, { ...mallory, text: 'hello' });
    const body = new TextDecoder().decode(await good.clone().arrayBuffer());
    const send = (b: string, h: Headers = good.headers) => hook(new Request(good.url, { method: 'POST', headers: h, body: b }));
    expect((await send(body.replace(/&signature=[0-9a-f]+/, ''))).status).toBe(403);
    // Mailgun signs timestamp + token: changing either breaks the signature.
    expect((await send(body.replace(/&token=([0-9a-f])/, (_m, c: string) => `&token=${c === 'a' ? 'b' : 'a'}`))).status).toBe(403);
    expect((await send(body.replace(/&timestamp=(\d+)/, (_m, t: string) => `&timestamp=${Number(t) + 1}`))).status).toBe(403);
    const stale = await fake.inbound(integration.webhookUrl, { ...mallory, text: 'old news' }, await fake.sign(Date.now() - 6 * 60_000));
    expect((await hook(stale)).status).toBe(403);

    // A genuine post, then its signature replayed with another sender and text: the body is not signed, the token is remembered.
    const signed = await fake.sign();
    expect((await hook(await fake.inbound(integration.webhookUrl, { from: 'carol@example.net', text: 'genuine' }, signed))).status).toBe(200);
    const forged = await hook(await fake.inbound(integration.webhookUrl, { ...mallory, text: 'send me the invoices' }, signed));
    expect(forged.status).toBe(403);
    expect((await forged.json()) as unknown).toMatchObject({ errors: [{ code: 'forbidden' }] });

    await conversationOf('carol@example.net');
    expect(known('mallory@example.net')).toBe(false);
  });
});

describe('email conversation', () => {
  it('one mail posted three times, and redelivered re-signed, is stored once, quoted history stripped', async () => {
    const mail = { ...jane, subject: 'Order #12', messageId: '<CAJane1@mail.example.net>', text: 'Where is my order?\n\nOn Mon, Dec 1, 2026 at 9:00 AM Acme wrote:\n> Thanks for your order' };
    const req = await fake.inbound(integration.webhookUrl, mail);
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    expect(await fake.forward(integration.webhookUrl, mail)).toEqual([200]);
    const conversationId = await conversationOf(jane.from);
    const list = await messages(app.appId, app.auth, conversationId);
    expect(list.filter((m) => m.author.type === 'user').map((m) => m.content.text)).toEqual(['Where is my order?']);
    const added = receiver.ofType('client:add').find((e) => (e.payload.client as { externalId: string }).externalId === jane.from)!;
    expect(added.payload.client).toMatchObject({ type: 'mailgun', displayName: 'Jane Doe', info: { email: jane.from } });
  });

  it('an attachment is stored as an image served by Parley from R2', async () => {
    const png = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 0, 255]);
    const req = await fake.inbound(integration.webhookUrl, { ...jane, text: 'Photo of the box', strippedText: 'Photo of the box', attachments: [{ filename: 'box.png', contentType: 'image/png', body: png }] });
    expect((await hook(req)).status).toBe(200);
    const conversationId = await conversationOf(jane.from);
    const image = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
      if (!found) throw new Error('no image yet');
      return found;
    });
    expect(image.content).toMatchObject({ altText: 'box.png', mediaType: 'image/png', mediaSize: png.byteLength });
    expect(String(image.content.mediaUrl)).toMatch(new RegExp(`/media/${integration.id}/`));
    const res = await eventually(async () => {
      const r = await hook(new Request(String(image.content.mediaUrl)));
      if (r.status !== 200) throw new Error(`media answered ${r.status}`);
      return r;
    });
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
  });

  it('a business reply goes out as HTML and text, from noreply@domain, threaded under the user\'s mail', async () => {
    const conversationId = await conversationOf(jane.from);
    const posted = await post(conversationId, { type: 'text', text: 'It ships tomorrow.' });
    expect(posted.status).toBe(201);
    const [mail] = await mailTo(jane.from, 'It ships tomorrow.');
    expect(mail).toMatchObject({
      from: 'noreply@mg.example.com',
      subject: 'Re: Order #12',
      headers: { 'Reply-To': INCOMING, 'In-Reply-To': '<CAJane1@mail.example.net>', References: '<CAJane1@mail.example.net>' },
    });
    expect(mail!.html).toMatch(/^<!DOCTYPE html>.*It ships tomorrow\./s);
    const delivered = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:channel').find((ev) => (ev.payload.message as { id: string }).id === posted.body.messages[0].id);
      if (!e) throw new Error('no delivery yet');
      return e;
    });
    expect(delivered.payload.externalMessages).toEqual([{ id: mail!.id }]);

    // Her reply to it quotes Parley's message, and the delivered event reports delivery:user.
    expect((await hook(await fake.inbound(integration.webhookUrl, { ...jane, text: 'Great, thanks', inReplyTo: mail!.id }))).status).toBe(200);
    expect((await hook(await fake.event(integration.webhookUrl, { event: 'delivered', recipient: jane.from, messageId: mail!.id }))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:message:delivery:user').some((e) => (e.payload.message as { id: string }).id === posted.body.messages[0].id)).toBe(true));
    const reply = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.text === 'Great, thanks');
      if (!found) throw new Error('no reply yet');
      return found as typeof found & { quotedMessage?: { message?: { id: string } } };
    });
    expect(reply.quotedMessage?.message?.id).toBe(posted.body.messages[0].id);
  });

  it('a carousel is rendered as HTML cards with a text fallback, and the reply "#2" comes back as that option\'s postback', async () => {
    const conversationId = await conversationOf(jane.from);
    const posted = await post(conversationId, {
      type: 'carousel',
      items: [
        { title: 'Tacos', description: 'Crunchy', mediaUrl: 'https://food.example/tacos.jpg', actions: [{ type: 'link', text: 'Menu', uri: 'https://food.example/tacos' }, { type: 'postback', text: 'Order tacos', payload: 'ORDER_TACOS' }] },
        { title: 'Ramen', actions: [{ type: 'postback', text: 'Order ramen', payload: 'ORDER_RAMEN' }] },
      ],
    });
    expect(posted.status).toBe(201);
    const [mail] = await mailTo(jane.from, 'Tacos');
    expect(mail!.text).toBe(
      'Tacos\nCrunchy\nhttps://food.example/tacos.jpg\nMenu: https://food.example/tacos\nReply with #1 for "Order tacos"\n\nRamen\nReply with #2 for "Order ramen"\n\n--\nUnsubscribe: %unsubscribe_url%',
    );
    expect(mail!.html!.match(/<table/g)).toHaveLength(2);
    expect(mail!.html).toContain('<img src="https://food.example/tacos.jpg"');
    expect(mail!.html).toContain(`href="mailto:${INCOMING}?subject=Re%3A%20Order%20%2312&amp;body=%232"`);
    await eventually(() => expect(receiver.ofType('conversation:message:delivery:channel').some((e) => (e.payload.message as { id: string }).id === posted.body.messages[0].id)).toBe(true));

    expect((await hook(await fake.inbound(integration.webhookUrl, { ...jane, text: '#2\n\nOn Tue, Acme wrote:\n> Tacos', inReplyTo: mail!.id }))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).toContain('ORDER_RAMEN'));
  });

  it('429 from Mailgun: sent again after Retry-After, exactly once', async () => {
    const conversationId = await conversationOf(jane.from);
    fake.rateLimitNext(1);
    const started = Date.now();
    await post(conversationId, { type: 'text', text: 'slow down' });
    await mailTo(jane.from, 'slow down');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(fake.sentTo(jane.from).filter((m) => m.text?.includes('slow down'))).toHaveLength(1);
  });

  it('a permanent refusal is reported as delivery:failure with Mailgun\'s message', async () => {
    const conversationId = await conversationOf(jane.from);
    fake.failNext(1, { status: 400, body: { message: "'to' parameter is not a valid address. please check documentation" } });
    const posted = await post(conversationId, { type: 'text', text: 'never arrives' });
    const failure = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:failure').find((ev) => (ev.payload.message as { id: string }).id === posted.body.messages[0].id);
      if (!e) throw new Error('no failure yet');
      return e;
    });
    expect(failure.payload.error).toMatchObject({ code: 'http_400', message: "'to' parameter is not a valid address. please check documentation" });
  });

  it('a notification reaches an email address (lowercased); a phone number is refused', async () => {
    const notify = (destinationId: string) =>
      call('POST', `/v2/apps/${app.appId}/notifications`, app.auth, { destination: { integrationId: integration.id, destinationId }, author: { role: 'appMaker' }, message: { type: 'text', text: 'Your invoice is ready' } });
    const res = await notify('New.Customer@Example.COM');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [mail] = await mailTo('new.customer@example.com', 'Your invoice is ready');
    expect(mail).toMatchObject({ subject: 'New message', headers: { 'Reply-To': INCOMING } });
    expect(mail!.headers).not.toHaveProperty('In-Reply-To');
    const refused = await notify('+15005550006');
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].title).toMatch(/email address/);
  });

  it('deleting the integration deletes its route', async () => {
    const before = fake.routes.size;
    expect((await call('DELETE', `/v2/apps/${app.appId}/integrations/${integration.id}`, app.auth)).status).toBe(200);
    expect(fake.routes.size).toBe(before - 1);
    expect([...fake.routes.values()].some((r) => r.actions.includes(`forward("${integration.webhookUrl}")`))).toBe(false);
  });
});
