/**
 * Full-text search over the message index (FTS5 table `message_search`,
 * migration 0013, kept in step with message_index by triggers: every path
 * that inserts, rewrites or deletes an index row — the index consumer's
 * upserts, deletes and clears, conversation and app deletion — moves the
 * search index in the same statement). User words become a MATCH expression
 * of quoted terms, so no input is ever read as FTS syntax. Results come best
 * match first (bm25) among the newest SEARCH_CANDIDATES matches (so a word in
 * every message costs what a rare one does) and page by keyset over
 * (score, rowid): stable while no message is indexed between pages.
 */
import { badRequest } from '../http/errors';
import { fromBase64Url, toBase64Url } from '../channels/signing';
import { SEARCH_MAX_TERMS } from '../schema/insights';

/** Highlight markers: plain characters in a JSON string, never HTML. A literal « or » in the text is shown as ‹ or ›. */
export const MARK_OPEN = '«';
export const MARK_CLOSE = '»';
const SNIPPET_TOKENS = 16;
/** The newest matches ranked per query; pages end after them. */
export const SEARCH_CANDIDATES = 2_000;

/** The words of `q` (letters, digits and marks, as FTS5's unicode61 tokenizer splits them), each a quoted FTS5 string on the text column, all required. */
export function matchExpression(q: string): string {
  const words = q.normalize('NFC').match(/[\p{L}\p{N}\p{M}_]+/gu) ?? [];
  if (words.length === 0) throw badRequest('q: must contain at least one word');
  if (words.length > SEARCH_MAX_TERMS) throw badRequest(`q: must have at most ${SEARCH_MAX_TERMS} words`);
  // Letters and digits only, so a word cannot close its quotes; "…" makes FTS5 take it as a string, never an operator (AND, NEAR, column:).
  return words.map((w) => `text : "${w}"`).join(' AND ');
}

/** Ids are hex (one FTS5 token each); anything else could not have been indexed under them. */
const idToken = (id: string) => {
  if (!/^[0-9a-f]{1,64}$/.test(id)) throw badRequest('conversationId: must be a 24-character id');
  return `"${id}"`;
};

export interface SearchCursor {
  score: number;
  rowid: number;
}

export const encodeCursor = (c: SearchCursor) => toBase64Url(new TextEncoder().encode(JSON.stringify([c.score, c.rowid])));

export function decodeCursor(raw: string): SearchCursor {
  try {
    const [score, rowid] = JSON.parse(new TextDecoder().decode(fromBase64Url(raw))) as unknown[];
    if (typeof score === 'number' && Number.isFinite(score) && typeof rowid === 'number' && Number.isSafeInteger(rowid)) return { score, rowid };
  } catch {
    // fall through: any cursor this route did not answer is refused the same way
  }
  throw badRequest('page[after]: must be a cursor this route answered');
}

export interface SearchFilters {
  since?: string;
  until?: string;
  conversationId?: string;
}

export interface SearchHit {
  message: Record<string, unknown>;
  highlight: string;
  cursor: SearchCursor;
}

interface HitRow {
  rid: number;
  score: number;
  conversation_id: string;
  seq: number;
  body: string;
  hl: string | null;
}

/** One page of an app's messages matching `match`, best first; `size + 1` rows are read so the caller knows whether more follow. */
export async function searchMessages(db: D1Database, appId: string, match: string, filters: SearchFilters, size: number, after?: SearchCursor): Promise<{ hits: SearchHit[]; hasMore: boolean }> {
  // The tenant wall is in the MATCH (an indexed column) and again on the joined row.
  const full = [`app_id : ${idToken(appId)}`, `(${match})`, ...(filters.conversationId ? [`conversation_id : ${idToken(filters.conversationId)}`] : [])].join(' AND ');
  const where = ['message_search MATCH ?1', 'm.app_id = ?2'];
  const binds: unknown[] = [full, appId];
  const add = (sql: string, value: unknown) => {
    binds.push(value);
    where.push(sql.replace('?', `?${binds.length}`));
  };
  if (filters.since) add('m.received >= ?', filters.since);
  if (filters.until) add('m.received < ?', filters.until);
  const outer: string[] = [];
  if (after) {
    binds.push(after.score, after.rowid);
    const s = binds.length - 1;
    outer.push(`WHERE (c.score > ?${s} OR (c.score = ?${s} AND c.rid > ?${s + 1}))`);
  }
  binds.push(size + 1);
  // Ranks the newest SEARCH_CANDIDATES matches: a word in every message costs the same as a rare one.
  // CROSS JOIN keeps the full-text match the outer loop (walked newest first): the planner must not walk a time range and run the match per row.
  // The snippet is made for the page's rows only, each by its own rowid lookup in the match.
  const { results } = await db
    .prepare(
      `WITH c AS (
         SELECT message_search.rowid AS rid, message_search.rank AS score
         FROM message_search CROSS JOIN message_index m ON m.rowid = message_search.rowid
         WHERE ${where.join(' AND ')}
         ORDER BY message_search.rowid DESC
         LIMIT ${SEARCH_CANDIDATES}
       ), page AS (
         SELECT c.rid, c.score FROM c ${outer.join(' ')} ORDER BY c.score, c.rid LIMIT ?${binds.length}
       )
       SELECT page.rid, page.score, m.conversation_id, m.seq, m.body,
              (SELECT snippet(message_search, 0, char(57344), char(57345), '…', ${SNIPPET_TOKENS}) FROM message_search WHERE message_search MATCH ?1 AND message_search.rowid = page.rid) AS hl
       FROM page JOIN message_index m ON m.rowid = page.rid
       ORDER BY page.score, page.rid`,
    )
    .bind(...binds)
    .all<HitRow>();
  const hits = results.slice(0, size).map((r) => ({
    message: { ...(JSON.parse(r.body) as Record<string, unknown>), conversationId: r.conversation_id, seq: r.seq },
    highlight: markers(r.hl ?? ''),
    cursor: { score: r.score, rowid: r.rid },
  }));
  return { hits, hasMore: results.length > size };
}

/** FTS5 marks matches with private-use characters; the answer uses « », with any literal ones in the text swapped out first. */
function markers(snippet: string): string {
  return snippet.replaceAll(MARK_OPEN, '‹').replaceAll(MARK_CLOSE, '›').replaceAll('\uE000', MARK_OPEN).replaceAll('\uE001', MARK_CLOSE);
}

/**
 * A scrubbed user's messages leave the search index (they stay in the message
 * index: the contract keeps them), and the user is remembered so a message of
 * theirs received before now that reaches the index late stays out too.
 */
export function unsearchableUserStatements(db: D1Database, appId: string, userId: string, at: string): D1PreparedStatement[] {
  return [
    db
      .prepare('INSERT INTO search_scrubbed (app_id, user_id, scrubbed_at) VALUES (?, ?, ?) ON CONFLICT (app_id, user_id) DO UPDATE SET scrubbed_at = excluded.scrubbed_at')
      .bind(appId, userId, at),
    db
      .prepare(`DELETE FROM message_search WHERE rowid IN (SELECT rowid FROM message_index WHERE app_id = ? AND author_user_id = ? AND author_type = 'user')`)
      .bind(appId, userId),
  ];
}
