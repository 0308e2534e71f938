/**
 * The session kept in localStorage between page loads, one record per
 * app + integration: the token, the conversation, the newest messages (so the
 * history shows before any request) and how far the user has read. Storage
 * that throws (private modes, sandboxed frames) just means no cache. Also
 * the random ids the widget makes: the device guid kept here, and each
 * message's clientMessageId.
 */
import type { Message } from './types';

export interface StoredSession {
  token: string;
  userId: string;
  conversationId: string;
  externalId?: string;
  messages: Message[];
  lastSeenSeq: number;
}

export const CACHED_MESSAGES = 100;

export class SessionStore {
  private readonly key: string;

  constructor(
    appId: string,
    integrationId: string,
    private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | undefined,
  ) {
    this.key = `parley:${appId}:${integrationId}`;
  }

  load(): StoredSession | undefined {
    try {
      const raw = this.storage?.getItem(this.key);
      const parsed = raw ? (JSON.parse(raw) as StoredSession) : undefined;
      return parsed?.token && parsed.conversationId ? { ...parsed, messages: parsed.messages ?? [], lastSeenSeq: parsed.lastSeenSeq ?? 0 } : undefined;
    } catch {
      return undefined;
    }
  }

  save(session: StoredSession): void {
    try {
      this.storage?.setItem(this.key, JSON.stringify({ ...session, messages: session.messages.slice(-CACHED_MESSAGES) }));
    } catch {
      // Quota or disabled storage: the widget works, only without an instant history next time.
    }
  }

  clear(): void {
    try {
      this.storage?.removeItem(this.key);
    } catch {
      // See save.
    }
  }

  /** One id per browser, sent as device.guid so the server recognises the same device across sessions. */
  deviceGuid(makeId: () => string): string {
    try {
      const existing = this.storage?.getItem('parley:device');
      if (existing) return existing;
      const id = makeId();
      this.storage?.setItem('parley:device', id);
      return id;
    } catch {
      return makeId();
    }
  }
}

export function localStorageOrNothing(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

/** 22 URL-safe random characters: a clientMessageId ([A-Za-z0-9_-], 1..64) and device guid. */
export function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
