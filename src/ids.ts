/**
 * Object ids in the wire contract's shape: 24 lowercase hex characters like a
 * Mongo ObjectId. The first 4 bytes are the creation second and the next 3 a
 * per-isolate counter, so ids minted by one isolate sort in creation order and
 * id-cursor pagination in D1 stays stable and cheap; 5 random bytes keep ids
 * from different isolates apart.
 */
import { toBase64Url, toHex as hex } from './channels/signing';

let counter = Math.floor(Math.random() * 0xffffff);

export function newId(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  counter = (counter + 1) & 0xffffff;
  const bytes = new Uint8Array(12);
  new DataView(bytes.buffer).setUint32(0, second);
  bytes[4] = (counter >> 16) & 0xff;
  bytes[5] = (counter >> 8) & 0xff;
  bytes[6] = counter & 0xff;
  crypto.getRandomValues(bytes.subarray(7));
  return hex(bytes);
}

export const ID_PATTERN = /^[0-9a-f]{24}$/;

/** Key secrets: 32 random bytes, base64url, as long and unguessable as Sunshine's. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return toBase64Url(bytes);
}
