/**
 * An X user sending Direct Messages to the account behind Parley's X
 * integration. Parley's setup reads the account, registers its
 * `/hooks/{integrationId}` with X's fake, which runs a CRC against it
 * (`GET ?crc_token=`, answered with an HMAC of the token) before it accepts
 * the webhook, and subscribes the account. DMs and taps on a quick reply
 * option (the label as text, the option's metadata returned) are Account
 * Activity bodies built by X's fake and signed with
 * `x-twitter-webhooks-signature`, each with an event id unique across runs.
 * What Parley sends to `direct_messages/events/new` becomes bubbles: the
 * text, its quick reply options and its ctas (URL buttons) as buttons.
 */
import type { TwitterFake, XUser } from '../../../test/fakes/twitter';
import { namedUser } from './people';
import { isObject, postWithRetries, uniqueNumber } from './wire';
import type { BubbleContent, Button, Inbound, ObservedCall, Outbound, SimChannel, SimUser } from './types';

type Json = Record<string, any>;

/** 19 digits like X's own ids, unique across runs, and apart from the fake's (2^53 + 1 up). */
const uniqueEventId = () => String(1_500_000_000_000_000_000n + BigInt(uniqueNumber()));

const xUser = (user: SimUser): XUser => ({ id: user.key, name: user.name ?? user.label, screen_name: (user.name ?? user.label).toLowerCase().replace(/[^a-z0-9_]/g, '') || `user${user.key.slice(-4)}` });

/** One DM's message_data as X shows it: quick reply options under the text, ctas as URL buttons. */
export function contentOf(data: Json): BubbleContent {
  const options = ((data.quick_reply?.options ?? []) as unknown[]).filter(isObject).map((o): Button => ({ label: String(o.label), kind: 'reply', ...(o.metadata !== undefined ? { payload: String(o.metadata) } : {}) }));
  const ctas = ((data.ctas ?? []) as unknown[]).filter(isObject).map((c): Button => ({ label: String(c.label), kind: 'link', url: String(c.url) }));
  const buttons = [...options, ...ctas];
  return { text: String(data.text ?? ''), ...(buttons.length ? { buttons } : {}) };
}

export function xChannel(fake: TwitterFake): SimChannel {
  const hookUrl = () => {
    const hook = [...fake.webhooks.values()].find((h) => h.valid);
    if (!hook) throw new Error('Parley has not registered an Account Activity webhook with the simulator');
    return hook.url;
  };
  const built = async (id: string, request: Promise<Request>): Promise<Inbound> => ({ request: await request, channelMessageId: id });

  return {
    id: 'x',
    label: 'X',
    integrationType: 'twitter',
    fake: 'twitter',
    features: { buttons: true, location: false, numberedOptions: false },
    userHint: 'a name, e.g. Fay',
    defaultUser: 'Fay',
    createBody: (apiBaseUrl) => ({
      type: 'twitter',
      displayName: 'Simulator: X',
      tier: 'enterprise',
      consumerKey: fake.consumerKey,
      consumerSecret: fake.consumerSecret,
      accessTokenKey: fake.accessToken,
      accessTokenSecret: fake.accessTokenSecret,
      apiBaseUrl,
    }),
    // The same token: setup runs again, so the fresh fake gets the webhook (after its CRC) and the subscription.
    rearmBody: () => ({ accessTokenKey: fake.accessToken, accessTokenSecret: fake.accessTokenSecret }),
    async ready(integration) {
      if (![...fake.webhooks.values()].some((h) => h.valid && h.url === integration.webhookUrl)) throw new Error(`Parley has not registered ${integration.webhookUrl} with X`);
      if (![...fake.subscriptions].some((s) => s.endsWith(`:${fake.account.id_str}`))) throw new Error(`Parley has not subscribed @${fake.account.screen_name} to its webhook`);
    },
    user: (input) => namedUser(input, 'Fay', 19),
    async text(user, text) {
      const id = uniqueEventId();
      return built(id, fake.text(hookUrl(), xUser(user), text, { id }));
    },
    async tap(user, button) {
      if (button.kind !== 'reply') return undefined;
      const id = uniqueEventId();
      return built(id, fake.tap(hookUrl(), xUser(user), button.label, { id }));
    },
    // X retries a webhook that did not answer 200 (three times, over minutes).
    deliver: (inbound) => postWithRetries(async () => inbound.request.clone()),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || call.path !== '/1.1/direct_messages/events/new.json' || call.status !== 200) return [];
      const create = isObject(call.params.event) ? call.params.event.message_create : undefined;
      const to = create?.target?.recipient_id;
      if (typeof to !== 'string' || !isObject(create.message_data)) return [];
      return [{ userKey: to, content: contentOf(create.message_data) }];
    },
  };
}
