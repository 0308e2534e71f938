/**
 * HS256 JSON Web Tokens as Sunshine v2 takes them: header `kid` names the key
 * whose secret signed it; `alg` must be HS256 (never `none`); `exp`, when
 * present, is honoured.
 */
const decoder = new TextDecoder();

const fromB64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));
const toB64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export interface DecodedJwt {
  header: { alg?: unknown; kid?: unknown };
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Uint8Array;
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

const hmacKey = (secret: string, usage: "sign" | "verify") =>
  crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);

export async function verifyHs256(jwt: DecodedJwt, secret: string): Promise<boolean> {
  if (jwt.header.alg !== 'HS256') return false;
  return crypto.subtle.verify('HMAC', await hmacKey(secret, 'verify'), jwt.signature, new TextEncoder().encode(jwt.signingInput));
}

export function isExpired(payload: Record<string, unknown>, nowSeconds = Date.now() / 1000): boolean {
  return typeof payload.exp === 'number' && payload.exp <= nowSeconds;
}

/** Signs a token; used by the local tooling and tests to mint the tokens customers' servers would. */
export async function signHs256(payload: Record<string, unknown>, kid: string, secret: string): Promise<string> {
  const enc = (o: unknown) => toB64url(new TextEncoder().encode(JSON.stringify(o)));
  const input = `${enc({ alg: 'HS256', typ: 'JWT', kid })}.${enc(payload)}`;
  const sig = await crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), new TextEncoder().encode(input));
  return `${input}.${toB64url(new Uint8Array(sig))}`;
}
