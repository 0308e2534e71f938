/**
 * Why an outbound call failed, in words a developer can act on: the cause
 * (DNS failure, connection refused, connection closed, TLS error, timeout, or
 * the receiver's own HTTP status) and what to do next. Written into the
 * webhook delivery log instead of the runtime's bare error.
 *
 * The runtime says little: workerd throws "Network connection lost." for a
 * refused or dropped connection and "internal error; reference = …" for both
 * a name that does not resolve and a failed TLS handshake (the real cause goes
 * only to its own log). So a failed call is probed once more: over
 * DNS-over-HTTPS where the deployment resolves names (production), and with a
 * plain TCP connect to the same host and port, which tells "nothing there"
 * from "something there that would not speak TLS or HTTP". Probes run only
 * after a failure and are capped at PROBE_TIMEOUT_MS.
 */
import { connect } from 'cloudflare:sockets';
import type { DnsLookup } from './targets';

export const PROBE_TIMEOUT_MS = 3_000;

export type FailureKind = 'dns' | 'connection_refused' | 'connection_closed' | 'tls' | 'timeout' | 'network' | 'status';

export interface FailureCause {
  kind: FailureKind;
  /** One line: what happened, then what to do next. */
  text: string;
}

const portOf = (url: URL) => Number(url.port || (url.protocol === 'https:' ? 443 : 80));
const isLiteral = (host: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[');

/** Statuses Cloudflare's edge answers for an origin it could not reach: the receiver never saw the request. */
const EDGE_STATUSES: Record<number, string> = {
  521: "Cloudflare reports the receiver's web server refused the connection (521): start it, or check its firewall",
  522: 'Cloudflare reports the connection to the receiver timed out (522): check that the server is up and reachable',
  523: 'Cloudflare reports the receiver is unreachable (523): check its DNS records and routing',
  524: 'Cloudflare reports the receiver accepted the connection but did not answer in time (524): answer webhooks quickly',
  525: "Cloudflare reports the TLS handshake with the receiver failed (525): check the server's TLS setup",
  526: "Cloudflare reports the receiver's certificate is invalid (526): install a valid certificate",
  530: "Cloudflare could not resolve or reach the receiver (530, often error 1016, origin DNS): check the target's DNS records",
};

/** What a non-2xx answer means for whoever runs the receiver. */
export function statusCause(status: number, retried: boolean): FailureCause {
  const next = retried ? 'Parley retries' : 'not retried (the contract lists 400, 401, 403, 404 and 406 as final)';
  const edge = EDGE_STATUSES[status];
  if (edge) return { kind: 'status', text: `${edge}; ${next}` };
  const hint =
    status === 401 || status === 403
      ? "; check that the receiver verifies X-API-Key or webhook-signature with this webhook's current secret"
      : status === 404 || status === 405
        ? "; check the path and method the receiver serves against the webhook's target"
        : status >= 500
          ? '; the receiver failed: see its logs'
          : status >= 300 && status < 400
            ? '; Parley follows no redirects: point the target at the final URL'
            : '';
  return { kind: 'status', text: `receiver answered HTTP ${status}${hint}; ${next}` };
}

/** True when a plain TCP connection to host:port opens within the probe's time cap. */
async function tcpOpens(hostname: string, port: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  try {
    const socket = connect({ hostname: hostname.replace(/^\[|\]$/g, ''), port }, { secureTransport: 'off', allowHalfOpen: false });
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS)));
    const opened = await Promise.race([socket.opened.then(() => true), timeout]);
    socket.close().catch(() => undefined);
    return opened;
  } catch {
    return false;
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

/** 'resolves' when the resolver has addresses for the name, 'unknown' when it cannot say, otherwise why it has none. */
async function resolution(lookup: DnsLookup, host: string): Promise<string> {
  try {
    const answers = await Promise.all([lookup(host, 'A'), lookup(host, 'AAAA')]);
    if (answers.some((a) => (a.Answer ?? []).some((r) => r.type === 1 || r.type === 28))) return 'resolves';
    return answers.some((a) => a.Status === 3) ? 'the name does not exist, NXDOMAIN' : 'the name has no A or AAAA record';
  } catch {
    return 'unknown';
  }
}

/**
 * Explains a call to `target` that threw `err`. `timeoutMs` is the cap the
 * call ran under; `lookup` is the deployment's resolver, absent locally.
 */
export async function describeFetchFailure(target: string | URL, err: unknown, timeoutMs: number, lookup?: DnsLookup): Promise<FailureCause> {
  const url = new URL(target);
  const where = `${url.hostname}:${portOf(url)}`;
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : String(err);
  if (name === 'TimeoutError' || name === 'AbortError') {
    return { kind: 'timeout', text: `timeout: ${where} sent no answer within ${timeoutMs / 1000} s; answer webhooks at once and do the work afterwards (WEBHOOK_TIMEOUT_MS sets the cap)` };
  }
  const named = !isLiteral(url.hostname) && url.hostname !== 'localhost';
  const dns = lookup && named ? await resolution(lookup, url.hostname) : 'unknown';
  if (dns !== 'resolves' && dns !== 'unknown') {
    return { kind: 'dns', text: `DNS failure: ${url.hostname} does not resolve (${dns}); check the host name in the webhook's target and its DNS records` };
  }
  const opens = await tcpOpens(url.hostname, portOf(url));
  // workerd's words for a refused or dropped connection; anything else it reports as an "internal error".
  if (message.startsWith('Network connection lost')) {
    return opens
      ? { kind: 'connection_closed', text: `connection closed: ${where} accepted the connection but closed it without an HTTP answer; check that an HTTP server listens there and does not crash on the request` }
      : { kind: 'connection_refused', text: `connection refused: nothing accepts connections at ${where}; start the receiver, or fix the host and port in the webhook's target` };
  }
  if (opens && url.protocol === 'https:') {
    return { kind: 'tls', text: `TLS error: ${where} accepted the connection but the TLS handshake failed (a plain-HTTP port, or a certificate that is not valid for ${url.hostname}); use http:// for a plain local port, or give the receiver a valid certificate` };
  }
  // Not a refusal (workerd said so above), and no connection either: the name did not resolve.
  if (!opens && named && dns === 'unknown') {
    return { kind: 'dns', text: `DNS failure: ${url.hostname} could not be resolved; check the host name in the webhook's target` };
  }
  if (!opens) return { kind: 'connection_refused', text: `connection refused: nothing accepts connections at ${where}; start the receiver, or fix the host and port in the webhook's target` };
  return { kind: 'network', text: `network error talking to ${where}: ${message}` };
}
