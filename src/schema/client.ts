/**
 * `POST /v2/apps/{appId}/users/{userIdOrExternalId}/clients` (contract §1.7,
 * the official client's ClientCreate): which channel identity to link
 * (`matchCriteria`), how the user confirms it (`confirmation`) and the
 * conversation it joins (`target`).
 */
import * as v from 'valibot';
import { boundedString, objectId } from './common';
import { content } from './content';

export const clientCreateBody = v.object({
  matchCriteria: v.pipe(
    v.object({
      type: v.picklist(['twilio', 'whatsapp', 'messagebird', 'mailgun'], 'must be twilio, whatsapp, messagebird or mailgun'),
      integrationId: objectId,
      phoneNumber: v.optional(boundedString(1, 32)),
      address: v.optional(boundedString(3, 256)),
      subject: v.optional(boundedString(1, 256)),
      primary: v.optional(v.boolean('must be a boolean')),
    }),
    v.check((m) => !['twilio', 'whatsapp', 'messagebird'].includes(m.type) || m.phoneNumber !== undefined, 'matchCriteria.phoneNumber: is required for this type'),
  ),
  confirmation: v.object({
    type: v.picklist(['immediate', 'userActivity', 'prompt'], 'must be immediate, userActivity or prompt'),
    message: v.optional(v.pipe(content, v.check((c) => c.type === 'text' || c.type === 'image', 'must be a text or image message'))),
  }),
  target: v.object({ conversationId: objectId }),
});
export type ClientCreate = v.InferOutput<typeof clientCreateBody>;
