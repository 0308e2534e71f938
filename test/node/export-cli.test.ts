/**
 * `npm run export` (scripts/export.mjs) against a local Parley: an export
 * stopped after a few pages, or killed at any moment, and then run again with
 * the same command ends with the same file, byte for byte, as a one-shot
 * export; a CSV keeps a single header; a finished export is not redone.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { basicAuth, rest } from './rest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'scripts', 'export.mjs');
const base = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
const dir = mkdtempSync(path.join(tmpdir(), 'parley-export-cli-'));
let appId = '';
let key = '';
const TOTAL = 24;

const run = (args: string[]) => spawnSync(process.execPath, [CLI, '--app', appId, '--base', base, '--key', key, ...args], { encoding: 'utf8', timeout: 60_000 });

beforeAll(async () => {
  const app = await rest(base, 'POST', '/v2/apps', account, { displayName: 'export cli' });
  appId = app.body.app.id;
  const k = await rest(base, 'POST', `/v2/apps/${appId}/keys`, account, { displayName: 'cli' });
  key = `${k.body.key.id}:${k.body.key.secret}`;
  const auth = basicAuth(k.body.key.id, k.body.key.secret);
  const user = await rest(base, 'POST', `/v2/apps/${appId}/users`, auth, { externalId: 'cli-user' });
  const conversations = [];
  for (let c = 0; c < 3; c++) {
    const conv = await rest(base, 'POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: [{ userId: user.body.user.id }] });
    conversations.push(conv.body.conversation.id);
  }
  // Texts a CSV must quote (commas, quotes, line breaks) and non-ASCII, spread over the conversations.
  const texts = ['plain', 'with, comma', 'with "quotes"', 'two\r\nlines', 'naïve café 🎉', 'line\nfeed'];
  for (let i = 0; i < TOTAL; i++) {
    const res = await rest(base, 'POST', `/v2/apps/${appId}/conversations/${conversations[i % 3]}/messages`, auth, {
      author: i % 2 ? { type: 'business' } : { type: 'user', userId: user.body.user.id },
      content: { type: 'text', text: `${i}: ${texts[i % texts.length]}` },
    });
    expect(res.status).toBe(201);
  }
  // The index is written by the queue consumer: wait until it holds every message.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${base}/v2/apps/${appId}/exports/messages`, { headers: { authorization: auth } });
    const lines = (await res.text()).split('\n').filter(Boolean);
    if (lines.length === TOTAL) break;
    if (Date.now() > deadline) throw new Error(`the index holds ${lines.length} of ${TOTAL} messages`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run export', () => {
  for (const format of ['ndjson', 'csv'] as const) {
    it(`${format}: stopped after two pages and run again, the file equals a one-shot export`, async () => {
      const oneShot = path.join(dir, `one.${format}`);
      const once = run(['--format', format, '--out', oneShot]);
      expect(once.status, once.stderr).toBe(0);
      const expected = readFileSync(oneShot);
      const rows = format === 'ndjson' ? expected.toString().split('\n').filter(Boolean).length : undefined;
      if (rows !== undefined) expect(rows).toBe(TOTAL);
      if (format === 'csv') expect(expected.toString().match(/^id,conversationId,/gm)).toHaveLength(1);

      const paged = path.join(dir, `paged.${format}`);
      const first = run(['--format', format, '--out', paged, '--page', '5', '--max-requests', '2']);
      expect(first.status, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/stopped after 2 requests/);
      const state = JSON.parse(readFileSync(`${paged}.export-state.json`, 'utf8'));
      expect([state.rows, state.pages, state.done]).toEqual([10, 2, false]);
      const second = run(['--format', format, '--out', paged, '--page', '5']);
      expect(second.status, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/resuming after 10 rows \(2 pages\)/);
      expect(second.stderr).toMatch(new RegExp(`done, ${TOTAL} rows`));
      expect(readFileSync(paged).equals(expected)).toBe(true);

      // Run again once done: nothing is rewritten.
      const third = run(['--format', format, '--out', paged, '--page', '5']);
      expect(third.stderr).toMatch(/already complete/);
      expect(readFileSync(paged).equals(expected)).toBe(true);
      // Another query with the same file is refused rather than mixed in.
      expect(run(['--format', format, '--out', paged, '--page', '6']).stderr).toMatch(/belongs to another export/);
    });
  }

  it('killed mid-run (SIGKILL) and run again, the CSV equals a one-shot export', async () => {
    const expected = readFileSync(path.join(dir, 'one.csv'));
    const out = path.join(dir, 'killed.csv');
    const stateFile = `${out}.export-state.json`;
    const child = spawn(process.execPath, [CLI, '--app', appId, '--base', base, '--key', key, '--format', 'csv', '--out', out, '--page', '1'], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    // Killed once it has finished at least one page: wherever it was in the next one.
    const deadline = Date.now() + 30_000;
    while (!(existsSync(stateFile) && JSON.parse(readFileSync(stateFile, 'utf8')).pages >= 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    await exited;
    const before = JSON.parse(readFileSync(stateFile, 'utf8'));
    expect(before.done).toBe(false);
    const again = run(['--format', 'csv', '--out', out, '--page', '1']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming after \d+ rows/);
    expect(readFileSync(out).equals(expected)).toBe(true);
  });

  it('refuses to overwrite a file it did not write, and reports a bad parameter from Parley', () => {
    const out = path.join(dir, 'foreign.csv');
    writeFileSync(out, 'not an export\n');
    expect(run(['--out', out, '--format', 'csv']).stderr).toMatch(/exists and no export state/);
    expect(readFileSync(out, 'utf8')).toBe('not an export\n');
    const bad = run(['--out', path.join(dir, 'bad.ndjson'), '--since', 'yesterday']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/answered 400: .*since: must be an ISO 8601/);
  });
});
