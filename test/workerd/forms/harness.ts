/**
 * What the hosted form suites share: the Telegram and Twilio fakes behind the
 * Worker's fetch, a customer webhook receiver, and a helper that takes a new
 * channel user from first contact to a form the business posted, delivered
 * with its link to the form page.
 */
import { afterAll, beforeAll, expect } from 'vitest';
import { SELF } from 'cloudflare:test';
import { call } from '../helpers';
import { TelegramFake } from '../../fakes/telegram';
import { TwilioFake } from '../../fakes/twilio';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, WebhookReceiver } from '../channels/harness';

export type Json = Record<string, any>;

const TG_API = 'https://telegram-forms.test';
const TW_API = 'https://twilio-forms.test';
const telegram = new TelegramFake({ webhookFetch: (request) => hook(request) });
const twilio = new TwilioFake({ origin: TW_API, deliver: (request) => hook(request) });
export const receiver = new WebhookReceiver();

/** Puts the fakes and the receiver behind fetch for the calling suite. */
export function useFakes(): void {
  let restore: () => void;
  beforeAll(() => {
    const spy = routeFetch({ [TG_API]: telegram, [TW_API]: twilio, [RECEIVER_ORIGIN]: receiver });
    restore = () => spy.mockRestore();
  });
  afterAll(() => restore());
}

export const FORM = {
  type: 'form',
  text: 'Tell us about your order',
  fields: [
    { type: 'text', name: 'name', label: 'Your name', placeholder: 'Ann Lee', minSize: 2, maxSize: 20 },
    { type: 'email', name: 'email', label: 'Email address' },
    { type: 'select', name: 'size', label: 'Size', options: [{ name: 's', label: 'Small' }, { name: 'l', label: 'Large' }] },
    { type: 'text', name: 'qty', label: 'How many?', format: 'integer' },
  ],
};

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const URLENCODED = { 'content-type': 'application/x-www-form-urlencoded' };

export async function openPage(url: string) {
  const res = await SELF.fetch(url);
  return { res, html: await res.text() };
}

export async function postPage(url: string, fields: Record<string, string>) {
  const res = await SELF.fetch(url, { method: 'POST', headers: URLENCODED, body: form(fields) });
  return { res, html: await res.text() };
}

export interface Channel {
  type: 'telegram' | 'twilio';
  /** Creates the integration and lets a new user write in; answers the user's channel id. */
  setup(appId: string, auth: string, n: number): Promise<{ externalId: string; integrationId: string }>;
  /** The form page link the channel received in the message with `text`. */
  link(externalId: string, text: string): string;
}

const integrations = new Map<string, { id: string; webhookUrl: string }>();

async function integrate(appId: string, auth: string, body: Json) {
  const key = `${appId}:${body.type}`;
  if (!integrations.has(key)) {
    const res = await call('POST', `/v2/apps/${appId}/integrations`, auth, body);
    expect(res.status).toBe(201);
    integrations.set(key, res.body.integration);
  }
  return integrations.get(key)!;
}

export const CHANNELS: Channel[] = [
  {
    type: 'telegram',
    async setup(appId, auth, n) {
      const integration = await integrate(appId, auth, { type: 'telegram', token: telegram.token, apiBaseUrl: TG_API });
      const user = { id: 8800 + n, first_name: 'Mia', username: `mia${n}` };
      expect((await hook(await telegram.text(integration.webhookUrl, user, 'hi'))).status).toBe(200);
      return { externalId: String(user.id), integrationId: integration.id };
    },
    link(externalId, text) {
      const call = telegram.callsTo('sendMessage').find((c) => c.status === 200 && (c.body as Json).chat_id == externalId && (c.body as Json).text === text);
      if (!call) throw new Error('form not sent yet');
      const body = call.body as Json;
      // A link action is an inline keyboard url button.
      expect(body.reply_markup.inline_keyboard).toEqual([[{ text: 'Fill in the form', url: expect.stringMatching(/^http:\/\/parley\.test\/pages\/form\/[\w-]+\.[\w-]+$/) }]]);
      return body.reply_markup.inline_keyboard[0][0].url;
    },
  },
  {
    type: 'twilio',
    async setup(appId, auth, n) {
      const [phoneNumberSid] = [...twilio.phoneNumbers.keys()];
      const integration = await integrate(appId, auth, { type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid, apiBaseUrl: TW_API });
      const from = `+1500555${String(8800 + n).padStart(4, '0')}`;
      expect((await hook(await twilio.text(integration.webhookUrl, { from }, 'hi'))).status).toBe(200);
      return { externalId: from, integrationId: integration.id };
    },
    link(externalId, text) {
      const sms = [...twilio.messages.values()].find((m) => m.to === externalId && m.body.startsWith(text));
      if (!sms) throw new Error('form not sent yet');
      // SMS: the text, then the link as a "Label: url" line.
      const match = /^(.*)\n\nFill in the form: (http:\/\/parley\.test\/pages\/form\/[\w-]+\.[\w-]+)$/s.exec(sms.body);
      expect(match?.[1]).toBe(text);
      return match![2]!;
    },
  },
];

let counter = 0;

/** A user on the channel, a conversation, and a form the business posted there, delivered with its link. */
export async function formOnChannel(channel: Channel, app: { appId: string; auth: string }, content: Json = FORM) {
  const { externalId, integrationId } = await channel.setup(app.appId, app.auth, counter++);
  const added = await eventually(() => {
    const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as Json).externalId === externalId);
    if (!e) throw new Error('no client:add yet');
    return e;
  });
  const userId = (added.payload.user as Json).id as string;
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${userId}`, app.auth);
  const conversationId = list.body.conversations[0].id as string;
  const text = `${content.text ?? 'Please fill in this form.'} #${counter}`;
  const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { ...content, text } });
  expect(posted.status, JSON.stringify(posted.body)).toBe(201);
  const url = await eventually(() => channel.link(externalId, text));
  return { externalId, integrationId, userId, conversationId, formId: posted.body.messages[0].id as string, url };
}

export const formResponses = async (app: { appId: string; auth: string }, conversationId: string) =>
  (await messages(app.appId, app.auth, conversationId)).filter((m) => m.content.type === 'formResponse') as Json[];

