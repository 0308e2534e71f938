/**
 * `POST /v2/apps/{appId}/users/{userIdOrExternalId}/clients` (contract §1.7,
 * the official client's ClientCreate): which channel identity to link
 * (`matchCriteria`), how the user confirms it (`confirmation`) and the
 * conversation it joins (`target`).
 */
import * as v from 'valibot';
import { boundedString, objectId, uri } from './common';
import { content, type Content } from './content';

const textOrImage = v.pipe(content, v.check((c) => c.type === 'text' || c.type === 'image', 'must be a text or image message'));

/**
 * The confirmation message as the contract has it, a message post
 * (`{author, content}`, the author a business); Parley also takes the bare
 * content. Either way it answers the content and the author's name and avatar.
 */
const confirmationMessage = v.union(
  [
    v.pipe(
      v.object({
        author: v.optional(v.object({ type: v.literal('business', 'must be business'), displayName: v.optional(boundedString(1, 100)), avatarUrl: v.optional(uri()) })),
        content: textOrImage,
      }),
      v.transform((m) => ({ author: m.author, content: m.content as Content })),
    ),
    v.pipe(textOrImage, v.transform((c) => ({ author: undefined, content: c as Content }))),
  ],
  'must be a message post ({author, content}) with text or image content',
);

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
    message: v.optional(confirmationMessage),
  }),
  target: v.object({ conversationId: objectId }),
});
export type ClientCreate = v.InferOutput<typeof clientCreateBody>;
