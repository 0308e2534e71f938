/**
 * The lowest-capability rendering of a message: plain text. The contract
 * stores it as the read-only `content.text` of carousels, lists and locations
 * (numbered "title: uri" lines, no postback labels), and converts
 * `markdownText` into `htmlText` plus a plain `text`. Channels that cannot show
 * rich content send this text.
 */
import { badRequest } from '../http/errors';
import { LIMITS } from '../schema/common';
import type { Action, Content } from '../schema/content';

const actionLine = (a: Action) => ('uri' in a ? `${a.text}: ${a.uri}` : undefined);

function itemsText(items: { title: string; description?: string; actions: Action[] }[]): string {
  return items
    .map((item, i) => {
      const lines = [`${i + 1}. ${item.title}`];
      if (item.description) lines.push(item.description);
      for (const a of item.actions) {
        const line = actionLine(a);
        if (line) lines.push(line);
      }
      return lines.join('\n');
    })
    .join('\n\n');
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A deliberately small Markdown subset: emphasis, code, links and line breaks; everything else is escaped text. */
export function markdownToHtml(md: string): string {
  return escapeHtml(md)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*]+)\*/g, '$1<em>$2</em>')
    .replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2">$1</a>')
    .replace(/\n/g, '<br>');
}

export function markdownToText(md: string): string {
  return md
    .replace(/`([^`]+)`/g, '$1')
    .replace(/\*\*([^*]+)\*\*/g, '$1')
    .replace(/(^|[^*])\*([^*]+)\*/g, '$1$2')
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '$1: $2');
}

/** Returns the content as it is stored: markdown resolved and read-only fallbacks filled in. */
export function withTextFallback(content: Content): Content & { text?: string } {
  switch (content.type) {
    case 'text':
    case 'image':
    case 'file': {
      if (content.markdownText === undefined) return content;
      const { markdownText, ...rest } = content;
      const htmlText = markdownToHtml(markdownText);
      // The contract limits the converted HTML, not the Markdown, to 4,096 characters.
      if (htmlText.length > LIMITS.textChars) throw badRequest(`content.markdownText: converts to ${htmlText.length} characters of HTML, more than ${LIMITS.textChars}`);
      return { ...rest, htmlText, text: rest.text ?? markdownToText(markdownText) };
    }
    case 'carousel':
      return { ...content, text: itemsText(content.items) };
    case 'list': {
      const extra = (content.actions ?? []).map(actionLine).filter(Boolean).join('\n');
      return { ...content, text: [itemsText(content.items), extra].filter(Boolean).join('\n\n') };
    }
    case 'location': {
      const where = [content.location?.name, content.location?.address].filter(Boolean).join(', ');
      const { lat, long } = content.coordinates;
      return { ...content, text: `${where ? `${where}\n` : ''}https://maps.google.com/maps?q=${lat},${long}` };
    }
    default:
      return content;
  }
}
