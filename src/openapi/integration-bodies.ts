/**
 * The integration create and update bodies as one schema each: the API reads
 * `type` and `displayName` itself (integrationCommon) and hands the rest to
 * the type's own schema (custom webhooks, the Web Messenger's settings,
 * Stripe, each channel adapter's createSchema/updateSchema). Here those
 * pieces are put side by side, one alternative per type, from the same
 * schemas the handler parses with, so a new channel is documented by its
 * registry line alone.
 */
import * as v from 'valibot';
import { adapterFor, CHANNEL_TYPES } from '../channels/registry';
import { createBody as stripeCreate, updateBody as stripeUpdate } from '../payments/stripe-integration';
import { boundedString } from '../schema/common';
import { customUpdateBody, requestBodies } from '../schema/integration';
import { webSettings, webSettingsUpdate } from '../schema/web';
import type { Schema } from './convert';

const displayName = v.optional(v.nullable(boundedString(1, 100)));
const typed = (type: string, rest: Schema): Schema => v.intersect([v.object({ type: v.literal(type), displayName }), rest]);

function channelSchemas(pick: 'createSchema' | 'updateSchema'): Schema[] {
  return CHANNEL_TYPES.map((type) => typed(type, adapterFor(type)![pick] as Schema));
}

/** `POST /v2/apps/{appId}/integrations`: one alternative per integration type. */
export const integrationCreateBody: Schema = v.union([
  requestBodies(false).customCreate,
  typed('web', webSettings),
  typed('stripe', stripeCreate),
  ...channelSchemas('createSchema'),
]);

/** `PATCH …/integrations/{integrationId}`: the type's own subset; `type` is not sent (the integration has one). */
export const integrationUpdateBody: Schema = v.union([
  customUpdateBody,
  v.intersect([v.object({ displayName }), webSettingsUpdate]),
  v.intersect([v.object({ displayName }), stripeUpdate]),
  ...CHANNEL_TYPES.map((type) => v.intersect([v.object({ displayName }), adapterFor(type)!.updateSchema as Schema])),
]);
