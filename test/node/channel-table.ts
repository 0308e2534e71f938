/**
 * Generates README's two channel blocks from the registered adapters: the
 * channel table (create fields and secrets from each adapter's create schema,
 * native and fallback content with limits from its declared capabilities,
 * the protocol prose from channel-docs.ts) and the capability matrix
 * (content type × channel: native, fallback or not sent). The registry is
 * loaded at run time by path: a static import (even of types) would pull the
 * whole Worker, Durable Object types and all, into the Node typecheck.
 */
import { CHANNEL_DOCS } from './channel-docs';

/** The part of an adapter's `Capabilities` (src/channels/adapter.ts) the blocks read. */
export interface Capabilities {
  textMax: number;
  media: readonly string[];
  postbackButtons: number;
  linkButtons: number;
  quickReplies: number;
  locationRequest: boolean;
  carousel: { maxItems: number; maxButtons: number } | null;
  location: boolean;
  templates: boolean;
  markup: 'html' | 'markdown' | 'plain';
}

interface Adapter {
  capabilities: Capabilities;
  secretFields: readonly string[];
  createSchema: unknown;
}

const REGISTRY = '../../src/channels/registry';
const registry = (await import(/* @vite-ignore */ REGISTRY)) as { CHANNEL_TYPES: readonly string[]; adapterFor(type: string): Adapter | undefined };
export const CHANNEL_TYPES = registry.CHANNEL_TYPES;
const adapterOf = (type: string) => registry.adapterFor(type)!;

export const TABLE_START = '<!-- channel-table:start (generated from the adapters by test/node/channel-matrix.test.ts) -->';
export const TABLE_END = '<!-- channel-table:end -->';
export const MATRIX_START = '<!-- capability-matrix:start (generated from the adapters by test/node/channel-matrix.test.ts) -->';
export const MATRIX_END = '<!-- capability-matrix:end -->';

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
  // No channel adapter takes payments or forms natively: each buy action goes as a link to Parley's pay page and each
  // form as its text and a link to Parley's form page (src/content/page-links.ts), shown as a link button or a line.
  ['payments (`buy` action)', () => 'fallback'],
  ['form', () => 'fallback'],
];

export function matrix(): string {
  const channels = CHANNEL_TYPES.map((type) => ({ type, caps: adapterOf(type).capabilities }));
  const head = `| content | ${channels.map((c) => `\`${c.type}\``).join(' | ')} |`;
  const rule = `| --- | ${channels.map(() => '---').join(' | ')} |`;
  const rows = ROWS.map(([name, cell]) => `| ${name} | ${channels.map((c) => cell(c.caps)).join(' | ')} |`);
  const limits = `| text limit (characters) | ${channels.map((c) => String(c.caps.textMax)).join(' | ')} |`;
  return [MATRIX_START, '', head, rule, ...rows, limits, '', MATRIX_END].join('\n');
}

type Entry = { type?: string };
type ObjectSchema = { entries?: Record<string, Entry>; pipe?: { entries?: Record<string, Entry> }[] };

/** The create body's fields, in schema order: `apiBaseUrl` (every channel has it) left to the note under the table. */
export function createFields(type: string): { name: string; optional: boolean; secret: boolean }[] {
  const adapter = adapterOf(type);
  const schema = adapter.createSchema as ObjectSchema;
  const entries = schema.entries ?? schema.pipe?.[0]?.entries ?? {};
  return Object.entries(entries)
    .filter(([name]) => name !== 'apiBaseUrl')
    .map(([name, e]) => ({ name, optional: e.type === 'optional', secret: adapter.secretFields.includes(name) }));
}

function createColumn(type: string): string {
  const notes = CHANNEL_DOCS[type]?.fieldNotes ?? {};
  const field = (f: { name: string; secret: boolean }) => `\`${f.name}\`${f.secret ? '🔒' : ''}${notes[f.name] ? ` (${notes[f.name]})` : ''}`;
  const fields = createFields(type);
  const required = fields.filter((f) => !f.optional).map(field);
  const optional = fields.filter((f) => f.optional).map(field);
  return [required.join(', '), optional.length ? `optional ${optional.join(', ')}` : ''].filter(Boolean).join('; ');
}

/** "native: …; fallback: …" with the limits the adapter declares. */
function contentColumn(c: Capabilities): string {
  const native: string[] = [c.markup === 'plain' ? 'text' : `text (${c.markup === 'html' ? 'HTML' : 'Markdown'})`];
  const fallback: string[] = [];
  const put = (ok: boolean, what: string) => (ok ? native : fallback).push(what);
  for (const kind of ['image', 'file', 'video', 'audio']) put(c.media.includes(kind), kind);
  put(c.location, 'location');
  put(c.postbackButtons > 0, c.postbackButtons > 0 ? `postback buttons (≤${c.postbackButtons})` : 'postback buttons');
  put(c.linkButtons > 0, c.linkButtons > 0 ? `link buttons (≤${c.linkButtons})` : 'link buttons');
  put(c.quickReplies > 0, c.quickReplies > 0 ? `quick replies (≤${c.quickReplies})` : 'quick replies');
  put(c.locationRequest, 'location request');
  put(c.carousel !== null, c.carousel ? `carousel (≤${c.carousel.maxItems} cards, ≤${c.carousel.maxButtons} buttons each)` : 'carousel');
  if (c.templates) native.push('WhatsApp templates');
  return [`native: ${native.join(', ')}`, fallback.length ? `fallback: ${fallback.join(', ')}` : '', `text ≤ ${c.textMax.toLocaleString('en-US')} characters`].filter(Boolean).join('; ');
}

export function channelTable(): string {
  const head = '| type | create with (🔒 write-only secret) | inbound (verified on the raw bytes) | outbound | content: native / fallback | setup on the real channel |';
  const rule = '| --- | --- | --- | --- | --- | --- |';
  const rows = CHANNEL_TYPES.map((type) => {
    const doc = CHANNEL_DOCS[type];
    if (!doc) throw new Error(`test/node/channel-docs.ts has no entry for the registered channel "${type}": add its inbound, outbound and setup prose`);
    const content = contentColumn(adapterOf(type).capabilities) + (doc.renderNote ? `. ${doc.renderNote}` : '');
    return `| \`${type}\`${doc.label ? ` (${doc.label})` : ''} | ${createColumn(type)} | ${doc.inbound} | ${doc.outbound} | ${content} | ${doc.setup} |`;
  });
  return [TABLE_START, '', head, rule, ...rows, '', TABLE_END].join('\n');
}
