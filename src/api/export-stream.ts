/**
 * The body of an export: a ReadableStream pulled by the client, fed one
 * keyset page of D1 rows at a time, so the Worker holds one page whatever the
 * export's size. Pages are sized by bytes, not rows: about PAGE_BYTES of
 * output each (100 to 5,000 rows), which keeps a page far below D1's 50 MB
 * result limit and a 100,000-row export of ordinary messages within about 20
 * queries (D1 allows 50 per invocation on the free plan, 1,000 on paid). Also
 * the two encodings: NDJSON lines and RFC 4180 CSV.
 */
import type { ExportKey } from '../schema/exports';

const PAGE_BYTES = 4 * 1024 * 1024;
const FIRST_PAGE_ROWS = 1_000;
const MIN_PAGE_ROWS = 100;
const MAX_PAGE_ROWS = 5_000;
/** Output is handed to the runtime in pieces of about this size. */
const CHUNK_CHARS = 64 * 1024;

export interface ExportPlan<Row> {
  /** Up to `size` rows strictly after `after` (none: from the start), in export order. */
  page(after: ExportKey | undefined, size: number): Promise<Row[]>;
  key(row: Row): ExportKey;
  /** One row's output, line end included. */
  line(row: Row): string;
  header?: string;
  /** The most rows this answer sends. */
  limit: number;
}

export function exportStream<Row>(plan: ExportPlan<Row>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after: ExportKey | undefined;
  let sent = 0;
  let size = Math.min(FIRST_PAGE_ROWS, plan.limit);
  let started = false;
  let done = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          let text = '';
          const flush = () => {
            if (text) controller.enqueue(encoder.encode(text));
            text = '';
          };
          if (!started) {
            started = true;
            text += plan.header ?? '';
          }
          if (done || sent >= plan.limit) {
            flush();
            controller.close();
            return;
          }
          const want = Math.min(size, plan.limit - sent);
          const rows = await plan.page(after, want);
          let chars = 0;
          for (const row of rows) {
            const line = plan.line(row);
            chars += line.length;
            text += line;
            if (text.length >= CHUNK_CHARS) flush();
          }
          sent += rows.length;
          const last = rows[rows.length - 1];
          if (last) after = plan.key(last);
          if (rows.length < want) done = true;
          else if (rows.length > 0) size = Math.max(MIN_PAGE_ROWS, Math.min(MAX_PAGE_ROWS, Math.floor(PAGE_BYTES / Math.max(1, chars / rows.length))));
          flush();
          if (done || sent >= plan.limit) controller.close();
        } catch (err) {
          // The status line is long gone: all a client can be told is that the body broke off (no final chunk).
          console.error('export: a page failed mid-stream', err instanceof Error ? err.message : String(err));
          controller.error(err);
        }
      },
      cancel() {
        done = true;
      },
    },
    { highWaterMark: 0 },
  );
}

/** One CSV field: quoted when it holds a comma, quote, CR or LF, quotes doubled (RFC 4180); null is empty. */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record with its CRLF. */
export const csvRecord = (fields: (string | number | boolean | null | undefined)[]) => `${fields.map(csvField).join(',')}\r\n`;
