/**
 * What a simulated person (and the business, for convenience) can do, and
 * what the page reads: send text, write a mail (email), tap a button, share
 * a location, flip a switch of their device (Apple), answer as the business
 * through the REST API, and read a chat.
 * Every inbound action is the channel's real signed webhook, built by its
 * fake and POSTed to Parley's `/hooks/{integrationId}`; the bubble records
 * how Parley answered.
 */
import type { Chat, Chats } from './chats';
import type { Bubble, BubbleContent, ChannelId, Inbound, SimChannel } from './channels/types';
import type { ParleyApi } from './parley';
import type { ChannelStatus } from './setup';

export class ActionError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ChatView {
  channel: ChannelId;
  user: { key: string; label: string };
  conversationId: string | null;
  userId: string | null;
  /** A curl command answering as the business in this conversation, once it is known. */
  curl: string | null;
  bubbles: Bubble[];
}

const pageBubble = (b: Bubble): Bubble => (b.buttons ? { ...b, buttons: b.buttons.map(({ context: _context, ...button }) => button) } : b);

export class Actions {
  constructor(
    private readonly channels: Map<ChannelId, SimChannel>,
    private readonly statuses: Map<ChannelId, ChannelStatus>,
    private readonly chats: Chats,
    private readonly api: ParleyApi,
  ) {}

  private channel(id: unknown): { channel: SimChannel; integrationId: string } {
    const channel = this.channels.get(id as ChannelId);
    if (!channel) throw new ActionError(404, `no channel ${String(id)}; channels: ${[...this.channels.keys()].join(', ')}`);
    const status = this.statuses.get(channel.id);
    if (!status?.ready || !status.integrationId) throw new ActionError(409, `${channel.label} is not available: ${status?.error ?? 'not set up'}`);
    return { channel, integrationId: status.integrationId };
  }

  private chatOf(channelId: unknown, userInput: unknown): { channel: SimChannel; integrationId: string; chat: Chat } {
    const { channel, integrationId } = this.channel(channelId);
    const chat = this.chats.chat(channel.id, channel.user(typeof userInput === 'string' ? userInput : ''));
    return { channel, integrationId, chat };
  }

  /** Records the person's bubble first (Parley may answer before the POST returns), then delivers. */
  private async inbound(channel: SimChannel, integrationId: string, chat: Chat, build: () => Promise<Inbound>, content: BubbleContent): Promise<Bubble> {
    let inbound: Inbound;
    try {
      inbound = await build();
    } catch (err) {
      throw new ActionError(409, err instanceof Error ? err.message : String(err));
    }
    this.chats.noteSent(chat, integrationId, inbound.channelMessageId);
    const bubble = this.chats.add(chat, 'user', inbound.content ?? content);
    const delivery = await channel.deliver(inbound);
    if (!delivery.ok) bubble.error = `Parley answered ${delivery.statuses.map((s) => (s === 0 ? 'nothing (unreachable)' : `HTTP ${s}`)).join(', ')}`;
    return pageBubble(bubble);
  }

  async send(channelId: unknown, user: unknown, text: unknown): Promise<Bubble> {
    if (typeof text !== 'string' || text.trim() === '') throw new ActionError(400, 'text: type something to send');
    const { channel, integrationId, chat } = this.chatOf(channelId, user);
    return this.inbound(channel, integrationId, chat, () => channel.text(chat.user, text), { text });
  }

  async location(channelId: unknown, user: unknown, lat: unknown, long: unknown): Promise<Bubble> {
    const { channel, integrationId, chat } = this.chatOf(channelId, user);
    const la = Number(lat);
    const lo = Number(long);
    if (!Number.isFinite(la) || !Number.isFinite(lo) || Math.abs(la) > 90 || Math.abs(lo) > 180) throw new ActionError(400, 'lat and long must be coordinates');
    if (!channel.location) throw new ActionError(400, `${channel.label} users cannot share a location`);
    return this.inbound(channel, integrationId, chat, () => channel.location!(chat.user, la, lo), { location: { lat: la, long: lo } });
  }

  /** A mail to the channel's address; `inReplyTo` names a mail of this mailbox, which the new one answers in its thread. */
  async mail(channelId: unknown, user: unknown, subject: unknown, text: unknown, inReplyTo: unknown): Promise<Bubble> {
    if (typeof text !== 'string' || text.trim() === '') throw new ActionError(400, 'text: write something to send');
    if (subject !== undefined && typeof subject !== 'string') throw new ActionError(400, 'subject must be a string');
    if (inReplyTo !== undefined && inReplyTo !== null && typeof inReplyTo !== 'string') throw new ActionError(400, 'inReplyTo must be a Message-Id');
    const { channel, integrationId, chat } = this.chatOf(channelId, user);
    if (!channel.mail) throw new ActionError(400, `${channel.label} has no mail: send text instead`);
    const answered = inReplyTo ? chat.bubbles.find((b) => b.mail?.messageId === inReplyTo) : undefined;
    if (inReplyTo && !answered?.mail) throw new ActionError(404, `no mail ${String(inReplyTo)} in this mailbox`);
    const draft = { subject: subject ?? '', text, ...(answered?.mail ? { replyingTo: { mail: answered.mail, at: answered.at } } : {}) };
    return this.inbound(channel, integrationId, chat, () => channel.mail!(chat.user, draft), { text });
  }

  /** A tap on button `index` of bubble `bubbleId`; links and location requests stay on the page. */
  async tap(channelId: unknown, user: unknown, bubbleId: unknown, index: unknown): Promise<{ bubble?: Bubble; open?: string }> {
    const { channel, integrationId, chat } = this.chatOf(channelId, user);
    const button = chat.bubbles.find((b) => b.id === Number(bubbleId))?.buttons?.[Number(index)];
    if (!button) throw new ActionError(404, `no button ${String(index)} on message ${String(bubbleId)} in this chat`);
    if (button.kind === 'link') return { open: button.url! };
    if (button.kind === 'location') throw new ActionError(400, 'share a location with the location form');
    const bubble = await this.inbound(channel, integrationId, chat, async () => {
      const inbound = await channel.tap(chat.user, button);
      if (!inbound) throw new Error(`${channel.label} sends nothing for this button`);
      return inbound;
    }, { text: button.label });
    return { bubble };
  }

  /** Flips the channel's device switch; it holds for every later message of the channel's people. */
  setting(channelId: unknown, on: unknown): { on: boolean } {
    const { channel } = this.channel(channelId);
    if (!channel.setting) throw new ActionError(400, `${channel.label} has no device setting`);
    if (typeof on !== 'boolean') throw new ActionError(400, 'on must be true or false');
    channel.setting.on = on;
    return { on };
  }

  /** The business answers through `POST /v2/apps/{appId}/conversations/{id}/messages`, exactly what the curl does. */
  async reply(channelId: unknown, user: unknown, text: unknown): Promise<{ messageId: string }> {
    if (typeof text !== 'string' || text.trim() === '') throw new ActionError(400, 'text: type an answer');
    const { chat } = this.chatOf(channelId, user);
    if (!chat.conversationId) throw new ActionError(409, 'the conversation is not known yet: send a message as the user first');
    const answer = await this.api.app('POST', `/conversations/${chat.conversationId}/messages`, { author: { type: 'business' }, content: { type: 'text', text } });
    if (answer.status !== 201) throw new ActionError(502, `Parley answered ${answer.status}: ${answer.body?.errors?.[0]?.title ?? JSON.stringify(answer.body)}`);
    return { messageId: answer.body.messages?.[0]?.id ?? answer.body.message?.id };
  }

  chat(channelId: unknown, user: unknown): ChatView {
    const channel = this.channels.get(channelId as ChannelId);
    if (!channel) throw new ActionError(404, `no channel ${String(channelId)}`);
    const chat = this.chats.find(channel.id, channel.user(typeof user === 'string' ? user : '').key);
    const resolved = chat?.user ?? channel.user(typeof user === 'string' ? user : '');
    const conversationId = chat?.conversationId ?? null;
    return {
      channel: channel.id,
      user: { key: resolved.key, label: resolved.label },
      conversationId,
      userId: chat?.userId ?? null,
      curl: conversationId ? this.api.curlReply(conversationId) : null,
      bubbles: (chat?.bubbles ?? []).map(pageBubble),
    };
  }

  channelList() {
    return [...this.channels.values()].map((c) => {
      const status = this.statuses.get(c.id);
      return {
        id: c.id,
        label: c.label,
        ready: status?.ready ?? false,
        ...(status?.error ? { error: status.error } : {}),
        features: c.features,
        userHint: c.userHint,
        defaultUser: c.defaultUser,
        ...(c.mailTo ? { mailTo: c.mailTo } : {}),
        ...(c.setting ? { setting: { ...c.setting } } : {}),
      };
    });
  }
}
