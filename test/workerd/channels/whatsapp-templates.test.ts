/**
 * WhatsApp templates through the whole product: the account's templates
 * listed through the integration (Meta's Business Management API, its auth,
 * cursors and errors), Message Template Reconstruction (the text the user saw
 * becomes the stored text, the API answer and the webhook's, or the fallback
 * stays when the template cannot be looked up), and templates sent through
 * Twilio's WhatsApp as Content API sends (ContentSid + ContentVariables).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { MetaFake } from '../../fakes/meta';
import { TwilioFake } from '../../fakes/twilio';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';
import { managementOf, reconstructTemplate } from '../../../src/channels/whatsapp-templates';

type Json = Record<string, any>;

const META = 'https://meta.templates.test';
const META2 = 'https://meta2.templates.test';
const TWILIO = 'https://twilio.templates.test';
const META3 = 'https://meta3.templates.test';
const meta = new MetaFake({ origin: META });
// A second number whose integration has neither accountId's token nor a management token.
const meta2 = new MetaFake({ origin: META2, whatsapp: { phoneNumberId: '200000000000002' } });
const twilio = new TwilioFake({ origin: TWILIO });
// The only WhatsApp number of another app.
const meta3 = new MetaFake({ origin: META3, whatsapp: { phoneNumberId: '300000000000003', wabaId: '300000000000009' } });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
const ids = { wa: '', wa2: '', twilio: '' };
const conversations = { wa: '', wa2: '', sms: '', twilioWa: '' };

const ORDER_EN = [
  { type: 'HEADER', format: 'TEXT', text: 'Order {{1}}' },
  { type: 'BODY', text: 'Hi {{1}}, your order {{2}} shipped.', example: { body_text: [['Mark', '566701']] } },
  { type: 'FOOTER', text: 'Reply STOP to opt out' },
  { type: 'BUTTONS', buttons: [{ type: 'QUICK_REPLY', text: 'Thanks' }, { type: 'URL', text: 'Track', url: 'https://shop.example/track/{{1}}' }] },
];

const conversationOf = (externalId: string) => conversationOfUser(receiver, app, externalId);

const post = (conversationId: string, body: Json) =>
  call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, ...body });
const listing = (query = '', integrationId = ids.wa, auth = app.auth) => call('GET', `/v2/apps/${app.appId}/integrations/${integrationId}/templates${query}`, auth);
const listingCalls = (fake: MetaFake) => fake.calls.filter((c) => c.path.endsWith('/message_templates'));
const webhookText = (messageId: string) =>
  eventually(() => {
    const e = receiver.ofType('conversation:message').find((ev) => (ev.payload.message as Json).id === messageId);
    if (!e) throw new Error('no conversation:message yet');
    return (e.payload.message as Json).content.text as string;
  });
const sentTemplate = (fake: MetaFake, name: string, after: number) =>
  eventually(() => {
    const t = fake.sent().slice(after).find((c) => (c.body as Json).type === 'template' && (c.body as Json).template.name === name);
    if (!t) throw new Error('no template send yet');
    return t.body as Json;
  });

beforeAll(async () => {
  meta.addTemplate({ name: 'order_update', language: 'en_US', components: ORDER_EN });
  meta.addTemplate({ name: 'order_update', language: 'de', components: [{ type: 'BODY', text: 'Hallo {{1}}, Bestellung {{2}} ist unterwegs.' }] });
  meta.addTemplate({ name: 'order_update_v2', language: 'en_US', components: [{ type: 'BODY', text: 'Not the one' }] });
  meta.addTemplate({ name: 'welcome', language: 'en_US', status: 'REJECTED', category: 'MARKETING', components: [{ type: 'BODY', text: 'Welcome!' }] });
  meta.addTemplate({ name: 'appointment', language: 'en_US', components: [{ type: 'BODY', text: 'See you on {{1}} at {{2}}.' }] });
  meta.addTemplate({ name: 'flaky', language: 'en_US', components: [{ type: 'BODY', text: 'Flaky {{1}}' }] });

  const spy = routeFetch({ [META]: meta, [META2]: meta2, [META3]: meta3, [TWILIO]: twilio, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('whatsapp templates');
  await subscribe(app.appId, app.auth);
  const create = async (body: Json) => {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.integration as Json & { id: string; webhookUrl: string };
  };
  const wa = await create({
    type: 'whatsapp',
    phoneNumberId: meta.wa.phoneNumberId,
    accessToken: meta.wa.accessToken,
    appSecret: meta.appSecret,
    accountId: meta.wa.wabaId,
    accountManagementAccessToken: meta.wa.managementAccessToken,
    hsmFallbackLanguage: 'de',
    apiBaseUrl: META,
  });
  const wa2 = await create({ type: 'whatsapp', phoneNumberId: meta2.wa.phoneNumberId, accessToken: meta2.wa.accessToken, appSecret: meta2.appSecret, accountId: meta2.wa.wabaId, apiBaseUrl: META2 });
  const [numberSid] = [...twilio.phoneNumbers.keys()];
  const tw = await create({ type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: numberSid, apiBaseUrl: TWILIO });
  Object.assign(ids, { wa: wa.id, wa2: wa2.id, twilio: tw.id });

  expect((await hook(await meta.whatsapp.text(wa.webhookUrl, { waId: '15550001111', name: 'Wanda' }, 'hi'))).status).toBe(200);
  conversations.wa = await conversationOf('15550001111');
  expect((await hook(await meta2.whatsapp.text(wa2.webhookUrl, { waId: '15550002222', name: 'Otto' }, 'hi'))).status).toBe(200);
  conversations.wa2 = await conversationOf('15550002222');
  const smsUrl = twilio.phoneNumbers.get(numberSid!)!.smsUrl;
  expect((await hook(await twilio.text(smsUrl, { from: '+15550003333' }, 'hi'))).status).toBe(200);
  conversations.sms = await conversationOf('+15550003333');
  expect((await hook(await twilio.text(smsUrl, { from: 'whatsapp:+15550004444' }, 'hi'))).status).toBe(200);
  conversations.twilioWa = await conversationOf('whatsapp:+15550004444');
});

afterAll(() => restore());

describe('reconstructing a template', () => {
  it('fills header, body and button URL placeholders, keeps the footer and lists the buttons', () => {
    const text = reconstructTemplate(
      { components: ORDER_EN },
      {
        components: [
          { type: 'header', parameters: [{ type: 'text', text: '42' }] },
          { type: 'body', parameters: [{ type: 'text', text: 'Wanda' }, { type: 'currency', currency: { fallback_value: '$9.99', code: 'USD', amount_1000: 9990 } }] },
          { type: 'button', sub_type: 'url', index: 1, parameters: [{ type: 'text', text: 'A42' }] },
        ],
      },
    );
    expect(text).toBe('Order 42\n\nHi Wanda, your order $9.99 shipped.\n\nReply STOP to opt out\n\nThanks\nTrack: https://shop.example/track/A42');
  });

  it('fills named parameters and leaves a placeholder nobody filled as written', () => {
    const text = reconstructTemplate({ components: [{ type: 'BODY', text: 'Hi {{first_name}}, code {{code}}' }] }, { components: [{ type: 'body', parameters: [{ type: 'text', parameter_name: 'first_name', text: 'Ann' }] }] });
    expect(text).toBe('Hi Ann, code {{code}}');
  });

  it('has no text for a template without any (a media header alone)', () => {
    expect(reconstructTemplate({ components: [{ type: 'HEADER', format: 'IMAGE' }] }, {})).toBeUndefined();
  });

  it('names the missing account field', () => {
    const base = { phoneNumberId: '1', accessToken: 't', appSecret: 's', hsmFallbackLanguage: 'en_US' };
    expect(() => managementOf(base)).toThrow(/^accountId:/);
    expect(() => managementOf({ ...base, accountId: '1' })).toThrow(/^accountManagementAccessToken:/);
  });
});

describe('listing the account templates', () => {
  it('lists name, language, status, category and components with the management token', async () => {
    const before = meta.calls.length;
    const res = await listing();
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.templates).toHaveLength(meta.templates.length);
    expect(res.body.templates[0]).toEqual({ name: 'order_update', language: 'en_US', status: 'APPROVED', category: 'UTILITY', components: ORDER_EN });
    expect(res.body.meta).toEqual({ hasMore: false });
    const graph = meta.calls.slice(before).find((c) => c.path === `/v21.0/${meta.wa.wabaId}/message_templates`)!;
    expect(graph.headers.authorization).toBe(`Bearer ${meta.wa.managementAccessToken}`);
    expect(graph.body).toMatchObject({ fields: 'name,language,status,category,components', limit: '25' });
  });

  it('passes the filters to Meta', async () => {
    const approved = await listing('?status=APPROVED&language=en_US');
    expect(approved.body.templates.map((t: Json) => t.name)).toEqual(['order_update', 'order_update_v2', 'appointment', 'flaky']);
    const named = await listing('?name=order_update&language=de');
    expect(named.body.templates).toMatchObject([{ name: 'order_update', language: 'de' }]);
  });

  it("pages with Meta's cursors: afterCursor and links.next lead to the next page until hasMore is false", async () => {
    const first = await listing('?page[size]=4');
    expect(first.body.templates).toHaveLength(4);
    expect(first.body.meta.hasMore).toBe(true);
    expect(first.body.meta.afterCursor).toEqual(expect.any(String));
    expect(new URL(first.body.links.next).searchParams.get('page[after]')).toBe(first.body.meta.afterCursor);
    const next = new URL(first.body.links.next);
    const second = await listing(next.search);
    expect(second.status).toBe(200);
    expect(second.body.templates.map((t: Json) => `${t.name}/${t.language}`)).toEqual(['appointment/en_US', 'flaky/en_US']);
    expect(second.body.meta).toEqual({ hasMore: false });
    const names = [...first.body.templates, ...second.body.templates].map((t: Json) => `${t.name}/${t.language}`);
    expect(new Set(names).size).toBe(meta.templates.length);
  });

  it("needs the app's key, and another app cannot reach the integration by its id", async () => {
    expect((await listing('', ids.wa, 'Basic bm9wZTpub3Bl')).status).toBe(401);
    const other = await newApp('another tenant');
    const before = listingCalls(meta).length;
    const res = await call('GET', `/v2/apps/${other.appId}/integrations/${ids.wa}/templates`, other.auth);
    expect(res.status).toBe(404);
    expect(res.body.errors[0].code).toBe('integration_not_found');
    expect(listingCalls(meta).length).toBe(before);
  });

  it('answers 400 naming the missing field, 400 for other channels and 404 for an unknown integration', async () => {
    const missing = await listing('', ids.wa2);
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].title).toMatch(/^accountManagementAccessToken:/);
    expect(listingCalls(meta2)).toHaveLength(0);
    const other = await listing('', ids.twilio);
    expect(other.status).toBe(400);
    expect(other.body.errors[0].title).toMatch(/whatsapp integrations, not twilio/);
    expect((await listing('', 'ffffffffffffffffffffffff')).status).toBe(404);
    expect((await listing('?status=NOPE')).status).toBe(400);
  });

  it("answers Meta's refusal as a 400 with Meta's words, and Meta failing as a 502", async () => {
    meta.errorNext('190');
    const refused = await listing();
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].title).toMatch(/Graph error 190: Invalid OAuth access token/);
    meta.failNext(1, { status: 500, body: { error: { message: 'An unknown error occurred', type: 'OAuthException', code: 1, is_transient: true } } });
    const failed = await listing();
    expect(failed.status).toBe(502);
    expect(failed.body.errors[0]).toMatchObject({ code: 'bad_gateway' });
    expect(failed.body.errors[0].title).toMatch(/An unknown error occurred/);
  });
});

describe('Message Template Reconstruction', () => {
  it('stores, answers and announces the text the user saw, rebuilt from the approved template', async () => {
    const sends = meta.sent().length;
    const res = await post(conversations.wa, {
      content: { type: 'text', text: '&((template=[[order_update]] language=[[en_US]] fallback=[[Your order shipped]] header_text=[[42]] body_text=[[Wanda]][[42]]))&' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const expected = 'Order 42\n\nHi Wanda, your order 42 shipped.\n\nReply STOP to opt out\n\nThanks\nTrack: https://shop.example/track/{{1}}';
    expect(res.body.messages.map((m: Json) => m.content.text)).toEqual([expected]);
    const stored = (await messages(app.appId, app.auth, conversations.wa)).find((m) => m.id === res.body.messages[0].id)!;
    expect(stored.content.text).toBe(expected);
    expect(await webhookText(res.body.messages[0].id)).toBe(expected);
    // WhatsApp still receives the template itself, not the text.
    const template = await sentTemplate(meta, 'order_update', sends);
    expect(template.template).toMatchObject({ language: { code: 'en_US' }, components: [{ type: 'header' }, { type: 'body', parameters: [{ text: 'Wanda' }, { text: '42' }] }] });
  });

  it("looks a template without a language up in the integration's hsmFallbackLanguage", async () => {
    const sends = meta.sent().length;
    const res = await post(conversations.wa, { content: { type: 'text', text: '&((template=[[order_update]] fallback=[[Bestellung unterwegs]] body_text=[[Wanda]][[77]]))&' } });
    expect(res.body.messages[0].content.text).toBe('Hallo Wanda, Bestellung 77 ist unterwegs.');
    expect((await sentTemplate(meta, 'order_update', sends)).template.language).toEqual({ code: 'de' });
  });

  it('reconstructs content.type template too, and asks Meta once per template while cached', async () => {
    const before = listingCalls(meta).length;
    const body = {
      schema: 'whatsapp',
      content: { type: 'template', template: { name: 'appointment', language: { policy: 'deterministic', code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Monday' }, { type: 'text', text: '10:00' }] }] } },
    };
    const first = await post(conversations.wa, body);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body.messages[0].content).toMatchObject({ type: 'template', text: 'See you on Monday at 10:00.' });
    const second = await post(conversations.wa, body);
    expect(second.body.messages[0].content.text).toBe('See you on Monday at 10:00.');
    expect(listingCalls(meta).length - before).toBe(1);
  });

  it('keeps the fallback text when the account has no such template', async () => {
    const sends = meta.sent().length;
    const res = await post(conversations.wa, { content: { type: 'text', text: '&((template=[[no_such_template]] language=[[en_US]] fallback=[[Plain fallback]] body_text=[[x]]))&' } });
    expect(res.status).toBe(201);
    expect(res.body.messages[0].content.text).toBe('Plain fallback');
    expect(await webhookText(res.body.messages[0].id)).toBe('Plain fallback');
    await sentTemplate(meta, 'no_such_template', sends);
  });

  it('keeps the fallback text when Meta fails, and the post still succeeds', async () => {
    meta.failNext(1, { status: 500 });
    const res = await post(conversations.wa, { content: { type: 'text', text: '&((template=[[flaky]] language=[[en_US]] fallback=[[Flaky fallback]] body_text=[[1]]))&' } });
    expect(res.status).toBe(201);
    expect(res.body.messages[0].content.text).toBe('Flaky fallback');
  });

  it('keeps the fallback text for an integration without a management token, and asks nobody', async () => {
    const res = await post(conversations.wa2, { content: { type: 'text', text: '&((template=[[order_update]] language=[[en_US]] fallback=[[Otto fallback]] body_text=[[Otto]][[1]]))&' } });
    expect(res.status).toBe(201);
    expect(res.body.messages[0].content.text).toBe('Otto fallback');
    expect(listingCalls(meta2)).toHaveLength(0);
    await sentTemplate(meta2, 'order_update', 0);
  });

  it('keeps the fallback text for a destination that is not WhatsApp', async () => {
    const before = listingCalls(meta).length;
    const res = await post(conversations.sms, { content: { type: 'text', text: '&((template=[[order_update]] language=[[en_US]] fallback=[[SMS fallback]] body_text=[[S]][[2]]))&' } });
    expect(res.body.messages[0].content.text).toBe('SMS fallback');
    await eventually(() => expect([...twilio.messages.values()].map((m) => m.body)).toContain('SMS fallback'));
    expect(listingCalls(meta).length).toBe(before);
  });

  it("reconstructs in an app whose only WhatsApp number is the conversation's", async () => {
    meta3.addTemplate({ name: 'hello', language: 'en_US', components: [{ type: 'BODY', text: 'Hello {{1}} from app three' }] });
    const other = await newApp('one number');
    await subscribe(other.appId, other.auth);
    const created = await call('POST', `/v2/apps/${other.appId}/integrations`, other.auth, {
      type: 'whatsapp',
      phoneNumberId: meta3.wa.phoneNumberId,
      accessToken: meta3.wa.accessToken,
      appSecret: meta3.appSecret,
      accountId: meta3.wa.wabaId,
      accountManagementAccessToken: meta3.wa.managementAccessToken,
      apiBaseUrl: META3,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await hook(await meta3.whatsapp.text(created.body.integration.webhookUrl, { waId: '15550005555', name: 'Tri' }, 'hi'))).status).toBe(200);
    const added = await eventually(() => {
      const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as { externalId: string }).externalId === '15550005555');
      if (!e) throw new Error('no client:add yet');
      return e;
    });
    const list = await call('GET', `/v2/apps/${other.appId}/conversations?filter[userId]=${(added.payload.user as { id: string }).id}`, other.auth);
    const res = await call('POST', `/v2/apps/${other.appId}/conversations/${list.body.conversations[0].id}/messages`, other.auth, {
      author: { type: 'business' },
      content: { type: 'text', text: '&((template=[[hello]] fallback=[[Hello]] body_text=[[Tri]]))&' },
    });
    // No language: hsmFallbackLanguage defaults to en_US.
    expect(res.body.messages[0].content.text).toBe('Hello Tri from app three');
    expect(listingCalls(meta3)[0]!.headers.authorization).toBe(`Bearer ${meta3.wa.managementAccessToken}`);
  });

  it('reconstructs for a WhatsApp integration named in destination', async () => {
    const res = await post(conversations.wa, {
      destination: { integrationId: ids.wa },
      content: { type: 'text', text: '&((template=[[appointment]] language=[[en_US]] fallback=[[fb]] body_text=[[Friday]][[9:00]]))&' },
    });
    expect(res.body.messages[0].content.text).toBe('See you on Friday at 9:00.');
  });
});

describe('templates through Twilio WhatsApp (Content API)', () => {
  it('sends a template named by its Content SID with ContentSid and ContentVariables instead of Body', async () => {
    const sid = twilio.addContent('Your code is {{1}}. It expires in {{2}} minutes.', { '2': '10' });
    const res = await post(conversations.twilioWa, { content: { type: 'text', text: `&((template=[[${sid}]] fallback=[[Your code is 1234]] body_text=[[1234]][[5]]))&` } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.messages[0].content.text).toBe('Your code is 1234');
    const sent = await eventually(() => {
      const m = [...twilio.messages.values()].find((x) => x.to === 'whatsapp:+15550004444' && x.body.startsWith('Your code'));
      if (!m) throw new Error('not sent yet');
      return m;
    });
    expect(sent.body).toBe('Your code is 1234. It expires in 5 minutes.');
    expect(sent.from).toBe(`whatsapp:${twilio.phoneNumber}`);
    const form = twilio.calls.find((c) => c.method === 'POST' && c.path.endsWith('/Messages.json') && (c.body as Json).ContentSid === sid)!.body as Json;
    expect(form).toMatchObject({ ContentSid: sid, ContentVariables: '{"1":"1234","2":"5"}' });
    expect(form).not.toHaveProperty('Body');
  });

  it('sends content.type template named by a Content SID the same way', async () => {
    const sid = twilio.addContent('Table for {{1}} at {{2}}');
    const res = await post(conversations.twilioWa, {
      schema: 'whatsapp',
      content: { type: 'template', template: { name: sid, language: { code: 'en' }, components: [{ type: 'body', parameters: [{ type: 'text', text: '4' }, { type: 'text', text: '8pm' }] }] } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await eventually(() => expect([...twilio.messages.values()].map((m) => m.body)).toContain('Table for 4 at 8pm'));
  });

  it('sends an override carrying Twilio fields as given', async () => {
    const sid = twilio.addContent('Hello {{1}}');
    await post(conversations.twilioWa, {
      content: { type: 'text', text: 'Hello (fallback)' },
      override: { twilio: { payload: { ContentSid: sid, ContentVariables: { '1': 'Ada' } } } },
    });
    await eventually(() => expect([...twilio.messages.values()].map((m) => m.body)).toContain('Hello Ada'));
  });

  it("reports Twilio's 21655 in delivery:failure for a Content SID the account does not have", async () => {
    twilio.addContent('Known {{1}}');
    const unknown = `HX${'0'.repeat(32)}`;
    const res = await post(conversations.twilioWa, { content: { type: 'text', text: `&((template=[[${unknown}]] fallback=[[fb]] body_text=[[x]]))&` } });
    expect(res.status).toBe(201);
    const failure = await eventually(() => {
      const e = receiver.ofType('conversation:message:delivery:failure').find((ev) => (ev.payload.message as Json).id === res.body.messages[0].id);
      if (!e) throw new Error('no failure yet');
      return e;
    });
    expect(failure.payload.error).toMatchObject({ code: '21655' });
  });
});
