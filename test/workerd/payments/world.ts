/**
 * What the payment suites share: an app with a Stripe integration pointed at
 * the Stripe fake, Telegram and Twilio SMS integrations at their fakes, a v2
 * and a v1 customer webhook, and users who wrote in on each channel. The
 * fakes sit behind `globalThis.fetch` (harness.routeFetch); Stripe's event
 * deliveries go to the Worker through SELF, as Stripe's would.
 */
import { expect } from 'vitest';
import { call, newApp } from '../helpers';
import { StripeFake } from '../../fakes/stripe';
import { TelegramFake } from '../../fakes/telegram';
import { TwilioFake } from '../../fakes/twilio';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, WebhookReceiver, type FetchHandler } from '../channels/harness';

type Json = Record<string, any>;

/** A v1-format customer webhook: one trigger per POST. */
export class V1Receiver implements FetchHandler {
  bodies: Json[] = [];
  async fetch(request: Request): Promise<Response> {
    this.bodies.push((await request.json()) as Json);
    return new Response('ok');
  }
  ofTrigger(trigger: string) {
    return this.bodies.filter((b) => b.trigger === trigger);
  }
}

export const V1_ORIGIN = 'https://v1.receiver.test';

export interface World {
  app: Awaited<ReturnType<typeof newApp>>;
  stripe: StripeFake;
  stripeIntegration: Json;
  telegram: TelegramFake;
  twilio: TwilioFake;
  receiver: WebhookReceiver;
  v1: V1Receiver;
  restore: () => void;
}

/** Builds one app's world; `name` keeps each suite's fake origins apart. */
export async function makeWorld(name: string): Promise<World> {
  const STRIPE = `https://stripe.${name}.test`;
  const TG = `https://telegram.${name}.test`;
  const TWILIO = `https://twilio.${name}.test`;
  const stripe = new StripeFake({ origin: STRIPE, deliver: (r) => hook(r) });
  const telegram = new TelegramFake({ webhookFetch: (r) => hook(r) });
  const twilio = new TwilioFake({ origin: TWILIO });
  const receiver = new WebhookReceiver();
  const v1 = new V1Receiver();
  const spy = routeFetch({ [STRIPE]: stripe, [TG]: telegram, [TWILIO]: twilio, [RECEIVER_ORIGIN]: receiver, [V1_ORIGIN]: v1 });
  const app = await newApp(`payments ${name}`);
  const create = async (body: Json) => {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.integration as Json;
  };
  await create({ type: 'custom', webhooks: [{ target: `${RECEIVER_ORIGIN}/hook`, triggers: ['*'] }] });
  await create({ type: 'custom', webhooks: [{ target: `${V1_ORIGIN}/hook`, triggers: ['*'], version: 'v1' }] });
  const stripeIntegration = await create({ type: 'stripe', secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret, apiBaseUrl: STRIPE, displayName: 'Shop' });
  stripe.endpoint = stripeIntegration.webhookUrl;
  await create({ type: 'telegram', token: telegram.token, apiBaseUrl: TG });
  const [numberSid] = [...twilio.phoneNumbers.keys()];
  await create({ type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: numberSid, apiBaseUrl: TWILIO });
  return { app, stripe, stripeIntegration, telegram, twilio, receiver, v1, restore: () => spy.mockRestore() };
}

/** The conversation and user of a channel user who wrote in (found through their client:add event). */
export async function conversationOf(w: World, externalId: string): Promise<{ conversationId: string; userId: string }> {
  const added = await eventually(() => {
    const e = w.receiver.ofType('client:add').find((ev) => (ev.payload.client as Json).externalId === externalId);
    if (!e) throw new Error(`no client:add for ${externalId} yet`);
    return e;
  });
  const userId = (added.payload.user as Json).id as string;
  const list = await call('GET', `/v2/apps/${w.app.appId}/conversations?filter[userId]=${userId}`, w.app.auth);
  return { conversationId: list.body.conversations[0].id, userId };
}

export async function telegramUser(w: World, id: number, name: string) {
  expect((await hook(w.telegram.text(w.telegram.webhook!.url, { id, first_name: name }, 'hi'))).status).toBe(200);
  return conversationOf(w, String(id));
}

export async function smsUser(w: World, phone: string) {
  const [numberSid] = [...w.twilio.phoneNumbers.keys()];
  expect((await hook(await w.twilio.text(w.twilio.phoneNumbers.get(numberSid!)!.smsUrl, { from: phone }, 'hi'))).status).toBe(200);
  return conversationOf(w, phone);
}

/** Posts a business message; answers its id. */
export async function postBusiness(w: World, conversationId: string, content: Json): Promise<string> {
  const res = await call('POST', `/v2/apps/${w.app.appId}/conversations/${conversationId}/messages`, w.app.auth, { author: { type: 'business' }, content });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.messages[0].id;
}

/** The pay link Telegram received as the URL button of the message with this text. */
export async function telegramPayLink(w: World, text: string, label: string): Promise<string> {
  return eventually(() => {
    const send = w.telegram.calls.find((c) => c.method === 'sendMessage' && c.status === 200 && (c.body as Json).text === text);
    if (!send) throw new Error('not sent to Telegram yet');
    const buttons = ((send.body as Json).reply_markup?.inline_keyboard ?? []).flat() as Json[];
    const button = buttons.find((b) => b.text === label);
    if (!button?.url) throw new Error(`no URL button ${label}: ${JSON.stringify(send.body)}`);
    return button.url as string;
  });
}

/** The pay link an SMS user received as a "Label: url" line. */
export async function smsPayLink(w: World, to: string, label: string): Promise<{ body: string; url: string }> {
  return eventually(() => {
    const sms = [...w.twilio.messages.values()].find((m) => m.to === to && m.body.includes(`${label}: `));
    if (!sms) throw new Error('no SMS with the link yet');
    const url = new RegExp(`^${label}: (\\S+)$`, 'm').exec(sms.body)?.[1];
    if (!url) throw new Error(`no "${label}: url" line in ${sms.body}`);
    return { body: sms.body, url };
  });
}

/** GETs a Parley page as a browser would, without following redirects. */
export async function open(url: string): Promise<{ status: number; location: string | null; html: string; headers: Headers }> {
  const { SELF } = await import('cloudflare:test');
  const res = await SELF.fetch(url, { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location'), html: await res.text(), headers: res.headers };
}
