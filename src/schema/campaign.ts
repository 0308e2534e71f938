/**
 * Campaigns (Parley's extension, like Zendesk's proactive messages): a
 * business message the Web Messenger shows a visitor before any conversation
 * exists; a visitor who answers it opens the conversation with
 * `creationReason: proactiveMessaging`. Here: the REST bodies, the stored and
 * answered shape, and what the browser's `/sdk` list takes and gets. A
 * campaign's content is only what the widget draws for a business message
 * with no conversation behind it yet: text or an image, with buttons that
 * answer (reply, postback) or open a page (link, webview).
 */
import * as v from 'valibot';
import { boundedString, metadata, objectId, uri } from './common';
import { imageContent, textContent } from './content';
import { pageLinks, pageMeta } from './views';

export const CAMPAIGN_LIMITS = { perApp: 50, maxDelaySeconds: 3600, urlChars: 2048 } as const;

const ACTION_TYPES = ['reply', 'postback', 'link', 'webview'] as const;

/** Index of the first action the widget cannot offer before a conversation exists (buy needs one, locationRequest a channel). */
const badAction = (c: { actions?: readonly { type: string }[] }) => (c.actions ?? []).findIndex((a) => !(ACTION_TYPES as readonly string[]).includes(a.type));
const badActionTitle = (c: { actions?: readonly { type: string }[] }) => {
  const i = badAction(c);
  return `message.content.actions[${i}].type: a campaign's buttons are ${ACTION_TYPES.join(', ')}, not ${c.actions?.[i]?.type}`;
};

export const campaignContent = v.variant(
  'type',
  [
    v.pipe(textContent, v.check((c) => badAction(c) < 0, (issue) => badActionTitle(issue.input))),
    v.pipe(imageContent, v.check((c) => badAction(c) < 0, (issue) => badActionTitle(issue.input))),
  ],
  'must be text or image (what the Web Messenger shows as a campaign)',
);

const campaignAuthor = v.object({
  displayName: v.optional(boundedString(1, 100)),
  avatarUrl: v.optional(uri()),
});

export const campaignMessage = v.object({ author: v.optional(campaignAuthor), content: campaignContent });
export type CampaignMessage = v.InferOutput<typeof campaignMessage>;

const delaySeconds = v.pipe(
  v.number('must be a number of seconds'),
  v.integer('must be a whole number of seconds'),
  v.minValue(0, `must be between 0 and ${CAMPAIGN_LIMITS.maxDelaySeconds}`),
  v.maxValue(CAMPAIGN_LIMITS.maxDelaySeconds, `must be between 0 and ${CAMPAIGN_LIMITS.maxDelaySeconds}`),
);

const rulesInput = v.object({
  urlContains: v.optional(boundedString(1, 512)),
  delaySeconds: v.optional(delaySeconds),
});

export const FREQUENCIES = ['oncePerVisitor', 'everyPageLoad'] as const;
const frequency = v.picklist(FREQUENCIES, `must be ${FREQUENCIES.join(' or ')}`);

export const campaignCreateBody = v.object({
  displayName: boundedString(1, 100),
  integrationId: objectId,
  message: campaignMessage,
  enabled: v.optional(v.boolean('must be a boolean')),
  rules: v.optional(rulesInput),
  frequency: v.optional(frequency),
  metadata: v.optional(v.nullable(metadata)),
});
export type CampaignCreate = v.InferOutput<typeof campaignCreateBody>;

/** PATCH: any field of the create body; a given `rules` or `message` replaces the stored one, `metadata: null` clears it. */
export const campaignUpdateBody = v.object({
  displayName: v.optional(campaignCreateBody.entries.displayName),
  integrationId: v.optional(objectId),
  message: v.optional(campaignMessage),
  enabled: v.optional(v.boolean('must be a boolean')),
  rules: v.optional(rulesInput),
  frequency: v.optional(frequency),
  metadata: v.optional(v.nullable(metadata)),
});
export type CampaignUpdate = v.InferOutput<typeof campaignUpdateBody>;

// ---- answers ------------------------------------------------------------------

const text = v.string();
const rulesView = v.object({ urlContains: v.optional(text), delaySeconds: v.number() });
const messageView = v.object({ author: v.optional(v.object({ displayName: v.optional(text), avatarUrl: v.optional(text) })), content: v.looseObject({ type: text }) });

export const campaignView = v.object({
  id: text,
  displayName: text,
  integrationId: text,
  enabled: v.boolean(),
  message: messageView,
  rules: rulesView,
  frequency: v.picklist(FREQUENCIES),
  metadata: v.nullable(v.record(v.string(), v.union([v.string(), v.number(), v.boolean()]))),
  createdAt: text,
  updatedAt: text,
});
export type Campaign = Omit<v.InferOutput<typeof campaignView>, 'message'> & { message: CampaignMessage };
export const campaignEnvelope = v.object({ campaign: campaignView });
export const campaignsEnvelope = v.object({ campaigns: v.array(campaignView), meta: pageMeta, links: pageLinks });

// ---- the browser's list -------------------------------------------------------------

/** `url`: the page the widget is on; a campaign with `urlContains` is shown only where that text is in it. */
export const webCampaignQuery = v.object({
  url: v.optional(v.pipe(v.string('must be a string'), v.maxLength(CAMPAIGN_LIMITS.urlChars, `must be at most ${CAMPAIGN_LIMITS.urlChars} characters long`))),
});

export const webCampaignView = v.object({ id: text, message: messageView, delaySeconds: v.number(), frequency: v.picklist(FREQUENCIES) });
export const webCampaigns = v.object({ campaigns: v.array(webCampaignView) });
