/**
 * Mounts the widget into an open shadow root and owns its chrome: launcher
 * with unread badge, the dialog panel (header, message log, typing
 * indicator, prechat form, composer, and in its place the conversation list),
 * opening and closing with focus handling, full screen on a phone (./phone),
 * and scrolling. What to show comes from the messenger through
 * `render`; what the user does goes back through `ViewHandlers`.
 */
import { acceptAttribute } from '../attachments';
import type { FormValues } from '../content';
import type { Choices, Row } from '../conversations';
import { format } from '../i18n';
import type { Entry } from '../timeline';
import type { FormField } from '../types';
import { ConversationList } from './conversation-list';
import { h, icon } from './dom';
import { renderForm } from './form';
import { LogView } from './log';
import { avatar, businessName, type RenderContext } from './message';
import { PhoneFit } from './phone';
import { STYLES } from './styles';
import { themeVariables } from './theme';

export interface ViewHandlers {
  toggle(): void;
  close(): void;
  send(text: string): void;
  typing(): void;
  attach(file: File): void;
  submitPrechat(values: FormValues): void;
  loadOlder(): void;
  /** The header's list button: the messenger loads the list and calls showList. */
  conversations(): void;
  pick(conversationId: string): void;
  create(): void;
}

export interface ViewState {
  entries: readonly Entry[];
  seenKey: string | undefined;
  typing: { name: string; avatarUrl?: string } | undefined;
  blocked: boolean;
  prechat: FormField[] | undefined;
}

/** Closer than this to the bottom counts as reading the newest messages: new ones scroll into view. */
const STICKY_PX = 80;

export class WidgetView {
  private readonly shadow: ShadowRoot;
  private readonly root: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly launcher: HTMLButtonElement | undefined;
  private readonly badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
  private readonly scroller = h('div', { class: 'scroller' });
  private readonly log: LogView;
  private readonly typing = h('div', { class: 'typing', hidden: true, role: 'status', 'data-testid': 'typing-indicator' });
  private readonly prechatSlot = h('div');
  private readonly banner: HTMLElement;
  private readonly toast = h('div', { class: 'toast', role: 'alert', hidden: true, 'data-testid': 'error' });
  private readonly composer = h('div', { class: 'composer' });
  private readonly input: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly attachButton: HTMLButtonElement;
  private readonly prechatValues: FormValues = {};
  private readonly listButton: HTMLButtonElement;
  private readonly createButton: HTMLButtonElement;
  private readonly list: ConversationList;
  private readonly fit: PhoneFit;
  private stick = true;
  private toastTimer: ReturnType<typeof setTimeout> | undefined;
  private prechatShown = false;

  constructor(
    host: HTMLElement,
    private readonly ctx: RenderContext,
    private readonly embedded: boolean,
    private readonly on: ViewHandlers,
  ) {
    const { t, config } = ctx;
    const name = businessName(config);
    this.shadow = host.attachShadow({ mode: 'open' });
    const root = h('div', { class: `root${embedded ? ' embedded' : ''}` });
    for (const [k, v] of Object.entries(themeVariables(config))) root.style.setProperty(k, v);
    const height = px(config.buttonHeight, 58);
    root.style.setProperty('--p-panel-bottom', config.displayStyle === 'tab' ? '60px' : `${20 + height + 16}px`);

    this.listButton = h('button', { class: 'icon-btn', type: 'button', hidden: true, 'aria-label': t.conversations, 'data-testid': 'conversations-button', onClick: () => on.conversations() }, icon('left'));
    this.createButton = h('button', { class: 'icon-btn', type: 'button', hidden: true, 'aria-label': t.newConversation, 'data-testid': 'new-conversation-header', onClick: () => on.create() }, icon('plus'));
    const header = h(
      'div',
      { class: 'header' },
      this.listButton,
      avatar(config.businessIconUrl, name),
      h('div', { class: 'grow' }, h('h2', {}, name), h('p', {}, t.greetingSub)),
      this.createButton,
      !embedded && h('button', { class: 'icon-btn', type: 'button', 'aria-label': t.closeChat, 'data-testid': 'close', onClick: () => on.close() }, icon('close')),
    );
    this.list = new ConversationList(ctx, { back: () => this.showChat(), pick: (id) => on.pick(id), create: () => on.create() });
    this.banner = h('div', { class: 'banner', role: 'status', hidden: true }, t.reconnecting);

    const logElement = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': format(t.dialog, { name }), 'data-testid': 'log' });
    this.log = new LogView(logElement, ctx);
    this.scroller.append(
      h('div', { class: 'intro' }, avatar(config.businessIconUrl, name), h('strong', {}, t.greeting), h('p', {}, t.intro)),
      logElement,
      this.prechatSlot,
      this.typing,
    );
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    // Images load after layout; a reader at the bottom stays there.
    this.scroller.addEventListener('load', () => this.stick && this.toBottom(), true);

    this.input = h('textarea', {
      rows: 1,
      placeholder: t.placeholder,
      'aria-label': t.composer,
      'data-testid': 'composer-input',
      onInput: () => this.onInput(),
      onKeydown: (ev) => this.onKey(ev as KeyboardEvent),
    });
    this.sendButton = h('button', { class: 'icon-btn send', type: 'button', 'aria-label': t.send, 'data-testid': 'send-button', disabled: true, onClick: () => this.submit() }, icon('send'));
    const file = h('input', { type: 'file', hidden: true, accept: acceptAttribute(config.attachments) || undefined, 'data-testid': 'file-input' });
    file.addEventListener('change', () => {
      const chosen = file.files?.[0];
      file.value = '';
      if (chosen) on.attach(chosen);
    });
    this.attachButton = h('button', { class: 'icon-btn', type: 'button', 'aria-label': t.attach, 'data-testid': 'attach-button', onClick: () => file.click() }, icon('attach'));
    this.composer.append(this.attachButton, file, this.input, this.sendButton);

    this.panel = h(
      'div',
      { class: `panel${embedded ? ' open' : ''}`, role: 'dialog', 'aria-label': format(t.dialog, { name }), 'data-testid': 'panel' },
      header,
      this.banner,
      this.scroller,
      this.list.element,
      h('div', { class: 'foot' }, this.toast, this.composer),
    );
    this.fit = new PhoneFit(this.panel);
    this.panel.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && !embedded) {
        ev.stopPropagation();
        on.close();
      }
    });
    root.append(h('style', {}, STYLES));

    if (!embedded) {
      const tab = config.displayStyle === 'tab';
      const custom = config.buttonIconUrl ? h('img', { class: 'ic-open', src: config.buttonIconUrl, alt: '' }) : h('span', { class: 'ic-open' }, icon('chat'));
      this.launcher = h(
        'button',
        { class: `launcher${tab ? ' tab' : ''}`, type: 'button', 'aria-label': t.openChat, 'aria-expanded': 'false', 'data-testid': 'launcher', onClick: () => on.toggle() },
        custom,
        h('span', { class: 'ic-close' }, icon('close')),
        tab && h('span', {}, t.tab),
        this.badge,
      );
      if (!tab) {
        this.launcher.style.width = `${px(config.buttonWidth, 58)}px`;
        this.launcher.style.height = `${height}px`;
      }
      root.append(this.launcher);
    }
    // After the launcher, so Tab goes from the launcher into the open panel.
    root.append(this.panel);
    this.root = root;
    this.shadow.append(root);
  }

  setOpen(open: boolean): void {
    this.panel.classList.toggle('open', open || this.embedded);
    this.root.classList.toggle('is-open', open);
    if (!this.embedded) this.fit.set(open);
    if (!this.launcher) return;
    this.launcher.setAttribute('aria-expanded', String(open));
    this.launcher.setAttribute('aria-label', open ? this.ctx.t.closeChat : this.ctx.t.openChat);
    if (open) {
      this.stick = true;
      this.toBottom();
      // Closed while the list showed: it opens on the list again.
      if (this.listing) this.list.focus();
      else this.focusComposer();
    } else if (this.shadow.activeElement && this.shadow.activeElement !== this.launcher) {
      this.launcher.focus();
    }
  }

  /** The composer, or when it is closed the first form field, else the dialog's first button. */
  focusComposer(): void {
    const target = !this.input.disabled ? this.input : this.panel.querySelector<HTMLElement>('.scroller input, .scroller select') ?? this.panel.querySelector<HTMLElement>('button');
    target?.focus({ preventScroll: true });
  }

  setUnread(n: number): void {
    this.badge.hidden = n === 0;
    this.badge.textContent = n > 99 ? '99+' : String(n);
    if (this.launcher && this.launcher.getAttribute('aria-expanded') !== 'true') {
      this.launcher.setAttribute('aria-label', n ? `${this.ctx.t.openChat} (${n === 1 ? this.ctx.t.unreadOne : format(this.ctx.t.unread, { n })})` : this.ctx.t.openChat);
    }
  }

  /** Which of the list and "new conversation" the header offers (the list view has its own "new conversation"). */
  setChoices(choices: Choices): void {
    this.listButton.hidden = !choices.list;
    this.createButton.hidden = !choices.create || choices.list;
    if (!choices.list && this.listing) this.showChat();
  }

  get listing(): boolean {
    return this.panel.classList.contains('listing');
  }

  /** The list in place of the conversation; `rows` undefined while it loads. Focus goes to it once, when it opens. */
  showList(rows: Row[] | undefined, canCreate: boolean): void {
    const opening = !this.listing;
    this.panel.classList.add('listing');
    this.list.render(rows, canCreate);
    if (opening || rows) this.list.focus();
  }

  showChat(): void {
    if (!this.listing) return;
    this.panel.classList.remove('listing');
    this.stick = true;
    this.toBottom();
    this.focusComposer();
  }

  setReconnecting(on: boolean): void {
    this.banner.hidden = !on;
  }

  showError(text: string): void {
    this.toast.textContent = text;
    this.toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (this.toast.hidden = true), 6000);
  }

  /** `anchorTop`: older messages were added above; keep what the reader sees in place. */
  render(state: ViewState, anchorTop = false): void {
    const before = this.scroller.scrollHeight - this.scroller.scrollTop;
    this.log.render(state.entries, state.seenKey);
    this.renderTyping(state.typing);
    this.renderPrechat(state.prechat);
    this.composer.classList.toggle('blocked', state.blocked);
    this.input.disabled = state.blocked;
    this.attachButton.disabled = state.blocked;
    this.syncSend();
    if (anchorTop) this.scroller.scrollTop = this.scroller.scrollHeight - before;
    else if (this.stick) this.toBottom();
  }

  /** The user's own message always scrolls into view. */
  scrollToNewest(): void {
    this.stick = true;
    this.toBottom();
  }

  private renderTyping(typing: ViewState['typing']): void {
    this.typing.hidden = !typing;
    const name = typing?.name ?? '';
    if (this.typing.dataset.name === name) return;
    this.typing.dataset.name = name;
    this.typing.replaceChildren(
      ...(typing
        ? [
            avatar(typing.avatarUrl ?? this.ctx.config.businessIconUrl, name),
            h('div', { class: 'dots', 'aria-hidden': 'true' }, h('i'), h('i'), h('i')),
            h('span', { class: 'sr' }, format(this.ctx.t.typing, { name })),
          ]
        : []),
    );
  }

  private renderPrechat(fields: FormField[] | undefined): void {
    if (!!fields === this.prechatShown) return;
    this.prechatShown = !!fields;
    this.prechatSlot.replaceChildren();
    if (!fields) return;
    const { t } = this.ctx;
    const form = renderForm({ fields, text: t.prechat, submitted: false, values: this.prechatValues, submitLabel: t.start, onSubmit: (v) => this.on.submitPrechat(v) }, t);
    form.dataset.testid = 'prechat';
    this.prechatSlot.append(h('div', { class: 'row wide start' }, h('div', { class: 'col' }, form)));
  }

  private onScroll(): void {
    const s = this.scroller;
    this.stick = s.scrollHeight - s.scrollTop - s.clientHeight < STICKY_PX;
    if (s.scrollTop < 40) this.on.loadOlder();
  }

  private toBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  private onInput(): void {
    this.input.style.height = 'auto';
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
    this.syncSend();
    if (this.input.value) this.on.typing();
  }

  private onKey(ev: KeyboardEvent): void {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      this.submit();
    }
  }

  private submit(): void {
    const text = this.input.value.trim();
    if (!text || this.input.disabled) return;
    this.input.value = '';
    this.onInput();
    this.on.send(text);
    this.input.focus();
  }

  private syncSend(): void {
    this.sendButton.disabled = this.input.disabled || !this.input.value.trim();
  }
}

/** The widget's host element: in `container` when embedded (an element or a selector), else at the end of the body. */
export function mountPoint(options: { embedded?: boolean; container?: HTMLElement | string }): HTMLElement {
  const host = document.createElement('div');
  host.id = 'parley-messenger';
  host.dataset.testid = 'parley-messenger';
  const { container } = options;
  const parent = typeof container === 'string' ? document.querySelector<HTMLElement>(container) : container;
  if (options.embedded) host.style.cssText = 'display:block;height:100%;width:100%';
  (options.embedded && parent ? parent : document.body).append(host);
  return host;
}

/** buttonWidth/buttonHeight arrive as strings of pixels ("58"). */
function px(value: string | number | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n >= 24 && n <= 200 ? n : fallback;
}
