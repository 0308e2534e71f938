/**
 * A WhatsApp user writing to the business number of Parley's WhatsApp (Cloud
 * API) integration. Messages, locations, reply-button and list-row taps are
 * built by Meta's fake as signed `whatsapp_business_account` webhooks; what
 * Parley sends to `/{phone-number-id}/messages` becomes bubbles, interactive
 * buttons and list rows included.
 */
import type { MetaFake } from '../../../test/fakes/meta';
import { META_DELIVERY, subscribe } from './meta';
import { phoneUser } from './people';
import { isObject, jsonOf, toDelivery, uniqueNumber } from './wire';
import type { BubbleContent, Button, Inbound, ObservedCall, Outbound, SimChannel, SimUser } from './types';

const MEDIA = { image: 'image', video: 'video', audio: 'audio', document: 'file', sticker: 'image' } as const;

const waUser = (user: SimUser) => ({ waId: user.key.replace(/^\+/, ''), ...(user.name ? { name: user.name } : {}) });

function interactiveContent(i: Record<string, any>): BubbleContent {
  const content: BubbleContent = { text: i.body?.text ?? '' };
  const action = i.action ?? {};
  let buttons: Button[] = [];
  if (i.type === 'button') buttons = (action.buttons ?? []).map((b: any) => ({ label: b.reply?.title, kind: 'postback', payload: b.reply?.id }));
  if (i.type === 'list') buttons = (action.sections ?? []).flatMap((s: any) => (s.rows ?? []).map((r: any) => ({ label: r.title, kind: 'postback', payload: r.id, list: true })));
  if (i.type === 'cta_url') buttons = [{ label: action.parameters?.display_text, kind: 'link', url: action.parameters?.url }];
  if (i.type === 'location_request_message') buttons = [{ label: 'Send location', kind: 'location' }];
  if (buttons.length) content.buttons = buttons;
  return content;
}

function contentOf(body: Record<string, any>): BubbleContent | undefined {
  const type = body.type as string;
  const item = body[type] ?? {};
  if (type === 'text') return { text: item.body };
  if (type in MEDIA) return { media: { kind: MEDIA[type as keyof typeof MEDIA], url: item.link ?? `media id ${item.id}` }, ...(item.caption ? { text: item.caption } : {}) };
  if (type === 'location') return { location: { lat: item.latitude, long: item.longitude, ...(item.name ? { name: item.name } : {}), ...(item.address ? { address: item.address } : {}) } };
  if (type === 'interactive') return interactiveContent(item);
  if (type === 'template') return { text: `[template ${item.name} (${item.language?.code ?? '?'})]` };
  return undefined;
}

export function whatsappChannel(fake: MetaFake): SimChannel {
  let hookUrl = '';
  const url = () => {
    if (!hookUrl) throw new Error('the WhatsApp integration is not set up');
    return hookUrl;
  };
  /** The fake's webhook with a message id unique across runs (see wire.ts), signed again by the fake. */
  const inbound = async (built: Request): Promise<Inbound> => {
    const body = await jsonOf(built);
    const message = body.entry[0].changes[0].value.messages[0];
    message.id = `wamid.SIM${uniqueNumber()}`;
    return { request: await fake.signed(built.url, body), channelMessageId: message.id };
  };

  return {
    id: 'whatsapp',
    label: 'WhatsApp',
    integrationType: 'whatsapp',
    fake: 'meta',
    features: { buttons: true, location: true, numberedOptions: false },
    userHint: 'a phone number or a name',
    defaultUser: '+15551230002',
    createBody: (apiBaseUrl) => ({
      type: 'whatsapp',
      displayName: 'Simulator: WhatsApp',
      phoneNumberId: fake.wa.phoneNumberId,
      accessToken: fake.wa.accessToken,
      appSecret: fake.appSecret,
      apiBaseUrl,
    }),
    rearmBody: () => ({ accessToken: fake.wa.accessToken }),
    async ready(integration) {
      hookUrl = await subscribe(fake, integration);
    },
    user: (input) => phoneUser(input, '+15551230002'),
    text: (user, text) => fake.whatsapp.text(url(), waUser(user), text).then(inbound),
    location: (user, lat, long) => fake.whatsapp.location(url(), waUser(user), { latitude: lat, longitude: long }).then(inbound),
    async tap(user, button) {
      if (button.kind !== 'postback') return undefined;
      const build = button.list ? fake.whatsapp.listReply : fake.whatsapp.buttonReply;
      return inbound(await build(url(), waUser(user), button.payload!, button.label));
    },
    deliver: (inbound) => fake.deliver(inbound.request, META_DELIVERY).then(toDelivery),
    observe(call: ObservedCall): Outbound[] {
      const send = call.method === 'POST' && call.path.endsWith(`/${fake.wa.phoneNumberId}/messages`) && call.status === 200;
      if (!send || !isObject(call.params) || typeof call.params.to !== 'string') return [];
      const content = contentOf(call.params);
      return content ? [{ userKey: `+${call.params.to.replace(/^\+/, '')}`, content }] : [];
    },
  };
}
