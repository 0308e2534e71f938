/**
 * Object ids in the wire contract's shape: 24 lowercase hex characters like a
 * Mongo ObjectId. The first 4 bytes are the creation second, so ids sort by
 * creation time, which keeps id-cursor pagination stable and cheap in D1.
 */
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// A per-isolate counter in the last 3 bytes keeps ids minted in the same second distinct.
let counter = Math.floor(Math.random() * 0xffffff);

export function newId(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  counter = (counter + 1) & 0xffffff;
  const bytes = new Uint8Array(12);
  new DataView(bytes.buffer).setUint32(0, second);
  crypto.getRandomValues(bytes.subarray(4, 9));
  bytes[9] = (counter >> 16) & 0xff;
  bytes[10] = (counter >> 8) & 0xff;
  bytes[11] = counter & 0xff;
  return hex(bytes);
}

export const ID_PATTERN = /^[0-9a-f]{24}$/;

/** Key secrets: 32 random bytes, base64url, as long and unguessable as Sunshine's. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
