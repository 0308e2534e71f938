/**
 * The channels the bench drives (by default Telegram, WhatsApp (Cloud API)
 * and Twilio SMS; every other channel on request, `--channels`), through the same
 * fakes the tests and the simulator use, served on loopback. Each fake is wrapped so the moment a call reaches it is noted
 * against the bench token the rendered message carries: that is when "the
 * channel received it". Inbound messages are the fakes' own signed webhooks.
 */
import { MetaFake } from '../../test/fakes/meta';
import { serveFake, type FetchHandler, type ServedFake } from '../../test/fakes/serve';
import { TelegramFake } from '../../test/fakes/telegram';
import { LineFake } from '../../test/fakes/line';
import { AppleFake } from '../../test/fakes/apple';
import { MailgunFake } from '../../test/fakes/mailgun';
import { MessageBirdFake } from '../../test/fakes/messagebird';
import { TwilioFake } from '../../test/fakes/twilio';
import { TwitterFake } from '../../test/fakes/twitter';
import { ViberFake } from '../../test/fakes/viber';
import { WeChatFake } from '../../test/fakes/wechat';
import { now, type Api } from './http';

export const CHANNELS = ['telegram', 'whatsapp', 'twilio', 'line', 'viber', 'messagebird', 'mailgun', 'wechat', 'twitter', 'apple'] as const;
export type Channel = (typeof CHANNELS)[number];
/** The mix every run before LINE and Viber used, kept as the default so figures stay comparable. */
export const DEFAULT_CHANNELS: readonly Channel[] = ['telegram', 'whatsapp', 'twilio'];

/** Every message the bench sends carries one token, so sends, receipts and stored copies can be matched. */
export const token = (scenario: string, n: number) => `BENCH-${scenario}-${n}`;
export const TOKEN = /BENCH-[a-z0-9]+-\d+/g;

/** Calls to a fake, by token: when the first arrived and how many did. */
export class Receipts {
  readonly first = new Map<string, number>();
  readonly count = new Map<string, number>();
  private waiters = new Map<string, (at: number | undefined) => void>();

  note(t: string, at: number): void {
    this.count.set(t, (this.count.get(t) ?? 0) + 1);
    if (this.first.has(t)) return;
    this.first.set(t, at);
    this.waiters.get(t)?.(at);
    this.waiters.delete(t);
  }

  /** When the token first reached a fake, or undefined after `ms`. */
  wait(t: string, ms: number): Promise<number | undefined> {
    const at = this.first.get(t);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(t);
        resolve(undefined);
      }, ms);
      this.waiters.set(t, (first) => {
        clearTimeout(timer);
        resolve(first);
      });
    });
  }
}

function recording(fake: FetchHandler, receipts: Receipts): FetchHandler {
  return {
    async fetch(request) {
      const at = now();
      const text = await request.clone().text();
      // One call may carry a token twice (email sends it in the text and the HTML part): it is still one reception.
      for (const t of new Set(Array.from(text.matchAll(TOKEN), (m) => m[0]))) receipts.note(t, at);
      return fake.fetch(request);
    },
  };
}

export interface ChannelUser {
  channel: Channel;
  /** The channel's own id: Telegram chat id, WhatsApp wa_id, E.164 number. */
  key: string;
  name: string;
}

/** User i of the bench's population, on channel i mod the number of channels run. */
function channelUser(i: number, channels: readonly Channel[]): ChannelUser {
  const channel = channels[i % channels.length]!;
  const keys: Record<Channel, string> = {
    telegram: String(700_000_000 + i),
    whatsapp: `1555${2_000_000 + i}`,
    twilio: `+1555${3_000_000 + i}`,
    line: `U${i.toString(16).padStart(32, '0')}`,
    viber: `Bench${String(i).padStart(12, '0')}==`,
    messagebird: `+1555${4_000_000 + i}`,
    mailgun: `bench.user.${i}@mail.bench.test`,
    wechat: `oBench${String(i).padStart(22, '0')}`,
    twitter: String(9_000_000_000_000_000_000n + BigInt(i)),
    apple: `urn:mbid:bench-${i}`,
  };
  return { channel, key: keys[channel], name: `Bench User ${i}` };
}

export interface Channels {
  receipts: Receipts;
  integrationIds: Partial<Record<Channel, string>>;
  /** User i of the bench's population, on one of the channels run. */
  user(i: number): ChannelUser;
  /** The channel's signed webhook carrying `text` from `user`, as that channel would POST it to Parley. */
  inbound(user: ChannelUser, text: string): Promise<Request>;
  close(): Promise<void>;
}

export async function startChannels(api: Api, appId: string, only: readonly Channel[] = DEFAULT_CHANNELS): Promise<Channels> {
  const receipts = new Receipts();
  const served: ServedFake[] = [];
  const close = async () => {
    await Promise.all(served.map((s) => s.close()));
  };
  const create = async (body: Record<string, unknown>) => {
    const { integration } = await api.call('POST', `/v2/apps/${appId}/integrations`, body);
    if (integration.status !== 'active') throw new Error(`the ${body.type} integration did not come up: ${integration.error ?? integration.status}`);
    return integration as { id: string; webhookUrl?: string; token?: unknown };
  };
  const serve = async <F extends FetchHandler>(make: (origin: string) => F): Promise<{ fake: F; url: string }> => {
    let fake!: F;
    const s = await serveFake((origin) => recording((fake = make(origin)), receipts));
    served.push(s);
    return { fake, url: s.url };
  };
  const integrationIds: Partial<Record<Channel, string>> = {};
  const inbound: Partial<Record<Channel, (user: ChannelUser, text: string) => Promise<Request>>> = {};
  try {
    for (const channel of only) {
      switch (channel) {
        case 'telegram': {
          const { fake, url } = await serve(() => new TelegramFake({ bot: { first_name: 'Parley Bench Bot', username: 'parley_bench_bot' } }));
          integrationIds.telegram = (await create({ type: 'telegram', displayName: 'Bench: Telegram', token: fake.token, apiBaseUrl: url })).id;
          const hook = fake.webhook?.url;
          if (!hook) throw new Error('Parley did not register a Telegram webhook with the fake');
          inbound.telegram = async (user, text) => fake.text(hook, { id: Number(user.key), first_name: user.name }, text);
          break;
        }
        case 'twilio': {
          const { fake, url } = await serve((origin) => new TwilioFake({ origin }));
          const [numberSid] = [...fake.phoneNumbers.keys()];
          integrationIds.twilio = (await create({ type: 'twilio', displayName: 'Bench: SMS', accountSid: fake.accountSid, authToken: fake.authToken, phoneNumberSid: numberSid, apiBaseUrl: url })).id;
          const hook = fake.phoneNumbers.get(numberSid!)?.smsUrl;
          if (!hook) throw new Error("Parley did not set the Twilio number's incoming URL on the fake");
          inbound.twilio = (user, text) => fake.text(hook, { from: user.key }, text);
          break;
        }
        case 'whatsapp': {
          const { fake, url } = await serve((origin) => new MetaFake({ origin }));
          const wa = await create({ type: 'whatsapp', displayName: 'Bench: WhatsApp', phoneNumberId: fake.wa.phoneNumberId, accessToken: fake.wa.accessToken, appSecret: fake.appSecret, apiBaseUrl: url });
          integrationIds.whatsapp = wa.id;
          if (!wa.webhookUrl) throw new Error('the WhatsApp integration has no webhookUrl');
          const hook = wa.webhookUrl;
          inbound.whatsapp = (user, text) => fake.whatsapp.text(hook, { waId: user.key, name: user.name }, text);
          break;
        }
        case 'line': {
          const { fake, url } = await serve(() => new LineFake());
          integrationIds.line = (await create({ type: 'line', displayName: 'Bench: LINE', channelId: '1234567890', channelSecret: fake.channelSecret, channelAccessToken: fake.channelAccessToken, apiBaseUrl: url })).id;
          const hook = fake.endpoint;
          if (!hook) throw new Error('Parley did not set the LINE webhook endpoint on the fake');
          inbound.line = (user, text) => fake.text(hook, user.key, text);
          break;
        }
        case 'viber': {
          const { fake, url } = await serve((origin) => new ViberFake({ origin }));
          integrationIds.viber = (await create({ type: 'viber', displayName: 'Bench: Viber', token: fake.token, apiBaseUrl: url })).id;
          const hook = fake.webhook?.url;
          if (!hook) throw new Error('Parley did not set the Viber webhook on the fake');
          inbound.viber = (user, text) => fake.text(hook, { id: user.key, name: user.name }, text);
          break;
        }
        case 'messagebird': {
          const { fake, url } = await serve((origin) => new MessageBirdFake({ origin }));
          const mb = await create({ type: 'messagebird', displayName: 'Bench: MessageBird', accessKey: fake.accessKey, signingKey: fake.signingKey, originator: `+${fake.number}`, apiBaseUrl: url });
          integrationIds.messagebird = mb.id;
          if (!mb.webhookUrl) throw new Error('the MessageBird integration has no webhookUrl');
          const hook = mb.webhookUrl;
          inbound.messagebird = (user, text) => fake.text(hook, user.key, text);
          break;
        }
        case 'mailgun': {
          const { fake, url } = await serve((origin) => new MailgunFake({ origin, domains: ['mg.bench.test'] }));
          const mg = await create({ type: 'mailgun', displayName: 'Bench: email', apiKey: fake.apiKey, signingKey: fake.signingKey, domain: 'mg.bench.test', incomingAddress: 'support@mg.bench.test', apiBaseUrl: url });
          integrationIds.mailgun = mg.id;
          if (!mg.webhookUrl) throw new Error('the Mailgun integration has no webhookUrl');
          const hook = mg.webhookUrl;
          inbound.mailgun = (user, text) => fake.inbound(hook, { from: user.key, fromName: user.name, subject: 'Bench', text });
          break;
        }
        case 'wechat': {
          const { fake, url } = await serve((origin) => new WeChatFake({ origin }));
          const wc = await create({ type: 'wechat', displayName: 'Bench: WeChat', appId: fake.appId, appSecret: fake.appSecret, apiBaseUrl: url });
          integrationIds.wechat = wc.id;
          if (!wc.webhookUrl || typeof wc.token !== 'string') throw new Error('the WeChat integration has no webhookUrl or token');
          fake.server = { token: wc.token, mode: 'plain' };
          const hook = wc.webhookUrl;
          inbound.wechat = (user, text) => fake.text(hook, user.key, text);
          break;
        }
        case 'twitter': {
          const { fake, url } = await serve((origin) => new TwitterFake({ origin, httpsOnly: false }));
          const tw = await create({ type: 'twitter', displayName: 'Bench: X', tier: 'enterprise', consumerKey: fake.consumerKey, consumerSecret: fake.consumerSecret, accessTokenKey: fake.accessToken, accessTokenSecret: fake.accessTokenSecret, apiBaseUrl: url });
          integrationIds.twitter = tw.id;
          if (!tw.webhookUrl) throw new Error('the X integration has no webhookUrl');
          const hook = tw.webhookUrl;
          inbound.twitter = (user, text) => fake.text(hook, { id: user.key, name: user.name, screen_name: `bench${user.key.slice(-6)}` }, text);
          break;
        }
        case 'apple': {
          const { fake, url } = await serve((origin) => new AppleFake({ origin, storageOrigin: origin }));
          const ap = await create({ type: 'apple', displayName: 'Bench: Apple', businessId: fake.businessId, mspId: fake.mspId, apiSecret: fake.apiSecret, apiBaseUrl: url });
          integrationIds.apple = ap.id;
          if (!ap.webhookUrl) throw new Error('the Apple integration has no webhookUrl');
          const hook = ap.webhookUrl;
          inbound.apple = (user, text) => fake.text(hook, { id: user.key }, text);
          break;
        }
      }
    }
    return {
      receipts,
      integrationIds,
      user: (i) => channelUser(i, only),
      inbound: (user, text) => inbound[user.channel]!(user, text),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
