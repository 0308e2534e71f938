/**
 * Attaching media to an X DM: the file is downloaded through the outbound
 * policy (`ctx.fetch`), then uploaded as the account with X's v2 chunked
 * upload, and the DM names the resulting `media_id`. Sources in twitter.ts.
 *
 *   POST /2/media/upload/initialize   JSON {media_type, total_bytes, media_category} → data.id, expires_after_secs
 *   POST /2/media/upload/{id}/append  multipart {segment_index (0-999), media}, 1 MiB a segment
 *   POST /2/media/upload/{id}/finalize → data.processing_info when X still processes it
 *   GET  /2/media/upload?command=STATUS&media_id= after processing_info.check_after_secs, until state is succeeded
 *
 * X keeps an upload for `expires_after_secs` (developer.x.com FINALIZE: "The
 * returned mediaId is only valid for expires_after_secs seconds"). So the
 * media id of a delivery part (the Recipient's `deliveryKey` and the URL) is
 * remembered in this isolate until then: a retry after X was still
 * processing resumes at the STATUS check, and a retry after the DM itself
 * failed attaches the same media, instead of uploading the file again.
 *
 * Memory (a Worker has 128 MB): a download that states its length (and no
 * content-encoding) streams into the APPEND calls 1 MiB at a time, its length
 * checked against the stated one; one that does not is held, up to 32 MiB.
 * The type and the stated size are checked before the body is read.
 *
 * The DM categories and X's limits: `dm_image` (JPEG, PNG, WEBP; 5 MB),
 * `dm_gif` (15 MB), `dm_video` (MP4, QuickTime; 512 MB, of which Parley takes
 * 100 MiB). A type X does not take (here, or refused by `initialize`), a file
 * over its limit, or one of unstated length over 32 MiB is reported as
 * `asLink` so the caller sends the caption and the URL as text: nothing is lost.
 */
import { OutboundError, redactUrl } from '../http/outbound';
import { TtlCache } from '../db/ttl-cache';
import { MEDIA_TIMEOUT_MS } from './http';
import { dataOf, failureOf, readError, userCall, type ErrorBody, type Failure, type XCtx } from './twitter-api';

const MB = 1024 * 1024;
/** Segment size: X's own samples send 1 MB chunks (the v1.1 APPEND allowed up to 5 MB). */
export const CHUNK_BYTES = MB;
const MAX_SEGMENTS = 1000;
export type DmCategory = 'dm_image' | 'dm_gif' | 'dm_video';
/** The media types X documents for DM attachments, by category. */
export const DM_MEDIA: Readonly<Record<string, DmCategory>> = {
  'image/jpeg': 'dm_image',
  'image/png': 'dm_image',
  'image/webp': 'dm_image',
  'image/gif': 'dm_gif',
  'video/mp4': 'dm_video',
  'video/quicktime': 'dm_video',
};
/**
 * The most of a video Parley uploads: the cap media.ts puts on channel media
 * (MEDIA_MAX_BYTES, 100 MiB; importing it here would close an import cycle
 * through the channel registry).
 */
const UPLOAD_MAX_BYTES = 100 * MB;
export const DM_MEDIA_MAX_BYTES: Readonly<Record<DmCategory, number>> = { dm_image: 5 * MB, dm_gif: 15 * MB, dm_video: Math.min(512 * MB, UPLOAD_MAX_BYTES) };
/** The most of a download without a stated length held in memory to count it before `initialize`; a longer one goes as its link. */
export const UNSTATED_MAX_BYTES = 32 * MB;
/** How long one attempt waits for X to process a video or GIF before the delivery is tried again later (resuming at STATUS). */
export const PROCESSING_DEADLINE_MS = 5 * 60_000;
/** At most this many STATUS checks an attempt, however short X's check_after_secs: STATUS is rate limited. */
const STATUS_CHECKS_MAX = 300;
/** X's check_after_secs is honoured up to this (a longer one is cut to it, so the deadline is checked against). */
const STATUS_WAIT_MAX_S = 60;
/**
 * The download is read while it is uploaded (1 MiB to X, then the next), so
 * its timeout covers the whole upload of up to 100 segments, not one answer.
 */
const DOWNLOAD_TIMEOUT_MS = Math.max(MEDIA_TIMEOUT_MS, PROCESSING_DEADLINE_MS);
/** A remembered media id is not used this close to X's expiry: the DM might reach X after it. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

/** `asLink`: why the file goes as its URL instead (a type or size X does not take). */
export type Uploaded = { ok: true; mediaId: string } | { ok: false; outcome: Failure } | { ok: false; asLink: string };
type NotUploaded = Exclude<Uploaded, { ok: true }>;

/** A media type without parameters; the common non-standard `image/jpg` read as X's `image/jpeg`. */
const typeOf = (header: string | null | undefined) => {
  const type = header?.split(';')[0]!.trim().toLowerCase() || undefined;
  return type === 'image/jpg' ? 'image/jpeg' : type;
};

// ---- media ids X already holds -----------------------------------------------------------

/** An upload X holds for a delivery part: `ready` once processed (or never needing it); `expiresAt` from X's expires_after_secs. */
interface Held {
  mediaId: string;
  ready: boolean;
  expiresAt: number;
}
/** Nothing here depends on a D1 row: the entries only expire (X's longest expiry is a day). */
const held = new TtlCache<Held | undefined>({ ttlMs: 24 * 3_600_000, missMs: 0, tags: () => [], max: 2_000 });
const heldKey = (deliveryKey: string, url: string) => `x-media\n${deliveryKey}\n${url}`;

async function recall(key: string | undefined): Promise<Held | undefined> {
  if (!key) return undefined;
  const entry = await held.read(key, async () => undefined);
  if (entry && entry.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return entry;
  if (entry) held.delete(key);
  return undefined;
}

function remember(key: string | undefined, entry: Held): void {
  if (!key) return;
  held.delete(key);
  void held.read(key, async () => entry);
}

/** When X drops the upload: `expires_after_secs` from its answer, else the hour its STATUS example shows. */
const expiryOf = (data: Record<string, unknown> | undefined, fallback = Date.now() + 3_600_000) => {
  const secs = data?.expires_after_secs;
  return typeof secs === 'number' && secs > 0 ? Date.now() + secs * 1000 : fallback;
};

// ---- the download ------------------------------------------------------------------------

/** A failed download, classified as callChannel does: a refused target is permanent; a timeout or network fault passes. */
function downloadFailure(err: unknown, url: string): NotUploaded {
  if (err instanceof OutboundError && err.kind === 'too_large') return { ok: false, asLink: `${redactUrl(url)} is larger than the ${UPLOAD_MAX_BYTES} bytes Parley uploads to X` };
  if (err instanceof OutboundError && err.kind === 'refused') return { ok: false, outcome: { ok: false, retryable: false, code: 'target_refused', message: err.message } };
  const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
  const why = timedOut ? `not downloaded within ${DOWNLOAD_TIMEOUT_MS} ms` : err instanceof Error ? err.message : String(err);
  return { ok: false, outcome: { ok: false, retryable: true, code: timedOut ? 'timeout' : 'network_error', message: `Could not download ${redactUrl(url)} to upload it to X: ${why}` } };
}

/** A file about to be uploaded: its type and category, its length, and its bytes as 1 MiB segments (read from the body as they are asked for). */
interface Source {
  type: string;
  category: DmCategory;
  total: number;
  segments: () => AsyncGenerator<Uint8Array>;
  /** Stops the download when the upload stops early. */
  cancel: () => Promise<void>;
}

const tooLarge = (url: string, limit: number, category: string): NotUploaded => ({ ok: false, asLink: `${redactUrl(url)} is larger than the ${limit} bytes X takes for ${category}` });

/** The stated length of an answer whose body is the file as is (no content-encoding), else undefined. */
function statedLength(headers: Headers): number | undefined {
  const encoding = headers.get('content-encoding')?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') return undefined;
  const length = headers.get('content-length')?.trim();
  return length && /^\d{1,15}$/.test(length) ? Number(length) : undefined;
}

/** Reads the body in 1 MiB segments, refusing one longer or shorter than `total` (the stated length). */
async function* segmentsOf(reader: ReadableStreamDefaultReader<Uint8Array>, total: number, url: string): AsyncGenerator<Uint8Array> {
  let segment = new Uint8Array(Math.min(CHUNK_BYTES, total));
  let filled = 0;
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    read += value.byteLength;
    if (read > total) throw new LengthMismatch(`${redactUrl(url)} sent more than the ${total} bytes it stated`, false);
    for (let at = 0; at < value.byteLength; ) {
      const n = Math.min(segment.byteLength - filled, value.byteLength - at);
      segment.set(value.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === segment.byteLength) {
        yield segment;
        segment = new Uint8Array(Math.min(CHUNK_BYTES, total - read + (value.byteLength - at)));
        filled = 0;
      }
    }
  }
  // A body cut short: the connection may have dropped, so this one is worth a retry.
  if (read < total) throw new LengthMismatch(`${redactUrl(url)} ended after ${read} of the ${total} bytes it stated`, true);
}

class LengthMismatch extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** Reads a body without a stated length, up to `max` bytes; undefined when it is longer (the body is cancelled). */
async function readAtMost(body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

/** Opens the download: type and stated size are checked before any of the body is read (and the body cancelled when refused). */
async function open(ctx: XCtx, url: string, declared: string | undefined): Promise<{ ok: true; source: Source } | NotUploaded> {
  if (declared && !DM_MEDIA[declared]) return { ok: false, asLink: `X does not take ${declared} in a DM` };
  let file: Response;
  try {
    file = await ctx.fetch(url, { timeoutMs: DOWNLOAD_TIMEOUT_MS, maxBytes: UPLOAD_MAX_BYTES, maxRedirects: 3 });
  } catch (err) {
    return downloadFailure(err, url);
  }
  const refuse = async (why: NotUploaded) => (await file.body?.cancel(), why);
  if (!file.ok) {
    const retryable = file.status >= 500 || file.status === 429;
    return refuse({ ok: false, outcome: { ok: false, retryable, code: 'media_unavailable', message: `Downloading ${redactUrl(url)} to upload it to X answered HTTP ${file.status}` } });
  }
  const type = declared ?? typeOf(file.headers.get('content-type')) ?? 'application/octet-stream';
  const category = DM_MEDIA[type];
  if (!category) return refuse({ ok: false, asLink: `X does not take ${type} in a DM` });
  const limit = DM_MEDIA_MAX_BYTES[category];
  const stated = statedLength(file.headers);
  if (stated !== undefined && stated > limit) return refuse(tooLarge(url, limit, category));
  if (stated === 0 || !file.body) return refuse({ ok: false, outcome: { ok: false, retryable: false, code: 'media_unavailable', message: `${redactUrl(url)} is empty` } });
  if (stated !== undefined) {
    const reader = file.body.getReader();
    return { ok: true, source: { type, category, total: stated, segments: () => segmentsOf(reader, stated, url), cancel: () => reader.cancel().catch(() => undefined) } };
  }
  // No stated length: X needs total_bytes first, so the file is counted in memory, within a bound.
  const max = Math.min(limit, UNSTATED_MAX_BYTES);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readAtMost(file.body, max);
  } catch (err) {
    return downloadFailure(err, url);
  }
  if (!bytes) return limit > max ? { ok: false, asLink: `${redactUrl(url)} states no length and is over the ${max} bytes Parley holds to upload it to X` } : tooLarge(url, limit, category);
  if (bytes.byteLength === 0) return { ok: false, outcome: { ok: false, retryable: false, code: 'media_unavailable', message: `${redactUrl(url)} is empty` } };
  const whole = bytes;
  async function* slices() {
    for (let at = 0; at < whole.byteLength; at += CHUNK_BYTES) yield whole.subarray(at, at + CHUNK_BYTES);
  }
  return { ok: true, source: { type, category, total: whole.byteLength, segments: slices, cancel: async () => undefined } };
}

// ---- the upload --------------------------------------------------------------------------

/** Whether X's answer to `initialize` refuses the type or the size (a v2 invalid request naming media_type, media_category or total_bytes). */
function refusesFile(status: number, body: ErrorBody | undefined): boolean {
  if (status !== 400 || !body) return false;
  const named = (body.errors ?? []).some((e) => {
    const parameters = (e as { parameters?: unknown }).parameters;
    return typeof parameters === 'object' && parameters !== null && ('media_type' in parameters || 'media_category' in parameters || 'total_bytes' in parameters);
  });
  return named || /media_type|media type|total_bytes/i.test(`${body.detail ?? ''} ${(body.errors ?? []).map((e) => e.message).join(' ')}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type ProcessingInfo = { state?: string; check_after_secs?: number; error?: { message?: string } };

/**
 * Waits out X's processing of a video or GIF, reading STATUS after each
 * check_after_secs, until it succeeds, fails, or the attempt's deadline
 * passes (then the delivery is retried later and resumes here).
 */
async function processed(ctx: XCtx, mediaId: string, info: unknown, key: string | undefined, expiresAt: number): Promise<Failure | undefined> {
  const deadline = Date.now() + PROCESSING_DEADLINE_MS;
  for (let check = 0; ; check++) {
    const p = (typeof info === 'object' && info !== null ? info : {}) as ProcessingInfo;
    if (p.state === undefined || p.state === 'succeeded') return undefined;
    if (p.state === 'failed') return { ok: false, retryable: false, code: 'media_processing_failed', message: `X could not process the media: ${p.error?.message ?? 'processing failed'}` };
    const waitMs = Math.min(Math.max(Number(p.check_after_secs) || 0, 0), STATUS_WAIT_MAX_S) * 1000;
    if (check >= STATUS_CHECKS_MAX || Date.now() + waitMs > deadline) {
      return { ok: false, retryable: true, code: 'media_processing', message: `X was still processing the media after ${check} checks`, retryAfterMs: waitMs };
    }
    if (waitMs > 0) await sleep(waitMs);
    const status = await userCall(ctx, 'GET', '/2/media/upload', { query: { command: 'STATUS', media_id: mediaId } });
    if (!status.ok) return status.outcome;
    if (!status.response.ok) return failureOf(status.response);
    const data = await dataOf(status.response);
    info = data?.processing_info;
    expiresAt = expiryOf(data, expiresAt);
    remember(key, { mediaId, ready: false, expiresAt });
  }
}

/** A remembered upload resumed: ready, still processing, or gone (undefined: upload afresh). */
async function resume(ctx: XCtx, key: string, entry: Held): Promise<Uploaded | undefined> {
  if (entry.ready) return { ok: true, mediaId: entry.mediaId };
  const failed = await processed(ctx, entry.mediaId, { state: 'pending', check_after_secs: 0 }, key, entry.expiresAt);
  if (!failed) {
    remember(key, { ...entry, ready: true });
    return { ok: true, mediaId: entry.mediaId };
  }
  if (failed.retryable) return { ok: false, outcome: failed };
  held.delete(key);
  // X no longer knows the id (a 4xx on STATUS): the file is uploaded again; processing that failed stays a failure.
  return failed.code === 'media_processing_failed' ? { ok: false, outcome: failed } : undefined;
}

/** Appends the source's segments, stopping the download if X refuses one. */
async function appendAll(ctx: XCtx, mediaId: string, source: Source, url: string): Promise<NotUploaded | undefined> {
  const name = (url.split(/[?#]/)[0]!.split('/').pop() || 'media').replace(/[^\w.-]/g, '_');
  let index = 0;
  try {
    for await (const segment of source.segments()) {
      if (index >= MAX_SEGMENTS) throw new LengthMismatch(`${redactUrl(url)} needs more than ${MAX_SEGMENTS} segments`, false);
      const form = new FormData();
      form.append('segment_index', String(index++));
      form.append('media', new Blob([segment as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), name);
      const appended = await userCall(ctx, 'POST', `/2/media/upload/${mediaId}/append`, { form, timeoutMs: MEDIA_TIMEOUT_MS });
      if (!appended.ok) return (await source.cancel(), appended);
      if (!appended.response.ok) return (await source.cancel(), { ok: false, outcome: await failureOf(appended.response) });
      await appended.response.body?.cancel();
    }
  } catch (err) {
    await source.cancel();
    if (err instanceof LengthMismatch) return { ok: false, outcome: { ok: false, retryable: err.retryable, code: 'media_length_mismatch', message: err.message } };
    return downloadFailure(err, url);
  }
  return undefined;
}

/**
 * The file at `url` uploaded for a DM as the account: its media_id, a
 * failure, or why it goes as a link. `deliveryKey` names the delivery part,
 * so a retry resumes an upload X already holds.
 */
export async function uploadMedia(ctx: XCtx, url: string, mimeType: string | undefined, deliveryKey?: string): Promise<Uploaded> {
  const key = deliveryKey ? heldKey(deliveryKey, url) : undefined;
  const known = await recall(key);
  if (known && key) {
    const resumed = await resume(ctx, key, known);
    if (resumed) return resumed;
  }
  const opened = await open(ctx, url, typeOf(mimeType));
  if (!opened.ok) return opened;
  const { source } = opened;

  const init = await userCall(ctx, 'POST', '/2/media/upload/initialize', { json: { media_type: source.type, total_bytes: source.total, media_category: source.category } });
  if (!init.ok) return (await source.cancel(), init);
  if (!init.response.ok) {
    await source.cancel();
    if (refusesFile(init.response.status, await readError(init.response.clone()))) return { ok: false, asLink: `X refused ${source.type} of ${source.total} bytes at initialize` };
    return { ok: false, outcome: await failureOf(init.response) };
  }
  const initData = await dataOf(init.response);
  const mediaId = initData?.id;
  if (typeof mediaId !== 'string' || !/^\d{1,19}$/.test(mediaId)) {
    await source.cancel();
    return { ok: false, outcome: { ok: false, retryable: false, code: 'bad_response', message: 'X answered media initialize without a media id' } };
  }

  const appendFailed = await appendAll(ctx, mediaId, source, url);
  if (appendFailed) return appendFailed;

  const finalized = await userCall(ctx, 'POST', `/2/media/upload/${mediaId}/finalize`);
  if (!finalized.ok) return finalized;
  if (!finalized.response.ok) return { ok: false, outcome: await failureOf(finalized.response) };
  const data = await dataOf(finalized.response);
  const expiresAt = expiryOf(data, expiryOf(initData));
  const info = data?.processing_info as ProcessingInfo | undefined;
  remember(key, { mediaId, ready: !info?.state || info.state === 'succeeded', expiresAt });
  const failed = await processed(ctx, mediaId, info, key, expiresAt);
  if (failed) {
    if (!failed.retryable && key) held.delete(key);
    return { ok: false, outcome: failed };
  }
  remember(key, { mediaId, ready: true, expiresAt });
  return { ok: true, mediaId };
}
