/**
 * A Facebook user messaging the Page of Parley's Messenger integration. The
 * person is known by a Page-scoped id derived from the typed name. Messages,
 * quick-reply and button (postback) taps and locations are built by Meta's
 * fake as signed `page` webhooks; what Parley sends to the Send API becomes
 * bubbles, with button templates and carousels (generic templates).
 */
import type { MetaFake } from '../../../test/fakes/meta';
import { META_DELIVERY, subscribe } from './meta';
import { namedUser } from './people';
import { isObject, jsonOf, toDelivery, uniqueNumber } from './wire';
import type { BubbleContent, Button, Card, Inbound, ObservedCall, Outbound, SimChannel } from './types';

const MEDIA = { image: 'image', video: 'video', audio: 'audio', file: 'file' } as const;

const buttonOf = (b: any, card?: number): Button[] => {
  const at = card === undefined ? {} : { card };
  if (b?.type === 'postback') return [{ label: b.title, kind: 'postback', payload: b.payload, ...at }];
  if (b?.type === 'web_url') return [{ label: b.title, kind: 'link', url: b.url, ...at }];
  return [];
};

function contentOf(message: Record<string, any>): BubbleContent {
  const content: BubbleContent = {};
  const buttons: Button[] = [];
  if (typeof message.text === 'string') content.text = message.text;
  const attachment = message.attachment;
  if (isObject(attachment) && attachment.type in MEDIA) content.media = { kind: MEDIA[attachment.type as keyof typeof MEDIA], url: attachment.payload?.url };
  if (isObject(attachment) && attachment.type === 'template') {
    const payload = attachment.payload ?? {};
    if (payload.template_type === 'button') {
      content.text = payload.text;
      buttons.push(...(payload.buttons ?? []).flatMap((b: any) => buttonOf(b)));
    }
    if (payload.template_type === 'generic') {
      const elements: any[] = payload.elements ?? [];
      content.cards = elements.map((e): Card => ({ title: e.title, ...(e.subtitle ? { subtitle: e.subtitle } : {}), ...(e.image_url ? { imageUrl: e.image_url } : {}) }));
      elements.forEach((e, i) => buttons.push(...(e.buttons ?? []).flatMap((b: any) => buttonOf(b, i))));
    }
  }
  for (const r of message.quick_replies ?? []) {
    if (r.content_type === 'text') buttons.push({ label: r.title, kind: 'reply', payload: r.payload });
  }
  if (buttons.length) content.buttons = buttons;
  return content;
}

export function messengerChannel(fake: MetaFake): SimChannel {
  let hookUrl = '';
  const url = () => {
    if (!hookUrl) throw new Error('the Messenger integration is not set up');
    return hookUrl;
  };
  /** The fake's webhook with a mid unique across runs (see wire.ts), signed again by the fake. */
  const inbound = async (built: Request): Promise<Inbound> => {
    const body = await jsonOf(built);
    const event = body.entry[0].messaging[0].message ?? body.entry[0].messaging[0].postback;
    event.mid = `m_SIM${uniqueNumber()}`;
    return { request: await fake.signed(built.url, body), channelMessageId: event.mid };
  };

  return {
    id: 'messenger',
    label: 'Messenger',
    integrationType: 'messenger',
    fake: 'meta',
    features: { buttons: true, location: true, numberedOptions: false },
    userHint: 'a name, e.g. Ben',
    defaultUser: 'Ben',
    createBody: (apiBaseUrl) => ({
      type: 'messenger',
      displayName: 'Simulator: Messenger',
      pageAccessToken: fake.page.accessToken,
      appId: '1517776481860111',
      appSecret: fake.appSecret,
      apiBaseUrl,
    }),
    rearmBody: () => ({ pageAccessToken: fake.page.accessToken }),
    async ready(integration) {
      hookUrl = await subscribe(fake, integration);
    },
    user: (input) => namedUser(input, 'Ben', 16),
    text: (user, text) => fake.messenger.text(url(), user.key, text).then(inbound),
    location: (user, lat, long) => fake.messenger.location(url(), user.key, lat, long).then(inbound),
    async tap(user, button) {
      if (button.kind === 'reply') return inbound(await fake.messenger.quickReply(url(), user.key, button.label, button.payload!));
      if (button.kind === 'postback') return inbound(await fake.messenger.postback(url(), user.key, button.label, button.payload!));
      return undefined;
    },
    deliver: (inbound) => fake.deliver(inbound.request, META_DELIVERY).then(toDelivery),
    observe(call: ObservedCall): Outbound[] {
      const send = call.method === 'POST' && /\/v\d+\.\d+\/[^/]+\/messages$/.test(call.path) && !call.path.endsWith(`/${fake.wa.phoneNumberId}/messages`) && call.status === 200;
      const recipient = isObject(call.params.recipient) ? call.params.recipient.id : undefined;
      if (!send || typeof recipient !== 'string' || !isObject(call.params.message)) return [];
      return [{ userKey: recipient, content: contentOf(call.params.message) }];
    },
  };
}
