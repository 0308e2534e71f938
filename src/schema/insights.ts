/**
 * Query strings of Parley's read-only insight routes (extensions of the v2
 * API): message search, stats and usage. Every refusal names its parameter;
 * ranges are bounded so one call reads a bounded slice of the index.
 */
import * as v from 'valibot';
import { isoDate, objectId } from './common';

const pageSize = v.pipe(
  v.string(),
  v.regex(/^\d+$/, 'page[size]: must be an integer between 1 and 100'),
  v.transform(Number),
  v.minValue(1, 'page[size]: must be an integer between 1 and 100'),
  v.maxValue(100, 'page[size]: must be an integer between 1 and 100'),
);

/** Dates come back normalized to the index's own form (toISOString), so they compare as strings. */
const normalizedDate = v.pipe(isoDate, v.transform((s) => new Date(s).toISOString()));

const orderedRange = <T extends { since?: string; until?: string }>(q: T) => !(q.since && q.until && q.until <= q.since);

export const SEARCH_MAX_CHARS = 256;
export const SEARCH_MAX_TERMS = 16;

export const searchQuery = v.pipe(
  v.object({
    q: v.pipe(v.string('q: is required'), v.maxLength(SEARCH_MAX_CHARS, `q: must be at most ${SEARCH_MAX_CHARS} characters`)),
    since: v.optional(normalizedDate),
    until: v.optional(normalizedDate),
    conversationId: v.optional(objectId),
    'page[size]': v.optional(pageSize),
    'page[after]': v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,200}$/, 'page[after]: must be a cursor this route answered'))),
  }),
  v.check(orderedRange, 'until: must be after since'),
);
export type SearchQuery = v.InferOutput<typeof searchQuery>;

export const STATS_INTERVALS = { hour: { maxBuckets: 31 * 24, prefix: 13 }, day: { maxBuckets: 366, prefix: 10 } } as const;
export type StatsInterval = keyof typeof STATS_INTERVALS;

export const statsQuery = v.pipe(
  v.object({
    since: v.optional(normalizedDate),
    until: v.optional(normalizedDate),
    interval: v.optional(v.picklist(['hour', 'day'], 'interval: must be hour or day')),
  }),
  v.check(orderedRange, 'until: must be after since'),
);
export type StatsQuery = v.InferOutput<typeof statsQuery>;

export const usageQuery = v.object({
  month: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'month: must be a month as YYYY-MM, e.g. 2026-12'),
    ),
  ),
});
