/**
 * The switchboard (contract §1.13, §2.7): request bodies for the switchboard,
 * its switchboard integrations and the four control actions, and the shapes
 * they are answered and carried in. A switchboard integration is named by
 * `[A-Za-z0-9_-]` so a control action can refer to it by name.
 */
import * as v from 'valibot';
import { boundedString, metadata, objectId } from './common';

export const SWITCHBOARD_LIMITS = { integrationsPerSwitchboard: 10 } as const;

export const switchboardUpdateBody = v.object({
  enabled: v.optional(v.boolean('must be a boolean')),
  defaultSwitchboardIntegrationId: v.optional(objectId),
});
export type SwitchboardUpdate = v.InferOutput<typeof switchboardUpdateBody>;

const name = v.pipe(boundedString(1, 128), v.regex(/^[A-Za-z0-9_-]+$/, 'may only hold letters, digits, _ and -'));
const integrationType = v.pipe(boundedString(1, 128), v.regex(/^[A-Za-z0-9:_.-]+$/, 'must be an integration type such as custom or zd:agentWorkspace'));
const messageHistoryCount = v.nullable(v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(1, 'must be at least 1'), v.maxValue(10, 'must be at most 10')));

const integrationFields = {
  name,
  integrationId: v.optional(objectId),
  integrationType: v.optional(integrationType),
  deliverStandbyEvents: v.optional(v.boolean('must be a boolean')),
  nextSwitchboardIntegrationId: v.optional(v.nullable(objectId)),
  messageHistoryCount: v.optional(messageHistoryCount),
};

export const switchboardIntegrationCreateBody = v.pipe(
  v.object(integrationFields),
  v.check((x) => (x.integrationId === undefined) !== (x.integrationType === undefined), 'exactly one of integrationId or integrationType is required'),
);
export type SwitchboardIntegrationCreate = v.InferOutput<typeof switchboardIntegrationCreateBody>;

export const switchboardIntegrationUpdateBody = v.pipe(
  v.object({ ...integrationFields, name: v.optional(name) }),
  v.check((x) => x.integrationId === undefined || x.integrationType === undefined, 'give at most one of integrationId or integrationType'),
);
export type SwitchboardIntegrationUpdate = v.InferOutput<typeof switchboardIntegrationUpdateBody>;

/** A switchboard integration named by id, by name, by integration type, or `next` (the active one's next). */
const target = boundedString(1, 128);

export const passControlBody = v.object({ switchboardIntegration: target, metadata: v.optional(metadata) });
export const offerControlBody = v.object({ switchboardIntegration: target, metadata: v.optional(metadata) });
export const acceptControlBody = v.object({ metadata: v.optional(metadata) });
export const releaseControlBody = v.object({ metadata: v.optional(metadata) });

export interface Switchboard {
  id: string;
  enabled: boolean;
  defaultSwitchboardIntegrationId: string | null;
}

export interface SwitchboardIntegration {
  id: string;
  name: string;
  integrationId?: string;
  integrationType?: string;
  deliverStandbyEvents: boolean;
  nextSwitchboardIntegrationId: string | null;
  messageHistoryCount: number | null;
}

/** `switchboardIntegrationWebhook`: how a conversation and its events name the active or pending switchboard integration. */
export const switchboardIntegrationRef = v.object({
  id: v.string(),
  name: v.string(),
  integrationId: v.optional(v.string()),
  integrationType: v.string(),
});
export type SwitchboardIntegrationRef = v.InferOutput<typeof switchboardIntegrationRef>;

/**
 * What the Worker hands a conversation's object with each change that can
 * start or continue a conversation: the app's switchboard as its cache has it
 * (null: none), so the object can put a new conversation, or one whose active
 * integration is gone, on the default without asking D1.
 */
export interface SwitchboardConfig {
  enabled: boolean;
  defaultId: string | null;
  integrations: (SwitchboardIntegrationRef & { nextSwitchboardIntegrationId: string | null })[];
}

export type ControlAction = 'passControl' | 'offerControl' | 'acceptControl' | 'releaseControl';
