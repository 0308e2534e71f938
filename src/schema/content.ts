/**
 * Message content and actions as the v2 contract defines them: every content
 * type (text, image, file, carousel, list, location, form, formResponse,
 * template) and every action (link, webview, postback, reply, buy,
 * locationRequest), with the contract's limits. `formResponse` is parsed here
 * because the Web Messenger sends it; the REST API refuses it.
 */
import * as v from 'valibot';
import { boundedString, LIMITS, metadata, uri } from './common';

const text = v.pipe(v.string('must be a string'), v.maxLength(LIMITS.textChars, `must be at most ${LIMITS.textChars} characters long`));
const actionText = boundedString(1, 128);

const extraChannelOptions = v.object({
  messenger: v.optional(
    v.object({
      messenger_extensions: v.optional(v.boolean()),
      webview_share_button: v.optional(v.literal('hide')),
    }),
  ),
});

const link = v.object({
  type: v.literal('link'),
  text: actionText,
  uri: uri(),
  default: v.optional(v.boolean()),
  metadata: v.optional(metadata),
  extraChannelOptions: v.optional(extraChannelOptions),
});
const webview = v.object({
  type: v.literal('webview'),
  text: actionText,
  uri: uri(),
  fallback: uri(),
  size: v.optional(v.picklist(['compact', 'tall', 'full'], 'must be one of compact, tall, full')),
  default: v.optional(v.boolean()),
  openOnReceive: v.optional(v.boolean()),
  metadata: v.optional(metadata),
  extraChannelOptions: v.optional(extraChannelOptions),
});
const postback = v.object({
  type: v.literal('postback'),
  text: actionText,
  payload: boundedString(1, 1000),
  metadata: v.optional(metadata),
});
const reply = v.object({
  type: v.literal('reply'),
  text: actionText,
  payload: boundedString(1, 1000),
  iconUrl: v.optional(uri()),
  metadata: v.optional(metadata),
});
const buy = v.object({
  type: v.literal('buy'),
  text: actionText,
  amount: v.pipe(v.number('must be an integer amount in cents'), v.integer('must be an integer amount in cents'), v.minValue(1, 'must be positive')),
  currency: v.optional(v.pipe(v.string(), v.regex(/^[a-z]{3}$/, 'must be a lowercase ISO 4217 code such as usd'))),
  metadata: v.optional(metadata),
});
const locationRequest = v.object({
  type: v.literal('locationRequest'),
  text: actionText,
  metadata: v.optional(metadata),
});

const ACTION_TYPES = 'link, webview, postback, reply, buy, locationRequest';
export const action = v.variant('type', [link, webview, postback, reply, buy, locationRequest], `must have a type among ${ACTION_TYPES}`);
/** Items and list-level actions take only these (no reply, no locationRequest). */
export const actionSubset = v.variant('type', [link, webview, postback, buy], 'must have a type among link, webview, postback, buy');
export type Action = v.InferOutput<typeof action>;

const actions = v.pipe(v.array(action, 'must be an array'), v.maxLength(10, 'must have at most 10 actions'));
const blockChatInput = v.optional(v.boolean());

const openOnReceiveOnce = (list?: readonly Action[]) =>
  (list ?? []).filter((a) => a.type === 'webview' && a.openOnReceive).length <= 1;

const richText = {
  text: v.optional(text),
  htmlText: v.optional(text),
  markdownText: v.optional(text),
};
const oneMarkup = (c: { htmlText?: string; markdownText?: string }) => !(c.htmlText !== undefined && c.markdownText !== undefined);

export const textContent = v.pipe(
  v.object({
    type: v.literal('text'),
    ...richText,
    actions: v.optional(actions),
    payload: v.optional(boundedString(1, 1000)),
    blockChatInput,
  }),
  v.check((c) => c.text !== undefined || c.htmlText !== undefined || c.markdownText !== undefined || (c.actions?.length ?? 0) > 0, 'content.text: is required unless actions, htmlText or markdownText are given'),
  // An empty or blank text with nothing else would reach the user as nothing at all (or a channel's refusal much later).
  v.check((c) => [c.text, c.htmlText, c.markdownText].some((t) => t !== undefined && t.trim() !== '') || (c.actions?.length ?? 0) > 0, 'content.text: must not be empty'),
  v.check((c) => oneMarkup(c), 'content: htmlText and markdownText cannot be used together'),
  v.check((c) => openOnReceiveOnce(c.actions), 'content.actions: at most one webview may have openOnReceive'),
);

export const imageContent = v.pipe(
  v.object({
    type: v.literal('image'),
    mediaUrl: uri(),
    ...richText,
    altText: v.optional(boundedString(1, 128)),
    actions: v.optional(actions),
    blockChatInput,
  }),
  v.check((c) => oneMarkup(c), 'content: htmlText and markdownText cannot be used together'),
);

export const fileContent = v.pipe(
  v.object({
    type: v.literal('file'),
    mediaUrl: uri(),
    ...richText,
    altText: v.optional(boundedString(1, 128)),
    blockChatInput,
  }),
  v.check((c) => oneMarkup(c), 'content: htmlText and markdownText cannot be used together'),
);

const item = v.object({
  title: boundedString(1, 128),
  description: v.optional(v.pipe(v.string(), v.maxLength(128, 'must be at most 128 characters long'))),
  mediaUrl: v.optional(uri()),
  mediaType: v.optional(boundedString(1, 128)),
  altText: v.optional(boundedString(1, 128)),
  size: v.optional(v.picklist(['compact', 'large'], 'must be compact or large')),
  actions: v.pipe(v.array(actionSubset, 'must be an array'), v.minLength(1, 'must have at least 1 action'), v.maxLength(3, 'must have at most 3 actions')),
  metadata: v.optional(metadata),
});
const items = v.pipe(v.array(item, 'must be an array'), v.minLength(1, 'must have at least 1 item'), v.maxLength(10, 'must have at most 10 items'));

const carouselContent = v.object({
  type: v.literal('carousel'),
  items,
  displaySettings: v.optional(v.object({ imageAspectRatio: v.optional(v.picklist(['horizontal', 'square'], 'must be horizontal or square')) })),
  blockChatInput,
});

const listContent = v.object({
  type: v.literal('list'),
  items,
  actions: v.optional(v.pipe(v.array(actionSubset, 'must be an array'), v.minLength(1, 'must have at least 1 action'), v.maxLength(10, 'must have at most 10 actions'))),
  blockChatInput,
});

export const locationContent = v.object({
  type: v.literal('location'),
  coordinates: v.object({
    lat: v.pipe(v.number('must be a number'), v.minValue(-90, 'must be between -90 and 90'), v.maxValue(90, 'must be between -90 and 90')),
    long: v.pipe(v.number('must be a number'), v.minValue(-180, 'must be between -180 and 180'), v.maxValue(180, 'must be between -180 and 180')),
  }),
  location: v.optional(v.object({ address: v.optional(boundedString(1, 256)), name: v.optional(boundedString(1, 128)) })),
  blockChatInput,
});

export const formField = v.pipe(
  v.object({
    type: v.picklist(['email', 'select', 'text'], 'must be one of email, select, text'),
    name: boundedString(1, 128),
    label: boundedString(1, 128),
    placeholder: v.optional(boundedString(1, 128)),
    minSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1, 'must be between 1 and 256'), v.maxValue(256, 'must be between 1 and 256'))),
    maxSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1, 'must be between 1 and 256'), v.maxValue(256, 'must be between 1 and 256'))),
    options: v.optional(v.pipe(v.array(v.object({ label: boundedString(1, 128), name: boundedString(1, 128) })), v.maxLength(200, 'must have at most 200 options'))),
    format: v.optional(v.picklist(['integer', 'decimal'], 'must be integer or decimal')),
  }),
  v.check((f) => f.type !== 'select' || (f.options?.length ?? 0) > 0, 'a select field needs options'),
);

const formContent = v.pipe(
  v.object({
    type: v.literal('form'),
    fields: v.pipe(v.array(formField, 'must be an array'), v.minLength(1, 'must have at least 1 field'), v.maxLength(20, 'must have at most 20 fields')),
    text: v.optional(text),
    blockChatInput,
  }),
  v.check((c) => new Set(c.fields.map((f) => f.name)).size === c.fields.length, 'content.fields: field names must be unique'),
);

const formResponseField = v.object({
  type: v.picklist(['email', 'select', 'text'], 'must be one of email, select, text'),
  name: boundedString(1, 128),
  label: boundedString(1, 128),
  text: v.optional(boundedString(1, 256)),
  email: v.optional(v.pipe(boundedString(1, 128), v.email('must be an email address'))),
  select: v.optional(v.array(v.object({ label: boundedString(1, 128), name: boundedString(1, 128) }))),
  quotedMessageId: v.optional(v.string()),
});
export const formResponseContent = v.object({
  type: v.literal('formResponse'),
  fields: v.pipe(v.array(formResponseField), v.minLength(1, 'must have at least 1 field'), v.maxLength(20, 'must have at most 20 fields')),
});

const templateContent = v.object({
  type: v.literal('template'),
  template: v.looseObject({
    name: boundedString(1, 512),
    namespace: v.optional(v.string()),
    language: v.looseObject({ code: boundedString(1, 16), policy: v.optional(v.string()) }),
    components: v.optional(v.array(v.looseObject({ type: v.string() }))),
  }),
  blockChatInput,
});

const CONTENT_TYPES = 'text, image, file, carousel, list, location, form, template';
export const content = v.variant(
  'type',
  [textContent, imageContent, fileContent, carouselContent, listContent, locationContent, formContent, formResponseContent, templateContent],
  `must have a type among ${CONTENT_TYPES}`,
);
export type Content = v.InferOutput<typeof content>;
