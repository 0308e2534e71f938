/**
 * Export queries (`/v2/apps/{appId}/exports/...`, a Parley extension) and
 * their resume cursor. Times are normalised to the index's own form
 * (`Date#toISOString`, UTC with milliseconds) so that comparing strings in D1
 * compares instants. `since` is inclusive, `until` exclusive. The cursor is
 * opaque to callers: base64url of the kind of export and the key of the last
 * row sent, `(time, id)`; one made for another kind of export is refused.
 */
import * as v from 'valibot';
import { ID_PATTERN } from '../ids';

export const EXPORT_MAX_ROWS = 100_000;
export type ExportKind = 'messages' | 'conversations' | 'users';

/** A keyset position: rows strictly after it come next. */
export interface ExportKey {
  at: string;
  id: string;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** An ISO 8601 date (`2026-01-31`, midnight UTC) or date-time with a zone, as the index's instant string. */
const isoInstant = v.pipe(
  v.string(),
  v.check((s) => (DATE_ONLY.test(s) || DATE_TIME.test(s)) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date or date-time with a time zone, e.g. 2026-01-31T12:00:00Z'),
  v.transform((s) => new Date(s).toISOString()),
);

const objectId = v.pipe(v.string(), v.regex(ID_PATTERN, 'must be a 24-character id'));

const limit = v.pipe(
  v.string(),
  v.regex(/^\d{1,6}$/, `must be an integer between 1 and ${EXPORT_MAX_ROWS}`),
  v.transform(Number),
  v.minValue(1, `must be an integer between 1 and ${EXPORT_MAX_ROWS}`),
  v.maxValue(EXPORT_MAX_ROWS, `must be an integer between 1 and ${EXPORT_MAX_ROWS}`),
);

const common = {
  format: v.optional(v.picklist(['ndjson', 'csv'], 'must be ndjson or csv'), 'ndjson'),
  since: v.optional(isoInstant),
  until: v.optional(isoInstant),
  limit: v.optional(limit, String(EXPORT_MAX_ROWS)),
  after: v.optional(v.string()),
};

const untilAfterSince = <T extends { since?: string; until?: string }>(q: T) => !(q.since && q.until && q.until <= q.since);
const ORDER_MESSAGE = 'until: must be later than since';

export const messageExportQuery = v.pipe(
  v.object({
    ...common,
    conversationId: v.optional(objectId),
    userId: v.optional(objectId),
    integrationType: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9:_-]{0,63}$/, 'must be an integration type such as whatsapp or web'))),
    authorType: v.optional(v.picklist(['user', 'business'], 'must be user or business')),
  }),
  v.check(untilAfterSince, ORDER_MESSAGE),
);
export type MessageExportQuery = v.InferOutput<typeof messageExportQuery>;

export const plainExportQuery = v.pipe(v.object(common), v.check(untilAfterSince, ORDER_MESSAGE));
export type PlainExportQuery = v.InferOutput<typeof plainExportQuery>;

const KIND_TAG: Record<ExportKind, string> = { messages: 'm', conversations: 'c', users: 'u' };

const b64url = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

export function encodeCursor(kind: ExportKind, key: ExportKey): string {
  return b64url(JSON.stringify([KIND_TAG[kind], key.at, key.id]));
}

/** The key a cursor names, or undefined when it is not one this kind of export made. */
export function decodeCursor(kind: ExportKind, cursor: string): ExportKey | undefined {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return undefined;
  let parsed: unknown;
  try {
    const bin = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return undefined;
  const [tag, at, id] = parsed as unknown[];
  if (tag !== KIND_TAG[kind] || typeof at !== 'string' || typeof id !== 'string') return undefined;
  if (!ID_PATTERN.test(id) || at.length > 40 || Number.isNaN(Date.parse(at))) return undefined;
  return { at, id };
}
