/** Apps and app keys: request bodies and the stored/returned shapes. */
import * as v from 'valibot';
import { boundedString, metadata } from './common';
import type { SwitchboardConfig } from './switchboard';

export const appSettings = v.object({
  conversationRetentionSeconds: v.optional(v.pipe(v.number('must be an integer'), v.integer('must be an integer'), v.minValue(0, 'must be 0 or more'))),
  maskCreditCardNumbers: v.optional(v.boolean('must be a boolean')),
  useAnimalNames: v.optional(v.boolean('must be a boolean')),
  echoPostback: v.optional(v.boolean('must be a boolean')),
  ignoreAutoConversationStart: v.optional(v.boolean('must be a boolean')),
  multiConvoEnabled: v.optional(v.boolean('must be a boolean')),
  appLocalizationEnabled: v.optional(v.boolean('must be a boolean')),
});
export type AppSettings = Required<v.InferOutput<typeof appSettings>>;

export const DEFAULT_SETTINGS: AppSettings = {
  conversationRetentionSeconds: 0,
  maskCreditCardNumbers: true,
  useAnimalNames: false,
  echoPostback: false,
  ignoreAutoConversationStart: false,
  multiConvoEnabled: false,
  appLocalizationEnabled: true,
};

/**
 * What the Worker hands a conversation's object with each change that can
 * start or continue a conversation (see src/db/app-policy.ts): the app's
 * switchboard (null: none) and the settings the object applies itself.
 */
export interface AppPolicy {
  switchboard: SwitchboardConfig | null;
  echoPostback: boolean;
  retentionSeconds: number;
}

export const appCreateBody = v.object({
  displayName: boundedString(1, 100),
  settings: v.optional(appSettings),
  metadata: v.optional(v.nullable(metadata)),
});

export const appUpdateBody = v.object({
  displayName: v.optional(boundedString(1, 100)),
  settings: v.optional(appSettings),
  metadata: v.optional(v.nullable(metadata)),
});

export const appListQuery = v.object({
  'filter[serviceAccountId]': v.optional(v.string()),
});

export const keyCreateBody = v.object({
  displayName: boundedString(1, 100),
});
