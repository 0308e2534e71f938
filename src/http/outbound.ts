/**
 * The one way Parley calls a URL that came from input: customer webhook
 * targets, channel API bases (`apiBaseUrl`), channel media links and every
 * redirect hop after them. Each hop is judged by the target rules
 * (src/http/targets.ts) before it is called and, in production, by where its
 * name resolves over DNS-over-HTTPS; redirects are never followed by the
 * runtime, only here, hop by hop; credentials go only to the URL the caller
 * named, never to a redirect's target; every call has a time cap and its body a size cap.
 *
 * Callers get a plain function (`outboundFetcher`) rather than the runtime's
 * `fetch` carried on an object: workerd refuses `fetch` called with a foreign
 * `this` ("Illegal invocation"), which is how channel media once failed.
 */
import type { Env } from '../env';
import { checkResolvedTarget, checkTarget, dohLookup, isLocal, type DnsLookup } from './targets';

/** Why an outbound call was not made or not finished; `refused` and `too_large` are permanent, `dns` is worth a retry. */
export class OutboundError extends Error {
  constructor(
    readonly kind: 'refused' | 'dns' | 'too_large',
    message: string,
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}

export interface OutboundPolicy {
  /** A local Parley may call the developer's machine over plain http. */
  local: boolean;
  /** Resolves names before each call in production; absent locally, where there is no private network to protect. */
  lookup?: DnsLookup;
  /** Origins from Parley's own code (a channel's real API), not from input: no DNS lookup is spent on them. */
  trusted?: ReadonlySet<string>;
}

export interface OutboundInit extends RequestInit {
  /** Cap on the whole call, redirects and body included. */
  timeoutMs?: number;
  /** Cap on the response body; a longer body errors while it is read. */
  maxBytes?: number;
  /** Redirects followed (GET and HEAD only), each hop checked like the first; 0 hands the 3xx back. */
  maxRedirects?: number;
}

export const OUTBOUND_TIMEOUT_MS = 15_000;
/** Enough for any channel API answer; media downloads pass their own cap. */
export const OUTBOUND_MAX_BYTES = 4 * 1024 * 1024;
export const DNS_TIMEOUT_MS = 5_000;
/** Headers that carry a credential: they go to the URL the caller addressed, never to one a redirect names. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** The policy for this deployment: DNS checks in production, loopback allowed locally. */
export function outboundPolicy(env: Pick<Env, 'PARLEY_ENV' | 'DNS_OVER_HTTPS_URL'>, trusted?: ReadonlySet<string>): OutboundPolicy {
  const local = isLocal(env);
  if (local) return { local, ...(trusted ? { trusted } : {}) };
  const lookup = dohLookup(env.DNS_OVER_HTTPS_URL, (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(DNS_TIMEOUT_MS) }));
  return { local, lookup, ...(trusted ? { trusted } : {}) };
}

/** Throws OutboundError unless Parley may call `url` under the policy. */
export async function checkOutbound(policy: OutboundPolicy, url: URL): Promise<void> {
  const refused = checkTarget(url.href, policy.local);
  if (refused) throw new OutboundError('refused', `${redactUrl(url)} ${refused}`);
  if (!policy.lookup || policy.trusted?.has(url.origin)) return;
  let resolved: string | undefined;
  try {
    resolved = await checkResolvedTarget(url.href, policy.lookup);
  } catch (err) {
    throw new OutboundError('dns', `DNS lookup of ${url.hostname} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (resolved) throw new OutboundError('refused', `${redactUrl(url)} ${resolved}`);
}

/** Calls `input` under the policy; see the module comment for what is checked. */
export async function outboundFetch(policy: OutboundPolicy, input: string | URL, init: OutboundInit = {}): Promise<Response> {
  const { timeoutMs = OUTBOUND_TIMEOUT_MS, maxBytes = OUTBOUND_MAX_BYTES, maxRedirects = 0, signal: callerSignal, ...request } = init;
  const signal = callerSignal ? AbortSignal.any([callerSignal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
  let url = new URL(input);
  let headers = new Headers(request.headers);
  const method = (request.method ?? 'GET').toUpperCase();
  for (let hop = 0; ; hop++) {
    await checkOutbound(policy, url);
    const response = await fetch(url.href, { ...request, headers, signal, redirect: 'manual' });
    const location = response.status >= 300 && response.status < 400 ? response.headers.get('location') : null;
    if (!location || hop >= maxRedirects || (method !== 'GET' && method !== 'HEAD')) return capped(response, maxBytes);
    await response.body?.cancel();
    url = new URL(location, url);
    // Credentials were meant for the URL the caller named; a redirect's target gets none, same origin or not (a pre-signed URL carries its own).
    headers = new Headers(headers);
    for (const name of CREDENTIAL_HEADERS) headers.delete(name);
  }
}

/** A function bound to the policy, for code that is handed a fetcher (channel adapters); always called plainly, never as a method. */
export function outboundFetcher(policy: OutboundPolicy, defaults: Pick<OutboundInit, 'maxBytes' | 'maxRedirects' | 'timeoutMs'> = {}): (url: string, init?: OutboundInit) => Promise<Response> {
  return (url, init) => outboundFetch(policy, url, { ...defaults, ...init });
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** Errors the body stream as soon as it grows past the cap, whatever length the answer declared. */
function capped(response: Response, maxBytes: number): Response {
  if (!response.body || NULL_BODY.has(response.status)) return response;
  let seen = 0;
  const limit = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) controller.error(new OutboundError('too_large', `the answer grew past the ${maxBytes}-byte cap`));
      else controller.enqueue(chunk);
    },
  });
  return new Response(response.body.pipeThrough(limit), { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * A URL fit for a log line or an error message: no query string, no user
 * info, and path segments that look like credentials (Telegram's
 * `/bot<token>/`, `/file/bot<token>/`) masked.
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(unreadable URL)';
  }
  const path = parsed.pathname.replace(/\/bot[^/]+/g, '/bot***');
  return `${parsed.protocol}//${parsed.host}${path}${parsed.search ? '?…' : ''}`;
}
