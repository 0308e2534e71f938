/**
 * The renderer: turns a stored v2 message into the parts one channel can
 * show, from its declared capabilities. Native first, then constrained
 * native, then text: buttons beyond a channel's limits become numbered lines
 * (remembered as choices, so a typed "2" maps back to the payload), links
 * become "Label: uri" lines, cards without a native carousel become one
 * message per card (or one numbered text where the channel has no buttons at
 * all), long text is split. It is deterministic, so a retried delivery sends
 * the same parts in the same order.
 */
import type { Action, Content } from '../schema/content';
import type { Button, Capabilities, Card, Choice, MediaKind, Part, QuickReply } from './adapter';

export interface Rendered {
  parts: Part[];
  choices: Choice[];
}

/** Content a channel cannot carry at all; the delivery fails permanently with this code. */
export class UnsupportedContent extends Error {
  readonly code = 'unsupported_content';
}

export interface RenderInput {
  content: Content & { text?: string };
  /** `override` of the message post: `{<channelType>: {payload}}`. */
  override?: Record<string, { payload?: unknown }>;
}

export const NUMBERED_HINT = 'Reply with the number of your choice.';
const LOCATION_HINT = 'Please reply with your location or address.';
const LOCATION_ASK = 'Please share your location.';

type Item = { title: string; description?: string; mediaUrl?: string; actions: Action[] };

export function render(input: RenderInput, caps: Capabilities, channelType: string): Rendered {
  const native = input.override?.[channelType]?.payload;
  if (native !== undefined) return { parts: [{ kind: 'native', payload: native }], choices: [] };
  const r = new Renderer(caps);
  const c = input.content;
  switch (c.type) {
    case 'text':
      r.text(c.text ?? (c.htmlText ? htmlToText(c.htmlText) : ''), c.htmlText, c.actions ?? []);
      break;
    case 'image':
    case 'file':
      r.media(c.type === 'image' ? 'image' : mediaKindOf(c.mediaUrl), c.mediaUrl, c.text, c.htmlText, c.type === 'image' ? (c.actions ?? []) : [], c.altText);
      break;
    case 'carousel':
    case 'list':
      r.cards(c.items, c.type === 'list' ? (c.actions ?? []) : []);
      break;
    case 'location':
      if (caps.location) r.parts.push({ kind: 'location', lat: c.coordinates.lat, long: c.coordinates.long, ...c.location });
      else r.text(c.text ?? `https://maps.google.com/maps?q=${c.coordinates.lat},${c.coordinates.long}`, undefined, []);
      break;
    case 'template':
      if (!caps.templates) throw new UnsupportedContent(`Unsupported message type template on ${channelType}: templates are WhatsApp-only`);
      r.parts.push({ kind: 'template', template: c.template });
      break;
    // No `form` case: the deliveries consumer turns every form into its text and a link to the hosted form page
    // (withPageLinks) before rendering. A formResponse is a user's answer, which no public path queues for a channel
    // (the REST and notification schemas refuse it, deliveries are made for business messages); should one ever get
    // here, failing the delivery says so, where sending nothing would hide it.
    case 'formResponse':
      throw new UnsupportedContent(`Unsupported message type ${c.type} on ${channelType}`);
  }
  return { parts: r.parts, choices: r.choices };
}

/** A file URL's kind by its extension, so a video sent as `file` plays where the channel can play it. */
function mediaKindOf(url: string): MediaKind {
  const path = url.split(/[?#]/)[0]!.toLowerCase();
  if (/\.(mp4|mov|webm|3gp|m4v)$/.test(path)) return 'video';
  if (/\.(mp3|ogg|oga|m4a|aac|wav|amr|opus)$/.test(path)) return 'audio';
  if (/\.(png|jpe?g|gif|webp)$/.test(path)) return 'image';
  return 'file';
}

class Renderer {
  parts: Part[] = [];
  choices: Choice[] = [];
  private nextChoice = 1;

  constructor(private caps: Capabilities) {}

  /** A text message with its actions, degraded to what fits, split when too long. */
  text(text: string, html: string | undefined, actions: Action[]): void {
    const { buttons: all, replies, lines } = this.actions(actions);
    // A location prompt is a keyboard of its own on every channel that has one, so it never shares a message with other buttons.
    const location = all.find((b) => b.kind === 'locationRequest');
    const alone = !location || (all.length === 1 && replies.length === 0);
    const buttons = alone ? all : all.filter((b) => b !== location);
    const body = [text, ...lines].filter(Boolean).join('\n\n') || (buttons.length || replies.length ? 'Choose an option' : location ? LOCATION_ASK : '');
    if (!body) return;
    const rich = html !== undefined && lines.length === 0 && html.length <= this.caps.textMax;
    const chunks = split(body, this.caps.textMax);
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      this.parts.push({
        kind: 'text',
        text: chunk,
        ...(rich && chunks.length === 1 && this.caps.markup === 'html' ? { html } : {}),
        ...(rich && chunks.length === 1 && this.caps.markup === 'markdown' ? { markdown: htmlToMarkdown(html) } : {}),
        buttons: last ? buttons : [],
        replies: last ? replies : [],
      });
    });
    if (!alone) this.parts.push({ kind: 'text', text: LOCATION_ASK, buttons: [location], replies: [] });
  }

  media(guessed: MediaKind, url: string, caption: string | undefined, html: string | undefined, actions: Action[], altText?: string): void {
    // A video sent as `file` still goes as a file where the channel takes files but cannot play video.
    const kind = !this.caps.media.includes(guessed) && guessed !== 'image' && this.caps.media.includes('file') ? 'file' : guessed;
    if (!this.caps.media.includes(kind)) {
      // The channel cannot show it: the link goes out as text, with the caption above it.
      this.text([caption, url].filter(Boolean).join('\n'), undefined, actions);
      return;
    }
    const fits = caption !== undefined && caption.length <= this.caps.captionMax && actions.length === 0;
    this.parts.push({ kind: 'media', media: kind, url, ...(fits ? { caption } : {}), buttons: [], replies: [] });
    if (!fits && (caption || actions.length)) this.text(caption ?? altText ?? '', html, actions);
  }

  cards(items: Item[], listActions: Action[]): void {
    const carousel = this.caps.carousel;
    if (carousel) {
      for (let i = 0; i < items.length; i += carousel.maxItems) {
        const cards = items.slice(i, i + carousel.maxItems).map((item) => this.card(item, carousel.maxButtons));
        this.parts.push({ kind: 'carousel', cards });
      }
    } else if (this.caps.postbackButtons > 0 || this.caps.linkButtons > 0) {
      // One message per card: its image, then its title and buttons.
      for (const item of items) {
        if (item.mediaUrl && this.caps.media.includes('image')) this.parts.push({ kind: 'media', media: 'image', url: item.mediaUrl, buttons: [], replies: [] });
        this.text([item.title, item.description].filter(Boolean).join('\n'), undefined, item.actions);
      }
    } else {
      this.numberedCards(items);
    }
    if (listActions.length) this.text('', undefined, listActions);
  }

  /** Cards as one text for channels without buttons: links as lines, postbacks numbered across all cards. */
  private numberedCards(items: Item[]): void {
    const blocks = items.map((item) => {
      const lines = [item.title];
      if (item.description) lines.push(item.description);
      for (const a of item.actions) {
        const link = linkOf(a);
        if (link) lines.push(`${a.text}: ${link}`);
        else if (a.type === 'postback') lines.push(`${this.choose('postback', a.text, a.payload, true)}. ${a.text}`);
      }
      return lines.join('\n');
    });
    if (this.choices.some((c) => c.numbered)) blocks.push(NUMBERED_HINT);
    this.text(blocks.join('\n\n'), undefined, []);
  }

  private card(item: Item, maxButtons: number): Card {
    const defaultAction = item.actions.find((a) => (a.type === 'link' || a.type === 'webview') && a.default);
    const buttons: Button[] = [];
    for (const a of item.actions) {
      if (a === defaultAction || buttons.length >= maxButtons) continue;
      const button = this.button(a, false);
      if (button) buttons.push(button);
    }
    return {
      title: truncate(item.title, 80),
      ...(item.description ? { description: truncate(item.description, 80) } : {}),
      ...(item.mediaUrl ? { mediaUrl: item.mediaUrl } : {}),
      buttons,
      ...(defaultAction ? { defaultUri: linkOf(defaultAction)! } : {}),
    };
  }

  /**
   * Splits actions into what the channel shows natively and text lines.
   * Each kind that does not fit as a whole degrades as a whole, so the user
   * never sees half the options as buttons and half as numbers.
   */
  private actions(actions: Action[]): { buttons: Button[]; replies: QuickReply[]; lines: string[] } {
    const caps = this.caps;
    const postbacks = actions.filter((a) => a.type === 'postback');
    const links = actions.filter((a) => linkOf(a) !== undefined);
    const replyActions = actions.filter((a) => a.type === 'reply');
    const locationAsks = actions.filter((a) => a.type === 'locationRequest');
    const postbacksFit = postbacks.length > 0 && postbacks.length <= caps.postbackButtons;
    const linksFit = links.length > 0 && links.length <= caps.linkButtons && (caps.mixedButtons || !postbacksFit);
    const repliesFit = replyActions.length > 0 && replyActions.length <= caps.quickReplies;
    const locationFits = locationAsks.length > 0 && caps.locationRequest;

    const lines: string[] = [];
    // Numbered options are numbered first, so what the user sees starts at 1.
    const numbered = [...(postbacksFit ? [] : postbacks), ...(repliesFit ? [] : replyActions)];
    if (numbered.length) {
      lines.push(
        numbered.map((a) => `${this.choose(a.type === 'reply' ? 'reply' : 'postback', a.text, (a as { payload: string }).payload, true)}. ${a.text}`).join('\n'),
      );
    }
    if (!linksFit && links.length) lines.push(links.map((a) => `${a.text}: ${linkOf(a)}`).join('\n'));
    if (!locationFits && locationAsks.length) lines.push(LOCATION_HINT);
    if (numbered.length) lines.push(NUMBERED_HINT);

    const buttons: Button[] = [];
    for (const a of actions) {
      if ((a.type === 'postback' && postbacksFit) || (linkOf(a) !== undefined && linksFit) || (a.type === 'locationRequest' && locationFits)) {
        const b = this.button(a, true);
        if (b) buttons.push(b);
      }
    }
    const replies: QuickReply[] = repliesFit
      ? replyActions.map((a) => {
          const r = a as Extract<Action, { type: 'reply' }>;
          return { text: truncate(r.text, caps.buttonTextMax), payload: r.payload, choice: this.choose('reply', r.text, r.payload, false), ...(r.iconUrl ? { iconUrl: r.iconUrl } : {}) };
        })
      : [];
    return { buttons, replies, lines };
  }

  private button(a: Action, allowLocation: boolean): Button | undefined {
    const text = truncate(a.text, this.caps.buttonTextMax);
    if (a.type === 'postback') return { kind: 'postback', text, payload: a.payload, choice: this.choose('postback', a.text, a.payload, false) };
    const uri = linkOf(a);
    if (uri) return { kind: 'link', text, uri };
    if (a.type === 'locationRequest' && allowLocation) return { kind: 'locationRequest', text };
    return undefined;
  }

  private choose(kind: Choice['kind'], text: string, payload: string, numbered: boolean): number {
    const number = this.nextChoice++;
    this.choices.push({ number, kind, text, payload, numbered });
    return number;
  }
}

/** Where a link-like action points; a webview opens its `fallback` on channels without webviews. */
function linkOf(a: Action): string | undefined {
  if (a.type === 'link') return a.uri;
  if (a.type === 'webview') return a.fallback;
  return undefined;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

/** Standard Markdown of the HTML Parley stores (the subset markdownToHtml makes), for channels that take Markdown. */
function htmlToMarkdown(html: string): string {
  return html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<strong>([^<]*)<\/strong>/gi, '**$1**')
    .replace(/<em>([^<]*)<\/em>/gi, '*$1*')
    .replace(/<code>([^<]*)<\/code>/gi, '`$1`')
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/gi, '[$2]($1)')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/** Plain text of stored HTML (a message may carry only htmlText): line breaks kept, tags dropped, entities decoded. */
function htmlToText(html: string): string {
  return html
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([^<]*)<\/a>/gi, '$2: $1')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/**
 * Splits at the last line break or space before the limit, so words stay
 * whole; a hard cut never tears a surrogate pair, and no chunk is empty.
 */
export function split(text: string, max: number): string[] {
  const out: string[] = [];
  let rest = text.trim();
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) {
      cut = max;
      const code = rest.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut--;
    }
    const chunk = rest.slice(0, cut).trimEnd();
    if (chunk) out.push(chunk);
    rest = rest.slice(cut).trimStart();
  }
  if (rest) out.push(rest);
  return out;
}
