/**
 * Stored message templates (a Parley extension, after Sunshine v1.1's
 * `/templates`): request bodies and the answered shape. A template is a
 * business message's content kept under a name, sent by writing
 * `%((template:NAME))%` in a text message, so its name is limited to what
 * fits inside that token, and its content is what POST .../messages accepts
 * for a business message, minus what cannot stand inside another message:
 * WhatsApp `template` content (it needs `schema: whatsapp` and an override of
 * its own) and another template's token (templates do not nest).
 */
import * as v from 'valibot';
import { holdsTemplateToken, TEMPLATE_NAME } from '../content/shorthand';
import { boundedString, metadata } from './common';
import { content, type Content } from './content';
import { pageLinks, pageMeta } from './views';

export const MESSAGE_TEMPLATE_LIMITS = { perApp: 1000 } as const;

export const templateName = v.pipe(boundedString(1, 128), v.regex(TEMPLATE_NAME, 'may only hold letters, digits, _, . and -'));

/** The first text field of a content that holds a template's token, if any. */
function nestingField(c: Content): string | undefined {
  const fields = c as { text?: string; markdownText?: string; htmlText?: string };
  return (['text', 'markdownText', 'htmlText'] as const).find((f) => fields[f] !== undefined && holdsTemplateToken(fields[f]!));
}

const templateContent = v.pipe(
  content,
  v.check((c) => c.type !== 'template', 'content.type: template (WhatsApp) content cannot be stored as a message template; send it with schema "whatsapp"'),
  v.check((c) => c.type !== 'formResponse', 'content.type: formResponse messages can only be sent by the Web Messenger'),
  v.check(
    (c) => nestingField(c) === undefined,
    (issue) => `content.${nestingField(issue.input as Content) ?? 'text'}: holds %((template:…))%; templates do not nest, write the other template's content here instead`,
  ),
);

export const messageTemplateCreateBody = v.object({
  name: templateName,
  content: templateContent,
  metadata: v.optional(v.nullable(metadata)),
});
export type MessageTemplateCreate = v.InferOutput<typeof messageTemplateCreateBody>;

export const messageTemplateUpdateBody = v.object({
  name: v.optional(templateName),
  content: v.optional(templateContent),
  metadata: v.optional(v.nullable(metadata)),
});
export type MessageTemplateUpdate = v.InferOutput<typeof messageTemplateUpdateBody>;

/** A template as answered; `content` as it is sent, `metadata` the template's own (null when none), never copied onto messages. */
export const messageTemplateView = v.object({
  id: v.string(),
  name: v.string(),
  content,
  metadata: v.nullable(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]))),
  createdAt: v.string(),
  updatedAt: v.string(),
});
export type MessageTemplate = v.InferOutput<typeof messageTemplateView>;

export const messageTemplateEnvelopes = {
  template: v.object({ template: messageTemplateView }),
  templates: v.object({ templates: v.array(messageTemplateView), meta: pageMeta, links: pageLinks }),
};
