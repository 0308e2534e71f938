/**
 * The contract's pagination envelope: `meta {hasMore, afterCursor, beforeCursor}`
 * and absolute `links {next, prev}` that repeat the request's other query
 * parameters with the new cursor.
 */
export interface PageMeta {
  hasMore: boolean;
  afterCursor?: string;
  beforeCursor?: string;
}

export function pageEnvelope(request: Request, meta: PageMeta): { meta: PageMeta; links: { next?: string; prev?: string } } {
  const link = (key: 'page[after]' | 'page[before]', cursor?: string) => {
    if (!cursor) return undefined;
    const url = new URL(request.url);
    url.searchParams.delete('page[after]');
    url.searchParams.delete('page[before]');
    url.searchParams.set(key, cursor);
    return url.toString();
  };
  const next = link('page[after]', meta.afterCursor);
  const prev = link('page[before]', meta.beforeCursor);
  return { meta, links: { ...(next ? { next } : {}), ...(prev ? { prev } : {}) } };
}

/**
 * Id-ordered pagination over rows fetched with one extra row: works out the
 * cursors for a page read forward (after) or backward (before).
 */
export function idPage<T extends { id: string }>(rows: T[], size: number, backward: boolean, hadCursor: boolean): { items: T[]; meta: PageMeta } {
  const more = rows.length > size;
  const items = backward ? rows.slice(0, size).reverse() : rows.slice(0, size);
  const first = items[0];
  const last = items[items.length - 1];
  const hasNewer = backward ? hadCursor : more;
  const hasOlder = backward ? more : hadCursor;
  return {
    items,
    meta: {
      hasMore: more,
      ...(hasNewer && last ? { afterCursor: last.id } : {}),
      ...(hasOlder && first ? { beforeCursor: first.id } : {}),
    },
  };
}
