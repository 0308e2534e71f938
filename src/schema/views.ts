/**
 * Response shapes of the v2 contract that had no schema of their own: what
 * GET/POST answers carry. They exist for the OpenAPI document (src/openapi/)
 * and for tests that check real answers against it, so they describe what is
 * on the wire and are loose where the contract lets types add fields (an
 * integration's own settings, a client's raw channel data). Request bodies
 * stay in the resource's module; shapes already there (conversationView,
 * participantView, content) are reused, not copied.
 */
import * as v from 'valibot';
import { appSettings } from './app';
import { content } from './content';
import { conversationView, participantView } from './conversation';
import { profile } from './user';

const text = v.string();
const nullableText = v.nullable(v.string());
const scalarMetadata = v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]));

/** The v2 error body every failure answers with; `code` is machine-readable, `title` names the field or the cause. */
export const errorBody = v.object({
  errors: v.pipe(v.array(v.object({ code: text, title: text })), v.minLength(1)),
});

/** Cursor pagination: `meta.hasMore` with the cursors, `links` with ready-made next/prev URLs. */
export const pageMeta = v.object({ hasMore: v.boolean(), afterCursor: v.optional(text), beforeCursor: v.optional(text) });
export const pageLinks = v.object({ next: v.optional(text), prev: v.optional(text) });

export const appView = v.object({
  id: text,
  displayName: text,
  settings: v.required(appSettings),
  metadata: v.nullable(scalarMetadata),
});

/** An app or integration key; `secret` is shown on create (and to account keys), never listed otherwise. */
export const keyView = v.object({ id: text, displayName: text, secret: v.optional(text) });

export const webhookView = v.object({
  id: text,
  version: v.picklist(['v2', 'v1']),
  target: text,
  triggers: v.array(text),
  includeFullUser: v.boolean(),
  includeFullSource: v.boolean(),
  secret: v.optional(text),
});

/** An integration: the shared fields, then its type's own non-secret settings (a custom integration's webhooks, a channel's ids). */
export const integrationView = v.looseObject({
  id: text,
  type: text,
  status: v.optional(text),
  displayName: v.optional(nullableText),
  webhooks: v.optional(v.array(webhookView)),
});

export const identityView = v.object({ type: text, value: text, verification: v.optional(text) });

export const userView = v.object({
  id: text,
  externalId: nullableText,
  signedUpAt: nullableText,
  toBeRetained: v.boolean(),
  authenticated: v.optional(v.boolean()),
  profile: v.partial(profile),
  metadata: v.nullable(scalarMetadata),
  identities: v.array(identityView),
});

export const clientView = v.object({
  id: text,
  type: text,
  status: text,
  integrationId: nullableText,
  externalId: nullableText,
  lastSeen: nullableText,
  linkedAt: nullableText,
  displayName: nullableText,
  avatarUrl: nullableText,
  info: v.nullable(v.record(v.string(), v.unknown())),
  raw: v.nullable(v.record(v.string(), v.unknown())),
});

export const deviceView = v.object({
  id: text,
  guid: text,
  clientId: text,
  integrationId: text,
  status: v.picklist(['active', 'inactive']),
  type: v.picklist(['web', 'ios', 'android']),
  lastSeen: text,
  appVersion: v.optional(text),
  info: v.record(v.string(), v.string()),
});

export const authorView = v.object({
  type: v.picklist(['user', 'business']),
  subtypes: v.optional(v.array(text)),
  userId: v.optional(text),
  userExternalId: v.optional(text),
  displayName: v.optional(text),
  avatarUrl: v.optional(text),
  user: v.optional(v.looseObject({ id: text })),
});

export const sourceView = v.looseObject({
  type: text,
  integrationId: v.optional(text),
  originalMessageId: v.optional(text),
  originalMessageTimestamp: v.optional(text),
});

/** A stored message; `seq` (Parley) is its strictly increasing position in the conversation. */
export const messageView = v.object({
  id: text,
  received: text,
  seq: v.number(),
  author: authorView,
  content,
  source: sourceView,
  quotedMessage: v.optional(v.looseObject({ type: v.picklist(['message', 'externalMessageId']) })),
  metadata: v.optional(v.nullable(scalarMetadata)),
  deleted: v.optional(v.boolean()),
});

export const switchboardView = v.object({ id: text, enabled: v.boolean(), defaultSwitchboardIntegrationId: nullableText });

export const switchboardIntegrationView = v.object({
  id: text,
  name: text,
  integrationId: v.optional(text),
  integrationType: v.optional(text),
  deliverStandbyEvents: v.boolean(),
  nextSwitchboardIntegrationId: nullableText,
  messageHistoryCount: v.nullable(v.number()),
});

export const attachmentView = v.object({ mediaUrl: text, mediaType: text });

export const oauthClientView = v.looseObject({ id: text, name: v.optional(text), redirectUris: v.optional(v.array(text)), secret: v.optional(text) });

/** The envelopes: one object under its singular name, a list under its plural with pagination where the route pages. */
export const envelopes = {
  app: v.object({ app: appView }),
  apps: v.object({ apps: v.array(appView), meta: pageMeta, links: pageLinks }),
  key: v.object({ key: keyView }),
  keys: v.object({ keys: v.array(keyView) }),
  integration: v.object({ integration: integrationView }),
  integrations: v.object({ integrations: v.array(integrationView), meta: pageMeta, links: pageLinks }),
  webhook: v.object({ webhook: webhookView }),
  webhooks: v.object({ webhooks: v.array(webhookView) }),
  user: v.object({ user: userView }),
  client: v.object({ client: clientView }),
  clients: v.object({ clients: v.array(clientView), meta: pageMeta, links: pageLinks }),
  device: v.object({ device: deviceView }),
  devices: v.object({ devices: v.array(deviceView) }),
  conversation: v.object({ conversation: conversationView }),
  conversations: v.object({ conversations: v.array(conversationView), meta: pageMeta, links: pageLinks }),
  participant: v.object({ participant: participantView }),
  participants: v.object({ participants: v.array(participantView), meta: pageMeta, links: pageLinks }),
  messagesPosted: v.object({ messages: v.array(messageView) }),
  messages: v.object({ messages: v.array(messageView), meta: pageMeta, links: pageLinks }),
  switchboard: v.object({ switchboard: switchboardView }),
  switchboards: v.object({ switchboards: v.array(switchboardView) }),
  switchboardIntegration: v.object({ switchboardIntegration: switchboardIntegrationView }),
  switchboardIntegrations: v.object({ switchboardIntegrations: v.array(switchboardIntegrationView) }),
  attachment: v.object({ attachment: attachmentView }),
  oauthClient: v.object({ client: oauthClientView }),
  oauthClients: v.object({ clients: v.array(oauthClientView) }),
  /** DELETE and other acknowledgements answer an empty object. */
  empty: v.object({}),
} as const;
