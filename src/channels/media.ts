/**
 * Inbound media, served from Parley. A channel's media is private (WhatsApp
 * media ids, Telegram file ids, Twilio URLs behind Basic auth) or expiring
 * (Messenger's signed CDN links), so a stored message never carries the
 * channel's URL. It carries `/media/{integrationId}/{token}/{name}`, where the
 * token names the channel's reference and is signed with a key derived from
 * MASTER_KEY, so nobody can make Parley fetch anything else. The bytes are
 * copied into R2 right after the webhook is acknowledged, and on first GET if
 * that copy has not happened yet; after that R2 serves them, with the
 * headers uploads get (`nosniff`, a sandboxing CSP, a download unless the
 * type is a picture, audio, video, PDF or plain text).
 *
 * The token also names the user who sent the file and when, and the copy is
 * kept under that user (`media/{appId}/{userId}/...`), so it goes with them
 * as web uploads do: deleting the user or the app, or scrubbing the user's
 * personal information, deletes the copies, and the URL then answers 404
 * without downloading the file from the channel again. URLs made before
 * media had owners carry no user and are served as before.
 */
import { deleteUnder, servedFileHeaders } from '../api/attachments';
import type { Env } from '../env';
import { notFound, StatusError } from '../http/errors';
import { readBytes } from '../http/request';
import { ID_PATTERN } from '../ids';
import { appTag, TtlCache } from '../db/ttl-cache';
import { findUserById } from '../db/users';
import { type InboundMedia } from './adapter';
import { channelContext } from './http';
import { fromBase64Url, hmac, safeEqual, sha256Hex, toBase64Url } from './signing';
import { channelIntegration, type ChannelIntegration } from './store';
import { recordMediaPut } from '../db/insights-usage';

/** The most Parley copies of one inbound file (the largest any supported channel delivers is 100 MB on WhatsApp documents). */
export const MEDIA_MAX_BYTES = 100 * 1024 * 1024;
/** Channels hand media out through a redirect or two (Twilio to its media host); the outbound policy checks each hop and sends no credentials past the first. */
const MEDIA_DOWNLOAD = { maxBytes: MEDIA_MAX_BYTES, maxRedirects: 3 };

interface MediaToken {
  r: string;
  m?: string;
  n?: string;
  /** The user who sent it and when the URL was made (ms). */
  u?: string;
  t?: number;
}


async function signature(env: Env, integrationId: string, body: string): Promise<string> {
  if (!env.MASTER_KEY) throw new StatusError(500, 'configuration_error', 'MASTER_KEY is not set');
  return toBase64Url(await hmac('SHA-256', `parley-media:${env.MASTER_KEY}`, `${integrationId}.${body}`)).slice(0, 32);
}

const safeName = (name: string | undefined, kind: string) => (name ?? kind).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || kind;

/** The Parley URL a stored message carries for one inbound media item. */
export async function mediaUrl(env: Env, integration: ChannelIntegration, media: InboundMedia, userId: string): Promise<string> {
  const token: MediaToken = { r: media.ref, ...(media.mimeType ? { m: media.mimeType } : {}), ...(media.fileName ? { n: media.fileName } : {}), u: userId, t: Date.now() };
  const body = toBase64Url(new TextEncoder().encode(JSON.stringify(token)));
  const base = new URL(integration.webhookUrl).origin;
  return `${base}/media/${integration.id}/${body}.${await signature(env, integration.id, body)}/${encodeURIComponent(safeName(media.fileName, media.kind))}`;
}

const appPrefix = (appId: string) => `media/${appId}/`;
const ownerPrefix = (appId: string, userId: string) => `${appPrefix(appId)}${userId}/`;
/** When the user's personal information was last scrubbed; media whose URL is older is not served. */
const scrubMarker = (appId: string, userId: string) => `${ownerPrefix(appId, userId)}scrubbed`;

/** Under its owner, so a user's or an app's media is one prefix to delete; ownerless (older) URLs under their integration. */
async function objectKey(integration: ChannelIntegration, token: string, parsed: MediaToken): Promise<string> {
  const hash = await sha256Hex(token);
  return parsed.u ? `${ownerPrefix(integration.appId, parsed.u)}${integration.id}/${hash}` : `media/${integration.id}/${hash}`;
}

/** A media owner as deletion left them: undefined once the user is gone. */
type Owner = { scrubbedAt?: number } | undefined;

// A deleted user never comes back, so their absence is remembered as long as their presence.
const owners = new TtlCache<Owner>({ ttlMs: 30_000, missMs: 30_000, tags: (_, key) => [appTag(key.split('/')[0]!)] });

async function readOwner(env: Env, appId: string, userId: string): Promise<Owner> {
  const [user, marker] = await Promise.all([findUserById(env, appId, userId), env.ATTACHMENTS.head(scrubMarker(appId, userId))]);
  if (!user) return undefined;
  const at = Number(marker?.customMetadata?.at);
  return Number.isFinite(at) ? { scrubbedAt: at } : {};
}

/** Whether the token's owner still lets it be served; `fresh` skips this isolate's cache (before and after a download). */
async function ownerAllows(env: Env, appId: string, parsed: MediaToken, fresh: boolean): Promise<boolean> {
  if (!parsed.u) return true;
  const key = `${appId}/${parsed.u}`;
  if (fresh) owners.delete(key);
  const owner = await owners.read(key, () => readOwner(env, appId, parsed.u!));
  return owner !== undefined && (owner.scrubbedAt === undefined || (parsed.t ?? 0) > owner.scrubbedAt);
}

/**
 * The stored copy of one media item, copied from the channel first when R2
 * has none; undefined when its owner no longer lets it be served. Nothing is
 * downloaded for a deleted or scrubbed owner (the channel may still hold the
 * file; Parley must not bring it back), and a copy that raced the deletion
 * is deleted after it. The prefetch skips the first check: the user was
 * resolved a moment ago.
 */
async function copy(env: Env, integration: ChannelIntegration, token: string, parsed: MediaToken, checkFirst: boolean): Promise<R2ObjectBody | undefined> {
  const key = await objectKey(integration, token, parsed);
  const existing = await env.ATTACHMENTS.get(key);
  if (existing) {
    if (await ownerAllows(env, integration.appId, parsed, false)) return existing;
    await existing.body.cancel();
    return undefined;
  }
  if (checkFirst && !(await ownerAllows(env, integration.appId, parsed, true))) return undefined;
  if (!integration.adapter.fetchMedia) throw new StatusError(502, 'bad_gateway', `The ${integration.type} channel cannot download media`);
  const response = await integration.adapter.fetchMedia(channelContext(env, integration.adapter, integration.config, integration.webhookUrl, MEDIA_DOWNLOAD), parsed.r).catch((err: unknown) => {
    throw new StatusError(502, 'bad_gateway', `The ${integration.type} channel could not provide the file (${err instanceof Error ? err.message : String(err)}); it may have expired there before Parley copied it`);
  });
  const contentType = parsed.m ?? response.headers.get('content-type') ?? 'application/octet-stream';
  const size = await store(env, key, response, contentType);
  await recordMediaPut(env.DB, integration.appId, key, size);
  // Checked after the put: a deletion that lists the prefix later sees this copy, one that listed earlier is seen here.
  if (!(await ownerAllows(env, integration.appId, parsed, true))) {
    await env.ATTACHMENTS.delete(key);
    return undefined;
  }
  return (await env.ATTACHMENTS.get(key)) ?? undefined;
}

/**
 * Puts the channel's file into R2; its size. A body whose length the answer
 * states (and that is not a decoded gzip, whose content-length counts other
 * bytes) streams straight in, so a 100 MB file never sits in the isolate's
 * memory; R2 then refuses any other length. Others are read up to the cap.
 */
async function store(env: Env, key: string, response: Response, contentType: string): Promise<number> {
  const tooLarge = () => new StatusError(502, 'bad_gateway', `The channel's file is larger than ${MEDIA_MAX_BYTES} bytes`);
  const stated = response.headers.get('content-length');
  if (response.body && stated !== null && /^\d+$/.test(stated) && !response.headers.get('content-encoding')) {
    const length = Number(stated);
    if (length > MEDIA_MAX_BYTES) {
      await response.body.cancel();
      throw tooLarge();
    }
    // Piped by hand so the pipe's own failure (a body longer or shorter than stated, a broken download) is handled here:
    // it fails R2's put too, which answers the 502; left to pipeThrough it would surface as an unhandled rejection.
    const { readable, writable } = new FixedLengthStream(length);
    const piped = response.body.pipeTo(writable).then(
      () => undefined,
      (err: unknown) => err,
    );
    const put = await env.ATTACHMENTS.put(key, readable, { httpMetadata: { contentType } }).then(
      () => undefined,
      (err: unknown) => err ?? new Error('R2 refused the file'),
    );
    const failed = put ?? (await piped);
    if (failed) throw new StatusError(502, 'bad_gateway', `The channel's file could not be copied (${failed instanceof Error ? failed.message : String(failed)})`);
    return length;
  }
  const bytes = await readBytes(response, MEDIA_MAX_BYTES, tooLarge);
  await env.ATTACHMENTS.put(key, bytes, { httpMetadata: { contentType } });
  return bytes.byteLength;
}

async function readToken(env: Env, integrationId: string, token: string): Promise<MediaToken | undefined> {
  const [body, sig] = token.split('.');
  if (!body || !sig || !safeEqual(sig, await signature(env, integrationId, body))) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(fromBase64Url(body))) as MediaToken;
  } catch {
    return undefined;
  }
}

/** Copies freshly received media into R2 after the webhook was acknowledged; a failure is retried by the first GET. */
export async function prefetchMedia(env: Env, integration: ChannelIntegration, url: string): Promise<void> {
  const token = new URL(url).pathname.split('/')[3]!;
  const parsed = await readToken(env, integration.id, token);
  if (!parsed) return;
  await copy(env, integration, token, parsed, false).catch((err: unknown) => {
    console.error(`media copy for integration ${integration.id} failed; the first download will retry`, err instanceof Error ? err.message : String(err));
  });
}

/** `GET /media/{integrationId}/{token}/{name}`: public by unguessable, signed URL, like the channel's own media links. */
export async function serveMedia(request: Request & { params: Record<string, string> }, env: Env): Promise<Response> {
  const { integrationId, token } = request.params as { integrationId: string; token: string };
  const missing = () => notFound('media_not_found', 'Media not found');
  if (!ID_PATTERN.test(integrationId)) throw missing();
  const parsed = await readToken(env, integrationId, token);
  if (!parsed) throw missing();
  const integration = await channelIntegration(env, integrationId);
  if (!integration) throw missing();
  const object = await copy(env, integration, token, parsed, true);
  if (!object) throw missing();
  // The type is whatever the channel said; it is served as uploads are, so a channel's text/html never runs on Parley's origin.
  const type = object.httpMetadata?.contentType ?? 'application/octet-stream';
  const headers = new Headers({ ...servedFileHeaders(type, safeName(parsed.n, 'file')), 'content-length': String(object.size), 'cache-control': 'private, max-age=86400' });
  return new Response(object.body, { headers });
}

/**
 * Deletes the channel media of a deleted app, or of one deleted user; call it
 * after the D1 delete, whose absence of the user is what keeps the URLs from
 * downloading the files again. Returns the count deleted, for the log.
 */
export async function deleteChannelMedia(env: Env, appId: string, userId?: string): Promise<number> {
  if (userId) owners.delete(`${appId}/${userId}`);
  return deleteUnder(env, userId ? ownerPrefix(appId, userId) : appPrefix(appId), () => true);
}

/**
 * A personal information scrub: the user stays, the media they sent so far
 * goes. The time is recorded first, so URLs made until now stop serving (a
 * copy racing the scrub included) while media sent later is kept.
 */
export async function scrubChannelMedia(env: Env, appId: string, userId: string): Promise<number> {
  const marker = scrubMarker(appId, userId);
  await env.ATTACHMENTS.put(marker, new Uint8Array(0), { customMetadata: { at: String(Date.now()) } });
  owners.delete(`${appId}/${userId}`);
  return deleteUnder(env, ownerPrefix(appId, userId), (o) => o.key !== marker);
}
