/**
 * Shorthand through the whole product: a business posts shorthand through
 * the REST API and the answer lists every message it became, stored in
 * order; Telegram receives the buttons natively, WhatsApp receives a
 * template (its language from the integration's hsmFallbackLanguage when
 * the shorthand names none) while Twilio SMS receives the template's
 * fallback text; bad shorthand results are refused with a 400 and nothing
 * stored.
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
