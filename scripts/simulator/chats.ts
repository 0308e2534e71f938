/**
 * The simulated people's chats: what each person sent and what Parley sent
 * them, per channel and person, in order. A chat also learns its Parley
 * conversation id from the customer webhook: Parley keeps each inbound
 * message's channel id as `source.originalMessageId`, which the chat noted
 * when it sent the message.
 */
import type { Bubble, BubbleContent, ChannelId, SimUser } from './channels/types';

export interface Chat {
  channel: ChannelId;
  user: SimUser;
  bubbles: Bubble[];
  conversationId?: string;
  /** Parley's user id for the person, from the same webhook events. */
  userId?: string;
}

/** Bubbles kept per chat; a chat is a demo, not an archive. */
const KEEP = 500;

export class Chats {
  private readonly chats = new Map<string, Chat>();
  /** `integrationId:channelMessageId` → chat key, for messages the simulator sent. */
  private readonly sent = new Map<string, string>();
  private nextId = 1;

  private key(channel: ChannelId, userKey: string): string {
    return `${channel}:${userKey}`;
  }

  /** The chat with this person, started when first needed. */
  chat(channel: ChannelId, user: SimUser): Chat {
    const key = this.key(channel, user.key);
    let chat = this.chats.get(key);
    if (!chat) this.chats.set(key, (chat = { channel, user, bubbles: [] }));
    else if (user.label !== user.key) chat.user = user;
    return chat;
  }

  find(channel: ChannelId, userKey: string): Chat | undefined {
    return this.chats.get(this.key(channel, userKey));
  }

  add(chat: Chat, from: Bubble['from'], content: BubbleContent): Bubble {
    const bubble: Bubble = { id: this.nextId++, from, at: Date.now(), ...content };
    chat.bubbles.push(bubble);
    if (chat.bubbles.length > KEEP) chat.bubbles.splice(0, chat.bubbles.length - KEEP);
    return bubble;
  }

  /** Remembers which chat a message the simulator delivered belongs to. */
  noteSent(chat: Chat, integrationId: string, channelMessageId: string): void {
    this.sent.set(`${integrationId}:${channelMessageId}`, this.key(chat.channel, chat.user.key));
  }

  /** Reads customer webhook events: a user message Parley got from the simulator names its conversation. */
  learn(events: { type?: string; payload?: any }[]): void {
    for (const event of events) {
      const payload = event.payload ?? {};
      const source = payload.message?.source;
      const key = source?.integrationId && source.originalMessageId ? this.sent.get(`${source.integrationId}:${source.originalMessageId}`) : undefined;
      const chat = key ? this.chats.get(key) : undefined;
      if (!chat || !payload.conversation?.id) continue;
      chat.conversationId = payload.conversation.id;
      if (payload.message?.author?.userId) chat.userId = payload.message.author.userId;
    }
  }

  /** The chat a webhook event is about, once its conversation is known. */
  about(event: { payload?: any }): Chat | undefined {
    const id = event.payload?.conversation?.id;
    if (id) return [...this.chats.values()].find((c) => c.conversationId === id);
    const userId = event.payload?.user?.id;
    return userId ? [...this.chats.values()].find((c) => c.userId === userId) : undefined;
  }
}
