/**
 * The local channel simulator: play a Telegram, SMS (Twilio or MessageBird),
 * WhatsApp, Messenger, LINE, Viber, email (Mailgun), WeChat, X or Apple
 * Messages for Business user talking to a running Parley, without any real
 * account. It serves the channel fakes, connects one integration per channel
 * to them, receives the demo app's customer webhooks, and serves a page to
 * chat from; a buy button the business sends is paid at the Stripe fake's
 * checkout. `npm start` bundles this file (scripts/bundle.mjs) and starts it
 * once Parley is up; `npm run simulator` does the same against a Parley
 * already running.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Actions } from './actions';
import { appleChannel } from './channels/apple';
import { emailChannel } from './channels/email';
import { lineChannel } from './channels/line';
import { messagebirdChannel } from './channels/messagebird';
import { messengerChannel } from './channels/messenger';
import { smsChannel } from './channels/sms';
import { telegramChannel } from './channels/telegram';
import type { ChannelId, FakeName, SimChannel } from './channels/types';
import { viberChannel } from './channels/viber';
import { wechatChannel } from './channels/wechat';
import { whatsappChannel } from './channels/whatsapp';
import { xChannel } from './channels/x';
import { Chats } from './chats';
import { serveFakes } from './fakes';
import { ParleyApi, type Credentials } from './parley';
import { startReceiver } from './receiver';
import { startPageServer } from './server';
import { connectChannels, connectPayments, connectWebhook, readState, writeState, type ChannelStatus } from './setup';

export const DEFAULT_PORT = 8790;

export interface SimulatorOptions extends Credentials {
  /**
   * The page's port; the Telegram (with every other fake but Twilio's and Meta's on the same port), Twilio and Meta fakes
   * and the webhook receiver take the next four. 0: free ports.
   */
  port?: number;
  /** Where the integration ids are kept between runs (`.parley/simulator.json`). */
  stateFile: string;
  /** Channels to offer (default: all). */
  channels?: ChannelId[];
  /** Prints a webhook line; default console.log. */
  log?: (line: string) => void;
}

export interface Simulator {
  url: string;
  receiverUrl: string;
  fakeUrls: Record<FakeName, string>;
  channels: { id: ChannelId; label: string; ready: boolean; error?: string }[];
  /** The stripe integration buy buttons are paid through (at the Stripe fake), or why there is none. */
  payments: { ready: boolean; integrationId?: string; error?: string };
  close(): Promise<void>;
}

/** The demo app `npm start` created, from `.parley/demo.json`. */
export function readDemo(stateDir: string): { appId: string; keyId: string; keySecret: string } {
  const file = path.join(stateDir, 'demo.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm start\` once, it creates the demo app`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const base = options.port ?? DEFAULT_PORT;
  const at = (offset: number) => (base === 0 ? 0 : base + offset);
  const log = options.log ?? ((line: string) => console.log(line));
  const api = new ParleyApi(options);
  const health = await fetch(`${api.base}/healthz`).catch(() => undefined);
  if (!health?.ok) throw new Error(`Parley is not answering at ${api.base}: start it first with \`npm start\``);

  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const chats = new Chats();
    const channels = new Map<ChannelId, SimChannel>();
    const fakes = await serveFakes({ telegram: at(1), twilio: at(2), meta: at(3) }, (fake, call) => {
      for (const channel of channels.values()) {
        if (channel.fake !== fake) continue;
        for (const out of channel.observe(call)) {
          // A person the simulator has not seen this run (Parley answers an older conversation) gets a chat too.
          chats.add(chats.chat(channel.id, { key: out.userKey, label: out.userKey }), 'business', out.content);
        }
      }
    });
    closers.push(() => fakes.close());
    const all = [
      telegramChannel(fakes.telegram),
      smsChannel(fakes.twilio),
      whatsappChannel(fakes.meta),
      messengerChannel(fakes.meta),
      lineChannel(fakes.line),
      viberChannel(fakes.viber),
      messagebirdChannel(fakes.messagebird),
      emailChannel(fakes.mailgun),
      wechatChannel(fakes.wechat),
      xChannel(fakes.twitter),
      appleChannel(fakes.apple),
    ];
    for (const c of all) if (!options.channels || options.channels.includes(c.id)) channels.set(c.id, c);

    const receiver = await startReceiver({
      port: at(4),
      log,
      learn: (events) => chats.learn(events),
      who: (event) => chats.about(event)?.user.label,
    });
    closers.push(() => receiver.close());

    // The page listens before Parley is touched, so a busy port fails fast; channels show as "not set up" meanwhile.
    const statuses = new Map<ChannelId, ChannelStatus>();
    const actions = new Actions(channels, statuses, chats, api);
    const page = await startPageServer(at(0), actions, receiver, { parleyUrl: api.base, appId: options.appId, keyId: options.keyId });
    closers.push(() => page.close());

    const state = readState(options.stateFile, options.appId);
    let payments: Simulator['payments'];
    try {
      receiver.secret = await connectWebhook(api, receiver.url, state);
      await connectChannels(api, [...channels.values()], fakes.urls, state, statuses);
      payments = await connectPayments(api, fakes.stripe, fakes.urls.stripe, state).then(
        (integrationId) => ({ ready: true, integrationId }),
        (err: unknown) => ({ ready: false, error: err instanceof Error ? err.message : String(err) }),
      );
    } finally {
      writeState(options.stateFile, state);
    }
    return {
      url: page.url,
      receiverUrl: receiver.url,
      fakeUrls: fakes.urls,
      channels: actions.channelList().map(({ id, label, ready, error }) => ({ id, label, ready, ...(error ? { error } : {}) })),
      payments,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
