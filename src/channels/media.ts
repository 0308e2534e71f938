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
 */
import { servedFileHeaders } from '../api/attachments';
import type { Env } from '../env';
import { notFound, StatusError } from '../http/errors';
import { readBytes } from '../http/request';
import { ID_PATTERN } from '../ids';
import { type InboundMedia } from './adapter';
import { hmac, safeEqual, sha256Hex } from './signing';
import { channelIntegration, type ChannelIntegration } from './store';

/** The most Parley copies of one inbound file (the largest any supported channel delivers is 100 MB on WhatsApp documents). */
export const MEDIA_MAX_BYTES = 100 * 1024 * 1024;

interface MediaToken {
  r: string;
  m?: string;
  n?: string;
}

const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64url = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

async function signature(env: Env, integrationId: string, body: string): Promise<string> {
  if (!env.MASTER_KEY) throw new StatusError(500, 'configuration_error', 'MASTER_KEY is not set');
  return b64url(await hmac('SHA-256', `parley-media:${env.MASTER_KEY}`, `${integrationId}.${body}`)).slice(0, 32);
}

const safeName = (name: string | undefined, kind: string) => (name ?? kind).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100) || kind;

/** The Parley URL a stored message carries for one inbound media item. */
export async function mediaUrl(env: Env, integration: ChannelIntegration, media: InboundMedia): Promise<string> {
  const token: MediaToken = { r: media.ref, ...(media.mimeType ? { m: media.mimeType } : {}), ...(media.fileName ? { n: media.fileName } : {}) };
  const body = b64url(new TextEncoder().encode(JSON.stringify(token)));
  const base = new URL(integration.webhookUrl).origin;
  return `${base}/media/${integration.id}/${body}.${await signature(env, integration.id, body)}/${encodeURIComponent(safeName(media.fileName, media.kind))}`;
}

async function objectKey(integrationId: string, token: string): Promise<string> {
  return `media/${integrationId}/${await sha256Hex(token)}`;
}

/** Copies one media item into R2 unless it is there already; returns the stored object's body. */
async function copy(env: Env, integration: ChannelIntegration, token: string, parsed: MediaToken): Promise<R2ObjectBody | R2Object> {
  const key = await objectKey(integration.id, token);
  const existing = await env.ATTACHMENTS.get(key);
  if (existing) return existing;
  if (!integration.adapter.fetchMedia) throw new StatusError(502, 'bad_gateway', `The ${integration.type} channel cannot download media`);
  const response = await integration.adapter.fetchMedia({ config: integration.config, fetch, webhookUrl: integration.webhookUrl }, parsed.r).catch((err: unknown) => {
    throw new StatusError(502, 'bad_gateway', `The ${integration.type} channel could not provide the file (${err instanceof Error ? err.message : String(err)}); it may have expired there before Parley copied it`);
  });
  const bytes = await readBytes(response, MEDIA_MAX_BYTES, () => new StatusError(502, 'bad_gateway', `The channel's file is larger than ${MEDIA_MAX_BYTES} bytes`));
  const contentType = parsed.m ?? response.headers.get('content-type') ?? 'application/octet-stream';
  await env.ATTACHMENTS.put(key, bytes, { httpMetadata: { contentType } });
  return (await env.ATTACHMENTS.get(key))!;
}

async function readToken(env: Env, integrationId: string, token: string): Promise<MediaToken | undefined> {
  const [body, sig] = token.split('.');
  if (!body || !sig || !safeEqual(sig, await signature(env, integrationId, body))) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(unb64url(body))) as MediaToken;
  } catch {
    return undefined;
  }
}

/** Copies freshly received media into R2 after the webhook was acknowledged; a failure is retried by the first GET. */
export async function prefetchMedia(env: Env, integration: ChannelIntegration, url: string): Promise<void> {
  const token = new URL(url).pathname.split('/')[3]!;
  const parsed = await readToken(env, integration.id, token);
  if (!parsed) return;
  await copy(env, integration, token, parsed).catch((err: unknown) => {
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
  const object = await copy(env, integration, token, parsed);
  // The type is whatever the channel said; it is served as uploads are, so a channel's text/html never runs on Parley's origin.
  const type = object.httpMetadata?.contentType ?? 'application/octet-stream';
  const headers = new Headers({ ...servedFileHeaders(type, safeName(parsed.n, 'file')), 'content-length': String(object.size), 'cache-control': 'private, max-age=86400' });
  return new Response('body' in object ? object.body : null, { headers });
}
