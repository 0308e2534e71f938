/**
 * The Web Messenger's shapes: the `web` integration's settings (contract
 * §2.8 `web`, field names as the official client's `Web` model), and the
 * bodies the widget sends to the `/sdk/v2` routes. A user may only send what
 * a person can type or pick in the widget; rich types are the business's.
 */
import * as v from 'valibot';
import { boundedString, metadata, objectId, uri } from './common';
import { formField, formResponseContent, locationContent, textContent } from './content';

const hexColor = v.pipe(
  v.string('must be a string'),
  v.regex(/^[0-9a-fA-F]{6}$/, 'must be a color as 6 hex digits without #, e.g. 0099ff'),
  v.transform((c) => c.toLowerCase()),
);

const pixels = v.pipe(v.string('must be a string of digits'), v.regex(/^\d{2,3}$/, 'must be a size in pixels as a string, e.g. "58"'));

/** An RFC 6454 origin: scheme, host, optional port; nothing after it. */
export function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value.replace(/\/$/, '') && !value.endsWith('/');
  } catch {
    return false;
  }
}

const origin = v.pipe(
  v.string('must be a string'),
  v.check(isOrigin, 'must be an origin such as https://www.example.com (scheme, host and optional port; no path or trailing slash)'),
);

const prechatCapture = v.object({
  enabled: v.optional(v.boolean('must be a boolean')),
  avatarUrl: v.optional(uri()),
  enableEmailLinking: v.optional(v.boolean('must be a boolean')),
  fields: v.optional(v.pipe(v.array(formField, 'must be an array'), v.minLength(1, 'must have at least 1 field'), v.maxLength(20, 'must have at most 20 fields'))),
});

const settingsEntries = {
  brandColor: v.optional(hexColor),
  conversationColor: v.optional(hexColor),
  actionColor: v.optional(hexColor),
  fixedIntroPane: v.optional(v.boolean('must be a boolean')),
  displayStyle: v.optional(v.picklist(['button', 'tab'], 'must be button or tab')),
  buttonIconUrl: v.optional(uri()),
  buttonWidth: v.optional(pixels),
  buttonHeight: v.optional(pixels),
  integrationOrder: v.optional(v.pipe(v.array(v.string('must be an integration id'), 'must be an array'), v.maxLength(20, 'must have at most 20 integrations'))),
  businessName: v.optional(boundedString(1, 100)),
  businessIconUrl: v.optional(uri()),
  backgroundImageUrl: v.optional(uri()),
  originWhitelist: v.optional(v.pipe(v.array(origin, 'must be an array of origins'), v.maxLength(50, 'must have at most 50 origins'))),
  prechatCapture: v.optional(prechatCapture),
  canUserSeeConversationList: v.optional(v.boolean('must be a boolean')),
  canUserCreateMoreConversations: v.optional(v.boolean('must be a boolean')),
  attachmentsEnabled: v.optional(v.boolean('must be a boolean')),
};

export const webSettings = v.object(settingsEntries);
export type WebSettings = v.InferOutput<typeof webSettings>;

/** PATCH: the same fields; `null` puts one back to its default. */
export const webSettingsUpdate = v.object(
  Object.fromEntries(Object.entries(settingsEntries).map(([k, s]) => [k, v.optional(v.nullable(s.wrapped))])) as {
    [K in keyof typeof settingsEntries]: v.OptionalSchema<v.NullableSchema<(typeof settingsEntries)[K]['wrapped'], undefined>, undefined>;
  },
);

export const WEB_DEFAULTS = {
  brandColor: '65758e',
  conversationColor: '0099ff',
  actionColor: '0099ff',
  fixedIntroPane: false,
  displayStyle: 'button',
  buttonWidth: '58',
  buttonHeight: '58',
  canUserSeeConversationList: true,
  canUserCreateMoreConversations: false,
  attachmentsEnabled: true,
} as const;

/** The settings with defaults filled in: what the integration object and the widget config show. */
export function webView(settings: WebSettings) {
  return {
    ...WEB_DEFAULTS,
    ...Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined && value !== null)),
    prechatCapture: { enabled: false, enableEmailLinking: false, ...(settings.prechatCapture ?? {}) },
    originWhitelist: settings.originWhitelist ?? [],
  };
}

// ---- widget request bodies --------------------------------------------------------

/** What the browser may say about itself; Parley adds what the request shows (user agent, Cloudflare's location). */
const device = v.object({
  guid: v.optional(v.pipe(boundedString(8, 64), v.regex(/^[\w-]+$/, 'must hold only letters, digits, _ and -'))),
  currentUrl: v.optional(v.pipe(v.string(), v.maxLength(2048, 'must be at most 2048 characters long'))),
  currentTitle: v.optional(v.pipe(v.string(), v.maxLength(512, 'must be at most 512 characters long'))),
  referrer: v.optional(v.pipe(v.string(), v.maxLength(2048, 'must be at most 2048 characters long'))),
  browserLanguage: v.optional(boundedString(2, 35)),
  sdkVersion: v.optional(boundedString(1, 32)),
  timezone: v.optional(boundedString(1, 64)),
});
export type DeviceInfo = v.InferOutput<typeof device>;

const integrationId = v.pipe(v.string('must be a string'), v.regex(/^[0-9a-f]{24}$/, 'must be a 24-character integration id'));

/** `campaignId`: the campaign the visitor answered (src/web/campaigns.ts); one no longer shown is ignored, not refused. */
export const sessionBody = v.object({
  integrationId,
  device: v.optional(device),
  campaignId: v.optional(objectId),
});

export const loginBody = v.object({
  integrationId,
  externalId: boundedString(1, 1024),
  jwt: boundedString(1, 8192),
  device: v.optional(device),
});

export const clientMessageId = v.pipe(v.string('must be a string'), v.regex(/^[\w-]{1,64}$/, 'must be 1 to 64 letters, digits, _ or -'));

/** A text the user typed (with the payload of the quick reply they tapped), a file or image they uploaded, their location, or a filled-in form. */
const userText = v.pipe(
  textContent,
  v.check((c) => c.actions === undefined && c.htmlText === undefined && c.markdownText === undefined, 'content: a user text carries only text and an optional payload'),
  v.check((c) => (c.text ?? '').trim().length > 0, 'content.text: must not be empty'),
);
/** A file or picture the user uploaded: only its URL, alt text and caption; markup and buttons are the business's. */
const userMedia = (type: 'image' | 'file') =>
  v.strictObject(
    {
      type: v.literal(type),
      mediaUrl: uri(),
      altText: v.optional(boundedString(1, 128)),
      text: v.optional(boundedString(1, 4096)),
    },
    "is not allowed: a user's image or file holds only type, mediaUrl, altText and text",
  );
const userFormResponse = v.object({ ...formResponseContent.entries, quotedMessageId: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-f]{24}$/, 'must be a message id'))) });

export const webContent = v.variant(
  'type',
  [userText, userMedia('image'), userMedia('file'), locationContent, userFormResponse],
  'must have a type among text, image, file, location, formResponse (the types a user can send)',
);

export const webMessageBody = v.object({
  content: webContent,
  metadata: v.optional(v.nullable(metadata)),
  clientMessageId: v.optional(clientMessageId),
});

/** A tapped button: its payload; the label comes from the button the business offered, not from the browser. */
export const webPostbackBody = v.object({
  payload: boundedString(1, 1000),
});

export const webActivityBody = v.object({
  type: v.picklist(['typing:start', 'typing:stop', 'conversation:read'], 'must be one of typing:start, typing:stop, conversation:read'),
});

export const webConversationBody = v.object({
  displayName: v.optional(boundedString(1, 100)),
  description: v.optional(boundedString(1, 100)),
});

export const socketQuery = v.object({
  after: v.optional(v.pipe(v.string(), v.regex(/^\d{1,15}$/, 'must be the last seq seen (a whole number)'), v.transform(Number))),
});
