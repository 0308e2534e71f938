/**
 * WeChat's callback wire format, shared by the adapter and its fake: the
 * SHA-1 signature over the sorted strings (token, timestamp, nonce and, in
 * safe mode, the ciphertext), the AES envelope of safe mode, and the flat XML
 * both travel in. The envelope is AES-256-CBC keyed by
 * base64(EncodingAESKey + "="), IV = the key's first 16 bytes, over
 * 16 random bytes + 4-byte big-endian length + XML + AppId, PKCS#7-padded to
 * a 32-byte block. Web Crypto only speaks 16-byte PKCS#7, so the 32-byte
 * padding is removed here, after it (see decryptMessage). Encrypting is only
 * ever WeChat's side: it lives with the fake (test/fakes/wechat.ts).
 */
import { digestHex, fromBase64 } from './signing';

const dec = new TextDecoder();

/** WeChat's signature: SHA-1 hex of the parts sorted as strings and joined. */
export const wechatSignature = (...parts: string[]) => digestHex('SHA-1', [...parts].sort().join(''));

export const ENCODING_AES_KEY = /^[A-Za-z0-9]{43}$/;
/** The block WeChat pads the envelope to (PKCS#7 over 32 bytes, not AES's 16). */
export const BLOCK = 32;

/** The AES-256-CBC key of an EncodingAESKey, and its IV (the key's first 16 bytes). */
export function aesKey(encodingAesKey: string): Promise<{ key: CryptoKey; iv: Uint8Array<ArrayBuffer> }> {
  if (!ENCODING_AES_KEY.test(encodingAesKey)) throw new Error('EncodingAESKey must be 43 letters and digits');
  const raw = fromBase64(`${encodingAesKey}=`);
  return crypto.subtle.importKey('raw', raw, 'AES-CBC', false, ['encrypt', 'decrypt']).then((key) => ({ key, iv: raw.slice(0, 16) }));
}

export const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

/**
 * The XML and AppId inside a safe-mode `Encrypt` value. Web Crypto checks
 * 16-byte PKCS#7 padding, which WeChat's 32-byte padding often is not, so a
 * block is appended that decrypts to one full block of 16-byte padding:
 * E(C_last XOR 0x10…). Web Crypto strips that block; WeChat's own padding is
 * then checked and removed here. Throws on anything malformed.
 */
export async function decryptMessage(encodingAesKey: string, encrypt: string): Promise<{ xml: string; appId: string }> {
  const { key, iv } = await aesKey(encodingAesKey);
  const cipher = fromBase64(encrypt);
  if (cipher.byteLength === 0 || cipher.byteLength % 16 !== 0) throw new Error('ciphertext is not a whole number of AES blocks');
  const last = cipher.slice(-16).map((b) => b ^ 0x10);
  const tail = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-CBC', iv: new Uint8Array(16) }, key, last)).slice(0, 16);
  const plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-CBC', iv }, key, concat(cipher, tail)));
  const pad = plain[plain.byteLength - 1]!;
  if (pad < 1 || pad > BLOCK || pad > plain.byteLength || plain.subarray(plain.byteLength - pad).some((b) => b !== pad)) throw new Error('bad padding');
  const body = plain.subarray(16, plain.byteLength - pad);
  if (body.byteLength < 4) throw new Error('message too short');
  const length = new DataView(body.buffer, body.byteOffset, 4).getUint32(0);
  if (length > body.byteLength - 4) throw new Error('message length exceeds the message');
  return { xml: dec.decode(body.subarray(4, 4 + length)), appId: dec.decode(body.subarray(4 + length)) };
}

// ---- flat XML ---------------------------------------------------------------------

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const decodeText = (s: string) =>
  s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e.startsWith('#x') ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith('#') ? String.fromCodePoint(Number(e.slice(1))) : ENTITIES[e]!,
  );

/**
 * The leaf elements of a WeChat XML body, by tag name, first occurrence
 * winning. A value is text or CDATA sections (a `]]>` inside a value is split
 * across two sections), so text a user typed that looks like XML never
 * becomes an element. Nested containers (ScanCodeInfo, …) contribute their
 * leaves; nothing Parley reads is nested.
 */
export function readXml(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const leaf = /<([A-Za-z_][\w.-]*)>((?:<!\[CDATA\[[\s\S]*?\]\]>|[^<])*)<\/\1>/g;
  for (const m of text.matchAll(leaf)) {
    const name = m[1]!;
    if (Object.hasOwn(out, name)) continue;
    out[name] = m[2]!.replace(/<!\[CDATA\[([\s\S]*?)\]\]>|([^<]+)/g, (_, cdata: string | undefined, plain: string | undefined) => cdata ?? decodeText(plain ?? ''));
  }
  return out;
}

