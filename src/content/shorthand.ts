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
 *
 * A message may become several: text before an image or a template is a
 * message of its own, in order; the buttons go on the last message that can
 * carry them. Anything that does not parse stays text, character for
 * character, so a message that merely looks like shorthand is never mangled.
 */
import type { Action, Content } from '../schema/content';

type TextContent = Extract<Content, { type: 'text' }>;

/** One message a shorthand text becomes, with the channel payload a template needs. */
export interface Expanded {
  content: Content;
  /** `override.whatsapp.payload` for a template: the stored text is its fallback. */
  whatsappTemplate?: Record<string, unknown>;
}

const TOKEN = /%\[([^\]\n]{1,128})\]\(([^)\n]+)\)|\$\[([^\]\n]{1,128})\]\(([^)\n]+)\)|!\[([^\]\n]{0,128})\]\((https?:\/\/[^)\s]+)\)|&\(\(([\s\S]*?)\)\)&/g;

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

/** The messages a text message's shorthand stands for, or undefined when it holds none (send it as it is). */
export function expandShorthand(content: TextContent): Expanded[] | undefined {
  const field = content.text !== undefined ? 'text' : content.markdownText !== undefined && content.htmlText === undefined ? 'markdownText' : undefined;
  if (!field) return undefined;
  const source = content[field]!;
  const out: Expanded[] = [];
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
  // Buttons (the message's own first) ride on the last text or image message; a template's text carries none, WhatsApp sends the template instead.
  const last = out.at(-1);
  if (actions.length) {
    if (last && !last.whatsappTemplate && (last.content.type === 'text' || last.content.type === 'image')) {
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
