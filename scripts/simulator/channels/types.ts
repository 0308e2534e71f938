/**
 * What the simulator needs from one channel: the integration it creates in
 * Parley and how it re-arms it after a restart (the fakes live in memory), how
 * a person on that channel is named, how their actions become the channel's
 * own signed webhooks (built by the channel's fake), and how the fake's record
 * of what Parley sent turns into chat bubbles.
 */

export type ChannelId = 'telegram' | 'sms' | 'whatsapp' | 'messenger' | 'line' | 'viber' | 'messagebird' | 'email' | 'wechat' | 'x' | 'apple';

/** Which fake a channel talks through; WhatsApp and Messenger share Meta's. */
export type FakeName = 'telegram' | 'twilio' | 'meta' | 'line' | 'viber' | 'messagebird' | 'mailgun' | 'wechat' | 'twitter' | 'apple' | 'stripe';

/** The fakes' own loopback ports; LINE, Viber, MessageBird, Mailgun, WeChat, X and Apple answer on Telegram's (see fakes.ts). */
export type ServedPort = 'telegram' | 'twilio' | 'meta';

/** A person on a channel. `key` is the channel's own id for them (chat id, phone number, PSID, LINE or Viber user id, email address, WeChat openid, X user id, Apple source-id). */
export interface SimUser {
  key: string;
  label: string;
  /** The name the channel reports, when it reports one. */
  name?: string;
}

/** A button or quick reply the business sent, with what tapping it sends back. */
export interface Button {
  label: string;
  kind: 'postback' | 'reply' | 'link' | 'location';
  url?: string;
  payload?: string;
  /** WhatsApp list rows come back as list replies, not button replies. */
  list?: boolean;
  /** The carousel card the button sits on. */
  card?: number;
  /** Channel-private context for the tap (Telegram: the message the keyboard belongs to; email: the mail to answer); never sent to the page. */
  context?: unknown;
}

export interface Card {
  title: string;
  subtitle?: string;
  imageUrl?: string;
}

/** An email as a mail client shows it: the headers that thread it, and both bodies. */
export interface Mail {
  from: string;
  to: string;
  subject: string;
  messageId: string;
  replyTo?: string;
  inReplyTo?: string;
  /** Space-separated Message-Ids, oldest first. */
  references?: string;
  text?: string;
  /** Drawn by the page in a sandboxed frame, never into the page itself. */
  html?: string;
}

/** One chat bubble (for email, one mail), as the page draws it. */
export interface Bubble {
  id: number;
  from: 'user' | 'business';
  at: number;
  text?: string;
  media?: { kind: 'image' | 'video' | 'audio' | 'file'; url: string };
  location?: { lat: number; long: number; name?: string; address?: string };
  buttons?: Button[];
  cards?: Card[];
  mail?: Mail;
  /** Why an inbound message did not reach Parley. */
  error?: string;
}

export type BubbleContent = Omit<Bubble, 'id' | 'from' | 'at'>;

/** A call Parley made to a fake, with what the fake answered. */
export interface ObservedCall {
  method: string;
  path: string;
  /** The JSON body, the form fields (repeated fields as arrays), or the query of a GET. */
  params: Record<string, unknown>;
  status: number;
  result: unknown;
}

/** A message Parley sent to one user, found in an observed call. */
export interface Outbound {
  userKey: string;
  content: BubbleContent;
}

/** A signed inbound webhook ready for Parley, and the id Parley will keep as the message's `source.originalMessageId`. */
export interface Inbound {
  request: Request;
  channelMessageId: string;
  /** What the person's side of the chat shows, when it is more than what they typed (a mail's headers). */
  content?: BubbleContent;
}

/** A mail the person writes; `replyingTo` is the mail they answer (a bubble of their mailbox) and when it came. */
export interface MailDraft {
  subject: string;
  text: string;
  replyingTo?: { mail: Mail; at: number };
}

export interface Delivery {
  ok: boolean;
  statuses: number[];
}

/** The v2 integration object as Parley returns it (the fields the simulator reads). */
export interface IntegrationView {
  id: string;
  type: string;
  status: string;
  webhookUrl?: string;
  apiBaseUrl?: string;
  verifyToken?: string;
  /** WeChat: the server configuration Token Parley made. */
  token?: string;
  error?: string;
}

export interface DeviceSetting {
  label: string;
  /** What the switch changes and when it takes effect. */
  note: string;
  on: boolean;
}

export interface SimChannel {
  id: ChannelId;
  label: string;
  /** The Parley integration type. */
  integrationType: string;
  fake: FakeName;
  features: { buttons: boolean; location: boolean; numberedOptions: boolean };
  /** What to type as the user, shown as the input's placeholder. */
  userHint: string;
  defaultUser: string;
  /** Email: the address the person writes to. The page shows an inbox and a mail form instead of a chat. */
  mailTo?: string;
  /** A switch on the simulated device, shown as a checkbox (Apple: whether it shows list pickers and quick replies). */
  setting?: DeviceSetting;
  createBody(apiBaseUrl: string): Record<string, unknown>;
  /** PATCH body that makes Parley run the channel's setup again against the fresh fake. */
  rearmBody(): Record<string, unknown>;
  /** Called once Parley has set the integration up; throws when the channel cannot be used. */
  ready(integration: IntegrationView): Promise<void>;
  user(input: string): SimUser;
  text(user: SimUser, text: string): Promise<Inbound>;
  location?(user: SimUser, lat: number, long: number): Promise<Inbound>;
  /** Email: a mail with a subject, threaded under `replyingTo` when it answers one. */
  mail?(user: SimUser, draft: MailDraft): Promise<Inbound>;
  /** The webhook a tap produces; undefined for taps that stay on the device (links). */
  tap(user: SimUser, button: Button): Promise<Inbound | undefined>;
  deliver(inbound: Inbound): Promise<Delivery>;
  /** Messages Parley sent to users in this call (none when the call is not a send of this channel). */
  observe(call: ObservedCall): Outbound[];
}
