/**
 * Apple Messages for Business attachments, business to customer (the
 * adapter is apple.ts; the calls and the facts behind them are in
 * apple-wire.ts). Apple takes no file by URL: Parley downloads the file
 * through the outbound policy, encrypts it under a fresh key, puts it on
 * Apple's storage (preUpload, then the upload) and sends a text message whose
 * U+FFFC marks where the attachment shows.
 *
 * A file whose length the download states is encrypted and uploaded as it
 * downloads, so even a 100 MB file never sits in the Worker's 128 MB whole;
 * one that does not state it is read (up to the cap) and encrypted in memory.
 * A file over Apple's 100 MB goes as a link, the one fallback that still
 * gets it to the customer; a file that cannot be downloaded, or that Apple
 * refuses, fails the delivery with what to do.
 */
import type { Part, SendOutcome } from './adapter';
import type { Body } from './apple-encode';
import { ctrStream, aesCtr, newFileKey } from './apple-cipher';
import { uploadFile, type AppleKeys } from './apple-wire';
import type { ChannelContext } from './adapter';
import { MEDIA_TIMEOUT_MS } from './http';
import { OutboundError, redactUrl } from '../http/outbound';
import { readBytes } from '../http/request';

/** Apple's default cap on one attachment, each way (register.apple.com, "Text Message Type"). */
export const ATTACHMENT_MAX_BYTES = 100 * 1024 * 1024;
/** Where an attachment shows in the text: one per attachment, in order. */
export const OBJECT_REPLACEMENT = '\uFFFC';

type Failure = SendOutcome & { ok: false };
type MediaPart = Extract<Part, { kind: 'media' }>;
export type Prepared = { ok: true; body: Body } | { ok: false; outcome: Failure };

class TooLarge extends Error {}

/** The text that carries a file as a link when Apple cannot take it as an attachment. */
const asLink = (part: MediaPart): Body => ({ type: 'text', body: [part.caption, part.url].filter(Boolean).join('\n') });

function downloadFailure(err: unknown, url: string): Failure {
  const where = redactUrl(url);
  if (err instanceof OutboundError && err.kind === 'refused') return { ok: false, retryable: false, code: 'target_refused', message: err.message };
  const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
  const why = timedOut ? `no answer within ${MEDIA_TIMEOUT_MS} ms` : err instanceof Error ? err.message : String(err);
  return { ok: false, retryable: true, code: timedOut ? 'timeout' : 'network_error', message: `Could not download ${where} to send it to Apple: ${why}` };
}

/** The length a download states for its body; a decoded (gzip) answer's content-length counts other bytes. */
function statedLength(response: Response): number | undefined {
  const value = response.headers.get('content-length');
  return !response.headers.get('content-encoding') && value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
}

function fileName(part: MediaPart): string {
  const segment = new URL(part.url).pathname.split('/').pop() ?? '';
  let last = segment;
  try {
    last = decodeURIComponent(segment);
  } catch {
    // A stray % in the URL: the name stays as written.
  }
  return (part.fileName || last || part.media).replace(/[\u0000-\u001f/\\]/g, '_').slice(0, 200);
}

/**
 * The `/v1/message` body that carries one media part: the file uploaded to
 * Apple's storage and attached, its caption before it; or, for a file over
 * Apple's cap, the caption and link as text.
 */
export async function attachmentBody(ctx: ChannelContext<AppleKeys>, base: string, part: MediaPart): Promise<Prepared> {
  let file: Response;
  try {
    file = await ctx.fetch(part.url, { timeoutMs: MEDIA_TIMEOUT_MS, maxBytes: ATTACHMENT_MAX_BYTES, maxRedirects: 3 });
  } catch (err) {
    return { ok: false, outcome: downloadFailure(err, part.url) };
  }
  if (!file.ok) {
    await file.body?.cancel();
    const retryable = file.status >= 500 || file.status === 429;
    const message = `Downloading ${redactUrl(part.url)} to send it to Apple answered HTTP ${file.status}${retryable ? '' : '; make the file reachable at that URL, or send it from another one'}`;
    return { ok: false, outcome: { ok: false, retryable, code: 'media_unavailable', message } };
  }
  const key = newFileKey();
  const stated = statedLength(file);
  let size: number;
  let body: () => BodyInit;
  if (stated !== undefined) {
    if (stated > ATTACHMENT_MAX_BYTES) {
      await file.body?.cancel();
      return { ok: true, body: asLink(part) };
    }
    // CTR keeps the length, so the encrypted size is known before a byte is read and the file can stream through.
    size = stated;
    const source = file.body ?? new Blob([]).stream();
    body = () => source.pipeThrough(ctrStream(key, stated)).pipeThrough(new FixedLengthStream(stated));
  } else {
    let plain: Uint8Array;
    try {
      plain = await readBytes(file, ATTACHMENT_MAX_BYTES, () => new TooLarge());
    } catch (err) {
      if (err instanceof TooLarge || (err instanceof OutboundError && err.kind === 'too_large')) return { ok: true, body: asLink(part) };
      return { ok: false, outcome: downloadFailure(err, part.url) };
    }
    const encrypted = await aesCtr(key, plain);
    size = encrypted.byteLength;
    body = () => encrypted as Uint8Array<ArrayBuffer>;
  }
  if (size === 0) {
    if (file.body && !file.body.locked) await file.body.cancel();
    return { ok: false, outcome: { ok: false, retryable: false, code: 'media_empty', message: `${redactUrl(part.url)} answered an empty file: there is nothing to attach` } };
  }
  const uploaded = await uploadFile(ctx, base, size, body);
  if (!uploaded.ok) {
    // Refused before the upload read it: let the download go.
    if (file.body && !file.body.locked) await file.body.cancel();
    return uploaded;
  }
  const mimeType = part.mimeType ?? file.headers.get('content-type')?.split(';')[0]!.trim() ?? 'application/octet-stream';
  const attachment = { name: fileName(part), mimeType: mimeType || 'application/octet-stream', size: String(size), 'signature-base64': uploaded.file.signature, url: uploaded.file.url, owner: uploaded.file.owner, key };
  return { ok: true, body: { type: 'text', body: part.caption ? `${part.caption}\n${OBJECT_REPLACEMENT}` : OBJECT_REPLACEMENT, attachments: [attachment] } };
}
