/**
 * Response shapes of Parley's additions to the contract (notifications,
 * webhook delivery logs and replay, OAuth partner endpoints, WhatsApp
 * templates, search, health): for the OpenAPI document and response tests,
 * like views.ts. Loose where the answer carries a channel's own data.
 */
import * as v from 'valibot';
import { messageView, pageLinks, pageMeta } from './views';

const text = v.string();

export const notificationSent = v.object({ notification: v.object({ _id: text }) });

/** One attempt to deliver a batch of events to a webhook target, newest first; `error` names the cause in words. */
export const webhookDeliveryView = v.object({
  id: text,
  deliveryId: text,
  conversationId: v.nullable(text),
  eventIds: v.array(text),
  attempt: v.number(),
  outcome: text,
  responseCode: v.nullable(v.number()),
  latencyMs: v.number(),
  error: v.nullable(text),
  createdAt: text,
});
export const webhookDeliveries = v.object({ deliveries: v.array(webhookDeliveryView), meta: pageMeta, links: pageLinks });
export const webhookReplayAccepted = v.object({ replay: v.object({ webhookId: text, events: v.number(), requestedAt: text }) });

/** A WhatsApp message template as Meta lists it (name, language, status, category, components). */
export const templateView = v.looseObject({ name: text, language: v.optional(text), status: v.optional(text), category: v.optional(text) });
export const templates = v.object({ templates: v.array(templateView), meta: pageMeta, links: pageLinks });

export const tokenInfo = v.object({
  app: v.object({ id: text, displayName: text }),
  integration: v.optional(v.object({ id: text, type: v.optional(text) })),
});

/** `POST /oauth/token` (RFC 6749 §5.1 plus the app the token opens). */
export const oauthToken = v.object({ access_token: text, token_type: v.literal('Bearer'), appId: text });
/** `POST /oauth/token` failures follow RFC 6749 §5.2, not the v2 error body. */
export const oauthError = v.object({ error: text, error_description: v.optional(text) });

/** Apple Messages for Business: the decrypted interactive data a `downloadMessageRef` names. */
export const downloadedRef = v.looseObject({});

export const searchHits = v.object({
  messages: v.array(v.object({ ...messageView.entries, highlight: v.optional(text) })),
  meta: pageMeta,
});

export const health = v.object({ ok: v.boolean() });

/** A channel's webhook answer: whatever the channel expects (usually empty JSON, sometimes a handshake token). */
export const channelAck = v.looseObject({});

/** Stats and usage belong to the index (src/db/insights-*.ts); described here by their envelopes, their rows as open objects. */
export const stats = v.object({ stats: v.array(v.looseObject({})) });
export const usage = v.object({ usage: v.looseObject({}) });

/** Web Messenger (`/sdk/…`): a session as the widget starts or resumes it. The token is the `Bearer` of every later call. */
export const webSession = v.object({
  session: v.object({ token: text, expiresAt: text }),
  user: v.object({ id: text, externalId: v.optional(text), authenticated: v.boolean() }),
  client: v.looseObject({ id: text }),
  conversation: v.looseObject({ id: text }),
});
/** The web integration's public settings (colours, texts, prechat, attachment limits); origins stay private. */
export const webConfig = v.object({ config: v.looseObject({ appId: text, integrationId: text }) });
export const webConversations = v.object({ conversations: v.array(v.looseObject({ id: text, unreadCount: v.optional(v.number()), lastRead: v.optional(v.nullable(text)) })) });
export const payLink = v.object({ url: text });
