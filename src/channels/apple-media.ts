/**
 * Apple Messages for Business attachments, business to customer (the
 * adapter is apple.ts; the calls and the facts behind them are in
 * apple-wire.ts). Apple takes no file by URL: Parley downloads the file
 * through the outbound policy, encrypts it under a fresh key, puts it on
 * Apple's storage (preUpload, then the upload) and sends a text message whose
 * U+FFFC marks where the attachment shows.
 *
 * A file whose length the download states is encrypted and uploaded as it
 * downloads, so even a 100 MB file never sits in the Worker's 128 MB whole.
 * One that does not state it (chunked, or gzip-encoded so the stated length
 * counts other bytes) is encrypted as it arrives into one buffer of at most
 * 32 MiB, then uploaded: plain and encrypted copies of a large file would
 * crash the isolate, and crash it again on every retry. A file over Apple's
 * 100 MB, or an unstated one past 32 MiB, goes as a link, the one fallback
 * that still gets it to the customer; a file that cannot be downloaded, or
 * that Apple refuses, fails the delivery with what to do.
 *
 * The download, the encryption and the upload are one stream, so one
 * deadline covers them all, sized to the file (`transferDeadlineMs`): a flat
 * minute would time out a 100 MB file from a slower origin on every retry.
 * The deliveries consumer keeps the delivery's lease while a send runs.
 */
import type { Part, SendOutcome } from './adapter';
import type { Body } from './apple-encode';
import { ctrStream, newFileKey } from './apple-cipher';
import { uploadFile, type AppleKeys } from './apple-wire';
import type { ChannelContext } from './adapter';
import { MEDIA_TIMEOUT_MS } from './http';
import { OutboundError, redactUrl } from '../http/outbound';

const MIB = 1024 * 1024;
/** Apple's default cap on one attachment, each way (register.apple.com, "Text Message Type"). */
export const ATTACHMENT_MAX_BYTES = 100 * MIB;
/** The most a download that states no length is buffered (encrypted) before it goes as a link instead. */
export const UNSTATED_MAX_BYTES = 32 * MIB;
/** The longest one attachment's download-encrypt-upload may take, however large. */
export const TRANSFER_MAX_MS = 10 * 60_000;
/** Where an attachment shows in the text: one per attachment, in order. */
export const OBJECT_REPLACEMENT = '\uFFFC';

type Failure = SendOutcome & { ok: false };
type MediaPart = Extract<Part, { kind: 'media' }>;
export type Prepared = { ok: true; body: Body } | { ok: false; outcome: Failure };
/** The deadline, in ms, for moving a file of `bytes` (undefined: the download did not state it). */
export type DeadlineMs = (bytes: number | undefined) => number;

/**
 * How long one attachment may take from the download's first byte to the
 * upload's answer: a minute, plus a second per MiB (a steady 1 MiB/s origin
 * and upload get through), capped at ten minutes. Zero bytes is the wait for
 * the download to answer at all; an unstated length counts as the 32 MiB it
 * may be buffered to.
 */
export function transferDeadlineMs(bytes: number | undefined): number {
  const mib = Math.ceil((bytes ?? UNSTATED_MAX_BYTES) / MIB);
  return Math.min(MEDIA_TIMEOUT_MS + 1000 * mib, TRANSFER_MAX_MS);
}

/** One attachment's deadline: an abort signal that fires when it passes, moved once the file's size is known. */
class Deadline {
  private readonly controller = new AbortController();
  private readonly started = Date.now();
  private timer: ReturnType<typeof setTimeout> | undefined;
  readonly signal = this.controller.signal;

  constructor(public limitMs: number) {
    this.arm();
  }

  /** Sets the limit, still counted from the start. */
  set(limitMs: number): void {
    this.limitMs = limitMs;
    this.arm();
  }

  remainingMs(): number {
    return Math.max(1, this.started + this.limitMs - Date.now());
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private arm(): void {
    this.stop();
    // TimeoutError, as AbortSignal.timeout names it: the failure reads as a timeout, which is retryable.
    this.timer = setTimeout(() => this.controller.abort(new DOMException(`the file was not moved within ${this.limitMs} ms`, 'TimeoutError')), this.remainingMs());
  }
}

/** The text that carries a file as a link when Apple cannot take it as an attachment. */
const asLink = (part: MediaPart): Body => ({ type: 'text', body: [part.caption, part.url].filter(Boolean).join('\n') });

const isTimeout = (err: unknown) => err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');

function timedOut(url: string, limitMs: number): Failure {
  return { ok: false, retryable: true, code: 'timeout', message: `Could not download ${redactUrl(url)}, encrypt it and upload it to Apple within ${limitMs} ms` };
}

function downloadFailure(err: unknown, url: string, limitMs: number): Failure {
  if (err instanceof OutboundError && err.kind === 'refused') return { ok: false, retryable: false, code: 'target_refused', message: err.message };
  if (isTimeout(err)) return timedOut(url, limitMs);
  return { ok: false, retryable: true, code: 'network_error', message: `Could not download ${redactUrl(url)} to send it to Apple: ${err instanceof Error ? err.message : String(err)}` };
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
 * The stream cut off when the deadline passes: its pending read fails with
 * the deadline's reason and the source is cancelled. (A pipe's own `signal`
 * option does not end a read the source never answers, in workerd.)
 */
function untilDeadline(source: ReadableStream<Uint8Array>, signal: AbortSignal): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  const passed = new Promise<never>((_, reject) => {
    const fail = () => reject(signal.reason);
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
  passed.catch(() => undefined);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await Promise.race([reader.read(), passed]);
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (err) {
        controller.error(err);
        await reader.cancel(err).catch(() => undefined);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/**
 * Encrypts a download of unstated length as it arrives, keeping only the
 * encrypted chunks (one copy, at most UNSTATED_MAX_BYTES); undefined when it
 * runs past that.
 */
async function encryptUnstated(source: ReadableStream<Uint8Array>, key: string, signal: AbortSignal): Promise<{ chunks: Uint8Array[]; size: number } | undefined> {
  const reader = untilDeadline(source, signal).pipeThrough(ctrStream(key)).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { chunks, size };
    size += value.byteLength;
    if (size > UNSTATED_MAX_BYTES) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
}

/** The buffered chunks as an upload body of exactly `size` bytes. */
function replay(chunks: Uint8Array[], size: number, signal: AbortSignal): ReadableStream<Uint8Array> {
  let next = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < chunks.length) controller.enqueue(chunks[next++]!);
      else controller.close();
    },
  });
  return untilDeadline(source, signal).pipeThrough(new FixedLengthStream(size));
}

/**
 * The `/v1/message` body that carries one media part: the file uploaded to
 * Apple's storage and attached, its caption before it; or, for a file over
 * Apple's cap (or an unstated one over the buffer), the caption and link as
 * text. `deadlineMs` is injectable for tests; it is transferDeadlineMs.
 */
export async function attachmentBody(ctx: ChannelContext<AppleKeys>, base: string, part: MediaPart, deadlineMs: DeadlineMs = transferDeadlineMs): Promise<Prepared> {
  const deadline = new Deadline(deadlineMs(0));
  try {
    return await transfer(ctx, base, part, deadline, deadlineMs);
  } finally {
    deadline.stop();
  }
}

async function transfer(ctx: ChannelContext<AppleKeys>, base: string, part: MediaPart, deadline: Deadline, deadlineMs: DeadlineMs): Promise<Prepared> {
  const { signal } = deadline;
  let file: Response;
  try {
    // The deadline's signal bounds the download, body included; the fetch's own timer is only a backstop.
    file = await ctx.fetch(part.url, { timeoutMs: TRANSFER_MAX_MS, signal, maxBytes: ATTACHMENT_MAX_BYTES, maxRedirects: 3 });
  } catch (err) {
    return { ok: false, outcome: downloadFailure(err, part.url, deadline.limitMs) };
  }
  if (!file.ok) {
    await file.body?.cancel();
    const retryable = file.status >= 500 || file.status === 429;
    const message = `Downloading ${redactUrl(part.url)} to send it to Apple answered HTTP ${file.status}${retryable ? '' : '; make the file reachable at that URL, or send it from another one'}`;
    return { ok: false, outcome: { ok: false, retryable, code: 'media_unavailable', message } };
  }
  const key = newFileKey();
  const stated = statedLength(file);
  const source = file.body ?? new Blob([]).stream();
  let size: number;
  let body: () => BodyInit;
  if (stated !== undefined) {
    if (stated > ATTACHMENT_MAX_BYTES) {
      await source.cancel();
      return { ok: true, body: asLink(part) };
    }
    deadline.set(deadlineMs(stated));
    // CTR keeps the length, so the encrypted size is known before a byte is read and the file can stream through.
    size = stated;
    body = () => untilDeadline(source, signal).pipeThrough(ctrStream(key, stated)).pipeThrough(new FixedLengthStream(stated));
  } else {
    deadline.set(deadlineMs(undefined));
    let encrypted: Awaited<ReturnType<typeof encryptUnstated>>;
    try {
      encrypted = await encryptUnstated(source, key, signal);
    } catch (err) {
      if (err instanceof OutboundError && err.kind === 'too_large') return { ok: true, body: asLink(part) };
      return { ok: false, outcome: downloadFailure(err, part.url, deadline.limitMs) };
    }
    if (!encrypted) return { ok: true, body: asLink(part) };
    const { chunks, size: total } = encrypted;
    size = total;
    body = () => replay(chunks, total, signal);
  }
  if (size === 0) {
    if (!source.locked) await source.cancel();
    return { ok: false, outcome: { ok: false, retryable: false, code: 'media_empty', message: `${redactUrl(part.url)} answered an empty file: there is nothing to attach` } };
  }
  const uploaded = await uploadFile(ctx, base, size, body, deadline.remainingMs());
  if (!uploaded.ok) {
    // Refused before the upload read it: let the download go.
    if (!source.locked) await source.cancel();
    return signal.aborted ? { ok: false, outcome: timedOut(part.url, deadline.limitMs) } : uploaded;
  }
  const mimeType = part.mimeType ?? file.headers.get('content-type')?.split(';')[0]!.trim() ?? 'application/octet-stream';
  const attachment = { name: fileName(part), mimeType: mimeType || 'application/octet-stream', size: String(size), 'signature-base64': uploaded.file.signature, url: uploaded.file.url, owner: uploaded.file.owner, key };
  return { ok: true, body: { type: 'text', body: part.caption ? `${part.caption}\n${OBJECT_REPLACEMENT}` : OBJECT_REPLACEMENT, attachments: [attachment] } };
}
