/**
 * Twilio Programmable Messaging (SMS/MMS, and WhatsApp through Twilio).
 * Registers the phone number's "A message comes in" URL, verifies
 * `X-Twilio-Signature` (HMAC-SHA1 over the called URL and the sorted form
 * parameters), turns inbound messages and status callbacks into events, and
 * sends through the Messages resource with a per-message `StatusCallback` so
 * delivery receipts come back to the same endpoint.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { boundedString, describeIssue, uri } from '../schema/common';
import { apiBase, nativeKeysProblem, type ChannelAdapter, type ChannelContext, type ChannelUser, type InboundEvent, type InboundRequest, type MediaKind, type Part, type SendOutcome } from './adapter';
import { callChannel, jsonBody, MEDIA_TIMEOUT_MS, retryAfterMs } from './http';
import { hmacBase64, safeEqual } from './signing';

// ---- settings ----------------------------------------------------------------------

const sid = (prefix: string, what: string) =>
  v.pipe(v.string('must be a string'), v.regex(new RegExp(`^${prefix}[0-9a-f]{32}$`), `must be a Twilio ${what} (${prefix} followed by 32 lowercase hex characters)`));

const authToken = boundedString(1, 128);

const createSchema = v.pipe(
  v.object(
    {
      accountSid: sid('AC', 'Account SID'),
      authToken,
      phoneNumberSid: v.optional(sid('PN', 'Phone Number SID')),
      messagingServiceSid: v.optional(sid('MG', 'Messaging Service SID')),
      apiBaseUrl: v.optional(uri()),
    },
    'must be an object',
  ),
  v.check(
    (c) => (c.phoneNumberSid === undefined) !== (c.messagingServiceSid === undefined),
    'exactly one of phoneNumberSid or messagingServiceSid is required',
  ),
);

const updateSchema = v.object({ authToken: v.optional(authToken) }, 'must be an object');

export type TwilioConfig = v.InferOutput<typeof createSchema> & {
  /** The number behind `phoneNumberSid` (E.164), learned in setup: the sender and the inbound routing key. */
  phoneNumber?: string;
};

// ---- Twilio REST -------------------------------------------------------------------

const basicAuth = (c: TwilioConfig) => `Basic ${btoa(`${c.accountSid}:${c.authToken}`)}`;

const accountUrl = (c: TwilioConfig) => `${apiBase(twilio, c)}/2010-04-01/Accounts/${c.accountSid}`;

const form = (fields: Record<string, string>) => new URLSearchParams(fields);

const errorEnvelope = v.looseObject({
  code: v.optional(v.union([v.number(), v.string()])),
  message: v.optional(v.string()),
});

/** Twilio's error code and message, or `http_<status>` when the body is not Twilio's envelope. */
async function twilioError(response: Response): Promise<{ code: string; message: string }> {
  const parsed = v.safeParse(errorEnvelope, await jsonBody(response));
  const code = parsed.success && parsed.output.code !== undefined ? String(parsed.output.code) : `http_${response.status}`;
  const message = parsed.success && parsed.output.message ? parsed.output.message : `Twilio answered HTTP ${response.status}`;
  return { code, message };
}

/** A REST call for setup/teardown; `error` carries words the customer can act on. */
async function rest(ctx: ChannelContext<TwilioConfig>, path: string, body?: URLSearchParams): Promise<{ ok: true; json: unknown } | { ok: false; status?: number; error: string }> {
  const called = await callChannel(ctx.fetch, `${accountUrl(ctx.config)}${path}`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: basicAuth(ctx.config), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    ...(body ? { body } : {}),
  });
  if (!called.ok) return { ok: false, error: `Could not reach Twilio: ${called.outcome.message}` };
  const { response } = called;
  if (response.ok) return { ok: true, json: await jsonBody(response) };
  const err = await twilioError(response);
  if (response.status === 401) {
    return { ok: false, status: 401, error: `Twilio rejected the credentials (${err.code} ${err.message}); check the Account SID and Auth Token` };
  }
  return { ok: false, status: response.status, error: `Twilio answered ${response.status} (${err.code}): ${err.message}` };
}

const phoneNumberResource = v.looseObject({ phone_number: v.string(), sms_url: v.optional(v.nullable(v.string())) });
const accountResource = v.looseObject({ status: v.optional(v.string()) });

// ---- inbound -----------------------------------------------------------------------

const WHATSAPP = 'whatsapp:';
const bare = (address: string) => (address.startsWith(WHATSAPP) ? address.slice(WHATSAPP.length) : address);

/** Twilio posts form fields; anything else (JSON-bodied webhooks sign a body hash instead) is not a messaging webhook. */
function formParams(request: InboundRequest): URLSearchParams {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw badRequest('Twilio webhooks must be application/x-www-form-urlencoded');
  }
  return new URLSearchParams(new TextDecoder().decode(request.raw));
}

/** twilio-node's data string: the URL, then each key (code-unit order) followed by each of its distinct values, sorted. */
function signedData(url: string, params: URLSearchParams): string {
  let data = url;
  for (const key of [...new Set(params.keys())].sort()) {
    for (const value of [...new Set(params.getAll(key))].sort()) data += key + value;
  }
  return data;
}

/**
 * The URL as received, without its port and with the scheme's default port:
 * Twilio signs the URL as configured, and twilio-node accepts either form
 * because Twilio's own signing is inconsistent about ports. Built on the
 * string, since `URL` would drop a default port and may re-encode the query.
 */
function urlVariants(url: string): string[] {
  const m = /^(https?:)\/\/([^/?#]*)(.*)$/i.exec(url);
  if (!m) return [url];
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  const host = authority.replace(/:\d*$/, '');
  const defaultPort = scheme.toLowerCase() === 'https:' ? '443' : '80';
  const withPort = authority === host ? `${host}:${defaultPort}` : authority;
  return [...new Set([url, `${scheme}//${host}${rest}`, `${scheme}//${withPort}${rest}`])];
}

const text = v.string('must be a string');

const webhookFields = v.looseObject({
  MessageSid: v.optional(text),
  SmsMessageSid: v.optional(text),
  SmsSid: v.optional(text),
  AccountSid: v.optional(text),
  MessagingServiceSid: v.optional(text),
  From: text,
  To: text,
  Body: v.optional(text),
  NumMedia: v.optional(v.pipe(text, v.regex(/^\d{1,2}$/, 'must be a small whole number'))),
  MessageStatus: v.optional(text),
  ErrorCode: v.optional(text),
  ErrorMessage: v.optional(text),
  ProfileName: v.optional(text),
  WaId: v.optional(text),
  Latitude: v.optional(text),
  Longitude: v.optional(text),
  Address: v.optional(text),
  Label: v.optional(text),
  ButtonPayload: v.optional(text),
  ButtonText: v.optional(text),
  ListId: v.optional(text),
  ListTitle: v.optional(text),
  OriginalRepliedMessageSid: v.optional(text),
});
type WebhookFields = v.InferOutput<typeof webhookFields>;

function mediaKind(contentType: string): MediaKind {
  if (contentType.startsWith('image/')) return 'image';
  if (contentType.startsWith('video/')) return 'video';
  if (contentType.startsWith('audio/')) return 'audio';
  return 'file';
}

/** Drops absent fields, and empty ones unless `keepEmpty` (raw keeps what Twilio sent; curated info does not). */
function compact(entries: Record<string, string | undefined>, keepEmpty: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(entries)) if (value !== undefined && (keepEmpty || value !== '')) out[key] = value;
  return out;
}

function sender(f: WebhookFields, all: Record<string, string>): ChannelUser {
  const phoneNumber = bare(f.From);
  const geo = { city: all.FromCity, state: all.FromState, country: all.FromCountry, zip: all.FromZip };
  return {
    externalId: f.From,
    displayName: f.ProfileName || phoneNumber,
    info: compact({ phoneNumber, ...geo }, false),
    raw: compact(
      { From: f.From, FromCity: all.FromCity, FromState: all.FromState, FromCountry: all.FromCountry, FromZip: all.FromZip, ProfileName: f.ProfileName, WaId: f.WaId },
      true,
    ),
  };
}

function coordinate(value: string, field: string, limit: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || Math.abs(n) > limit) throw badRequest(`Malformed Twilio webhook: ${field} must be a coordinate`);
  return n;
}

const RECEIPTS = new Map<string, 'sent' | 'delivered' | 'read' | 'failed'>([
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['read', 'read'],
  ['failed', 'failed'],
  ['undelivered', 'failed'],
]);

/** Our message's status callback: `From` is our sender, `To` the recipient the receipt is about. */
function receipt(f: WebhookFields, messageSid: string, status: string, config: TwilioConfig, now: number): InboundEvent[] {
  if (config.phoneNumber && bare(f.From) !== config.phoneNumber) return [];
  const mapped = RECEIPTS.get(status);
  // queued/accepted/sending/scheduled/canceled say nothing about the recipient.
  if (!mapped) return [];
  return [
    {
      kind: 'delivery',
      status: mapped,
      channelMessageId: messageSid,
      user: { externalId: f.To },
      timestamp: now,
      ...(mapped === 'failed' ? { error: { code: f.ErrorCode || status, message: f.ErrorMessage || `Twilio reported the message ${status}` } } : {}),
    },
  ];
}

function message(f: WebhookFields, all: Record<string, string>, messageSid: string, config: TwilioConfig, now: number): InboundEvent[] {
  if (config.phoneNumber && bare(f.To) !== config.phoneNumber) return [];
  const user = sender(f, all);
  const base = { user, timestamp: now };
  const quoted = f.OriginalRepliedMessageSid ? { quotedChannelMessageId: f.OriginalRepliedMessageSid } : {};
  const body = f.Body ?? '';

  // WhatsApp button taps (quick replies, template buttons) and list-picker rows (field names unverified) carry a payload.
  if (f.ButtonPayload !== undefined || f.ButtonText !== undefined) {
    return [{ ...base, kind: 'postback', channelMessageId: messageSid, payload: f.ButtonPayload || f.ButtonText, text: f.ButtonText || body || undefined }];
  }
  if (f.ListId !== undefined) {
    return [{ ...base, kind: 'postback', channelMessageId: messageSid, payload: f.ListId, text: f.ListTitle || body || undefined }];
  }

  if (f.Latitude !== undefined || f.Longitude !== undefined) {
    const lat = coordinate(f.Latitude ?? '', 'Latitude', 90);
    const long = coordinate(f.Longitude ?? '', 'Longitude', 180);
    return [
      {
        ...base,
        ...quoted,
        kind: 'message',
        channelMessageId: messageSid,
        content: { type: 'location', lat, long, ...(f.Label ? { name: f.Label } : {}), ...(f.Address ? { address: f.Address } : {}) },
      },
    ];
  }

  const count = Number(f.NumMedia ?? '0');
  if (count > 0) {
    const events: InboundEvent[] = [];
    for (let i = 0; i < count; i++) {
      const ref = all[`MediaUrl${i}`];
      if (!ref) throw badRequest(`Malformed Twilio webhook: MediaUrl${i} is required when NumMedia is ${count}`);
      const mimeType = all[`MediaContentType${i}`] || undefined;
      events.push({
        ...base,
        ...(i === 0 ? quoted : {}),
        kind: 'message',
        // One Twilio message becomes one Parley message per media, each needing its own dedupe key.
        channelMessageId: i === 0 ? messageSid : `${messageSid}:${i}`,
        content: {
          type: 'media',
          media: { kind: mediaKind(mimeType ?? ''), ref, ...(mimeType ? { mimeType } : {}) },
          ...(i === 0 && body ? { text: body } : {}),
        },
      });
    }
    return events;
  }

  if (!body) return [];
  return [{ ...base, ...quoted, kind: 'message', channelMessageId: messageSid, content: { type: 'text', text: body } }];
}

// ---- outbound ----------------------------------------------------------------------

const sendResult = v.looseObject({ sid: v.string() });

/** Twilio's codes that mean "later" even though the HTTP status is 4xx. */
const RETRYABLE_CODES = new Set(['20429', '63018']);

async function classify(response: Response): Promise<SendOutcome> {
  if (response.ok) {
    const parsed = v.safeParse(sendResult, await jsonBody(response));
    // Twilio accepted the message; resending on an odd body would duplicate it.
    if (!parsed.success) return { ok: false, retryable: false, code: 'invalid_response', message: 'Twilio accepted the message but its answer carried no sid' };
    return { ok: true, channelMessageId: parsed.output.sid };
  }
  const { code, message } = await twilioError(response);
  if (response.status === 429 || code === '20429') {
    const after = retryAfterMs(response.headers);
    return { ok: false, retryable: true, code, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  if (response.status >= 500 || RETRYABLE_CODES.has(code)) return { ok: false, retryable: true, code, message };
  return { ok: false, retryable: false, code, message };
}

/**
 * Messages form fields a native payload may set. To, From,
 * MessagingServiceSid and StatusCallback may be named but are always replaced
 * by the integration's; fields such as ApplicationSid (which would send status
 * callbacks elsewhere) are not a message's to choose.
 */
const NATIVE_FIELDS = new Set(['To', 'From', 'MessagingServiceSid', 'StatusCallback', 'Body', 'MediaUrl', 'ContentSid', 'ContentVariables', 'PersistentAction', 'ShortenUrls', 'SendAsMms', 'ValidityPeriod', 'SmartEncoded']);
const checkNative = (payload: unknown) => nativeKeysProblem('twilio', payload, NATIVE_FIELDS);

/** A native payload's fields as Twilio form values; objects (ContentVariables) go as the JSON string Twilio expects. */
function nativeFields(payload: Record<string, unknown>): [string, string][] {
  const fields: [string, string][] = [];
  for (const [key, value] of Object.entries(payload)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === undefined || item === null) continue;
      fields.push([key, typeof item === 'object' ? JSON.stringify(item) : String(item)]);
    }
  }
  return fields;
}

function partFields(part: Part): [string, string][] | string {
  switch (part.kind) {
    case 'text':
      return [['Body', part.text]];
    case 'media':
      return [['MediaUrl', part.url], ...(part.caption ? ([['Body', part.caption]] as [string, string][]) : [])];
    case 'native':
      return checkNative(part.payload) ?? nativeFields(part.payload as Record<string, unknown>);
    default:
      return `Twilio SMS/MMS cannot send ${part.kind} content natively`;
  }
}

// ---- the adapter -------------------------------------------------------------------

/** Twilio names an SMS user by their E.164 number and a WhatsApp user by `whatsapp:` and the number, as its `From` does. */
function notificationRecipient(destinationId: string): ChannelUser | string {
  const m = /^(whatsapp:)?(\+[1-9]\d{6,14})$/.exec(destinationId.replace(/[\s-]/g, ''));
  if (!m) return 'must be a phone number in E.164 form, e.g. +14155550100 (or whatsapp:+14155550100)';
  return { externalId: `${m[1] ?? ''}${m[2]}`, displayName: m[2]!, info: { phoneNumber: m[2]! } };
}

export const twilio: ChannelAdapter<TwilioConfig> = {
  type: 'twilio',
  // SMS is the floor: the renderer cannot tell an SMS recipient from a WhatsApp one.
  capabilities: {
    textMax: 1600,
    captionMax: 1600,
    media: ['image', 'video', 'audio', 'file'],
    postbackButtons: 0,
    linkButtons: 0,
    mixedButtons: false,
    buttonTextMax: 1600,
    quickReplies: 0,
    locationRequest: false,
    carousel: null,
    location: false,
    templates: false,
    markup: 'plain',
  },
  defaultApiBase: 'https://api.twilio.com',
  createSchema,
  updateSchema,
  secretFields: ['authToken'],

  view: (c) => ({
    accountSid: c.accountSid,
    ...(c.phoneNumberSid ? { phoneNumberSid: c.phoneNumberSid } : {}),
    ...(c.messagingServiceSid ? { messagingServiceSid: c.messagingServiceSid } : {}),
    ...(c.phoneNumber ? { phoneNumber: c.phoneNumber } : {}),
    ...(c.apiBaseUrl ? { apiBaseUrl: c.apiBaseUrl } : {}),
  }),

  async setup(ctx) {
    const { config } = ctx;
    if (!config.phoneNumberSid) {
      // A Messaging Service's inbound URL lives on messaging.twilio.com, another
      // host than this integration's API base, so the customer sets it (or
      // "defer to sender's webhook") themselves; here we only prove the credentials.
      const account = await rest(ctx, '.json');
      if (!account.ok) return { status: 'error', error: account.error };
      const status = v.safeParse(accountResource, account.json);
      if (status.success && status.output.status && status.output.status !== 'active') {
        return { status: 'error', error: `The Twilio account ${config.accountSid} is ${status.output.status}` };
      }
      return { status: 'active' };
    }

    const numberPath = `/IncomingPhoneNumbers/${config.phoneNumberSid}.json`;
    const found = await rest(ctx, numberPath);
    if (!found.ok) {
      const error = found.status === 404 ? `Twilio has no phone number ${config.phoneNumberSid} on account ${config.accountSid}; check phoneNumberSid` : found.error;
      return { status: 'error', error };
    }
    const number = v.safeParse(phoneNumberResource, found.json);
    if (!number.success) return { status: 'error', error: 'Twilio answered the phone number lookup without a phone_number' };

    const registered = await rest(ctx, numberPath, form({ SmsUrl: ctx.webhookUrl, SmsMethod: 'POST' }));
    if (!registered.ok) return { status: 'error', error: `Could not set the number's incoming message URL: ${registered.error}` };
    return { status: 'active', config: { phoneNumber: number.output.phone_number } };
  },

  async teardown(ctx) {
    if (!ctx.config.phoneNumberSid) return;
    const numberPath = `/IncomingPhoneNumbers/${ctx.config.phoneNumberSid}.json`;
    const found = await rest(ctx, numberPath);
    if (!found.ok) throw new Error(found.error);
    const number = v.safeParse(phoneNumberResource, found.json);
    // The customer may have pointed the number elsewhere since; only clear our own URL.
    if (!number.success || number.output.sms_url !== ctx.webhookUrl) return;
    const cleared = await rest(ctx, numberPath, form({ SmsUrl: '' }));
    if (!cleared.ok) throw new Error(cleared.error);
  },

  async verify(request, config) {
    const params = formParams(request);
    const given = request.headers.get('x-twilio-signature');
    if (!given) return { ok: false, status: 403, reason: 'missing X-Twilio-Signature' };
    for (const url of urlVariants(request.url)) {
      if (safeEqual(await hmacBase64('SHA-1', config.authToken, signedData(url, params)), given)) return { ok: true };
    }
    return { ok: false, status: 403, reason: 'X-Twilio-Signature does not match' };
  },

  parse(request, config) {
    const all = Object.fromEntries(formParams(request));
    const parsed = v.safeParse(webhookFields, all);
    if (!parsed.success) throw badRequest(`Malformed Twilio webhook: ${describeIssue(parsed.issues[0])}`);
    const f = parsed.output;
    const messageSid = f.MessageSid ?? f.SmsMessageSid ?? f.SmsSid;
    if (!messageSid) throw badRequest('Malformed Twilio webhook: MessageSid is required');

    // The signature proves the account's token, not which of its numbers or services this integration owns.
    if (f.AccountSid && f.AccountSid !== config.accountSid) return [];
    if (config.messagingServiceSid && f.MessagingServiceSid && f.MessagingServiceSid !== config.messagingServiceSid) return [];

    // Inbound messages may carry `received` statuses; only our sends' callbacks are receipts.
    const status = f.MessageStatus;
    if (status && status !== 'received' && status !== 'receiving') return receipt(f, messageSid, status, config, request.now);
    return message(f, all, messageSid, config, request.now);
  },

  acknowledge: () => new Response('<?xml version="1.0" encoding="UTF-8"?><Response/>', { status: 200, headers: { 'content-type': 'text/xml' } }),

  checkNative,

  async send(ctx, to, part) {
    const { config } = ctx;
    const fields = partFields(part);
    if (typeof fields === 'string') return { ok: false, retryable: false, code: 'unsupported_content', message: fields };

    const params = new URLSearchParams(fields);
    // The recipient, our sender and the receipt URL are the integration's, whatever a native payload says.
    params.set('To', to.externalId);
    if (config.messagingServiceSid) {
      params.delete('From');
      params.set('MessagingServiceSid', config.messagingServiceSid);
    } else if (config.phoneNumber) {
      params.set('From', to.externalId.startsWith(WHATSAPP) ? `${WHATSAPP}${config.phoneNumber}` : config.phoneNumber);
    } else {
      return { ok: false, retryable: false, code: 'not_configured', message: 'The integration has no sender: setup never learned the phone number' };
    }
    params.set('StatusCallback', ctx.webhookUrl);

    const called = await callChannel(ctx.fetch, `${accountUrl(config)}/Messages.json`, {
      method: 'POST',
      headers: { authorization: basicAuth(config), 'content-type': 'application/x-www-form-urlencoded' },
      body: params,
    });
    return called.ok ? classify(called.response) : called.outcome;
  },

  async fetchMedia(ctx, ref) {
    const api = new URL(apiBase(twilio, ctx.config)).origin;
    // Credentials only ever go to the integration's Twilio API host; the
    // redirect to a pre-signed URL on Twilio's media host is followed by the
    // outbound policy without them (the URL carries its own, and S3 refuses a second auth scheme).
    if (new URL(ref).origin !== api) throw new Error(`Twilio media ${ref} is not on the integration's API host`);
    const response = await ctx.fetch(ref, { headers: { authorization: basicAuth(ctx.config) }, timeoutMs: MEDIA_TIMEOUT_MS, maxRedirects: 3 });
    if (!response.ok) throw new Error(`Twilio media download failed: HTTP ${response.status}`);
    return response;
  },
  notificationRecipient,
};
