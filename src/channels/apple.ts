/**
 * Apple Messages for Business adapter (reference §12), as an MSP. One
 * integration is one business (`businessId`) under one MSP (`mspId`,
 * `apiSecret`). Apple POSTs each customer event to /hooks/{id} with
 * `Authorization: Bearer <JWT>` (HS256 keyed by the base64-decoded secret,
 * `aud` = the MSP id) and the routing in headers: `id` (the message's UUID,
 * the dedupe key), `source-id` (the customer's opaque id, the client's
 * externalId), `destination-id` (this business; any other is refused),
 * `capability-list`, `device-agent`, `locale`. The JWT covers neither the
 * body nor the headers and lives an hour, so verify can only promise that
 * Apple sent it recently: `replayGuard` binds each token and message id to
 * the first body and routing they came with. Bodies usually come gzipped.
 * parse is synchronous, so verify, which runs first on the same request,
 * also inflates the body and leaves it for parse.
 *
 * Conversations are customer-initiated only (no notificationRecipient), and
 * a customer may close one (`close`): that is neither stored nor raised, as
 * the v2 API has no event for it; Apple then answers sends with a permanent
 * failure (410) until the customer writes again. What a device
 * can show natively is decided per customer from the capability list Apple
 * sent with their first message (apple-encode.ts); the wire protocol, the
 * tokens and the encrypted files are apple-wire.ts; media the business sends
 * is encrypted and uploaded by apple-media.ts, and media a customer sends is
 * decrypted as it streams into R2.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { checkJsonDepth, readBytes } from '../http/request';
import { describeIssue, uri } from '../schema/common';
import { apiBase, nativeKeysProblem, type Capabilities, type ChannelAdapter, type ChannelContext, type ChannelUser, type InboundEvent, type InboundRequest, type MediaKind, type Part, type Recipient, type SendOutcome } from './adapter';
import { capabilitiesOf, encodeText, parseCapabilityList, type Body } from './apple-encode';
import { attachmentBody } from './apple-media';
import { APPLE_API_BASE, bearerProblem, decodePayload, downloadFile, downloadStream, FileRef, postMessage, stableUuid } from './apple-wire';
import { fromBase64Url, sha256Hex, toHex } from './signing';

// ---- config ------------------------------------------------------------------------

const id = (what: string) =>
  v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(128, 'must be at most 128 characters long'), v.regex(/^[A-Za-z0-9._:-]+$/, `must be your ${what} as Apple Business Register shows it`));

const apiSecret = v.pipe(
  v.string('must be a string'),
  v.regex(/^[A-Za-z0-9+/]{22,}={0,2}$/, 'must be the base64 API secret of your Messaging Service Provider (Apple Business Register)'),
  v.check((s) => s.length % 4 === 0, 'must be base64 (its length a multiple of 4)'),
);
/** Sunshine asks for at least 88 characters: the state of Apple authentication 2.0 messages is made with it. */
const authenticationMessageSecret = v.pipe(v.string('must be a string'), v.minLength(88, 'must be at least 88 characters long'), v.maxLength(1024, 'must be at most 1024 characters long'));

const createSchema = v.object(
  { businessId: id('Messages for Business account id'), apiSecret, mspId: id('Messaging Service Provider id'), authenticationMessageSecret: v.optional(authenticationMessageSecret), apiBaseUrl: v.optional(uri()) },
  'must be an object',
);
const updateSchema = v.object({ authenticationMessageSecret: v.optional(authenticationMessageSecret) }, 'must be an object');

export type AppleConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<AppleConfig>;

const capabilities: Capabilities = {
  // Apple sets no documented cap; 3,000 is what MSPs (Infobip) allow per message.
  textMax: 3000,
  // The caption is the text of the message the attachment sits in.
  captionMax: 3000,
  // Encrypted and uploaded to Apple's storage (apple-media.ts); Apple refuses no MIME type.
  media: ['image', 'video', 'audio', 'file'],
  postbackButtons: 10,
  linkButtons: 5,
  mixedButtons: true,
  buttonTextMax: 80,
  // Apple's quick reply holds 2 to 5 items; more are numbered by the renderer.
  quickReplies: 5,
  locationRequest: false,
  carousel: null,
  location: false,
  templates: false,
  markup: 'plain',
};

// ---- inbound -------------------------------------------------------------------------

/** The largest inflated body Parley reads: attachments and big interactive data come by reference, never inline. */
const INFLATED_MAX_BYTES = 4 * 1024 * 1024;
/** What verify inflated for parse, per request object (parse is synchronous; inflating is not). */
const inflated = new WeakMap<InboundRequest, Uint8Array | Error>();

const isGzip = (raw: Uint8Array) => raw.byteLength > 2 && raw[0] === 0x1f && raw[1] === 0x8b;

async function inflate(raw: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return readBytes(new Response(stream), INFLATED_MAX_BYTES, () => new Error(`the inflated body is larger than ${INFLATED_MAX_BYTES} bytes`));
}

/** Apple's own samples write sizes as strings ("67497"); either spelling is read as a number. */
const Size = v.union([v.pipe(v.number(), v.integer(), v.minValue(0)), v.pipe(v.string(), v.regex(/^\d{1,12}$/), v.transform(Number))]);
const Attachment = v.looseObject({ name: v.optional(v.string()), mimeType: v.optional(v.string()), size: v.optional(Size), url: v.string(), key: v.string(), signature: v.string(), owner: v.string() });
const Payload = v.looseObject({
  type: v.string('must be a string'),
  id: v.optional(v.string()),
  sourceId: v.optional(v.string()),
  body: v.optional(v.string()),
  attachments: v.optional(v.array(Attachment, 'must be an array')),
  interactiveData: v.optional(v.looseObject({ bid: v.optional(v.string()), data: v.optional(v.record(v.string(), v.unknown())) })),
  interactiveDataRef: v.optional(v.record(v.string(), v.unknown())),
});
type Payload = v.InferOutput<typeof Payload>;

function readPayload(request: InboundRequest): Payload {
  const bytes = inflated.get(request) ?? (isGzip(request.raw) ? new Error('the gzip body was not inflated') : request.raw);
  if (bytes instanceof Error) throw badRequest(`Apple message body could not be read: ${bytes.message}`);
  const text = new TextDecoder().decode(bytes);
  checkJsonDepth(text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badRequest('Apple message is not valid JSON');
  }
  const parsed = v.safeParse(Payload, json);
  if (!parsed.success) throw badRequest(`Apple message ${describeIssue(parsed.issues[0])}`);
  return parsed.output;
}

/** Apple writes locales as en_US; v2 profiles take BCP 47. */
const bcp47 = (locale: string | null) => (locale ? locale.replace(/_/g, '-') : undefined);

function channelUser(request: InboundRequest, externalId: string): ChannelUser {
  const h = request.headers;
  const locale = bcp47(h.get('locale'));
  const raw: Record<string, unknown> = { capabilityList: parseCapabilityList(h.get('capability-list')) };
  if (h.get('device-agent')) raw.deviceAgent = h.get('device-agent');
  if (h.get('locale')) raw.locale = h.get('locale');
  return { externalId, ...(locale ? { locale } : {}), raw };
}

function mediaKind(mimeType: string | undefined): MediaKind {
  const family = mimeType?.split('/')[0];
  return family === 'image' || family === 'video' || family === 'audio' ? family : 'file';
}

type Selection = { identifier: string; title?: string };

/** What the customer picked in a list picker or quick reply Parley (or a native override) sent. */
function selections(data: Record<string, unknown>): Selection[] | undefined {
  const quick = data['quick-reply'] as { selectedIdentifier?: unknown; items?: { identifier?: unknown; title?: unknown }[] } | undefined;
  if (quick && typeof quick.selectedIdentifier === 'string') {
    const title = quick.items?.find((i) => i.identifier === quick.selectedIdentifier)?.title;
    return [{ identifier: quick.selectedIdentifier, ...(typeof title === 'string' ? { title } : {}) }];
  }
  const sections = (data.listPicker as { sections?: { items?: { identifier?: unknown; title?: unknown; selected?: unknown }[] }[] } | undefined)?.sections;
  if (!Array.isArray(sections)) return undefined;
  // The reply lists the items the customer selected.
  return sections
    .flatMap((s) => (Array.isArray(s.items) ? s.items : []))
    .filter((i) => typeof i.identifier === 'string' && i.selected !== false)
    .map((i) => ({ identifier: i.identifier as string, ...(typeof i.title === 'string' ? { title: i.title } : {}) }));
}

const INTERACTIVE_TEXT = '[Apple interactive message]';
/** The fields POST …/conversations/{id}/download takes (the client's DownloadMessageRefBodyAllOfAppleInteractiveDataRef). */
const REF_FIELDS = ['url', 'bid', 'key', 'signature', 'owner'] as const;

function parseMessage(request: InboundRequest): InboundEvent[] {
  const p = readPayload(request);
  const channelMessageId = request.headers.get('id') ?? p.id;
  const sourceId = request.headers.get('source-id') ?? p.sourceId;
  if (!sourceId) throw badRequest('Apple message: the source-id header is required');
  const user = channelUser(request, sourceId);
  switch (p.type) {
    case 'typing_start':
    case 'typing_end':
      return [{ kind: 'typing', user, state: p.type === 'typing_start' ? 'start' : 'stop' }];
    case 'close':
      // The customer closed the conversation: v2 has no event for it, so nothing is stored or raised (and the customer's
      // opaque id is not logged); Apple refuses further sends until they write again.
      return [];
  }
  if (!channelMessageId) throw badRequest('Apple message: the id header is required');
  if (p.type === 'text') {
    // Apple marks where each attachment sat in the text with U+FFFC.
    const text = (p.body ?? '').replace(/\uFFFC/g, '').trim();
    const events: InboundEvent[] = text ? [{ kind: 'message', channelMessageId, user, content: { type: 'text', text } }] : [];
    (p.attachments ?? []).forEach((a, i) => {
      const ref = JSON.stringify({ url: a.url, key: a.key, signature: a.signature, owner: a.owner, ...(a.size !== undefined ? { size: a.size } : {}) });
      const media = { kind: mediaKind(a.mimeType), ref, ...(a.mimeType ? { mimeType: a.mimeType } : {}), ...(a.name ? { fileName: a.name } : {}), ...(a.size !== undefined ? { size: a.size } : {}) };
      events.push({ kind: 'message', channelMessageId: `${channelMessageId}:${i}`, user, content: { type: 'media', media } });
    });
    return events;
  }
  if (p.type !== 'interactive') return [];
  if (p.interactiveDataRef) {
    // Too large to come inline (a list picker reply with images): stored with the reference as its payload, in the
    // shape POST /v2/apps/{appId}/conversations/{conversationId}/download takes, so the business can fetch the data.
    // Always kept, even past the 1,000 characters the API takes for a payload it is given: without it the data is lost.
    const ref = Object.fromEntries(REF_FIELDS.flatMap((f) => (p.interactiveDataRef![f] !== undefined ? [[f, p.interactiveDataRef![f]]] : [])));
    return [{ kind: 'message', channelMessageId, user, content: { type: 'text', text: INTERACTIVE_TEXT, payload: JSON.stringify({ apple: { interactiveDataRef: ref } }) } }];
  }
  const data = p.interactiveData?.data ?? {};
  const picked = selections(data);
  if (picked?.length) {
    return picked.map((s, i) => {
      const key = i === 0 ? channelMessageId : `${channelMessageId}:${i}`;
      // A quick reply item is the choice Parley offered; a list picker item carries its payload after the choice;
      // anyone else's identifier (a native override's) comes back as the payload itself.
      if (/^\d{1,4}$/.test(s.identifier)) return { kind: 'postback' as const, channelMessageId: key, user, choice: Number(s.identifier) };
      const payload = /^\d{1,4}:([\s\S]+)$/.exec(s.identifier)?.[1] ?? s.identifier;
      return { kind: 'postback' as const, channelMessageId: key, user, payload, ...(s.title ? { text: s.title } : {}) };
    });
  }
  // A time picker, an authentication or a form answer: its reply bubble's title is what the customer saw themselves say.
  const reply = (data.replyMessage ?? (p.interactiveData as Record<string, unknown> | undefined)?.replyMessage) as { title?: unknown } | undefined;
  const text = typeof reply?.title === 'string' && reply.title.trim() ? reply.title : typeof p.body === 'string' && p.body.trim() ? p.body : INTERACTIVE_TEXT;
  return [{ kind: 'message', channelMessageId, user, content: { type: 'text', text } }];
}

// ---- outbound ---------------------------------------------------------------------------

/** Fields a native payload may set on a `/v1/message` body; the ids and `v` are always Parley's. */
const NATIVE_KEYS = new Set(['type', 'body', 'interactiveData', 'richLinkData', 'attachments', 'locale', 'v', 'id', 'sourceId', 'destinationId']);
const NATIVE_TYPES = new Set(['text', 'interactive', 'richLink']);

function checkNative(payload: unknown): string | undefined {
  const problem = nativeKeysProblem('apple', payload, NATIVE_KEYS);
  if (problem) return problem;
  const type = (payload as { type?: unknown }).type;
  return typeof type === 'string' && NATIVE_TYPES.has(type) ? undefined : `override.apple.payload.type must be one of ${[...NATIVE_TYPES].join(', ')}`;
}

async function send(ctx: Ctx, to: Recipient, part: Part, skip = 0): Promise<SendOutcome> {
  // Stable per delivery part, so a retry re-sends the ids (and request identifiers) its first attempt used.
  const seed = to.deliveryKey ?? crypto.randomUUID();
  let bodies: Body[];
  switch (part.kind) {
    case 'text': {
      const requestIds = await Promise.all([0, 1, 2].map((i) => stableUuid(`${seed}:request:${i}`)));
      bodies = encodeText(part, capabilitiesOf(to.raw), (i) => requestIds[Math.min(i, 2)]!);
      break;
    }
    case 'media': {
      const prepared = await attachmentBody(ctx, apiBase(apple, ctx.config), part);
      if (!prepared.ok) return prepared.outcome;
      bodies = [prepared.body];
      break;
    }
    case 'native': {
      const problem = checkNative(part.payload);
      if (problem) return { ok: false, retryable: false, code: 'invalid_part', message: problem };
      bodies = [part.payload as Body];
      break;
    }
    default:
      return { ok: false, retryable: false, code: 'invalid_part', message: `Apple Messages for Business cannot send a ${part.kind} part here` };
  }
  const base = apiBase(apple, ctx.config);
  const ids: string[] = [];
  for (let i = skip; i < bodies.length; i++) {
    const id = await stableUuid(`${seed}:${i}`);
    const failure = await postMessage(ctx, base, id, to.externalId, bodies[i]!);
    if (failure) return ids.length ? { ...failure, sent: ids } : failure;
    ids.push(id);
  }
  return { ok: true, channelMessageId: ids.at(-1) ?? '', ...(ids.length > 1 ? { channelMessageIds: ids } : {}) };
}

// ---- large interactive data -----------------------------------------------------------------

export const InteractiveDataRef = v.object({ ...FileRef.entries, bid: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty')) }, 'must be an object');

/**
 * The decoded interactive data behind a reference Apple sent instead of the
 * data (`POST …/conversations/{id}/download`): preDownload, download,
 * decrypt, then Apple's decodePayload, whose JSON is the answer.
 */
export async function downloadMessageRef(ctx: Ctx, ref: v.InferOutput<typeof InteractiveDataRef>): Promise<unknown> {
  const base = apiBase(apple, ctx.config);
  return decodePayload(ctx, base, ref.bid, await downloadFile(ctx, base, ref));
}

// ---- the adapter ----------------------------------------------------------------------------

export const apple: ChannelAdapter<AppleConfig> = {
  type: 'apple',
  capabilities,
  defaultApiBase: APPLE_API_BASE,
  createSchema,
  updateSchema,
  secretFields: ['apiSecret', 'authenticationMessageSecret'],
  view: (c) => ({ businessId: c.businessId, mspId: c.mspId }),

  async verify(request, config) {
    const auth = request.headers.get('authorization');
    const bearer = auth && /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
    if (!bearer) return { ok: false, status: 401, reason: 'Missing Authorization: Bearer <JWT>' };
    const problem = await bearerProblem(bearer, config, request.now);
    if (problem) return { ok: false, status: 403, reason: problem };
    const destination = request.headers.get('destination-id');
    if (destination === null) return { ok: false, status: 403, reason: 'The destination-id header is required: Apple names the business every message is for' };
    if (destination !== config.businessId) return { ok: false, status: 403, reason: 'destination-id names another business than this integration' };
    if (isGzip(request.raw)) inflated.set(request, await inflate(request.raw).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))));
    return { ok: true };
  },

  /**
   * Apple's token signs neither the body nor the routing headers and lives an
   * hour: its signature and the message id are good for the first body and
   * source and destination they came with (and Apple's redeliveries of them)
   * only, so a captured request cannot be replayed with another body or
   * customer. (Under a new id it could, within the token's hour: Apple signs
   * nothing a message could be bound to, and may sign two messages alike.)
   */
  async replayGuard(request) {
    const segment = /^Bearer\s+[^.\s]*\.[^.\s]*\.(\S+?)\s*$/i.exec(request.headers.get('authorization') ?? '')?.[1] ?? '';
    // The signature's bytes, not its text: base64 ignores a last character's spare bits, so one signature has several spellings.
    const signature = toHex(fromBase64Url(segment));
    const body = inflated.get(request);
    const bytes = body instanceof Uint8Array ? body : request.raw;
    const h = request.headers;
    return { nonce: `${signature}:${h.get('id') ?? ''}`, digest: await sha256Hex(`${await sha256Hex(bytes)}\n${h.get('source-id') ?? ''}\n${h.get('destination-id') ?? ''}`) };
  },

  parse: (request) => parseMessage(request),
  acknowledge: () => new Response(null, { status: 200 }),

  checkNative,
  send,

  async typing(ctx, to, on) {
    const id = crypto.randomUUID();
    const failure = await postMessage(ctx, apiBase(apple, ctx.config), id, to.externalId, { type: on ? 'typing_start' : 'typing_end' });
    if (failure) throw new Error(`${failure.code} ${failure.message}`);
  },

  async fetchMedia(ctx, ref) {
    const parsed = v.safeParse(FileRef, JSON.parse(ref));
    if (!parsed.success) throw new Error(`not an Apple attachment reference: ${describeIssue(parsed.issues[0])}`);
    // Decrypted as it downloads, with its length stated, so media.ts streams it into R2 without holding it.
    return downloadStream(ctx, apiBase(apple, ctx.config), parsed.output);
  },
};
