/**
 * The capability matrix in README (content type × channel: native, fallback
 * or not sent) is generated from what each adapter in the registry declares
 * (`capabilities`), so the README cannot drift from the code: this test fails
 * when it does. The channel table beside it is prose, checked against the
 * registry: one row per channel, naming every secret field the adapter seals. `UPDATE_README=1 npx vitest run --project node
 * test/node/channel-matrix.test.ts` rewrites the block.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
/** The part of an adapter's `Capabilities` (src/channels/adapter.ts) the matrix reads. */
interface Capabilities {
  textMax: number;
  media: readonly string[];
  postbackButtons: number;
  linkButtons: number;
  quickReplies: number;
  locationRequest: boolean;
  carousel: object | null;
  location: boolean;
  templates: boolean;
}

/**
 * The registry, loaded at run time by path: a static import (even of types)
 * would pull the whole Worker, Durable Object types and all, into the Node typecheck.
 */
const REGISTRY = '../../src/channels/registry';
const registry = (await import(/* @vite-ignore */ REGISTRY)) as {
  CHANNEL_TYPES: readonly string[];
  adapterFor(type: string): { capabilities: Capabilities; secretFields: readonly string[]; createSchema: unknown } | undefined;
};
const { adapterFor, CHANNEL_TYPES } = registry;

const README = path.join(import.meta.dirname, '../../README.md');
const START = '<!-- capability-matrix:start (generated from the adapters by test/node/channel-matrix.test.ts) -->';
const END = '<!-- capability-matrix:end -->';

type Cell = 'native' | 'fallback' | 'not sent';

/** What the renderer does with each content type and action, given a channel's declared capabilities. */
const ROWS: [string, (c: Capabilities) => Cell][] = [
  ['text', () => 'native'],
  ['image', (c) => (c.media.includes('image') ? 'native' : 'fallback')],
  ['file', (c) => (c.media.includes('file') ? 'native' : 'fallback')],
  ['video', (c) => (c.media.includes('video') ? 'native' : 'fallback')],
  ['audio', (c) => (c.media.includes('audio') ? 'native' : 'fallback')],
  ['location', (c) => (c.location ? 'native' : 'fallback')],
  ['carousel', (c) => (c.carousel ? 'native' : 'fallback')],
  ['postback buttons', (c) => (c.postbackButtons > 0 ? 'native' : 'fallback')],
  ['link buttons', (c) => (c.linkButtons > 0 ? 'native' : 'fallback')],
  ['quick replies (`reply`)', (c) => (c.quickReplies > 0 ? 'native' : 'fallback')],
  ['location request', (c) => (c.locationRequest ? 'native' : 'fallback')],
  ['template (`schema: whatsapp`)', (c) => (c.templates ? 'native' : 'not sent')],
];

function matrix(): string {
  const channels = CHANNEL_TYPES.map((type) => ({ type, caps: adapterFor(type)!.capabilities }));
  const head = `| content | ${channels.map((c) => `\`${c.type}\``).join(' | ')} |`;
  const rule = `| --- | ${channels.map(() => '---').join(' | ')} |`;
  const rows = ROWS.map(([name, cell]) => `| ${name} | ${channels.map((c) => cell(c.caps)).join(' | ')} |`);
  const limits = `| text limit (characters) | ${channels.map((c) => String(c.caps.textMax)).join(' | ')} |`;
  return [START, '', head, rule, ...rows, limits, '', END].join('\n');
}

it('README holds the capability matrix the adapters declare', () => {
  const readme = readFileSync(README, 'utf8');
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  expect(from, `README needs the ${START} … ${END} block`).toBeGreaterThan(-1);
  const current = readme.slice(from, to + END.length);
  const generated = matrix();
  if (process.env.UPDATE_README === '1' && current !== generated) {
    writeFileSync(README, readme.slice(0, from) + generated + readme.slice(to + END.length));
    return;
  }
  expect(current, 'README is out of date: run UPDATE_README=1 npx vitest run --project node test/node/channel-matrix.test.ts').toBe(generated);
});

it("README's channel table has one row per registered channel, naming each secret the adapter seals", () => {
  const readme = readFileSync(README, 'utf8');
  const from = readme.indexOf('| type | create with |');
  expect(from, 'README needs the channel table').toBeGreaterThan(-1);
  const rows = readme.slice(from).split('\n\n')[0]!.split('\n').slice(2);
  const byType = new Map(rows.map((row) => [/^\| `([^`]+)`/.exec(row)?.[1] ?? row, row.split(' | ')[1] ?? '']));
  expect([...byType.keys()].sort()).toEqual([...CHANNEL_TYPES].sort());
  for (const type of CHANNEL_TYPES) {
    const adapter = adapterFor(type)!;
    // The secrets a customer must give at create (optional ones include what setup writes itself, like Telegram's secretToken).
    type Entry = { type?: string };
    type ObjectSchema = { entries?: Record<string, Entry>; pipe?: { entries?: Record<string, Entry> }[] };
    const schema = adapter.createSchema as ObjectSchema;
    const entries = schema.entries ?? schema.pipe?.[0]?.entries ?? {};
    const required = adapter.secretFields.filter((f) => entries[f] !== undefined && entries[f]!.type !== 'optional');
    for (const field of required) expect(byType.get(type), `${type}'s row names ${field}`).toContain(`\`${field}\``);
  }
});
