/**
 * Facebook Messenger adapter (reference §3), and the Messenger Platform
 * protocol it shares with Instagram (§4 is "Messenger API for Instagram"):
 * `messaging[]` webhook items become normalized events, parts become Send API
 * bodies (text with quick replies, button template, generic template,
 * attachments by URL). One Facebook Page is one integration; setup learns the
 * Page from its token. Outside the 24-hour window sends go as HUMAN_AGENT
 * tagged messages, which Meta accepts for 7 days.
 */
import * as v from 'valibot';
import { boundedString, uri } from '../schema/common';
import {
  apiBase,
  nativeKeysProblem,
  PROFILE_TIMEOUT_MS,
  type Button,
  type Capabilities,
  type ChannelAdapter,
  type ChannelContext,
  type ChannelFetch,
  type ChannelUser,
  type InboundContent,
  type InboundEvent,
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
  splitForBody,
  verifyMetaSignature,
  verifyToken,
} from './meta';

// ---- the Messenger Platform, shared with Instagram -----------------------------------

export const pageToken = boundedString(1, 2048);
export const appId = v.pipe(v.string('must be a string'), v.regex(/^\d{1,32}$/, 'must be the numeric App ID from the App Dashboard'));
export const appSecret = boundedString(1, 256);

const BUTTON_TEXT_MAX = 640;
const PAYLOAD_MAX = 1000;

const id = v.pipe(v.union([v.string(), v.number()]), v.transform(String));

const envelope = v.looseObject({
  object: v.string('must be a string'),
  entry: v.array(v.looseObject({ id: v.optional(id), messaging: v.optional(v.array(v.unknown(), 'must be an array')) }), 'must be an array'),
});

const attachment = v.looseObject({
  type: v.string('must be a string'),
  payload: v.optional(
    v.nullable(
      v.looseObject({
        url: v.optional(v.string()),
        title: v.optional(v.string()),
        coordinates: v.optional(v.looseObject({ lat: v.number(), long: v.number() })),
      }),
    ),
  ),
});

const messaging = v.looseObject({
  sender: v.looseObject({ id }),
  timestamp: v.optional(v.number()),
  message: v.optional(
    v.looseObject({
      mid: v.string('must be a string'),
      text: v.optional(v.string()),
      is_echo: v.optional(v.boolean()),
      is_deleted: v.optional(v.boolean()),
      is_unsupported: v.optional(v.boolean()),
      quick_reply: v.optional(v.looseObject({ payload: v.string() })),
      attachments: v.optional(v.array(attachment, 'must be an array')),
      reply_to: v.optional(v.looseObject({ mid: v.optional(v.string()), story: v.optional(v.unknown()) })),
    }),
  ),
  postback: v.optional(
    v.looseObject({
      mid: v.optional(v.string()),
      title: v.optional(v.string()),
      payload: v.optional(v.string()),
      referral: v.optional(v.looseObject({ ref: v.optional(v.string()), source: v.optional(v.string()), type: v.optional(v.string()) })),
    }),
  ),
  referral: v.optional(v.looseObject({ ref: v.optional(v.string()), ad_id: v.optional(v.string()), source: v.optional(v.string()), type: v.optional(v.string()) })),
  delivery: v.optional(v.looseObject({ mids: v.optional(v.array(v.string())), watermark: v.number() })),
  read: v.optional(v.looseObject({ watermark: v.optional(v.number()), mid: v.optional(v.string()) })),
});
type Messaging = v.InferOutput<typeof messaging>;

/** How one Messenger-Platform product reads its webhooks. */
export interface PageChannel {
  object: 'page' | 'instagram';
  /** The Page or Instagram account the integration is for, once setup learned it. */
  accountId?: string;
  /** Event time in epoch ms from the item's `timestamp`. */
  time: (timestamp: number) => number;
  storyMentions: boolean;
  storyReplies: boolean;
}

const MEDIA: Record<string, MediaKind> = { image: 'image', sticker: 'image', video: 'video', audio: 'audio', file: 'file' };

/** What one attachment says, or a referral for an Instagram story mention, or nothing. */
function attachmentContent(a: v.InferOutput<typeof attachment>): InboundContent | undefined {
  const url = a.payload?.url;
  const kind = Object.hasOwn(MEDIA, a.type) ? MEDIA[a.type] : undefined;
  if (kind) return url ? { type: 'media', media: { kind, ref: url } } : undefined;
  if (a.type === 'location' && a.payload?.coordinates) return { type: 'location', lat: a.payload.coordinates.lat, long: a.payload.coordinates.long, ...(a.payload.title ? { name: a.payload.title } : {}) };
  // Shared posts, reels and links have no Parley type of their own: the link is what the user sent.
  if (url) return { type: 'text', text: [a.payload?.title, url].filter(Boolean).join('\n') };
  return undefined;
}

function messageEvents(m: NonNullable<Messaging['message']>, base: { user: ChannelUser; timestamp?: number }, channel: PageChannel): InboundEvent[] {
  // Our own sends come back as echoes; deleted and unsupported messages carry nothing to store.
  if (m.is_echo || m.is_deleted || m.is_unsupported) return [];
  if (m.reply_to?.story !== undefined && !channel.storyReplies) return [];
  if (m.quick_reply) {
    const choice = choiceOf(m.quick_reply.payload);
    if (choice !== undefined) return [{ ...base, kind: 'postback', channelMessageId: m.mid, choice, ...(m.text ? { text: m.text } : {}) }];
    return [{ ...base, kind: 'message', channelMessageId: m.mid, content: { type: 'text', text: m.text ?? m.quick_reply.payload, payload: m.quick_reply.payload } }];
  }
  const events: InboundEvent[] = [];
  const contents: InboundContent[] = m.text ? [{ type: 'text', text: m.text }] : [];
  for (const a of m.attachments ?? []) {
    if (a.type === 'story_mention') {
      if (channel.storyMentions && a.payload?.url) events.push({ ...base, kind: 'referral', channelMessageId: m.mid, ref: a.payload.url, source: 'STORY_MENTION' });
      continue;
    }
    const content = attachmentContent(a);
    if (content) contents.push(content);
  }
  const quoted = m.reply_to?.mid ? { quotedChannelMessageId: m.reply_to.mid } : {};
  // One mid may carry text and several attachments; each becomes a message with its own dedupe key.
  contents.forEach((content, i) => events.push({ ...base, kind: 'message', channelMessageId: i === 0 ? m.mid : `${m.mid}:${i}`, content, ...quoted }));
  return events;
}

function messagingEvents(item: Messaging, channel: PageChannel): InboundEvent[] {
  const timestamp = item.timestamp !== undefined ? channel.time(item.timestamp) : undefined;
  const base = { user: { externalId: item.sender.id }, ...(timestamp !== undefined ? { timestamp } : {}) };
  // Items without a mid (referrals, old Get Started postbacks) are keyed by user and time, which Meta repeats on redelivery.
  const synthetic = (kind: string) => `${kind}:${item.sender.id}:${item.timestamp ?? 0}`;
  const events: InboundEvent[] = [];
  if (item.message) events.push(...messageEvents(item.message, base, channel));
  if (item.postback) {
    const p = item.postback;
    const key = p.mid ?? synthetic('postback');
    const choice = p.payload !== undefined ? choiceOf(p.payload) : undefined;
    const answer = choice !== undefined ? { choice } : p.payload !== undefined ? { payload: p.payload } : {};
    events.push({ ...base, kind: 'postback', channelMessageId: key, ...answer, ...(p.title !== undefined ? { text: p.title } : {}) });
    if (p.referral?.ref) events.push({ ...base, kind: 'referral', channelMessageId: `${key}:referral`, ref: p.referral.ref, ...refSource(p.referral) });
  }
  if (item.referral) {
    const r = item.referral;
    events.push({ ...base, kind: 'referral', channelMessageId: synthetic('referral'), ref: r.ref ?? r.ad_id ?? '', ...refSource(r) });
  }
  // Receipts for our messages: everything sent before the watermark was delivered / read.
  if (item.delivery) events.push({ ...base, kind: 'delivery', status: 'delivered', watermark: item.delivery.watermark });
  if (item.read) {
    const r = item.read;
    events.push({ ...base, kind: 'delivery', status: 'read', ...(r.mid ? { channelMessageId: r.mid } : {}), ...(r.watermark !== undefined ? { watermark: r.watermark } : {}) });
  }
  return events;
}

const refSource = (r: { source?: string; type?: string }) => ({ ...(r.source ? { source: r.source } : {}), ...(r.type ? { referralType: r.type } : {}) });

/** Every event of a Messenger-Platform webhook for this integration's account. */
export function parsePageWebhook(raw: Uint8Array, channel: PageChannel): InboundEvent[] {
  const body = parseWebhook(raw, envelope);
  if (body.object !== channel.object) return [];
  const events: InboundEvent[] = [];
  body.entry.forEach((entry, e) => {
    // One app serves many Pages; another Page's events belong to another integration.
    if (channel.accountId !== undefined && entry.id !== channel.accountId) return;
    (entry.messaging ?? []).forEach((raw, i) => events.push(...messagingEvents(parseItem(messaging, raw, `entry[${e}].messaging[${i}]`), channel)));
  });
  return events;
}

type Body = Record<string, unknown>;

/** The payload itself, or `#<choice>` when it is longer than Meta's 1,000 characters. */
const payloadOf = (payload: string, choice: number) => (payload.length <= PAYLOAD_MAX ? payload : `#${choice}`);

const quickReplies = (replies: QuickReply[]) =>
  replies.length ? { quick_replies: replies.map((r) => ({ content_type: 'text', title: r.text, payload: payloadOf(r.payload, r.choice), ...(r.iconUrl ? { image_url: r.iconUrl } : {}) })) } : {};

function buttonsOf(buttons: Button[]): Body[] {
  return buttons.flatMap((b): Body[] => {
    if (b.kind === 'postback') return [{ type: 'postback', title: b.text, payload: payloadOf(b.payload, b.choice) }];
    if (b.kind === 'link') return [{ type: 'web_url', title: b.text, url: b.uri }];
    return [];
  });
}

/** Text with buttons is a button template (640 characters: a longer head goes first as text); quick replies ride on the last message. */
function textMessages(text: string, buttons: Button[], replies: QuickReply[]): Body[] {
  const native = buttonsOf(buttons);
  if (native.length === 0) return [{ message: { text, ...quickReplies(replies) } }];
  const { head, body } = splitForBody(text || OPTIONS_ONLY_TEXT, BUTTON_TEXT_MAX);
  return [
    ...(head ? [{ message: { text: head } }] : []),
    { message: { attachment: { type: 'template', payload: { template_type: 'button', text: body, buttons: native } }, ...quickReplies(replies) } },
  ];
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The Send API bodies (without recipient) for one part. */
function encode(part: Part): Body[] | { error: string } {
  switch (part.kind) {
    case 'text':
      return textMessages(part.text, part.buttons, part.replies);
    case 'media': {
      const withButtons = buttonsOf(part.buttons).length > 0;
      const file = { message: { attachment: { type: part.media, payload: { url: part.url, is_reusable: true } }, ...(withButtons ? {} : quickReplies(part.replies)) } };
      return [...(part.caption ? [{ message: { text: part.caption } }] : []), file, ...(withButtons ? textMessages(OPTIONS_ONLY_TEXT, part.buttons, part.replies) : [])];
    }
    case 'carousel':
      return [
        {
          message: {
            attachment: {
              type: 'template',
              payload: {
                template_type: 'generic',
                elements: part.cards.map((c) => ({
                  title: c.title,
                  ...(c.description ? { subtitle: c.description } : {}),
                  ...(c.mediaUrl ? { image_url: c.mediaUrl } : {}),
                  ...(c.defaultUri ? { default_action: { type: 'web_url', url: c.defaultUri } } : {}),
                  ...(c.buttons.length ? { buttons: buttonsOf(c.buttons) } : {}),
                })),
              },
            },
          },
        },
      ];
    case 'native':
      // Checked by checkPageNative before it got here; the recipient is added by the caller, always the conversation's.
      return isSendBody(part.payload) ? [part.payload] : [{ message: part.payload as Body }];
    case 'location':
    case 'template':
      return { error: `${part.kind} is not sent natively on this channel` };
  }
}

/** An override is either a whole Send API body (it names `message` or `sender_action`) or just its `message`. */
const isSendBody = (payload: unknown): payload is Body => isObject(payload) && ('message' in payload || 'sender_action' in payload);
/** Send API body fields a native payload may set; `recipient` may be named but is always replaced by the conversation's. */
const SEND_BODY_KEYS = new Set(['message', 'sender_action', 'messaging_type', 'tag', 'notification_type', 'persona_id', 'recipient']);
const MESSAGE_KEYS = new Set(['text', 'attachment', 'attachments', 'quick_replies', 'metadata']);

/** `checkNative` of the Page channels (Messenger, Instagram). */
export function checkPageNative(type: string, payload: unknown): string | undefined {
  return isSendBody(payload) ? nativeKeysProblem(type, payload, SEND_BODY_KEYS) : nativeKeysProblem(type, payload, MESSAGE_KEYS);
}

/** Where and with what a Messenger-Platform integration sends. */
export interface PageTarget {
  /** `messenger` or `instagram`, for error titles. */
  type: string;
  fetch: ChannelFetch;
  /** `.../{PAGE_ID}/messages` (or `/me/messages` before the Page is known). */
  url: string;
  token: string;
  retryable: ReadonlySet<number>;
}

/** Inside the window a reply is a RESPONSE; after it, a human agent may still answer for 7 days under the HUMAN_AGENT tag. */
const windowFields = (to: Recipient) => (insideWindow(to.lastInboundAt) ? { messaging_type: 'RESPONSE' } : { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' });

export async function sendPagePart(target: PageTarget, to: Recipient, part: Part, skip = 0): Promise<SendOutcome> {
  const refused = part.kind === 'native' ? checkPageNative(target.type, part.payload) : undefined;
  if (refused) return { ok: false, retryable: false, code: 'invalid_native_payload', message: refused };
  const bodies = encode(part);
  if ('error' in bodies) return { ok: false, retryable: false, code: 'invalid_part', message: bodies.error };
  const ids: string[] = [];
  for (const body of bodies.slice(skip)) {
    const result = await graphPost(target.fetch, target.url, target.token, { ...windowFields(to), ...body, recipient: { id: to.externalId } }, target.retryable);
    if (!result.ok) return ids.length ? { ...result.outcome, sent: ids } : result.outcome;
    const sent = v.safeParse(v.looseObject({ message_id: v.string() }), result.body);
    if (!sent.success) return { ok: false, retryable: false, code: 'bad_response', message: 'Meta accepted the message but returned no message_id', ...(ids.length ? { sent: ids } : {}) };
    ids.push(sent.output.message_id);
  }
  return { ok: true, channelMessageId: ids[ids.length - 1] ?? '', ...(ids.length > 1 ? { channelMessageIds: ids } : {}) };
}

export async function pageTyping(target: PageTarget, to: Recipient, on: boolean): Promise<void> {
  await graphPost(target.fetch, target.url, target.token, { recipient: { id: to.externalId }, sender_action: on ? 'typing_on' : 'typing_off' }, target.retryable);
}

/** Inbound attachments are signed CDN URLs that need no token. */
export async function fetchCdnMedia(fetcher: ChannelFetch, url: string): Promise<Response> {
  const response = await fetcher(url, { timeoutMs: MEDIA_TIMEOUT_MS });
  if (!response.ok) throw new Error(`Meta media download answered HTTP ${response.status} (CDN links expire; the event may be too old)`);
  return response;
}

/** A Graph user field: absent, null (not set) or a non-empty string. */
export const profileField = v.optional(v.nullable(v.string()));

/** The User Profile fields Parley reads for a PSID; Graph answers only those asked for, plus `id`. */
const messengerProfile = v.looseObject({ first_name: profileField, last_name: profileField, profile_pic: profileField });

/** §3 User Profile API: `GET /{PSID}?fields=first_name,last_name,profile_pic` with the Page token. */
async function profile(ctx: Ctx, psid: string) {
  const url = graphUrl(apiBase(messenger, ctx.config), ctx.config, `${encodeURIComponent(psid)}?fields=first_name,last_name,profile_pic`);
  const answer = await graphGet(ctx.fetch, url, ctx.config.pageAccessToken, PROFILE_TIMEOUT_MS);
  if (!answer.ok) throw new Error(answer.error);
  const parsed = v.safeParse(messengerProfile, answer.body);
  if (!parsed.success) throw new Error('Graph answered the profile lookup with something else than a user');
  const { first_name: first, last_name: last, profile_pic: pic } = parsed.output;
  const name = [first, last].filter(Boolean).join(' ');
  return {
    ...(first ? { givenName: first } : {}),
    ...(last ? { surname: last } : {}),
    ...(name ? { displayName: name } : {}),
    ...(pic ? { avatarUrl: pic } : {}),
    raw: { ...(first ? { first_name: first } : {}), ...(last ? { last_name: last } : {}), ...(pic ? { profile_pic: pic } : {}) },
  };
}

// ---- the Messenger adapter -------------------------------------------------------------

type ReadOnly = { pageId?: string; pageName?: string };

const createFields = v.object(
  {
    pageAccessToken: pageToken,
    appId,
    appSecret,
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

const updateSchema = v.object({ pageAccessToken: v.optional(pageToken), verifyToken: v.optional(verifyToken) }, 'must be an object');

export type MessengerConfig = v.InferOutput<typeof createSchema>;
type Ctx = ChannelContext<MessengerConfig>;

const capabilities: Capabilities = {
  textMax: 2000,
  captionMax: 0,
  media: ['image', 'file', 'video', 'audio'],
  postbackButtons: 3,
  linkButtons: 3,
  mixedButtons: true,
  buttonTextMax: 20,
  quickReplies: 13,
  locationRequest: false,
  carousel: { maxItems: 10, maxButtons: 3 },
  location: false,
  templates: false,
  markup: 'plain',
};

/** §3.4 and §1.4: temporary faults and rate limits; 1200 is Messenger's "temporary send failure". */
export const PAGE_RETRYABLE = new Set([1, 2, 4, 17, 32, 613, 1200]);

const target = (ctx: Ctx): PageTarget => ({
  type: 'messenger',
  fetch: ctx.fetch,
  url: graphUrl(apiBase(messenger, ctx.config), ctx.config, `${ctx.config.pageId ?? 'me'}/messages`),
  token: ctx.config.pageAccessToken,
  retryable: PAGE_RETRYABLE,
});

async function setup(ctx: Ctx) {
  const { config } = ctx;
  const token = { verifyToken: config.verifyToken ?? newVerifyToken() };
  const answer = await graphGet(ctx.fetch, graphUrl(apiBase(messenger, config), config, 'me?fields=id,name'), config.pageAccessToken);
  if (!answer.ok) {
    return {
      status: 'error' as const,
      config: token,
      error: `Facebook did not accept the pageAccessToken (${answer.error}); generate a Page access token with the pages_messaging permission for your Page`,
    };
  }
  const page = v.safeParse(v.looseObject({ id, name: v.optional(v.string()) }), answer.body);
  if (!page.success) return { status: 'error' as const, config: token, error: 'Facebook answered the Page lookup without an id' };
  return { status: 'active' as const, config: { ...token, pageId: page.output.id, ...(page.output.name ? { pageName: page.output.name } : {}) } };
}

export const messenger: ChannelAdapter<MessengerConfig> = {
  type: 'messenger',
  capabilities,
  defaultApiBase: 'https://graph.facebook.com',
  createSchema,
  updateSchema,
  secretFields: ['pageAccessToken', 'appSecret'],
  view: (c) => ({ appId: c.appId, pageId: c.pageId, pageName: c.pageName, verifyToken: c.verifyToken, graphVersion: c.graphVersion }),
  setup,
  handshake: (url, config) => metaHandshake(url, config.verifyToken),
  verify: (request, config) => verifyMetaSignature(request, config.appSecret),
  parse: (request, config) => parsePageWebhook(request.raw, { object: 'page', accountId: config.pageId, time: (t) => t, storyMentions: false, storyReplies: true }),
  checkNative: (payload) => checkPageNative('messenger', payload),
  send: (ctx, to, part, skip) => sendPagePart(target(ctx), to, part, skip),
  typing: (ctx, to, on) => pageTyping(target(ctx), to, on),
  fetchMedia: (ctx, ref) => fetchCdnMedia(ctx.fetch, ref),
  profile,
};
