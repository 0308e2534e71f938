/**
 * Outbound HTTP for adapters: the context every adapter call gets (its fetch
 * bound to the outbound policy), a time limit on every channel call, and the
 * shared reading of rate-limit answers (`Retry-After` in seconds or as a date).
 * Network faults and timeouts come back as retryable outcomes, so an adapter's
 * `send` never throws for a channel being down; a refused target is permanent.
 */
import type { Env } from '../env';
import { OutboundError, outboundFetcher, outboundPolicy, type OutboundInit } from '../http/outbound';
import type { ChannelAdapter, ChannelContext, ChannelFetch, SendOutcome } from './adapter';

/**
 * The context for one integration's calls. The channel's real API host is
 * Parley's own choice, so it skips the DNS check; `apiBaseUrl` and any URL a
 * channel hands back are judged on every call.
 */
export function channelContext<C extends { apiBaseUrl?: string }>(
  env: Pick<Env, 'PARLEY_ENV' | 'DNS_OVER_HTTPS_URL'>,
  adapter: Pick<ChannelAdapter<C>, 'defaultApiBase'>,
  config: C,
  webhookUrl: string,
  defaults: Pick<OutboundInit, 'maxBytes' | 'maxRedirects' | 'timeoutMs'> = {},
): ChannelContext<C> {
  const policy = outboundPolicy(env, new Set([new URL(adapter.defaultApiBase).origin]));
  return { config, webhookUrl, fetch: outboundFetcher(policy, defaults) };
}

export const CHANNEL_TIMEOUT_MS = 15_000;
/** Media downloads move more bytes than API calls: a longer cap. */
export const MEDIA_TIMEOUT_MS = 60_000;

/** Reads `Retry-After` (delta seconds or HTTP date) into milliseconds. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export type ChannelResponse = { ok: true; response: Response } | { ok: false; outcome: SendOutcome & { ok: false } };

/** Calls the channel with a time limit; a timeout or network fault is a retryable outcome. */
export async function callChannel(fetcher: ChannelFetch, url: string, init: RequestInit, timeoutMs = CHANNEL_TIMEOUT_MS): Promise<ChannelResponse> {
  try {
    const response = await fetcher(url, { ...init, signal: AbortSignal.timeout(timeoutMs), timeoutMs, redirect: 'manual' });
    return { ok: true, response };
  } catch (err) {
    if (err instanceof OutboundError && err.kind !== 'dns') return { ok: false, outcome: { ok: false, retryable: false, code: `target_${err.kind}`, message: err.message } };
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    return {
      ok: false,
      outcome: { ok: false, retryable: true, code: timedOut ? 'timeout' : 'network_error', message: timedOut ? `No answer within ${timeoutMs} ms` : String(err instanceof Error ? err.message : err) },
    };
  }
}

/** Reads a JSON answer, or undefined when the body is not JSON (an HTML error page from a proxy, say). */
export async function jsonBody(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
