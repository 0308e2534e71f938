/**
 * `npm run export -- --app <id> [--type messages|conversations|users] [--format ndjson|csv]
 *   [--since <ISO>] [--until <ISO>] [--conversation-id …] [--user-id …] [--integration-type …]
 *   [--author-type user|business] --out <file> [--base http://localhost:8787] [--key id:secret]
 *   [--page 10000] [--max-requests n] [--force]`
 *
 * Downloads an export from Parley's `/v2/apps/{appId}/exports/...` route into
 * one file, a page (`--page` rows, at most 100,000) per request, following
 * each answer's `Link: rel="next"`. After every complete page it writes a
 * sidecar `<out>.export-state.json` (the next link, the file's size, the rows
 * so far), so a run that stops for any reason (killed, network, --max-requests)
 * is resumed by running the same command again: the file is cut back to the
 * last complete page and the export goes on from there. A CSV keeps one header.
 * Progress is a bar on a terminal and plain lines otherwise.
 *
 * The key: --key, else PARLEY_KEY (id:secret), else the account key in .dev.vars.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FLAGS = ['app', 'type', 'format', 'since', 'until', 'conversation-id', 'user-id', 'integration-type', 'author-type', 'out', 'base', 'key', 'page', 'max-requests'];
const FILTERS = { 'conversation-id': 'conversationId', 'user-id': 'userId', 'integration-type': 'integrationType', 'author-type': 'authorType' };

function parseArgs(argv) {
  const opts = { type: 'messages', format: 'ndjson', base: process.env.PARLEY_BASE ?? 'http://localhost:8787', page: '10000', force: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--force') {
      opts.force = true;
      continue;
    }
    const m = arg.match(/^--([a-z-]+)(?:=(.*))?$/);
    if (!m || !FLAGS.includes(m[1])) throw new Error(`unknown argument ${arg}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    opts[m[1]] = value;
  }
  if (!opts.app) throw new Error('--app <appId> is required');
  if (!opts.out) throw new Error('--out <file> is required');
  if (!['messages', 'conversations', 'users'].includes(opts.type)) throw new Error('--type must be messages, conversations or users');
  if (!['ndjson', 'csv'].includes(opts.format)) throw new Error('--format must be ndjson or csv');
  if (opts.type !== 'messages' && Object.keys(FILTERS).some((f) => opts[f])) throw new Error('filters apply to --type messages only');
  return opts;
}

function credentials(opts) {
  const key = opts.key ?? process.env.PARLEY_KEY;
  if (key) {
    if (!key.includes(':')) throw new Error('--key must be id:secret');
    return key;
  }
  const vars = path.join(ROOT, '.dev.vars');
  if (existsSync(vars)) {
    const text = readFileSync(vars, 'utf8');
    const get = (k) => text.match(new RegExp(`^${k}="?(.*?)"?$`, 'm'))?.[1];
    if (get('ACCOUNT_KEY_ID') && get('ACCOUNT_KEY_SECRET')) return `${get('ACCOUNT_KEY_ID')}:${get('ACCOUNT_KEY_SECRET')}`;
  }
  throw new Error('no key: pass --key id:secret or set PARLEY_KEY');
}

/** The first request: everything that defines the export. A state file made for another query is not resumed. */
function firstUrl(opts) {
  const url = new URL(`/v2/apps/${encodeURIComponent(opts.app)}/exports/${opts.type}`, opts.base);
  url.searchParams.set('format', opts.format);
  url.searchParams.set('limit', opts.page);
  for (const k of ['since', 'until']) if (opts[k]) url.searchParams.set(k, opts[k]);
  for (const [flag, param] of Object.entries(FILTERS)) if (opts[flag]) url.searchParams.set(param, opts[flag]);
  return url.toString();
}

const readState = (file) => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined);

function writeState(file, state) {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, JSON.stringify(state, null, 2));
  fsyncSync(fd);
  closeSync(fd);
  renameSync(tmp, file);
}

/** `<…>; rel="next"` from a Link header. */
const nextOf = (link) => link?.match(/<([^>]+)>\s*;\s*rel="next"/)?.[1];

/**
 * Counts rows in a stream of output: NDJSON lines, or CSV records (CRLF
 * outside quotes). With `skipHeader`, also drops the CSV header of a later page.
 */
function rowCounter(format, skipHeader) {
  let inQuotes = false;
  let header = format === 'csv';
  let dropping = skipHeader && header;
  let prev = '';
  return (text) => {
    let rows = 0;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (format === 'ndjson') {
        if (c === '\n') rows++;
        continue;
      }
      if (c === '"') inQuotes = !inQuotes;
      else if (c === '\n' && prev === '\r' && !inQuotes) {
        if (header) {
          header = false;
          if (dropping) {
            dropping = false;
            start = i + 1;
          }
        } else rows++;
      }
      prev = c;
    }
    const keep = dropping ? '' : text.slice(start);
    return { rows, keep };
  };
}

function progress(tty) {
  const began = Date.now();
  let lastLine = 0;
  return {
    update(total, pageRows, pageLimit, bytes, final = false) {
      const secs = (Date.now() - began) / 1000;
      const rate = secs > 0 ? Math.round(total.sessionRows / secs) : 0;
      const mb = (bytes / 1048576).toFixed(1);
      if (tty) {
        const width = 24;
        const filled = Math.min(width, Math.round((pageRows / pageLimit) * width));
        process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] page ${total.pages + 1}  ${total.rows.toLocaleString('en')} rows  ${rate.toLocaleString('en')} rows/s  ${mb} MB ${final ? '\n' : ''}`);
      } else if (final || Date.now() - lastLine > 2000) {
        lastLine = Date.now();
        process.stderr.write(`export: ${total.rows} rows, ${rate} rows/s, ${mb} MB${final ? ', page done' : ''}\n`);
      }
    },
  };
}

export async function runExport(argv) {
  const opts = parseArgs(argv);
  const auth = `Basic ${Buffer.from(credentials(opts)).toString('base64')}`;
  const out = path.resolve(opts.out);
  const stateFile = `${out}.export-state.json`;
  const first = firstUrl(opts);
  let state = readState(stateFile);
  if (state && state.query !== first) throw new Error(`${stateFile} belongs to another export (${state.query}); delete it or choose another --out`);
  if (state?.done) {
    process.stderr.write(`export: ${out} is already complete (${state.rows} rows); delete ${path.basename(stateFile)} to export again\n`);
    return 0;
  }
  if (!state) {
    if (existsSync(out) && statSync(out).size > 0 && !opts.force) throw new Error(`${out} exists and no export state is beside it; pass --force to overwrite`);
    state = { query: first, next: first, bytes: 0, rows: 0, pages: 0, done: false };
    closeSync(openSync(out, 'w'));
    writeState(stateFile, state);
  } else {
    process.stderr.write(`export: resuming after ${state.rows} rows (${state.pages} pages)\n`);
  }
  // Whatever a stopped run wrote after its last complete page goes.
  const fd = openSync(out, 'r+');
  ftruncateSync(fd, state.bytes);
  let offset = state.bytes;
  const bar = progress(process.stderr.isTTY === true);
  const totals = { rows: state.rows, pages: state.pages, sessionRows: 0 };
  const maxRequests = opts['max-requests'] ? Number(opts['max-requests']) : Infinity;
  let requests = 0;
  try {
    while (state.next) {
      if (requests++ >= maxRequests) {
        process.stderr.write(`export: stopped after ${maxRequests} requests; run the same command again to go on\n`);
        return 0;
      }
      const res = await fetch(state.next, { headers: { authorization: auth } });
      if (res.status !== 200) throw new Error(`GET ${state.next} answered ${res.status}: ${(await res.text()).slice(0, 500)}`);
      const next = nextOf(res.headers.get('link'));
      // A CSV's header goes in once, with the first page.
      const count = rowCounter(opts.format, opts.format === 'csv' && state.pages > 0);
      const decoder = new TextDecoder();
      let pageRows = 0;
      for await (const chunk of res.body) {
        const { rows, keep } = count(decoder.decode(chunk, { stream: true }));
        const bytes = Buffer.from(keep);
        writeSync(fd, bytes, 0, bytes.length, offset);
        offset += bytes.length;
        pageRows += rows;
        totals.sessionRows += rows;
        bar.update({ ...totals, rows: totals.rows + pageRows }, pageRows, Number(opts.page), offset);
      }
      const tail = count(decoder.decode());
      if (tail.keep) {
        writeSync(fd, Buffer.from(tail.keep), 0, Buffer.byteLength(tail.keep), offset);
        offset += Buffer.byteLength(tail.keep);
      }
      fsyncSync(fd);
      totals.rows += pageRows;
      totals.pages++;
      state = { ...state, next: next ?? null, bytes: offset, rows: totals.rows, pages: totals.pages, done: !next };
      writeState(stateFile, state);
      bar.update(totals, pageRows, Number(opts.page), offset, true);
    }
  } finally {
    closeSync(fd);
  }
  process.stderr.write(`export: done, ${state.rows} rows in ${out}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('export.mjs')) {
  runExport(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`export: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
