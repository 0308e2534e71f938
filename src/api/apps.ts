/** `/v2/apps`: create, list, get, update and delete apps (account key; get and update also app keys). */
import type { IRequest } from 'itty-router';
import { deleteUploads } from './attachments';
import { deleteChannelMedia } from '../channels/media';
import type { Env } from '../env';
import { authenticate, requireAccount, requireAppOrAccount } from '../auth/authenticate';
import { createApp, deleteApp, getApp, listApps, queueAppPurge, updateApp } from '../db/apps';
import { badRequest, notFound } from '../http/errors';
import { idPage, pageEnvelope } from '../http/links';
import { parseWith, readBody, readQuery } from '../http/request';
import { appCreateBody, appListQuery, appUpdateBody } from '../schema/app';
import { pageQuery, toPage } from '../schema/pagination';
import { appContext, json } from './context';

export async function create(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  const body = await readBody(request, appCreateBody);
  return json({ app: await createApp(env, body) }, 201);
}

export async function list(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  const filter = readQuery(request, appListQuery);
  const page = toPage(parseWith(pageQuery, pickPage(request)));
  // Parley has no service accounts, so filtering by one matches nothing.
  const rows = filter['filter[serviceAccountId]'] ? [] : await listApps(env, page);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  return json({ apps: items, ...pageEnvelope(request, meta) });
}

export async function get(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const app = await getApp(env, appId);
  if (!app) throw notFound('app_not_found', 'App not found');
  return json({ app });
}

export async function update(request: IRequest, env: Env) {
  const { appId, principal } = await appContext(request, env);
  requireAppOrAccount(principal);
  const body = await readBody(request, appUpdateBody);
  const app = await getApp(env, appId);
  if (!app) throw notFound('app_not_found', 'App not found');
  if (app.settings.multiConvoEnabled && body.settings?.multiConvoEnabled === false) {
    throw badRequest('settings.multiConvoEnabled: cannot be turned off once enabled');
  }
  const next = {
    ...app,
    ...(body.displayName !== undefined ? { displayName: body.displayName } : {}),
    settings: { ...app.settings, ...body.settings },
    ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
  };
  await updateApp(env, next);
  return json({ app: next });
}

export async function remove(request: IRequest, env: Env) {
  requireAccount(await authenticate(request, env));
  const appId = request.params.appId!;
  if (!(await getApp(env, appId))) throw notFound('app_not_found', 'App not found');
  await queueAppPurge(env, appId);
  await deleteApp(env, appId);
  await deleteUploads(env, appId);
  await deleteChannelMedia(env, appId);
  return json({});
}

/** The page[...] subset of the query string, so list filters and page cursors are parsed by their own schemas. */
export function pickPage(request: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URL(request.url).searchParams) if (k.startsWith('page[')) out[k] = v;
  return out;
}
