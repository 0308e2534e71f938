/**
 * The export button: the key must travel as an Authorization header, so the
 * file is fetched (following `Link: rel="next"` pages, CSV header kept once)
 * and handed to the browser as a Blob download instead of a plain link.
 */
import type { Api, Params } from './api';

/** A browser holds this much comfortably; past it, the CLI export (`npm run export`) is the tool. */
const MAX_PAGES = 20;

export interface Exported {
  rows: number;
  pages: number;
  truncated: boolean;
  name: string;
}

function nextLink(res: Response): string | undefined {
  const link = res.headers.get('link');
  const m = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return m ? m[1] : undefined;
}

export async function exportFile(api: Api, kind: string, format: 'ndjson' | 'csv', params: Params, onProgress: (rows: number) => void): Promise<Exported> {
  const parts: string[] = [];
  let rows = 0;
  let pages = 0;
  let res = await api.raw(`/exports/${kind}`, { ...params, format });
  for (;;) {
    let text = await res.text();
    pages++;
    if (format === 'csv' && pages > 1) text = text.slice(text.indexOf('\n') + 1);
    if (text && !text.endsWith('\n')) text += format === 'csv' ? '\r\n' : '\n';
    rows += countRows(text, format, pages === 1);
    parts.push(text);
    onProgress(rows);
    const next = nextLink(res);
    if (!next || pages >= MAX_PAGES) {
      const name = `parley-${kind}-${api.appId}-${(params.since ?? '').slice(0, 10)}-${(params.until ?? '').slice(0, 10)}.${format}`;
      const blob = new Blob(parts, { type: format === 'csv' ? 'text/csv' : 'application/x-ndjson' });
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      return { rows, pages, truncated: !!next, name };
    }
    res = await api.raw(next);
  }
}

/** Data rows in one page: NDJSON lines, or CSV records (quoted newlines don't end a record). */
function countRows(text: string, format: 'ndjson' | 'csv', withHeader: boolean): number {
  if (format === 'ndjson') return text.split('\n').filter((l) => l.trim()).length;
  let records = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\n' && !quoted) records++;
  }
  return Math.max(0, records - (withHeader ? 1 : 0));
}
