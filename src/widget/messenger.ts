/**
 * The widget's controller. It decides when there is a session (./session:
 * created on the first send, so a visitor who only opens the widget leaves no
 * user behind, or by `startConversation()` so the business can write first;
 * cached in localStorage, dropped and recreated on a 401), and owns the
 * timeline, the outbox of messages on their way (retried with the same
 * clientMessageId, which the server dedupes), the realtime socket, typing and
 * read activity, unread counting, the conversation list (./conversations:
 * switching to another of the user's conversations, starting a new one) and
 * the public events. A campaign (./campaign) may show before there is any
 * session; answering it starts the session with its id. The DOM is the view's.
 */
import { Api, ApiError } from './api';
import { checkAttachment, formatBytes } from './attachments';
import { CampaignMemory, CampaignPreview } from './campaign';
import { buildFormResponse, type FormValues } from './content';
import { choices, rows } from './conversations';
import type { Emitter } from './events';
import { format, pickLanguage, stringsFor, type Strings } from './i18n';
import { Realtime, type Frame } from './realtime';
import { VisitorSession } from './session';
import { CACHED_MESSAGES, localStorageOrNothing, randomId, SessionStore, type StoredSession } from './session-store';
import { cacheable, dropMessages, isChatInputBlocked, maxSeq, mergeMessages, pendingEntry, seenKey, setStatus, sortEntries, unconfirmed, unreadCount, type Entry } from './timeline';
import type { Action, Content, FormField, IntegrationConfig, Message } from './types';
import { actionPosition, businessName } from './ui/message';
import { mountPoint, WidgetView } from './ui/view';

export interface InitOptions {
  appId: string;
  integrationId: string;
  apiBase: string;
  locale?: string;
  /** Render the conversation inline in `container` (an element or a selector), always open, without launcher. */
  embedded?: boolean;
  container?: HTMLElement | string;
}

const TYPING_IDLE_MS = 3000;
/** A lost typing:stop must not leave the dots forever. */
const BUSINESS_TYPING_MAX_MS = 20_000;

interface Outgoing {
  content: Content;
  file?: File;
  /** The object URL shown while the file uploads; released once the message is stored. */
  preview?: string;
}

export class Messenger {
  private readonly api: Api;
  private readonly sessions: VisitorSession;
  private readonly campaign: CampaignPreview;
  private readonly realtime: Realtime;
  private readonly t: Strings;
  private readonly lang: string;
  private view!: WidgetView;
  private config!: IntegrationConfig;
  private entries: Entry[] = [];
  private readonly outbox = new Map<string, Outgoing>();
  private readonly drafts = new Map<string, FormValues>();
  private opened = false;
  private unread = -1;
  private readAt: string | undefined;
  private businessTyping: { name: string; avatarUrl?: string } | undefined;
  private businessTypingTimer: ReturnType<typeof setTimeout> | undefined;
  private typingSent = false;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private hasMore = false;
  private loadingOlder = false;
  private everConnected = false;
  private renderQueued = false;
  /** How many conversations the user had at the last listing, and for which session token it was made. */
  private conversationCount = 0;
  private countedFor: string | undefined;

  constructor(
    private readonly options: InitOptions,
    private readonly events: Emitter,
  ) {
    this.api = new Api(options.apiBase, options.appId);
    const storage = localStorageOrNothing();
    this.sessions = new VisitorSession(this.api, new SessionStore(options.appId, options.integrationId, storage), options.integrationId, {
      cached: () => cacheable(this.entries, CACHED_MESSAGES),
      replacing: () => {
        this.realtime.stop();
        this.readAt = undefined;
      },
      created: () => {
        this.campaign.end();
        this.realtime.start();
      },
      dropped: () => {
        // Unsent messages stay, to go out in the next session; a campaign preview goes with the rest.
        this.campaign.end();
        this.entries = unconfirmed(this.entries);
        this.setBusinessTyping(undefined);
        this.scheduleRender();
      },
      extras: () => ({ campaignId: this.campaign.answer() }),
    });
    this.campaign = new CampaignPreview({
      fetch: () => this.api.campaigns(options.integrationId, location.href),
      memory: new CampaignMemory(options.appId, options.integrationId, storage),
      show: (entry) => this.showCampaign(entry),
      visible: () => this.visible(),
    });
    const language = pickLanguage(options.locale, navigator.languages ?? [navigator.language]);
    this.t = stringsFor(language);
    this.lang = language;
    this.realtime = new Realtime({
      url: () => this.session && this.api.socketUrl(this.session.conversationId, maxSeq(this.entries)),
      token: () => this.session?.token,
      frame: (f) => this.onFrame(f),
      connected: (up) => this.onConnection(up),
      refused: () => void this.refresh(),
      gone: () => this.sessions.drop(),
    });
  }

  async start(): Promise<void> {
    this.config = await this.api.config(this.options.integrationId);
    // init() may run from <head>, before there is a body to mount into.
    if (document.readyState === 'loading') await new Promise((resolve) => document.addEventListener('DOMContentLoaded', resolve, { once: true }));
    const stored = this.sessions.load();
    if (stored) this.entries = mergeMessages([], stored.messages).entries;
    this.view = new WidgetView(
      mountPoint(this.options),
      {
        t: this.t,
        lang: this.lang,
        config: this.config,
        drafts: this.drafts,
        act: (action) => this.act(action),
        pay: (action, message, tab) => this.pay(action, message, tab),
        retry: (key) => this.retry(key),
        submitForm: (message, values) => void this.send(buildFormResponse((message.content.fields ?? []) as FormField[], values, message.id)),
      },
      !!this.options.embedded,
      {
        toggle: () => (this.opened ? this.close() : this.open()),
        close: () => this.close(),
        send: (text) => void this.sendText(text),
        typing: () => this.userTyping(),
        attach: (file) => void this.attach(file),
        submitPrechat: (values) => void this.send(buildFormResponse(this.prechatFields(), values)),
        loadOlder: () => void this.loadOlder(),
        conversations: () => void this.listConversations(true),
        pick: (id) => this.switchTo(id),
        create: () => void this.newConversation(),
      },
    );
    this.render();
    this.updateUnread();
    document.addEventListener('visibilitychange', () => this.onVisibility());
    window.addEventListener('online', () => this.realtime.kick());
    this.events.emit('ready');
    if (this.options.embedded) this.open();
    if (this.session) {
      await this.refresh();
      this.realtime.start();
    } else void this.campaign.begin();
  }

  // ---- public API -------------------------------------------------------

  open(): void {
    if (this.opened) return;
    this.opened = true;
    this.view.setOpen(true);
    if (this.session && this.countedFor !== this.session.token) void this.listConversations(false);
    this.events.emit('widget:opened');
    this.markSeen();
    this.updateUnread();
  }

  close(): void {
    if (!this.opened || this.options.embedded) return;
    this.opened = false;
    this.stopTyping();
    this.view.setOpen(false);
    this.events.emit('widget:closed');
    this.updateUnread();
  }

  sendText(text: string): Promise<void> {
    const trimmed = text.trim();
    return trimmed ? this.send({ type: 'text', text: trimmed }) : Promise.resolve();
  }

  /**
   * The visitor's user and conversation without a first message, so the
   * business can write first (the Web SDK's startConversation): the socket
   * opens with the session, so what the business posts shows live, or on the
   * launcher's badge while the widget is closed. A visitor with a session
   * already has both.
   */
  async startConversation(): Promise<void> {
    await this.sessions.ensure();
  }

  /** With the anonymous token, so the server merges this browser's history into the known user. A bad JWT rejects and keeps the current session. */
  async login(externalId: string, jwt: string): Promise<void> {
    const res = await this.api.login(this.options.integrationId, externalId, jwt, this.sessions.device(), this.session?.token);
    this.campaign.end();
    this.sessions.adopt(res);
    this.entries = unconfirmed(this.entries);
    this.render();
    await this.refresh();
    this.realtime.start();
  }

  logout(): void {
    this.sessions.drop();
    this.entries = [];
    this.outbox.clear();
    this.render();
    this.updateUnread();
  }

  // ---- session ----------------------------------------------------------

  private get session(): StoredSession | undefined {
    return this.sessions.current;
  }

  // ---- messages ---------------------------------------------------------

  /**
   * Replaces the stored history with the newest page, keeping what is newer
   * than the page (socket frames that overtook the request) and what is unsent.
   * Used at start, after a refused socket and on `resync`.
   */
  private async refresh(): Promise<void> {
    const session = this.session;
    if (!session) return;
    try {
      const page = await this.api.messages(session.token, session.conversationId);
      if (this.session !== session) return;
      const newest = page.messages.reduce((m, x) => Math.max(m, x.seq ?? 0), 0);
      this.entries = this.entries.filter((e) => e.status !== 'sent' || (e.message.seq ?? 0) > newest);
      this.hasMore = page.meta.hasMore;
      this.applyMessages(page.messages, false);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401 && this.session === session) this.sessions.drop();
    }
  }

  private async loadOlder(): Promise<void> {
    const session = this.session;
    const oldest = this.entries.find((e) => e.message.seq !== undefined);
    if (!session || !oldest || !this.hasMore || this.loadingOlder) return;
    this.loadingOlder = true;
    try {
      const page = await this.api.messages(session.token, session.conversationId, oldest.message.id);
      if (this.session !== session) return;
      this.hasMore = page.meta.hasMore;
      this.entries = mergeMessages(this.entries, page.messages).entries;
      this.view.render(this.viewState(), true);
    } catch {
      // Scrolling up again retries.
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Every message from the server goes through here. `announce`: raise message:received for new business messages (live ones, not history pages). */
  private applyMessages(messages: readonly Message[], announce: boolean): void {
    const result = mergeMessages(this.entries, messages);
    this.entries = result.entries;
    for (const entry of result.confirmed) {
      const outgoing = this.outbox.get(entry.clientMessageId!);
      if (outgoing?.preview) URL.revokeObjectURL(outgoing.preview);
      this.outbox.delete(entry.clientMessageId!);
      this.events.emit('message:sent', entry.message);
    }
    for (const message of result.added) {
      if (message.author.type !== 'business' || !announce) continue;
      this.setBusinessTyping(undefined);
      this.events.emit('message:received', message);
    }
    this.sessions.save();
    this.markSeen();
    this.updateUnread();
    this.scheduleRender();
  }

  private async send(content: Content, file?: File): Promise<void> {
    const id = randomId();
    const preview = file ? URL.createObjectURL(file) : undefined;
    this.outbox.set(id, { content, file, preview });
    this.entries = [...this.entries, pendingEntry(id, preview ? { ...content, mediaUrl: preview, mediaSize: file?.size } : content, this.session?.userId, new Date())];
    this.stopTyping();
    this.render();
    this.view.scrollToNewest();
    await this.deliver(id);
  }

  private async deliver(clientMessageId: string): Promise<void> {
    const outgoing = this.outbox.get(clientMessageId);
    if (!outgoing) return;
    try {
      const message = await this.sessions.with(async (s) => {
        if (outgoing.file) {
          const { mediaUrl } = await this.api.upload(s.token, outgoing.file, outgoing.file.name);
          outgoing.content = { ...outgoing.content, mediaUrl };
          outgoing.file = undefined;
        }
        return this.api.postMessage(s.token, s.conversationId, outgoing.content, clientMessageId);
      });
      if (message) this.applyMessages([message], false);
    } catch (err) {
      this.entries = setStatus(this.entries, clientMessageId, 'failed');
      if (err instanceof ApiError && err.status === 413) this.view.showError(this.tooLargeText());
      else if (err instanceof ApiError && err.status === 415) this.view.showError(this.t.typeNotAllowed);
      this.scheduleRender();
    }
  }

  /** Resends with the same clientMessageId: if the first try was stored after all, the server answers with that message. */
  private retry(key: string): void {
    const entry = this.entries.find((e) => e.key === key && e.status === 'failed');
    if (!entry?.clientMessageId) return;
    this.entries = setStatus(this.entries, entry.clientMessageId, 'sending');
    this.render();
    void this.deliver(entry.clientMessageId);
  }

  private async attach(file: File): Promise<void> {
    const problem = checkAttachment(file, this.config.attachments);
    if (problem === 'tooLarge') return this.view.showError(this.tooLargeText());
    if (problem === 'typeNotAllowed') return this.view.showError(this.t.typeNotAllowed);
    const type = file.type.startsWith('image/') ? 'image' : 'file';
    await this.send({ type, mediaUrl: '', altText: file.name.slice(0, 128) }, file);
  }

  private tooLargeText(): string {
    return format(this.t.tooLarge, { size: formatBytes(this.config.attachments?.maxBytes ?? 0) });
  }

  /** A buy action: Parley makes the pay page link for this session's user, and the tab the tap opened goes there. */
  private async pay(action: Action, message: Message, tab: Window | null): Promise<void> {
    try {
      const at = actionPosition(message, action);
      if (!at) throw new Error('the action is not in its message');
      const url = await this.sessions.with((s) => this.api.payLink(s.token, s.conversationId, message.id, at));
      if (!tab) return void window.open(url, '_blank', 'noopener');
      // The blank tab is this page's origin until it navigates: it must not keep a handle on the widget.
      tab.opener = null;
      tab.location.href = url;
    } catch {
      tab?.close();
      this.view.showError(this.t.error);
    }
  }

  private async act(action: Action): Promise<void> {
    if (action.type === 'reply') return this.send({ type: 'text', text: action.text, payload: action.payload });
    if (action.type === 'locationRequest') return this.shareLocation();
    if (action.type !== 'postback') return;
    try {
      await this.sessions.with((s) => this.api.postback(s.token, s.conversationId, action.payload ?? '', action.text, action._id ?? action.id));
    } catch {
      this.view.showError(this.t.error);
    }
  }

  private async shareLocation(): Promise<void> {
    const position = await new Promise<GeolocationPosition | undefined>((resolve) => {
      if (!navigator.geolocation) return resolve(undefined);
      navigator.geolocation.getCurrentPosition(resolve, () => resolve(undefined), { timeout: 15_000 });
    });
    if (!position) return this.view.showError(this.t.locationUnavailable);
    await this.send({ type: 'location', coordinates: { lat: position.coords.latitude, long: position.coords.longitude } });
  }

  /** A campaign's message, before any session: counted on the badge until seen (the view shows it as any business message). */
  private showCampaign(entry: Entry): void {
    this.entries = sortEntries([...this.entries, entry]);
    this.updateUnread();
    this.scheduleRender();
  }

  // ---- conversation list ------------------------------------------------

  /** The user's conversations; `show` puts them in the list view. The first opening counts them, to know whether the list is worth a button. */
  private async listConversations(show: boolean): Promise<void> {
    const session = this.session;
    const canCreate = this.config.canUserCreateMoreConversations === true;
    if (!session || this.config.canUserSeeConversationList === false) return;
    this.countedFor = session.token;
    if (show) this.view.showList(undefined, canCreate);
    try {
      const list = await this.api.conversations(session.token);
      if (this.session !== session) return;
      this.conversationCount = list.length;
      this.render();
      if (show && this.view.listing) this.view.showList(rows(list, session.conversationId, this.t.you), canCreate);
    } catch {
      if (!show) return;
      this.view.showList([], canCreate);
      this.view.showError(this.t.error);
    }
  }

  private async newConversation(): Promise<void> {
    try {
      const created = await this.sessions.with((s) => this.api.createConversation(s.token));
      this.conversationCount++;
      this.switchTo(created.id);
    } catch {
      this.view.showError(this.t.error);
    }
  }

  /** Shows another of the user's conversations: its history from the server, its socket. Unsent messages of the one left are dropped. */
  private switchTo(conversationId: string): void {
    const session = this.session;
    this.view.showChat();
    if (!session || session.conversationId === conversationId) return;
    this.stopTyping();
    this.realtime.stop();
    Object.assign(session, { conversationId, lastSeenSeq: 0 });
    this.entries = [];
    this.outbox.clear();
    this.hasMore = false;
    this.readAt = undefined;
    this.setBusinessTyping(undefined);
    this.sessions.save();
    this.render();
    void this.refresh().then(() => this.realtime.start());
  }

  // ---- realtime, typing, read -------------------------------------------

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'message':
        return this.applyMessages([frame.message], true);
      case 'resync':
        return void this.refresh();
      case 'deleted':
      case 'cleared':
        this.entries = dropMessages(this.entries, frame.type === 'deleted' ? { ids: frame.messageIds } : { upToSeq: frame.upToSeq });
        this.sessions.save();
        this.updateUnread();
        return this.scheduleRender();
      case 'typing':
        if (frame.author.type !== 'business') return;
        return this.setBusinessTyping(
          frame.state === 'start' ? { name: frame.author.displayName || businessName(this.config), avatarUrl: frame.author.avatarUrl } : undefined,
        );
      case 'read':
        if (frame.author.type === 'business' && (!this.readAt || frame.at > this.readAt)) {
          this.readAt = frame.at;
          this.scheduleRender();
        }
        // Read in another tab: this one's badge clears too, and it does not report the read again.
        if (frame.author.type === 'user' && this.session && frame.author.userId === this.session.userId) {
          this.session.lastSeenSeq = Math.max(this.session.lastSeenSeq, maxSeq(this.entries));
          this.sessions.save();
          this.updateUnread();
        }
        return;
    }
  }

  private onConnection(up: boolean): void {
    if (up) this.everConnected = true;
    this.view.setReconnecting(!up && this.everConnected && !!this.session);
    this.events.emit(up ? 'connected' : 'disconnected');
  }

  private onVisibility(): void {
    if (document.visibilityState !== 'visible') return;
    this.realtime.kick();
    this.markSeen();
    this.updateUnread();
  }

  private setBusinessTyping(typing: { name: string; avatarUrl?: string } | undefined): void {
    clearTimeout(this.businessTypingTimer);
    this.businessTyping = typing;
    if (typing) this.businessTypingTimer = setTimeout(() => this.setBusinessTyping(undefined), BUSINESS_TYPING_MAX_MS);
    this.scheduleRender();
  }

  /** typing:start once per burst of keystrokes, typing:stop after 3 s without one. Typing alone never creates a session. */
  private userTyping(): void {
    const session = this.session;
    if (!session) return;
    if (!this.typingSent) {
      this.typingSent = true;
      this.api.activity(session.token, session.conversationId, 'typing:start').catch(() => undefined);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingTimer);
    const session = this.session;
    if (!this.typingSent || !session) return;
    this.typingSent = false;
    this.api.activity(session.token, session.conversationId, 'typing:stop').catch(() => undefined);
  }

  private visible(): boolean {
    return this.opened && document.visibilityState === 'visible';
  }

  /** While the user can see the conversation everything is seen; the business hears of it when there was something of theirs to read. */
  private markSeen(): void {
    if (this.visible()) this.campaign.seen();
    const session = this.session;
    if (!session || !this.visible()) return;
    const newest = maxSeq(this.entries);
    if (newest <= session.lastSeenSeq) return;
    const hadUnread = unreadCount(this.entries, session.lastSeenSeq) > 0;
    session.lastSeenSeq = newest;
    this.sessions.save();
    if (hadUnread) this.api.activity(session.token, session.conversationId, 'conversation:read').catch(() => undefined);
  }

  private updateUnread(): void {
    const n = this.visible() ? 0 : this.session ? unreadCount(this.entries, this.session.lastSeenSeq) : this.campaign.unread();
    if (n === this.unread) return;
    this.unread = n;
    this.view.setUnread(n);
    this.events.emit('unreadCount', n);
  }

  // ---- view -------------------------------------------------------------

  private needsPrechat(): boolean {
    return !!this.config.prechatCapture?.enabled && !this.entries.some((e) => e.message.author.type === 'user');
  }

  private prechatFields(): FormField[] {
    const fields = this.config.prechatCapture?.fields;
    if (fields?.length) return fields;
    return [
      { type: 'text', name: 'name', label: this.t.name, maxSize: 128 },
      { type: 'email', name: 'email', label: this.t.emailLabel },
    ];
  }

  private viewState() {
    const prechat = this.needsPrechat();
    return {
      entries: this.entries,
      seenKey: seenKey(this.entries, this.readAt),
      typing: this.businessTyping,
      blocked: prechat || isChatInputBlocked(this.entries),
      prechat: prechat ? this.prechatFields() : undefined,
    };
  }

  private render(): void {
    this.renderQueued = false;
    this.view.render(this.viewState());
    this.view.setChoices(choices(this.config, !!this.session, this.conversationCount));
  }

  /** Frames arrive in bursts (a replay is many frames); one render per burst. */
  private scheduleRender(): void {
    if (this.renderQueued || !this.view) return;
    this.renderQueued = true;
    queueMicrotask(() => this.renderQueued && this.render());
  }
}
