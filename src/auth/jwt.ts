/**
 * HS256 JSON Web Tokens as Sunshine v2 takes them: header `kid` names the key
 * whose secret signed it; `alg` must be HS256 (never `none`); `exp` and `nbf`,
 * when present, are honoured, and any time claim that is not a number refuses
 * the token (a lenient check would read `"exp": "1"` as "never expires").
 */
import { fromBase64Url as fromB64url, toBase64Url as toB64url } from '../channels/signing';

const decoder = new TextDecoder();

export interface DecodedJwt {
  header: { alg?: unknown; kid?: unknown };
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Uint8Array<ArrayBuffer>;
}

/** Splits and decodes without verifying; returns undefined for anything that is not a JWS compact token. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(decoder.decode(fromB64url(parts[0]!)));
    const payload = JSON.parse(decoder.decode(fromB64url(parts[1]!)));
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) return undefined;
    return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: fromB64url(parts[2]!) };
  } catch {
    return undefined;
  }
}

/** A text secret is keyed by its UTF-8 bytes; raw bytes (Apple's base64-decoded MSP secret) are keyed as they are. */
const hmacKey = (secret: string | Uint8Array, usage: "sign" | "verify") =>
  crypto.subtle.importKey('raw', typeof secret === 'string' ? new TextEncoder().encode(secret) : (secret as Uint8Array<ArrayBuffer>), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);

export async function verifyHs256(jwt: DecodedJwt, secret: string | Uint8Array): Promise<boolean> {
  if (jwt.header.alg !== 'HS256') return false;
  return crypto.subtle.verify('HMAC', await hmacKey(secret, 'verify'), jwt.signature, new TextEncoder().encode(jwt.signingInput));
}

const TIME_CLAIMS = ['exp', 'nbf', 'iat'] as const;

/**
 * Why the token's time claims refuse it now, as a phrase that reads after
 * "JWT" ("claim exp must be a number…", "has expired", "is not valid yet…"),
 * or undefined when they allow it. `required` names claims it must carry.
 */
export function timeClaimsProblem(payload: Record<string, unknown>, required: readonly (typeof TIME_CLAIMS)[number][] = [], nowSeconds = Date.now() / 1000): string | undefined {
  for (const claim of TIME_CLAIMS) {
    if (!(claim in payload)) {
      if (required.includes(claim)) return `claim ${claim} is required`;
      continue;
    }
    const value = payload[claim];
    if (typeof value !== 'number' || !Number.isFinite(value)) return `claim ${claim} must be a number (seconds since 1970-01-01 UTC)`;
  }
  if (typeof payload.exp === 'number' && payload.exp <= nowSeconds) return 'has expired';
  if (typeof payload.nbf === 'number' && payload.nbf > nowSeconds) return 'is not valid yet (its nbf is in the future)';
  return undefined;
}

/** Signs a token; used by the local tooling and tests to mint the tokens customers' servers would. */
export async function signHs256(payload: Record<string, unknown>, kid: string, secret: string): Promise<string> {
  return signJwt({ alg: 'HS256', typ: 'JWT', kid }, payload, secret);
}

/** Signs a token with any header (its `alg` should say HS256) under a text or raw-byte key: Apple's MSP tokens carry no `kid`. */
export async function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Uint8Array): Promise<string> {
  const enc = (o: unknown) => toB64url(new TextEncoder().encode(JSON.stringify(o)));
  const input = `${enc(header)}.${enc(payload)}`;
  const sig = await crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), new TextEncoder().encode(input));
  return `${input}.${toB64url(new Uint8Array(sig))}`;
}
