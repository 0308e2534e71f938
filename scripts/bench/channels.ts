/**
 * The three channels the bench drives, Telegram, WhatsApp (Cloud API) and
 * Twilio SMS, through the same fakes the tests and the simulator use, served
 * on loopback. Each fake is wrapped so the moment a call reaches it is noted
 * against the bench token the rendered message carries: that is when "the
 * channel received it". Inbound messages are the fakes' own signed webhooks.
 */
import { MetaFake } from '../../test/fakes/meta';
import { serveFake, type FetchHandler, type ServedFake } from '../../test/fakes/serve';
import { TelegramFake } from '../../test/fakes/telegram';
import { TwilioFake } from '../../test/fakes/twilio';
import { now, type Api } from './http';

export const CHANNELS = ['telegram', 'whatsapp', 'twilio'] as const;
export type Channel = (typeof CHANNELS)[number];

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
      for (const m of text.matchAll(TOKEN)) receipts.note(m[0], at);
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

/** User i of the bench's population, on channel i mod 3. */
export function channelUser(i: number): ChannelUser {
  const channel = CHANNELS[i % 3]!;
  const key = channel === 'telegram' ? String(700_000_000 + i) : channel === 'whatsapp' ? `1555${2_000_000 + i}` : `+1555${3_000_000 + i}`;
  return { channel, key, name: `Bench User ${i}` };
}

export interface Channels {
  receipts: Receipts;
  integrationIds: Record<Channel, string>;
  /** The channel's signed webhook carrying `text` from `user`, as that channel would POST it to Parley. */
  inbound(user: ChannelUser, text: string): Promise<Request>;
  close(): Promise<void>;
}

export async function startChannels(api: Api, appId: string): Promise<Channels> {
  const receipts = new Receipts();
  const telegram = new TelegramFake({ bot: { first_name: 'Parley Bench Bot', username: 'parley_bench_bot' } });
  const holders: { twilio?: TwilioFake; meta?: MetaFake } = {};
  const served: ServedFake[] = [];
  const close = async () => {
    await Promise.all(served.map((s) => s.close()));
  };
  try {
    served.push(await serveFake(recording(telegram, receipts)));
    served.push(await serveFake((origin) => recording((holders.twilio = new TwilioFake({ origin })), receipts)));
    served.push(await serveFake((origin) => recording((holders.meta = new MetaFake({ origin })), receipts)));
    const twilio = holders.twilio!;
    const meta = holders.meta!;
    const [numberSid] = [...twilio.phoneNumbers.keys()];
    const create = async (body: Record<string, unknown>) => {
      const { integration } = await api.call('POST', `/v2/apps/${appId}/integrations`, body);
      if (integration.status !== 'active') throw new Error(`the ${body.type} integration did not come up: ${integration.error ?? integration.status}`);
      return integration as { id: string; webhookUrl?: string };
    };
    const tg = await create({ type: 'telegram', displayName: 'Bench: Telegram', token: telegram.token, apiBaseUrl: served[0]!.url });
    const tw = await create({ type: 'twilio', displayName: 'Bench: SMS', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: numberSid, apiBaseUrl: served[1]!.url });
    const wa = await create({
      type: 'whatsapp',
      displayName: 'Bench: WhatsApp',
      phoneNumberId: meta.wa.phoneNumberId,
      accessToken: meta.wa.accessToken,
      appSecret: meta.appSecret,
      apiBaseUrl: served[2]!.url,
    });
    const telegramHook = telegram.webhook?.url;
    const twilioHook = twilio.phoneNumbers.get(numberSid!)?.smsUrl;
    if (!telegramHook) throw new Error('Parley did not register a Telegram webhook with the fake');
    if (!twilioHook) throw new Error("Parley did not set the Twilio number's incoming URL on the fake");
    if (!wa.webhookUrl) throw new Error('the WhatsApp integration has no webhookUrl');
    const waHook = wa.webhookUrl;
    return {
      receipts,
      integrationIds: { telegram: tg.id, whatsapp: wa.id, twilio: tw.id },
      async inbound(user, text) {
        switch (user.channel) {
          case 'telegram':
            return telegram.text(telegramHook, { id: Number(user.key), first_name: user.name }, text);
          case 'whatsapp':
            return meta.whatsapp.text(waHook, { waId: user.key, name: user.name }, text);
          case 'twilio':
            return twilio.text(twilioHook, { from: user.key }, text);
        }
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
