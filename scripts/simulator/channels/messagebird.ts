/**
 * A person texting the virtual mobile number behind Parley's MessageBird
 * integration. MessageBird has no API to point a number at a URL (its Flow
 * Builder forwards texts to the integration's `webhookUrl`), so the
 * simulator plays the flow: MessageBird's fake builds each text as the
 * flow's JSON POST, signed with `MessageBird-Signature-JWT`. SMS has no
 * buttons: Parley sends options as a numbered list and maps a typed number
 * back. Each message Parley sends to `/messages` then plays MessageBird's
 * status reports (sent, delivered): signed GETs to the message's reportUrl.
 */
import type { MessageBirdFake } from '../../../test/fakes/messagebird';
import { phoneUser } from './people';
import { isObject, jsonOf, postOnce } from './wire';
import type { ObservedCall, Outbound, SimChannel } from './types';

export function messagebirdChannel(fake: MessageBirdFake): SimChannel {
  let hookUrl = '';
  const url = () => {
    if (!hookUrl) throw new Error('the MessageBird integration is not set up');
    return hookUrl;
  };

  return {
    id: 'messagebird',
    label: 'MessageBird',
    integrationType: 'messagebird',
    fake: 'messagebird',
    features: { buttons: false, location: false, numberedOptions: true },
    userHint: 'a phone number, e.g. +31612340001',
    defaultUser: '+31612340001',
    createBody: (apiBaseUrl) => ({
      type: 'messagebird',
      displayName: 'Simulator: MessageBird SMS',
      accessKey: fake.accessKey,
      signingKey: fake.signingKey,
      originator: `+${fake.number}`,
      apiBaseUrl,
    }),
    // Setup proves the access key again (GET /balance) against the fresh fake.
    rearmBody: () => ({ accessKey: fake.accessKey }),
    async ready(integration) {
      if (!integration.webhookUrl) throw new Error(`integration ${integration.id} has no webhookUrl to forward texts to`);
      hookUrl = integration.webhookUrl;
    },
    user: (input) => phoneUser(input, '+31612340001'),
    async text(user, text) {
      // The fake's message ids are random: unique across runs, as Parley's dedupe needs.
      const request = await fake.text(url(), user.key, text);
      return { request, channelMessageId: String((await jsonOf(request)).id) };
    },
    // Nothing to tap on SMS; options arrive as a numbered list.
    tap: async () => undefined,
    deliver: (inbound) => postOnce(inbound.request),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || call.path !== '/messages' || call.status !== 201 || !isObject(call.result) || typeof call.result.id !== 'string') return [];
      const id = call.result.id;
      // MessageBird reports only messages that carry a reference, and like MessageBird, after the send has answered.
      if (typeof call.params.reportUrl === 'string' && typeof call.params.reference === 'string') {
        setTimeout(() => {
          void fake
            .progress(id, ['sent', 'delivered'])
            .then((answers) => Promise.all(answers.map((a) => a.arrayBuffer())))
            .catch(() => undefined);
        }, 300).unref?.();
      }
      const recipients = ([] as unknown[]).concat(call.params.recipients ?? []).map(String);
      return recipients.map((r) => ({ userKey: `+${r.replace(/^\+/, '')}`, content: { text: String(call.params.body ?? '') } }));
    },
  };
}
