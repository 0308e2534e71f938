/**
 * A LINE user writing to the Official Account behind Parley's LINE
 * integration. Parley's setup reads the bot (`/v2/bot/info`) and registers its
 * webhook endpoint with the fake; messages, postback taps (template, Flex and
 * quick-reply actions) and locations are built by LINE's fake as signed
 * (`X-Line-Signature`) webhooks, each event carrying a reply token the fake
 * honours once. What Parley sends by reply or push becomes bubbles: text,
 * images and locations, buttons and confirm templates, template and Flex
 * carousels (cards), Flex bubbles, and quick replies as buttons.
 */
import type { LineFake } from '../../../test/fakes/line';
import { lineUser } from './people';
import { isObject, jsonOf, postWithRetries, uniqueNumber } from './wire';
import type { BubbleContent, Button, Card, Inbound, ObservedCall, Outbound, SimChannel } from './types';

type Json = Record<string, any>;

const MEDIA = { image: 'image', video: 'video', audio: 'audio' } as const;

/** What tapping a LINE action sends: a postback event, a typed message, a link, or the location picker. */
function buttonOf(action: unknown, card?: number): Button[] {
  if (!isObject(action)) return [];
  const at = card === undefined ? {} : { card };
  const label = String(action.label ?? action.displayText ?? action.text ?? action.uri ?? '(button)');
  if (action.type === 'postback' && typeof action.data === 'string') return [{ label, kind: 'postback', payload: action.data, ...at }];
  if (action.type === 'message' && typeof action.text === 'string') return [{ label, kind: 'reply', payload: action.text, ...at }];
  if (action.type === 'uri' && typeof action.uri === 'string') return [{ label, kind: 'link', url: action.uri, ...at }];
  if (action.type === 'location') return [{ label, kind: 'location', ...at }];
  return [];
}

/** A Flex bubble's texts (a bold one first is its title), hero image and button actions, in reading order. */
function flexParts(bubble: Json): { title?: string; texts: string[]; imageUrl?: string; actions: unknown[] } {
  const parts: { title?: string; texts: string[]; imageUrl?: string; actions: unknown[] } = { texts: [], actions: [] };
  const walk = (node: unknown) => {
    if (!isObject(node)) return;
    if (node.type === 'text' && typeof node.text === 'string' && node.text.trim()) {
      if (node.weight === 'bold' && parts.title === undefined && parts.texts.length === 0) parts.title = node.text;
      else parts.texts.push(node.text);
    }
    if (node.type === 'image' && typeof node.url === 'string' && parts.imageUrl === undefined) parts.imageUrl = node.url;
    if (node.type === 'button') parts.actions.push(node.action);
    for (const child of node.contents ?? []) walk(child);
  };
  for (const block of ['header', 'hero', 'body', 'footer']) walk(bubble[block]);
  return parts;
}

function flexContent(message: Json): BubbleContent {
  const contents = message.contents ?? {};
  if (contents.type === 'carousel') {
    const bubbles: Json[] = contents.contents ?? [];
    const cards: Card[] = [];
    const buttons: Button[] = [];
    bubbles.forEach((b, i) => {
      const p = flexParts(b);
      const [first, ...rest] = p.title !== undefined ? [p.title, ...p.texts] : p.texts;
      cards.push({ title: first ?? '', ...(rest.length ? { subtitle: rest.join('\n') } : {}), ...(p.imageUrl ? { imageUrl: p.imageUrl } : {}) });
      buttons.push(...p.actions.flatMap((a) => buttonOf(a, i)));
    });
    return { cards, ...(buttons.length ? { buttons } : {}) };
  }
  const p = flexParts(contents);
  const text = [p.title, ...p.texts].filter((t) => t !== undefined).join('\n') || message.altText;
  const buttons = p.actions.flatMap((a) => buttonOf(a));
  return { ...(text ? { text } : {}), ...(p.imageUrl ? { media: { kind: 'image', url: p.imageUrl } } : {}), ...(buttons.length ? { buttons } : {}) };
}

function templateContent(message: Json): BubbleContent {
  const t = message.template ?? {};
  if (t.type === 'buttons' || t.type === 'confirm') {
    const buttons = (t.actions ?? []).flatMap((a: unknown) => buttonOf(a));
    return {
      text: [t.title, t.text].filter(Boolean).join('\n'),
      ...(t.thumbnailImageUrl ? { media: { kind: 'image', url: t.thumbnailImageUrl } } : {}),
      ...(buttons.length ? { buttons } : {}),
    };
  }
  if (t.type === 'carousel' || t.type === 'image_carousel') {
    const columns: Json[] = t.columns ?? [];
    const cards = columns.map((c): Card => {
      const image = c.thumbnailImageUrl ?? c.imageUrl;
      const title = c.title ?? c.text ?? c.action?.label ?? '';
      return { title, ...(c.title && c.text ? { subtitle: c.text } : {}), ...(image ? { imageUrl: image } : {}) };
    });
    const buttons = columns.flatMap((c, i) => (t.type === 'carousel' ? (c.actions ?? []) : [c.action]).flatMap((a: unknown) => buttonOf(a, i)));
    return { cards, ...(buttons.length ? { buttons } : {}) };
  }
  return { text: `[template] ${message.altText ?? ''}` };
}

/** One LINE message object as the LINE app shows it; quick replies are buttons under it. */
export function contentOf(message: Json): BubbleContent {
  let content: BubbleContent;
  if (message.type === 'text' || message.type === 'textV2') content = { text: message.text };
  else if (message.type in MEDIA) content = { media: { kind: MEDIA[message.type as keyof typeof MEDIA], url: message.originalContentUrl } };
  else if (message.type === 'location') {
    content = { location: { lat: message.latitude, long: message.longitude, ...(message.title ? { name: message.title } : {}), ...(message.address ? { address: message.address } : {}) } };
  } else if (message.type === 'template') content = templateContent(message);
  else if (message.type === 'flex') content = flexContent(message);
  else if (message.type === 'sticker') content = { text: `[sticker ${message.packageId}/${message.stickerId}]` };
  else content = { text: `[${message.type}] ${message.altText ?? ''}`.trim() };
  const quick = (message.quickReply?.items ?? []).flatMap((item: Json) => buttonOf(item?.action));
  if (quick.length) content.buttons = [...(content.buttons ?? []), ...quick];
  return content;
}

export function lineChannel(fake: LineFake): SimChannel {
  const hookUrl = () => {
    if (!fake.endpoint) throw new Error('Parley has not registered a LINE webhook endpoint with the simulator');
    return fake.endpoint;
  };
  /**
   * The fake's webhook with ids unique across runs (see wire.ts): the message id, which Parley keeps for a
   * message, and the webhookEventId, which it keeps for a postback. Signed again by the fake; the reply token stays.
   */
  const inbound = async (built: Request): Promise<Inbound> => {
    const body = await jsonOf(built);
    const event = body.events[0];
    const n = uniqueNumber();
    event.webhookEventId = `01SIM${n.toString(36).toUpperCase()}`.padEnd(26, '0');
    if (isObject(event.message)) event.message.id = String(n);
    return { request: await fake.webhook(built.url, body.events), channelMessageId: isObject(event.message) ? event.message.id : event.webhookEventId };
  };
  /** Who a reply went to: the fake records each sent message's id under its recipient. */
  const recipientOf = (id: unknown): string | undefined => {
    for (const [to, sent] of fake.sent) if (sent.some((s) => s.id === id)) return to;
    return undefined;
  };

  return {
    id: 'line',
    label: 'LINE',
    integrationType: 'line',
    fake: 'line',
    features: { buttons: true, location: true, numberedOptions: false },
    userHint: 'a name, e.g. Cleo',
    defaultUser: 'Cleo',
    createBody: (apiBaseUrl) => ({
      type: 'line',
      displayName: 'Simulator: LINE',
      channelSecret: fake.channelSecret,
      channelAccessToken: fake.channelAccessToken,
      apiBaseUrl,
    }),
    // The fresh fake has a new access token and bot user id: setup learns both again.
    rearmBody: () => ({ channelSecret: fake.channelSecret, channelAccessToken: fake.channelAccessToken }),
    async ready() {
      hookUrl();
    },
    user: (input) => lineUser(input, 'Cleo'),
    text: (user, text) => fake.text(hookUrl(), user.key, text).then(inbound),
    location: (user, lat, long) => fake.location(hookUrl(), user.key, lat, long).then(inbound),
    async tap(user, button) {
      if (button.kind === 'postback') return inbound(await fake.postback(hookUrl(), user.key, button.payload!));
      // A message action types its text for the user.
      if (button.kind === 'reply') return inbound(await fake.text(hookUrl(), user.key, button.payload ?? button.label));
      return undefined;
    },
    // LINE redelivers a failed webhook as a new body marked isRedelivery (when redelivery is on in the console).
    deliver: (inbound) => postWithRetries((attempt) => (attempt === 0 ? Promise.resolve(inbound.request.clone()) : fake.redelivery(inbound.request))),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || call.status !== 200 || !isObject(call.result) || !Array.isArray(call.params.messages)) return [];
      let to: string | undefined;
      if (call.path === '/v2/bot/message/push') to = typeof call.params.to === 'string' ? call.params.to : undefined;
      else if (call.path === '/v2/bot/message/reply') to = recipientOf(call.result.sentMessages?.[0]?.id);
      if (!to) return [];
      return (call.params.messages as unknown[]).filter(isObject).map((m) => ({ userKey: to, content: contentOf(m) }));
    },
  };
}
