/**
 * OAuth 1.0a request signing (RFC 5849, HMAC-SHA1), as X's v1.1 API and its
 * DM media host require on every user-context call. The signature covers the
 * method, the URL without its query, and every oauth_* and query parameter
 * (a JSON body is not a parameter, so it is not signed); the key is the
 * consumer secret and the token secret, each percent-encoded, joined by `&`.
 * The X fake verifies with these same functions, so the test vector from X's
 * "Creating a signature" page pins both sides.
 */
import { hmacBase64, toHex } from './signing';

export interface OAuthCredentials {
  consumerKey: string;
  consumerSecret: string;
  token: string;
  tokenSecret: string;
}

/** RFC 3986 percent-encoding: everything but ALPHA / DIGIT / - . _ ~ (encodeURIComponent leaves !'()* alone). */
export const percentEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The URL the signature names: scheme and host in lower case, no default port, no query or fragment. */
function baseUrl(url: URL): string {
  const port = url.port && !((url.protocol === 'https:' && url.port === '443') || (url.protocol === 'http:' && url.port === '80')) ? `:${url.port}` : '';
  return `${url.protocol.toLowerCase()}//${url.hostname.toLowerCase()}${port}${url.pathname}`;
}

/** `METHOD&url&params`: parameters encoded, sorted by key then value, joined, and encoded once more. */
export function signatureBaseString(method: string, url: string, params: [string, string][]): string {
  const target = new URL(url);
  const all = [...params, ...target.searchParams.entries()].map(([k, v]) => [percentEncode(k), percentEncode(v)] as const);
  all.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const joined = all.map(([k, v]) => `${k}=${v}`).join('&');
  return `${method.toUpperCase()}&${percentEncode(baseUrl(target))}&${percentEncode(joined)}`;
}

export const signingKey = (consumerSecret: string, tokenSecret: string) => `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`;

/** The base64 HMAC-SHA1 signature of a request; `params` are the oauth_* (and any form body) parameters, the query is read from the URL. */
export function oauthSignature(method: string, url: string, params: [string, string][], consumerSecret: string, tokenSecret: string): Promise<string> {
  return hmacBase64('SHA-1', signingKey(consumerSecret, tokenSecret), signatureBaseString(method, url, params));
}

const newNonce = () => toHex(crypto.getRandomValues(new Uint8Array(16)));

/** The `Authorization: OAuth ...` header value for one request (nonce and timestamp injectable for test vectors). */
export async function authorizationHeader(
  creds: OAuthCredentials,
  method: string,
  url: string,
  options: { nonce?: string; timestamp?: number; bodyParams?: [string, string][] } = {},
): Promise<string> {
  const oauth: [string, string][] = [
    ['oauth_consumer_key', creds.consumerKey],
    ['oauth_nonce', options.nonce ?? newNonce()],
    ['oauth_signature_method', 'HMAC-SHA1'],
    ['oauth_timestamp', String(options.timestamp ?? Math.floor(Date.now() / 1000))],
    ['oauth_token', creds.token],
    ['oauth_version', '1.0'],
  ];
  const signature = await oauthSignature(method, url, [...oauth, ...(options.bodyParams ?? [])], creds.consumerSecret, creds.tokenSecret);
  const all: [string, string][] = [...oauth, ['oauth_signature', signature]];
  return `OAuth ${all.map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(', ')}`;
}

