/**
 * `/v2/apps/{appId}/exports/{messages,conversations,users}` (a Parley
 * extension): the app's indexed data streamed as NDJSON or CSV in keyset
 * order, (received, id) for messages and (createdAt, id) for the others.
 * Open to account, app and integration keys of the app: exports are the app's
 * data. An answer stops after `limit` rows (default and most 100,000); when
 * more match, its `Link: <…&after=…>; rel="next"` resumes right after the last
 * row sent. The end is found before streaming (exportEnd), since headers go
 * first; rows indexed later behind a cursor already handed out are not in
 * the later pages (the index is eventually consistent).
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { toConversation } from '../../durable/record';
import { conversationPage, exportEnd, messageFilters, messagePage, userPage, type ConversationExportRow, type KeysetRange, type MessageExportRow, type UserExportRow } from '../db/exports';
import type { User } from '../db/users';
import { badRequest } from '../http/errors';
import { ID_PATTERN } from '../ids';
import { readQuery } from '../http/request';
import { decodeCursor, encodeCursor, messageExportQuery, plainExportQuery, type ExportKind, type ExportKey } from '../schema/exports';
import { appContext } from './context';
import { csvRecord, exportStream, type ExportPlan } from './export-stream';
import { userView } from './users';

export const MESSAGE_COLUMNS = ['id', 'conversationId', 'seq', 'received', 'authorType', 'userId', 'integrationType', 'contentType', 'text', 'mediaUrl'];
export const CONVERSATION_COLUMNS = ['id', 'type', 'isDefault', 'displayName', 'description', 'createdAt', 'lastUpdatedAt', 'businessLastRead', 'participantCount', 'userIds'];
export const USER_COLUMNS = ['id', 'externalId', 'createdAt', 'signedUpAt', 'givenName', 'surname', 'email', 'avatarUrl', 'locale', 'authenticated', 'toBeRetained'];

const CONTENT_TYPES = { ndjson: 'application/x-ndjson', csv: 'text/csv; charset=utf-8' } as const;

interface Common {
  format: 'ndjson' | 'csv';
  since?: string;
  until?: string;
  limit: number;
  after?: string;
}

function cursorOf(kind: ExportKind, q: Common): ExportKey | undefined {
  if (q.after === undefined) return undefined;
  const key = decodeCursor(kind, q.after);
  if (!key) throw badRequest(`after: not a cursor of a ${kind} export; use the Link header of the previous answer`);
  return key;
}

/**
 * Finds where this answer ends, then streams it. `pageAt` reads rows of the
 * answer's range (the end included) after a key.
 */
async function answer<Row>(
  request: IRequest,
  kind: ExportKind,
  appId: string,
  q: Common,
  end: (range: KeysetRange) => Promise<{ last: ExportKey; more: boolean } | undefined>,
  plan: Omit<ExportPlan<Row>, 'page' | 'limit'> & { page: (range: KeysetRange, size: number) => Promise<Row[]> },
): Promise<Response> {
  const start: KeysetRange = { appId, ...(q.since ? { since: q.since } : {}), ...(q.until ? { until: q.until } : {}) };
  const after = cursorOf(kind, q);
  const stop = await end({ ...start, ...(after ? { after } : {}) });
  const headers = new Headers({
    'content-type': CONTENT_TYPES[q.format],
    'content-disposition': `attachment; filename="parley-${appId}-${kind}-${new Date().toISOString().replace(/[:.]/g, '-')}.${q.format}"`,
    'cache-control': 'no-store',
  });
  if (stop?.more) {
    const next = new URL(request.url);
    next.searchParams.set('after', encodeCursor(kind, stop.last));
    headers.set('link', `<${next.toString()}>; rel="next"`);
  }
  const body = exportStream<Row>({
    ...plan,
    limit: q.limit,
    page: (from, size) => plan.page({ ...start, ...(from ?? after ? { after: from ?? after } : {}), ...(stop ? { through: stop.last } : {}) }, size),
  });
  return new Response(body, { headers });
}

/**
 * The stored message with `conversationId` (and `seq`) added. The body the
 * conversation wrote already holds its seq as a top-level key right after
 * `received`; then conversationId is spliced in as text, which costs no parse
 * of the body (most of an export's CPU otherwise). Any other body is parsed.
 */
export function ndjsonMessage(body: string, conversationId: string, seq: number): string {
  if (body.startsWith('{"id":') && ID_PATTERN.test(conversationId)) {
    const at = body.indexOf('"seq":');
    const head = body.slice(0, at);
    // Only the top level: the id and received strings before it hold no quote or brace.
    if (at > 0 && body.startsWith(`"seq":${seq},`, at) && /^\{"id":"[0-9a-f]{24}","received":"[^"\\]*",$/.test(head)) {
      return `{"conversationId":"${conversationId}",${body.slice(1)}`;
    }
  }
  return JSON.stringify({ ...JSON.parse(body), conversationId, seq });
}

export async function messages(request: IRequest, env: Env): Promise<Response> {
  const { appId } = await appContext(request, env);
  const q = readQuery(request, messageExportQuery);
  const filters = messageFilters(q);
  const ndjson = q.format === 'ndjson';
  return answer<MessageExportRow>(request, 'messages', appId, q, (range) => exportEnd(env.DB, 'messages', range, q.limit, filters.terms, filters.byConversation), {
    page: (range, size) => messagePage(env.DB, range, filters, ndjson, size),
    key: (r) => ({ at: r.received, id: r.id }),
    ...(ndjson
      ? { line: (r) => `${ndjsonMessage(r.body!, r.conversation_id, r.seq)}\n` }
      : {
          header: csvRecord(MESSAGE_COLUMNS),
          line: (r) => csvRecord([r.id, r.conversation_id, r.seq, r.received, r.author_type, r.author_user_id, r.integration_type, r.content_type, r.text, r.media_url]),
        }),
  });
}

export async function conversations(request: IRequest, env: Env): Promise<Response> {
  const { appId } = await appContext(request, env);
  const q = readQuery(request, plainExportQuery);
  return answer<ConversationExportRow>(request, 'conversations', appId, q, (range) => exportEnd(env.DB, 'conversations', range, q.limit), {
    page: (range, size) => conversationPage(env.DB, range, size),
    key: (r) => ({ at: r.created_at, id: r.id }),
    ...(q.format === 'ndjson'
      ? {
          line: (r) => `${JSON.stringify({ ...toConversation(r), participants: participantsOf(r) })}\n`,
        }
      : {
          header: csvRecord(CONVERSATION_COLUMNS),
          line: (r) => {
            const userIds = participantsOf(r).map((p) => p.userId);
            const c = toConversation(r);
            return csvRecord([c.id, c.type, c.isDefault, c.displayName, c.description, c.createdAt, c.lastUpdatedAt, c.businessLastRead, userIds.length, userIds.join(' ')]);
          },
        }),
  });
}

/** The row as a User; a scrubbed user's row holds only what the scrub left (ids, locale, dates). */
const toUser = (r: UserExportRow): User => ({
  id: r.id,
  ...(r.external_id !== null ? { externalId: r.external_id } : {}),
  ...(r.signed_up_at !== null ? { signedUpAt: r.signed_up_at } : {}),
  toBeRetained: r.to_be_retained === 1,
  authenticated: r.authenticated === 1,
  profile: JSON.parse(r.profile),
  metadata: JSON.parse(r.metadata),
  identities: JSON.parse(r.identities),
});

/** Participants as the index holds them, ordered by user id so an export is reproducible. */
const participantsOf = (r: ConversationExportRow) => (JSON.parse(r.participants) as { id: string; userId: string }[]).sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));

export async function users(request: IRequest, env: Env): Promise<Response> {
  const { appId } = await appContext(request, env);
  const q = readQuery(request, plainExportQuery);
  return answer<UserExportRow>(request, 'users', appId, q, (range) => exportEnd(env.DB, 'users', range, q.limit), {
    page: (range, size) => userPage(env.DB, range, size),
    key: (r) => ({ at: r.created_at, id: r.id }),
    ...(q.format === 'ndjson'
      ? { line: (r) => `${JSON.stringify({ ...userView(toUser(r)), createdAt: r.created_at })}\n` }
      : {
          header: csvRecord(USER_COLUMNS),
          line: (r) => {
            const u = toUser(r);
            const p = u.profile;
            return csvRecord([u.id, u.externalId, r.created_at, u.signedUpAt, p.givenName, p.surname, p.email, p.avatarUrl, p.locale, u.authenticated, u.toBeRetained]);
          },
        }),
  });
}

