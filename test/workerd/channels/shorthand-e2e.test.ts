/**
 * Shorthand through the whole product: a business posts shorthand through
 * the REST API and the answer lists every message it became, stored in
 * order; Telegram receives the buttons natively, WhatsApp receives a
 * template (its language from the integration's hsmFallbackLanguage when
 * the shorthand names none) while Twilio SMS receives the template's
 * fallback text; bad shorthand results are refused with a 400 and nothing
 * stored. A stored template named with `%((template:NAME))%` goes out in
 * its place as each channel renders it (Telegram: inline keyboards, a
 * message per card; SMS: numbered text), and the customer's webhook sees
 * the expanded messages; an unknown name sends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { MetaFake } from '../../fakes/meta';
import { TelegramFake } from '../../fakes/telegram';
import { TwilioFake } from '../../fakes/twilio';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

type Json = Record<string, any>;

const TG = 'https://telegram.shorthand.test';
const META = 'https://meta.shorthand.test';
const TWILIO = 'https://twilio.shorthand.test';
const telegram = new TelegramFake({ webhookFetch: (request) => hook(request) });
const meta = new MetaFake({ origin: META });
const twilio = new TwilioFake({ origin: TWILIO });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
const conversations: Record<'telegram' | 'whatsapp' | 'twilio', string> = { telegram: '', whatsapp: '', twilio: '' };

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const post = (conversationId: string, text: string) =>
  call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text } });

beforeAll(async () => {
  const spy = routeFetch({ [TG]: telegram, [META]: meta, [TWILIO]: twilio, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('shorthand e2e');
  await subscribe(app.appId, app.auth);
  const create = async (body: Json) => {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.integration as Json & { id: string; webhookUrl: string };
  };
  await create({ type: 'telegram', token: telegram.token, apiBaseUrl: TG });
  const wa = await create({ type: 'whatsapp', phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, hsmFallbackLanguage: 'de', apiBaseUrl: META });
  const [numberSid] = [...twilio.phoneNumbers.keys()];
  await create({ type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: numberSid, apiBaseUrl: TWILIO });

  expect((await hook(telegram.text(telegram.webhook!.url, { id: 5501, first_name: 'Tess' }, 'hi'))).status).toBe(200);
  conversations.telegram = await conversationOf('5501');
  expect((await hook(await meta.whatsapp.text(wa.webhookUrl, { waId: '15550007777', name: 'Wanda' }, 'hi'))).status).toBe(200);
  conversations.whatsapp = await conversationOf('15550007777');
  expect((await hook(await twilio.text(twilio.phoneNumbers.get(numberSid!)!.smsUrl, { from: '+15550008888' }, 'hi'))).status).toBe(200);
  conversations.twilio = await conversationOf('+15550008888');
});

afterAll(() => restore());

describe('shorthand through the API', () => {
  it('answers and stores every message one shorthand text became, in order, and Telegram gets the image and its button', async () => {
    const res = await post(conversations.telegram, 'Here is your cat ![Cat](https://example.org/cat.jpg) %[More cats](https://example.org/cats)');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages.map((m: Json) => m.content)).toMatchObject([
      { type: 'text', text: 'Here is your cat' },
      { type: 'image', mediaUrl: 'https://example.org/cat.jpg', altText: 'Cat', actions: [{ type: 'link', text: 'More cats', uri: 'https://example.org/cats' }] },
    ]);
    const stored = (await messages(app.appId, app.auth, conversations.telegram)).filter((m) => m.author.type === 'business');
    expect(stored.map((m) => m.id)).toEqual(res.body.messages.map((m: Json) => m.id));
    const sends = await eventually(() => {
      const s = telegram.calls.filter((c) => ['sendMessage', 'sendPhoto'].includes(c.method) && c.status === 200);
      if (s.length < 3) throw new Error('not sent yet');
      return s;
    });
    // A photo without a caption carries no keyboard on Telegram: its buttons follow under the image's alt text.
    expect(sends.map((c) => [c.method, c.body])).toEqual([
      ['sendMessage', { chat_id: '5501', text: 'Here is your cat' }],
      ['sendPhoto', { chat_id: '5501', photo: 'https://example.org/cat.jpg' }],
      ['sendMessage', { chat_id: '5501', text: 'Cat', reply_markup: { inline_keyboard: [[{ text: 'More cats', url: 'https://example.org/cats' }]] } }],
    ]);
  });

  it('sends reply and postback buttons natively', async () => {
    const before = telegram.calls.length;
    const res = await post(conversations.telegram, 'Shall we? %[Yes](postback:YES) %[Later](postback:LATER)');
    expect(res.body.messages).toHaveLength(1);
    expect(res.body.messages[0].content).toMatchObject({ text: 'Shall we?', actions: [{ type: 'postback', payload: 'YES' }, { type: 'postback', payload: 'LATER' }] });
    const send = await eventually(() => {
      const s = telegram.calls.slice(before).find((c) => c.method === 'sendMessage' && c.status === 200);
      if (!s) throw new Error('not sent yet');
      return s;
    });
    expect(JSON.stringify(send.body)).toMatch(/inline_keyboard.*Yes.*Later/);
  });

  it('sends a WhatsApp template with the integration fallback language, and stores its fallback text', async () => {
    const res = await post(conversations.whatsapp, 'Update: &((namespace=[[ns]] template=[[order_update]] fallback=[[Your order 42 shipped]] body_text=[[Wanda]][[42]]))&');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages.map((m: Json) => m.content.text)).toEqual(['Update:', 'Your order 42 shipped']);
    const template = await eventually(() => {
      const t = meta.sent().find((c) => (c.body as Json).type === 'template');
      if (!t) throw new Error('no template yet');
      return t.body as Json;
    });
    expect(template).toMatchObject({ to: '15550007777', type: 'template', template: { name: 'order_update', language: { code: 'de' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Wanda' }, { type: 'text', text: '42' }] }] } });
    expect(template.template).not.toHaveProperty('namespace');
  });

  it('sends the template fallback as plain text on SMS', async () => {
    const res = await post(conversations.twilio, '&((template=[[order_update]] fallback=[[Your order 7 shipped]] body_text=[[x]]))&');
    expect(res.body.messages).toHaveLength(1);
    await eventually(() => {
      const bodies = [...twilio.messages.values()].filter((m) => m.to === '+15550008888').map((m) => m.body);
      expect(bodies).toContain('Your order 7 shipped');
    });
  });

  it('refuses what shorthand would make invalid, naming it, and stores nothing', async () => {
    const before = (await messages(app.appId, app.auth, conversations.telegram)).length;
    const eleven = Array.from({ length: 11 }, (_, i) => `%[B${i}](postback:P${i})`).join(' ');
    const res = await post(conversations.telegram, `Too many ${eleven}`);
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toMatch(/actions/);
    expect(await messages(app.appId, app.auth, conversations.telegram)).toHaveLength(before);
  });
});

describe('stored templates through the API and the channels', () => {
  const template = async (name: string, content: Json) => {
    const res = await call('POST', `/v2/apps/${app.appId}/templates`, app.auth, { name, content });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  };
  const telegramSends = (from: number, n: number) =>
    eventually(() => {
      const s = telegram.calls.slice(from).filter((c) => ['sendMessage', 'sendPhoto'].includes(c.method) && c.status === 200);
      if (s.length < n) throw new Error(`${s.length} of ${n} sent`);
      return s.map((c) => [c.method, c.body]);
    });
  const smsTo = (to: string) => [...twilio.messages.values()].filter((m) => m.to === to).map((m) => m.body);

  beforeAll(async () => {
    await template('sizes', { type: 'text', text: 'Which size? %[Small](postback:SIZE_S) %[Large](postback:SIZE_L)' });
    await template('shoes', {
      type: 'carousel',
      items: [
        { title: 'Runner', description: 'Light', mediaUrl: 'https://example.org/runner.jpg', actions: [{ type: 'postback', text: 'Buy Runner', payload: 'BUY_RUNNER' }] },
        { title: 'Boot', actions: [{ type: 'link', text: 'See Boot', uri: 'https://example.org/boot' }] },
      ],
    });
  });

  it('sends text before, a template with buttons and text after to Telegram as three messages, the buttons as an inline keyboard', async () => {
    const from = telegram.calls.length;
    const res = await post(conversations.telegram, 'Thanks, Tess. %((template:sizes))% Shipping is free.');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages.map((m: Json) => m.content.text)).toEqual(['Thanks, Tess.', 'Which size?', 'Shipping is free.']);
    const stored = (await messages(app.appId, app.auth, conversations.telegram)).slice(-3);
    expect(stored.map((m) => m.id)).toEqual(res.body.messages.map((m: Json) => m.id));
    expect(await telegramSends(from, 3)).toEqual([
      ['sendMessage', { chat_id: '5501', text: 'Thanks, Tess.' }],
      ['sendMessage', { chat_id: '5501', text: 'Which size?', reply_markup: { inline_keyboard: [[{ text: 'Small', callback_data: 'SIZE_S' }], [{ text: 'Large', callback_data: 'SIZE_L' }]] } }],
      ['sendMessage', { chat_id: '5501', text: 'Shipping is free.' }],
    ]);
  });

  it('the customer webhook carries the expanded messages, not the shorthand', async () => {
    const from = telegram.calls.length;
    const res = await post(conversations.telegram, 'Here: %((template:sizes))%');
    const ids = res.body.messages.map((m: Json) => m.id);
    const events = await eventually(() => {
      const got = receiver.ofType('conversation:message').filter((e) => ids.includes((e.payload.message as Json).id));
      if (got.length < 2) throw new Error('not delivered yet');
      return got;
    });
    expect(events.map((e) => (e.payload.message as Json).content)).toEqual([
      { type: 'text', text: 'Here:' },
      { type: 'text', text: 'Which size?', actions: [{ type: 'postback', text: 'Small', payload: 'SIZE_S' }, { type: 'postback', text: 'Large', payload: 'SIZE_L' }] },
    ]);
    expect(JSON.stringify(events)).not.toContain('%((template:');
    expect((await telegramSends(from, 2)).map(([, body]) => (body as Json).text)).toEqual(['Here:', 'Which size?']);
  });

  it('sends a carousel template to Telegram as a message per card, and to SMS as numbered text', async () => {
    const from = telegram.calls.length;
    expect((await post(conversations.telegram, '%((template:shoes))%')).status).toBe(201);
    expect(await telegramSends(from, 3)).toEqual([
      ['sendPhoto', { chat_id: '5501', photo: 'https://example.org/runner.jpg' }],
      ['sendMessage', { chat_id: '5501', text: 'Runner\nLight', reply_markup: { inline_keyboard: [[{ text: 'Buy Runner', callback_data: 'BUY_RUNNER' }]] } }],
      ['sendMessage', { chat_id: '5501', text: 'Boot', reply_markup: { inline_keyboard: [[{ text: 'See Boot', url: 'https://example.org/boot' }]] } }],
    ]);

    const res = await post(conversations.twilio, 'Our picks: %((template:shoes))%');
    expect(res.body.messages.map((m: Json) => m.content.type)).toEqual(['text', 'carousel']);
    await eventually(() => expect(smsTo('+15550008888')).toEqual(expect.arrayContaining(['Our picks:', 'Runner\nLight\n1. Buy Runner\n\nBoot\nSee Boot: https://example.org/boot\n\nReply with the number of your choice.'])));
  });

  it('sends the text fallback of a template with buttons on SMS', async () => {
    await post(conversations.twilio, '%((template:sizes))%');
    await eventually(() => expect(smsTo('+15550008888')).toContain('Which size?\n\n1. Small\n2. Large\n\nReply with the number of your choice.'));
  });

  it('refuses an unknown name with a 400 naming it: nothing stored, nothing sent', async () => {
    const before = await messages(app.appId, app.auth, conversations.telegram);
    const from = telegram.calls.length;
    const res = await post(conversations.telegram, 'Hi %((template:nope))%');
    expect(res.status).toBe(400);
    expect(res.body.errors[0].title).toBe(`content.text: no template named "nope" in this app; create it with POST /v2/apps/${app.appId}/templates`);
    expect(await messages(app.appId, app.auth, conversations.telegram)).toEqual(before);
    // The conversation sends in order: once the next message is out, anything refused before it would have been too.
    expect((await post(conversations.telegram, 'after the refusal')).status).toBe(201);
    expect(await telegramSends(from, 1)).toEqual([['sendMessage', { chat_id: '5501', text: 'after the refusal' }]]);
  });
});

