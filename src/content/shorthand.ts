/**
 * The contract's shorthand: rich messages written inside plain text, for bots
 * and tools that can only produce a string. In a text message's `text` (or its
 * `markdownText` when there is no `text`):
 *
 *   %[Label](https://…)            link button
 *   %[Label](reply:PAYLOAD)        quick reply
 *   %[Label](postback:PAYLOAD)     postback button
 *   $[Label]($9.99)                buy button ($ € £, or an amount and an ISO code: 9.99 EUR)
 *   ![alt](https://…/img.jpg)      an image message
 *   &((namespace=[[…]] template=[[…]] fallback=[[…]] language=[[…]] body_text=[[…]][[…]]))&
 *                                  a WhatsApp template, stored and sent elsewhere as its fallback text
 *   %((template:NAME))%            the app's stored message template NAME (Parley's
 *                                  `/v2/apps/{appId}/templates`), as a message of its own
 *
 * A message may become several: text before an image or a template is a
 * message of its own, in order; the buttons go on the last message that can
 * carry them. Anything that does not parse stays text, character for
 * character, so a message that merely looks like shorthand is never mangled.
 *
 * Pure: stored templates are looked up by the caller (`templateNames` says
 * which, so texts without the token cost no lookup) and handed in by name.
 */
import type { Action, Content } from '../schema/content';

type TextContent = Extract<Content, { type: 'text' }>;

/** One message a shorthand text becomes, with the channel payload a template needs. */
export interface Expanded {
  content: Content;
  /** `override.whatsapp.payload` for a template: the stored text is its fallback. */
  whatsappTemplate?: Record<string, unknown>;
}

/** What a stored template's name may hold: it is written inside `%((template:NAME))%`. */
const NAME = '[A-Za-z0-9_.-]{1,128}';
export const TEMPLATE_NAME = new RegExp(`^${NAME}$`);
const TEMPLATE_TOKEN = `%\\(\\(template:(${NAME})\\)\\)%`;

const TOKEN = new RegExp(
  `${/%\[([^\]\n]{1,128})\]\(([^)\n]+)\)|\$\[([^\]\n]{1,128})\]\(([^)\n]+)\)|!\[([^\]\n]{0,128})\]\((https?:\/\/[^)\s]+)\)|&\(\(([\s\S]*?)\)\)&/.source}|${TEMPLATE_TOKEN}`,
  'g',
);

/** One post becomes at most this many messages, however much shorthand it holds. */
export const MAX_MESSAGES_PER_POST = 10;

export const holdsTemplateToken = (s: string) => new RegExp(TEMPLATE_TOKEN).test(s);

const SYMBOLS: Record<string, string> = { $: 'usd', '€': 'eur', '£': 'gbp' };
/** Currencies without minor units (Stripe's list): their amounts are already whole. */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

function buttonOf(label: string, target: string): Action | undefined {
  const text = label.trim();
  if (!text) return undefined;
  const t = target.trim();
  const reply = /^reply:(.+)$/s.exec(t);
  if (reply) return { type: 'reply', text, payload: reply[1]!.trim() };
  const postback = /^postback:(.+)$/s.exec(t);
  if (postback) return { type: 'postback', text, payload: postback[1]!.trim() };
  if (/^https?:\/\/\S+$/i.test(t)) return { type: 'link', text, uri: t };
  return undefined;
}

function buyOf(label: string, price: string): Action | undefined {
  const text = label.trim();
  const m = /^\s*(?:([$€£])\s*(\d+(?:\.\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s*([A-Za-z]{3}))\s*$/.exec(price);
  if (!text || !m) return undefined;
  const currency = m[1] ? SYMBOLS[m[1]]! : m[4]!.toLowerCase();
  const value = Number(m[2] ?? m[3]);
  const amount = ZERO_DECIMAL.has(currency) ? value : Math.round(value * 100);
  if (!Number.isSafeInteger(amount) || amount < 1) return undefined;
  return { type: 'buy', text, amount, currency };
}

/** `key=[[v]]` pairs; `body_text` may repeat `[[v]]` for each parameter. */
function templateOf(spec: string): { fallback: string; template: Record<string, unknown> } | undefined {
  const fields = new Map<string, string[]>();
  const re = /(\w+)=((?:\[\[[\s\S]*?\]\])+)/g;
  let consumed = '';
  for (const m of spec.matchAll(re)) {
    fields.set(m[1]!, [...m[2]!.matchAll(/\[\[([\s\S]*?)\]\]/g)].map((v) => v[1]!));
    consumed += m[0];
  }
  // Every character is a field or the spaces between them, or this is not a template.
  if (spec.replace(re, '').trim() !== '') return undefined;
  const name = fields.get('template')?.[0];
  const fallback = fields.get('fallback')?.[0];
  if (!name || fallback === undefined || !consumed) return undefined;
  const language = fields.get('language')?.[0];
  const namespace = fields.get('namespace')?.[0];
  const params = (key: string) => (fields.get(key) ?? []).map((text) => ({ type: 'text', text }));
  const components = [
    ...(fields.has('header_text') ? [{ type: 'header', parameters: params('header_text') }] : []),
    ...(fields.has('body_text') ? [{ type: 'body', parameters: params('body_text') }] : []),
  ];
  return {
    fallback,
    template: {
      ...(namespace ? { namespace } : {}),
      name,
      ...(language ? { language: { policy: 'deterministic', code: language } } : {}),
      ...(components.length ? { components } : {}),
    },
  };
}

/** Spaces a removed token leaves behind, without touching line structure. */
const tidy = (s: string) => s.replace(/[ \t]{2,}/g, ' ').replace(/[ \t]+\n/g, '\n').replace(/\n[ \t]+/g, '\n').trim();

/** The field shorthand is read from: `text`, else `markdownText` when there is no `htmlText` to keep in step with it. */
const shorthandField = (content: TextContent) =>
  content.text !== undefined ? 'text' : content.markdownText !== undefined && content.htmlText === undefined ? 'markdownText' : undefined;

/** The stored templates a text message names with `%((template:NAME))%`, each once, in order of appearance. */
export function templateNames(content: TextContent): string[] {
  const field = shorthandField(content);
  if (!field) return [];
  return [...new Set([...content[field]!.matchAll(new RegExp(TEMPLATE_TOKEN, 'g'))].map((m) => m[1]!))];
}

/**
 * The messages a text message's shorthand stands for, or undefined when it
 * holds none (send it as it is). `templates` holds the stored templates the
 * text names, by name; a template token whose name is not there stays text.
 * A template's own text is expanded too, but its template tokens are not:
 * templates do not nest.
 */
export function expandShorthand(content: TextContent, templates?: ReadonlyMap<string, Content>): Expanded[] | undefined {
  const field = shorthandField(content);
  if (!field) return undefined;
  const source = content[field]!;
  const out: Expanded[] = [];
  // A template's messages are sent as stored: the text's own buttons never ride on them.
  const stored = new Set<Expanded>();
  const actions: Action[] = [...(content.actions ?? [])];
  let text = '';
  let found = false;
  let at = 0;
  const flush = () => {
    const t = tidy(text);
    if (t) out.push({ content: { type: 'text', [field]: t } as TextContent });
    text = '';
  };
  for (const m of source.matchAll(TOKEN)) {
    const before = source.slice(at, m.index);
    at = m.index + m[0].length;
    let parsed = false;
    if (m[1] !== undefined) {
      const a = buttonOf(m[1], m[2]!);
      if (a) (actions.push(a), (parsed = true));
    } else if (m[3] !== undefined) {
      const a = buyOf(m[3], m[4]!);
      if (a) (actions.push(a), (parsed = true));
    } else if (m[6] !== undefined) {
      text += before;
      flush();
      out.push({ content: { type: 'image', mediaUrl: m[6], ...(m[5]!.trim() ? { altText: m[5]!.trim() } : {}) } });
      found = true;
      continue;
    } else if (m[8] !== undefined) {
      const template = templates?.get(m[8]);
      if (template) {
        text += before;
        flush();
        for (const part of (template.type === 'text' ? expandShorthand(template) : undefined) ?? [{ content: template }]) {
          out.push(part);
          stored.add(part);
        }
        found = true;
        continue;
      }
    } else {
      const t = templateOf(m[7]!);
      if (t) {
        text += before;
        flush();
        out.push({ content: { type: 'text', text: t.fallback }, whatsappTemplate: { type: 'template', template: t.template } });
        found = true;
        continue;
      }
    }
    text += parsed ? before : before + m[0];
    found ||= parsed;
  }
  if (!found) return undefined;
  text += source.slice(at);
  flush();
  // Buttons (the message's own first) ride on the last text or image message; a WhatsApp template's text carries none,
  // WhatsApp sends the template instead, and a stored template's messages stay as stored.
  const last = out.at(-1);
  if (actions.length) {
    if (last && !last.whatsappTemplate && !stored.has(last) && (last.content.type === 'text' || last.content.type === 'image')) {
      last.content = { ...last.content, actions } as Content;
    } else {
      out.push({ content: { type: 'text', actions } });
    }
  }
  if (content.blockChatInput !== undefined) {
    const tail = out.at(-1)!;
    tail.content = { ...tail.content, blockChatInput: content.blockChatInput } as Content;
  }
  return out;
}
