/**
 * The rules of the conversation list, after the web integration's
 * `canUserSeeConversationList` (default true) and
 * `canUserCreateMoreConversations` (default false), as the official Web model
 * names them: which of the two the widget offers, and the rows the list
 * shows, newest first, each with a one-line preview of its newest message and
 * its unread count. Pure, so the rules are unit tested in Node.
 */
import { textFallback } from './content';
import type { ConversationSummary, IntegrationConfig } from './types';

export interface Choices {
  /** The header button that opens the list. */
  list: boolean;
  /** "New conversation": in the list, or in the header when there is no list. */
  create: boolean;
}

/**
 * What the widget offers a visitor with a session (without one there is
 * nothing to list, and the first message creates the conversation). The list
 * is worth opening once there is another conversation to go to or one to
 * start; `known` is how many conversations the last listing found.
 */
export function choices(config: Pick<IntegrationConfig, 'canUserSeeConversationList' | 'canUserCreateMoreConversations'>, hasSession: boolean, known: number): Choices {
  const create = hasSession && config.canUserCreateMoreConversations === true;
  const list = hasSession && config.canUserSeeConversationList !== false && (create || known > 1);
  return { list, create };
}

export interface Row {
  id: string;
  /** The conversation's display name; absent means "the business". */
  title: string | undefined;
  /** The newest message as one line, "You: …" for the user's own; empty when there is none. */
  preview: string;
  /** ISO time of the newest activity. */
  at: string | undefined;
  unread: number;
  current: boolean;
}

const oneLine = (text: string, max = 80) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** The list's rows, newest activity first (the current conversation is marked, never reordered on its own). */
export function rows(list: readonly ConversationSummary[], currentId: string | undefined, you: string): Row[] {
  return list
    .map((c) => {
      const last = c.lastMessage;
      const text = last ? oneLine(textFallback(last.content) || `[${last.content.type}]`) : '';
      return {
        id: c.id,
        title: c.displayName || undefined,
        preview: last && text && last.author.type === 'user' ? `${you}: ${text}` : text,
        at: last?.received ?? c.lastUpdatedAt ?? c.createdAt,
        unread: c.id === currentId ? 0 : Math.max(0, c.unreadCount ?? 0),
        current: c.id === currentId,
      };
    })
    .sort((a, b) => (b.at ?? '').localeCompare(a.at ?? ''));
}
