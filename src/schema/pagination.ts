/**
 * Cursor pagination query: `page[after]` xor `page[before]` (record ids) and
 * `page[size]` 1–100, default 25. Cursors are 24-character ids as in the contract.
 */
import * as v from 'valibot';
import { objectId } from './common';

export const pageQuery = v.pipe(
  v.object({
    'page[after]': v.optional(objectId),
    'page[before]': v.optional(objectId),
    'page[size]': v.optional(
      v.pipe(
        v.string(),
        v.regex(/^\d+$/, 'must be an integer between 1 and 100'),
        v.transform(Number),
        v.minValue(1, 'must be an integer between 1 and 100'),
        v.maxValue(100, 'must be an integer between 1 and 100'),
      ),
    ),
  }),
  v.check((q) => !(q['page[after]'] && q['page[before]']), 'page: page[after] and page[before] cannot be used together'),
);
export type PageQuery = v.InferOutput<typeof pageQuery>;

export interface Page {
  after?: string;
  before?: string;
  size: number;
}

export const toPage = (q: PageQuery, defaultSize = 25): Page => ({
  after: q['page[after]'],
  before: q['page[before]'],
  size: q['page[size]'] ?? defaultSize,
});
