/**
 * Messages: the post body (`messagePost`), the stored message, and the
 * listing query. The stored shape is what the ConversationDO keeps and what the
 * API returns; `seq` is Parley's additive field.
 */
import * as v from 'valibot';
import { boundedString, metadata, objectId, uri } from './common';
import { content, type Content } from './content';

const author = v.variant(
  'type',
  [
    v.object({
      type: v.literal('business'),
      subtypes: v.optional(v.pipe(v.array(v.literal('AI', 'must be AI')), v.length(1, 'must hold exactly 1 subtype'))),
      displayName: v.optional(boundedString(1, 100)),
      avatarUrl: v.optional(uri()),
    }),
    v.pipe(
      v.object({
        type: v.literal('user'),
        subtypes: v.optional(v.pipe(v.array(v.literal('AI', 'must be AI')), v.length(1, 'must hold exactly 1 subtype'))),
        userId: v.optional(v.string('must be a string')),
        userExternalId: v.optional(boundedString(1, 1024)),
        displayName: v.optional(boundedString(1, 100)),
        avatarUrl: v.optional(uri()),
      }),
      v.check((a) => a.userId !== undefined || a.userExternalId !== undefined, 'author: userId or userExternalId is required for a user author'),
    ),
  ],
  'must have type user or business',
);

const destination = v.union(
  [v.object({ integrationId: objectId }), v.object({ integrationType: boundedString(1, 64) })],
  'must hold integrationId or integrationType',
);

export const messagePostBody = v.pipe(
  v.object({
    author,
    content,
    destination: v.optional(destination),
    metadata: v.optional(v.nullable(metadata)),
    override: v.optional(v.record(v.string(), v.looseObject({ payload: v.optional(v.unknown()) }))),
    schema: v.optional(v.literal('whatsapp', 'must be whatsapp')),
  }),
  v.check((m) => m.content.type !== 'formResponse', 'content.type: formResponse messages can only be sent by the Web Messenger'),
  v.check((m) => m.content.type !== 'template' || m.schema === 'whatsapp', 'schema: template content requires schema "whatsapp"'),
);
export type MessagePost = v.InferOutput<typeof messagePostBody>;

export const messageListQuery = v.pipe(
  v.object({
    'page[after]': v.optional(objectId),
    'page[before]': v.optional(objectId),
    // The contract fixes message pages at 100 and ignores page[size]; Parley honours 1–100 and, to stay
    // compatible, ignores any other value instead of refusing it.
    'page[size]': v.optional(v.pipe(v.string(), v.transform((s) => (/^\d+$/.test(s) && +s >= 1 && +s <= 100 ? +s : undefined)))),
  }),
  v.check((q) => !(q['page[after]'] && q['page[before]']), 'page: page[after] and page[before] cannot be used together'),
);

/** What a message looks like once stored (and on the wire). */
export interface StoredAuthor {
  type: 'user' | 'business';
  subtypes?: string[];
  userId?: string;
  userExternalId?: string;
  displayName?: string;
  avatarUrl?: string;
}
export interface MessageSource {
  type: string;
  integrationId?: string;
  originalMessageId?: string;
  originalMessageTimestamp?: string;
}
export interface Message {
  id: string;
  received: string;
  seq: number;
  author: StoredAuthor;
  content: Content & { text?: string };
  source: MessageSource;
  /** The message this one answers (WhatsApp replies): Parley's copy when it sent it, else the channel's id. */
  quotedMessage?: { type: 'message'; message: Message } | { type: 'externalMessageId'; externalMessageId: string };
  metadata?: Record<string, string | number | boolean> | null;
  deleted?: boolean;
}
