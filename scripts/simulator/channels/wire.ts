/**
 * Reading and re-stamping the webhooks the fakes build. A fake numbers its
 * updates and message ids from the same start on every run, while Parley
 * keeps running state across runs and dedupes inbound messages on the
 * channel's id: the second run's "first" message would be dropped as a
 * duplicate. So each inbound webhook gets an id that is unique across runs.
 */

let last = 0;

/** Increasing and unique across runs (milliseconds, bumped within one): fits Telegram's numeric update_id. */
export function uniqueNumber(): number {
  last = Math.max(last + 1, Date.now());
  return last;
}

/** Reads a JSON request body (Meta's and Telegram's webhooks) without consuming the request. */
export async function jsonOf(request: Request): Promise<any> {
  return JSON.parse(await request.clone().text());
}

/** Reads a form request body (Twilio's webhooks) without consuming the request. */
export async function formOf(request: Request): Promise<URLSearchParams> {
  return new URLSearchParams(await request.clone().text());
}

/** The fakes' own delivery report (`delivered` after redeliveries) in the simulator's terms. */
export const toDelivery = (d: { delivered: boolean; statuses: number[] }) => ({ ok: d.delivered, statuses: d.statuses });

/** One POST to Parley, as channels that do not retry send it. */
export async function postOnce(request: Request): Promise<{ ok: boolean; statuses: number[] }> {
  try {
    const response = await fetch(request);
    await response.arrayBuffer();
    return { ok: response.ok, statuses: [response.status] };
  } catch {
    return { ok: false, statuses: [0] };
  }
}

export const isObject = (x: unknown): x is Record<string, any> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Telegram and Twilio accept parameters as JSON strings in form bodies; Parley sends objects, but read both. */
export function maybeJson(x: unknown): unknown {
  if (typeof x !== 'string') return x;
  try {
    return JSON.parse(x);
  } catch {
    return x;
  }
}

/**
 * Delivery for channels whose fake has no retry loop of its own (LINE, Viber):
 * up to `attempts` POSTs, `delayMs` apart, until one gets a 2xx. `next` builds
 * each attempt's request (LINE marks a redelivery in a new, re-signed body).
 */
export async function postWithRetries(next: (attempt: number) => Promise<Request>, attempts = 3, delayMs = 300): Promise<{ ok: boolean; statuses: number[] }> {
  const statuses: number[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const sent = await postOnce(await next(attempt));
    statuses.push(...sent.statuses);
    if (sent.ok) return { ok: true, statuses };
  }
  return { ok: false, statuses };
}
