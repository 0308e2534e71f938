/**
 * Apple Messages for Business, the MSP REST API side (the adapter is
 * apple.ts): the HS256 tokens both directions carry, the calls Parley makes
 * to Apple's gateway (`/v1/message`, `/v1/preDownload`, `/v1/preUpload`,
 * `/v1/decodePayload`), how their answers are classified, and the
 * encrypted-file flow every attachment and large interactive reply goes
 * through (apple-media.ts moves attachments with it).
 *
 * Apple's key is the MSP secret base64-DECODED, never its text. Files live
 * on Apple's storage (MMCS) encrypted with AES-256-CTR, a zero IV and a key
 * given as hex with a leading "00" (apple-cipher.ts). Facts and where they
 * were checked:
 * - Receiving: `GET /v1/preDownload` trades the file's url, owner and
 *   signature (hex in the message, base64 in the MMCS-Signature header) for
 *   `{"download-url"}`, a pre-signed URL (Apple's tutorial
 *   05_downloading_attachments.py; developer.apple.com forum thread 109410:
 *   a hex signature sent as is gets 400).
 * - Sending (Apple's tutorial `send_message_with_image_attachment`, the
 *   © 2025 edition, which also names the key fields below; and
 *   developer.apple.com/documentation/businesschatapi: "Encrypting an
 *   Attachment", "Authorizing an Attachment for Upload", "Uploading an
 *   Attachment", "Adding Attachment Metadata to a Message"): a fresh
 *   single-use 256-bit key from a secure RNG, AES/CTR/NoPadding with an
 *   all-zero 16-byte IV; `GET /v1/preUpload` with `Authorization`,
 *   `Source-Id` (the business) and `MMCS-Size` (the ENCRYPTED size in bytes)
 *   answers `{"upload-url", "mmcs-url", "mmcs-owner"}` or 400 (malformed),
 *   401 (no token), 403 (bad token), 404 (unknown id), 500; the encrypted
 *   bytes are POSTed to upload-url with their content-length, no token, and
 *   200 answers `{"singleFile": {"fileChecksum": <base64>}}`; the message is
 *   `type: text` whose body holds one U+FFFC per attachment, where each
 *   shows, and `attachments: [{name, mimeType, size (a string: the encrypted
 *   size), signature-base64 (the fileChecksum), url (mmcs-url), owner
 *   (mmcs-owner), key ("00" + hex)}]`.
 * - Limits (register.apple.com/resources/messages/msp-rest-api/type-text):
 *   attachments up to 100 MB each way by default; Apple rejects no MIME
 *   type (the MSP decides what to allow).
 * This follows Apple's own MSP tutorial code (the attachment sender,
 * 05_downloading_attachments.py, 12_large_interactive_message.py,
 * attachment_cipher.py, jwt_util.py).
 */
import * as v from 'valibot';
import { decodeJwt, signJwt, timeClaimsProblem, verifyHs256 } from '../auth/jwt';
import type { ChannelContext, SendOutcome } from './adapter';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS, retryAfterMs } from './http';
import { aesCtr, ctrStream } from './apple-cipher';
import { fromBase64, fromHex, sha256Hex, toBase64 } from './signing';

export const APPLE_API_BASE = 'https://mspgw.push.apple.com';

export interface AppleKeys {
  businessId: string;
  apiSecret: string;
  mspId: string;
}

/** The MSP secret as the HMAC key Apple uses: its base64-decoded bytes. */
export function secretBytes(apiSecret: string): Uint8Array {
  return fromBase64(apiSecret);
}

/** A token for Parley's calls to Apple: `iss` is the MSP id, `iat` now. */
export function mspToken(keys: AppleKeys, nowMs = Date.now()): Promise<string> {
  return signJwt({ alg: 'HS256', typ: 'JWT' }, { iss: keys.mspId, iat: Math.floor(nowMs / 1000) }, secretBytes(keys.apiSecret));
}

/** Apple signs each request when it sends it; an older token is a replay, a later one a skewed clock. */
export const TOKEN_MAX_AGE_S = 3600;
const TOKEN_SKEW_S = 300;

/**
 * Why Apple's `Authorization` value does not authenticate a request to this
 * MSP, or undefined when it does: HS256 only (checked before anything else),
 * the decoded secret, `aud` naming the MSP, a fresh `iat`.
 */
export async function bearerProblem(bearer: string, keys: AppleKeys, nowMs: number): Promise<string | undefined> {
  const jwt = decodeJwt(bearer);
  if (!jwt) return 'the bearer token is not a JWT';
  if (jwt.header.alg !== 'HS256') return `JWT alg must be HS256, not ${JSON.stringify(jwt.header.alg ?? null)}`;
  if (!(await verifyHs256(jwt, secretBytes(keys.apiSecret)))) return 'JWT signature does not match the MSP secret';
  const aud = jwt.payload.aud;
  if (!(aud === keys.mspId || (Array.isArray(aud) && aud.includes(keys.mspId)))) return 'JWT aud does not name this MSP';
  const now = nowMs / 1000;
  const time = timeClaimsProblem(jwt.payload, ['iat'], now);
  if (time) return `JWT ${time}`;
  const iat = jwt.payload.iat as number;
  if (iat > now + TOKEN_SKEW_S) return 'JWT iat is in the future';
  if (iat < now - TOKEN_MAX_AGE_S) return `JWT was issued more than ${TOKEN_MAX_AGE_S} s ago (a replay)`;
  return undefined;
}

// ---- message ids -------------------------------------------------------------------

/** A UUID-shaped id drawn from `seed`, so a retried part carries the id its first attempt did. */
export async function stableUuid(seed: string): Promise<string> {
  const h = (await sha256Hex(seed)).slice(0, 32).split('');
  h[12] = '4';
  h[16] = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

// ---- sending -------------------------------------------------------------------------

type Failure = SendOutcome & { ok: false };

const STATUS_WORDS: Record<number, string> = {
  400: 'the message is malformed',
  401: 'the MSP token is missing',
  403: 'the MSP token or secret is wrong',
  404: 'the recipient is unknown to Apple',
  410: 'the customer closed the conversation (Apple conversations are customer-initiated; wait for them to write again)',
  413: 'the message is too large',
};

/** What a status means on the file calls, where 404 is not about the customer. */
const FILE_STATUS_WORDS: Record<number, string> = { 400: 'Apple found the request malformed', 401: STATUS_WORDS[401]!, 403: STATUS_WORDS[403]!, 404: 'Apple does not know this business id', 413: 'the file is too large for Apple' };

/**
 * Apple answers with a bare HTTP status: 429 and 5xx are worth retrying,
 * every other failure is final. `call` names a call other than `/v1/message`
 * (`preUpload`, `the upload`) in the message.
 */
export async function classify(response: Response, call?: string): Promise<Failure> {
  const detail = ((await response.text().catch(() => '')) || '').slice(0, 200).trim();
  const code = `http_${response.status}`;
  const words = (call ? FILE_STATUS_WORDS : STATUS_WORDS)[response.status];
  const message = `Apple${call ? ` ${call}` : ''} answered HTTP ${response.status}${words ? `: ${words}` : ''}${detail ? ` (${detail})` : ''}`;
  if (response.status === 429 || response.status >= 500) {
    const after = retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  return { ok: false, retryable: false, code, message };
}

/** POSTs one message to `/v1/message`: the id travels in the `id` header and the body, as Apple's samples send it. */
export async function postMessage(ctx: ChannelContext<AppleKeys>, base: string, id: string, destinationId: string, body: Record<string, unknown>): Promise<Failure | undefined> {
  const { config } = ctx;
  const answer = await callChannel(ctx.fetch, `${base}/v1/message`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await mspToken(config)}`,
      id,
      'source-id': config.businessId,
      'destination-id': destinationId,
    },
    body: JSON.stringify({ ...body, v: 1, id, sourceId: config.businessId, destinationId }),
  });
  if (!answer.ok) return answer.outcome;
  if (answer.response.ok) {
    await answer.response.body?.cancel();
    return undefined;
  }
  return classify(answer.response);
}

// ---- encrypted files -------------------------------------------------------------------

/** Where one encrypted file lives on Apple's storage: an attachment or an interactive data reference. */
export const FileRef = v.looseObject({
  url: v.pipe(v.string('must be a string'), v.url('must be a URL')),
  key: v.pipe(v.string('must be a string'), v.regex(/^(00)?[0-9A-Fa-f]{64}$/, 'must be the hex decryption key Apple gave (64 hex digits after a leading 00)')),
  signature: v.pipe(v.string('must be a string'), v.regex(/^(?:[0-9A-Fa-f]{2})+$/, 'must be the hex signature Apple gave')),
  owner: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty')),
  size: v.optional(v.number('must be a number')),
});
export type FileRef = v.InferOutput<typeof FileRef>;

/**
 * Opens one encrypted file: preDownload, then the download URL. Returns the
 * storage's answer (its body still encrypted) and the file's length, checked
 * against the length the message announced when it gave one.
 */
async function openFile(ctx: ChannelContext<AppleKeys>, base: string, ref: FileRef): Promise<{ file: Response; length: number | undefined }> {
  const { config } = ctx;
  const pre = await ctx.fetch(`${base}/v1/preDownload`, {
    headers: {
      authorization: `Bearer ${await mspToken(config)}`,
      'source-id': config.businessId,
      'MMCS-Url': ref.url,
      'MMCS-Signature': toBase64(fromHex(ref.signature)),
      'MMCS-Owner': ref.owner,
    },
  });
  if (!pre.ok) throw new Error(`Apple preDownload answered HTTP ${pre.status}`);
  const link = v.safeParse(v.looseObject({ 'download-url': v.pipe(v.string(), v.url()) }), await jsonBody(pre));
  if (!link.success) throw new Error('Apple preDownload answered without a download-url');
  // The download URL is pre-signed storage: no MSP token goes there.
  const file = await ctx.fetch(link.output['download-url'], { timeoutMs: MEDIA_TIMEOUT_MS });
  if (!file.ok) {
    await file.body?.cancel();
    throw new Error(`Apple's file storage answered HTTP ${file.status} (the file may have expired)`);
  }
  // A decoded (gzip) answer's content-length counts the encoded bytes: only a plain one states the file's length.
  const declared = file.headers.get('content-encoding') ? null : file.headers.get('content-length');
  const stated = declared !== null && /^\d+$/.test(declared) ? Number(declared) : undefined;
  if (ref.size !== undefined && stated !== undefined && stated !== ref.size) {
    await file.body?.cancel();
    throw new Error(`Apple's file is ${stated} bytes, not the ${ref.size} the message announced`);
  }
  return { file, length: ref.size ?? stated };
}

/** Downloads one encrypted file and returns its plain bytes (for small files: interactive data references). */
export async function downloadFile(ctx: ChannelContext<AppleKeys>, base: string, ref: FileRef): Promise<Uint8Array> {
  const { file, length } = await openFile(ctx, base, ref);
  const encrypted = new Uint8Array(await file.arrayBuffer());
  if (length !== undefined && encrypted.byteLength !== length) throw new Error(`Apple's file is ${encrypted.byteLength} bytes, not the ${length} the message announced`);
  return aesCtr(ref.key, encrypted);
}

/**
 * One encrypted file as a stream of its plain bytes, decrypted while it
 * downloads, so an attachment of up to 100 MB never sits in memory whole.
 * CTR keeps the length, so the answer states it (content-length) when
 * Apple or the message did, and errors if the bytes do not match it.
 */
export async function downloadStream(ctx: ChannelContext<AppleKeys>, base: string, ref: FileRef): Promise<Response> {
  const { file, length } = await openFile(ctx, base, ref);
  if (!file.body) throw new Error("Apple's file storage answered without a body");
  const headers: Record<string, string> = length !== undefined ? { 'content-length': String(length) } : {};
  return new Response(file.body.pipeThrough(ctrStream(ref.key, length)), { headers });
}

// ---- sending files ------------------------------------------------------------------------

export interface Uploaded {
  url: string;
  owner: string;
  /** The storage's fileChecksum, base64, for the attachment's `signature-base64`. */
  signature: string;
}

const PreUploadAnswer = v.looseObject({ 'upload-url': v.pipe(v.string(), v.url()), 'mmcs-url': v.pipe(v.string(), v.minLength(1)), 'mmcs-owner': v.pipe(v.string(), v.minLength(1)) });
const UploadAnswer = v.looseObject({ singleFile: v.looseObject({ fileChecksum: v.pipe(v.string(), v.minLength(1)) }) });

/**
 * Puts one encrypted file on Apple's storage: preUpload for `size` encrypted
 * bytes, then the POST of `body` (exactly that many bytes) to the upload
 * URL it gave. A failure comes back as the send's outcome. `timeoutMs`
 * bounds the upload, which streams its body as the download feeds it, so the
 * caller gives what is left of a deadline sized to the file
 * (apple-media.ts), not a fixed minute.
 */
export async function uploadFile(ctx: ChannelContext<AppleKeys>, base: string, size: number, body: () => BodyInit, timeoutMs = MEDIA_TIMEOUT_MS): Promise<{ ok: true; file: Uploaded } | { ok: false; outcome: Failure }> {
  const { config } = ctx;
  const pre = await callChannel(ctx.fetch, `${base}/v1/preUpload`, {
    headers: { authorization: `Bearer ${await mspToken(config)}`, 'source-id': config.businessId, 'MMCS-Size': String(size) },
  });
  if (!pre.ok) return pre;
  if (!pre.response.ok) return { ok: false, outcome: await classify(pre.response, 'preUpload') };
  const target = v.safeParse(PreUploadAnswer, await jsonBody(pre.response));
  if (!target.success) return { ok: false, outcome: { ok: false, retryable: true, code: 'bad_response', message: 'Apple preUpload answered without upload-url, mmcs-url and mmcs-owner' } };
  // The upload URL is pre-signed storage: no MSP token goes there.
  const put = await callChannel(ctx.fetch, target.output['upload-url'], { method: 'POST', headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' }, body: body() }, timeoutMs);
  if (!put.ok) return put;
  if (!put.response.ok) return { ok: false, outcome: await classify(put.response, 'storage (the upload)') };
  const answer = v.safeParse(UploadAnswer, await jsonBody(put.response));
  if (!answer.success) return { ok: false, outcome: { ok: false, retryable: true, code: 'bad_response', message: "Apple's storage answered the upload without singleFile.fileChecksum" } };
  return { ok: true, file: { url: target.output['mmcs-url'], owner: target.output['mmcs-owner'], signature: answer.output.singleFile.fileChecksum } };
}

/** A large interactive reply: the file's plain bytes go to `/v1/decodePayload`, which answers the interactive data as JSON. */
export async function decodePayload(ctx: ChannelContext<AppleKeys>, base: string, bid: string, bytes: Uint8Array): Promise<unknown> {
  const response = await ctx.fetch(`${base}/v1/decodePayload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await mspToken(ctx.config)}`, 'source-id': ctx.config.businessId, bid, accept: '*/*', 'content-type': 'application/octet-stream' },
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  if (!response.ok) throw new Error(`Apple decodePayload answered HTTP ${response.status}`);
  const decoded = await jsonBody(response);
  if (decoded === undefined) throw new Error('Apple decodePayload answered with a body that is not JSON');
  return decoded;
}
