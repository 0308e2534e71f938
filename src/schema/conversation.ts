/** Conversations, participants and activities: request bodies and list filters. */
import * as v from 'valibot';
import { boundedString, LIMITS, metadata, objectId, uri } from './common';
import { switchboardIntegrationRef } from './switchboard';

const participantRef = v.pipe(
  v.object({
    userId: v.optional(v.string('must be a string')),
    userExternalId: v.optional(boundedString(1, 1024)),
    subscribeSDKClient: v.optional(v.boolean('must be a boolean')),
  }),
  v.check((p) => (p.userId === undefined) !== (p.userExternalId === undefined), 'exactly one of userId or userExternalId is required'),
);
export type ParticipantRef = v.InferOutput<typeof participantRef>;

const iconUrl = uri();

export const conversationCreateBody = v.pipe(
  v.object({
    type: v.picklist(['personal', 'sdkGroup'], 'must be personal or sdkGroup'),
    participants: v.optional(v.pipe(v.array(participantRef, 'must be an array'), v.maxLength(LIMITS.sdkGroupParticipants, `Too many participants: at most ${LIMITS.sdkGroupParticipants}`))),
    displayName: v.optional(boundedString(1, 100)),
    description: v.optional(boundedString(1, 100)),
    iconUrl: v.optional(iconUrl),
    metadata: v.optional(v.nullable(metadata)),
  }),
  v.check((c) => c.type !== 'personal' || c.participants?.length === 1, 'participants: a personal conversation needs exactly 1 participant'),
);

export const conversationUpdateBody = v.object({
  displayName: v.optional(v.nullable(boundedString(1, 100))),
  description: v.optional(v.nullable(boundedString(1, 100))),
  iconUrl: v.optional(v.nullable(iconUrl)),
  metadata: v.optional(v.nullable(metadata)),
});
export type ConversationUpdate = v.InferOutput<typeof conversationUpdateBody>;

export const conversationListQuery = v.pipe(
  v.object({
    'filter[userId]': v.optional(v.string()),
    'filter[userExternalId]': v.optional(boundedString(1, 1024)),
  }),
  v.check((q) => (q['filter[userId]'] === undefined) !== (q['filter[userExternalId]'] === undefined), 'filter: exactly one of filter[userId] or filter[userExternalId] is required'),
);

export const joinBody = participantRef;

export const leaveBody = v.pipe(
  v.object({
    userId: v.optional(v.string('must be a string')),
    userExternalId: v.optional(boundedString(1, 1024)),
    participantId: v.optional(objectId),
  }),
  v.check((p) => [p.userId, p.userExternalId, p.participantId].filter((x) => x !== undefined).length === 1, 'exactly one of userId, userExternalId or participantId is required'),
);

export const activityBody = v.pipe(
  v.object({
    author: v.variant('type', [
      v.object({ type: v.literal('business'), displayName: v.optional(boundedString(1, 100)), avatarUrl: v.optional(uri()) }),
      v.object({ type: v.literal('user'), userId: v.optional(v.string()), userExternalId: v.optional(boundedString(1, 1024)) }),
    ], 'must have type user or business'),
    type: v.picklist(['typing:start', 'typing:stop', 'conversation:read'], 'must be one of typing:start, typing:stop, conversation:read'),
  }),
  v.check((a) => a.author.type === 'business' || a.type === 'conversation:read', 'type: a user author may only send conversation:read'),
  v.check((a) => a.author.type === 'business' || a.author.userId !== undefined || a.author.userExternalId !== undefined, 'author: userId or userExternalId is required for a user author'),
);
export type ActivityBody = v.InferOutput<typeof activityBody>;

/**
 * The conversation as the ConversationDO stores it and the API returns it; the
 * index queue carries the same shape, parsed with this schema.
 */
export const conversationView = v.object({
  id: v.string(),
  type: v.picklist(['personal', 'sdkGroup']),
  isDefault: v.boolean(),
  displayName: v.optional(v.string()),
  description: v.optional(v.string()),
  iconUrl: v.optional(v.string()),
  metadata: v.nullable(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]))),
  businessLastRead: v.nullable(v.string()),
  lastUpdatedAt: v.nullable(v.string()),
  createdAt: v.string(),
  activeSwitchboardIntegration: v.optional(switchboardIntegrationRef),
  pendingSwitchboardIntegration: v.optional(switchboardIntegrationRef),
});
export type Conversation = v.InferOutput<typeof conversationView>;

export const participantView = v.object({
  id: v.string(),
  userId: v.string(),
  userExternalId: v.nullable(v.string()),
  unreadCount: v.number(),
  lastRead: v.nullable(v.string()),
  clientAssociations: v.array(v.object({ type: v.string(), clientId: v.string() })),
});
export type Participant = v.InferOutput<typeof participantView>;
