/**
 * The Graph layer WhatsApp, Messenger and Instagram share: the `hub.*`
 * subscription handshake, `X-Hub-Signature-256` verification on the raw bytes,
 * Graph URLs with a configurable API version, authenticated Graph calls, and
 * the reading of Graph's error envelope into retryable or permanent outcomes
 * (reference §1). The three adapters differ only in payloads and code tables.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { boundedString, describeIssue } from '../schema/common';
import type { ChannelFetch, InboundRequest, SendOutcome, Verdict } from './adapter';
import { callChannel, jsonBody, retryAfterMs } from './http';
import { hmacHex, safeEqual } from './signing';

export const DEFAULT_GRAPH_VERSION = 'v21.0';

/** Settings every Meta integration takes besides its credentials. */
export const graphVersion = v.pipe(v.string('must be a string'), v.regex(/^v\d{1,3}\.\d{1,3}$/, "must be a Graph API version such as 'v21.0'"));
export const verifyToken = boundedString(8, 256);

type GraphConfig = { graphVersion?: string };

/** `{base}/{version}/{path}`: every Graph call is versioned, and the version is the integration's choice. */
export const graphUrl = (base: string, config: GraphConfig, path: string) => `${base}/${config.graphVersion ?? DEFAULT_GRAPH_VERSION}/${path}`;

/** A token for the customer to paste into the App Dashboard when they did not choose one. */
export function newVerifyToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Meta's free-form messaging window: 24 hours since the user last wrote. */
export const WINDOW_MS = 24 * 60 * 60 * 1000;
/** Whether the user wrote within `windowMs` (Meta's 24 hours unless a channel names its own, such as WeChat's 48). */
export const insideWindow = (lastInboundAt: number | undefined, now = Date.now(), windowMs = WINDOW_MS) => lastInboundAt !== undefined && now - lastInboundAt <= windowMs;

/** Body of a follow-up message that only carries options: the renderer uses the same words for option-only text. */
export const OPTIONS_ONLY_TEXT = 'Choose an option';

// ---- inbound -------------------------------------------------------------------------

/** GET `?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`: echo the challenge iff the token is ours. */
export function metaHandshake(url: URL, expected: string | undefined): Response {
  const mode = url.searchParams.get('hub.mode');
  const token = url.searchParams.get('hub.verify_token');
  const challenge = url.searchParams.get('hub.challenge');
  if (mode !== 'subscribe' || challenge === null || token === null || expected === undefined || !safeEqual(token, expected)) {
    return new Response('Forbidden', { status: 403, headers: { 'content-type': 'text/plain' } });
  }
  return new Response(challenge, { status: 200, headers: { 'content-type': 'text/plain' } });
}

/**
 * HMAC of the App Secret over the exact bytes. Meta sends both headers; the
 * SHA-1 one is read only when the SHA-256 one is missing, so a forged SHA-1
 * can never stand in for a failed SHA-256.
 */
export async function verifyMetaSignature(request: InboundRequest, appSecret: string): Promise<Verdict> {
  const sha256 = request.headers.get('x-hub-signature-256');
  const sha1 = sha256 === null ? request.headers.get('x-hub-signature') : null;
  const [scheme, hash] = sha256 !== null ? ['sha256=', 'SHA-256' as const] : ['sha1=', 'SHA-1' as const];
  const header = sha256 ?? sha1;
  if (header === null) return { ok: false, status: 401, reason: 'X-Hub-Signature-256 header is missing' };
  if (!header.startsWith(scheme)) return { ok: false, status: 401, reason: `signature header must start with ${scheme}` };
  const expected = await hmacHex(hash, appSecret, request.raw);
  if (!safeEqual(header.slice(scheme.length).toLowerCase(), expected)) return { ok: false, status: 403, reason: 'signature does not match the body' };
  return { ok: true };
}

/** Parses a verified body with a loose schema; anything Meta would never send is a 400 naming the field. */
export function parseWebhook<S extends v.GenericSchema>(raw: Uint8Array, schema: S): v.InferOutput<S> {
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw badRequest('Webhook body is not JSON');
  }
  return parseItem(schema, body, 'Webhook body');
}

/** Parses one part of a webhook (a message, a messaging item) and names its place when it is malformed. */
export function parseItem<S extends v.GenericSchema>(schema: S, input: unknown, where: string): v.InferOutput<S> {
  const result = v.safeParse(schema, input);
  if (!result.success) throw badRequest(`${where}: ${describeIssue(result.issues[0])}`);
  return result.output;
}

/** Meta times: WhatsApp sends epoch seconds as a string. */
export const secondsToMs = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) * 1000 : undefined);

// ---- outbound ------------------------------------------------------------------------

const graphError = v.looseObject({
  error: v.looseObject({
    message: v.optional(v.string()),
    code: v.number(),
    error_subcode: v.optional(v.number()),
    error_data: v.optional(v.unknown()),
  }),
});

/** Waits for rate limits that say how long they last; others are left to the consumer's backoff. */
const CODE_RETRY_AFTER_MS: Record<number, number> = {
  131056: 6_000, // WhatsApp pair rate: one message per ~6 s to the same user
  130429: 1_000, // WhatsApp throughput is counted per second
  4: 60_000, // app, user, page and custom rate limits are rolling windows (unverified length)
  17: 60_000,
  32: 60_000,
  613: 60_000,
  80007: 60_000,
};

function details(data: unknown): string | undefined {
  if (typeof data === 'object' && data !== null && typeof (data as { details?: unknown }).details === 'string') return (data as { details: string }).details;
  return undefined;
}

/**
 * Classifies a failed Graph answer by `code` (never by message text, §1.4).
 * A code the channel's table does not list is permanent, unless Graph said so
 * with a 5xx or 429: those are retried whatever the body.
 */
export function graphFailure(response: Response, body: unknown, retryableCodes: ReadonlySet<number>): SendOutcome & { ok: false } {
  const parsed = v.safeParse(graphError, body);
  const statusRetryable = response.status === 429 || response.status >= 500;
  if (!parsed.success) {
    const code = `http_${response.status}`;
    const message = `Graph answered HTTP ${response.status}`;
    if (!statusRetryable) return { ok: false, retryable: false, code, message };
    const wait = retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }
  const e = parsed.output.error;
  const extra = [e.error_subcode !== undefined ? `subcode ${e.error_subcode}` : undefined, details(e.error_data)].filter(Boolean).join('; ');
  const message = `${e.message ?? 'Graph error'}${extra ? ` (${extra})` : ''}`;
  const code = String(e.code);
  if (!retryableCodes.has(e.code) && !statusRetryable) return { ok: false, retryable: false, code, message };
  const wait = retryAfterMs(response.headers) ?? CODE_RETRY_AFTER_MS[e.code];
  return { ok: false, retryable: true, code, message, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
}

export type GraphResult = { ok: true; body: unknown } | { ok: false; outcome: SendOutcome & { ok: false } };

/** POSTs JSON to Graph with a Bearer token (kept out of URLs and logs) and classifies a failure. */
export async function graphPost(fetcher: ChannelFetch, url: string, token: string, body: unknown, retryableCodes: ReadonlySet<number>): Promise<GraphResult> {
  const call = await callChannel(fetcher, url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!call.ok) return call;
  const json = await jsonBody(call.response);
  if (!call.response.ok) return { ok: false, outcome: graphFailure(call.response, json, retryableCodes) };
  return { ok: true, body: json };
}

/** GETs a Graph object (setup, user profiles); a refusal comes back as words for the customer. */
export async function graphGet(fetcher: ChannelFetch, url: string, token: string, timeoutMs?: number): Promise<{ ok: true; body: unknown } | { ok: false; error: string }> {
  const call = await callChannel(fetcher, url, { headers: { authorization: `Bearer ${token}` } }, timeoutMs);
  if (!call.ok) return { ok: false, error: call.outcome.message };
  const json = await jsonBody(call.response);
  if (call.response.ok) return { ok: true, body: json };
  const failure = graphFailure(call.response, json, new Set());
  return { ok: false, error: `Graph error ${failure.code}: ${failure.message}` };
}

/**
 * Splits text too long for a template body (WhatsApp interactive 1,024,
 * Messenger button template 640): the head goes out as plain text first, the
 * tail carries the buttons, cut at a space so words stay whole.
 */
export function splitForBody(text: string, max: number): { head?: string; body: string } {
  if (text.length <= max) return { body: text };
  const from = text.length - max;
  const space = text.slice(from).search(/\s/);
  const cut = space >= 0 && space < max / 2 ? from + space : from;
  return { head: text.slice(0, cut).trimEnd(), body: text.slice(cut).trimStart() };
}

/** Long payloads that a channel field cannot hold go out as `#<choice>`; the conversation maps the number back. */
export const CHOICE_ID = /^#(\d{1,4})$/;
export const choiceOf = (id: string) => {
  const m = CHOICE_ID.exec(id);
  return m ? Number(m[1]) : undefined;
};
