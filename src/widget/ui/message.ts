/**
 * One message as a row of the log: avatar, bubble(s) for its content type,
 * and the meta line (time, sending / not sent + Retry, Seen). Every v2
 * content type has a renderer here; an unknown one falls back to its text.
 */
import { formatBytes, fileNameFromUrl } from '../attachments';
import { buttonActions, linkify, mapUrl, safeUri, textFallback, responseValue, type FormValues } from '../content';
import { format, type Strings } from '../i18n';
import type { Entry } from '../timeline';
import type { Action, Content, FormField, FormResponseField, IntegrationConfig, Item, Message } from '../types';
import { h, icon } from './dom';
import { renderForm } from './form';
import { timeLabel } from './format';

export interface RenderContext {
  t: Strings;
  lang: string;
  config: IntegrationConfig;
  /** Draft values of open forms, by message id. */
  drafts: Map<string, FormValues>;
  act(action: Action, message: Message): Promise<void>;
  /** A buy action tapped: `tab` was opened by the tap (so no popup blocker stops it) and is to be sent to the pay page. */
  pay(action: Action, message: Message, tab: Window | null): Promise<void>;
  retry(key: string): void;
  submitForm(message: Message, values: FormValues): void;
}

/** Where a row sits among its neighbours: decides the name, avatar, meta line and chips. */
export interface RowFlags {
  /** First of a run by the same author: shows the business name. */
  start: boolean;
  /** Last of the run: shows the avatar and the time. */
  end: boolean;
  seen: boolean;
  chips: Action[];
  submitted: boolean;
}

const WIDE = new Set(['carousel', 'list', 'form']);

export function businessName(config: IntegrationConfig): string {
  return config.businessName || config.displayName || 'Support';
}

export function avatar(url: string | undefined, name: string, className = 'avatar'): HTMLElement {
  const src = safeUri(url);
  return src
    ? h('img', { class: className, src, alt: '' })
    : h('span', { class: className, 'aria-hidden': 'true' }, (name.trim()[0] ?? '?').toUpperCase());
}

export function renderRow(entry: Entry, flags: RowFlags, ctx: RenderContext): HTMLElement {
  const { message, status } = entry;
  const { author, content } = message;
  const isUser = author.type === 'user';
  const name = author.displayName || businessName(ctx.config);
  const col = h('div', { class: 'col' });
  if (!isUser && flags.start) col.append(h('div', { class: 'name' }, name));
  col.append(...renderContent(content, message, flags, ctx));

  const meta: HTMLElement[] = [];
  if (status === 'sending') meta.push(h('span', {}, ctx.t.sending));
  else if (status === 'failed')
    meta.push(
      h('span', { class: 'bad' }, ctx.t.failed),
      h('button', { type: 'button', class: 'link-btn', 'data-testid': 'retry', onClick: () => ctx.retry(entry.key) }, ctx.t.retry),
    );
  else if (flags.end) meta.push(h('span', {}, timeLabel(message.received, ctx.lang)));
  if (flags.seen) meta.push(h('span', { 'data-testid': 'seen' }, `· ${ctx.t.seen}`));
  if (meta.length) col.append(h('div', { class: 'meta' }, ...meta));

  const row = h('div', { class: `row ${author.type}${flags.start ? ' start' : ''}${WIDE.has(content.type) ? ' wide' : ''}` });
  if (!isUser) {
    const pic = avatar(author.avatarUrl ?? ctx.config.businessIconUrl, name);
    if (!flags.end) pic.classList.add('spacer');
    row.append(pic);
  }
  row.append(col);

  const wrap = h('div', {
    class: 'msg',
    'data-testid': 'message',
    'data-seq': message.seq,
    'data-status': status,
    'data-author': author.type,
    'data-type': content.type,
  });
  wrap.append(row);
  if (flags.chips.length) wrap.append(h('div', { class: 'chips' }, ...flags.chips.map((a) => chip(a, message, ctx))));
  return wrap;
}

function renderContent(content: Content, message: Message, flags: RowFlags, ctx: RenderContext): HTMLElement[] {
  const { t } = ctx;
  const buttons = () => actionButtons(buttonActions(content.actions), message, ctx);
  const caption = content.text ? h('div', { class: 'caption' }, ...richText(content.text)) : undefined;
  switch (content.type) {
    case 'text':
      return [h('div', { class: 'bubble' }, ...richText(textFallback(content)), buttons())];
    case 'image': {
      const src = safeUri(content.mediaUrl);
      return [h('div', { class: 'bubble media' }, src && h('a', { href: src, target: '_blank', rel: 'noopener noreferrer' }, h('img', { src, alt: content.altText ?? '' })), caption, buttons())];
    }
    case 'file': {
      const name = content.altText || fileNameFromUrl(content.mediaUrl ?? '');
      const size = content.mediaSize ? formatBytes(content.mediaSize) : '';
      const link = h(
        'a',
        { class: 'file', href: safeUri(content.mediaUrl), download: name, target: '_blank', rel: 'noopener noreferrer', 'aria-label': format(t.download, { name }) },
        h('span', { class: 'ic' }, icon('file')),
        h('span', {}, h('strong', {}, name), h('small', {}, size)),
      );
      return [h('div', { class: 'bubble file-b' }, link, caption)];
    }
    case 'location': {
      const place = content.location;
      const where = content.coordinates;
      const link = h(
        'a',
        { class: 'place', href: where ? mapUrl(where) : undefined, target: '_blank', rel: 'noopener noreferrer' },
        h('span', { class: 'ic' }, icon('pin')),
        h('span', {}, h('strong', {}, place?.name || t.viewMap), h('small', {}, place?.address ?? (where ? `${where.lat.toFixed(5)}, ${where.long.toFixed(5)}` : ''))),
      );
      return [h('div', { class: 'bubble place-b' }, link)];
    }
    case 'carousel':
      return [carousel(content, message, ctx)];
    case 'list':
      return [list(content, message, ctx)];
    case 'form': {
      let values = ctx.drafts.get(message.id);
      if (!values) ctx.drafts.set(message.id, (values = {}));
      return [
        renderForm(
          { fields: (content.fields ?? []) as FormField[], text: content.text, submitted: flags.submitted, values, submitLabel: t.submit, onSubmit: (v) => ctx.submitForm(message, v) },
          t,
        ),
      ];
    }
    case 'formResponse':
      return [
        h(
          'div',
          { class: 'bubble' },
          h('div', { class: 'answers' }, ...(content.fields ?? []).map((f) => h('div', {}, h('span', {}, f.label), h('b', {}, responseValue(f as FormResponseField))))),
        ),
      ];
    default: {
      const text = textFallback(content);
      if (text) return [h('div', { class: 'bubble' }, ...richText(text))];
      return [h('div', { class: 'bubble muted' }, content.type === 'template' ? t.template : t.unsupported)];
    }
  }
}

function richText(text: string): (Node | string)[] {
  return linkify(text).map((s) => (s.href ? h('a', { href: s.href, target: '_blank', rel: 'noopener noreferrer' }, s.text) : s.text));
}

function actionButtons(actions: Action[], message: Message, ctx: RenderContext): HTMLElement | undefined {
  if (!actions.length) return undefined;
  return h('div', { class: 'btns' }, ...actions.map((a) => actionButton(a, message, ctx)));
}

function actionButton(action: Action, message: Message, ctx: RenderContext): HTMLElement {
  let label = action.text;
  if (action.type === 'buy' && action.amount) {
    const price = new Intl.NumberFormat(ctx.lang, { style: 'currency', currency: (action.currency ?? 'usd').toUpperCase() }).format(action.amount / 100);
    label = `${action.text} · ${price}`;
  }
  if (action.type === 'buy') {
    const button = h('button', { class: 'btn', type: 'button', 'data-action': 'buy' }, label);
    button.addEventListener('click', () => {
      const tab = window.open('', '_blank');
      button.disabled = true;
      void ctx.pay(action, message, tab).finally(() => (button.disabled = false));
    });
    return button;
  }
  const href = safeUri(action.uri);
  if (action.type !== 'postback') {
    return href
      ? h('a', { class: 'btn', href, target: '_blank', rel: 'noopener noreferrer', 'data-action': action.type }, label)
      : h('button', { class: 'btn', type: 'button', disabled: true }, label);
  }
  const button = h('button', { class: 'btn', type: 'button', 'data-action': 'postback' }, label);
  button.addEventListener('click', () => {
    button.disabled = true;
    void ctx.act(action, message).finally(() => (button.disabled = false));
  });
  return button;
}

/** Where an action sits in its message: its index, and its item's for a carousel or list item (what the pay link names). */
export function actionPosition(message: Message, action: Action): { item?: number; action: number } | undefined {
  const at = message.content.actions?.indexOf(action) ?? -1;
  if (at >= 0) return { action: at };
  for (const [item, it] of (message.content.items ?? []).entries()) {
    const index = it.actions?.indexOf(action) ?? -1;
    if (index >= 0) return { item, action: index };
  }
  return undefined;
}

function chip(action: Action, message: Message, ctx: RenderContext): HTMLElement {
  const pic = action.type === 'locationRequest' ? icon('pin') : safeUri(action.iconUrl) ? h('img', { src: safeUri(action.iconUrl), alt: '' }) : undefined;
  const button = h('button', { class: 'chip', type: 'button', 'data-testid': 'quick-reply' }, pic, action.text);
  button.addEventListener('click', () => {
    button.disabled = true;
    void ctx.act(action, message).finally(() => (button.disabled = false));
  });
  return button;
}

function itemText(item: Item): (HTMLElement | undefined)[] {
  return [h('h3', {}, item.title), item.description ? h('p', {}, item.description) : undefined];
}

function itemImage(item: Item): HTMLElement | undefined {
  const src = safeUri(item.mediaUrl);
  return src ? h('img', { src, alt: item.altText ?? '', loading: 'lazy' }) : undefined;
}

function carousel(content: Content, message: Message, ctx: RenderContext): HTMLElement {
  const items = content.items ?? [];
  const track = h(
    'div',
    { class: 'track' },
    ...items.map((item, i) =>
      h(
        'div',
        {
          class: 'card',
          tabindex: 0,
          role: 'group',
          'aria-roledescription': 'slide',
          'aria-label': `${format(ctx.t.slide, { i: i + 1, n: items.length })}: ${item.title}`,
          'data-testid': 'carousel-item',
        },
        itemImage(item),
        h('div', { class: 'body' }, ...itemText(item)),
        actionButtons(buttonActions(item.actions), message, ctx),
      ),
    ),
  );
  // Arrows are a pointer convenience; keyboard users Tab through the cards, which scroll themselves into view.
  const step = (dir: number) => track.scrollBy({ left: dir * (track.clientWidth * 0.8), behavior: 'smooth' });
  const prev = h('button', { class: 'cnav prev', type: 'button', tabindex: -1, 'aria-label': ctx.t.previous, onClick: () => step(-1) }, icon('left'));
  const next = h('button', { class: 'cnav next', type: 'button', tabindex: -1, 'aria-label': ctx.t.next, onClick: () => step(1) }, icon('right'));
  const sync = () => {
    prev.disabled = track.scrollLeft <= 2;
    next.disabled = track.scrollLeft + track.clientWidth >= track.scrollWidth - 2;
  };
  track.addEventListener('scroll', sync, { passive: true });
  requestAnimationFrame(sync);
  const square = content.displaySettings?.imageAspectRatio === 'square';
  return h(
    'div',
    { class: `carousel${square ? ' square' : ''}`, role: 'group', 'aria-roledescription': 'carousel', 'aria-label': ctx.t.carousel, 'data-testid': 'carousel' },
    prev,
    track,
    next,
  );
}

function list(content: Content, message: Message, ctx: RenderContext): HTMLElement {
  const items = (content.items ?? []).map((item) =>
    h(
      'div',
      { class: `item${item.size === 'large' ? ' large' : ''}`, role: 'listitem', 'data-testid': 'list-item' },
      itemImage(item),
      h('div', { class: 'body' }, ...itemText(item), actionButtons(buttonActions(item.actions), message, ctx)),
    ),
  );
  return h('div', { class: 'list', 'data-testid': 'list' }, h('div', { role: 'list' }, ...items), actionButtons(buttonActions(content.actions), message, ctx));
}
