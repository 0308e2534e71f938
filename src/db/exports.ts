/**
 * The index queries behind exports: one keyset page at a time, in (time, id)
 * order, over the indexes of migration 0012, so a page costs the rows it
 * returns and never a scan of what came before. Every value is bound; the SQL
 * is put together from the constant fragments below only. `after` is the key
 * of the last row already sent (exclusive), `through` the key of the last row
 * this answer may send (inclusive): an answer cut at `limit` stops exactly
 * where its `Link: rel="next"` cursor resumes.
 */
import type { ExportKey, ExportKind, MessageExportQuery } from '../schema/exports';

export interface KeysetRange {
  appId: string;
  since?: string;
  until?: string;
  after?: ExportKey;
  through?: ExportKey;
}

/** A fragment of WHERE with its values, in order. */
type Term = [sql: string, ...binds: unknown[]];

interface Source {
  from: string;
  /** The time column and id column of the keyset order. */
  time: string;
  id: string;
  /** Terms every query of this export carries (tenant, liveness). */
  base: (appId: string) => Term[];
}

const SOURCES: Record<ExportKind, Source> = {
  messages: { from: 'message_index m', time: 'm.received', id: 'm.id', base: (appId) => [['m.app_id = ?', appId]] },
  conversations: { from: 'conversations c', time: 'c.created_at', id: 'c.id', base: (appId) => [['c.app_id = ?', appId], ['c.deleted_at IS NULL']] },
  users: { from: 'users u', time: 'u.created_at', id: 'u.id', base: (appId) => [['u.app_id = ?', appId]] },
};

function rangeTerms(src: Source, range: KeysetRange): Term[] {
  const terms: Term[] = [];
  if (range.since) terms.push([`${src.time} >= ?`, range.since]);
  if (range.until) terms.push([`${src.time} < ?`, range.until]);
  if (range.after) terms.push([`(${src.time}, ${src.id}) > (?, ?)`, range.after.at, range.after.id]);
  if (range.through) terms.push([`(${src.time}, ${src.id}) <= (?, ?)`, range.through.at, range.through.id]);
  return terms;
}

/** The message filters. With a conversation named, `+m.app_id` keeps the planner on that conversation's own index instead of walking the app's. */
export function messageFilters(q: Pick<MessageExportQuery, 'conversationId' | 'userId' | 'integrationType' | 'authorType'>): { terms: Term[]; byConversation: boolean } {
  const terms: Term[] = [];
  if (q.conversationId) terms.push(['m.conversation_id = ?', q.conversationId]);
  if (q.userId) terms.push(['m.author_user_id = ?', q.userId]);
  if (q.integrationType) terms.push(['m.integration_type = ?', q.integrationType]);
  if (q.authorType) terms.push(['m.author_type = ?', q.authorType]);
  return { terms, byConversation: q.conversationId !== undefined };
}

function where(kind: ExportKind, range: KeysetRange, filters: Term[], byConversation = false): { sql: string; binds: unknown[] } {
  const src = SOURCES[kind];
  const base = src.base(range.appId).map(([sql, ...b]): Term => [byConversation ? sql.replace('m.app_id', '+m.app_id') : sql, ...b]);
  const all = [...base, ...filters, ...rangeTerms(src, range)];
  return { sql: all.map(([sql]) => sql).join(' AND '), binds: all.flatMap(([, ...b]) => b) };
}

/**
 * Where an answer of `limit` rows ends: the key of its last row and whether
 * more rows follow it (read from the index alone, before the first byte is sent,
 * since the Link header must be). Undefined when fewer than `limit` rows match.
 */
export async function exportEnd(
  db: D1Database,
  kind: ExportKind,
  range: KeysetRange,
  limit: number,
  filters: Term[] = [],
  byConversation = false,
): Promise<{ last: ExportKey; more: boolean } | undefined> {
  const src = SOURCES[kind];
  const w = where(kind, range, filters, byConversation);
  const { results } = await db
    .prepare(`SELECT ${src.time} AS at, ${src.id} AS id FROM ${src.from} WHERE ${w.sql} ORDER BY ${src.time}, ${src.id} LIMIT 2 OFFSET ?`)
    .bind(...w.binds, limit - 1)
    .all<ExportKey>();
  const [last, next] = results;
  return last && { last: { at: last.at, id: last.id }, more: next !== undefined };
}

export interface MessageExportRow {
  id: string;
  conversation_id: string;
  seq: number;
  received: string;
  author_type: string;
  author_user_id: string | null;
  integration_type: string | null;
  content_type: string;
  text: string | null;
  /** NDJSON: the stored v2 message. */
  body?: string;
  /** CSV: the content's mediaUrl, read by D1 so the body never leaves it. */
  media_url?: string | null;
}

export async function messagePage(
  db: D1Database,
  range: KeysetRange,
  filters: { terms: Term[]; byConversation: boolean },
  withBody: boolean,
  size: number,
): Promise<MessageExportRow[]> {
  const w = where('messages', range, filters.terms, filters.byConversation);
  const extra = withBody ? 'm.body' : "json_extract(m.body, '$.content.mediaUrl') AS media_url";
  const { results } = await db
    .prepare(
      `SELECT m.id, m.conversation_id, m.seq, m.received, m.author_type, m.author_user_id, m.integration_type, m.content_type, m.text, ${extra}
       FROM message_index m WHERE ${w.sql} ORDER BY m.received, m.id LIMIT ?`,
    )
    .bind(...w.binds, size)
    .all<MessageExportRow>();
  return results;
}

export interface ConversationExportRow {
  id: string;
  type: 'personal' | 'sdkGroup';
  is_default: number;
  display_name: string | null;
  description: string | null;
  icon_url: string | null;
  metadata: string | null;
  created_at: string;
  last_updated_at: string | null;
  business_last_read: string | null;
  /** JSON array of {id, userId}, from the participants index. */
  participants: string;
}

export async function conversationPage(db: D1Database, range: KeysetRange, size: number): Promise<ConversationExportRow[]> {
  const w = where('conversations', range, []);
  const { results } = await db
    .prepare(
      `SELECT c.id, c.type, c.is_default, c.display_name, c.description, c.icon_url, c.metadata, c.created_at, c.last_updated_at, c.business_last_read,
         (SELECT json_group_array(json_object('id', p.participant_id, 'userId', p.user_id)) FROM conversation_participants p
           WHERE p.conversation_id = c.id AND p.app_id = c.app_id) AS participants
       FROM conversations c WHERE ${w.sql} ORDER BY c.created_at, c.id LIMIT ?`,
    )
    .bind(...w.binds, size)
    .all<ConversationExportRow>();
  return results;
}

export interface UserExportRow {
  id: string;
  external_id: string | null;
  signed_up_at: string | null;
  to_be_retained: number;
  authenticated: number;
  profile: string;
  metadata: string;
  identities: string;
  created_at: string;
}

export async function userPage(db: D1Database, range: KeysetRange, size: number): Promise<UserExportRow[]> {
  const w = where('users', range, []);
  const { results } = await db
    .prepare(
      `SELECT u.id, u.external_id, u.signed_up_at, u.to_be_retained, u.authenticated, u.profile, u.metadata, u.identities, u.created_at
       FROM users u WHERE ${w.sql} ORDER BY u.created_at, u.id LIMIT ?`,
    )
    .bind(...w.binds, size)
    .all<UserExportRow>();
  return results;
}
