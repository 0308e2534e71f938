/**
 * Serves the channel fakes (Telegram, Twilio, Meta) on loopback ports with
 * `serveFake`, and reports every call Parley makes to them, with the fake's
 * answer, before that answer goes back: the chat learns what Parley sent in
 * the order Parley sent it.
 */
import { createServer } from 'node:net';
import { MetaFake } from '../../test/fakes/meta';
import { serveFake, type FetchHandler, type ServedFake } from '../../test/fakes/serve';
import { TelegramFake } from '../../test/fakes/telegram';
import { TwilioFake } from '../../test/fakes/twilio';
import type { FakeName, ObservedCall } from './channels/types';

export interface Fakes {
  telegram: TelegramFake;
  twilio: TwilioFake;
  meta: MetaFake;
  urls: Record<FakeName, string>;
  close(): Promise<void>;
}

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
export async function serveFakes(ports: Record<FakeName, number>, observe: (fake: FakeName, call: ObservedCall) => void): Promise<Fakes> {
  const telegram = new TelegramFake({ bot: { first_name: 'Parley Simulator Bot', username: 'parley_simulator_bot' } });
  const twilio: { fake?: TwilioFake } = {};
  const meta: { fake?: MetaFake } = {};
  const served: ServedFake[] = [];
  for (const name of ['telegram', 'twilio', 'meta'] as const) await ensureFree(ports[name], `${name} fake`);
  try {
    served.push(await serveFake(observed(telegram, (c) => observe('telegram', c)), ports.telegram));
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
    urls: { telegram: served[0]!.url, twilio: served[1]!.url, meta: served[2]!.url },
    close: async () => {
      await Promise.all(served.map((s) => s.close()));
    },
  };
}
