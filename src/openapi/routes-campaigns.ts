/**
 * Campaigns (Parley's extension, all marked `x-parley-extension: true`): the
 * business messages the Web Messenger shows visitors before they write, and
 * which open a conversation with `creationReason: proactiveMessaging` when
 * answered. The browser's side (the widget's list, a session's `campaignId`)
 * is described with the other `/sdk` routes in routes-web.ts.
 */
import { campaignCreateBody, campaignEnvelope, campaignsEnvelope, campaignUpdateBody, CAMPAIGN_LIMITS } from '../schema/campaign';
import { pageQuery } from '../schema/pagination';
import { envelopes as e } from '../schema/views';
import { extensions, json, type Route } from './route';

const CAMPAIGNS = '/v2/apps/{appId}/campaigns';
const ONE = `${CAMPAIGNS}/{campaignId}`;
const WHO = 'App and account keys; integration keys are refused (403), as for the app\'s other configuration.';

export const campaignRoutes: Route[] = extensions([
  {
    method: 'post',
    path: CAMPAIGNS,
    tag: 'Campaigns',
    summary: 'Create a campaign',
    description:
      `A business message (text or image; buttons reply, postback, link, webview) the Web Messenger of one \`web\` integration shows visitors before they write, on pages whose URL contains \`rules.urlContains\`, after \`rules.delaySeconds\` (0–${CAMPAIGN_LIMITS.maxDelaySeconds}), \`oncePerVisitor\` or on \`everyPageLoad\`. ` +
      `A visitor who answers it opens a conversation whose \`conversation:create\` has \`creationReason: proactiveMessaging\` and \`source.campaign.id\`, and whose first message is the campaign's. At most ${CAMPAIGN_LIMITS.perApp} per app. ${WHO}`,
    auth: 'api',
    body: campaignCreateBody,
    ok: json(campaignEnvelope, 'Created', 201),
  },
  { method: 'get', path: CAMPAIGNS, tag: 'Campaigns', summary: 'List campaigns', description: `In id order, with cursor pagination. ${WHO}`, auth: 'api', query: pageQuery, ok: json(campaignsEnvelope, 'The campaigns') },
  { method: 'get', path: ONE, tag: 'Campaigns', summary: 'Get a campaign', description: WHO, auth: 'api', ok: json(campaignEnvelope, 'The campaign') },
  {
    method: 'patch',
    path: ONE,
    tag: 'Campaigns',
    summary: 'Update a campaign',
    description: `Any field of the create body; a given \`message\` or \`rules\` replaces the stored one, \`metadata: null\` clears it. Widgets see a change within 30 seconds. ${WHO}`,
    auth: 'api',
    body: campaignUpdateBody,
    ok: json(campaignEnvelope, 'The campaign as it now is'),
  },
  {
    method: 'delete',
    path: ONE,
    tag: 'Campaigns',
    summary: 'Delete a campaign',
    description: `Conversations it opened keep its message; a visitor answering it afterwards starts an ordinary session. ${WHO}`,
    auth: 'api',
    ok: json(e.empty, 'Deleted'),
  },
]);
