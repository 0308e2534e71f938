/**
 * `GET /v2/apps/{appId}/search/messages?q=…` (a Parley extension): an app's
 * messages whose text has every word of `q`, best match first, each with a
 * `highlight` snippet where matches sit between « and ». Optional `since`,
 * `until` (ISO 8601, received time), `conversationId`, `page[size]` (1–100,
 * default 25) and `page[after]` (the `afterCursor` of the previous page).
 * App, account and integration keys may search (their app's messages only).
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { readQuery } from '../http/request';
import { decodeCursor, encodeCursor, matchExpression, searchMessages } from '../db/insights-search';
import { searchQuery } from '../schema/insights';
import { appContext, json } from './context';

export async function messages(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const q = readQuery(request, searchQuery);
  const match = matchExpression(q.q);
  const after = q['page[after]'] === undefined ? undefined : decodeCursor(q['page[after]']);
  const size = q['page[size]'] ?? 25;
  const { hits, hasMore } = await searchMessages(env.DB, appId, match, { since: q.since, until: q.until, conversationId: q.conversationId }, size, after);
  const last = hits[hits.length - 1];
  return json({
    messages: hits.map((h) => ({ ...h.message, highlight: h.highlight })),
    meta: { hasMore, ...(hasMore && last ? { afterCursor: encodeCursor(last.cursor) } : {}) },
  });
}
