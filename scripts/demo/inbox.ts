/**
 * The support inbox's memory: the conversations the customer webhook has
 * revealed (who, which channel, the last message, unread, seen by the user)
 * and a log of the events received. A customer's server learns about
 * conversations the same way, since the v2 API lists conversations only per
 * user. Kept in a JSON file (`.parley/inbox.json`) so a restart keeps the
 * list; the messages themselves are always read from Parley.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface InboxConversation {
  id: string;
  userId?: string;
  /** From the user's profile or a message's author; absent for an anonymous visitor. */
  name?: string;
  /** The source type of the user's messages: web, telegram, twilio, ... */
  channel?: string;
  preview: string;
  previewAuthor: 'user' | 'business' | 'none';
  lastActivityAt: string;
  unread: boolean;
  /** When the user last read the conversation (their conversation:read). */
  userReadAt?: string;
}

export interface LoggedEvent {
  /** Position in the log, for `GET /inbox/api/events?after=n`. */
  n: number;
  receivedAt: string;
  id: string;
  type: string;
  summary: string;
  conversationId?: string;
  payload: any;
}

export type InboxChange =
  | { kind: 'event'; event: LoggedEvent; conversation?: InboxConversation; removed?: string }
  | { kind: 'typing'; conversationId: string; typing: boolean }
  | { kind: 'conversation'; conversation: InboxConversation };

interface Saved {
  appId: string;
  conversations: InboxConversation[];
  events: LoggedEvent[];
}

const KEEP_EVENTS = 200;

const clip = (text: string, max = 90) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** One line for a message, as a conversation list or an event log shows it. */
export function previewOf(content: any): string {
  switch (content?.type) {
    case 'text':
      return clip(content.text ?? content.markdownText ?? content.htmlText ?? '');
    case 'image':
      return content.text ? `Photo: ${clip(content.text)}` : 'Photo';
    case 'file':
      return content.text ? `File: ${clip(content.text)}` : 'File';
    case 'carousel':
      return `Carousel of ${content.items?.length ?? 0} items`;
    case 'list':
      return `List of ${content.items?.length ?? 0} items`;
    case 'location':
      return content.location?.name ?? content.location?.address ?? 'Shared a location';
    case 'form':
      return content.text ? `Form: ${clip(content.text)}` : 'Form';
    case 'formResponse':
      return clip(`Form answered: ${(content.fields ?? []).map((f: any) => f.text ?? f.email ?? f.select?.map((o: any) => o.label).join(', ') ?? '').join(' · ')}`);
    default:
      return content?.type ? `[${content.type}]` : '';
  }
}

export class Inbox {
  private readonly byId = new Map<string, InboxConversation>();
  private readonly log: LoggedEvent[] = [];
  private n = 0;
  private readonly listeners = new Set<(change: InboxChange) => void>();

  constructor(
    private readonly file: string,
    private readonly appId: string,
  ) {
    try {
      if (existsSync(file)) {
        const saved = JSON.parse(readFileSync(file, 'utf8')) as Saved;
        // Another demo app (Parley's state was reset): nothing kept belongs to it.
        if (saved.appId === appId) {
          for (const c of saved.conversations) this.byId.set(c.id, c);
          this.log.push(...saved.events);
          this.n = this.log.at(-1)?.n ?? 0;
        }
      }
    } catch {
      // The file is a convenience: an unreadable one starts an empty inbox.
    }
  }

  conversations(): InboxConversation[] {
    return [...this.byId.values()].sort((a, b) => b.lastActivityAt.localeCompare(a.lastActivityAt));
  }

  conversation(id: string): InboxConversation | undefined {
    return this.byId.get(id);
  }

  events(after = 0): LoggedEvent[] {
    return this.log.filter((e) => e.n > after);
  }

  subscribe(listener: (change: InboxChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies a webhook batch. Delivery is at least once, so events already logged are skipped. */
  ingest(events: any[]): void {
    const fresh = events.filter((e) => typeof e?.id === 'string' && typeof e?.type === 'string' && !this.log.some((l) => l.id === e.id));
    if (fresh.length === 0) return;
    for (const event of fresh) {
      const { conversation, removed, typing } = this.apply(event);
      const conversationId = event.payload?.conversation?.id;
      const logged: LoggedEvent = {
        n: ++this.n,
        receivedAt: new Date().toISOString(),
        id: event.id,
        type: event.type,
        summary: this.summarize(event),
        ...(conversationId ? { conversationId } : {}),
        payload: event.payload,
      };
      this.log.push(logged);
      this.emit({ kind: 'event', event: logged, ...(conversation ? { conversation } : {}), ...(removed ? { removed } : {}) });
      if (typing !== undefined) this.emit({ kind: 'typing', conversationId, typing });
    }
    if (this.log.length > KEEP_EVENTS) this.log.splice(0, this.log.length - KEEP_EVENTS);
    this.save();
  }

  /** The agent opened the conversation. */
  markRead(id: string): InboxConversation | undefined {
    const c = this.byId.get(id);
    if (c?.unread) this.update({ ...c, unread: false });
    return this.byId.get(id);
  }

  /** The user's name, once their profile has been read from Parley. */
  name(id: string, name: string): void {
    const c = this.byId.get(id);
    if (c && c.name !== name) this.update({ ...c, name });
  }

  private update(c: InboxConversation): void {
    this.byId.set(c.id, c);
    this.save();
    this.emit({ kind: 'conversation', conversation: c });
  }

  private emit(change: InboxChange): void {
    for (const listener of this.listeners) listener(change);
  }

  private save(): void {
    const saved: Saved = { appId: this.appId, conversations: [...this.byId.values()], events: this.log };
    // Written aside and renamed, so a crash mid-write never leaves half a file.
    writeFileSync(`${this.file}.tmp`, JSON.stringify(saved), { mode: 0o600 });
    renameSync(`${this.file}.tmp`, this.file);
  }

  private upsert(id: string, at: string): InboxConversation {
    return this.byId.get(id) ?? { id, preview: 'New conversation', previewAuthor: 'none', lastActivityAt: at, unread: false };
  }

  /** Folds one event into its conversation; returns what changed. */
  private apply(event: any): { conversation?: InboxConversation; removed?: string; typing?: boolean } {
    const p = event.payload ?? {};
    const id: string | undefined = p.conversation?.id;
    if (!id) return {};
    const at: string = event.createdAt ?? new Date().toISOString();
    const later = (c: InboxConversation, when: string) => (when > c.lastActivityAt ? when : c.lastActivityAt);
    let c = this.byId.get(id);
    switch (event.type) {
      case 'conversation:create':
        c = this.upsert(id, at);
        c = { ...c, ...(p.user?.id && !c.userId ? { userId: p.user.id } : {}), ...(p.source?.type && !c.channel ? { channel: p.source.type } : {}) };
        break;
      case 'conversation:message': {
        const m = p.message ?? {};
        const when = m.received ?? at;
        c = this.upsert(id, when);
        if (m.author?.type === 'user') {
          c = {
            ...c,
            userId: m.author.userId ?? c.userId,
            name: c.name ?? m.author.displayName,
            channel: m.source?.type ?? c.channel,
            preview: previewOf(m.content),
            previewAuthor: 'user',
            unread: true,
          };
        } else {
          c = { ...c, preview: previewOf(m.content), previewAuthor: 'business', unread: false };
        }
        c.lastActivityAt = later(c, when);
        this.byId.set(id, c);
        return { conversation: c, ...(m.author?.type === 'user' ? { typing: false } : {}) };
      }
      case 'conversation:postback':
        c = this.upsert(id, at);
        c = { ...c, userId: p.user?.id ?? c.userId, channel: p.source?.type ?? c.channel, preview: `Tapped “${clip(p.postback?.text ?? p.postback?.payload ?? '', 60)}”`, previewAuthor: 'user', unread: true };
        c.lastActivityAt = later(c, at);
        break;
      case 'conversation:read':
        if (!c || p.activity?.author?.type !== 'user') return {};
        c = { ...c, userReadAt: at };
        break;
      case 'conversation:typing':
        if (p.activity?.author?.type !== 'user') return {};
        return { typing: p.activity.type === 'typing:start' };
      case 'conversation:remove':
        if (!this.byId.delete(id)) return {};
        return { removed: id };
      default:
        return {};
    }
    this.byId.set(id, c);
    return { conversation: c };
  }

  /** One line per event for the log: what a developer would want to see at a glance. */
  private summarize(event: any): string {
    const p = event.payload ?? {};
    const who = (userId?: string) => {
      const c = p.conversation?.id ? this.byId.get(p.conversation.id) : undefined;
      return c?.name ?? (userId ? `Visitor #${userId.slice(-4)}` : 'The visitor');
    };
    switch (event.type) {
      case 'conversation:message': {
        const m = p.message ?? {};
        const author = m.author?.type === 'business' ? (m.author.displayName ?? 'Business') : (m.author?.displayName ?? who(m.author?.userId));
        return `${author} (${m.source?.type === 'api:conversations' ? 'API' : (m.source?.type ?? 'API')}): ${previewOf(m.content) || `[${m.content?.type}]`}`;
      }
      case 'conversation:postback':
        return `${who(p.user?.id)} tapped “${p.postback?.text ?? ''}” (payload ${p.postback?.payload ?? ''})`;
      case 'conversation:typing':
        return `${who(p.activity?.author?.userId)} ${p.activity?.type === 'typing:start' ? 'started' : 'stopped'} typing`;
      case 'conversation:read':
        return `${p.activity?.author?.type === 'user' ? who(p.activity.author.userId) : 'The business'} read the conversation`;
      case 'conversation:create':
        return `New ${p.conversation?.type ?? ''} conversation from ${p.source?.type ?? 'the API'} (${p.creationReason ?? 'created'})`;
      case 'conversation:remove':
        return 'Conversation deleted';
      case 'client:add':
        return `New ${p.client?.type ?? ''} client for ${who(p.user?.id)}`;
      default:
        return event.type;
    }
  }
}
