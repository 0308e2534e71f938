/**
 * The signature primitives channels use (HMAC-SHA1/256 in hex or base64) and
 * constant-time comparison. Adapters verify on the raw request bytes with
 * these; the fakes sign with the same functions, so a test vector from the
 * channel reference pins both sides.
 */
const enc = new TextEncoder();

export type Hash = 'SHA-1' | 'SHA-256' | 'SHA-512';

/** Web Crypto wants bytes backed by a plain ArrayBuffer; request bodies always are. */
const bytesOf = (data: Uint8Array | string) => (typeof data === 'string' ? enc.encode(data) : (data as Uint8Array<ArrayBuffer>));

export async function hmac(hash: Hash, key: string, data: Uint8Array | string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', enc.encode(key), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, bytesOf(data)));
}

export const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
/** Pairs of hex digits as bytes (input already checked to be hex). */
export const fromHex = (hex: string): Uint8Array<ArrayBuffer> => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
export const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
/** URL- and filename-safe base64 without padding (RFC 4648 §5): tokens in paths, JWT segments. */
export const toBase64Url = (bytes: Uint8Array) => toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
/** Throws on input that is not base64. */
export const fromBase64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
/** Throws on input that is not base64url. */
export const fromBase64Url = (s: string) => fromBase64(s.replace(/-/g, '+').replace(/_/g, '/'));

export const hmacHex = async (hash: Hash, key: string, data: Uint8Array | string) => toHex(await hmac(hash, key, data));
export const hmacBase64 = async (hash: Hash, key: string, data: Uint8Array | string) => toBase64(await hmac(hash, key, data));

export async function digestHex(hash: Hash, data: Uint8Array | string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest(hash, bytesOf(data))));
}
export const sha256Hex = (data: Uint8Array | string) => digestHex('SHA-256', data);

/** Constant-time string comparison; unequal lengths fail at once (lengths are not secret). */
export function safeEqual(a: string, b: string): boolean {
  const x = enc.encode(a);
  const y = enc.encode(b);
  if (x.byteLength !== y.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < x.byteLength; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
