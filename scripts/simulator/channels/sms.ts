/**
 * A person texting the Twilio number behind Parley's Twilio integration.
 * Parley's setup registers the number's "A message comes in" URL with the
 * fake, which is where the fake's signed (X-Twilio-Signature) SMS webhooks go.
 * SMS has no buttons: Parley sends options as a numbered list and maps a typed
 * number back, so the person simply answers "1". Each message Parley sends
 * then plays Twilio's status callbacks (sent, delivered).
 */
import type { TwilioFake } from '../../../test/fakes/twilio';
import { phoneUser } from './people';
import { formOf, isObject, postOnce } from './wire';
import type { ObservedCall, Outbound, SimChannel } from './types';

export function smsChannel(fake: TwilioFake): SimChannel {
  const [numberSid] = [...fake.phoneNumbers.keys()];
  const hookUrl = () => {
    const url = fake.phoneNumbers.get(numberSid!)?.smsUrl;
    if (!url) throw new Error("Parley has not set the Twilio number's incoming message URL on the simulator");
    return url;
  };

  return {
    id: 'sms',
    label: 'SMS (Twilio)',
    integrationType: 'twilio',
    fake: 'twilio',
    features: { buttons: false, location: false, numberedOptions: true },
    userHint: 'a phone number, e.g. +15551230001',
    defaultUser: '+15551230001',
    createBody: (apiBaseUrl) => ({ type: 'twilio', displayName: 'Simulator: SMS', accountSid: fake.accountSid, authToken: fake.authToken, phoneNumberSid: numberSid, apiBaseUrl }),
    rearmBody: () => ({ authToken: fake.authToken }),
    async ready() {
      hookUrl();
    },
    user: (input) => phoneUser(input, '+15551230001'),
    async text(user, text) {
      const request = await fake.text(hookUrl(), { from: user.key }, text);
      return { request, channelMessageId: (await formOf(request)).get('MessageSid')! };
    },
    // Nothing to tap on SMS; options arrive as a numbered list.
    tap: async () => undefined,
    deliver: (inbound) => postOnce(inbound.request),
    observe(call: ObservedCall): Outbound[] {
      if (call.method !== 'POST' || !call.path.endsWith('/Messages.json') || call.status !== 201 || !isObject(call.result)) return [];
      const sent = call.result as { sid: string; to: string; body: string };
      if (typeof call.params.StatusCallback === 'string') {
        // Like Twilio, the receipts come after the API call has answered.
        setTimeout(() => void fake.progress(sent.sid).catch(() => undefined), 300).unref?.();
      }
      const media = ([] as unknown[]).concat(call.params.MediaUrl ?? []).filter((u): u is string => typeof u === 'string');
      const kind = (url: string) => (/\.(png|jpe?g|gif|webp)(\?|$)/i.test(url) ? ('image' as const) : ('file' as const));
      if (media.length === 0) return [{ userKey: sent.to, content: { text: sent.body } }];
      // An MMS: the body rides with the first picture.
      return media.map((url, i) => ({ userKey: sent.to, content: { media: { kind: kind(url), url }, ...(i === 0 && sent.body ? { text: sent.body } : {}) } }));
    },
  };
}
