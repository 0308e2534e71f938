/**
 * Building blocks shared by every request schema: ids, bounded strings, URIs,
 * flat metadata and the 400 title format. Limits are the wire contract's.
 */
import * as v from 'valibot';

export const LIMITS = {
  bodyBytes: 100 * 1024,
  textChars: 4096,
  metadataBytes: 4096,
  messagesPerConversation: 30_000,
  keysPerApp: 10,
  sdkGroupParticipants: 10,
} as const;

export const boundedString = (min: number, max: number) =>
  v.pipe(
    v.string('must be a string'),
    v.minLength(min, `must be at least ${min} character${min === 1 ? '' : 's'} long`),
    v.maxLength(max, `must be at most ${max} characters long`),
  );

export const uri = (max = 2048) =>
  v.pipe(v.string('must be a string'), v.maxLength(max, `must be at most ${max} characters long`), v.url('must be a valid URI'));

export const isoDate = v.pipe(
  v.string('must be an ISO 8601 date string'),
  v.isoTimestamp('must be an ISO 8601 date string, e.g. 2026-01-31T12:00:00.000Z'),
);

export const objectId = v.pipe(v.string('must be a string'), v.regex(/^[0-9a-f]{24}$/, 'must be a 24-character id'));

const byteLength = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).byteLength;

/** Flat key/value metadata (strings, numbers, booleans), at most 4 KB serialized. */
const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

export const metadata = v.pipe(
  v.custom<Record<string, unknown>>(isPlainObject, 'must be an object'),
  v.record(
    v.string(),
    v.union([v.string(), v.number(), v.boolean()], 'must be flat: values may only be strings, numbers or booleans'),
    'must be an object',
  ),
  v.check((m) => byteLength(m) <= LIMITS.metadataBytes, `must be at most ${LIMITS.metadataBytes} bytes`),
);
export type Metadata = v.InferOutput<typeof metadata>;

/** Renders a valibot failure as the v2 error title: the dotted path of the field, then what is wrong. */
export function describeIssue(issue: v.BaseIssue<unknown>): string {
  const path = (issue.path ?? [])
    .map((item) => String((item as { key: unknown }).key))
    .reduce((acc, key) => (/^\d+$/.test(key) ? `${acc}[${key}]` : acc ? `${acc}.${key}` : key), '');
  const received = issue.kind === 'schema' && issue.received === 'undefined' ? 'is required' : issue.message;
  // Cross-field checks already name their fields ("content.text: ..."); don't prefix them twice.
  if (!path || /^[\w.[\]]+: /.test(received)) return received;
  return `${path}: ${received}`;
}
