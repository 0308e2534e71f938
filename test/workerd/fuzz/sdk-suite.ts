/**
 * What the Web Messenger fuzz properties (sdk.test.ts) share: a seeded world
 * (an app with three `web` integrations, browser sessions on each, a logged-in
 * user, a group and a deleted conversation, another tenant with its own
 * widget), generators for the browser's credentials (session tokens valid,
 * foreign, expired, garbled or forged with Parley's own key; business JWTs for
 * login), Origin headers, multipart bodies, and one run: send, then no 5xx, a
 * v2 error body on every 4xx, nothing stored after a refusal (D1 users,
 * clients and conversations, the watched conversations' DO state, R2's
 * objects), and the CORS rule: a browser on an origin the integration does
 * not list never reads an answer.
 */
import { env, SELF } from 'cloudflare:test';
import fc from 'fast-check';
import type { Env } from '../../../src/env';
import { issueSession } from '../../../src/web/session';
import { call, newApp } from '../helpers';
import { b64url, hmacSha256 } from '../fixtures';
import { describeBody, garbageSegment, nastyString, type FuzzBody, type Json, type Mutation, mutate, serialize } from './arbitraries';
import { conversationState, expectNo5xx, expectV2Error, logMark, logSince, ORIGIN, streamOf, type Sent } from './world';

export const SHOP = 'https://shop.example.com';

// ---- the world ---------------------------------------------------------------------------------

export interface Session {
  token: string;
  userId: string;
  clientId: string;
  conversationId: string;
  integrationId: string;
  externalId?: string;
}

export interface World {
  appId: string;
  auth: string;
  key: { id: string; secret: string };
  /** Web integrations: w1 lists SHOP only; w2 lists nothing (any site) and lets users open conversations; w3 refuses uploads. */
  w1: string;
  w2: string;
  w3: string;
  customId: string;
  sessions: Record<SessionLabel, Session>;
  groupId: string;
  deletedId: string;
  formId: string;
  textId: string;
  mediaUrl: string;
  /** Uploads kept for the GET /attachments property: path /attachments/{appId}/{key}/{name}. */
  objects: { appId: string; key: string; name: string; type: string; size: number }[];
  other: { appId: string; auth: string; key: { id: string; secret: string }; web: string; session: Session };
  expired: Record<SessionLabel, string>;
}

export const SESSION_LABELS = ['s1', 's2', 'sw2', 'sw3', 'known'] as const;
export type SessionLabel = (typeof SESSION_LABELS)[number];

export let w: World;

async function must(method: string, path: string, auth: string, body?: unknown) {
  const res = await call(method, path, auth, body);
  if (res.status >= 300) throw new Error(`fuzz setup: ${method} ${path} answered ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function browserJson(method: string, path: string, body: unknown, token?: string, origin?: string) {
  const res = await SELF.fetch(`${ORIGIN}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const parsed = await res.json<any>();
  if (res.status >= 300) throw new Error(`fuzz setup: ${method} ${path} answered ${res.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

const sessionOf = (answer: any): Session => ({
  token: answer.session.token,
  userId: answer.user.id,
  clientId: answer.client.id,
  conversationId: answer.conversation.id,
  integrationId: answer.client.integrationId,
  ...(answer.user.externalId ? { externalId: answer.user.externalId } : {}),
});

export async function startSession(appId: string, integrationId: string, origin?: string): Promise<Session> {
  return sessionOf(await browserJson('POST', `/sdk/v2/apps/${appId}/sessions`, { integrationId }, undefined, origin));
}

/** A business JWT for login, signed by hand (not with src/auth/jwt.ts). */
export async function userJwt(header: Json, payload: Json, secret: string, headerText?: string, payloadText?: string): Promise<string> {
  const input = `${b64url(headerText ?? JSON.stringify(header))}.${b64url(payloadText ?? JSON.stringify(payload))}`;
  return `${input}.${b64url(await hmacSha256(secret, input))}`;
}

export async function uploadAs(token: string, name: string, type: string, bytes: Uint8Array): Promise<{ mediaUrl: string; mediaType: string; mediaSize: number }> {
  const form = new FormData();
  form.append('source', new File([bytes], name, { type }));
  const res = await SELF.fetch(`${ORIGIN}/sdk/v2/apps/${w.appId}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  const body = await res.json<any>();
  if (res.status !== 201) throw new Error(`fuzz setup: upload answered ${res.status} ${JSON.stringify(body)}`);
  return body.attachment;
}

export async function seedWorld(): Promise<void> {
  const { appId, auth, key } = await newApp('Fuzz web messenger');
  const web = async (settings: Record<string, unknown>) => (await must('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'web', displayName: 'Site', ...settings })).integration.id as string;
  const w1 = await web({ originWhitelist: [SHOP] });
  const w2 = await web({ canUserCreateMoreConversations: true, canUserSeeConversationList: true });
  const w3 = await web({ attachmentsEnabled: false, originWhitelist: [] });
  const customId = (await must('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [{ target: 'https://example.org/hook', triggers: ['client:add'] }] })).integration.id as string;
  // A user the business created over v2 with no conversation: a login as them opens their default one.
  await must('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'fuzz-v2-user' });

  const partial = { appId, auth, key, w1, w2, w3, customId } as World;
  w = partial;
  const s1 = await startSession(appId, w1, SHOP);
  const s2 = await startSession(appId, w1);
  const sw2 = await startSession(appId, w2, 'https://anywhere.example');
  const sw3 = await startSession(appId, w3);
  const jwt = await userJwt({ alg: 'HS256', typ: 'JWT', kid: key.id }, { scope: 'user', external_id: 'fuzz-known-0' }, key.secret);
  const known = sessionOf(await browserJson('POST', `/sdk/v2/apps/${appId}/login`, { integrationId: w1, externalId: 'fuzz-known-0', jwt }));

  const group = (await must('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: [{ userId: s1.userId }], displayName: 'Group' })).conversation.id as string;
  const deleted = (await must('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'sdkGroup', participants: [{ userId: s1.userId }] })).conversation.id as string;
  await must('DELETE', `/v2/apps/${appId}/conversations/${deleted}`, auth);
  const conv1 = `/v2/apps/${appId}/conversations/${s1.conversationId}/messages`;
  const form = (await must('POST', conv1, auth, { author: { type: 'business' }, content: { type: 'form', fields: [{ type: 'text', name: 'n', label: 'Name' }, { type: 'email', name: 'e', label: 'Email' }, { type: 'select', name: 's', label: 'Pick', options: [{ label: 'A', name: 'a' }] }] } })).messages[0].id as string;
  const text = (await must('POST', conv1, auth, { author: { type: 'business' }, content: { type: 'text', text: 'Hi, how can we help?', actions: [{ type: 'reply', text: 'Yes', payload: 'YES' }] } })).messages[0].id as string;

  const other = await newApp('Fuzz web other tenant');
  const otherWeb = (await must('POST', `/v2/apps/${other.appId}/integrations`, other.auth, { type: 'web', originWhitelist: [SHOP] })).integration.id as string;
  const otherSession = await startSession(other.appId, otherWeb);

  const sessions = { s1, s2, sw2, sw3, known };
  w = { ...partial, sessions, groupId: group, deletedId: deleted, formId: form, textId: text, other: { ...other, web: otherWeb, session: otherSession }, mediaUrl: '', objects: [], expired: {} as Record<SessionLabel, string> };
  for (const label of SESSION_LABELS) {
    const s = sessions[label];
    w.expired[label] = (await issueSession(env as unknown as Env, { appId, integrationId: s.integrationId, userId: s.userId, clientId: s.clientId, conversationId: s.conversationId, ...(s.externalId ? { externalId: s.externalId } : {}) }, -1)).token;
  }
  const files: [string, string, Uint8Array][] = [
    ['photo.png', 'image/png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])],
    ['notes.txt', 'text/plain', new TextEncoder().encode('hello')],
    ['a b (1).pdf', 'application/pdf', new TextEncoder().encode('%PDF-1.4')],
  ];
  for (const [name, type, bytes] of files) {
    const a = await uploadAs(s1.token, name, type, bytes);
    const [, , objApp, objKey, objName] = new URL(a.mediaUrl).pathname.split('/');
    w.objects.push({ appId: objApp!, key: objKey!, name: objName!, type, size: bytes.byteLength });
  }
  w.mediaUrl = `${ORIGIN}/attachments/${w.objects[0]!.appId}/${w.objects[0]!.key}/${w.objects[0]!.name}`;
}

/** Web integrations by id: which app they belong to and which origins they let read answers. */
export function webIntegration(id: string | undefined): { appId: string; whitelist: string[]; uploads: boolean; create: boolean } | undefined {
  if (id === w.w1) return { appId: w.appId, whitelist: [SHOP], uploads: true, create: false };
  if (id === w.w2) return { appId: w.appId, whitelist: [], uploads: true, create: true };
  if (id === w.w3) return { appId: w.appId, whitelist: [], uploads: false, create: false };
  if (id === w.other.web) return { appId: w.other.appId, whitelist: [SHOP], uploads: true, create: false };
  return undefined;
}

export const originAllowed = (integrationId: string | undefined, origin: string | undefined) => {
  const int = webIntegration(integrationId);
  return !origin || !int || int.whitelist.length === 0 || int.whitelist.includes(origin);
};

/** Who may read a conversation: its participants, as seeded. */
export function participants(conversationId: string): string[] {
  const s = w.sessions;
  if (conversationId === s.s1.conversationId || conversationId === w.groupId) return [s.s1.userId];
  for (const label of SESSION_LABELS) if (s[label].conversationId === conversationId) return [s[label].userId];
  if (conversationId === w.other.session.conversationId) return [w.other.session.userId];
  return [];
}

// ---- what is stored -------------------------------------------------------------------------

async function digest(text: string): Promise<string> {
  const bytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return Array.from(bytes.slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function r2Objects(): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.ATTACHMENTS.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

/** Conversations whose DO state is part of the fingerprint: every seeded one the browser routes can reach. */
export const watchedConversations = () => [...new Set([...SESSION_LABELS.map((l) => w.sessions[l].conversationId), w.groupId, w.deletedId])];

/**
 * Everything a browser request could write: D1's users, clients and
 * conversations of both tenants (counts, and a digest of the rows), the
 * seeded conversations' DO state and the R2 bucket's keys.
 */
export async function fingerprint(watch: string[] = watchedConversations()): Promise<string> {
  const rows = (sql: string) => env.DB.prepare(sql);
  const results = await env.DB.batch([
    rows('SELECT (SELECT count(*) FROM users) AS users, (SELECT count(*) FROM clients) AS clients, (SELECT count(*) FROM conversations) AS conversations, (SELECT count(*) FROM integrations) AS integrations, (SELECT count(*) FROM app_keys) AS keys'),
    rows(`SELECT group_concat(id || ':' || app_id || ':' || coalesce(external_id, '-') || ':' || authenticated || ':' || profile || ':' || metadata, '|') AS s FROM (SELECT * FROM users ORDER BY id)`),
    rows(`SELECT group_concat(id || ':' || user_id || ':' || type || ':' || status || ':' || coalesce(integration_id, '-') || ':' || coalesce(conversation_id, '-') || ':' || coalesce(info, '-'), '|') AS s FROM (SELECT * FROM clients ORDER BY id)`),
    // Which conversations exist; whether one is deleted or default reaches D1 through the index queue too, up to a second after a success, so the seeded ones' DOs speak for that.
    rows(`SELECT group_concat(id || ':' || type, '|') AS s FROM (SELECT * FROM conversations ORDER BY id)`),
  ]);
  const text = (i: number) => String((results[i]!.results[0] as { s: string | null } | undefined)?.s ?? '');
  const [held, objects] = await Promise.all([Promise.all(watch.map((c) => conversationState(w.appId, c))), r2Objects()]);
  return JSON.stringify({
    counts: results[0]!.results[0],
    users: await digest(text(1)),
    clients: await digest(text(2)),
    conversations: await digest(text(3)),
    objects: objects.sort(),
    conversationObjects: held,
  });
}

export function fingerprintDiff(before: string, after: string): string {
  const a = JSON.parse(before) as Record<string, unknown>;
  const b = JSON.parse(after) as Record<string, unknown>;
  return Object.keys(a)
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => {
      const x = JSON.stringify(a[k]);
      const y = JSON.stringify(b[k]);
      let i = 0;
      while (i < x.length && x[i] === y[i]) i++;
      return `${k}, from character ${i}: ${x.slice(Math.max(0, i - 200), i + 400)}\n    → ${y.slice(Math.max(0, i - 200), i + 400)}`;
    })
    .join('\n  ') || `(no field differs; lengths ${before.length} → ${after.length})`;
}

/** The last fingerprint known to be current (of which conversations); forgotten after anything that may write. */
let current: { of: string; value: string } | undefined;
export const stored = {
  get: async (watch: string[]) => {
    const of = watch.join();
    if (current?.of !== of) current = { of, value: await fingerprint(watch) };
    return current.value;
  },
  set: (watch: string[], value: string) => void (current = { of: watch.join(), value }),
  forget: () => void (current = undefined),
};

/** The seeded conversations among these (the ones a request could reach): what a run's fingerprint reads of the DOs. */
export const watching = (...ids: (string | undefined)[]) => {
  const seeded = watchedConversations();
  return [...new Set(ids.filter((id): id is string => id !== undefined && seeded.includes(id)))];
};

// ---- credentials ---------------------------------------------------------------------------

/**
 * A browser credential, as data (shrinks and prints short). `world`: a seeded
 * session; `expired`: the same claims, expired; `foreign`: another tenant's
 * session; `garbled`: a seeded token broken one way; `forged`: claims of our
 * choosing signed with Parley's real session key (what a leaked key would
 * allow: must still never 5xx, nor open what the claims do not name);
 * `raw`: whatever Authorization a confused client sends.
 */
export type TokenSpec =
  | { kind: 'world'; label: SessionLabel }
  | { kind: 'expired'; label: SessionLabel }
  | { kind: 'foreign' }
  | { kind: 'garbled'; label: SessionLabel; op: 'flip' | 'truncate' | 'append' | 'noSignature' | 'swapPayload' | 'algNone' | 'twoParts' | 'fourParts' | 'spaces'; at: number }
  | { kind: 'forged'; app: 'ours' | 'other' | 'garbage'; int: 'w1' | 'w2' | 'w3' | 'custom' | 'otherWeb' | 'garbage' | 'empty'; sub: SessionLabel | 'garbage' | 'empty' | 'otherUser'; conv: SessionLabel | 'garbage'; ext: boolean; garbage: string }
  | { kind: 'raw'; header: string | undefined };

export const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  { weight: 16, arbitrary: fc.constantFrom(...SESSION_LABELS).map((label): TokenSpec => ({ kind: 'world', label })) },
  { weight: 1, arbitrary: fc.constantFrom(...SESSION_LABELS).map((label): TokenSpec => ({ kind: 'expired', label })) },
  { weight: 1, arbitrary: fc.constant<TokenSpec>({ kind: 'foreign' }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('garbled' as const),
      label: fc.constantFrom(...SESSION_LABELS),
      op: fc.constantFrom('flip', 'truncate', 'append', 'noSignature', 'swapPayload', 'algNone', 'twoParts', 'fourParts', 'spaces'),
      at: fc.nat({ max: 1000 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('forged' as const),
      app: fc.constantFrom('ours', 'ours', 'ours', 'other', 'garbage'),
      int: fc.constantFrom('w1', 'w2', 'w3', 'custom', 'otherWeb', 'garbage', 'empty'),
      sub: fc.constantFrom<SessionLabel | 'garbage' | 'empty' | 'otherUser'>(...SESSION_LABELS, 'garbage', 'empty', 'otherUser'),
      conv: fc.constantFrom<SessionLabel | 'garbage'>(...SESSION_LABELS, 'garbage'),
      ext: fc.boolean(),
      garbage: fc.oneof(nastyString, garbageSegment),
    }),
  },
  { weight: 2, arbitrary: fc.constantFrom<string | undefined>(undefined, '', 'Bearer', 'Bearer ', 'Bearer a.b.c', 'Bearer ..', 'Bearer eyJhbGciOiJub25lIn0.e30.', 'Basic YTpi', 'bearer', 'Token x').map((header): TokenSpec => ({ kind: 'raw', header })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 80, unit: 'grapheme-ascii' }).map((s): TokenSpec => ({ kind: 'raw', header: `Bearer ${s}` })) },
);

/** What a credential turned out to be: its raw token, and whom it names when Parley's key signed it and it has not expired. */
export interface Credential {
  token: string | undefined;
  /** The Authorization header to send. */
  header: string | undefined;
  signed?: { app: string; integrationId: string; userId: string; conversationId: string };
}

const flipChar = (c: string) => (c === 'A' ? 'B' : 'A');

export async function credential(spec: TokenSpec): Promise<Credential> {
  const bearer = (token: string, signed?: Credential['signed']): Credential => ({ token, header: `Bearer ${token}`, ...(signed ? { signed } : {}) });
  const of = (s: Session, app = w.appId) => ({ app, integrationId: s.integrationId, userId: s.userId, conversationId: s.conversationId });
  switch (spec.kind) {
    case 'world':
      return bearer(w.sessions[spec.label].token, of(w.sessions[spec.label]));
    case 'expired':
      return bearer(w.expired[spec.label]);
    case 'foreign':
      return bearer(w.other.session.token, of(w.other.session, w.other.appId));
    case 'garbled': {
      const t = w.sessions[spec.label].token;
      const [h, p, s] = t.split('.') as [string, string, string];
      const i = spec.at % t.length;
      switch (spec.op) {
        case 'flip':
          // A flip in the last character of the signature may only touch its padding bits: flip earlier.
          return bearer(`${t.slice(0, Math.min(i, t.length - 3))}${flipChar(t[Math.min(i, t.length - 3)]!)}${t.slice(Math.min(i, t.length - 3) + 1)}`);
        case 'truncate':
          return bearer(t.slice(0, Math.min(i, t.length - 3)));
        case 'append':
          return bearer(`${t}${'A'.repeat(1 + (spec.at % 5))}`);
        case 'noSignature':
          return bearer(`${h}.${p}.`);
        case 'swapPayload':
          return bearer(`${h}.${w.sessions[spec.label === 's2' ? 's1' : 's2'].token.split('.')[1]}.${s}`);
        case 'algNone':
          return bearer(`${b64url(JSON.stringify({ alg: 'none', kid: 'web-session' }))}.${p}.`);
        case 'twoParts':
          return bearer(`${h}.${p}`);
        case 'fourParts':
          return bearer(`${t}.${s}`);
        case 'spaces':
          // Extra whitespace between the scheme and the token is still the same token.
          return { token: t, header: `Bearer   ${t}`, signed: of(w.sessions[spec.label]) };
      }
      break;
    }
    case 'forged': {
      const app = spec.app === 'ours' ? w.appId : spec.app === 'other' ? w.other.appId : spec.garbage;
      const integrationId = { w1: w.w1, w2: w.w2, w3: w.w3, custom: w.customId, otherWeb: w.other.web, garbage: spec.garbage, empty: '' }[spec.int];
      const userId = spec.sub === 'garbage' ? spec.garbage : spec.sub === 'empty' ? '' : spec.sub === 'otherUser' ? w.other.session.userId : w.sessions[spec.sub].userId;
      const conversationId = spec.conv === 'garbage' ? spec.garbage : w.sessions[spec.conv].conversationId;
      const { token } = await issueSession(env as unknown as Env, { appId: app, integrationId, userId, clientId: w.sessions.s1.clientId, conversationId, ...(spec.ext ? { externalId: 'fuzz-forged' } : {}) }, 1);
      return bearer(token, { app, integrationId, userId, conversationId });
    }
    case 'raw':
      return { token: spec.header?.replace(/^bearer\s+/i, ''), header: spec.header };
  }
  throw new Error('unreachable');
}

// ---- origins -------------------------------------------------------------------------------

const headerSafe = (s: string) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(s);

/** The Origin header: none, the listed site, sites that are not (near misses first), garbage. */
export const originArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 5, arbitrary: fc.constant(SHOP) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('https://evil.example', 'http://shop.example.com', 'https://shop.example.com:443', 'https://shop.example.com/', 'https://SHOP.example.com', 'https://shop.example.com.evil.example', 'null', 'file://', '*', 'https://shop.example.co', `${SHOP}, https://evil.example`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }).filter(headerSafe) },
);

// ---- bodies --------------------------------------------------------------------------------

/** Where a body is a template plus mutations: the valid one as it is, or mutated (arbitraries.ts). */
export const mutatedText = (valid: Json, mutations: Mutation[]): FuzzBody => {
  const { value, deep } = mutate(valid, mutations);
  return { kind: 'mutated', text: serialize(value, deep), note: mutations.map((m) => m.kind).join('+') };
};

/** A device as the widget reports it, within every limit (mutations take it past them). */
export const deviceArb: fc.Arbitrary<Json> = fc.record(
  {
    guid: fc.oneof(fc.constantFrom('abcdefgh', 'a'.repeat(64), '__proto__x'), fc.stringMatching(/^[\w-]{8,64}$/)),
    currentUrl: fc.constantFrom(`${SHOP}/cart`, '', 'javascript:alert(1)', 'x'.repeat(2048)),
    currentTitle: fc.constantFrom('Cart', '', '💥'.repeat(256), 'x'.repeat(512)),
    referrer: fc.constantFrom('https://google.com/', ''),
    browserLanguage: fc.constantFrom('en-US', 'fr', 'x'.repeat(35), 'zh-Hant-TW'),
    sdkVersion: fc.constantFrom('1.0.0', 'x'.repeat(32)),
    timezone: fc.constantFrom('Europe/Paris', 'America/Montreal', 'x'.repeat(64)),
  },
  { requiredKeys: [] },
);

// ---- multipart -------------------------------------------------------------------------------

export interface PartSpec {
  field: string;
  /** undefined: no filename (a plain field, not a file). */
  filename: string | undefined;
  type: string | undefined;
  size: number;
  fill: number;
}

export interface MultipartSpec {
  boundary: string;
  /** The Content-Type header: the right boundary, another one, none, quoted, not multipart at all, or garbage. */
  header: 'same' | 'other' | 'noBoundary' | 'quoted' | 'upper' | 'mixed' | 'json' | 'absent' | 'garbage';
  garbageHeader: string;
  parts: PartSpec[];
  close: boolean;
  /** Cut the body to this many bytes. */
  cut: number | undefined;
  newline: '\r\n' | '\n';
}

export const FILE_TYPES_OK = ['image/png', 'image/jpeg', 'application/pdf', 'text/plain', 'video/mp4'];
const FILE_TYPES_ODD = ['IMAGE/PNG', 'image/png; charset=binary', ' image/png', 'image/*', 'text/html', 'image/svg+xml', 'application/javascript', 'application/x-msdownload', 'application/octet-stream', 'text/plain;', 'multipart/form-data', ''];

export const multipartArb = (maxBytes: number): fc.Arbitrary<MultipartSpec> => {
  const part = fc.record({
    field: fc.oneof({ weight: 12, arbitrary: fc.constant('source') }, { weight: 2, arbitrary: fc.constantFrom('Source', 'file', '', 'source[]', 'source ', 'sourc') }, { weight: 1, arbitrary: nastyString }),
    filename: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('photo.png', 'doc.pdf', 'notes.txt', 'clip.mp4') },
      { weight: 2, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constantFrom('', '..', '../../etc/passwd', '.htaccess', 'a"b.png', 'a\\b.png', 'é💥.png', '%2e%2e%2f', 'x'.repeat(10_000), 'a'.repeat(100) + '.png', '...png', ' ', 'con', 'file\u0000.png') },
      { weight: 1, arbitrary: nastyString },
    ),
    // A line break in the type would end the part's headers early and make its bytes part of the file: the
    // request then means something else than the spec says, so the byte-for-byte oracle could not hold.
    type: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...FILE_TYPES_OK) },
      { weight: 3, arbitrary: fc.constantFrom<string | undefined>(...FILE_TYPES_ODD, undefined) },
      { weight: 1, arbitrary: nastyString.filter((t) => !/[\r\n]/.test(t)) },
    ),
    size: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(1, 7, 100, 4096) }, { weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(maxBytes, maxBytes + 1, maxBytes + 64 * 1024 + 1) }),
    fill: fc.nat({ max: 255 }),
  });
  return fc.record({
    boundary: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('----fuzzBoundary7MA4YWxk', 'x', 'AaB03x') }, { weight: 1, arbitrary: fc.constantFrom('a'.repeat(70), 'a'.repeat(200), 'has space', 'q"uote', '--', '') }),
    header: fc.oneof({ weight: 12, arbitrary: fc.constant('same' as const) }, { weight: 1, arbitrary: fc.constantFrom('other', 'noBoundary', 'quoted', 'upper', 'mixed', 'json', 'absent', 'garbage') }),
    garbageHeader: fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).filter((s) => s === '' || headerSafe(s)),
    parts: fc.oneof({ weight: 8, arbitrary: part.map((p) => [p]) }, { weight: 2, arbitrary: fc.array(part, { minLength: 0, maxLength: 3 }) }),
    close: fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    cut: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat({ max: 400 }) }),
    newline: fc.oneof({ weight: 9, arbitrary: fc.constant('\r\n' as const) }, { weight: 1, arbitrary: fc.constant('\n' as const) }),
  });
};

export function multipartBody(spec: MultipartSpec): { bytes: Uint8Array; contentType: string | undefined } {
  const enc = new TextEncoder();
  const nl = spec.newline;
  const chunks: Uint8Array[] = [];
  for (const p of spec.parts) {
    const disposition = `Content-Disposition: form-data; name="${p.field}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    chunks.push(enc.encode(`--${spec.boundary}${nl}${disposition}${nl}${p.type !== undefined ? `Content-Type: ${p.type}${nl}` : ''}${nl}`));
    chunks.push(new Uint8Array(p.size).fill(p.fill));
    chunks.push(enc.encode(nl));
  }
  chunks.push(enc.encode(spec.close ? `--${spec.boundary}--${nl}` : ''));
  const size = chunks.reduce((n, c) => n + c.byteLength, 0);
  let bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  if (spec.cut !== undefined) bytes = bytes.slice(0, spec.cut);
  const contentType = {
    same: `multipart/form-data; boundary=${spec.boundary}`,
    other: 'multipart/form-data; boundary=not-the-boundary',
    noBoundary: 'multipart/form-data',
    quoted: `multipart/form-data; boundary="${spec.boundary}"`,
    upper: `MULTIPART/FORM-DATA; BOUNDARY=${spec.boundary}`,
    mixed: `multipart/mixed; boundary=${spec.boundary}`,
    json: 'application/json',
    absent: undefined,
    garbage: spec.garbageHeader,
  }[spec.header];
  return { bytes, contentType: contentType !== undefined && headerSafe(contentType) ? contentType : contentType === undefined ? undefined : 'multipart/form-data' };
}

export const describeMultipart = (s: MultipartSpec) =>
  `multipart[header=${s.header}${s.header === 'garbage' ? ` ${JSON.stringify(s.garbageHeader)}` : ''} boundary=${JSON.stringify(s.boundary.slice(0, 30))} ${s.parts.map((p) => `{${JSON.stringify(p.field.slice(0, 20))} file=${p.filename === undefined ? '-' : JSON.stringify(p.filename.slice(0, 40))}${p.filename && p.filename.length > 40 ? `…(${p.filename.length})` : ''} type=${JSON.stringify(p.type)} ${p.size}B}`).join(' ')}${s.close ? '' : ' unclosed'}${s.cut !== undefined ? ` cut@${s.cut}` : ''}${s.newline === '\n' ? ' LF' : ''}]`;

// ---- one request ---------------------------------------------------------------------------

export interface SdkRequest {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  body?: FuzzBody | Uint8Array | undefined;
  /** How the report prints the body. */
  note?: string;
}

export interface SdkSent extends Sent {
  headers: Headers;
}

export const describeSdk = (r: SdkRequest) => {
  const headers = Object.entries(r.headers)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}: ${JSON.stringify(v!.length > 120 ? `${v!.slice(0, 120)}…(${v!.length})` : v)}`)
    .join(', ');
  const body = r.note ?? (r.body instanceof Uint8Array ? `bytes[${r.body.byteLength}]` : r.body ? describeBody(r.body) : '');
  return `${r.method} ${r.path.length > 200 ? `${r.path.slice(0, 200)}…` : r.path} [${headers}]${body ? ` ${body}` : ''}`;
};

export async function sendSdk(r: SdkRequest): Promise<SdkSent> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = v;
  let body: BodyInit | undefined;
  if (r.body && r.method !== 'GET' && r.method !== 'HEAD') {
    if (r.body instanceof Uint8Array) body = r.body;
    else body = r.body.stream ? streamOf(r.body.stream.chunks, r.body.stream.chunkSize) : (r.body.bytes ?? new TextEncoder().encode(r.body.text ?? ''));
  }
  const res = await SELF.fetch(`${ORIGIN}${r.path}`, { method: r.method, headers, ...(body !== undefined ? { body } : {}) });
  if (res.status === 101) {
    const ws = res.webSocket;
    if (ws) {
      ws.accept();
      ws.close(1000, 'fuzz');
    }
    return { status: 101, contentType: '', text: '', body: undefined, headers: res.headers };
  }
  // Decoded by hand: workerd warns on .text() of a body typed as an image or PDF (an attachment answer).
  const text = new TextDecoder().decode(await res.arrayBuffer());
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body: parsed, headers: res.headers };
}

/**
 * One run: send; no 5xx; a 4xx carries the v2 error body and left every
 * store as it was; then the route's own judgement (authorization, CORS,
 * shapes), then its clean-up.
 */
export async function runOne(
  request: SdkRequest,
  judge?: (res: SdkSent, described: string) => void | Promise<void>,
  cleanup?: (res: SdkSent) => Promise<void>,
  /** The seeded conversations the request could reach (by its path): their DO state is part of the fingerprint. */
  watch: string[] = [],
): Promise<void> {
  const described = describeSdk(request);
  const before = await stored.get(watch);
  stored.forget();
  const mark = logMark();
  let res: SdkSent | undefined;
  try {
    try {
      res = await sendSdk(request);
    } catch (err) {
      throw new Error(`the request crashed: ${described}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\nworker log: ${logSince(mark).join('\n')}`);
    }
    if (expectNo5xx(res, described, mark) === 'known') return;
    if (res.status >= 400 && request.method !== 'HEAD') {
      expectV2Error(res, described);
      const after = await fingerprint(watch);
      if (after !== before) throw new Error(`${res.status} for ${described}, yet storage changed:\n  ${fingerprintDiff(before, after)}\nanswer: ${res.text.slice(0, 300)}`);
      stored.set(watch, after);
    } else if (request.method === 'GET' || request.method === 'OPTIONS' || request.method === 'HEAD') stored.set(watch, before);
    await judge?.(res, described);
  } finally {
    if (res && cleanup) {
      stored.forget();
      await cleanup(res);
    }
  }
}

/**
 * CORS, for any /sdk answer but a preflight: an Access-Control-Allow-Origin
 * echoes the request's Origin and nothing else; an origin refusal carries
 * none; and when the request names an integration (by its session or its
 * body) whose whitelist leaves the origin out, the browser gets no answer it
 * can read and no success at all.
 */
export function expectCors(res: SdkSent, described: string, origin: string | undefined, integrationId: string | undefined): void {
  const acao = res.headers.get('access-control-allow-origin');
  if (acao !== null && acao !== origin) throw new Error(`access-control-allow-origin ${JSON.stringify(acao)} for Origin ${JSON.stringify(origin)}: ${described}`);
  const refusal = res.status === 403 && /originWhitelist/.test(res.text);
  if (refusal && acao !== null) throw new Error(`an origin refusal carries access-control-allow-origin ${acao}: ${described}`);
  if (integrationId !== undefined && !originAllowed(integrationId, origin)) {
    if (res.status < 400) throw new Error(`${res.status} for Origin ${origin}, which integration ${integrationId} does not list: ${described}`);
    if (acao !== null) throw new Error(`${res.status} with access-control-allow-origin ${acao}, which integration ${integrationId} does not list: ${described}: ${res.text.slice(0, 200)}`);
  }
}

export const fail = (message: string): never => {
  throw new Error(message);
};
