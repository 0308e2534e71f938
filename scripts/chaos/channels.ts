/**
 * The channels' side of the chaos test: the Telegram, Twilio, Meta, LINE and
 * Viber fakes served on loopback (Parley's integrations call them for setup), one
 * integration per channel, the channel users, and each channel message's
 * signed webhook, built once by the channel's fake and sent three times.
 * Each send follows its channel's delivery rule: Telegram redelivers on a
 * non-2xx or a connection error, one update at a time per chat; Meta
 * (WhatsApp), LINE (with webhook redelivery on) and Viber redeliver on the
 * same failures, without a per-chat queue; Twilio posts once and never retries.
 */
import { LineFake } from '../../test/fakes/line';
import { MetaFake } from '../../test/fakes/meta';
import { serveFake, type ServedFake } from '../../test/fakes/serve';
import { TelegramFake } from '../../test/fakes/telegram';
import { TwilioFake } from '../../test/fakes/twilio';
import { ViberFake } from '../../test/fakes/viber';
import { subscribe } from '../simulator/channels/meta';
import type { ParleyApi } from '../simulator/parley';

export type Channel = 'telegram' | 'whatsapp' | 'twilio' | 'line' | 'viber';
export const CHANNELS: Channel[] = ['telegram', 'whatsapp', 'twilio', 'line', 'viber'];
const dec = new TextDecoder();

export interface ChaosUser {
  index: number;
  channel: Channel;
  sent: number;
}

export interface Copy {
  state: 'pending' | 'acked' | 'refused';
  /** HTTP status per attempt; 0 = connection failed or timed out. */
  statuses: number[];
}

export interface ChannelMessage {
  channel: Channel;
  /** The channel's message id: what Parley keeps as `source.originalMessageId`. */
  id: string;
  user: number;
  createdAt: number;
  copies: Copy[];
}

/**
 * A channel's webhook as bytes on the wire; every send builds a fresh Request from it. With one
 * Request cloned for every copy and attempt, some fetches were seen hanging for good after a
 * kill (no socket open, AbortSignal.timeout never firing), which froze Telegram chats' queues.
 */
export interface Wire {
  url: string;
  method: string;
  headers: [string, string][];
  body: ArrayBuffer;
}

export const toRequest = (w: Wire) => new Request(w.url, { method: w.method, headers: w.headers, body: w.body });

async function toWire(request: Request): Promise<Wire> {
  return { url: request.url, method: request.method, headers: [...request.headers], body: await request.arrayBuffer() };
}

/** How long one webhook POST (answer and body included) may take before the channel counts it as failed. */
const ATTEMPT_TIMEOUT_MS = 15_000;
const NULL_BODY = new Set([101, 204, 205, 304]);
/** Redelivering channels keep trying well past any downtime of the run. */
const REDELIVERY = { attempts: 80, delayMs: (n: number) => Math.min(500 * 2 ** (n - 1), 4_000) };

export class Channels {
  readonly telegram = new TelegramFake({ bot: { first_name: 'Parley Chaos Bot', username: 'parley_chaos_bot' } });
  twilio!: TwilioFake;
  meta!: MetaFake;
  readonly line = new LineFake();
  viber!: ViberFake;
  private served: ServedFake[] = [];
  private hooks = {} as Record<Channel, string>;
  readonly counts = { attempts: 0, attemptsOk: 0, attemptsFailed: 0 };

  async serve(): Promise<void> {
    this.served.push(await serveFake(this.telegram));
    this.served.push(await serveFake((origin) => (this.twilio = new TwilioFake({ origin }))));
    this.served.push(await serveFake((origin) => (this.meta = new MetaFake({ origin }))));
    this.served.push(await serveFake(this.line));
    this.served.push(await serveFake((origin) => (this.viber = new ViberFake({ origin }))));
  }

  /** Creates the integrations (Parley sets each up against its fake) and learns each hook URL. */
  async connect(api: ParleyApi): Promise<Record<Channel, string>> {
    const [telegramUrl, twilioUrl, metaUrl, lineUrl, viberUrl] = this.served.map((s) => s.url);
    const create = async (body: Record<string, unknown>) => {
      const { body: answer } = await api.expect([201], 'POST', '/integrations', body);
      const integration = answer.integration;
      if (integration.status !== 'active') throw new Error(`the ${body.type} integration is ${integration.status}: ${integration.error}`);
      return integration;
    };
    await create({ type: 'telegram', displayName: 'Chaos: Telegram', token: this.telegram.token, apiBaseUrl: telegramUrl });
    if (!this.telegram.webhook?.url) throw new Error('Parley did not call setWebhook on the Telegram fake');
    this.hooks.telegram = this.telegram.webhook.url;

    const numberSid = [...this.twilio.phoneNumbers.keys()][0]!;
    await create({ type: 'twilio', displayName: 'Chaos: SMS', accountSid: this.twilio.accountSid, authToken: this.twilio.authToken, phoneNumberSid: numberSid, apiBaseUrl: twilioUrl });
    const smsUrl = this.twilio.phoneNumbers.get(numberSid)?.smsUrl;
    if (!smsUrl) throw new Error("Parley did not set the Twilio number's incoming URL");
    this.hooks.twilio = smsUrl;

    const whatsapp = await create({ type: 'whatsapp', displayName: 'Chaos: WhatsApp', phoneNumberId: this.meta.wa.phoneNumberId, accessToken: this.meta.wa.accessToken, appSecret: this.meta.appSecret, apiBaseUrl: metaUrl });
    this.hooks.whatsapp = await subscribe(this.meta, whatsapp);

    await create({ type: 'line', displayName: 'Chaos: LINE', channelId: '1234567890', channelSecret: this.line.channelSecret, channelAccessToken: this.line.channelAccessToken, apiBaseUrl: lineUrl });
    if (!this.line.endpoint) throw new Error('Parley did not set the LINE webhook endpoint');
    this.hooks.line = this.line.endpoint;

    await create({ type: 'viber', displayName: 'Chaos: Viber', token: this.viber.token, apiBaseUrl: viberUrl });
    if (!this.viber.webhook?.url) throw new Error('Parley did not set the Viber webhook');
    this.hooks.viber = this.viber.webhook.url;
    return this.hooks;
  }

  /** The channel's signed webhook for one text from `user`, and the id Parley will store it under. */
  async build(user: ChaosUser, text: string): Promise<{ wire: Wire; id: string }> {
    switch (user.channel) {
      case 'telegram': {
        const wire = await toWire(this.telegram.text(this.hooks.telegram, { id: 700_000_000 + user.index, first_name: 'Chaos', last_name: `T${user.index}` }, text));
        return { wire, id: String(JSON.parse(dec.decode(wire.body)).update_id) };
      }
      case 'whatsapp': {
        const wire = await toWire(await this.meta.whatsapp.text(this.hooks.whatsapp, { waId: `1555${String(2_000_000 + user.index).padStart(7, '0')}`, name: `Chaos W${user.index}` }, text));
        return { wire, id: String(JSON.parse(dec.decode(wire.body)).entry[0].changes[0].value.messages[0].id) };
      }
      case 'twilio': {
        const wire = await toWire(await this.twilio.text(this.hooks.twilio, { from: `+1555${String(3_000_000 + user.index).padStart(7, '0')}` }, text));
        return { wire, id: new URLSearchParams(dec.decode(wire.body)).get('MessageSid')! };
      }
      case 'line': {
        const wire = await toWire(await this.line.text(this.hooks.line, `U${user.index.toString(16).padStart(32, '0')}`, text));
        return { wire, id: String(JSON.parse(dec.decode(wire.body)).events[0].message.id) };
      }
      case 'viber': {
        const wire = await toWire(await this.viber.text(this.hooks.viber, { id: `Chaos${String(user.index).padStart(12, '0')}==`, name: `Chaos V${user.index}` }, text));
        // message_token is 64-bit: read from the raw text, as Parley does.
        return { wire, id: /"message_token":(\d+)/.exec(dec.decode(wire.body))![1]! };
      }
    }
  }

  /**
   * One HTTP attempt, as the channel's servers make it, counted, and over within ATTEMPT_TIMEOUT_MS
   * whatever happens: the answer is read in full inside that time and handed back buffered.
   */
  private readonly attempt = async (request: Request): Promise<Response> => {
    this.counts.attempts++;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new Error(`no answer within ${ATTEMPT_TIMEOUT_MS} ms`));
      }, ATTEMPT_TIMEOUT_MS);
    });
    const exchange = async () => {
      const body = await request.arrayBuffer();
      const res = await fetch(request.url, { method: request.method, headers: request.headers, body, signal: controller.signal });
      const bytes = await res.arrayBuffer();
      return new Response(NULL_BODY.has(res.status) ? null : bytes, { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    try {
      const response = await Promise.race([exchange(), deadline]);
      if (response.ok) this.counts.attemptsOk++;
      else this.counts.attemptsFailed++;
      return response;
    } catch (err) {
      this.counts.attemptsFailed++;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  };

  /** Sends one copy of a message's webhook by its channel's rule; resolves when the channel is done with it. */
  async send(channel: Channel, wire: Wire, copy: Copy): Promise<void> {
    switch (channel) {
      case 'telegram': {
        const d = await this.telegram.deliver(toRequest(wire), { ...REDELIVERY, fetch: this.attempt });
        copy.statuses = d.statuses;
        copy.state = d.delivered ? 'acked' : 'refused';
        return;
      }
      case 'whatsapp': {
        const d = await this.meta.deliver(toRequest(wire), { ...REDELIVERY, fetch: this.attempt });
        copy.statuses = d.statuses;
        copy.state = d.delivered ? 'acked' : 'refused';
        return;
      }
      case 'line':
      case 'viber': {
        // LINE's webhook redelivery (when the channel turns it on) and Viber (for an hour) send the same event again after a failure.
        for (let n = 1; n <= REDELIVERY.attempts; n++) {
          try {
            const response = await this.attempt(toRequest(wire));
            copy.statuses.push(response.status);
            if (response.ok) {
              copy.state = 'acked';
              return;
            }
          } catch {
            copy.statuses.push(0);
          }
          await new Promise((resolve) => setTimeout(resolve, REDELIVERY.delayMs(n)));
        }
        copy.state = 'refused';
        return;
      }
      case 'twilio': {
        // Twilio makes one request per inbound message and does not retry it.
        try {
          const response = await this.attempt(toRequest(wire));
          copy.statuses = [response.status];
          copy.state = response.ok ? 'acked' : 'refused';
        } catch {
          copy.statuses = [0];
          copy.state = 'refused';
        }
        return;
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.served.map((s) => s.close().catch(() => undefined)));
  }
}
