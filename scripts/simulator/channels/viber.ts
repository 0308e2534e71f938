/**
 * A Viber user writing to the bot behind Parley's Viber integration. Parley
 * stores the integration before its setup, so the fake's `set_webhook` check
 * (a signed `{"event":"webhook"}` callback that must get a 200) reaches
 * Parley's `/hooks/{integrationId}`; messages and locations are then built by
 * Viber's fake as callbacks signed with `X-Viber-Content-Signature`. A tap on
 * a keyboard or rich_media `reply` button sends, as Viber does, a text message
 * whose text is the button's ActionBody (a silent one for Parley's postbacks).
 * What Parley sends to `send_message` becomes bubbles: text, pictures, video,
 * files, locations, the keyboard as buttons and rich_media as cards; each
 * send then plays Viber's `delivered` callback.
 */
import type { ViberFake } from '../../../test/fakes/viber';
import { viberUser } from './people';
import { isObject, postWithRetries, uniqueNumber } from './wire';
import type { BubbleContent, Button, Card, Inbound, ObservedCall, Outbound, SimChannel, SimUser } from './types';

type Json = Record<string, any>;

/** Above 2^53 like Viber's own, unique across runs, and apart from the fake's outbound tokens (4.9e18 up). */
const uniqueToken = () => 5_000_000_000_000_000_000n + BigInt(uniqueNumber());

const fakeUser = (user: SimUser) => ({ id: user.key, name: user.name ?? user.label });

/** What tapping a Viber button sends: its ActionBody as text (reply), a link, or the location picker. */
function buttonOf(b: unknown, card?: number): Button[] {
  if (!isObject(b) || typeof b.ActionBody !== 'string') return [];
  const at = card === undefined ? {} : { card };
  const label = typeof b.Text === 'string' && b.Text ? plain(b.Text) : b.ActionBody;
  const type = b.ActionType ?? 'reply';
  // Parley's postbacks are silent replies (`parley:choice:n`); its quick replies answer with their label, as typed.
  if (type === 'reply') return [{ label, kind: b.Silent ? 'postback' : 'reply', payload: b.ActionBody, ...at }];
  if (type === 'open-url') return [{ label, kind: 'link', url: b.ActionBody, ...at }];
  if (type === 'location-picker') return [{ label, kind: 'location', ...at }];
  return [];
}

/** Viber's button text is a little HTML (`<b>`, `<br>`, `<font>`): as plain text, lines kept. */
function plain(text: string): string {
  return text
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * A rich_media carousel as cards: Buttons fill groups of ButtonsGroupColumns ×
 * ButtonsGroupRows cells in order, one group per card. In a group, an Image is
 * the card's picture, the first text that is not a button row is its title
 * (first line) and subtitle, and the rest are its buttons.
 */
function richMediaContent(rich: Json): BubbleContent {
  const groupCells = Number(rich.ButtonsGroupColumns ?? 6) * Number(rich.ButtonsGroupRows ?? 7);
  const cards: Card[] = [];
  const buttons: Button[] = [];
  let cells = 0;
  for (const b of (rich.Buttons ?? []) as unknown[]) {
    if (!isObject(b)) continue;
    const index = Math.floor(cells / groupCells);
    cells += Number(b.Columns ?? 6) * Number(b.Rows ?? 1);
    const card = (cards[index] ??= { title: '' });
    if (typeof b.Image === 'string' && !card.imageUrl) card.imageUrl = b.Image;
    // A card's text: not a tap target, taller than a button row, or formatted (a one-row link over the card's text).
    const isText = typeof b.Text === 'string' && b.Text && (b.ActionType === 'none' || b.ActionType === undefined || Number(b.Rows ?? 1) > 1 || /<(b|br)\b/i.test(b.Text));
    if (isText && !card.title) {
      const [title, ...rest] = plain(b.Text).split('\n');
      card.title = title ?? '';
      if (rest.length) card.subtitle = rest.join('\n');
    } else if (typeof b.Text === 'string' && b.Text) buttons.push(...buttonOf(b, index));
  }
  for (let i = 0; i < cards.length; i++) cards[i] ??= { title: '' };
  return { cards, ...(buttons.length ? { buttons } : {}) };
}

/** One send_message body as the Viber app shows it; the keyboard's buttons go under it. */
export function contentOf(body: Json): BubbleContent {
  let content: BubbleContent;
  switch (body.type) {
    case 'text':
      content = { text: body.text };
      break;
    case 'picture':
      content = { media: { kind: 'image', url: body.media }, ...(body.text ? { text: body.text } : {}) };
      break;
    case 'video':
      content = { media: { kind: 'video', url: body.media } };
      break;
    case 'file':
      content = { media: { kind: 'file', url: body.media }, ...(body.file_name ? { text: body.file_name } : {}) };
      break;
    case 'location':
      content = { location: { lat: body.location?.lat, long: body.location?.lon } };
      break;
    case 'url':
      content = { text: body.media };
      break;
    case 'contact':
      content = { text: [body.contact?.name, body.contact?.phone_number].filter(Boolean).join(' ') };
      break;
    case 'sticker':
      content = { text: `[sticker ${body.sticker_id}]` };
      break;
    case 'rich_media':
      content = isObject(body.rich_media) ? richMediaContent(body.rich_media) : { text: body.alt_text ?? '[rich_media]' };
      break;
    default:
      content = { text: `[${String(body.type)}]` };
  }
  const keyboard = isObject(body.keyboard) ? ((body.keyboard.Buttons ?? []) as unknown[]).flatMap((b) => buttonOf(b)) : [];
  if (keyboard.length) content.buttons = [...(content.buttons ?? []), ...keyboard];
  return content;
}

export function viberChannel(fake: ViberFake): SimChannel {
  const hookUrl = () => {
    if (!fake.webhook) throw new Error('Parley has not set a Viber webhook (set_webhook) on the simulator');
    return fake.webhook.url;
  };
  /**
   * The fake's callback with a message_token unique across runs (see wire.ts), signed again by the fake. The
   * token the fake wrote is read through a JSON number (losing digits), but it is replaced, never used.
   */
  const inbound = async (built: Request): Promise<Inbound> => {
    const body = JSON.parse(await built.clone().text());
    const token = uniqueToken();
    return { request: await fake.callback(built.url, { ...body, message_token: token }), channelMessageId: String(token) };
  };
  /** The token the fake gave a message: the last one sent to `receiver` whose token reads as `seen` (a JSON number). */
  const tokenOf = (receiver: string, seen: unknown): string | undefined =>
    [...(fake.sent.get(receiver) ?? [])].reverse().find((m) => Number(m.message_token) === seen)?.message_token;

  return {
    id: 'viber',
    label: 'Viber',
    integrationType: 'viber',
    fake: 'viber',
    features: { buttons: true, location: true, numberedOptions: false },
    userHint: 'a name, e.g. Dana',
    defaultUser: 'Dana',
    createBody: (apiBaseUrl) => ({ type: 'viber', displayName: 'Simulator: Viber', token: fake.token, apiBaseUrl }),
    // The same token: the PATCH makes Parley call set_webhook again, so the fresh fake learns the URL.
    rearmBody: () => ({ token: fake.token }),
    async ready() {
      hookUrl();
    },
    user: (input) => viberUser(input, 'Dana'),
    text: (user, text) => fake.text(hookUrl(), fakeUser(user), text).then(inbound),
    location: (user, lat, long) => fake.location(hookUrl(), fakeUser(user), lat, long).then(inbound),
    async tap(user, button) {
      // A reply button, on the keyboard or a card, sends its ActionBody as the user's text.
      if (button.kind === 'reply' || button.kind === 'postback') return inbound(await fake.text(hookUrl(), fakeUser(user), button.payload ?? button.label));
      return undefined;
    },
    deliver: (inbound) => postWithRetries(async () => inbound.request.clone()),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || call.path !== '/pa/send_message' || call.status !== 200 || !isObject(call.result) || call.result.status !== 0) return [];
      const receiver = call.params.receiver;
      if (typeof receiver !== 'string') return [];
      const token = tokenOf(receiver, call.result.message_token);
      if (token) {
        // Like Viber, the receipt comes after the API call has answered.
        setTimeout(() => {
          void fake
            .receipt(hookUrl(), 'delivered', receiver, token)
            .then((request) => fake.deliver(request))
            .then((response) => response.arrayBuffer())
            .catch(() => undefined);
        }, 300).unref?.();
      }
      return [{ userKey: receiver, content: contentOf(call.params) }];
    },
  };
}
