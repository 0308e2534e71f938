/**
 * The conversation list, shown in the panel in place of the conversation:
 * a back button, the user's conversations (each a button: name, time of the
 * newest activity, a one-line preview and the unread count, the current one
 * marked with aria-current) and, when the integration allows it, "New
 * conversation". The rows come from ../conversations; choosing goes back to
 * the messenger through the handlers.
 */
import type { Row } from '../conversations';
import { format, type Strings } from '../i18n';
import type { IntegrationConfig } from '../types';
import { h, icon } from './dom';
import { timeLabel, dayKey } from './format';
import { avatar, businessName } from './message';

export interface ListHandlers {
  back(): void;
  pick(conversationId: string): void;
  create(): void;
}

export class ConversationList {
  readonly element: HTMLElement;
  private readonly items = h('ul', { class: 'convs-items', 'data-testid': 'conversation-list' });
  private readonly status = h('p', { class: 'convs-status', role: 'status' });
  private readonly createButton: HTMLButtonElement;
  private readonly backButton: HTMLButtonElement;

  constructor(
    private readonly ctx: { t: Strings; lang: string; config: IntegrationConfig },
    on: ListHandlers,
  ) {
    const { t } = ctx;
    this.backButton = h('button', { class: 'icon-btn', type: 'button', 'aria-label': t.backToChat, 'data-testid': 'back-to-chat', onClick: () => on.back() }, icon('left'));
    this.createButton = h('button', { class: 'btn primary', type: 'button', 'data-testid': 'new-conversation', onClick: () => on.create() }, icon('plus'), t.newConversation);
    this.items.addEventListener('click', (ev) => {
      const row = (ev.target as Element).closest<HTMLElement>('[data-id]');
      if (row?.dataset.id) on.pick(row.dataset.id);
    });
    this.element = h(
      'section',
      { class: 'convs', 'aria-label': t.conversations, 'data-testid': 'conversations' },
      h(
        'div',
        { class: 'convs-head' },
        this.backButton,
        h('h3', {}, t.conversations),
      ),
      h('div', { class: 'convs-scroll' }, this.status, this.items),
      h('div', { class: 'convs-foot' }, this.createButton),
    );
  }

  /** `rows` undefined: still loading. */
  render(rows: Row[] | undefined, canCreate: boolean): void {
    const { t } = this.ctx;
    this.createButton.hidden = !canCreate;
    this.status.textContent = rows ? '' : t.loading;
    this.status.hidden = !!rows;
    this.items.replaceChildren(...(rows ?? []).map((row) => this.item(row)));
  }

  /** The current conversation's row, else the first, else "New conversation", else (while loading) the back button. */
  focus(): void {
    const target = this.items.querySelector<HTMLElement>('[aria-current="true"]') ?? this.items.querySelector<HTMLElement>('button') ?? (this.createButton.hidden ? this.backButton : this.createButton);
    target.focus({ preventScroll: true });
  }

  private item(row: Row): HTMLElement {
    const { t, lang, config } = this.ctx;
    const name = row.title ?? businessName(config);
    const unread = row.unread > 0 ? (row.unread === 1 ? t.unreadOne : format(t.unread, { n: row.unread })) : '';
    return h(
      'li',
      {},
      h(
        'button',
        { class: `conv${row.unread ? ' unread' : ''}`, type: 'button', 'data-id': row.id, 'data-testid': 'conversation', 'aria-current': row.current ? 'true' : undefined },
        avatar(config.businessIconUrl, name),
        h(
          'span',
          { class: 'conv-main' },
          h('span', { class: 'conv-top' }, h('strong', {}, name), row.at && h('time', { datetime: row.at }, when(row.at, lang))),
          h('span', { class: 'conv-bottom' }, h('span', { class: 'conv-preview' }, row.preview || t.noMessages), unread && h('span', { class: 'conv-unread', 'aria-hidden': 'true' }, row.unread > 99 ? '99+' : String(row.unread))),
          unread && h('span', { class: 'sr' }, unread),
        ),
      ),
    );
  }
}

/** Today's time, or the day for older ones. */
function when(iso: string, lang: string): string {
  if (dayKey(iso) === dayKey(new Date().toISOString())) return timeLabel(iso, lang);
  return new Date(iso).toLocaleDateString(lang, { month: 'short', day: 'numeric' });
}
