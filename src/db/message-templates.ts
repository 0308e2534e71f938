/**
 * An app's stored message templates in D1 (migration 0014). Managed through
 * `/v2/apps/{appId}/templates`; read on the send path only by
 * `templatesByName`, and only for a text that names a template, so ordinary
 * sends cost no query. Nothing is cached: a template changed between two
 * sends is sent as changed.
 */
import type { Env } from '../env';
import { badRequest, conflict, notFound } from '../http/errors';
import { newId } from '../ids';
import type { Content } from '../schema/content';
import {
  MESSAGE_TEMPLATE_LIMITS,
  type MessageTemplate,
  type MessageTemplateCreate,
  type MessageTemplateUpdate,
} from '../schema/message-template';
import type { Page } from '../schema/pagination';
import { orAppGone } from './app-gone';

export const templateNotFound = () => notFound('template_not_found', 'Template not found');

interface TemplateRow {
  id: string;
  name: string;
  content: string;
  metadata: string | null;
  created_at: string;
  updated_at: string;
}

const toTemplate = (r: TemplateRow): MessageTemplate => ({
  id: r.id,
  name: r.name,
  content: JSON.parse(r.content) as Content,
  metadata: r.metadata ? (JSON.parse(r.metadata) as MessageTemplate['metadata']) : null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const nameTaken = (err: unknown) => err instanceof Error && /UNIQUE constraint failed: message_templates\.app_id, message_templates\.name/i.test(err.message);
const taken = (name: string) => conflict(`name: the app already has a template named "${name}"`);

export async function createTemplate(env: Env, appId: string, input: MessageTemplateCreate): Promise<MessageTemplate> {
  const now = new Date().toISOString();
  const created: MessageTemplate = { id: newId(), name: input.name, content: input.content, metadata: input.metadata ?? null, createdAt: now, updatedAt: now };
  let res: D1Result;
  try {
    // The cap is a condition of the insert itself, so concurrent creates cannot pass it.
    res = await orAppGone(
      env.DB.prepare(
        `INSERT INTO message_templates (id, app_id, name, content, metadata, created_at, updated_at)
         SELECT ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM message_templates WHERE app_id = ?) < ?`,
      )
        .bind(created.id, appId, created.name, JSON.stringify(created.content), created.metadata ? JSON.stringify(created.metadata) : null, now, now, appId, MESSAGE_TEMPLATE_LIMITS.perApp)
        .run(),
    );
  } catch (err) {
    if (nameTaken(err)) throw taken(input.name);
    throw err;
  }
  if (res.meta.changes === 0) throw badRequest(`An app can have at most ${MESSAGE_TEMPLATE_LIMITS.perApp} templates; delete one first`);
  return created;
}

/** One page in id order, with one extra row so the caller knows whether more follow (see idPage). */
export async function listTemplates(env: Env, appId: string, page: Page): Promise<MessageTemplate[]> {
  const stmt = page.before
    ? env.DB.prepare('SELECT * FROM message_templates WHERE app_id = ? AND id < ? ORDER BY id DESC LIMIT ?').bind(appId, page.before, page.size + 1)
    : env.DB.prepare('SELECT * FROM message_templates WHERE app_id = ? AND id > ? ORDER BY id ASC LIMIT ?').bind(appId, page.after ?? '', page.size + 1);
  const { results } = await stmt.all<TemplateRow>();
  return results.map(toTemplate);
}

export async function getTemplate(env: Env, appId: string, id: string): Promise<MessageTemplate | undefined> {
  const row = await env.DB.prepare('SELECT * FROM message_templates WHERE app_id = ? AND id = ?').bind(appId, id).first<TemplateRow>();
  return row ? toTemplate(row) : undefined;
}

export async function updateTemplate(env: Env, appId: string, id: string, patch: MessageTemplateUpdate): Promise<MessageTemplate> {
  const current = await getTemplate(env, appId, id);
  if (!current) throw templateNotFound();
  const next: MessageTemplate = {
    ...current,
    ...(patch.name !== undefined ? { name: patch.name } : {}),
    ...(patch.content !== undefined ? { content: patch.content } : {}),
    ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
    updatedAt: new Date().toISOString(),
  };
  let res: D1Result;
  try {
    res = await env.DB.prepare('UPDATE message_templates SET name = ?, content = ?, metadata = ?, updated_at = ? WHERE app_id = ? AND id = ?')
      .bind(next.name, JSON.stringify(next.content), next.metadata ? JSON.stringify(next.metadata) : null, next.updatedAt, appId, id)
      .run();
  } catch (err) {
    if (nameTaken(err)) throw taken(next.name);
    throw err;
  }
  if (res.meta.changes === 0) throw templateNotFound();
  return next;
}

export async function deleteTemplate(env: Env, appId: string, id: string): Promise<boolean> {
  const res = await env.DB.prepare('DELETE FROM message_templates WHERE app_id = ? AND id = ?').bind(appId, id).run();
  return res.meta.changes > 0;
}

/** The contents of the app's templates among `names`, by name, in one query; names it lacks are absent. */
export async function templatesByName(env: Env, appId: string, names: string[]): Promise<Map<string, Content>> {
  if (names.length === 0) return new Map();
  const { results } = await env.DB.prepare(`SELECT name, content FROM message_templates WHERE app_id = ? AND name IN (${names.map(() => '?').join(', ')})`)
    .bind(appId, ...names)
    .all<{ name: string; content: string }>();
  return new Map(results.map((r) => [r.name, JSON.parse(r.content) as Content]));
}
