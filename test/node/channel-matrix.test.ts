/**
 * README's channel table and capability matrix are generated from the
 * registered adapters (test/node/channel-table.ts), so the README cannot
 * drift from the code: this test fails when it does, and
 * `UPDATE_README=1 npx vitest run --project node test/node/channel-matrix.test.ts`
 * rewrites both blocks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { CHANNEL_DOCS } from './channel-docs';
import { CHANNEL_TYPES, channelTable, createFields, matrix, MATRIX_END, MATRIX_START, TABLE_END, TABLE_START } from './channel-table';

const README = path.join(import.meta.dirname, '../../README.md');

function checkBlock(start: string, end: string, generated: string) {
  const readme = readFileSync(README, 'utf8');
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  expect(from, `README needs the ${start} … ${end} block`).toBeGreaterThan(-1);
  const current = readme.slice(from, to + end.length);
  if (process.env.UPDATE_README === '1' && current !== generated) {
    writeFileSync(README, readme.slice(0, from) + generated + readme.slice(to + end.length));
    return;
  }
  expect(current, 'README is out of date: run UPDATE_README=1 npx vitest run --project node test/node/channel-matrix.test.ts').toBe(generated);
}

it('README holds the capability matrix the adapters declare', () => {
  checkBlock(MATRIX_START, MATRIX_END, matrix());
});

it('README holds the channel table generated from the adapters', () => {
  checkBlock(TABLE_START, TABLE_END, channelTable());
});

it('every registered channel is documented, and only those', () => {
  expect(Object.keys(CHANNEL_DOCS).sort()).toEqual([...CHANNEL_TYPES].sort());
  for (const [type, doc] of Object.entries(CHANNEL_DOCS)) {
    const names = new Set(createFields(type).map((f) => f.name));
    for (const field of Object.keys(doc.fieldNotes ?? {})) expect(names, `${type}'s note on ${field} names a create field`).toContain(field);
  }
});
