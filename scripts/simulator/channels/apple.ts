/**
 * A customer writing to the business behind Parley's Apple Messages for
 * Business integration. Apple needs no setup call: Parley's
 * `/hooks/{integrationId}` is the MSP endpoint Apple posts to. Texts and
 * answers to list pickers (the picker with the selected items) and quick
 * replies (the selected identifier) are built by Apple's fake: gzipped, with
 * Apple's routing headers, signed with a bearer JWT. Every request carries
 * the device's `capability-list`; the tab's switch takes LIST and QUICK out
 * of it, as on an older device, and Parley then writes the options into the
 * text instead. What Parley sends to `/v1/message` becomes bubbles: text, a
 * list picker as a card with its items as buttons, a quick reply's items as
 * buttons, a rich link as a card with its link.
 */
import { EVERY_CAPABILITY, type AppleCustomer, type AppleFake } from '../../../test/fakes/apple';
import { appleUser } from './people';
import { isObject, postWithRetries } from './wire';
import type { BubbleContent, Button, DeviceSetting, Inbound, ObservedCall, Outbound, SimChannel, SimUser } from './types';

type Json = Record<string, any>;

/** Where a button came from, for the answer its tap makes. */
type From = 'listPicker' | 'quick-reply';

/** One interactive message: a list picker as a card with its items, a quick reply as its items. */
function interactiveContent(d: Json): BubbleContent {
  const data = isObject(d.data) ? d.data : {};
  if (isObject(data.listPicker)) {
    const sections = ((data.listPicker.sections ?? []) as unknown[]).filter(isObject);
    const buttons = sections.flatMap((s) =>
      ((s.items ?? []) as unknown[]).filter(isObject).map((i): Button => ({ label: String(i.title), kind: 'postback', payload: String(i.identifier), card: 0, context: 'listPicker' satisfies From })),
    );
    const subtitle = sections.map((s) => s.title).filter(Boolean).join('\n');
    return { cards: [{ title: String(d.receivedMessage?.title ?? 'Choose'), ...(subtitle ? { subtitle } : {}) }], buttons };
  }
  const quick = data['quick-reply'];
  if (isObject(quick)) {
    // The items show under the conversation; the text before them was its own message.
    return { buttons: ((quick.items ?? []) as unknown[]).filter(isObject).map((i): Button => ({ label: String(i.title), kind: 'reply', payload: String(i.identifier), context: 'quick-reply' satisfies From })) };
  }
  return { text: String(d.receivedMessage?.title ?? '[interactive message]') };
}

/** One `/v1/message` body as Messages shows it; typing indicators show nothing. */
export function contentOf(body: Json): BubbleContent | undefined {
  switch (body.type) {
    case 'text':
      return { text: String(body.body ?? '').replace(/\uFFFC/g, '') };
    case 'interactive':
      return interactiveContent(isObject(body.interactiveData) ? body.interactiveData : {});
    case 'richLink': {
      const link = isObject(body.richLinkData) ? body.richLinkData : {};
      return { cards: [{ title: String(link.title ?? ''), subtitle: String(link.url ?? '') }], buttons: [{ label: 'Open', kind: 'link', url: String(link.url ?? ''), card: 0 }] };
    }
    default:
      return undefined;
  }
}

export function appleChannel(fake: AppleFake): SimChannel {
  let hookUrl = '';
  const url = () => {
    if (!hookUrl) throw new Error('the Apple Messages for Business integration is not set up');
    return hookUrl;
  };
  const setting: DeviceSetting = {
    label: 'Device shows list pickers and quick replies',
    note: "Apple sends the device's capability list with every message; Parley keeps the one from a customer's first message, so switch before a new person writes.",
    on: true,
  };
  const customer = (user: SimUser): AppleCustomer => ({ id: user.key, capabilities: setting.on ? EVERY_CAPABILITY : EVERY_CAPABILITY.filter((c) => c !== 'LIST' && c !== 'QUICK') });
  /** Apple's message id is the request's `id` header, a fresh UUID. */
  const inbound = async (request: Promise<Request>): Promise<Inbound> => {
    const built = await request;
    return { request: built, channelMessageId: built.headers.get('id')! };
  };

  return {
    id: 'apple',
    label: 'Apple Messages',
    integrationType: 'apple',
    fake: 'apple',
    features: { buttons: true, location: false, numberedOptions: false },
    userHint: 'a name, e.g. Hana',
    defaultUser: 'Hana',
    setting,
    createBody: (apiBaseUrl) => ({ type: 'apple', displayName: 'Simulator: Apple Messages', businessId: fake.businessId, mspId: fake.mspId, apiSecret: fake.apiSecret, apiBaseUrl }),
    // Nothing to set up again: Apple keeps no state about the MSP, and the fake's ids and secret are fixed.
    rearmBody: () => ({ displayName: 'Simulator: Apple Messages' }),
    async ready(integration) {
      if (!integration.webhookUrl) throw new Error(`integration ${integration.id} has no webhookUrl for Apple to post to`);
      hookUrl = integration.webhookUrl;
    },
    user: (input) => appleUser(input, 'Hana'),
    text: (user, text) => inbound(fake.text(url(), customer(user), text)),
    async tap(user, button) {
      if (button.context === 'listPicker') return inbound(fake.listPickerReply(url(), customer(user), [button.label]));
      if (button.context === 'quick-reply') return inbound(fake.quickReply(url(), customer(user), button.label));
      return undefined;
    },
    deliver: (inbound) => postWithRetries(async () => inbound.request.clone()),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || call.path !== '/v1/message' || call.status !== 200 || typeof call.params.destinationId !== 'string') return [];
      const content = contentOf(call.params);
      return content ? [{ userKey: call.params.destinationId, content }] : [];
    },
  };
}
