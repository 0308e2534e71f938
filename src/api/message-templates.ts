/**
 * `/v2/apps/{appId}/templates`: a Parley extension storing business messages
 * under a name (as Sunshine v1.1's app templates did), sent by writing
 * `%((template:NAME))%` in a text message (see content/shorthand.ts and
 * api/messages.ts). App configuration, so app and account keys manage it, as
 * switchboards; an integration key (a bot) may send templates but not change
 * them.
 */
import type { IRequest } from 'itty-router';
import * as v from 'valibot';
import type { Env } from '../env';
import { expandShorthand, MAX_MESSAGES_PER_POST } from '../content/shorthand';
import { badRequest } from '../http/errors';
import { createTemplate, deleteTemplate, getTemplate, listTemplates, templateNotFound, updateTemplate } from '../db/message-templates';
import { idPage, pageEnvelope } from '../http/links';
import { parseWith, readBody, readQuery } from '../http/request';
import { ID_PATTERN } from '../ids';
import { content as contentSchema, type Content } from '../schema/content';
import { messageTemplateCreateBody, messageTemplateUpdateBody } from '../schema/message-template';
import { pageQuery, toPage } from '../schema/pagination';
import { json, managerContext } from './context';

/** Ids Parley never minted are answered without a D1 read. */
function templateIdParam(request: IRequest): string {
  const id = request.params.templateId!;
  if (!ID_PATTERN.test(id)) throw templateNotFound();
  return id;
}

const asMessageContent = v.object({ content: contentSchema });

/** A template's own shorthand must make valid messages now, not fail on every send later. */
function checkShorthand(content: Content | undefined): void {
  if (content?.type !== 'text') return;
  const parts = expandShorthand(content) ?? [];
  if (parts.length > MAX_MESSAGES_PER_POST) {
    throw badRequest(`content.${content.text !== undefined ? 'text' : 'markdownText'}: makes ${parts.length} messages; a template may make at most ${MAX_MESSAGES_PER_POST}`);
  }
  for (const part of parts) parseWith(asMessageContent, { content: part.content });
}

export async function create(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const body = await readBody(request, messageTemplateCreateBody);
  checkShorthand(body.content);
  return json({ template: await createTemplate(env, appId, body) }, 201);
}

export async function list(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const page = toPage(readQuery(request, pageQuery));
  const rows = await listTemplates(env, appId, page);
  const { items, meta } = idPage(rows, page.size, Boolean(page.before), Boolean(page.after ?? page.before));
  return json({ templates: items, ...pageEnvelope(request, meta) });
}

export async function get(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const template = await getTemplate(env, appId, templateIdParam(request));
  if (!template) throw templateNotFound();
  return json({ template });
}

export async function update(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  const id = templateIdParam(request);
  const body = await readBody(request, messageTemplateUpdateBody);
  checkShorthand(body.content);
  return json({ template: await updateTemplate(env, appId, id, body) });
}

export async function remove(request: IRequest, env: Env) {
  const appId = await managerContext(request, env);
  if (!(await deleteTemplate(env, appId, templateIdParam(request)))) throw templateNotFound();
  return json({});
}
