/**
 * Email through Mailgun. Setup creates an inbound Route that forwards mail
 * for `incomingAddress` to Parley (and teardown deletes it); inbound forms
 * and event webhooks are verified by Mailgun's HMAC of timestamp + token,
 * refused when stale or when a token comes back with another body; a mail
 * becomes a message from its sender's address, quoted history stripped, its
 * attachments stored as channel media; sends go to `/v3/{domain}/messages`
 * as HTML with a plain-text twin, threaded under the user's mail. An
 * account in Mailgun's EU region sets `apiBaseUrl` to https://api.eu.mailgun.net.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { boundedString, describeIssue, uri } from '../schema/common';
import { apiBase, nativeKeysProblem, type ChannelAdapter, type ChannelContext, type ChannelUser, type InboundEvent, type InboundRequest, type MediaKind, type SendOutcome } from './adapter';
import { htmlDocument, renderEmail, stripQuoted, chosenOption } from './email-render';
import { callChannel, jsonBody, retryAfterMs } from './http';
import { hmacHex, safeEqual, sha256Hex } from './signing';

// ---- settings ----------------------------------------------------------------------

/** A bare address, as Mailgun's own syntax check would take it (RFC 5321 length, one @, a dotted domain). */
const ADDRESS = /^[^\s@<>(),;:"[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

const address = v.pipe(v.string('must be a string'), v.trim(), v.maxLength(254, 'must be at most 254 characters'), v.regex(ADDRESS, 'must be an email address'), v.toLowerCase());
/** `fromAddress` may carry a display name: `Acme Support <support@acme.example>`. */
const fromAddress = v.pipe(
  v.string('must be a string'),
  v.trim(),
  v.maxLength(320, 'must be at most 320 characters'),
  v.check((s) => ADDRESS.test(s) || (/^[^<>\r\n]{0,64}<[^<>\s]+>$/.test(s) && ADDRESS.test(/<([^<>]+)>$/.exec(s)![1]!)), 'must be an email address, optionally as "Name <address>"'),
);
const secret = boundedString(1, 256);

const createSchema = v.object(
  {
    apiKey: secret,
    domain: v.pipe(v.string('must be a string'), v.regex(DOMAIN, 'must be a domain name'), v.toLowerCase()),
    incomingAddress: address,
    signingKey: v.optional(secret),
    hideUnsubscribeLink: v.optional(v.boolean('must be a boolean')),
    fromAddress: v.optional(v.nullable(fromAddress)),
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);

const updateSchema = v.object({ hideUnsubscribeLink: v.optional(v.boolean('must be a boolean')), fromAddress: v.optional(v.nullable(fromAddress)) }, 'must be an object');

export type MailgunConfig = v.InferOutput<typeof createSchema> & {
  /** The inbound Route setup created, deleted again on teardown. */
  routeId?: string;
};

// ---- Mailgun REST ------------------------------------------------------------------

const basicAuth = (c: MailgunConfig) => `Basic ${btoa(`api:${c.apiKey}`)}`;

/** Mailgun answers errors as `{"message": ...}`, except 401, which is a bare "Forbidden". */
async function mailgunError(response: Response): Promise<string> {
  const text = await response.text();
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body?.message === 'string' && body.message) return body.message;
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 300) || `Mailgun answered HTTP ${response.status}`;
}

type RestResult = { ok: true; json: unknown } | { ok: false; status?: number; error: string };

async function rest(ctx: ChannelContext<MailgunConfig>, method: string, path: string, body?: URLSearchParams): Promise<RestResult> {
  const called = await callChannel(ctx.fetch, `${apiBase(mailgun, ctx.config)}${path}`, {
    method,
    headers: { authorization: basicAuth(ctx.config), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    ...(body ? { body } : {}),
  });
  if (!called.ok) return { ok: false, error: `Could not reach Mailgun: ${called.outcome.message}` };
  const { response } = called;
  if (response.ok) return { ok: true, json: await jsonBody(response) };
  const message = await mailgunError(response);
  if (response.status === 401) return { ok: false, status: 401, error: `Mailgun rejected the API key (${message}); check apiKey, and apiBaseUrl for an EU account (https://api.eu.mailgun.net)` };
  return { ok: false, status: response.status, error: `Mailgun answered ${response.status}: ${message}` };
}

const routeResource = v.looseObject({ id: v.string(), actions: v.optional(v.array(v.string())) });
const routeCreated = v.looseObject({ route: routeResource });

/** Mailgun route filters are regular expressions: the address is matched exactly. */
const routeExpression = (incoming: string) => `match_recipient("^${incoming.replace(/[.*+?^${}()|[\]\\"]/g, '\\$&')}$")`;
const forwardAction = (url: string) => `forward("${url}")`;

// ---- inbound form (urlencoded, or multipart when the mail has attachments) ------------

interface FilePart {
  filename: string;
  type: string;
  data: Uint8Array;
}

interface Form {
  fields: Map<string, string>;
  files: Map<string, FilePart>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function indexOf(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** A header parameter (`name="x"`, `filename=x`), quoted or not. */
const param = (header: string, name: string) => {
  const m = new RegExp(`;\\s*${name}=(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, 'i').exec(header);
  return m ? (m[1] ?? m[2] ?? '').replace(/\\(.)/g, '$1') : undefined;
};

/** RFC 7578 multipart/form-data, read synchronously from the raw bytes (parse is synchronous). */
function multipart(raw: Uint8Array, boundary: string): Form {
  const form: Form = { fields: new Map(), files: new Map() };
  const delimiter = enc.encode(`--${boundary}`);
  let at = indexOf(raw, delimiter, 0);
  if (at < 0) throw badRequest('Malformed Mailgun webhook: the multipart boundary is missing');
  for (;;) {
    at += delimiter.length;
    if (raw[at] === 0x2d && raw[at + 1] === 0x2d) return form;
    const headersEnd = indexOf(raw, enc.encode('\r\n\r\n'), at);
    const next = indexOf(raw, enc.encode(`\r\n--${boundary}`), headersEnd + 4);
    if (headersEnd < 0 || next < 0) throw badRequest('Malformed Mailgun webhook: a multipart part is not terminated');
    const headers = dec.decode(raw.subarray(at, headersEnd)).split('\r\n');
    const disposition = headers.find((h) => /^content-disposition:/i.test(h)) ?? '';
    const name = param(disposition, 'name');
    const data = raw.slice(headersEnd + 4, next);
    if (name !== undefined) {
      const filename = param(disposition, 'filename');
      if (filename !== undefined) {
        const type = headers.find((h) => /^content-type:/i.test(h))?.replace(/^content-type:\s*/i, '').trim() || 'application/octet-stream';
        form.files.set(name, { filename, type, data });
      } else if (!form.fields.has(name)) {
        form.fields.set(name, dec.decode(data));
      }
    }
    at = next + 2;
  }
}

function readForm(request: InboundRequest): Form {
  const type = request.headers.get('content-type') ?? '';
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) {
    const fields = new Map<string, string>();
    for (const [k, val] of new URLSearchParams(dec.decode(request.raw))) if (!fields.has(k)) fields.set(k, val);
    return { fields, files: new Map() };
  }
  if (/^multipart\/form-data\b/i.test(type)) {
    const boundary = param(type, 'boundary');
    if (!boundary) throw badRequest('Malformed Mailgun webhook: multipart/form-data without a boundary');
    // RFC 2046 caps a boundary at 70 characters; a longer one would only make the byte search slow.
    if (boundary.length > 70) throw badRequest('Malformed Mailgun webhook: the multipart boundary is longer than 70 characters');
    return multipart(request.raw, boundary);
  }
  throw badRequest('Mailgun webhooks are forms (application/x-www-form-urlencoded or multipart/form-data) or JSON event webhooks');
}

const isJson = (request: InboundRequest) => /^application\/json\b/i.test(request.headers.get('content-type') ?? '');

// ---- event webhooks (JSON) ----------------------------------------------------------

const signatureFields = v.object({ timestamp: v.string(), token: v.string(), signature: v.string() });
const eventWebhook = v.looseObject({
  signature: signatureFields,
  'event-data': v.looseObject({
    event: v.string(),
    id: v.optional(v.string()),
    timestamp: v.optional(v.number()),
    recipient: v.optional(v.string()),
    severity: v.optional(v.string()),
    reason: v.optional(v.string()),
    'delivery-status': v.optional(v.looseObject({ code: v.optional(v.number()), message: v.optional(v.string()), description: v.optional(v.string()) })),
    message: v.optional(v.looseObject({ headers: v.optional(v.looseObject({ 'message-id': v.optional(v.string()) })) })),
  }),
});

function readEvent(request: InboundRequest): v.InferOutput<typeof eventWebhook> {
  let body: unknown;
  try {
    body = JSON.parse(dec.decode(request.raw));
  } catch {
    throw badRequest('Malformed Mailgun event webhook: the body is not JSON');
  }
  const parsed = v.safeParse(eventWebhook, body);
  if (!parsed.success) throw badRequest(`Malformed Mailgun event webhook: ${describeIssue(parsed.issues[0])}`);
  return parsed.output;
}

/** Our sends' fate: delivered, or failed for good (temporary failures Mailgun retries itself). */
function deliveryEvent(e: v.InferOutput<typeof eventWebhook>['event-data']): InboundEvent[] {
  const messageId = e.message?.headers?.['message-id'];
  if (!e.recipient || !messageId) return [];
  const base = { user: { externalId: e.recipient.toLowerCase() }, channelMessageId: `<${messageId.replace(/^<|>$/g, '')}>`, ...(e.timestamp !== undefined ? { timestamp: Math.round(e.timestamp * 1000) } : {}) };
  if (e.event === 'delivered') return [{ ...base, kind: 'delivery', status: 'delivered' }];
  if (e.event === 'failed' && e.severity !== 'temporary') {
    const status = e['delivery-status'];
    return [{ ...base, kind: 'delivery', status: 'failed', error: { code: String(status?.code ?? e.reason ?? 'failed'), message: status?.description || status?.message || e.reason || 'Mailgun could not deliver the email' } }];
  }
  return [];
}

// ---- signatures and replays -----------------------------------------------------------

/** Mailgun's advice: a signature older (or newer) than a few minutes is a replay. */
export const SIGNATURE_WINDOW_MS = 5 * 60_000;

async function checkSignature(fields: { timestamp?: string; token?: string; signature?: string }, config: MailgunConfig, now: number) {
  const { timestamp, token, signature } = fields;
  if (!timestamp || !token || !signature) return { ok: false as const, status: 403 as const, reason: 'missing Mailgun signature fields (timestamp, token, signature)' };
  const expected = await hmacHex('SHA-256', config.signingKey ?? config.apiKey, timestamp + token);
  if (!safeEqual(expected, signature.toLowerCase())) return { ok: false as const, status: 403 as const, reason: 'Mailgun signature does not match' };
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(now - Number(timestamp) * 1000) > SIGNATURE_WINDOW_MS) return { ok: false as const, status: 403 as const, reason: 'Mailgun signature timestamp is stale' };
  return { ok: true as const };
}

// ---- inbound mail -----------------------------------------------------------------------

/**
 * Attachments arrive inside the forwarded form, once: nothing at Mailgun
 * can be fetched later. The parser holds their bytes here, under the ref
 * the stored message's media URL names, until the pipeline's media copy
 * (run right after the webhook is acknowledged, in this isolate) asks
 * `fetchMedia` for them and puts them in R2 under the sender, as every
 * channel's media.
 */
const heldAttachments = new Map<string, { file: FilePart; at: number }>();
const HELD_MS = 15 * 60_000;
const HELD_MAX_BYTES = 64 * 1024 * 1024;

function holdAttachment(ref: string, file: FilePart, now: number): void {
  let total = file.data.byteLength;
  for (const entry of heldAttachments.values()) total += entry.file.data.byteLength;
  for (const [key, entry] of heldAttachments) {
    if (entry.at > now - HELD_MS && total <= HELD_MAX_BYTES) break;
    total -= entry.file.data.byteLength;
    heldAttachments.delete(key);
  }
  heldAttachments.set(ref, { file, at: now });
}

function mediaKind(type: string): MediaKind {
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  return 'file';
}

/** `Name <addr>` or a bare address, lowercased; undefined when there is no address in it. */
export function parseAddress(value: string | undefined): { address: string; name?: string } | undefined {
  if (!value) return undefined;
  const angled = /^\s*"?([^"<]*?)"?\s*<([^<>]+)>\s*$/.exec(value);
  const candidate = (angled ? angled[2]! : value).trim().toLowerCase();
  if (!ADDRESS.test(candidate)) return undefined;
  const name = angled?.[1]?.trim();
  return { address: candidate, ...(name ? { name } : {}) };
}

function mail(form: Form, config: MailgunConfig, now: number): InboundEvent[] {
  const f = (name: string) => form.fields.get(name);
  const recipients = (f('recipient') ?? '').toLowerCase().split(',').map((r) => r.trim());
  // The account's other routes may forward here too; only mail for this integration's address is its.
  if (!recipients.includes(config.incomingAddress)) return [];
  // The From header is who the user is to their mail client; the envelope sender is often rewritten (SRS, VERP bounces).
  const from = parseAddress(f('from')) ?? parseAddress(f('sender'));
  if (!from) throw badRequest('Malformed Mailgun webhook: from or sender must be an email address');
  const ours = [config.incomingAddress, parseAddress(config.fromAddress ?? undefined)?.address, `noreply@${config.domain}`];
  // Our own mail looping back, and auto-replies (vacation notices, bounces), would answer each other forever.
  const auto = f('Auto-Submitted') ?? f('auto-submitted');
  if (ours.includes(from.address) || (auto !== undefined && auto.toLowerCase() !== 'no')) return [];

  const token = f('token') ?? '';
  const messageId = (f('Message-Id') ?? f('message-id') ?? f('Message-ID'))?.trim() || `mailgun:${token}`;
  const subject = f('subject') ?? f('Subject') ?? '';
  const user: ChannelUser = {
    externalId: from.address,
    displayName: from.name ?? from.address,
    info: { email: from.address },
    // Outbound mail threads under the user's first message and keeps its subject.
    raw: { from: f('from') ?? from.address, subject, messageId },
  };
  const timestamp = Number(f('timestamp')) * 1000;
  const base = { user, ...(Number.isFinite(timestamp) && timestamp > 0 ? { timestamp } : { timestamp: now }) };
  const inReplyTo = (f('In-Reply-To') ?? f('in-reply-to'))?.trim();
  const stripped = f('stripped-text');
  const text = (stripped ?? stripQuoted(f('body-plain') ?? '')).trim();

  const events: InboundEvent[] = [];
  const choice = chosenOption(text);
  if (choice !== undefined) events.push({ ...base, kind: 'postback', channelMessageId: messageId, choice });
  else if (text) events.push({ ...base, kind: 'message', channelMessageId: messageId, content: { type: 'text', text }, ...(inReplyTo ? { quotedChannelMessageId: inReplyTo } : {}) });

  const count = Number(f('attachment-count') ?? '0');
  if (!Number.isInteger(count) || count < 0 || count > 100) throw badRequest('Malformed Mailgun webhook: attachment-count must be a small whole number');
  for (let i = 1; i <= count; i++) {
    const file = form.files.get(`attachment-${i}`);
    if (!file) throw badRequest(`Malformed Mailgun webhook: attachment-${i} is missing`);
    const ref = `mailgun:${token}:${i}`;
    holdAttachment(ref, file, now);
    events.push({
      ...base,
      kind: 'message',
      // One email becomes one Parley message for its text and one per attachment, each with its own dedupe key.
      channelMessageId: `${messageId}#${i}`,
      content: { type: 'media', media: { kind: mediaKind(file.type), ref, mimeType: file.type, ...(file.filename ? { fileName: file.filename } : {}), size: file.data.byteLength } },
    });
  }
  return events;
}

// ---- outbound -------------------------------------------------------------------------

const sent = v.looseObject({ id: v.string() });

async function classify(response: Response): Promise<SendOutcome> {
  if (response.ok) {
    const parsed = v.safeParse(sent, await jsonBody(response));
    // Mailgun queued the mail; resending on an odd answer would send it twice.
    if (!parsed.success) return { ok: false, retryable: false, code: 'invalid_response', message: 'Mailgun queued the email but its answer carried no id' };
    return { ok: true, channelMessageId: parsed.output.id };
  }
  const code = `http_${response.status}`;
  const message = await mailgunError(response);
  if (response.status === 429) {
    const after = retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  if (response.status >= 500) return { ok: false, retryable: true, code, message };
  return { ok: false, retryable: false, code, message };
}

/** Send fields a native payload may set; from, to, Reply-To and the threading headers stay the integration's. */
const NATIVE_FIELDS = new Set(['subject', 'text', 'html', 'template', 't:variables', 't:version', 'o:tag', 'o:tracking', 'o:tracking-clicks', 'o:tracking-opens']);
const checkNative = (payload: unknown) => nativeKeysProblem('mailgun', payload, NATIVE_FIELDS);

const stringOf = (r: Record<string, unknown> | null | undefined, key: string) => (typeof r?.[key] === 'string' ? (r[key] as string) : undefined);

/** The subject of our reply: the user's own with one "Re:", or a plain one for someone who never wrote. */
function subjectFor(raw: Record<string, unknown> | null | undefined): string {
  const theirs = stringOf(raw, 'subject')?.replace(/[\r\n]+/g, ' ').trim();
  if (!theirs) return 'New message';
  return /^re:/i.test(theirs) ? theirs : `Re: ${theirs}`;
}

// ---- the adapter --------------------------------------------------------------------------

/** A notification's destination is an email address; the user is that address, as their mail's From would make them. */
function notificationRecipient(destinationId: string): ChannelUser | string {
  const parsed = v.safeParse(address, destinationId);
  if (!parsed.success) return 'must be an email address, e.g. jane@example.com';
  return { externalId: parsed.output, displayName: parsed.output, info: { email: parsed.output } };
}

export const mailgun: ChannelAdapter<MailgunConfig> = {
  // Mailgun forwards a mail with its attachments in the body, up to its 25 MB message limit (plus form framing).
  maxBodyBytes: 30 * 1024 * 1024,
  type: 'mailgun',
  // Email shows anything as HTML: buttons become links or "reply with #N" suggestions, cards stacked tables, media inline or linked.
  capabilities: {
    textMax: 50_000,
    captionMax: 50_000,
    media: ['image', 'file', 'video', 'audio'],
    postbackButtons: 10,
    linkButtons: 10,
    mixedButtons: true,
    buttonTextMax: 128,
    quickReplies: 10,
    locationRequest: false,
    carousel: { maxItems: 10, maxButtons: 3 },
    location: false,
    templates: false,
    markup: 'html',
  },
  defaultApiBase: 'https://api.mailgun.net',
  createSchema,
  updateSchema,
  secretFields: ['apiKey', 'signingKey'],

  view: (c) => ({
    domain: c.domain,
    incomingAddress: c.incomingAddress,
    ...(c.fromAddress ? { fromAddress: c.fromAddress } : {}),
    ...(c.hideUnsubscribeLink !== undefined ? { hideUnsubscribeLink: c.hideUnsubscribeLink } : {}),
    ...(c.apiBaseUrl ? { apiBaseUrl: c.apiBaseUrl } : {}),
  }),

  async setup(ctx) {
    const { config } = ctx;
    // Setup runs again on every PATCH: the route made the first time is kept when it still forwards here.
    if (config.routeId) {
      const found = await rest(ctx, 'GET', `/v3/routes/${encodeURIComponent(config.routeId)}`);
      if (found.ok) {
        const route = v.safeParse(v.looseObject({ route: routeResource }), found.json);
        if (route.success && route.output.route.actions?.includes(forwardAction(ctx.webhookUrl))) return { status: 'active' };
      } else if (found.status !== 404) {
        return { status: 'error', error: found.error };
      }
    }
    const body = new URLSearchParams({ priority: '0', description: `Parley: mail for ${config.incomingAddress}`, expression: routeExpression(config.incomingAddress) });
    body.append('action', forwardAction(ctx.webhookUrl));
    body.append('action', 'stop()');
    const created = await rest(ctx, 'POST', '/v3/routes', body);
    if (!created.ok) return { status: 'error', error: `Could not create the inbound route: ${created.error}` };
    const route = v.safeParse(routeCreated, created.json);
    if (!route.success) return { status: 'error', error: 'Mailgun answered the route creation without a route id' };
    return { status: 'active', config: { routeId: route.output.route.id } };
  },

  async teardown(ctx) {
    if (!ctx.config.routeId) return;
    const deleted = await rest(ctx, 'DELETE', `/v3/routes/${encodeURIComponent(ctx.config.routeId)}`);
    if (!deleted.ok && deleted.status !== 404) throw new Error(deleted.error);
  },

  async verify(request, config) {
    if (isJson(request)) return checkSignature(readEvent(request).signature, config, request.now);
    const { fields } = readForm(request);
    return checkSignature({ timestamp: fields.get('timestamp'), token: fields.get('token'), signature: fields.get('signature') }, config, request.now);
  },

  /**
   * Mailgun signs only timestamp + token, not the body: the pipeline records
   * each token (shared by every instance) with what identifies its content —
   * the event's id, or the mail's Message-Id and recipient, which a
   * redelivery keeps even when its multipart framing changes — and refuses
   * the token with anything else.
   */
  async replayGuard(request) {
    if (isJson(request)) {
      const e = readEvent(request);
      return { nonce: e.signature.token, digest: await sha256Hex(enc.encode(`event:${e['event-data'].id ?? ''}:${e['event-data'].event}`)) };
    }
    const { fields } = readForm(request);
    const token = fields.get('token');
    if (!token) return undefined;
    const id = fields.get('Message-Id') ?? fields.get('message-id') ?? fields.get('Message-ID') ?? '';
    return { nonce: token, digest: await sha256Hex(enc.encode(`mail:${id.trim()}:${(fields.get('recipient') ?? '').toLowerCase()}`)) };
  },

  parse(request, config) {
    if (isJson(request)) return deliveryEvent(readEvent(request)['event-data']);
    return mail(readForm(request), config, request.now);
  },

  checkNative,

  async send(ctx, to, part) {
    const { config } = ctx;
    const subject = subjectFor(to.raw);
    const fields = new URLSearchParams({ from: config.fromAddress ?? `noreply@${config.domain}`, to: to.externalId, subject, 'h:Reply-To': config.incomingAddress });
    const threadRoot = stringOf(to.raw, 'messageId')?.replace(/[\r\n]/g, '');
    // A header value taken from a mail: only a well-formed <id>, never a line break.
    if (threadRoot && !threadRoot.startsWith('mailgun:') && /^<[^<>\s]+>$/.test(threadRoot)) {
      fields.set('h:In-Reply-To', threadRoot);
      fields.set('h:References', threadRoot);
    }
    if (part.kind === 'native') {
      const problem = checkNative(part.payload);
      if (problem) return { ok: false, retryable: false, code: 'unsupported_content', message: problem };
      for (const [key, value] of Object.entries(part.payload as Record<string, unknown>)) {
        if (value !== undefined && value !== null) fields.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
      }
    } else {
      const body = renderEmail(part, { replyTo: config.incomingAddress, subject, unsubscribe: config.hideUnsubscribeLink !== true });
      if (!body) return { ok: false, retryable: false, code: 'unsupported_content', message: `Email cannot send ${part.kind} content` };
      fields.set('text', body.text);
      fields.set('html', htmlDocument(body.html));
    }
    const called = await callChannel(ctx.fetch, `${apiBase(mailgun, config)}/v3/${encodeURIComponent(config.domain)}/messages`, {
      method: 'POST',
      headers: { authorization: basicAuth(config), 'content-type': 'application/x-www-form-urlencoded' },
      body: fields,
    });
    return called.ok ? classify(called.response) : called.outcome;
  },

  async fetchMedia(_ctx, ref) {
    const held = heldAttachments.get(ref);
    if (!held) throw new Error('Mailgun forwards attachments once, inside the webhook; this one is no longer held');
    return new Response(held.file.data, { headers: { 'content-type': held.file.type, 'content-length': String(held.file.data.byteLength) } });
  },
  notificationRecipient,
};
