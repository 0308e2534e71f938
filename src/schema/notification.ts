/**
 * Notifications (contract §1.15, §7.4): the body of `POST
 * /v1.1/apps/{appId}/notifications`, which migrating code calls, also taken at
 * Parley's `POST /v2/apps/{appId}/notifications`. The v1 body names the
 * message `message` and its author `appMaker`; the v2 form may say `content`
 * and `author.type: "business"` instead. `messageSchema: "whatsapp"` sends a
 * WhatsApp template (the only content WhatsApp delivers outside its 24-hour
 * window).
 */
import * as v from 'valibot';
import { boundedString, metadata, objectId, uri } from './common';
import { content } from './content';

export const notificationBody = v.pipe(
  v.object({
    destination: v.object({ integrationId: objectId, destinationId: boundedString(1, 64) }),
    author: v.optional(
      v.object({
        role: v.optional(v.literal('appMaker', 'must be appMaker')),
        type: v.optional(v.literal('business', 'must be business')),
        name: v.optional(boundedString(1, 100)),
        displayName: v.optional(boundedString(1, 100)),
        email: v.optional(boundedString(3, 256)),
        avatarUrl: v.optional(uri()),
      }),
    ),
    message: v.optional(content),
    content: v.optional(content),
    messageSchema: v.optional(v.literal('whatsapp', 'must be whatsapp')),
    metadata: v.optional(v.nullable(metadata)),
  }),
  v.check((b) => (b.message === undefined) !== (b.content === undefined), 'message: exactly one of message or content is required'),
  v.check((b) => (b.message ?? b.content)?.type !== 'formResponse', 'message.type: formResponse messages can only be sent by the Web Messenger'),
  v.check((b) => (b.message ?? b.content)?.type !== 'template' || b.messageSchema === 'whatsapp', 'messageSchema: template content requires messageSchema "whatsapp"'),
);
export type NotificationBody = v.InferOutput<typeof notificationBody>;

/** The idempotency key a retried call repeats (`Idempotency-Key`, Stripe's name, widely used). */
export const idempotencyKey = v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,255}$/, 'Idempotency-Key: must be 1 to 255 printable ASCII characters'));
