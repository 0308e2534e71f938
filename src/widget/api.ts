/**
 * The widget's REST client for the /sdk/v2 routes of web-contract.md. Every
 * failure becomes an ApiError with the HTTP status (0 when the network did
 * not answer), so callers decide by status: 401 drops the session, the rest
 * shows an error or a Retry button.
 */
import type { Campaign, Content, ConversationSummary, IntegrationConfig, Message, SessionResponse } from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Device {
  guid: string;
  currentUrl: string;
  currentTitle: string;
  referrer: string;
  browserLanguage: string;
  sdkVersion: string;
  timezone: string;
}

export interface MessagePage {
  messages: Message[];
  meta: { hasMore: boolean };
}

interface Call {
  token?: string;
  json?: unknown;
  form?: FormData;
}

export class Api {
  private readonly root: string;

  constructor(base: string, appId: string) {
    this.root = `${base.replace(/\/+$/, '')}/sdk/v2/apps/${encodeURIComponent(appId)}`;
  }

  private async call<T>(method: string, path: string, { token, json, form }: Call = {}): Promise<T> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (json !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(this.root + path, { method, headers, body: form ?? (json === undefined ? undefined : JSON.stringify(json)) });
    } catch (err) {
      throw new ApiError(0, err instanceof Error ? err.message : 'network error');
    }
    const body = (await res.json().catch(() => ({}))) as { errors?: { title?: string }[] };
    if (!res.ok) throw new ApiError(res.status, body.errors?.[0]?.title ?? `HTTP ${res.status}`);
    return body as T;
  }

  async config(integrationId: string): Promise<IntegrationConfig> {
    return (await this.call<{ config: IntegrationConfig }>('GET', `/integrations/${encodeURIComponent(integrationId)}/config`)).config;
  }

  /** `campaignId`: the visitor is answering that campaign, which opens the conversation with its message. */
  createSession(integrationId: string, device: Device, extras: { campaignId?: string } = {}): Promise<SessionResponse> {
    return this.call('POST', '/sessions', { json: { integrationId, device, ...extras } });
  }

  /** The campaigns that may show on `url` (a Parley extension); no session needed. */
  async campaigns(integrationId: string, url: string): Promise<Campaign[]> {
    const q = new URLSearchParams({ url });
    return (await this.call<{ campaigns: Campaign[] }>('GET', `/integrations/${encodeURIComponent(integrationId)}/campaigns?${q}`)).campaigns;
  }

  /** With the anonymous token, the server merges that user's history into the known user. */
  login(integrationId: string, externalId: string, jwt: string, device: Device, anonymousToken?: string): Promise<SessionResponse> {
    return this.call('POST', '/login', { token: anonymousToken, json: { integrationId, externalId, jwt, device } });
  }

  /** The session user's conversations, each with its unread count and newest message (conversation list). */
  async conversations(token: string): Promise<ConversationSummary[]> {
    return (await this.call<{ conversations: ConversationSummary[] }>('GET', '/conversations', { token })).conversations;
  }

  /** Another conversation for the session user (canUserCreateMoreConversations). */
  async createConversation(token: string): Promise<{ id: string }> {
    return (await this.call<{ conversation: { id: string } }>('POST', '/conversations', { token, json: {} })).conversation;
  }

  /** The newest page, or the page before `before` (a message id). */
  messages(token: string, conversationId: string, before?: string): Promise<MessagePage> {
    const q = new URLSearchParams({ 'page[size]': '100' });
    if (before) q.set('page[before]', before);
    return this.call('GET', `/conversations/${conversationId}/messages?${q}`, { token });
  }

  async postMessage(token: string, conversationId: string, content: Content, clientMessageId: string): Promise<Message | undefined> {
    const res = await this.call<{ messages: Message[] }>('POST', `/conversations/${conversationId}/messages`, {
      token,
      json: { content, clientMessageId },
    });
    return res.messages[0];
  }

  async postback(token: string, conversationId: string, payload: string, text: string, actionId?: string): Promise<void> {
    await this.call('POST', `/conversations/${conversationId}/postback`, { token, json: { payload, text, actionId } });
  }

  /** The signed pay page link of a buy action, made for this session's user. */
  async payLink(token: string, conversationId: string, messageId: string, at: { item?: number; action: number }): Promise<string> {
    return (await this.call<{ url: string }>('POST', `/conversations/${conversationId}/pay`, { token, json: { messageId, ...at } })).url;
  }

  async activity(token: string, conversationId: string, type: 'typing:start' | 'typing:stop' | 'conversation:read'): Promise<void> {
    await this.call('POST', `/conversations/${conversationId}/activity`, { token, json: { type } });
  }

  async upload(token: string, file: Blob, name: string): Promise<{ mediaUrl: string; mediaType: string; mediaSize: number }> {
    const form = new FormData();
    form.append('source', file, name);
    return (await this.call<{ attachment: { mediaUrl: string; mediaType: string; mediaSize: number } }>('POST', '/attachments', { token, form })).attachment;
  }

  socketUrl(conversationId: string, after: number): string {
    return `${this.root.replace(/^http/, 'ws')}/conversations/${conversationId}/socket?after=${after}`;
  }
}
