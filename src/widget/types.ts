/**
 * The wire shapes the widget reads and writes, as web-contract.md and the v2
 * API define them. Only the fields the widget uses are typed; the server is the
 * authority on the rest.
 */

export type ActionType = 'link' | 'webview' | 'postback' | 'reply' | 'buy' | 'locationRequest';
export interface Action {
  type: ActionType;
  text: string;
  uri?: string;
  fallback?: string;
  payload?: string;
  iconUrl?: string;
  amount?: number;
  currency?: string;
  default?: boolean;
  _id?: string;
  id?: string;
}

export interface Item {
  title: string;
  description?: string;
  mediaUrl?: string;
  mediaType?: string;
  altText?: string;
  size?: 'compact' | 'large';
  actions?: Action[];
}

export interface FormOption {
  label: string;
  name: string;
}
export interface FormField {
  type: 'text' | 'email' | 'select';
  name: string;
  label: string;
  placeholder?: string;
  minSize?: number;
  maxSize?: number;
  options?: FormOption[];
}
export interface FormResponseField {
  type: 'text' | 'email' | 'select';
  name: string;
  label: string;
  text?: string;
  email?: string;
  select?: FormOption[];
}

/** Every content type in one loose shape: `type` says which fields are meaningful. */
export interface Content {
  type: 'text' | 'image' | 'file' | 'carousel' | 'list' | 'location' | 'form' | 'formResponse' | 'template' | string;
  text?: string;
  markdownText?: string;
  htmlText?: string;
  payload?: string;
  actions?: Action[];
  mediaUrl?: string;
  mediaType?: string;
  mediaSize?: number;
  altText?: string;
  items?: Item[];
  displaySettings?: { imageAspectRatio?: 'horizontal' | 'square' };
  coordinates?: { lat: number; long: number };
  location?: { address?: string; name?: string };
  fields?: (FormField | FormResponseField)[];
  blockChatInput?: boolean;
  submitted?: boolean;
  quotedMessageId?: string;
  textFallback?: string;
  template?: { name?: string; components?: { type: string; text?: string; parameters?: { type: string; text?: string }[] }[] };
}

export interface Author {
  type: 'user' | 'business';
  userId?: string;
  displayName?: string;
  avatarUrl?: string;
}

export interface Message {
  id: string;
  received: string;
  seq?: number;
  author: Author;
  content: Content;
  source?: { type: string; integrationId?: string; originalMessageId?: string };
  metadata?: Record<string, unknown>;
  quotedMessage?: { type: 'message' | 'externalMessageId'; message?: { id: string } };
}

export interface AttachmentLimits {
  maxBytes: number;
  types: string[];
}

export interface PrechatCapture {
  enabled: boolean;
  avatarUrl?: string;
  enableEmailLinking?: boolean;
  fields?: FormField[];
}

export interface IntegrationConfig {
  appId: string;
  integrationId: string;
  displayName?: string;
  brandColor?: string;
  conversationColor?: string;
  actionColor?: string;
  businessName?: string;
  businessIconUrl?: string;
  buttonIconUrl?: string;
  buttonWidth?: string | number;
  buttonHeight?: string | number;
  displayStyle?: 'button' | 'tab';
  backgroundImageUrl?: string;
  prechatCapture?: PrechatCapture;
  attachments?: AttachmentLimits;
  /** The conversation list (default true); the official Web model's setting. */
  canUserSeeConversationList?: boolean;
  /** A "new conversation" action (default false). */
  canUserCreateMoreConversations?: boolean;
}

/** One of the user's conversations as GET /sdk/v2/apps/{appId}/conversations lists it. */
export interface ConversationSummary {
  id: string;
  displayName?: string;
  iconUrl?: string;
  lastUpdatedAt?: string;
  createdAt?: string;
  unreadCount?: number;
  lastMessage?: Message;
}

/** What POST /sessions and POST /login answer. */
export interface SessionResponse {
  session: { token: string; expiresAt?: string };
  user: { id: string; externalId?: string };
  conversation: { id: string };
}

/** A proactive web campaign as GET /sdk/v2/apps/{appId}/integrations/{integrationId}/campaigns lists it (a Parley extension). */
export interface Campaign {
  id: string;
  message: { author?: { displayName?: string; avatarUrl?: string }; content: Content };
  delaySeconds?: number;
  frequency?: 'oncePerVisitor' | 'everyPageLoad';
}
