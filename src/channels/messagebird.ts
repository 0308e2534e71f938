/**
 * MessageBird SMS (the integration Sunshine's `messagebird` type configured:
 * the SMS REST API plus a Flow Builder "Call HTTP endpoint with SMS" step that
 * forwards inbound texts to us as JSON). Setup proves the access key (GET
 * /balance): MessageBird has no API to point a number's flow at a URL, so the
 * customer pastes the integration's `webhookUrl` into the flow. Inbound
 * requests and status reports are verified by `MessageBird-Signature-JWT`
 * (HS256 with the signing key; `url_hash` and `payload_hash` are SHA-256 of the
 * called URL and the raw body). Sends go to POST /messages with a per-message
 * `reportUrl`, so delivery reports come back to the same endpoint.
 */
import * as v from 'valibot';
import { decodeJwt, timeClaimsProblem, verifyHs256 } from '../auth/jwt';
import { badRequest } from '../http/errors';
import { boundedString, describeIssue, uri } from '../schema/common';
import { apiBase, nativeKeysProblem, type ChannelAdapter, type ChannelContext, type ChannelUser, type InboundEvent, type InboundRequest, type MediaKind, type Part, type SendOutcome } from './adapter';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS, retryAfterMs } from './http';
import { safeEqual, sha256Hex, toHex } from './signing';

// ---- settings ----------------------------------------------------------------------

const E164 = /^\+?[1-9]\d{6,14}$/;

/** MessageBird writes numbers as bare MSISDNs (`31612345678`); Parley names users by E.164. */
const msisdn = (n: string) => n.replace(/[\s\-().]/g, '').replace(/^\+/, '');
const e164 = (n: string) => `+${msisdn(n)}`;

const phoneNumber = v.pipe(
  v.union([v.string(), v.number()], 'must be a phone number'),
  v.transform((n) => String(n)),
  v.check((n) => E164.test(`+${msisdn(n)}`), 'must be a phone number in E.164 form, e.g. +31612345678'),
  v.transform(e164),
);

const createSchema = v.object(
  {
    accessKey: boundedString(1, 128),
    signingKey: boundedString(1, 256),
    originator: phoneNumber,
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);

// Both keys may be rotated in place (a leaked key must be replaceable without a new webhook URL); the number may not.
const updateSchema = v.object({ accessKey: v.optional(boundedString(1, 128)), signingKey: v.optional(boundedString(1, 256)) }, 'must be an object');

export type MessageBirdConfig = v.InferOutput<typeof createSchema> & {
  /** Sunshine's read-only `webhookSecret`, generated at setup; verification rests on the signing key, not on it. */
  webhookSecret?: string;
};

// ---- MessageBird REST --------------------------------------------------------------

const authorization = (c: MessageBirdConfig) => `AccessKey ${c.accessKey}`;

const errorEnvelope = v.looseObject({
  errors: v.pipe(v.array(v.looseObject({ code: v.optional(v.union([v.number(), v.string()])), description: v.optional(v.string()), parameter: v.optional(v.nullable(v.string())) })), v.minLength(1)),
});

/** MessageBird's first error (`{errors:[{code, description, parameter}]}`), or `http_<status>` when the body is not its envelope. */
async function messageBirdError(response: Response): Promise<{ code: string; message: string }> {
  const parsed = v.safeParse(errorEnvelope, await jsonBody(response));
  const first = parsed.success ? parsed.output.errors[0]! : undefined;
  const code = first?.code !== undefined ? String(first.code) : `http_${response.status}`;
  const about = first?.parameter ? ` (${first.parameter})` : '';
  return { code, message: first?.description ? `${first.description}${about}` : `MessageBird answered HTTP ${response.status}` };
}

// ---- inbound -----------------------------------------------------------------------

const SIGNATURE_HEADER = 'messagebird-signature-jwt';
/** MessageBird's SDKs allow five seconds of clock skew. */
const LEEWAY_S = 5;

async function hashMatches(claim: unknown, data: Uint8Array | string): Promise<boolean> {
  return typeof claim === 'string' && safeEqual(claim.toLowerCase(), await sha256Hex(data));
}

/** The JWT MessageBird signs each webhook with; see messagebird-nodejs `lib/webhook-signature-jwt.js`. */
async function verifySignature(request: InboundRequest, signingKey: string): Promise<string | undefined> {
  const token = request.headers.get(SIGNATURE_HEADER);
  if (!token) return `missing MessageBird-Signature-JWT`;
  const jwt = decodeJwt(token.trim());
  if (!jwt) return 'MessageBird-Signature-JWT is not a JWT';
  if (!(await verifyHs256(jwt, signingKey))) return 'MessageBird-Signature-JWT signature does not match the signing key';
  const claims = jwt.payload;
  if (claims.iss !== 'MessageBird') return 'MessageBird-Signature-JWT was not issued by MessageBird';
  const nowS = request.now / 1000;
  const expired = timeClaimsProblem({ exp: claims.exp }, ['exp'], nowS - LEEWAY_S);
  const early = timeClaimsProblem({ nbf: claims.nbf }, ['nbf'], nowS + LEEWAY_S);
  if (expired || early) return `MessageBird-Signature-JWT ${expired ?? early}`;
  if (typeof claims.jti !== 'string' || !claims.jti) return 'MessageBird-Signature-JWT has no jti';
  if (!(await hashMatches(claims.url_hash, request.url))) return 'MessageBird-Signature-JWT url_hash does not match the called URL';
  if (request.raw.byteLength > 0 || claims.payload_hash !== undefined) {
    if (!(await hashMatches(claims.payload_hash, request.raw))) return 'MessageBird-Signature-JWT payload_hash does not match the body';
  }
  return undefined;
}

/** Flow Builder forwards JSON when told to (Sunshine's setup); the legacy forward and status reports are form fields. */
function fields(request: InboundRequest): Record<string, unknown> {
  // Status reports come by GET by default, the report in the query (which url_hash covers).
  if (request.method === 'GET') return Object.fromEntries(new URL(request.url).searchParams);
  const type = request.headers.get('content-type') ?? '';
  const text = new TextDecoder().decode(request.raw);
  if (/json/i.test(type)) {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw badRequest('Malformed MessageBird webhook: the body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('Malformed MessageBird webhook: the body must be a JSON object');
    return body as Record<string, unknown>;
  }
  if (/^application\/x-www-form-urlencoded\b/i.test(type)) {
    const params = new URLSearchParams(text);
    const out: Record<string, unknown> = {};
    for (const key of new Set(params.keys())) {
      const all = params.getAll(key);
      out[key.replace(/\[\]$/, '')] = key.endsWith('[]') ? all : all[0];
    }
    return out;
  }
  throw badRequest('MessageBird webhooks must be application/json or application/x-www-form-urlencoded');
}

const str = v.pipe(v.union([v.string(), v.number()], 'must be a string'), v.transform(String));

/** An inbound SMS/MMS. Flow Builder names the text `payload` or `body` depending on the step; both are read. */
const inboundFields = v.looseObject({
  id: v.optional(str),
  messageId: v.optional(str),
  originator: str,
  recipient: v.optional(str),
  receiver: v.optional(str),
  body: v.optional(v.string('must be a string')),
  payload: v.optional(v.string('must be a string')),
  createdDatetime: v.optional(v.string()),
  mediaUrls: v.optional(v.pipe(v.array(v.pipe(v.string(), v.url('must be a URL'))), v.maxLength(10, 'must list at most 10 media'))),
});

/** A status report (DLR): MessageBird's message id and the recipient it is about. */
const reportFields = v.looseObject({
  id: str,
  recipient: str,
  status: v.string('must be a string'),
  statusReason: v.optional(v.string()),
  statusErrorCode: v.optional(v.nullable(str)),
  statusDatetime: v.optional(v.string()),
});

const RECEIPTS = new Map<string, 'sent' | 'delivered' | 'failed'>([
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['expired', 'failed'],
  ['delivery_failed', 'failed'],
]);

const timeOf = (iso: string | undefined, fallback: number) => {
  const at = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(at) ? fallback : at;
};

function report(all: Record<string, unknown>, now: number): InboundEvent[] {
  const parsed = v.safeParse(reportFields, all);
  if (!parsed.success) throw badRequest(`Malformed MessageBird status report: ${describeIssue(parsed.issues[0])}`);
  const r = parsed.output;
  const mapped = RECEIPTS.get(r.status);
  // scheduled/buffered say nothing final about the recipient yet.
  if (!mapped) return [];
  const code = r.statusErrorCode ? String(r.statusErrorCode) : r.status;
  return [
    {
      kind: 'delivery',
      status: mapped,
      channelMessageId: r.id,
      user: { externalId: e164(r.recipient) },
      timestamp: timeOf(r.statusDatetime, now),
      ...(mapped === 'failed' ? { error: { code, message: r.statusReason || `MessageBird reported the message ${r.status}` } } : {}),
    },
  ];
}

function mediaKind(url: string): MediaKind {
  const ext = /\.([a-z0-9]+)(?:$|\?)/i.exec(new URL(url).pathname)?.[1]?.toLowerCase() ?? '';
  if (['jpg', 'jpeg', 'png', 'gif', 'webp', 'bmp'].includes(ext)) return 'image';
  if (['mp4', 'mov', '3gp', 'webm'].includes(ext)) return 'video';
  if (['mp3', 'amr', 'ogg', 'wav', 'm4a'].includes(ext)) return 'audio';
  return 'file';
}

function message(all: Record<string, unknown>, config: MessageBirdConfig, now: number): InboundEvent[] {
  const parsed = v.safeParse(inboundFields, all);
  if (!parsed.success) throw badRequest(`Malformed MessageBird webhook: ${describeIssue(parsed.issues[0])}`);
  const f = parsed.output;
  const id = f.id ?? f.messageId;
  if (!id) throw badRequest('Malformed MessageBird webhook: id is required');
  const to = f.recipient ?? f.receiver;
  // The signing key is the account's: only texts to this integration's number are its.
  if (to && msisdn(to) !== msisdn(config.originator)) return [];
  const phone = e164(f.originator);
  const user: ChannelUser = { externalId: phone, displayName: phone, info: { phoneNumber: phone }, raw: { originator: f.originator } };
  const base = { user, timestamp: timeOf(f.createdDatetime, now) };
  const text = (f.body ?? f.payload ?? '').trim() ? (f.body ?? f.payload)! : '';

  const media = f.mediaUrls ?? [];
  if (media.length) {
    // One MMS becomes one Parley message per media, each with its own dedupe key.
    return media.map((ref, i) => ({
      ...base,
      kind: 'message' as const,
      channelMessageId: i === 0 ? id : `${id}:${i}`,
      content: { type: 'media' as const, media: { kind: mediaKind(ref), ref }, ...(i === 0 && text ? { text } : {}) },
    }));
  }
  if (!text) return [];
  return [{ ...base, kind: 'message', channelMessageId: id, content: { type: 'text', text } }];
}

// ---- outbound ----------------------------------------------------------------------

const sendResult = v.looseObject({ id: v.string() });

async function classify(response: Response): Promise<SendOutcome> {
  if (response.ok) {
    const parsed = v.safeParse(sendResult, await jsonBody(response));
    // MessageBird accepted the message; resending on an odd body would duplicate it.
    if (!parsed.success) return { ok: false, retryable: false, code: 'invalid_response', message: 'MessageBird accepted the message but its answer carried no id' };
    return { ok: true, channelMessageId: parsed.output.id };
  }
  const { code, message } = await messageBirdError(response);
  if (response.status === 429) {
    const after = retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  // 99 is MessageBird's "internal error", whatever status carries it.
  if (response.status >= 500 || code === '99') return { ok: false, retryable: true, code, message };
  return { ok: false, retryable: false, code, message };
}

/**
 * Message fields a native payload may set. `originator`, `recipients` and
 * `reportUrl` are always the integration's; `groupIds` (send to a contact
 * group) and `scheduledDatetime` are not one conversation's to choose.
 */
const NATIVE_FIELDS = new Set(['originator', 'recipients', 'reportUrl', 'body', 'type', 'reference', 'validity', 'datacoding', 'mclass', 'typeDetails', 'shortenUrls']);
const checkNative = (payload: unknown) => nativeKeysProblem('messagebird', payload, NATIVE_FIELDS);

function partBody(part: Part): Record<string, unknown> | string {
  switch (part.kind) {
    case 'text':
      return { body: part.text };
    case 'native':
      return checkNative(part.payload) ?? { ...(part.payload as Record<string, unknown>) };
    default:
      // Capabilities declare SMS only: the renderer turns everything else into text first.
      return `MessageBird SMS cannot send ${part.kind} content natively`;
  }
}

async function balance(ctx: ChannelContext<MessageBirdConfig>): Promise<string | undefined> {
  const called = await callChannel(ctx.fetch, `${apiBase(messagebird, ctx.config)}/balance`, { method: 'GET', headers: { authorization: authorization(ctx.config), accept: 'application/json' } });
  if (!called.ok) return `Could not reach MessageBird: ${called.outcome.message}`;
  const { response } = called;
  if (response.ok) return undefined;
  const err = await messageBirdError(response);
  if (response.status === 401) return `MessageBird rejected the access key (${err.code} ${err.message}); check accessKey`;
  return `MessageBird answered ${response.status} (${err.code}): ${err.message}`;
}

// ---- the adapter -------------------------------------------------------------------

function notificationRecipient(destinationId: string): ChannelUser | string {
  const n = msisdn(destinationId);
  if (!E164.test(`+${n}`) || !/^\+/.test(destinationId.trim())) return 'must be a phone number in E.164 form, e.g. +31612345678';
  return { externalId: `+${n}`, displayName: `+${n}`, info: { phoneNumber: `+${n}` } };
}

export const messagebird: ChannelAdapter<MessageBirdConfig> = {
  receivesGet: true,
  type: 'messagebird',
  // Plain SMS: MessageBird concatenates up to 9 parts (1377 GSM-7 characters).
  capabilities: {
    textMax: 1377,
    captionMax: 0,
    media: [],
    postbackButtons: 0,
    linkButtons: 0,
    mixedButtons: false,
    buttonTextMax: 1377,
    quickReplies: 0,
    locationRequest: false,
    carousel: null,
    location: false,
    templates: false,
    markup: 'plain',
  },
  defaultApiBase: 'https://rest.messagebird.com',
  createSchema,
  updateSchema,
  secretFields: ['accessKey', 'signingKey'],

  view: (c) => ({ originator: c.originator, ...(c.webhookSecret ? { webhookSecret: c.webhookSecret } : {}) }),

  async setup(ctx) {
    const problem = await balance(ctx);
    if (problem) return { status: 'error', error: problem };
    const webhookSecret = ctx.config.webhookSecret ?? toHex(crypto.getRandomValues(new Uint8Array(16)));
    return { status: 'active', config: { webhookSecret } };
  },

  async verify(request, config) {
    const problem = await verifySignature(request, config.signingKey);
    return problem ? { ok: false, status: 401, reason: problem } : { ok: true };
  },

  parse(request, config) {
    const all = fields(request);
    // Status reports carry `status` and no `originator`; inbound messages the reverse.
    if (typeof all.status === 'string' && all.originator === undefined) return report(all, request.now);
    return message(all, config, request.now);
  },

  checkNative,

  async send(ctx, to, part) {
    const body = partBody(part);
    if (typeof body === 'string') return { ok: false, retryable: false, code: 'unsupported_content', message: body };
    const called = await callChannel(ctx.fetch, `${apiBase(messagebird, ctx.config)}/messages`, {
      method: 'POST',
      headers: { authorization: authorization(ctx.config), 'content-type': 'application/json', accept: 'application/json' },
      // MessageBird sends status reports only for messages that carry a reference.
      body: JSON.stringify({ ...body, originator: msisdn(ctx.config.originator), recipients: [msisdn(to.externalId)], reportUrl: ctx.webhookUrl, reference: to.deliveryKey ?? 'parley' }),
    });
    return called.ok ? classify(called.response) : called.outcome;
  },

  async fetchMedia(ctx, ref) {
    // MMS media URLs are MessageBird-hosted and need no key: none is sent, so a
    // forged URL can learn nothing; the outbound policy judges the target.
    const response = await ctx.fetch(ref, { timeoutMs: MEDIA_TIMEOUT_MS, maxRedirects: 3 });
    if (!response.ok) throw new Error(`MessageBird media download failed: HTTP ${response.status}`);
    return response;
  },
  notificationRecipient,
};
