/**
 * Serves the channel fakes (Telegram, Twilio, Meta, LINE, Viber, MessageBird,
 * Mailgun, WeChat, X, Apple) on loopback ports with `serveFake`, and reports
 * every call Parley makes to them, with the fake's answer, before that answer
 * goes back: the chat learns what Parley sent in the order Parley sent it.
 *
 * All but Twilio and Meta share the Telegram fake's port: `npm start` checks
 * the simulator's five ports and puts the Web Messenger demo right after them
 * (scripts/ports.mjs), and these APIs' paths never overlap (LINE
 * `/v2/bot/...`, Viber `/pa/...` and its media `/pg_download/...`,
 * MessageBird `/balance` and `/messages[/...]`, Mailgun `/v3/...`, WeChat
 * `/cgi-bin/...` and its files `/files/...` and `/video/...`, X `/2/...` and
 * `/oauth2/token` with its DM media under `/1.1/ton/...`, Stripe `/v1/checkout/...` and
 * its hosted checkout pages `/c/pay/...`, Apple the rest of `/v1/...`, Telegram
 * `/bot<token>/...` and `/file/bot<token>/...`), so each integration's
 * `apiBaseUrl` reaches its own fake. Apple's file storage, a host of its own
 * that the fake tells apart by origin, is left at the fake's default: the
 * simulated customer sends no attachments, so nothing is stored there.
 */
import { createServer } from 'node:net';
import { AppleFake } from '../../test/fakes/apple';
import { LineFake } from '../../test/fakes/line';
import { MailgunFake } from '../../test/fakes/mailgun';
import { MessageBirdFake } from '../../test/fakes/messagebird';
import { MetaFake } from '../../test/fakes/meta';
import { serveFake, type FetchHandler, type ServedFake } from '../../test/fakes/serve';
import { StripeFake } from '../../test/fakes/stripe';
import { TelegramFake } from '../../test/fakes/telegram';
import { TwilioFake } from '../../test/fakes/twilio';
import { TwitterFake } from '../../test/fakes/twitter';
import { ViberFake } from '../../test/fakes/viber';
import { WeChatFake } from '../../test/fakes/wechat';
import type { FakeName, ObservedCall, ServedPort } from './channels/types';

export interface Fakes {
  telegram: TelegramFake;
  twilio: TwilioFake;
  meta: MetaFake;
  line: LineFake;
  viber: ViberFake;
  messagebird: MessageBirdFake;
  mailgun: MailgunFake;
  wechat: WeChatFake;
  twitter: TwitterFake;
  apple: AppleFake;
  /** Payments: buy actions become pay links whose checkout this fake hosts (setup.ts connects a stripe integration). */
  stripe: StripeFake;
  urls: Record<FakeName, string>;
  close(): Promise<void>;
}

type SharedFake = 'telegram' | 'line' | 'viber' | 'messagebird' | 'mailgun' | 'wechat' | 'twitter' | 'apple' | 'stripe';

/** Which fake on the shared port answers a path: each API's own prefixes, Telegram for the rest. */
export function sharedRoute(pathname: string): SharedFake {
  if (pathname.startsWith('/v2/bot/')) return 'line';
  if (pathname.startsWith('/pa/') || pathname.startsWith('/pg_download/')) return 'viber';
  if (pathname === '/balance' || pathname === '/messages' || pathname.startsWith('/messages/')) return 'messagebird';
  if (pathname.startsWith('/v3/')) return 'mailgun';
  if (pathname.startsWith('/cgi-bin/') || pathname.startsWith('/files/') || pathname.startsWith('/video/')) return 'wechat';
  if (pathname.startsWith('/2/') || pathname.startsWith('/1.1/') || pathname === '/oauth2/token') return 'twitter';
  if (pathname.startsWith('/v1/checkout/') || pathname.startsWith('/c/pay/')) return 'stripe';
  if (pathname.startsWith('/v1/')) return 'apple';
  return 'telegram';
}

/**
 * Mailgun's keys cannot be changed on an integration (its PATCH takes only
 * display settings), so the fresh fake of every run must have the same ones
 * as the integration the first run created. MessageBird's fake has fixed
 * defaults of its own.
 */
const MAILGUN_KEYS = { apiKey: 'key-parley-simulator-00000000000000', signingKey: 'parley-simulator-mailgun-signing-key' };
/** Stripe's keys are PATCHed on every start, like the channels' credentials; fixed ones keep the kept integration's sealed copies right anyway. */
const STRIPE_KEYS = { secretKey: 'sk_test_parleySimulator0000000000', webhookSecret: 'whsec_parleySimulator0000000000' };

async function paramsOf(request: Request, url: URL): Promise<Record<string, unknown>> {
  if (request.method === 'GET') return Object.fromEntries(url.searchParams);
  const text = await request.text();
  const type = request.headers.get('content-type') ?? '';
  if (type.includes('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(text);
    const out: Record<string, unknown> = {};
    for (const key of new Set(form.keys())) {
      const values = form.getAll(key);
      out[key] = values.length === 1 ? values[0] : values;
    }
    return out;
  }
  try {
    const json = JSON.parse(text);
    return typeof json === 'object' && json !== null ? json : {};
  } catch {
    return {};
  }
}

/** The fake, answering as before, with each call and its answer handed to `observe` first. */
function observed(fake: FetchHandler, observe: (call: ObservedCall) => void): FetchHandler {
  return {
    async fetch(request) {
      const copy = request.clone();
      const response = await fake.fetch(request);
      try {
        const url = new URL(copy.url);
        const result = await response
          .clone()
          .json()
          .catch(() => undefined);
        observe({ method: copy.method, path: url.pathname, params: await paramsOf(copy, url), status: response.status, result });
      } catch (err) {
        console.error('simulator: could not read a call to the fake:', err);
      }
      return response;
    },
  };
}

/**
 * serveFake has no error path for listen (a busy port would crash the process
 * with an unhandled 'error' event), so fixed ports are probed first.
 */
export async function ensureFree(port: number, what: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} (${what}) is in use: is another simulator running? Set SIMULATOR_PORT to move all of its ports` : err.message)),
    );
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/** `ports` 0 picks free ports (tests); `npm start` uses fixed ones so integrations keep their apiBaseUrl. */
export async function serveFakes(ports: Record<ServedPort, number>, observe: (fake: FakeName, call: ObservedCall) => void): Promise<Fakes> {
  const telegram = new TelegramFake({ bot: { first_name: 'Parley Simulator Bot', username: 'parley_simulator_bot' } });
  const line = new LineFake();
  const twilio: { fake?: TwilioFake } = {};
  const meta: { fake?: MetaFake } = {};
  const viber: { fake?: ViberFake } = {};
  const messagebird: { fake?: MessageBirdFake } = {};
  const mailgun = new MailgunFake(MAILGUN_KEYS);
  const wechat: { fake?: WeChatFake } = {};
  const twitter: { fake?: TwitterFake } = {};
  const apple: { fake?: AppleFake } = {};
  const stripe: { fake?: StripeFake } = {};
  const served: ServedFake[] = [];
  for (const name of ['telegram', 'twilio', 'meta'] as const) await ensureFree(ports[name], name === 'telegram' ? 'Telegram, LINE, Viber, MessageBird, Mailgun, WeChat, X, Apple and Stripe fakes' : `${name} fake`);
  try {
    // Viber's, WeChat's and X's media links and MessageBird's message hrefs point at their own origin, known once listening.
    // X refuses webhook URLs that are not https; Parley's local /hooks is plain http on loopback.
    served.push(
      await serveFake((origin) => {
        const handlers = {
          telegram: observed(telegram, (c) => observe('telegram', c)),
          line: observed(line, (c) => observe('line', c)),
          viber: observed((viber.fake = new ViberFake({ origin })), (c) => observe('viber', c)),
          messagebird: observed((messagebird.fake = new MessageBirdFake({ origin })), (c) => observe('messagebird', c)),
          mailgun: observed(mailgun, (c) => observe('mailgun', c)),
          wechat: observed((wechat.fake = new WeChatFake({ origin })), (c) => observe('wechat', c)),
          twitter: observed((twitter.fake = new TwitterFake({ origin, httpsOnly: false })), (c) => observe('twitter', c)),
          apple: observed((apple.fake = new AppleFake({ origin })), (c) => observe('apple', c)),
          stripe: observed((stripe.fake = new StripeFake({ origin, ...STRIPE_KEYS })), (c) => observe('stripe', c)),
        };
        return { fetch: (request) => handlers[sharedRoute(new URL(request.url).pathname)].fetch(request) };
      }, ports.telegram),
    );
    // Twilio and Meta hand out media URLs on their own origin, known once listening.
    served.push(await serveFake((origin) => observed((twilio.fake = new TwilioFake({ origin })), (c) => observe('twilio', c)), ports.twilio));
    served.push(await serveFake((origin) => observed((meta.fake = new MetaFake({ origin })), (c) => observe('meta', c)), ports.meta));
  } catch (err) {
    await Promise.all(served.map((s) => s.close()));
    throw err;
  }
  return {
    telegram,
    twilio: twilio.fake!,
    meta: meta.fake!,
    line,
    viber: viber.fake!,
    messagebird: messagebird.fake!,
    mailgun,
    wechat: wechat.fake!,
    twitter: twitter.fake!,
    apple: apple.fake!,
    stripe: stripe.fake!,
    urls: {
      telegram: served[0]!.url,
      twilio: served[1]!.url,
      meta: served[2]!.url,
      line: served[0]!.url,
      viber: served[0]!.url,
      messagebird: served[0]!.url,
      mailgun: served[0]!.url,
      wechat: served[0]!.url,
      twitter: served[0]!.url,
      apple: served[0]!.url,
      stripe: served[0]!.url,
    },
    close: async () => {
      await Promise.all(served.map((s) => s.close()));
    },
  };
}
