/**
 * `/v2/apps/{appId}/campaigns` (Parley's extension): create, list, read,
 * change and delete the app's campaigns, the business messages the Web
 * Messenger shows visitors before they write (src/web/campaigns.ts). App
 * configuration like integrations and the switchboard, so app and account
 * keys only: an integration key speaks for one integration's traffic, not
 * for what every visitor of the app's sites is shown.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { campaignNotFound, createCampaign, deleteCampaign, getCampaign, listCampaigns, updateCampaign } from '../db/campaigns';
import { idPage, pageEnvelope } from '../http/links';
import { readBody, readQuery } from '../http/request';
import { ID_PATTERN } from '../ids';
import { campaignCreateBody, campaignUpdateBody } from '../schema/campaign';
import { pageQuery, toPage } from '../schema/pagination';
import { json, managerContext } from './context';

/** Ids Parley never minted are answered without a D1 read. */
function campaignIdParam(request: IRequest): string {
  const id = request.params.campaignId!;
  if (!ID_PATTERN.test(id)) throw campaignNotFound();
  return id;
}

export async function create(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const body = await readBody(request, campaignCreateBody);
  return json({ campaign: await createCampaign(env, appId, body) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const page = toPage(readQuery(request, pageQuery));
  const rows = await listCampaigns(env, appId, page);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  return json({ campaigns: items, ...pageEnvelope(request, meta) });
}

export async function get(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const campaign = await getCampaign(env, appId, campaignIdParam(request));
  if (!campaign) throw campaignNotFound();
  return json({ campaign });
}

export async function update(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const id = campaignIdParam(request);
  const body = await readBody(request, campaignUpdateBody);
  return json({ campaign: await updateCampaign(env, appId, id, body) });
}

export async function remove(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  if (!(await deleteCampaign(env, appId, campaignIdParam(request)))) throw campaignNotFound();
  return json({});
}
