/**
 * Apple Messages for Business, outbound encoding (the adapter is apple.ts):
 * one rendered part becomes the `/v1/message` bodies Apple takes, chosen by
 * what the customer's device said it supports (its `capability-list`, kept
 * in the client's raw). Postback buttons become a list picker (LIST), quick
 * replies a quick reply (QUICK, 2 to 5 items), links rich links (every
 * device shows them). A device without LIST or QUICK gets the same options
 * as text, deterministically: postbacks as lines numbered by their choice,
 * quick replies as their labels. The conversation maps a typed label back to
 * the reply, and a typed number to the option of that number, although the
 * renderer recorded those postbacks as shown natively (capabilities are per
 * channel, not per device). A quick reply's identifier is the renderer's choice number:
 * Apple's answer carries only the identifier, and the conversation's record
 * of the choice supplies the label the answer is stored with. A list picker
 * stays in the transcript and may be answered after newer options were
 * offered, so its items carry their payload (`<choice>:<payload>`) and a late
 * pick still means what it said (the answer names the item's title).
 */
import type { Button, Part, QuickReply } from './adapter';
import { NUMBERED_HINT } from './render';

/** The Apple Messages for Business extension every Apple-built interactive message names. */
export const BUSINESS_BID = 'com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension';
export const QUICK_REPLY_MIN = 2;
export const QUICK_REPLY_MAX = 5;
const TITLE_MAX = 85;

export type Body = Record<string, unknown>;

/** The device's capabilities as Apple listed them on the customer's messages (case-insensitive, comma separated). */
export function capabilitiesOf(raw: Record<string, unknown> | null | undefined): Set<string> {
  const list = raw?.capabilityList;
  return new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string').map((x) => x.trim().toUpperCase()) : []);
}

export const parseCapabilityList = (header: string | null): string[] =>
  (header ?? '')
    .split(',')
    .map((x) => x.trim().toUpperCase())
    .filter(Boolean);

const truncate = (s: string, max: number) => (s.length <= max ? s : `${s.slice(0, max - 1)}…`);
const firstLine = (s: string) => s.split('\n')[0]!.trim();

function listPicker(text: string, postbacks: Extract<Button, { kind: 'postback' }>[], requestIdentifier: string): Body {
  return {
    type: 'interactive',
    interactiveData: {
      bid: BUSINESS_BID,
      data: {
        version: '1.0',
        requestIdentifier,
        listPicker: {
          sections: [
            {
              order: 0,
              title: truncate(firstLine(text) || 'Options', TITLE_MAX),
              multipleSelection: false,
              items: postbacks.map((b, i) => ({ identifier: `${b.choice}:${b.payload}`, order: i, style: 'default', title: b.text })),
            },
          ],
        },
      },
      receivedMessage: { title: truncate(firstLine(text) || 'Choose an option', TITLE_MAX), style: 'small' },
      replyMessage: { title: 'Selected', style: 'small' },
    },
  };
}

function quickReply(text: string, replies: QuickReply[], requestIdentifier: string): Body {
  return {
    type: 'interactive',
    interactiveData: {
      bid: BUSINESS_BID,
      data: {
        version: '1.0',
        requestIdentifier,
        'quick-reply': { summaryText: truncate(text, 300), items: replies.map((r) => ({ identifier: String(r.choice), title: r.text })) },
      },
    },
  };
}

const richLink = (b: Extract<Button, { kind: 'link' }>): Body => ({ type: 'richLink', richLinkData: { url: b.uri, title: b.text } });

/**
 * The bodies one text part becomes, in order: the text (with any options the
 * device cannot show natively written into it), then the list picker, the
 * quick reply, one rich link per link button. `requestId(i)` names the i-th
 * interactive request stably across retries.
 */
export function encodeText(part: Extract<Part, { kind: 'text' }>, caps: Set<string>, requestId: (i: number) => string): Body[] {
  const postbacks = part.buttons.filter((b): b is Extract<Button, { kind: 'postback' }> => b.kind === 'postback');
  const links = part.buttons.filter((b): b is Extract<Button, { kind: 'link' }> => b.kind === 'link');
  const nativeList = postbacks.length > 0 && caps.has('LIST');
  const nativeQuick = part.replies.length >= QUICK_REPLY_MIN && part.replies.length <= QUICK_REPLY_MAX && caps.has('QUICK');
  const lines: string[] = [part.text];
  if (postbacks.length && !nativeList) lines.push(postbacks.map((b) => `${b.choice}. ${b.text}`).join('\n'), NUMBERED_HINT);
  if (part.replies.length && !nativeQuick) lines.push(part.replies.map((r) => r.text).join('\n'));
  const bodies: Body[] = [{ type: 'text', body: lines.filter(Boolean).join('\n\n') }];
  if (nativeList) bodies.push(listPicker(part.text, postbacks, requestId(bodies.length)));
  if (nativeQuick) bodies.push(quickReply(part.text, part.replies, requestId(bodies.length)));
  bodies.push(...links.map(richLink));
  return bodies;
}
