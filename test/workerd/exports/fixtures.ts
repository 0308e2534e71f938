/**
 * Shared steps of the export suites: index rows written through the index
 * consumer's own applyIndexOps (so times, ids and ties are chosen by the test),
 * an export read as raw text with its headers, and an RFC 4180 reader that
 * checks the quoting it parses.
 */
import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { applyIndexOps } from '../../../src/delivery/index-consumer';
import type { IndexOp } from '../../../src/schema/index-ops';

let counter = 0;
/** A fresh 24-hex id; `prefix` (hex) lets a test choose how ids sort. */
export const hexId = (prefix = '') => `${prefix}${(++counter).toString(16)}${crypto.randomUUID().replace(/-/g, '')}`.slice(0, 24).padEnd(24, '0');

export interface SeedMessage {
  id?: string;
  conversationId: string;
  seq: number;
  received: string;
  authorType?: 'user' | 'business';
  userId?: string | null;
  /** source.type in the body */
  source?: string;
  /** the op's integrationType (the channel a business message went to) */
  channel?: string;
  text?: string;
  mediaUrl?: string;
}

export function messageOp(appId: string, m: SeedMessage): IndexOp & { op: 'message.upsert' } {
  const id = m.id ?? hexId();
  const authorType = m.authorType ?? 'user';
  const content = m.mediaUrl ? { type: 'image', mediaUrl: m.mediaUrl, ...(m.text ? { text: m.text } : {}) } : { type: 'text', text: m.text ?? `message ${id}` };
  const body = {
    id,
    received: m.received,
    seq: m.seq,
    author: authorType === 'user' ? { type: 'user', userId: m.userId ?? 'aaaaaaaaaaaaaaaaaaaaaaaa' } : { type: 'business' },
    content,
    source: { type: m.source ?? (authorType === 'user' ? 'whatsapp' : 'api:conversations') },
  };
  return {
    op: 'message.upsert',
    appId,
    conversationId: m.conversationId,
    message: {
      id,
      seq: m.seq,
      received: m.received,
      authorType,
      authorUserId: authorType === 'user' ? (m.userId ?? 'aaaaaaaaaaaaaaaaaaaaaaaa') : null,
      contentType: content.type,
      text: content.text ?? null,
      body: JSON.stringify(body),
      ...(m.channel ? { integrationType: m.channel } : {}),
    },
  };
}

/** Writes the messages into the index the way the index consumer does; returns their ids. */
export async function seed(appId: string, messages: SeedMessage[]): Promise<string[]> {
  const ops = messages.map((m) => messageOp(appId, m));
  for (let i = 0; i < ops.length; i += 50) expect(await applyIndexOps(env, ops.slice(i, i + 50))).toBe(true);
  return ops.map((o) => o.message.id);
}

export async function exportRaw(path: string, auth: string) {
  const res = await SELF.fetch(`http://parley.test${path}`, { headers: { authorization: auth } });
  // Decoded by hand: workerd warns when .text() reads a body typed application/x-ndjson.
  return { status: res.status, headers: res.headers, text: new TextDecoder().decode(await res.arrayBuffer()) };
}

export const ndjson = (text: string) =>
  text
    .split('\n')
    .filter((l, i, all) => {
      if (i === all.length - 1) expect(l, 'the body ends with a newline').toBe('');
      return l !== '';
    })
    .map((l) => JSON.parse(l));

/** Parses RFC 4180 CSV strictly: CRLF record ends, quoted fields with doubled quotes, nothing after a closing quote. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
        if (text[i] === '"') throw new Error(`bare quote in an unquoted field at ${i}`);
        field += text[i++];
      }
    }
    fields.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text.startsWith('\r\n', i)) {
      i += 2;
      records.push(fields);
      fields = [];
      continue;
    }
    throw new Error(`expected , or CRLF at ${i}, found ${JSON.stringify(text.slice(i, i + 10))}`);
  }
  if (fields.length) throw new Error('last record has no CRLF');
  return records;
}

/** The target of a `Link: <…>; rel="next"` header as a path with its query, or undefined. */
export function nextLink(headers: Headers): string | undefined {
  const link = headers.get('link');
  if (!link) return undefined;
  const m = link.match(/^<([^>]+)>; rel="next"$/);
  expect(m, `Link header ${link}`).not.toBeNull();
  const url = new URL(m![1]!);
  return url.pathname + url.search;
}

/** ISO time `ms` milliseconds after a fixed base, so tests choose ties and order. */
export const at = (ms: number) => new Date(Date.UTC(2026, 0, 10) + ms).toISOString();
