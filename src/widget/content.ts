/**
 * What the widget derives from message content without touching the DOM: the
 * plain-text form of any content type, form validation and the formResponse a
 * submitted form becomes, and the link segments of a text. Pure, so the rules
 * are unit tested in Node.
 */
import type { Action, Content, FormResponseField, Message } from './types';

/**
 * Plain text for any content: what a bubble shows when it cannot render the
 * type richly, and how a formResponse or a template reads. Never throws on an
 * unknown or partial shape: content comes from every channel.
 */
export function textFallback(content: Content): string {
  if (content.textFallback) return content.textFallback;
  if (content.text) return content.text;
  if (content.markdownText) return content.markdownText;
  if (content.htmlText) return content.htmlText.replace(/<[^>]*>/g, '');
  switch (content.type) {
    case 'formResponse':
      return (content.fields ?? []).map((f) => `${f.label}: ${responseValue(f as FormResponseField)}`).join('\n');
    case 'template':
      return (content.template?.components ?? [])
        .filter((c) => c.type.toLowerCase() === 'body')
        .flatMap((c) => (c.text ? [c.text] : (c.parameters ?? []).map((p) => p.text ?? '')))
        .filter(Boolean)
        .join(' ');
    case 'carousel':
    case 'list':
      return (content.items ?? []).map((i) => (i.description ? `${i.title}: ${i.description}` : i.title)).join('\n');
    case 'location':
      return [content.location?.name, content.location?.address].filter(Boolean).join(', ') ||
        (content.coordinates ? `${content.coordinates.lat}, ${content.coordinates.long}` : '');
    case 'image':
    case 'file':
      return content.altText ?? content.mediaUrl ?? '';
    default:
      return '';
  }
}

/** A formResponse field's answer as text. */
export function responseValue(field: FormResponseField): string {
  if (field.type === 'email') return field.email ?? '';
  if (field.type === 'select') return (field.select ?? []).map((o) => o.label).join(', ');
  return field.text ?? '';
}

// The form rules are shared with the Worker's hosted form page: one implementation, so both accept the same answers.
export { buildFormResponse, validateForm, type FieldError, type FormValues } from '../content/form-validation';

/** Reply and location-request actions of the newest message: they show as chips under it and vanish once the conversation moves on. */
export function quickReplies(last: Message | undefined): Action[] {
  if (!last || last.author.type !== 'business') return [];
  return (last.content.actions ?? []).filter((a) => a.type === 'reply' || a.type === 'locationRequest');
}

/** Actions that render as buttons inside the bubble. */
export function buttonActions(actions: readonly Action[] | undefined): Action[] {
  return (actions ?? []).filter((a) => a.type !== 'reply' && a.type !== 'locationRequest');
}

export type Segment = { text: string; href?: string };
const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** Splits text into plain runs and http(s) links, so links can be made clickable without ever parsing HTML. */
export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let at = 0;
  for (const m of text.matchAll(URL_IN_TEXT)) {
    if (m.index > at) out.push({ text: text.slice(at, m.index) });
    out.push({ text: m[0], href: m[0] });
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push({ text: text.slice(at) });
  return out;
}

export function mapUrl(coordinates: { lat: number; long: number }): string {
  const { lat, long } = coordinates;
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${long}#map=16/${lat}/${long}`;
}

/** Only web, mail and phone links become hrefs: content comes from third parties, and a javascript: URI must stay text. */
export function safeUri(uri: string | undefined): string | undefined {
  return uri && /^(https?:|mailto:|tel:)/i.test(uri.trim()) ? uri.trim() : undefined;
}
