/**
 * Integrations, their webhooks and custom-integration keys: request bodies and
 * list filters. Integration bodies are a variant on `type`, so each channel
 * adds its own object schema to the list. Webhook targets are checked by
 * `checkTarget`, which depends on whether Parley runs locally, so the bodies
 * come in two prebuilt sets.
 */
import * as v from 'valibot';
import { CHANNEL_TYPES } from '../channels/registry';
import { checkTarget } from '../http/targets';
import { boundedString, uri } from './common';

export const INTEGRATION_LIMITS = {
  webhooksPerApp: 10,
  keysPerIntegration: 10,
} as const;

/** The v2 trigger vocabulary (contract §4.1); `*` subscribes to all of them. */
export const TRIGGERS = [
  'conversation:create',
  'conversation:message',
  'conversation:postback',
  'conversation:read',
  'conversation:typing',
  'conversation:join',
  'conversation:leave',
  'conversation:remove',
  'conversation:referral',
  'conversation:message:delivery:channel',
  'conversation:message:delivery:user',
  'conversation:message:delivery:failure',
  'conversation:payment',
  'client:add',
  'client:update',
  'client:remove',
  'user:update',
  'user:remove',
  'user:merge',
  'switchboard:acceptControl',
  'switchboard:acceptControl:failure',
  'switchboard:offerControl',
  'switchboard:offerControl:failure',
  'switchboard:passControl',
  'switchboard:passControl:failure',
  'switchboard:releaseControl',
  '*',
] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** `v2` is the contract's payload; `v1` is Parley's legacy format, an additive choice. */
export const WEBHOOK_VERSIONS = ['v2', 'v1'] as const;
export type WebhookVersion = (typeof WEBHOOK_VERSIONS)[number];

/**
 * Integration types Parley can create: custom webhooks, the Web Messenger,
 * Stripe (payments for buy actions, src/payments/), and every channel in src/channels/registry.ts (taken from there, so a new
 * channel's registry line is all it takes). An OAuth integration's type is its
 * partner's client id, so a stored type is any string.
 */
export const INTEGRATION_TYPES: readonly string[] = ['custom', 'web', ...CHANNEL_TYPES, 'stripe'];
export type IntegrationType = string;

const triggers = v.pipe(
  v.array(v.picklist(TRIGGERS, 'must be a webhook trigger such as conversation:message, or *'), 'must be an array'),
  v.minLength(1, 'must hold at least one trigger'),
  v.transform((list) => [...new Set(list)]),
);

const flag = v.optional(v.boolean('must be a boolean'));

function bodies(local: boolean) {
  const target = v.pipe(
    uri(),
    v.check(
      (url) => checkTarget(url, local) === undefined,
      (issue) => checkTarget(String(issue.input), local) ?? 'is not an allowed target',
    ),
  );

  const webhookCreate = v.object({
    target,
    triggers,
    includeFullUser: flag,
    includeFullSource: flag,
    version: v.optional(v.picklist(WEBHOOK_VERSIONS, 'must be v2 or v1')),
  });

  const webhookUpdate = v.object({
    target: v.optional(target),
    triggers: v.optional(triggers),
    includeFullUser: flag,
    includeFullSource: flag,
  });

  const custom = v.object({
    type: v.literal('custom'),
    displayName: v.optional(v.nullable(boundedString(1, 100))),
    webhooks: v.pipe(v.array(webhookCreate, 'must be an array'), v.length(1, 'must hold exactly one webhook')),
  });

  return { webhookCreate, webhookUpdate, customCreate: custom };
}

const LOCAL = bodies(true);
const HOSTED = bodies(false);

/** The request bodies whose webhook targets are judged for a local or a hosted Parley. */
export const requestBodies = (local: boolean) => (local ? LOCAL : HOSTED);

export type WebhookCreate = v.InferOutput<typeof HOSTED.webhookCreate>;
export type WebhookUpdate = v.InferOutput<typeof HOSTED.webhookUpdate>;

/** The fields every integration type shares; the type's own schema parses the rest of the body. */
export const integrationCommon = v.looseObject({
  type: v.picklist(INTEGRATION_TYPES, `must be one of ${INTEGRATION_TYPES.join(', ')}`),
  displayName: v.optional(v.nullable(boundedString(1, 100))),
});

/** What PATCH may change of a custom integration (contract §2.8: a type-specific subset); channels declare their own. */
export const customUpdateBody = v.object({
  displayName: v.optional(v.nullable(boundedString(1, 100))),
});

/**
 * `filter[types]=custom,web`. Unknown type names are not refused: a Sunshine
 * caller filtering by a channel Parley lacks simply gets no integrations of it.
 * An OAuth integration's type is its client id (`oauth_…`), so ids pass too.
 */
export const integrationListQuery = v.object({
  'filter[types]': v.optional(
    v.pipe(
      v.string(),
      v.transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean)),
      v.maxLength(30, 'must list at most 30 types'),
      v.check((types) => types.every((t) => /^[a-zA-Z][\w:.-]{0,63}$/.test(t)), 'must be a comma-separated list of integration types'),
    ),
  ),
});
