/**
 * `GET /v2/apps/{appId}/integrations/{integrationId}/templates`: a Parley
 * extension listing a WhatsApp integration's message templates as Meta has
 * them (name, language, status, category, components), one page at a time.
 * Meta's own cursor is the page cursor, so a page is exactly Meta's page.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { channelContext } from '../channels/http';
import { channelIntegration } from '../channels/store';
import { listTemplates } from '../channels/whatsapp-templates';
import type { WhatsAppConfig } from '../channels/whatsapp';
import { badRequest, notFound } from '../http/errors';
import { pageEnvelope } from '../http/links';
import { readQuery } from '../http/request';
import { ID_PATTERN } from '../ids';
import { appContext, json } from './context';

const filter = (max: number) => v.optional(v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(max, `must be at most ${max} characters`)));

export const templateListQuery = v.object({
  name: filter(512),
  language: filter(16),
  status: v.optional(v.picklist(['APPROVED', 'PENDING', 'REJECTED', 'PAUSED', 'DISABLED', 'IN_APPEAL', 'PENDING_DELETION', 'DELETED', 'LIMIT_EXCEEDED'], 'must be a Meta template status such as APPROVED')),
  category: v.optional(v.picklist(['MARKETING', 'UTILITY', 'AUTHENTICATION'], 'must be MARKETING, UTILITY or AUTHENTICATION')),
  // Meta's cursors are opaque base64 strings, not Parley ids.
  'page[after]': filter(1024),
  'page[size]': v.optional(
    v.pipe(v.string(), v.regex(/^\d+$/, 'must be an integer between 1 and 100'), v.transform(Number), v.minValue(1, 'must be an integer between 1 and 100'), v.maxValue(100, 'must be an integer between 1 and 100')),
  ),
});

export async function list(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const id = request.params.integrationId!;
  const integration = ID_PATTERN.test(id) ? await channelIntegration(env, id) : undefined;
  if (!integration || integration.appId !== appId) throw notFound('integration_not_found', 'Integration not found');
  if (integration.type !== 'whatsapp') throw badRequest(`integrationId: templates are listed for whatsapp integrations, not ${integration.type}`);
  const query = readQuery(request, templateListQuery);
  const config = integration.config as WhatsAppConfig;
  const ctx = channelContext(env, integration.adapter, config, integration.webhookUrl);
  const page = await listTemplates(ctx.fetch, config, {
    limit: query['page[size]'] ?? 25,
    ...(query.name ? { name: query.name } : {}),
    ...(query.language ? { language: query.language } : {}),
    ...(query.status ? { status: query.status } : {}),
    ...(query.category ? { category: query.category } : {}),
    ...(query['page[after]'] ? { after: query['page[after]'] } : {}),
  });
  return json({ templates: page.templates, ...pageEnvelope(request, { hasMore: page.hasMore, ...(page.afterCursor ? { afterCursor: page.afterCursor } : {}) }) });
}
