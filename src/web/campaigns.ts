/**
 * Campaigns on the browser's side (Parley's extension): the widget asks which
 * campaigns to show on a page (`GET /sdk/v2/apps/{appId}/integrations/
 * {integrationId}/campaigns?url=`, no session: the visitor has none yet), and
 * a visitor who answers one starts their session with its `campaignId`. That
 * session's conversation is opened by the campaign: `conversation:create`
 * says `proactiveMessaging` with the campaign in its source, even for an app
 * that ignores automatic starts (the visitor answered; nothing started by
 * itself), and the campaign's message becomes the conversation's first one,
 * stored as the business's, so what the visitor writes next answers it.
 * A campaign gone or switched off meanwhile is ignored: the session opens as
 * any other and the visitor can still write.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { json } from '../api/context';
import { maskContent } from '../content/card-numbers';
import { enabledCampaigns, liveCampaign } from '../db/campaigns';
import { readQuery } from '../http/request';
import type { Campaign } from '../schema/campaign';
import { webCampaignQuery } from '../schema/campaign';
import type { EventSource } from '../webhooks/events';
import { WEB } from '../../durable/conversation';
import type { ConversationInit } from '../../durable/record';
import { checkOrigin, requireWebIntegration } from './integration';

/** GET …/campaigns?url=: the integration's enabled campaigns for that page, oldest first. */
export async function list(request: IRequest, env: Env) {
  const appId = request.params.appId!;
  const integration = await requireWebIntegration(env, appId, request.params.integrationId!);
  checkOrigin(request, integration);
  const { url } = readQuery(request, webCampaignQuery);
  const campaigns = (await enabledCampaigns(env, appId, integration.id)).filter((c) => c.rules.urlContains === undefined || (url ?? '').includes(c.rules.urlContains));
  return json({ campaigns: campaigns.map((c) => ({ id: c.id, message: c.message, delaySeconds: c.rules.delaySeconds, frequency: c.frequency })) });
}

/** The campaign a new session names, if it is still one this integration shows. */
export async function answeredCampaign(env: Env, appId: string, integrationId: string, campaignId: string | undefined): Promise<Campaign | undefined> {
  return campaignId ? liveCampaign(env, appId, integrationId, campaignId) : undefined;
}

/** How a conversation opened by a campaign is announced (SourceWithCampaignWebhook). */
export function campaignStart(campaign: Campaign): { creationReason: string; source: EventSource & { integrationId: string }; announce: boolean } {
  return { creationReason: 'proactiveMessaging', source: { type: WEB, integrationId: campaign.integrationId, campaign: { id: campaign.id } }, announce: true };
}

/**
 * The campaign's message as the conversation's first: the business's, stored
 * by the conversation's object in the transaction that creates it, right
 * after `conversation:create` (so a bot greeting on that event cannot take
 * seq 1, and a failed create leaves neither), through the one path every
 * message takes (seq, index row, `conversation:message`).
 */
export function campaignMessage(campaign: Campaign, maskCards: boolean): NonNullable<ConversationInit['firstMessage']> {
  const { author, content } = campaign.message;
  return {
    author: { type: 'business', ...(author?.displayName ? { displayName: author.displayName } : {}), ...(author?.avatarUrl ? { avatarUrl: author.avatarUrl } : {}) },
    content: maskCards ? maskContent(content) : content,
    source: { type: 'campaign', integrationId: campaign.integrationId },
    metadata: { campaignId: campaign.id },
    channel: WEB,
  };
}
