/**
 * Attachments: `POST /v2/apps/{appId}/attachments` (contract §1.12:
 * multipart, file in field `source`, `access=public`, 50 MB) for the
 * business, the same upload for Web Messenger users under /sdk/v2 with a
 * smaller size and a list of types, and `GET /attachments/...` serving the
 * bytes from R2. URLs carry a random key, so they are unguessable but public,
 * as Sunshine's are. Bytes are served so that no upload can run as a page on
 * Parley's origin: `nosniff`, a sandboxing CSP, and anything but media as a
 * download. An upload `for=message` names its conversation and goes when the
 * conversation, its messages or its user go; `POST …/attachments/remove`
 * deletes one at once.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { badRequest, notFound, StatusError, unwrap } from '../http/errors';
import { readBody, readBytes, readQuery } from '../http/request';
import { newId } from '../ids';
import { objectId, uri } from '../schema/common';
import { appContext, conversationStub, json } from './context';
import { recordMediaPut } from '../db/insights-usage';

export interface UploadPolicy {
  maxBytes: number;
  /** Allowed types: exact (`application/pdf`) or a family (`image/*`); undefined = any. */
  types?: readonly string[];
}

export const API_UPLOADS: UploadPolicy = { maxBytes: 50 * 1024 * 1024 };

/** What a person may send from the widget: pictures, documents, short media; nothing a browser would run. */
export const WEB_UPLOADS: UploadPolicy = {
  maxBytes: 25 * 1024 * 1024,
  types: [
    'image/jpeg',
    'image/png',
    'image/gif',
    'image/webp',
    'image/heic',
    'application/pdf',
    'text/plain',
    'text/csv',
    'application/zip',
    'application/msword',
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    'application/vnd.ms-excel',
    'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    'audio/mpeg',
    'audio/mp4',
    'audio/ogg',
    'audio/wav',
    'video/mp4',
    'video/quicktime',
    'video/webm',
  ],
};

/** Where uploads are served from: PUBLIC_URL when set, else the origin the upload came through. */
const publicBase = (env: Env, request: Request) => (env.PUBLIC_URL ?? new URL(request.url).origin).replace(/\/+$/, '');

/** Types shown in place, by their lowercased essence; everything else is served as a download. */
const INLINE = /^(image\/(jpeg|png|gif|webp|heic)|audio\/[\w.+-]+|video\/[\w.+-]+|application\/pdf|text\/plain)$/;

/**
 * The headers that keep stored bytes from running as a page on Parley's
 * origin, whoever chose their type (an uploader, a channel): the type as
 * stored but never sniffed, a CSP that sandboxes the document and loads
 * nothing, and anything but pictures, audio, video, PDF and plain text as a
 * download. `filename` must already be safe inside a quoted header value.
 */
export function servedFileHeaders(type: string, filename: string): Record<string, string> {
  const essence = type.split(';')[0]!.trim().toLowerCase();
  return {
    'content-type': type,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
    'content-disposition': `${INLINE.test(essence) ? 'inline' : 'attachment'}; filename="${filename}"`,
  };
}

const typeAllowed = (type: string, policy: UploadPolicy) =>
  !policy.types || policy.types.some((t) => (t.endsWith('/*') ? type.startsWith(t.slice(0, -1)) : t === type));

/** A file name safe in a URL path segment and a Content-Disposition header. */
function safeName(name: string): string {
  const cleaned = name.replace(/[^\w.\- ]+/g, '_').replace(/\s+/g, '_').slice(-100).replace(/^\.+/, '');
  return cleaned || 'file';
}

function decodedName(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

export interface Attachment {
  mediaUrl: string;
  mediaType: string;
  mediaSize: number;
}

/** Reads a multipart upload (field `source`), checks it against the policy and stores it; 4xx naming what is wrong. */
export async function storeUpload(request: Request, env: Env, appId: string, policy: UploadPolicy, uploader: string, conversationId?: string): Promise<Attachment> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) throw new StatusError(415, 'unsupported_media_type', 'Upload the file as multipart/form-data in a field named source');
  const tooLarge = () => new StatusError(413, 'payload_too_large', `The file is larger than ${policy.maxBytes / 1024 / 1024} MB, the most this upload takes`);
  // Multipart framing adds a little; the file itself is checked exactly below.
  const bytes = await readBytes(request, policy.maxBytes + 64 * 1024, tooLarge);
  let form: FormData;
  try {
    form = await new Response(bytes, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw badRequest('The body is not valid multipart/form-data');
  }
  const file = form.get('source');
  if (!file || typeof file === 'string') throw badRequest('source: is required and must be a file');
  if (file.size === 0) throw badRequest('source: the file is empty');
  if (file.size > policy.maxBytes) throw tooLarge();
  const type = (file.type || 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
  if (!typeAllowed(type, policy)) {
    throw new StatusError(415, 'unsupported_media_type', `source: files of type ${type} cannot be uploaded here; allowed: ${policy.types!.join(', ')}`);
  }
  const name = safeName(file.name || 'file');
  const key = `${appId}/${newId()}/${name}`;
  await env.ATTACHMENTS.put(key, file, {
    httpMetadata: { contentType: type },
    customMetadata: { appId, uploader, ...(conversationId ? { conversationId } : {}) },
  });
  await recordMediaPut(env.DB, appId, key, file.size);
  return { mediaUrl: `${publicBase(env, request)}/attachments/${key}`, mediaType: type, mediaSize: file.size };
}

/** The R2 key behind one of this app's upload URLs on this Parley, or undefined for any other URL. */
function ownKey(env: Env, request: Request, appId: string, mediaUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(mediaUrl);
  } catch {
    return undefined;
  }
  if (url.origin !== new URL(publicBase(env, request)).origin || url.search || url.hash) return undefined;
  const m = /^\/attachments\/([0-9a-f]{24})\/([0-9a-f]{24})\/([^/]+)$/.exec(url.pathname);
  const name = m ? decodedName(m[3]!) : undefined;
  if (!m || m[1] !== appId || name === undefined || name !== safeName(name)) return undefined;
  return `${appId}/${m[2]}/${name}`;
}

/**
 * One of this app's uploads on this Parley, as stored (what a Web Messenger
 * user may attach): its type and size, or undefined for any other URL.
 */
export async function ownUpload(env: Env, request: Request, appId: string, mediaUrl: string): Promise<{ mediaType: string; mediaSize: number } | undefined> {
  const key = ownKey(env, request, appId, mediaUrl);
  const head = key ? await env.ATTACHMENTS.head(key) : null;
  return head ? { mediaType: head.httpMetadata?.contentType ?? 'application/octet-stream', mediaSize: head.size } : undefined;
}


/** Deletes the R2 objects under a prefix that `which` picks, a page at a time (R2 cannot list by metadata); returns the count. */
export async function deleteUnder(env: Env, prefix: string, which: (o: R2Object) => boolean): Promise<number> {
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const page = await env.ATTACHMENTS.list({ prefix, include: ['customMetadata'], limit: 1000, ...(cursor ? { cursor } : {}) });
    const keys = page.objects.filter(which).map((o) => o.key);
    if (keys.length > 0) await env.ATTACHMENTS.delete(keys);
    deleted += keys.length;
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return deleted;
}

/**
 * Deletes an app's uploads, or only those one user sent from the widget:
 * their files go with them (user deleted, personal information scrubbed, app
 * deleted). The count deleted is returned for the log.
 */
export function deleteUploads(env: Env, appId: string, uploader?: string): Promise<number> {
  return deleteUnder(env, `${appId}/`, (o) => uploader === undefined || o.customMetadata?.uploader === uploader);
}

/** Uploads sent `for=message` into conversations go with them (deleted, their messages cleared, their user deleted); one listing for all. */
export function deleteConversationUploads(env: Env, appId: string, conversationIds: string[]): Promise<number> {
  if (conversationIds.length === 0) return Promise.resolve(0);
  const ids = new Set(conversationIds);
  return deleteUnder(env, `${appId}/`, (o) => ids.has(o.customMetadata?.conversationId ?? ''));
}

export const uploadQuery = v.pipe(
  v.object({
    access: v.picklist(['public'], 'access: is required and must be public'),
    for: v.optional(v.picklist(['message'], 'for: must be message')),
    conversationId: v.optional(objectId),
  }),
  v.check((q) => (q.for === 'message') === (q.conversationId !== undefined), 'conversationId: is required with for=message, and only with it'),
);

export async function upload(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  const query = readQuery(request, uploadQuery);
  // The conversation must exist: its deletion is what deletes the file.
  if (query.conversationId) unwrap(await conversationStub(env, appId, query.conversationId).get());
  const attachment = await storeUpload(request, env, appId, API_UPLOADS, principal.keyId, query.conversationId);
  return json({ attachment }, 201);
}

export const removeBody = v.object({ mediaUrl: uri() });

/** `POST /v2/apps/{appId}/attachments/remove`: deletes one of the app's uploads now; another host's URL is refused. */
export async function remove(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const { mediaUrl } = await readBody(request, removeBody);
  const key = ownKey(env, request, appId, mediaUrl);
  if (!key) throw badRequest(`mediaUrl: not an attachment of this app on ${publicBase(env, request)}`);
  if (!(await env.ATTACHMENTS.head(key))) throw notFound('attachment_not_found', 'Attachment not found');
  await env.ATTACHMENTS.delete(key);
  return json({});
}

export async function serve(request: IRequest, env: Env) {
  const { appId, key } = request.params as { appId: string; key: string };
  const name = decodedName(request.params.name!);
  // Stored names are safeName()'s: anything else (a broken escape, a name R2 could not hold) names nothing.
  if (!/^[0-9a-f]{24}$/.test(key) || !/^[0-9a-f]{24}$/.test(appId) || name === undefined || name !== safeName(name)) {
    throw notFound('attachment_not_found', 'Attachment not found');
  }
  const object = await env.ATTACHMENTS.get(`${appId}/${key}/${name}`);
  if (!object) throw notFound('attachment_not_found', 'Attachment not found');
  const type = object.httpMetadata?.contentType ?? 'application/octet-stream';
  const headers = new Headers({
    ...servedFileHeaders(type, name),
    'content-length': String(object.size),
    'cache-control': 'public, max-age=31536000, immutable',
    etag: object.httpEtag,
    'cross-origin-resource-policy': 'cross-origin',
    'access-control-allow-origin': '*',
  });
  return new Response(object.body, { headers });
}
