/**
 * The cipher of Apple's encrypted files (attachments and large interactive
 * replies on Apple's MMCS storage): AES-256-CTR with a zero counter block and
 * a key given as hex with a leading "00". Kept apart from apple-wire.ts so the
 * test fake, which encrypts what it serves and decrypts what it is sent,
 * shares it without the Worker's types.
 *
 * Files run to 100 MB and a Worker has 128 MB, so the streaming form
 * (`ctrStream`) is what moves attachments: CTR encrypts block n with the
 * counter block n, so a chunk starting on a 16-byte boundary is processed on
 * its own with the counter set to its first block's number, and only the
 * up-to-15 bytes after the last whole block wait for the next chunk.
 */
import { fromHex, toHex } from './signing';

const BLOCK = 16;

/** A fresh single-use key in Apple's notation: "00" + 64 hex digits. */
export function newFileKey(): string {
  return `00${toHex(crypto.getRandomValues(new Uint8Array(32)))}`;
}

function importKey(keyHex: string): Promise<CryptoKey> {
  const raw = fromHex(keyHex.length === 66 ? keyHex.slice(2) : keyHex);
  return crypto.subtle.importKey('raw', raw, { name: 'AES-CTR' }, false, ['encrypt', 'decrypt']);
}

/** The counter block of block number `n`: the zero IV plus n, big-endian (the low 64 bits are plenty for 100 MB). */
function counterAt(n: number): Uint8Array<ArrayBuffer> {
  const counter = new Uint8Array(BLOCK);
  new DataView(counter.buffer).setBigUint64(8, BigInt(n));
  return counter;
}

async function apply(key: CryptoKey, firstBlock: number, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CTR', counter: counterAt(firstBlock), length: 64 }, key, data as Uint8Array<ArrayBuffer>));
}

/** Encrypting and decrypting are the same operation. */
export async function aesCtr(keyHex: string, data: Uint8Array): Promise<Uint8Array> {
  return apply(await importKey(keyHex), 0, data);
}

/**
 * AES-CTR as a stream, either direction. `expectedBytes`, when given, is the
 * exact length the stream must carry: a longer one errors as soon as it
 * passes it, a shorter one when it ends, so a truncated or padded file is
 * never taken for the one announced.
 */
export function ctrStream(keyHex: string, expectedBytes?: number): TransformStream<Uint8Array, Uint8Array> {
  const key = importKey(keyHex);
  let block = 0;
  let seen = 0;
  let carry = new Uint8Array(0);
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      seen += chunk.byteLength;
      if (expectedBytes !== undefined && seen > expectedBytes) throw new Error(`the file is longer than the ${expectedBytes} bytes announced`);
      let data = chunk;
      if (carry.byteLength) {
        data = new Uint8Array(carry.byteLength + chunk.byteLength);
        data.set(carry);
        data.set(chunk, carry.byteLength);
      }
      const whole = data.byteLength - (data.byteLength % BLOCK);
      carry = data.slice(whole);
      if (!whole) return;
      controller.enqueue(await apply(await key, block, data.subarray(0, whole)));
      block += whole / BLOCK;
    },
    async flush(controller) {
      if (expectedBytes !== undefined && seen !== expectedBytes) throw new Error(`the file ended after ${seen} of the ${expectedBytes} bytes announced`);
      if (carry.byteLength) controller.enqueue(await apply(await key, block, carry));
    },
  });
}
