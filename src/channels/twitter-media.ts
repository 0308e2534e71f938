/**
 * Attaching media to an X DM: the file is downloaded through the outbound
 * policy (`ctx.fetch`), then uploaded as the account with X's v2 chunked
 * upload, and the DM names the resulting `media_id`. Sources in twitter.ts.
 *
 *   POST /2/media/upload/initialize   JSON {media_type, total_bytes, media_category} → data.id
 *   POST /2/media/upload/{id}/append  multipart {segment_index (0-999), media}, 1 MiB a segment
 *   POST /2/media/upload/{id}/finalize → data.processing_info when X still processes it
 *   GET  /2/media/upload?command=STATUS&media_id= until processing_info.state is succeeded
 *
 * The DM categories and X's limits: `dm_image` (JPEG, PNG, WEBP; 5 MB),
 * `dm_gif` (15 MB), `dm_video` (MP4, QuickTime; 512 MB, of which Parley, which
 * holds the file in memory, takes 100 MiB). A type X does not take
 * (here, or refused by `initialize`) is reported as such so the caller sends
 * the link instead; a file over X's limit is a permanent failure.
 */
import { OutboundError, redactUrl } from '../http/outbound';
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
 * The most of a video Parley holds in memory to upload: the cap media.ts
 * puts on channel media (MEDIA_MAX_BYTES, 100 MiB; importing it here would
 * close an import cycle through the channel registry).
 */
const HELD_MAX_BYTES = 100 * MB;
export const DM_MEDIA_MAX_BYTES: Readonly<Record<DmCategory, number>> = { dm_image: 5 * MB, dm_gif: 15 * MB, dm_video: Math.min(512 * MB, HELD_MAX_BYTES) };
/** How long Parley waits for X to process a video or GIF before trying the delivery again later. */
const STATUS_CHECKS = 6;
const STATUS_WAIT_MAX_S = 10;

export type Uploaded = { ok: true; mediaId: string } | { ok: false; outcome: Failure } | { ok: false; refusedType: string };

/** A media type without parameters; the common non-standard `image/jpg` read as X's `image/jpeg`. */
const typeOf = (header: string | null | undefined) => {
  const type = header?.split(';')[0]!.trim().toLowerCase() || undefined;
  return type === 'image/jpg' ? 'image/jpeg' : type;
};

/** A failed download, classified as callChannel does: a refused target or an oversized file is permanent; a timeout or network fault passes. */
function downloadFailure(err: unknown, url: string, cap: number): Failure {
  if (err instanceof OutboundError && err.kind === 'too_large') return { ok: false, retryable: false, code: 'media_too_large', message: `${redactUrl(url)} is larger than the ${cap} bytes X takes for it` };
  if (err instanceof OutboundError && err.kind === 'refused') return { ok: false, retryable: false, code: 'target_refused', message: err.message };
  const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
  const why = timedOut ? `no answer within ${MEDIA_TIMEOUT_MS} ms` : err instanceof Error ? err.message : String(err);
  return { ok: false, retryable: true, code: timedOut ? 'timeout' : 'network_error', message: `Could not download ${redactUrl(url)} to upload it to X: ${why}` };
}

async function download(ctx: XCtx, url: string, declared: string | undefined): Promise<{ ok: true; bytes: Uint8Array; type: string } | Exclude<Uploaded, { ok: true }>> {
  const known = declared ? DM_MEDIA[declared] : undefined;
  if (declared && !known) return { ok: false, refusedType: declared };
  const cap = known ? DM_MEDIA_MAX_BYTES[known] : Math.max(...Object.values(DM_MEDIA_MAX_BYTES));
  try {
    const file = await ctx.fetch(url, { timeoutMs: MEDIA_TIMEOUT_MS, maxBytes: cap, maxRedirects: 3 });
    if (!file.ok) {
      await file.body?.cancel();
      const retryable = file.status >= 500 || file.status === 429;
      return { ok: false, outcome: { ok: false, retryable, code: 'media_unavailable', message: `Downloading ${redactUrl(url)} to upload it to X answered HTTP ${file.status}` } };
    }
    const type = declared ?? typeOf(file.headers.get('content-type')) ?? 'application/octet-stream';
    const bytes = new Uint8Array(await file.arrayBuffer());
    return { ok: true, bytes, type };
  } catch (err) {
    return { ok: false, outcome: downloadFailure(err, url, cap) };
  }
}

/** Whether X's answer to `initialize` refuses the media type (a v2 invalid request naming media_type or media_category). */
function refusesType(status: number, body: ErrorBody | undefined): boolean {
  if (status !== 400 || !body) return false;
  const named = (body.errors ?? []).some((e) => {
    const parameters = (e as { parameters?: unknown }).parameters;
    return typeof parameters === 'object' && parameters !== null && ('media_type' in parameters || 'media_category' in parameters);
  });
  return named || /media_type|media type/i.test(`${body.detail ?? ''} ${(body.errors ?? []).map((e) => e.message).join(' ')}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits out X's processing of a video or GIF (`processing_info`), reading STATUS when X says to check again. */
async function processed(ctx: XCtx, mediaId: string, info: unknown): Promise<Failure | undefined> {
  for (let check = 0; ; check++) {
    const p = (typeof info === 'object' && info !== null ? info : {}) as { state?: string; check_after_secs?: number; error?: { message?: string } };
    if (p.state === undefined || p.state === 'succeeded') return undefined;
    if (p.state === 'failed') return { ok: false, retryable: false, code: 'media_processing_failed', message: `X could not process the media: ${p.error?.message ?? 'processing failed'}` };
    if (check >= STATUS_CHECKS) return { ok: false, retryable: true, code: 'media_processing', message: `X was still processing the media after ${STATUS_CHECKS} checks` };
    await sleep(Math.min(Math.max(p.check_after_secs ?? 1, 0), STATUS_WAIT_MAX_S) * 1000);
    const status = await userCall(ctx, 'GET', '/2/media/upload', { query: { command: 'STATUS', media_id: mediaId } });
    if (!status.ok) return status.outcome;
    if (!status.response.ok) return failureOf(status.response);
    info = (await dataOf(status.response))?.processing_info;
  }
}

/** The file at `url` uploaded for a DM as the account: its media_id, a failure, or the type X does not take. */
export async function uploadMedia(ctx: XCtx, url: string, mimeType: string | undefined): Promise<Uploaded> {
  const file = await download(ctx, url, typeOf(mimeType));
  if (!file.ok) return file;
  const category = DM_MEDIA[file.type];
  if (!category) return { ok: false, refusedType: file.type };
  if (file.bytes.byteLength > DM_MEDIA_MAX_BYTES[category]) {
    return { ok: false, outcome: { ok: false, retryable: false, code: 'media_too_large', message: `${redactUrl(url)} is larger than the ${DM_MEDIA_MAX_BYTES[category]} bytes X takes for ${category}` } };
  }
  const segments = Math.max(1, Math.ceil(file.bytes.byteLength / CHUNK_BYTES));
  if (segments > MAX_SEGMENTS) return { ok: false, outcome: { ok: false, retryable: false, code: 'media_too_large', message: `${redactUrl(url)} needs more than ${MAX_SEGMENTS} segments` } };

  const init = await userCall(ctx, 'POST', '/2/media/upload/initialize', { json: { media_type: file.type, total_bytes: file.bytes.byteLength, media_category: category } });
  if (!init.ok) return init;
  if (!init.response.ok) {
    if (refusesType(init.response.status, await readError(init.response.clone()))) return { ok: false, refusedType: file.type };
    return { ok: false, outcome: await failureOf(init.response) };
  }
  const mediaId = (await dataOf(init.response))?.id;
  if (typeof mediaId !== 'string' || !/^\d{1,19}$/.test(mediaId)) return { ok: false, outcome: { ok: false, retryable: false, code: 'bad_response', message: 'X answered media initialize without a media id' } };

  const name = (url.split(/[?#]/)[0]!.split('/').pop() || 'media').replace(/[^\w.-]/g, '_');
  for (let i = 0; i < segments; i++) {
    const form = new FormData();
    form.append('segment_index', String(i));
    form.append('media', new Blob([file.bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)], { type: 'application/octet-stream' }), name);
    const appended = await userCall(ctx, 'POST', `/2/media/upload/${mediaId}/append`, { form, timeoutMs: MEDIA_TIMEOUT_MS });
    if (!appended.ok) return appended;
    if (!appended.response.ok) return { ok: false, outcome: await failureOf(appended.response) };
    await appended.response.body?.cancel();
  }

  const finalized = await userCall(ctx, 'POST', `/2/media/upload/${mediaId}/finalize`);
  if (!finalized.ok) return finalized;
  if (!finalized.response.ok) return { ok: false, outcome: await failureOf(finalized.response) };
  const failed = await processed(ctx, mediaId, (await dataOf(finalized.response))?.processing_info);
  return failed ? { ok: false, outcome: failed } : { ok: true, mediaId };
}
