/**
 * An X user sending Direct Messages to the account behind Parley's X
 * integration. Parley's setup reads the account (`/2/users/me`), registers
 * its `/hooks/{integrationId}` with X's v2 fake as the app, which runs a CRC
 * against it (`GET ?crc_token=`, answered with an HMAC of the token) before
 * it accepts the webhook, and subscribes the account. DMs are Account
 * Activity bodies built by X's fake and signed with
 * `x-twitter-webhooks-signature`, each with an event id unique across runs.
 * What Parley sends to `POST /2/dm_conversations/with/{id}/messages` becomes
 * a bubble: its text (v2 DMs have no buttons, so options arrive numbered and
 * are answered by typing the number) and, for an attachment, the media id.
 */
import type { TwitterFake, XUser } from '../../../test/fakes/twitter';
import { namedUser } from './people';
import { isObject, postWithRetries, uniqueNumber } from './wire';
import type { BubbleContent, Inbound, ObservedCall, Outbound, SimChannel, SimUser } from './types';

type Json = Record<string, any>;

/** 19 digits like X's own ids, unique across runs, and apart from the fake's (2^53 + 1 up). */
const uniqueEventId = () => String(1_500_000_000_000_000_000n + BigInt(uniqueNumber()));

const xUser = (user: SimUser): XUser => ({ id: user.key, name: user.name ?? user.label, screen_name: (user.name ?? user.label).toLowerCase().replace(/[^a-z0-9_]/g, '') || `user${user.key.slice(-4)}` });

/** One v2 DM body as X shows it: the text, and an attached upload named by its media id. */
export function contentOf(body: Json): BubbleContent {
  const attached = ((body.attachments ?? []) as unknown[]).filter(isObject).map((a) => `[media ${String(a.media_id)}]`);
  return { text: [body.text, ...attached].filter((x) => typeof x === 'string' && x).join('\n') };
}

const DM_PATH = /^\/2\/dm_conversations\/with\/(\d{1,19})\/messages$/;

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
    // No buttons; the page's numbered-options note names SMS, and X's own text already says to reply with the number.
    features: { buttons: false, location: false, numberedOptions: false },
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
    // v2 DMs carry no buttons: nothing to tap.
    tap: async () => undefined,
    // X retries a webhook that did not answer 200 (three times, over minutes).
    deliver: (inbound) => postWithRetries(async () => inbound.request.clone()),
    observe(call: ObservedCall): Outbound[] {
      const to = DM_PATH.exec(call.path)?.[1];
      if (call.method !== 'POST' || !to || call.status !== 201) return [];
      return [{ userKey: to, content: contentOf(call.params) }];
    },
  };
}
