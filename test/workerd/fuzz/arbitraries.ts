/**
 * Generators for hostile input: arbitrary JSON, mutations of valid bodies
 * (fields dropped, retyped, nulled, wrapped, stretched past their limits,
 * extra fields), bodies that are not JSON at all or nested deeper than any
 * parser's stack, oversize and streamed bodies, wrong content types, garbage
 * query strings and path segments. Every generated request prints short, so a
 * shrunk counterexample reads in one screen.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

// ---- leaves ----------------------------------------------------------------------

/** Lengths on both sides of every limit the contract sets (names, texts, metadata, ids, URIs). */
const LIMIT_LENGTHS = [0, 1, 2, 16, 23, 24, 25, 64, 65, 100, 101, 128, 129, 256, 257, 512, 513, 1000, 1001, 1024, 1025, 2048, 2049, 4096, 4097, 20_000];

export const boundaryString = fc
  .tuple(fc.constantFrom(...LIMIT_LENGTHS), fc.constantFrom('a', 'é', '💥', ' ', '0', '\u0000'))
  .map(([n, c]) => c.repeat(n));

const SPECIAL_STRINGS = [
  '',
  ' ',
  '\t\n',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '\u202e',
  '💥',
  'null',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'NaN',
  '-0',
  '1e999',
  "'; DROP TABLE users; --",
  '?',
  '%',
  '%zz',
  '%00',
  '../..',
  'javascript:alert(1)',
  'http://',
  'https://',
  'https://example.org/a.png',
  'http://localhost:1/x',
  'http://127.0.0.1/',
  'http://[::1]/',
  'http://169.254.169.254/latest/meta-data',
  'ftp://example.org/file',
  'data:text/plain,hi',
  '//example.org',
  'ada@example.org',
  'not-an-email',
  '2026-01-31T12:00:00.000Z',
  '2026-13-45T99:99:99Z',
  '0001-01-01T00:00:00Z',
  '0123456789abcdef01234567',
  'ABCDEF0123456789ABCDEF01',
  '0123456789abcdef0123456',
  'en-US',
  'business',
  'user',
  'personal',
  'sdkGroup',
  'text',
  'custom',
  'whatsapp',
  'me',
  '*',
];

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_STRINGS) },
  { weight: 2, arbitrary: boundaryString },
);

export const nastyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 2, 10, 11, 90, 90.000001, -90.000001, 180, 180.000001, -181, 100, 101, 255, 256, 2 ** 31, -(2 ** 31), 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, -Number.MAX_SAFE_INTEGER, 1e21, 1e308, -1e308, 5e-324, Number.MAX_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value, including shapes no schema expects (deep objects, odd keys, big arrays). */
export const anyJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 3, arbitrary: fc.boolean() },
    { weight: 4, arbitrary: nastyNumber },
    { weight: 6, arbitrary: nastyString },
    { weight: 3, arbitrary: fc.array(tie('value'), { maxLength: 6 }) },
    { weight: 4, arbitrary: fc.dictionary(fc.oneof(nastyString, fc.constantFrom('type', 'text', 'author', 'content', 'id', 'userId', 'metadata', 'payload')), tie('value'), { maxKeys: 6 }) },
  ),
})).value;

/** A value of a different shape than a field expects: the usual suspects first. */
export const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Json>(null, true, false, 0, -1, '', [], {}, [null], { '': null }, 'x') },
  { weight: 3, arbitrary: nastyString },
  { weight: 2, arbitrary: nastyNumber },
  { weight: 2, arbitrary: anyJson },
);

// ---- deep nesting ------------------------------------------------------------------

/** Marks where a deeply nested value goes; replaced in the serialized text (JSON.stringify would overflow on it). */
const DEEP = '\u0000__fuzz_deep__\u0000';
const deepText = (depth: number, kind: 'array' | 'object') => (kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
export const deepSpec = fc.record({ depth: fc.constantFrom(32, 60, 63, 64, 65, 1_000, 10_000, 40_000), kind: fc.constantFrom<'array' | 'object'>('array', 'object') });

// ---- mutations of valid bodies ----------------------------------------------------------

export type MutationKind =
  | 'drop'
  | 'null'
  | 'retype'
  | 'extraField'
  | 'wrapInArray'
  | 'objectToArray'
  | 'stretchArray'
  | 'emptyArray'
  | 'boundaryString'
  | 'numberAsString'
  | 'deep'
  | 'deepField'
  | 'protoKey';

export interface Mutation {
  kind: MutationKind;
  /** Which node of the body (index into its nodes, modulo their count). */
  at: number;
  value: Json;
  key: string;
  times: number;
  deep: { depth: number; kind: 'array' | 'object' };
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom<MutationKind>('drop', 'drop', 'null', 'retype', 'retype', 'retype', 'extraField', 'extraField', 'wrapInArray', 'objectToArray', 'stretchArray', 'emptyArray', 'boundaryString', 'boundaryString', 'numberAsString', 'deep', 'deepField', 'protoKey'),
  at: fc.nat({ max: 1000 }),
  value: wrongValue,
  key: fc.oneof(nastyString, fc.constantFrom('type', 'extra', 'id', '__proto__', 'constructor')),
  times: fc.constantFrom(2, 4, 11, 21, 31, 101),
  deep: deepSpec,
});

type Path = (string | number)[];

/** Every node of a JSON value with its path, root first. */
function nodes(value: Json, path: Path = [], out: { path: Path; value: Json }[] = []) {
  out.push({ path, value });
  if (Array.isArray(value)) value.forEach((v, i) => nodes(v, [...path, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) nodes(v, [...path, k], out);
  return out;
}

const clone = (value: Json): Json => JSON.parse(JSON.stringify(value)) as Json;

function replaceAt(root: Json, path: Path, next: Json | undefined): Json {
  if (path.length === 0) return next === undefined ? null : next;
  const parentPath = path.slice(0, -1);
  let parent: Json = root;
  for (const step of parentPath) parent = (parent as Record<string | number, Json>)[step]!;
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    if (next === undefined) parent.splice(last as number, 1);
    else parent[last as number] = next;
  } else if (parent && typeof parent === 'object') {
    if (next === undefined) delete parent[last as string];
    else parent[last as string] = next;
  }
  return root;
}

/** Applies mutations to a copy of a valid body; returns the JS value and the deep-nesting markers to splice in. */
export function mutate(valid: Json, mutations: Mutation[]): { value: Json; deep: Mutation['deep'][] } {
  let body = clone(valid);
  const deep: Mutation['deep'][] = [];
  for (const m of mutations) {
    const all = nodes(body);
    const { path, value } = all[m.at % all.length]!;
    switch (m.kind) {
      case 'drop':
        body = replaceAt(body, path, undefined);
        break;
      case 'null':
        body = replaceAt(body, path, null);
        break;
      case 'retype':
        body = replaceAt(body, path, clone(m.value));
        break;
      case 'extraField': {
        const target = value && typeof value === 'object' && !Array.isArray(value) ? path : path.slice(0, -1);
        const holder = target.length === 0 ? body : nodes(body).find((n) => JSON.stringify(n.path) === JSON.stringify(target))?.value;
        if (holder && typeof holder === 'object' && !Array.isArray(holder)) holder[m.key] = clone(m.value);
        else if (Array.isArray(holder)) holder.push(clone(m.value));
        break;
      }
      case 'wrapInArray':
        body = replaceAt(body, path, [clone(value)]);
        break;
      case 'objectToArray':
        body = replaceAt(body, path, value && typeof value === 'object' ? Object.values(value) : [value]);
        break;
      case 'stretchArray':
        body = replaceAt(body, path, Array.isArray(value) && value.length > 0 ? Array.from({ length: m.times }, (_, i) => clone(value[i % value.length]!)) : Array.from({ length: m.times }, () => clone(value)));
        break;
      case 'emptyArray':
        body = replaceAt(body, path, Array.isArray(value) ? [] : value && typeof value === 'object' ? {} : '');
        break;
      case 'boundaryString':
        body = replaceAt(body, path, (typeof value === 'string' && value ? [...value][0]! : 'a').repeat(LIMIT_LENGTHS[Math.floor(m.at / 7) % LIMIT_LENGTHS.length]!));
        break;
      case 'numberAsString':
        body = replaceAt(body, path, typeof value === 'number' ? String(value) : typeof value === 'string' && value !== '' && !Number.isNaN(Number(value)) ? Number(value) : typeof value === 'boolean' ? String(value) : m.times);
        break;
      case 'deep':
        deep.push(m.deep);
        body = replaceAt(body, path, DEEP);
        break;
      case 'deepField': {
        // An extra field holding deep nesting: what loose schemas (looseObject, unknown) let through.
        const holder = value && typeof value === 'object' && !Array.isArray(value) ? value : all.find((n) => n.value && typeof n.value === 'object' && !Array.isArray(n.value))?.value;
        if (holder && typeof holder === 'object' && !Array.isArray(holder)) {
          holder[m.key] = DEEP;
          deep.push(m.deep);
        }
        break;
      }
      case 'protoKey': {
        const holder = value && typeof value === 'object' && !Array.isArray(value) ? value : body;
        if (holder && typeof holder === 'object' && !Array.isArray(holder)) Object.defineProperty(holder, m.key === '__proto__' ? '__proto__' : 'constructor', { value: clone(m.value), enumerable: true, configurable: true, writable: true });
        break;
      }
    }
  }
  return { value: body, deep };
}

/** Serializes a mutated body, splicing each deep-nesting marker in as text. */
export function serialize(value: Json, deep: Mutation['deep'][] = []): string {
  let text = JSON.stringify(value) ?? 'null';
  for (const d of deep) text = text.replace(JSON.stringify(DEEP), deepText(d.depth, d.kind));
  return text;
}

// ---- whole bodies -----------------------------------------------------------------

export type BodyKind = 'valid' | 'mutated' | 'json' | 'text' | 'deep' | 'empty' | 'oversize' | 'stream' | 'bytes';

/** A request body as sent: its bytes (or a stream recipe) and what produced it, for the report. */
export interface FuzzBody {
  kind: BodyKind;
  text?: string;
  bytes?: Uint8Array;
  /** A body streamed in chunks without Content-Length: `chunks` × `chunkSize` bytes of JSON string. */
  stream?: { chunks: number; chunkSize: number };
  note?: string;
}

const short = (s: string, n = 1200) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

export function describeBody(b: FuzzBody): string {
  if (b.stream) return `stream ${b.stream.chunks}×${b.stream.chunkSize} bytes`;
  if (b.bytes) return `bytes[${b.bytes.byteLength}] ${short(Array.from(b.bytes.slice(0, 24), (x) => x.toString(16).padStart(2, '0')).join(''))}`;
  return `${b.kind}${b.note ? ` (${b.note})` : ''}: ${short(b.text ?? '')}`;
}

const GARBAGE_TEXTS = ['{', '}', '{"a":', '[1,2', 'nul', 'undefined', 'NaN', '{"a":NaN}', '{"a":Infinity}', "{'a':1}", '{"a":1}}', '{"a":1} trailing', '\ufeff{}', '{"a":"\\ud800"}', '{"a":"\\x00"}', '{"a":01}', '1e99999', '"\\u0000"', '{"__proto__":{"polluted":true}}', '<?xml version="1.0"?><a/>', 'a=1&b=2', '--boundary\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--boundary--'];

/** Bodies that are not a valid body of this route: arbitrary JSON, text, raw bytes, deep nesting, nothing, too much. */
export function bodyArb(valid?: fc.Arbitrary<Json>): fc.Arbitrary<FuzzBody> {
  const mutated = valid
    ? fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([v, ms]): FuzzBody => {
        const { value, deep } = mutate(v, ms);
        return { kind: 'mutated', text: serialize(value, deep), note: ms.map((m) => m.kind).join('+') };
      })
    : undefined;
  const arbs: fc.WeightedArbitrary<FuzzBody>[] = [
    ...(valid && mutated
      ? [
          { weight: 14, arbitrary: mutated },
          { weight: 2, arbitrary: valid.map((v): FuzzBody => ({ kind: 'valid', text: serialize(v) })) },
        ]
      : []),
    { weight: 4, arbitrary: anyJson.map((v): FuzzBody => ({ kind: 'json', text: serialize(v) })) },
    {
      weight: 2,
      arbitrary: fc.oneof(fc.constantFrom(...GARBAGE_TEXTS), fc.string({ unit: 'binary', maxLength: 60 }), valid ? valid.chain((v) => fc.nat({ max: 200 }).map((cut) => serialize(v).slice(0, cut))) : fc.string()).map((text): FuzzBody => ({ kind: 'text', text })),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes): FuzzBody => ({ kind: 'bytes', bytes })) },
    { weight: 1, arbitrary: deepSpec.map((d): FuzzBody => ({ kind: 'deep', text: deepText(d.depth, d.kind), note: `${d.kind} depth ${d.depth}` })) },
    { weight: 1, arbitrary: fc.constant<FuzzBody>({ kind: 'empty', text: '' }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid ?? anyJson, fc.constantFrom(100 * 1024 - 40, 100 * 1024 + 1, 150 * 1024, 1024 * 1024 + 1))
        .map(([v, size]): FuzzBody => {
          // A valid body padded with an extra field to `size` bytes: refused for its size alone (or for the field).
          const base = v && typeof v === 'object' && !Array.isArray(v) ? v : { value: v };
          const head = serialize({ ...base, pad: '' }).slice(0, -2);
          return { kind: 'oversize', text: `${head}${'x'.repeat(Math.max(0, size - head.length - 2))}"}`, note: `${size} bytes` };
        }),
    },
    { weight: 1, arbitrary: fc.record({ chunks: fc.constantFrom(1, 4, 8), chunkSize: fc.constantFrom(1024, 16 * 1024, 64 * 1024) }).map((stream): FuzzBody => ({ kind: 'stream', stream })) },
  ];
  return fc.oneof(...arbs);
}

/** Content types: mostly JSON (so the body reaches its schema), else everything a confused client sends. */
export const jsonContentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('application/json') },
  { weight: 2, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=latin1', 'application/json ; x=1') },
  {
    weight: 2,
    arbitrary: fc.constantFrom<string | undefined>(undefined, '', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'application/vnd.api+json', 'application/*', '*/*', 'json', ';'),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30, unit: 'grapheme-ascii' }) },
);

// ---- query strings and path segments ------------------------------------------------

/** Lone surrogates cannot be percent-encoded; the bytes a client would send for them are U+FFFD's. */
const wellFormed = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s));
const encode = (s: string) => encodeURIComponent(wellFormed(s));

const QUERY_KEYS = ['page[size]', 'page[after]', 'page[before]', 'filter[userId]', 'filter[userExternalId]', 'filter[types]', 'filter[serviceAccountId]', 'page', 'page[]', 'filter', 'limit', 'offset'];

const queryValue = fc.oneof(nastyString, nastyNumber.map(String), fc.constantFrom('0', '1', '100', '101', '-1', '1.5', '1e2', ' 1', '0x10', '', 'custom,telegram', ',,,', 'a'.repeat(40)));

/** A raw query string (without `?`): known keys with odd values, repeated keys, unknown keys, broken encoding. */
export const queryArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('') },
  {
    weight: 6,
    arbitrary: fc
      .array(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: nastyString }), queryValue), { maxLength: 5 })
      .map((pairs) => pairs.map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&')),
  },
  { weight: 2, arbitrary: fc.constantFrom('%', '%zz', '&&&', '=', '==&=', 'page[size]', 'page%5Bsize%5D=5', 'page[size]=1&page[size]=101', 'a=%E0%A4%A', '%00=%00', `x=${'y'.repeat(8000)}`, 'filter[userId]=&filter[userExternalId]=', '[=]') },
);

/**
 * Path segments that are not the id a route expects. Never `/`, `?`, `#`, or
 * dot segments (`..`, `%2e%2e`), which URL parsing resolves into another,
 * real route: on a DELETE route that deletes the seeded parent.
 */
export const garbageSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('0123456789abcdef01234567', 'ffffffffffffffffffffffff', '000000000000000000000000', 'ABCDEF0123456789ABCDEF01', 'me', '...', '%2F', '%00', '%', '%zz', '%E0%A4%A', '__proto__', 'constructor', 'null', 'undefined', 'x'.repeat(300), 'app_000000000000000000000000', 'int_000000000000000000000000', '%F0%9F%92%A5'),
  nastyString.filter((s) => s.length > 0).map(encode),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 24, maxLength: 24 }),
);

/** Authorization headers that identify nobody (or the wrong key): each route must answer 401/403 to all of them. */
export const badAuthorization: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constantFrom<string | undefined>(undefined, '', 'Basic', 'Basic ', 'Basic !!!', 'Basic Og==', 'Basic YQ==', 'Bearer', 'Bearer ', 'Bearer a.b.c', 'Bearer ..', 'Bearer eyJhbGciOiJub25lIn0.e30.', 'Digest x', 'basic YTpi', 'Basic YXBwXzA6eA==', 'Basic aW50XzA6eA=='),
  fc.string({ maxLength: 60 }).map((s) => `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(s)))}`),
  fc.string({ maxLength: 60, unit: 'grapheme-ascii' }).map((s) => `Bearer ${s}`),
  fc.string({ maxLength: 60, unit: 'grapheme-ascii' }),
);
