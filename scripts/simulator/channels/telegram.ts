/**
 * A Telegram user talking to the bot that Parley's Telegram integration runs.
 * Parley's setup calls the fake's getMe and setWebhook, so the fake knows the
 * hook URL and secret token; messages, taps on inline buttons (callback
 * queries) and reply-keyboard buttons, and locations are built as Telegram
 * Updates by the fake and delivered with its redelivery.
 */
import type { TelegramFake, TelegramUser } from '../../../test/fakes/telegram';
import { namedUser } from './people';
import { isObject, jsonOf, maybeJson, toDelivery, uniqueNumber } from './wire';
import type { BubbleContent, Button, Inbound, ObservedCall, Outbound, SimChannel, SimUser } from './types';

const SENDS = /^send(message|photo|document|video|audio|location|venue)$/i;
const MEDIA = { photo: 'image', document: 'file', video: 'video', audio: 'audio' } as const;

function telegramUser(user: SimUser): TelegramUser {
  const [first, ...rest] = (user.name ?? user.label).split(/\s+/);
  return { id: Number(user.key), first_name: first || 'Test', ...(rest.length ? { last_name: rest.join(' ') } : {}) };
}

/** The buttons of a send: inline keyboard buttons (on the message) or a reply keyboard (under the input). */
function buttonsOf(markup: unknown, message: unknown): Button[] {
  const parsed = maybeJson(markup);
  if (!isObject(parsed)) return [];
  if (Array.isArray(parsed.inline_keyboard)) {
    return (parsed.inline_keyboard as unknown[][]).flat().flatMap((b): Button[] => {
      if (!isObject(b) || typeof b.text !== 'string') return [];
      if (typeof b.url === 'string') return [{ label: b.text, kind: 'link', url: b.url }];
      if (typeof b.callback_data === 'string') return [{ label: b.text, kind: 'postback', payload: b.callback_data, context: message }];
      return [];
    });
  }
  if (Array.isArray(parsed.keyboard)) {
    return (parsed.keyboard as unknown[][]).flat().flatMap((b): Button[] => {
      const text = typeof b === 'string' ? b : isObject(b) ? b.text : undefined;
      if (typeof text !== 'string') return [];
      return [{ label: text, kind: isObject(b) && b.request_location ? 'location' : 'reply' }];
    });
  }
  return [];
}

/** `kind` is the method without `send`, lowercased: message, photo, document, video, audio, location, venue. */
function contentOf(kind: string, params: Record<string, unknown>, message: Record<string, any>): BubbleContent {
  const content: BubbleContent = {};
  const text = message.text ?? message.caption;
  if (typeof text === 'string') content.text = text;
  if (kind in MEDIA && typeof params[kind] === 'string') content.media = { kind: MEDIA[kind as keyof typeof MEDIA], url: params[kind] as string };
  if (isObject(message.location)) {
    content.location = {
      lat: message.location.latitude,
      long: message.location.longitude,
      ...(message.venue ? { name: message.venue.title, address: message.venue.address } : {}),
    };
  }
  const buttons = buttonsOf(params.reply_markup, message);
  if (buttons.length) content.buttons = buttons;
  return content;
}

export function telegramChannel(fake: TelegramFake): SimChannel {
  const hookUrl = () => {
    if (!fake.webhook) throw new Error('Parley has not registered a Telegram webhook (setWebhook) with the simulator');
    return fake.webhook.url;
  };
  /** The fake's update with an update_id unique across runs (see wire.ts), re-sent through the fake for its secret header. */
  const inbound = async (built: Request): Promise<Inbound> => {
    const update = { ...(await jsonOf(built)), update_id: uniqueNumber() };
    return { request: fake.update(built.url, update), channelMessageId: String(update.update_id) };
  };

  return {
    id: 'telegram',
    label: 'Telegram',
    integrationType: 'telegram',
    fake: 'telegram',
    features: { buttons: true, location: true, numberedOptions: false },
    userHint: 'a name, e.g. Ann',
    defaultUser: 'Ann',
    createBody: (apiBaseUrl) => ({ type: 'telegram', displayName: 'Simulator: Telegram', token: fake.token, apiBaseUrl }),
    rearmBody: () => ({ token: fake.token }),
    async ready() {
      hookUrl();
    },
    user: (input) => namedUser(input, 'Ann', 9),
    text: (user, text) => inbound(fake.text(hookUrl(), telegramUser(user), text)),
    location: (user, lat, long) => inbound(fake.location(hookUrl(), telegramUser(user), lat, long)),
    async tap(user, button) {
      if (button.kind === 'postback') return inbound(fake.callbackQuery(hookUrl(), telegramUser(user), button.payload!, isObject(button.context) ? { message: button.context } : {}));
      // A reply-keyboard button just types its label.
      if (button.kind === 'reply') return inbound(fake.text(hookUrl(), telegramUser(user), button.label));
      return undefined;
    },
    deliver: (inbound) => fake.deliver(inbound.request, { attempts: 3, delayMs: () => 300 }).then(toDelivery),
    observe(call: ObservedCall): Outbound[] {
      const method = /\/bot[^/]+\/([A-Za-z]+)$/.exec(call.path)?.[1] ?? '';
      if (!SENDS.test(method) || call.status !== 200 || !isObject(call.result) || !isObject(call.result.result)) return [];
      const message = call.result.result as Record<string, any>;
      return [{ userKey: String(message.chat.id), content: contentOf(method.slice('send'.length).toLowerCase(), call.params, message) }];
    },
  };
}
