/**
 * Email's two text formats, for the Mailgun adapter: rendered parts become
 * one email each (an HTML body and its plain-text twin), and a reply's quoted
 * history is cut off so only what the user wrote is stored. Email has no
 * buttons: a link button is a link, and a postback or quick reply is a
 * "reply with #N" suggestion (a mailto link that pre-fills the reply), which
 * the adapter parses back into the option the conversation remembers.
 */
import type { Button, Card, Part, QuickReply } from './adapter';

export interface EmailBody {
  text: string;
  html: string;
}

export interface EmailStyle {
  /** Where a "reply with" suggestion sends its reply (the integration's incoming address). */
  replyTo: string;
  /** The subject a suggested reply carries, so it threads with this email. */
  subject: string;
  /** Mailgun's unsubscribe variable goes in a footer unless the integration hides it. */
  unsubscribe: boolean;
}

export const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Only web and mail links reach an href or src: anything else (javascript:, data:) becomes an inert '#'. */
export function safeUrl(url: string): string {
  return /^(https?:|mailto:)/i.test(url.trim()) ? url : '#';
}

/** Plain text as HTML: escaped, line breaks kept, bare http(s) URLs made links (without the sentence's closing punctuation). */
export function textToHtml(text: string): string {
  return escapeHtml(text)
    .replace(/https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)]/g, (url) => `<a href="${url}">${url}</a>`)
    .replace(/\r?\n/g, '<br>\n');
}

/** The typed form of a choice: what a user writes (or the mailto link pre-fills) to pick option N. */
export const choiceToken = (choice: number) => `#${choice}`;

/** The option a reply picks, when its first line is only `#N`. */
export function chosenOption(text: string): number | undefined {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '');
  const m = first && /^\s*#(\d{1,2})\s*$/.exec(first);
  return m ? Number(m[1]) : undefined;
}

const BUTTON_STYLE = 'display:inline-block;margin:4px 8px 4px 0;padding:8px 14px;border-radius:4px;background:#0099ff;color:#ffffff;text-decoration:none';

function mailto(style: EmailStyle, choice: number): string {
  return `mailto:${style.replyTo}?subject=${encodeURIComponent(style.subject)}&body=${encodeURIComponent(choiceToken(choice))}`;
}

type Option = Button | (QuickReply & { kind: 'reply' });

function optionHtml(o: Option, style: EmailStyle): string {
  if (o.kind === 'link') return `<a href="${escapeHtml(safeUrl(o.uri))}" style="${BUTTON_STYLE}">${escapeHtml(o.text)}</a>`;
  if (o.kind === 'locationRequest') return `<span>${escapeHtml(o.text)}</span>`;
  return `<a href="${escapeHtml(mailto(style, o.choice))}" style="${BUTTON_STYLE}">${escapeHtml(o.text)}</a>`;
}

function optionText(o: Option): string {
  if (o.kind === 'link') return `${o.text}: ${o.uri}`;
  if (o.kind === 'locationRequest') return o.text;
  return `Reply with ${choiceToken(o.choice)} for "${o.text}"`;
}

/** The options as a row of links, a hint when some are answered by replying, and their text lines. */
function optionsBlock(options: Option[], style: EmailStyle): (EmailBody & { hint: string }) | undefined {
  if (options.length === 0) return undefined;
  const suggests = options.some((o) => o.kind === 'postback' || o.kind === 'reply');
  return {
    html: `<p>${options.map((o) => optionHtml(o, style)).join('\n')}</p>`,
    hint: suggests ? `<p style="font-size:12px;color:#666666">Or reply to this email with the option's number, e.g. ${choiceToken(firstChoice(options))}.</p>` : '',
    text: options.map(optionText).join('\n'),
  };
}

const firstChoice = (options: Option[]) => options.map((o) => ('choice' in o ? o.choice : 0)).find((c) => c > 0) ?? 1;

function cardHtml(card: Card, style: EmailStyle): string {
  const title = card.defaultUri ? `<a href="${escapeHtml(safeUrl(card.defaultUri))}">${escapeHtml(card.title)}</a>` : escapeHtml(card.title);
  const image = card.mediaUrl ? `<img src="${escapeHtml(card.mediaUrl)}" alt="${escapeHtml(card.title)}" style="max-width:100%;display:block;border-radius:4px 4px 0 0">` : '';
  const options = optionsBlock(card.buttons, style);
  return [
    '<table role="presentation" cellpadding="0" cellspacing="0" style="width:100%;max-width:480px;margin:0 0 16px;border:1px solid #dddddd;border-radius:4px"><tr><td>',
    image,
    `<div style="padding:12px"><strong>${title}</strong>`,
    card.description ? `<p style="margin:4px 0">${textToHtml(card.description)}</p>` : '',
    options?.html ?? '',
    '</div></td></tr></table>',
  ].join('');
}

function cardText(card: Card): string {
  return [card.title, card.description, card.defaultUri, card.mediaUrl, ...card.buttons.map(optionText)].filter(Boolean).join('\n');
}

/** The last path segment as a file name; a stray % leaves it as written. */
function fileNameOf(url: string): string {
  const last = url.split(/[?#]/)[0]!.split('/').pop() || 'file';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

function mediaBody(part: Extract<Part, { kind: 'media' }>): EmailBody {
  const name = part.fileName ?? fileNameOf(part.url);
  const caption = part.caption ? `<p>${textToHtml(part.caption)}</p>` : '';
  const html =
    part.media === 'image'
      ? `<p><a href="${escapeHtml(safeUrl(part.url))}"><img src="${escapeHtml(safeUrl(part.url))}" alt="${escapeHtml(part.caption ?? name)}" style="max-width:100%"></a></p>${caption}`
      : `${caption}<p><a href="${escapeHtml(safeUrl(part.url))}">${escapeHtml(name)}</a></p>`;
  return { html, text: [part.caption, part.url].filter(Boolean).join('\n') };
}

/** One rendered part as an email body, or undefined for parts email cannot carry (templates, native payloads). */
export function renderEmail(part: Part, style: EmailStyle): EmailBody | undefined {
  let body: EmailBody;
  switch (part.kind) {
    case 'text': {
      const options = optionsBlock([...part.buttons, ...part.replies.map((r) => ({ ...r, kind: 'reply' as const }))], style);
      body = {
        html: `<div>${part.html ?? textToHtml(part.text)}</div>${options ? options.html + options.hint : ''}`,
        text: [part.text, options?.text].filter(Boolean).join('\n\n'),
      };
      break;
    }
    case 'media':
      body = mediaBody(part);
      break;
    case 'carousel': {
      const suggests = part.cards.some((c) => c.buttons.some((b) => b.kind === 'postback'));
      const hint = suggests ? '<p style="font-size:12px;color:#666666">To choose, click an option or reply to this email with its number.</p>' : '';
      body = { html: part.cards.map((c) => cardHtml(c, style)).join('\n') + hint, text: part.cards.map(cardText).join('\n\n') };
      break;
    }
    case 'location': {
      const url = `https://maps.google.com/maps?q=${part.lat},${part.long}`;
      const label = [part.name, part.address].filter(Boolean).join(', ');
      body = { html: `<p>${label ? `${escapeHtml(label)}<br>` : ''}<a href="${url}">${url}</a></p>`, text: [label, url].filter(Boolean).join('\n') };
      break;
    }
    default:
      return undefined;
  }
  if (!style.unsubscribe) return body;
  return {
    html: `${body.html}\n<p style="font-size:11px;color:#999999"><a href="%unsubscribe_url%" style="color:#999999">Unsubscribe</a></p>`,
    text: `${body.text}\n\n--\nUnsubscribe: %unsubscribe_url%`,
  };
}

/** The whole email as an HTML document (mail clients want one). */
export const htmlDocument = (inner: string) =>
  `<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head><body style="font-family:sans-serif;font-size:14px;line-height:1.4">${inner}</body></html>`;

/**
 * What the user wrote in a reply, without the history their mail client
 * quoted: everything from an "On … wrote:" attribution (which clients wrap
 * over two lines), an Outlook "Original Message" or "From:/Sent:" header
 * block, and any remaining `>` lines. Mailgun's `stripped-text` does this
 * for us when it is present; this is the fallback for `body-plain`.
 */
export function stripQuoted(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let end = lines.length;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const attribution = /^On\b/.test(line) && (/wrote:$/.test(line) || (i + 1 < lines.length && /wrote:$/.test(lines[i + 1]!.trim())));
    const outlook = /^-{2,}\s*Original Message\s*-{2,}$/i.test(line) || (/^_{10,}$/.test(line) && /^From:/i.test(lines[i + 1]?.trim() ?? ''));
    const headerBlock = /^From:\s/i.test(line) && /^(Sent|Date):\s/i.test(lines[i + 1]?.trim() ?? '');
    if (attribution || outlook || headerBlock) {
      end = i;
      break;
    }
  }
  return lines
    .slice(0, end)
    .filter((l) => !/^\s*>/.test(l))
    .join('\n')
    .trim();
}
