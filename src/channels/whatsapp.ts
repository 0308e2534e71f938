/**
 * WhatsApp Cloud API adapter (reference §2). One business phone number is one
 * integration: inbound `messages` webhooks are routed by
 * `metadata.phone_number_id`, outbound parts become `POST /{phoneNumberId}/messages`
 * bodies. Reply buttons and list rows carry our own id encoding (`p:` postback,
 * `r:` quick reply, `#n` when the payload is too long) so a tap comes back as
 * the kind of action that was sent. The 24-hour customer-service window is
 * checked before calling Meta: outside it only templates may go.
 */
import * as v from 'valibot';
import { badRequest } from '../http/errors';
import { boundedString, uri } from '../schema/common';
import {
  apiBase,
  type Button,
  nativeKeysProblem,
  type Capabilities,
  type ChannelAdapter,
  type ChannelContext,
  type ChannelUser,
  type InboundContent,
  type InboundEvent,
  type InboundRequest,
  type MediaKind,
  type Part,
  type QuickReply,
  type Recipient,
  type SendOutcome,
} from './adapter';
import { MEDIA_TIMEOUT_MS } from './http';
import {
  choiceOf,
  graphGet,
  graphPost,
  graphUrl,
  graphVersion,
  insideWindow,
  metaHandshake,
  newVerifyToken,
  OPTIONS_ONLY_TEXT,
  parseItem,
  parseWebhook,
  secondsToMs,
  splitForBody,
  verifyMetaSignature,
  verifyToken,
} from './meta';

// ---- config ------------------------------------------------------------------------

const secret = boundedString(1, 2048);
const language = v.pipe(v.string('must be a string'), v.regex(/^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$/, "must be a WhatsApp template language code such as 'en_US' or 'pt_BR'"));

/** Learned from Meta in setup; never taken from the customer (v.object drops them from the body). */
type ReadOnly = { phoneNumber?: string };

const createFields = v.object(
  {
    hsmFallbackLanguage: v.optional(language, 'en_US'),
    accountId: v.optional(boundedString(1, 64)),
    accountManagementAccessToken: v.optional(secret),
    phoneNumberId: v.pipe(v.string('must be a string'), v.regex(/^\d{1,32}$/, 'must be the numeric Phone number ID from WhatsApp Manager')),
    accessToken: secret,
    appSecret: boundedString(1, 256),
    verifyToken: v.optional(verifyToken),
    graphVersion: v.optional(graphVersion),
    apiBaseUrl: v.optional(uri()),
  },
  'must be an object',
);
const createSchema = v.pipe(
  createFields,
  v.transform((config): v.InferOutput<typeof createFields> & ReadOnly => config),
);

const updateSchema = v.object(
  {
    hsmFallbackLanguage: v.optional(language),
    accountId: v.optional(boundedString(1, 64)),
    accountManagementAccessToken: v.optional(secret),
    accessToken: v.optional(secret),
    appSecret: v.optional(boundedString(1, 256)),
    verifyToken: v.optional(verifyToken),
  },
  'must be an object',
);

export type WhatsAppConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<WhatsAppConfig>;

const capabilities: Capabilities = {
  textMax: 4096,
  captionMax: 1024,
  media: ['image', 'file', 'video', 'audio'],
  postbackButtons: 3,
  linkButtons: 1,
  mixedButtons: false,
  buttonTextMax: 20,
  quickReplies: 10,
  locationRequest: true,
  carousel: null,
  location: true,
  templates: true,
  markup: 'markdown',
};

/** §2.4: throttling and temporary faults; everything else Meta answers is permanent. */
const RETRYABLE = new Set([1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 133004]);

const INTERACTIVE_BODY_MAX = 1024;
const REPLY_ID_MAX = 256;
const ROW_ID_MAX = 200;

const REENGAGEMENT: SendOutcome = {
  ok: false,
  retryable: false,
  code: '131047',
  message: 'Re-engagement message: more than 24 hours have passed since the user last wrote; send a template',
};

// ---- inbound -------------------------------------------------------------------------

const envelope = v.looseObject({
  object: v.string('must be a string'),
  entry: v.array(
    v.looseObject({ changes: v.optional(v.array(v.looseObject({ field: v.optional(v.string()), value: v.optional(v.unknown()) }), 'must be an array')) }),
    'must be an array',
  ),
});

const messagesValue = v.looseObject({
  metadata: v.looseObject({ phone_number_id: v.string('must be a string') }),
  contacts: v.optional(v.array(v.looseObject({ wa_id: v.optional(v.string()), profile: v.optional(v.looseObject({ name: v.optional(v.string()) })) }))),
  messages: v.optional(v.array(v.unknown(), 'must be an array')),
  statuses: v.optional(v.array(v.unknown(), 'must be an array')),
});
type Contact = NonNullable<v.InferOutput<typeof messagesValue>['contacts']>[number];

const media = v.looseObject({
  id: v.string('must be a string'),
  mime_type: v.optional(v.string()),
  caption: v.optional(v.string()),
  filename: v.optional(v.string()),
});
const replyPick = v.looseObject({ id: v.string('must be a string'), title: v.optional(v.string()) });

const message = v.looseObject({
  from: v.string('must be a string'),
  id: v.string('must be a string'),
  timestamp: v.optional(v.string()),
  type: v.string('must be a string'),
  context: v.optional(v.looseObject({ id: v.optional(v.string()) })),
  text: v.optional(v.looseObject({ body: v.string('must be a string') })),
  image: v.optional(media),
  video: v.optional(media),
  audio: v.optional(media),
  document: v.optional(media),
  sticker: v.optional(media),
  location: v.optional(
    v.looseObject({ latitude: v.number('must be a number'), longitude: v.number('must be a number'), name: v.optional(v.string()), address: v.optional(v.string()) }),
  ),
  interactive: v.optional(v.looseObject({ type: v.string(), button_reply: v.optional(replyPick), list_reply: v.optional(replyPick) })),
  button: v.optional(v.looseObject({ payload: v.optional(v.string()), text: v.optional(v.string()) })),
});
type Message = v.InferOutput<typeof message>;

const status = v.looseObject({
  id: v.string('must be a string'),
  status: v.string('must be a string'),
  timestamp: v.optional(v.string()),
  recipient_id: v.string('must be a string'),
  errors: v.optional(
    v.array(
      v.looseObject({ code: v.number(), title: v.optional(v.string()), message: v.optional(v.string()), error_data: v.optional(v.looseObject({ details: v.optional(v.string()) })) }),
    ),
  ),
});

const MEDIA_TYPES: Record<string, MediaKind> = { image: 'image', sticker: 'image', video: 'video', audio: 'audio', document: 'file' };
const STATUSES = new Set(['sent', 'delivered', 'read', 'failed']);

function userOf(waId: string, contacts: Contact[]): ChannelUser {
  const contact = contacts.find((c) => c.wa_id === waId) ?? (contacts.length === 1 ? contacts[0] : undefined);
  const name = contact?.profile?.name;
  return { externalId: waId, ...(name ? { displayName: name } : {}), info: { phoneNumber: `+${waId}` }, ...(contact ? { raw: contact } : {}) };
}

/** A reply-button or list-row id as we encoded it: `r:` answers a quick reply, `p:` a postback, `#n` a long one. */
function answer(m: Message, id: string, title: string | undefined, base: { user: ChannelUser; timestamp?: number }): InboundEvent {
  const text = title !== undefined ? { text: title } : {};
  if (id.startsWith('r:')) return { ...base, kind: 'message', channelMessageId: m.id, content: { type: 'text', text: title ?? id.slice(2), payload: id.slice(2) } };
  const choice = choiceOf(id);
  if (choice !== undefined) return { ...base, kind: 'postback', channelMessageId: m.id, choice, ...text };
  // `p:` is ours; any other id came from a native (override) message and is the payload itself.
  return { ...base, kind: 'postback', channelMessageId: m.id, payload: id.startsWith('p:') ? id.slice(2) : id, ...text };
}

function messageEvent(m: Message, user: ChannelUser, where: string): InboundEvent | undefined {
  const timestamp = secondsToMs(m.timestamp);
  const base = { user, ...(timestamp !== undefined ? { timestamp } : {}) };
  const need = <T>(value: T | undefined, field: string): T => {
    if (value === undefined) throw badRequest(`${where}.${field} is required for type ${m.type}`);
    return value;
  };
  let content: InboundContent;
  const kind = Object.hasOwn(MEDIA_TYPES, m.type) ? MEDIA_TYPES[m.type] : undefined;
  if (m.type === 'text') {
    content = { type: 'text', text: need(m.text, 'text').body };
  } else if (kind) {
    const item = need(m[m.type as 'image'], m.type);
    content = {
      type: 'media',
      media: { kind, ref: item.id, ...(item.mime_type ? { mimeType: item.mime_type } : {}), ...(item.filename ? { fileName: item.filename } : {}) },
      ...(item.caption ? { text: item.caption } : {}),
    };
  } else if (m.type === 'location') {
    const l = need(m.location, 'location');
    content = { type: 'location', lat: l.latitude, long: l.longitude, ...(l.name ? { name: l.name } : {}), ...(l.address ? { address: l.address } : {}) };
  } else if (m.type === 'interactive') {
    const i = need(m.interactive, 'interactive');
    const pick = i.type === 'button_reply' ? i.button_reply : i.type === 'list_reply' ? i.list_reply : undefined;
    return pick ? answer(m, pick.id, pick.title, base) : undefined;
  } else if (m.type === 'button') {
    // A template's quick-reply button: the payload is the template author's, never our encoding.
    const b = need(m.button, 'button');
    return { ...base, kind: 'postback', channelMessageId: m.id, ...(b.payload !== undefined ? { payload: b.payload } : {}), ...(b.text !== undefined ? { text: b.text } : {}) };
  } else {
    // Reactions, contacts cards, orders, system notices and unsupported types carry nothing Parley stores.
    return undefined;
  }
  return { ...base, kind: 'message', channelMessageId: m.id, content, ...(m.context?.id ? { quotedChannelMessageId: m.context.id } : {}) };
}

function statusEvent(raw: unknown, where: string): InboundEvent | undefined {
  const s = parseItem(status, raw, where);
  if (!STATUSES.has(s.status)) return undefined;
  const timestamp = secondsToMs(s.timestamp);
  const error = s.errors?.[0];
  return {
    kind: 'delivery',
    status: s.status as 'sent' | 'delivered' | 'read' | 'failed',
    channelMessageId: s.id,
    user: { externalId: s.recipient_id },
    ...(timestamp !== undefined ? { timestamp } : {}),
    ...(s.status === 'failed' && error ? { error: { code: String(error.code), message: error.title ?? error.message ?? error.error_data?.details ?? 'Message failed' } } : {}),
  };
}

function parse(request: InboundRequest, config: WhatsAppConfig): InboundEvent[] {
  const body = parseWebhook(request.raw, envelope);
  if (body.object !== 'whatsapp_business_account') return [];
  const events: InboundEvent[] = [];
  body.entry.forEach((entry, e) => {
    (entry.changes ?? []).forEach((change, c) => {
      if (change.field !== 'messages') return;
      const where = `entry[${e}].changes[${c}].value`;
      const value = parseItem(messagesValue, change.value, where);
      // One app may serve several numbers; each number is its own integration.
      if (value.metadata.phone_number_id !== config.phoneNumberId) return;
      const contacts = value.contacts ?? [];
      (value.messages ?? []).forEach((raw, i) => {
        const m = parseItem(message, raw, `${where}.messages[${i}]`);
        const event = messageEvent(m, userOf(m.from, contacts), `${where}.messages[${i}]`);
        if (event) events.push(event);
      });
      (value.statuses ?? []).forEach((raw, i) => {
        const event = statusEvent(raw, `${where}.statuses[${i}]`);
        if (event) events.push(event);
      });
    });
  });
  return events;
}

// ---- outbound ------------------------------------------------------------------------

type Body = Record<string, unknown>;

/** WhatsApp's own emphasis: `*bold*`, `_italic_`, `~strike~`; links become "text (url)". */
export function toWhatsAppMarkdown(md: string): string {
  return md
    .replace(/\*\*([^*]+)\*\*/g, '\u0000$1\u0000')
    .replace(/(^|[^*])\*([^*\n]+)\*/g, '$1_$2_')
    .replace(/\u0000/g, '*')
    .replace(/~~([^~]+)~~/g, '~$1~')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '$1 ($2)');
}

const textBody = (text: string): Body => ({ type: 'text', text: { body: text, preview_url: /https?:\/\//.test(text) } });

/** Our id for an option, or `#<choice>` when the payload would not fit the field. */
const optionId = (prefix: 'p' | 'r', payload: string, choice: number, max: number) => {
  const id = `${prefix}:${payload}`;
  return id.length <= max ? id : `#${choice}`;
};

type Option = { prefix: 'p' | 'r'; title: string; payload: string; choice: number };
type Interactive = { type: string; action: Body };

const replyButtons = (options: Option[]): Interactive => ({
  type: 'button',
  action: { buttons: options.map((o) => ({ type: 'reply', reply: { id: optionId(o.prefix, o.payload, o.choice, REPLY_ID_MAX), title: o.title } })) },
});

const list = (options: Option[]): Interactive => ({
  type: 'list',
  action: { button: 'Options', sections: [{ rows: options.map((o) => ({ id: optionId(o.prefix, o.payload, o.choice, ROW_ID_MAX), title: o.title })) }] },
});

/**
 * The interactive messages that carry a part's options: up to 3 options as
 * reply buttons, up to 10 as a list, a link as a CTA URL message, a location
 * request as its own message (WhatsApp allows one kind per message).
 */
function interactives(buttons: Button[], replies: QuickReply[]): Interactive[] {
  const postbacks: Option[] = buttons.flatMap((b) => (b.kind === 'postback' ? [{ prefix: 'p' as const, title: b.text, payload: b.payload, choice: b.choice }] : []));
  const quick: Option[] = replies.map((r) => ({ prefix: 'r' as const, title: r.text, payload: r.payload, choice: r.choice }));
  const options = [...postbacks, ...quick];
  const out: Interactive[] = [];
  if (options.length > 0 && options.length <= 3) out.push(replyButtons(options));
  else if (options.length > 3 && options.length <= 10) out.push(list(options));
  else if (options.length > 10) out.push(replyButtons(postbacks), list(quick));
  for (const b of buttons) {
    if (b.kind === 'link') out.push({ type: 'cta_url', action: { name: 'cta_url', parameters: { display_text: b.text, url: b.uri } } });
    if (b.kind === 'locationRequest') out.push({ type: 'location_request_message', action: { name: 'send_location' } });
  }
  return out;
}

/** Text with its options: the first interactive message carries the text (its tail, past 1,024 characters). */
function withOptions(text: string, buttons: Button[], replies: QuickReply[]): Body[] {
  const blocks = interactives(buttons, replies);
  if (blocks.length === 0) return [textBody(text)];
  const { head, body } = splitForBody(text || OPTIONS_ONLY_TEXT, INTERACTIVE_BODY_MAX);
  return [
    ...(head ? [textBody(head)] : []),
    ...blocks.map((b, i) => ({ type: 'interactive', interactive: { type: b.type, body: { text: i === 0 ? body : OPTIONS_ONLY_TEXT }, action: b.action } })),
  ];
}

function mediaBodies(part: Extract<Part, { kind: 'media' }>): Body[] {
  const type = part.media === 'file' ? 'document' : part.media;
  // Audio takes no caption on WhatsApp, so its caption goes out first as text.
  const captioned = part.media !== 'audio' && part.caption;
  const item = { link: part.url, ...(captioned ? { caption: part.caption } : {}), ...(part.media === 'file' && part.fileName ? { filename: part.fileName } : {}) };
  return [
    ...(part.media === 'audio' && part.caption ? [textBody(part.caption)] : []),
    { type, [type]: item },
    ...(part.buttons.length || part.replies.length ? withOptions(OPTIONS_ONLY_TEXT, part.buttons, part.replies) : []),
  ];
}

/** The contract's WhatsApp template (`namespace`, `name`, `language{policy, code}`, `components`) as Cloud API takes it. */
function templateBody(template: Record<string, unknown>, fallbackLanguage: string): Body | undefined {
  const { namespace: _namespace, language, ...rest } = template;
  if (typeof rest.name !== 'string') return undefined;
  const code = typeof language === 'object' && language !== null && typeof (language as { code?: unknown }).code === 'string' ? (language as { code: string }).code : fallbackLanguage;
  return { type: 'template', template: { ...rest, language: { code } } };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isTemplate = (part: Part) => part.kind === 'template' || (part.kind === 'native' && isObject(part.payload) && part.payload.type === 'template');

function encode(part: Part, config: WhatsAppConfig): Body[] | { error: string } {
  switch (part.kind) {
    case 'text': {
      const rich = part.markdown !== undefined ? toWhatsAppMarkdown(part.markdown) : undefined;
      return withOptions(rich !== undefined && rich.length <= capabilities.textMax ? rich : part.text, part.buttons, part.replies);
    }
    case 'media':
      return mediaBodies(part);
    case 'location':
      return [{ type: 'location', location: { latitude: part.lat, longitude: part.long, ...(part.name ? { name: part.name } : {}), ...(part.address ? { address: part.address } : {}) } }];
    case 'template': {
      const body = templateBody(part.template, config.hsmFallbackLanguage);
      return body ? [body] : { error: 'template.name is required' };
    }
    case 'native': {
      const problem = checkNative(part.payload);
      if (problem) return { error: problem };
      // A template from shorthand may leave its language to the integration's hsmFallbackLanguage.
      const payload = part.payload as Record<string, unknown>;
      if (payload.type === 'template' && isObject(payload.template)) {
        const body = templateBody(payload.template, config.hsmFallbackLanguage);
        return body ? [{ ...payload, ...body }] : { error: 'template.name is required' };
      }
      return [payload];
    }
    case 'carousel':
      return { error: 'WhatsApp has no carousel outside templates' };
  }
}

/** Cloud API message fields a native payload may set; `to` and `messaging_product` may be named but are always replaced by the conversation's. */
const NATIVE_KEYS = new Set(['to', 'messaging_product', 'type', 'text', 'image', 'audio', 'document', 'video', 'sticker', 'location', 'contacts', 'interactive', 'template', 'reaction', 'context', 'preview_url', 'recipient_type', 'biz_opaque_callback_data']);
const checkNative = (payload: unknown) => nativeKeysProblem('whatsapp', payload, NATIVE_KEYS);

async function send(ctx: Ctx, to: Recipient, part: Part, skip = 0): Promise<SendOutcome> {
  if (!isTemplate(part) && !insideWindow(to.lastInboundAt)) return REENGAGEMENT;
  const bodies = encode(part, ctx.config);
  if ('error' in bodies) return { ok: false, retryable: false, code: 'invalid_part', message: bodies.error };
  const url = graphUrl(apiBase(whatsapp, ctx.config), ctx.config, `${ctx.config.phoneNumberId}/messages`);
  const ids: string[] = [];
  for (const body of bodies.slice(skip)) {
    const result = await graphPost(ctx.fetch, url, ctx.config.accessToken, { recipient_type: 'individual', ...body, messaging_product: 'whatsapp', to: to.externalId }, RETRYABLE);
    if (!result.ok) return ids.length ? { ...result.outcome, sent: ids } : result.outcome;
    const sent = v.safeParse(v.looseObject({ messages: v.tuple([v.looseObject({ id: v.string() })]) }), result.body);
    if (!sent.success) return { ok: false, retryable: false, code: 'bad_response', message: 'WhatsApp accepted the message but returned no messages[0].id', ...(ids.length ? { sent: ids } : {}) };
    ids.push(sent.output.messages[0].id);
  }
  return { ok: true, channelMessageId: ids[ids.length - 1] ?? '', ...(ids.length > 1 ? { channelMessageIds: ids } : {}) };
}

// ---- setup and media -----------------------------------------------------------------

async function setup(ctx: Ctx) {
  const { config } = ctx;
  // A token the customer did not choose is generated once and kept across re-setups.
  const token = { verifyToken: config.verifyToken ?? newVerifyToken() };
  const url = graphUrl(apiBase(whatsapp, config), config, `${config.phoneNumberId}?fields=display_phone_number`);
  const answer = await graphGet(ctx.fetch, url, config.accessToken);
  if (!answer.ok) {
    return {
      status: 'error' as const,
      config: token,
      error: `WhatsApp did not accept phoneNumberId ${config.phoneNumberId} with this accessToken (${answer.error}); check both in WhatsApp Manager and that the token has whatsapp_business_messaging permission`,
    };
  }
  const phone = v.safeParse(v.looseObject({ display_phone_number: v.string() }), answer.body);
  if (!phone.success) return { status: 'error' as const, config: token, error: 'WhatsApp answered the phone number lookup without display_phone_number' };
  return { status: 'active' as const, config: { ...token, phoneNumber: `+${phone.output.display_phone_number.replace(/\D/g, '')}` } };
}

/**
 * Media ids resolve to a short-lived URL, which also wants the Bearer token
 * (§2.3). The token goes to the lookup and to the URL the lookup names, and
 * to no host a redirect from there names (the outbound policy drops it).
 */
async function fetchMedia(ctx: Ctx, ref: string): Promise<Response> {
  const auth = { authorization: `Bearer ${ctx.config.accessToken}` };
  const lookup = await ctx.fetch(graphUrl(apiBase(whatsapp, ctx.config), ctx.config, encodeURIComponent(ref)), { headers: auth, timeoutMs: MEDIA_TIMEOUT_MS, maxRedirects: 0 });
  if (!lookup.ok) throw new Error(`WhatsApp media ${ref}: lookup answered HTTP ${lookup.status}`);
  const found = v.safeParse(v.looseObject({ url: v.string() }), await lookup.json().catch(() => undefined));
  if (!found.success) throw new Error(`WhatsApp media ${ref}: lookup answered without a url`);
  const file = await ctx.fetch(found.output.url, { headers: auth, timeoutMs: MEDIA_TIMEOUT_MS });
  if (!file.ok) throw new Error(`WhatsApp media ${ref}: download answered HTTP ${file.status}`);
  return file;
}

export const whatsapp: ChannelAdapter<WhatsAppConfig> = {
  type: 'whatsapp',
  capabilities,
  defaultApiBase: 'https://graph.facebook.com',
  createSchema,
  updateSchema,
  secretFields: ['accessToken', 'appSecret', 'accountManagementAccessToken'],
  view: (c) => ({
    hsmFallbackLanguage: c.hsmFallbackLanguage,
    accountId: c.accountId,
    phoneNumberId: c.phoneNumberId,
    phoneNumber: c.phoneNumber,
    verifyToken: c.verifyToken,
    graphVersion: c.graphVersion,
  }),
  setup,
  handshake: (url, config) => metaHandshake(url, config.verifyToken),
  verify: (request, config) => verifyMetaSignature(request, config.appSecret),
  parse,
  checkNative,
  send,
  fetchMedia,
  // A WhatsApp user is their wa_id: the number's digits, no plus.
  notificationRecipient: (destinationId) => {
    const digits = /^\+?([1-9]\d{6,14})$/.exec(destinationId.replace(/[\s-]/g, ''))?.[1];
    return digits ? { externalId: digits, info: { phoneNumber: `+${digits}` } } : 'must be a phone number in E.164 form, e.g. +14155550100';
  },
};
