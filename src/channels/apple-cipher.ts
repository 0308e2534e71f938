/**
 * The cipher of Apple's encrypted files (attachments and large interactive
 * replies on Apple's MMCS storage): AES-256-CTR with a zero counter block and
 * a key given as hex with a leading "00". Kept apart from apple-wire.ts so the
 * test fake, which encrypts what it serves, shares it without the Worker's
 * types.
 */
import { fromHex } from './signing';

/** Encrypting and decrypting are the same operation. */
export async function aesCtr(keyHex: string, data: Uint8Array): Promise<Uint8Array> {
  const raw = fromHex(keyHex.length === 66 ? keyHex.slice(2) : keyHex);
  const key = await crypto.subtle.importKey('raw', raw, { name: 'AES-CTR' }, false, ['encrypt', 'decrypt']);
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 64 }, key, data as Uint8Array<ArrayBuffer>));
}
