/**
 * The visitor's session as the messenger holds it: loaded from the
 * SessionStore, created on demand (only once at a time, however many sends
 * ask for it), replaced by a login, dropped when the token dies (401) or the
 * conversation is gone, and saved with the newest messages. What a new or
 * dropped session means for the socket and the timeline is the messenger's,
 * told through `SessionHooks`.
 */
import { Api, ApiError, type Device } from './api';
import { randomId, SessionStore, type StoredSession } from './session-store';
import type { Message, SessionResponse } from './types';

const SDK_VERSION = '1.0.0';

export interface SessionHooks {
  /** The messages to cache with the session (the newest stored ones, at most CACHED_MESSAGES). */
  cached(): Message[];
  /** A session is about to replace the current one, or to be forgotten. */
  replacing(): void;
  /** `ensure` created one: the conversation exists now. */
  created(): void;
  /** The session was forgotten. */
  dropped(): void;
  /** Extra fields for a session being created (a campaign being answered). */
  extras(): { campaignId?: string };
}

export class VisitorSession {
  current: StoredSession | undefined;
  private creating: Promise<StoredSession> | undefined;

  constructor(
    private readonly api: Api,
    private readonly store: SessionStore,
    private readonly integrationId: string,
    private readonly hooks: SessionHooks,
  ) {}

  load(): StoredSession | undefined {
    this.current = this.store.load();
    return this.current;
  }

  ensure(): Promise<StoredSession> {
    if (this.current) return Promise.resolve(this.current);
    this.creating ??= this.api
      .createSession(this.integrationId, this.device(), this.hooks.extras())
      .then((res) => {
        this.adopt(res);
        this.hooks.created();
        return this.current!;
      })
      .finally(() => (this.creating = undefined));
    return this.creating;
  }

  adopt(res: SessionResponse): void {
    this.hooks.replacing();
    this.current = {
      token: res.session.token,
      userId: res.user.id,
      conversationId: res.conversation.id,
      externalId: res.user.externalId,
      messages: [],
      lastSeenSeq: 0,
    };
    this.save();
  }

  /** The token is dead (401) or the conversation is gone: forget both; the next send starts afresh. */
  drop(): void {
    this.hooks.replacing();
    this.store.clear();
    this.current = undefined;
    this.hooks.dropped();
  }

  /** Runs `call` with a session, creating one if needed; a 401 drops the session and runs it once more with a fresh one. */
  async with<T>(call: (s: StoredSession) => Promise<T>): Promise<T> {
    const session = await this.ensure();
    try {
      return await call(session);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      if (this.current === session) this.drop();
      return call(await this.ensure());
    }
  }

  save(): void {
    if (!this.current) return;
    this.current.messages = this.hooks.cached();
    this.store.save(this.current);
  }

  device(): Device {
    return {
      guid: this.store.deviceGuid(randomId),
      currentUrl: location.href,
      currentTitle: document.title,
      referrer: document.referrer,
      browserLanguage: navigator.language,
      sdkVersion: SDK_VERSION,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    };
  }
}
