/**
 * Encryption at rest for key secrets (and later channel tokens): AES-256-GCM
 * under the MASTER_KEY secret, a fresh 96-bit IV per value. Secrets have to be
 * recoverable, not hashed, because HS256 JWT verification needs the raw secret.
 */
import type { Env } from '../env';
import { StatusError } from '../http/errors';
import { fromBase64, toBase64 } from '../channels/signing';

const keyCache = new Map<string, Promise<CryptoKey>>();

function masterKey(env: Env): Promise<CryptoKey> {
  const raw = env.MASTER_KEY;
  if (!raw) {
    throw new StatusError(500, 'configuration_error', 'MASTER_KEY is not set; run `wrangler secret put MASTER_KEY` with 32 random bytes in base64');
  }
  let key = keyCache.get(raw);
  if (!key) {
    const bytes = fromBase64(raw);
    if (bytes.length !== 32) {
      throw new StatusError(500, 'configuration_error', 'MASTER_KEY must be 32 bytes encoded in base64');
    }
    key = crypto.subtle.importKey('raw', bytes, 'AES-GCM', false, ['encrypt', 'decrypt']);
    keyCache.set(raw, key);
  }
  return key;
}

const b64 = toBase64;
const unb64 = fromBase64;

/** Returns `v1.<iv>.<ciphertext>` so the format can change without a data migration. */
export async function seal(env: Env, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await masterKey(env), new TextEncoder().encode(plaintext));
  return `v1.${b64(iv)}.${b64(new Uint8Array(data))}`;
}

export async function open(env: Env, sealed: string): Promise<string> {
  const [version, iv, data] = sealed.split('.');
  if (version !== 'v1' || !iv || !data) throw new StatusError(500, 'internal_error', 'Stored secret has an unknown format');
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: unb64(iv) }, await masterKey(env), unb64(data));
  return new TextDecoder().decode(plain);
}

/** Constant-time comparison, so a wrong secret's timing says nothing about the right one. */
export function sameSecret(a: string, b: string): boolean {
  const enc = new TextEncoder();
  const x = enc.encode(a);
  const y = enc.encode(b);
  if (x.byteLength !== y.byteLength) return false;
  return crypto.subtle.timingSafeEqual(x, y);
}
