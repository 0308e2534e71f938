/**
 * Calling X's API for the DM channel (twitter.ts, twitter-media.ts): the two
 * credentials X's v2 endpoints take, and X's failures read into outcomes.
 * The facts, with their sources, are in twitter.ts's header.
 *
 * - User context, OAuth 1.0a (oauth1.ts): the integration's account acting
 *   (`/2/users/me`, subscriptions, DMs, media upload). A JSON or multipart
 *   body is not an OAuth parameter, so only the query is signed.
 * - App-only Bearer token, exchanged for the consumer key and secret at
 *   `POST /oauth2/token` (`grant_type=client_credentials`, HTTP Basic): the
 *   app acting (webhook registration and removal, unsubscribing). X returns
 *   the same token until it is invalidated, so it is fetched when needed and
 *   never stored.
 */
import * as v from 'valibot';
import type { ChannelContext, SendOutcome } from './adapter';
import { callChannel, jsonBody, type ChannelResponse } from './http';
import { authorizationHeader, percentEncode } from './oauth1';

export const X_API_BASE = 'https://api.x.com';

/** The part of the integration's settings every call needs. */
export interface XKeys {
  consumerKey: string;
  consumerSecret: string;
  accessTokenKey: string;
  accessTokenSecret: string;
  apiBaseUrl?: string;
}

export type XCtx = ChannelContext<XKeys>;
export type Failure = SendOutcome & { ok: false };

const base = (c: XKeys) => (c.apiBaseUrl ?? X_API_BASE).replace(/\/+$/, '');
const queryOf = (query: Record<string, string> = {}) => Object.entries(query).map(([k, x]) => `${percentEncode(k)}=${percentEncode(x)}`).join('&');

export interface CallOptions {
  query?: Record<string, string>;
  json?: unknown;
  /** A multipart body (media APPEND); its boundary is set by fetch. */
  form?: FormData;
  timeoutMs?: number;
}

function bodyOf(options: CallOptions, headers: Record<string, string>): { body?: BodyInit } {
  if (options.form) return { body: options.form };
  if (options.json === undefined) return {};
  headers['content-type'] = 'application/json';
  return { body: JSON.stringify(options.json) };
}

/** A call as the account, signed OAuth 1.0a; the query is encoded by RFC 3986 (as signed), never with URLSearchParams' `+` for spaces. */
export async function userCall(ctx: XCtx, method: string, path: string, options: CallOptions = {}): Promise<ChannelResponse> {
  const query = queryOf(options.query);
  const url = `${base(ctx.config)}${path}${query ? `?${query}` : ''}`;
  const c = ctx.config;
  const headers: Record<string, string> = { authorization: await authorizationHeader({ consumerKey: c.consumerKey, consumerSecret: c.consumerSecret, token: c.accessTokenKey, tokenSecret: c.accessTokenSecret }, method, url) };
  return callChannel(ctx.fetch, url, { method, headers, ...bodyOf(options, headers) }, options.timeoutMs);
}

const TokenAnswer = v.looseObject({ token_type: v.pipe(v.string(), v.toLowerCase(), v.literal('bearer')), access_token: v.pipe(v.string(), v.minLength(1)) });

/** The app's Bearer token (RFC 6749 client credentials, keys RFC 1738-encoded as X asks), or why X would not give it. */
export async function appToken(ctx: XCtx): Promise<{ ok: true; token: string } | { ok: false; outcome: Failure }> {
  const basic = btoa(`${encodeURIComponent(ctx.config.consumerKey)}:${encodeURIComponent(ctx.config.consumerSecret)}`);
  const answer = await callChannel(ctx.fetch, `${base(ctx.config)}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded;charset=UTF-8' },
    body: 'grant_type=client_credentials',
  });
  if (!answer.ok) return answer;
  if (!answer.response.ok) return { ok: false, outcome: await failureOf(answer.response) };
  const token = v.safeParse(TokenAnswer, await jsonBody(answer.response));
  if (!token.success) return { ok: false, outcome: { ok: false, retryable: false, code: 'bad_response', message: 'X answered /oauth2/token without a bearer token' } };
  return { ok: true, token: token.output.access_token };
}

/** A call as the app, with its Bearer token. */
export function appCall(ctx: XCtx, token: string, method: string, path: string, options: CallOptions = {}): Promise<ChannelResponse> {
  const query = queryOf(options.query);
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  return callChannel(ctx.fetch, `${base(ctx.config)}${path}${query ? `?${query}` : ''}`, { method, headers, ...bodyOf(options, headers) }, options.timeoutMs);
}

// ---- X's failures ------------------------------------------------------------------------

/**
 * X answers errors in two shapes: v2's RFC 7807 problem (`{title, detail,
 * type, status}`, an invalid request adding `errors: [{message, parameters}]`)
 * and the older `{errors: [{code, message}]}` that authentication (32, 89,
 * 99), rate limits (88) and capacity (130, 131) still use.
 */
const ErrorBody = v.looseObject({
  title: v.optional(v.string()),
  detail: v.optional(v.string()),
  type: v.optional(v.string()),
  errors: v.optional(v.array(v.looseObject({ code: v.optional(v.number()), message: v.optional(v.string()) }))),
});
export type ErrorBody = v.InferOutput<typeof ErrorBody>;

/** 88 rate limit, 130 over capacity, 131 internal error: the same call may succeed later. */
const RETRYABLE_CODES = new Set([88, 130, 131]);

/** X's failure as `{code, message}`: the numeric code when there is one, else the problem type's name, else the HTTP status. */
function describeError(status: number, body: ErrorBody | undefined): { code: string; message: string; number?: number } {
  const first = body?.errors?.[0];
  const numbered = first?.code !== undefined;
  const problem = body?.type && body.type !== 'about:blank' ? body.type.split('/').filter(Boolean).pop() : undefined;
  const code = numbered ? String(first.code) : (problem ?? `http_${status}`);
  const head = numbered ? first.message : (body?.detail ?? body?.title);
  // A v2 invalid request says what is wrong in its errors' messages: kept after the detail.
  const reasons = numbered ? [] : (body?.errors ?? []).flatMap((e) => (e.message && !head?.includes(e.message) ? [e.message] : []));
  const message = [head, ...reasons].filter(Boolean).join(': ') || `X answered HTTP ${status}`;
  return { code, message, ...(numbered ? { number: first.code } : {}) };
}

export async function readError(response: Response): Promise<ErrorBody | undefined> {
  const parsed = v.safeParse(ErrorBody, await jsonBody(response));
  return parsed.success ? parsed.output : undefined;
}

/** X's error as an outcome: 429 (after `x-rate-limit-reset`, epoch seconds), capacity and 5xx retry; the rest is permanent, with X's code. */
export async function failureOf(response: Response, now = Date.now()): Promise<Failure> {
  const { code, message, number } = describeError(response.status, await readError(response));
  if (response.status === 429 || number === 88) {
    const reset = Number(response.headers.get('x-rate-limit-reset'));
    return { ok: false, retryable: true, code, message, ...(reset > 0 ? { retryAfterMs: Math.max(0, reset * 1000 - now) } : {}) };
  }
  if (response.status >= 500 || (number !== undefined && RETRYABLE_CODES.has(number))) return { ok: false, retryable: true, code, message };
  return { ok: false, retryable: false, code, message };
}

/** An X answer's `data` object (v2 wraps every result in it). */
export async function dataOf(response: Response): Promise<Record<string, unknown> | undefined> {
  const body = await jsonBody(response);
  const data = typeof body === 'object' && body !== null ? (body as { data?: unknown }).data : undefined;
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
}
