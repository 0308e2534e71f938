/**
 * Bad input, table-driven. Every request here is refused with the status, code
 * and a title naming the offending field (contract §5.2 limits, §5.3
 * pagination, §5.4 errors, §9 checks 4, 7–11, 16, 17, 20, 22), and the body is
 * exactly `{errors:[{code,title}]}`. Each bad request is otherwise valid, so a
 * missing check would store something; the last tests prove nothing was.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { asAccount, call, newApp } from './helpers';
import { expectError, raw, type RawResult, seedApp, type Seed, snapshot } from './fixtures';

let s: Seed;
let before: Awaited<ReturnType<typeof snapshot>>;
let appsBefore: string[];

const listAppIds = async () => {
  const r = await call('GET', '/v2/apps?page[size]=100', asAccount);
  expect(r.status).toBe(200);
  return (r.body.apps as { id: string }[]).map((a) => a.id).sort();
};

beforeAll(async () => {
  const { appId, auth, key } = await newApp('Validation app');
  s = await seedApp(appId, auth, key, 'val-user');
  before = await snapshot(s);
  appsBefore = await listAppIds();
});

type Who = 'app' | 'account';
const authFor = (who: Who = 'app') => (who === 'account' ? asAccount : s.auth);

/** JSON request with Content-Type application/json and the seeded app key (or the account key). */
const json = (method: string, path: (s: Seed) => string, body: unknown | ((s: Seed) => unknown), who?: Who) => () =>
  raw(method, path(s), {
    headers: { authorization: authFor(who), 'content-type': 'application/json' },
    body: JSON.stringify(typeof body === 'function' ? body(s) : body),
  });
/** A body sent verbatim with the given content type (or none). */
const text = (method: string, path: (s: Seed) => string, body: string, contentType?: string, who?: Who) => () =>
  raw(method, path(s), { headers: { authorization: authFor(who), ...(contentType ? { 'content-type': contentType } : {}) }, body });
const get = (path: (s: Seed) => string, who?: Who) => () => raw('GET', path(s), { headers: { authorization: authFor(who) } });

const app = (s: Seed) => `/v2/apps/${s.appId}`;
const user = (s: Seed) => `${app(s)}/users/${s.userId}`;
const messages = (s: Seed) => `${app(s)}/conversations/${s.conversationId}/messages`;
const conversations = (s: Seed) => `${app(s)}/conversations`;
const activity = (s: Seed) => `${app(s)}/conversations/${s.conversationId}/activity`;
const listConvs = (q: string) => (s: Seed) => `${conversations(s)}?filter[userId]=${s.userId}${q}`;

const business = { type: 'business' };
const post = (content: unknown, extra: Record<string, unknown> = {}) => json('POST', messages, { author: business, content, ...extra });
const link = (n = 0) => ({ type: 'link', text: `Open ${n}`, uri: `https://example.org/${n}` });
const cardItem = (n: number, actions: unknown[] = [link(n)]) => ({ title: `Item ${n}`, description: 'd', actions });
const bigMetadata = () => Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`key${i}`, 'v'.repeat(100)])); // ~5.5 KB
const FAKE_ID = '0123456789abcdef01234567';

/** errors[0].title of every table case, by case name, for the cross-case checks below. */
const seenTitles = new Map<string, unknown>();

interface Case {
  name: string;
  send: () => Promise<RawResult>;
  status: number;
  code: string;
  title: RegExp;
}

const cases: Case[] = [
  // ---- body parsing -------------------------------------------------------
  { name: 'malformed JSON', send: text('POST', messages, '{"author":{"type":"business"},"content":', 'application/json'), status: 400, code: 'bad_request', title: /JSON/ },
  { name: 'empty JSON body', send: text('POST', messages, '', 'application/json'), status: 400, code: 'bad_request', title: /JSON|body/i },
  { name: 'JSON array instead of object', send: text('POST', messages, '[]', 'application/json'), status: 400, code: 'bad_request', title: /object|^author: /i },
  { name: 'wrong content type text/plain', send: text('POST', messages, JSON.stringify({ author: business, content: { type: 'text', text: 'hi' } }), 'text/plain'), status: 415, code: 'unsupported_media_type', title: /Content-Type/i },
  {
    name: 'no content type at all',
    // Bytes, not a string: fetch() would add text/plain to a string body.
    send: () => raw('POST', messages(s), { headers: { authorization: s.auth }, body: new TextEncoder().encode(JSON.stringify({ author: business, content: { type: 'text', text: 'hi' } })) }),
    status: 415,
    code: 'unsupported_media_type',
    title: /Content-Type/i,
  },
  {
    name: 'body over 100 KB (declared length)',
    // Valid apart from its size: override payloads have no other limit.
    send: post({ type: 'text', text: 'hi' }, { override: { messenger: { payload: { blob: 'x'.repeat(101 * 1024) } } } }),
    status: 413,
    code: 'payload_too_large',
    title: /body/i,
  },
  {
    name: 'body over 100 KB streamed without Content-Length',
    send: () => {
      const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
      let sent = 0;
      const head = new TextEncoder().encode('{"author":{"type":"business"},"content":{"type":"text","text":"hi"},"override":{"messenger":{"payload":{"blob":"');
      const tail = new TextEncoder().encode('"}}}}');
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) controller.enqueue(head);
          if (sent < 8) controller.enqueue(chunk);
          else {
            controller.enqueue(tail);
            controller.close();
          }
          sent++;
        },
      });
      return raw('POST', messages(s), { headers: { authorization: s.auth, 'content-type': 'application/json' }, body: stream });
    },
    status: 413,
    code: 'payload_too_large',
    title: /body/i,
  },

  // ---- wrong types --------------------------------------------------------
  { name: 'app displayName: 5', send: json('PATCH', app, { displayName: 5 }), status: 400, code: 'bad_request', title: /^displayName: / },
  { name: 'new app displayName: 5', send: json('POST', () => '/v2/apps', { displayName: 5 }, 'account'), status: 400, code: 'bad_request', title: /^displayName: / },
  { name: 'user metadata nested object', send: json('PATCH', user, { metadata: { address: { city: 'Paris' } } }), status: 400, code: 'bad_request', title: /^metadata\b/ },
  { name: 'message metadata nested object', send: post({ type: 'text', text: 'hi' }, { metadata: { nested: { a: 1 } } }), status: 400, code: 'bad_request', title: /^metadata\b/ },
  { name: 'conversation metadata is an array', send: json('PATCH', (s) => `${conversations(s)}/${s.conversationId}`, { metadata: ['a'] }), status: 400, code: 'bad_request', title: /^metadata\b/ },
  { name: 'user metadata is an array', send: json('PATCH', user, { metadata: ['a'] }), status: 400, code: 'bad_request', title: /^metadata\b/ },
  { name: 'author.type unknown', send: json('POST', messages, { author: { type: 'robot' }, content: { type: 'text', text: 'hi' } }), status: 400, code: 'bad_request', title: /^author\.type\b/ },
  { name: 'profile.email not an email', send: json('PATCH', user, { profile: { email: 'not-an-email' } }), status: 400, code: 'bad_request', title: /^profile\.email: / },
  { name: 'toBeRetained not a boolean', send: json('PATCH', user, { toBeRetained: 'yes' }), status: 400, code: 'bad_request', title: /^toBeRetained: / },
  { name: 'conversation iconUrl not a URI', send: json('PATCH', (s) => `${conversations(s)}/${s.conversationId}`, { iconUrl: 'not a uri' }), status: 400, code: 'bad_request', title: /^iconUrl: / },

  // ---- missing required fields -------------------------------------------
  { name: 'message without author', send: json('POST', messages, { content: { type: 'text', text: 'hi' } }), status: 400, code: 'bad_request', title: /^author: / },
  { name: 'message without content', send: json('POST', messages, { author: business }), status: 400, code: 'bad_request', title: /^content: / },
  { name: 'image without content.mediaUrl', send: post({ type: 'image', text: 'caption' }), status: 400, code: 'bad_request', title: /^content\.mediaUrl: / },
  { name: 'empty text message', send: post({ type: 'text', text: '' }), status: 400, code: 'bad_request', title: /^content\.text: must not be empty/ },
  { name: 'blank text message', send: post({ type: 'text', text: ' \n\t ' }), status: 400, code: 'bad_request', title: /^content\.text: must not be empty/ },
  { name: 'text without text, htmlText, markdownText or actions', send: post({ type: 'text' }), status: 400, code: 'bad_request', title: /content\.text/ },
  { name: 'user author without userId or userExternalId', send: json('POST', messages, { author: { type: 'user' }, content: { type: 'text', text: 'hi' } }), status: 400, code: 'bad_request', title: /^author\b.*userId/ },
  { name: 'new app without displayName', send: json('POST', () => '/v2/apps', { settings: { useAnimalNames: true } }, 'account'), status: 400, code: 'bad_request', title: /^displayName: / },
  { name: 'conversation without type', send: json('POST', conversations, { participants: [{ userId: 'x' }] }), status: 400, code: 'bad_request', title: /^type: / },

  // ---- content rules ------------------------------------------------------
  { name: 'unknown content type', send: post({ type: 'video', mediaUrl: 'https://example.org/v.mp4' }), status: 400, code: 'bad_request', title: /^content\.type: / },
  { name: 'text over 4096 chars', send: post({ type: 'text', text: 'a'.repeat(4097) }), status: 400, code: 'bad_request', title: /^content\.text: / },
  { name: 'htmlText over 4096 chars', send: post({ type: 'text', htmlText: 'a'.repeat(4097) }), status: 400, code: 'bad_request', title: /^content\.htmlText: / },
  { name: 'htmlText together with markdownText', send: post({ type: 'text', text: 'hi', htmlText: '<b>hi</b>', markdownText: '**hi**' }), status: 400, code: 'bad_request', title: /^content\b.*htmlText.*markdownText/ },
  { name: 'carousel with 0 items', send: post({ type: 'carousel', items: [] }), status: 400, code: 'bad_request', title: /^content\.items: / },
  { name: 'carousel with 11 items', send: post({ type: 'carousel', items: Array.from({ length: 11 }, (_, i) => cardItem(i)) }), status: 400, code: 'bad_request', title: /^content\.items: / },
  { name: 'carousel item with 4 actions', send: post({ type: 'carousel', items: [cardItem(0, [link(1), link(2), link(3), link(4)])] }), status: 400, code: 'bad_request', title: /^content\.items\[0\]\.actions: / },
  {
    name: 'reply action inside a carousel item',
    send: post({ type: 'carousel', items: [cardItem(0), cardItem(1, [{ type: 'reply', text: 'Yes', payload: 'YES' }])] }),
    status: 400,
    code: 'bad_request',
    title: /^content\.items\[1\]\.actions\[0\]/,
  },
  { name: 'locationRequest action inside a list item', send: post({ type: 'list', items: [cardItem(0, [{ type: 'locationRequest', text: 'Where?' }])] }), status: 400, code: 'bad_request', title: /^content\.items\[0\]\.actions\[0\]/ },
  {
    name: 'webview without fallback',
    send: post({ type: 'text', text: 'hi', actions: [{ type: 'webview', text: 'Open', uri: 'https://example.org/w' }] }),
    status: 400,
    code: 'bad_request',
    title: /^content\.actions\[0\]\.fallback: /,
  },
  {
    name: 'formResponse via the API',
    send: post({ type: 'formResponse', fields: [{ type: 'text', name: 'n', label: 'Name', text: 'Ada' }] }),
    status: 400,
    code: 'bad_request',
    title: /^content\.type: .*formResponse/,
  },
  { name: 'too many actions (11)', send: post({ type: 'text', text: 'hi', actions: Array.from({ length: 11 }, (_, i) => link(i)) }), status: 400, code: 'bad_request', title: /^content\.actions: / },
  { name: 'message metadata over 4 KB', send: post({ type: 'text', text: 'hi' }, { metadata: bigMetadata() }), status: 400, code: 'bad_request', title: /^metadata: / },
  { name: 'user metadata over 4 KB', send: json('PATCH', user, { metadata: bigMetadata() }), status: 400, code: 'bad_request', title: /^metadata: / },
  { name: 'app metadata over 4 KB', send: json('PATCH', app, { metadata: bigMetadata() }), status: 400, code: 'bad_request', title: /^metadata: / },
  { name: 'template without schema whatsapp', send: post({ type: 'template', template: { name: 't', language: { code: 'en' } } }), status: 400, code: 'bad_request', title: /^schema\b/ },

  // ---- pagination ---------------------------------------------------------
  { name: 'page[after] and page[before] together', send: get(listConvs(`&page[after]=${FAKE_ID}&page[before]=${FAKE_ID}`)), status: 400, code: 'bad_request', title: /page\[after\].*page\[before\]/ },
  { name: 'page[size]=0', send: get(listConvs('&page[size]=0')), status: 400, code: 'bad_request', title: /^page\[size\]: / },
  { name: 'page[size]=101', send: get(listConvs('&page[size]=101')), status: 400, code: 'bad_request', title: /^page\[size\]: / },
  { name: 'page[size]=abc', send: get(listConvs('&page[size]=abc')), status: 400, code: 'bad_request', title: /^page\[size\]: / },
  { name: 'page[after] not a 24-hex id', send: get(listConvs('&page[after]=not-an-id')), status: 400, code: 'bad_request', title: /^page\[after\]: / },
  { name: 'page[before] of 23 hex chars', send: get(listConvs(`&page[before]=${FAKE_ID.slice(1)}`)), status: 400, code: 'bad_request', title: /^page\[before\]: / },
  { name: 'page[after] uppercase hex', send: get(listConvs(`&page[after]=${FAKE_ID.toUpperCase()}`)), status: 400, code: 'bad_request', title: /^page\[after\]: / },
  { name: 'messages: page[after] and page[before] together', send: get((s) => `${messages(s)}?page[after]=${s.messageId}&page[before]=${s.messageId}`), status: 400, code: 'bad_request', title: /page\[after\].*page\[before\]/ },
  { name: 'messages: page[before] not a 24-hex id', send: get((s) => `${messages(s)}?page[before]=xyz`), status: 400, code: 'bad_request', title: /^page\[before\]: / },
  { name: 'participants: page[size]=0', send: get((s) => `${conversations(s)}/${s.groupId}/participants?page[size]=0`), status: 400, code: 'bad_request', title: /^page\[size\]: / },
  { name: 'clients: page[after] not an id', send: get((s) => `${user(s)}/clients?page[after]=zzz`), status: 400, code: 'bad_request', title: /^page\[after\]: / },
  { name: 'apps: page[size]=101', send: get(() => '/v2/apps?page[size]=101', 'account'), status: 400, code: 'bad_request', title: /^page\[size\]: / },

  // ---- conversations, participants ---------------------------------------
  { name: 'list conversations without a filter', send: get(conversations), status: 400, code: 'bad_request', title: /filter/ },
  { name: 'list conversations with both filters', send: get((s) => `${conversations(s)}?filter[userId]=${s.userId}&filter[userExternalId]=${s.userExternalId}`), status: 400, code: 'bad_request', title: /filter/ },
  { name: 'personal conversation with 0 participants', send: json('POST', conversations, { type: 'personal', participants: [] }), status: 400, code: 'bad_request', title: /^participants\b/ },
  { name: 'personal conversation without participants', send: json('POST', conversations, { type: 'personal' }), status: 400, code: 'bad_request', title: /^participants\b/ },
  {
    name: 'personal conversation with 2 participants',
    send: json('POST', conversations, (s: Seed) => ({ type: 'personal', participants: [{ userId: s.userId }, { userId: s.otherUserId }] })),
    status: 400,
    code: 'bad_request',
    title: /^participants\b/,
  },
  {
    name: 'sdkGroup with 11 participants',
    send: json('POST', conversations, { type: 'sdkGroup', participants: Array.from({ length: 11 }, (_, i) => ({ userExternalId: `ghost-${i}` })) }),
    status: 400,
    code: 'bad_request',
    title: /^participants\b/,
  },
  { name: 'unknown conversation type', send: json('POST', conversations, { type: 'group', participants: [] }), status: 400, code: 'bad_request', title: /^type: / },
  { name: 'participant with both userId and userExternalId', send: json('POST', conversations, { type: 'sdkGroup', participants: [{ userId: 'a', userExternalId: 'b' }] }), status: 400, code: 'bad_request', title: /^participants\[0\].*userId.*userExternalId/ },
  { name: 'join a personal conversation', send: json('POST', (s) => `${conversations(s)}/${s.conversationId}/join`, (s: Seed) => ({ userId: s.otherUserId })), status: 400, code: 'bad_request', title: /sdkGroup|personal/ },
  { name: 'leave without naming anybody', send: json('POST', (s) => `${conversations(s)}/${s.groupId}/leave`, {}), status: 400, code: 'bad_request', title: /userId.*userExternalId.*participantId/ },
  { name: 'leave with a participantId that is not an id', send: json('POST', (s) => `${conversations(s)}/${s.groupId}/leave`, { participantId: 'p1' }), status: 400, code: 'bad_request', title: /^participantId: / },
  { name: "delete the user's default conversation", send: () => raw('DELETE', `${conversations(s)}/${s.conversationId}`, { headers: { authorization: s.auth } }), status: 400, code: 'bad_request', title: /default/ },

  // ---- activity -----------------------------------------------------------
  { name: 'user activity typing:start', send: json('POST', activity, (s: Seed) => ({ author: { type: 'user', userId: s.userId }, type: 'typing:start' })), status: 400, code: 'bad_request', title: /^type: .*conversation:read/ },
  { name: 'user activity typing:stop', send: json('POST', activity, (s: Seed) => ({ author: { type: 'user', userId: s.userId }, type: 'typing:stop' })), status: 400, code: 'bad_request', title: /^type: .*conversation:read/ },
  { name: 'unknown activity type', send: json('POST', activity, { author: business, type: 'typing' }), status: 400, code: 'bad_request', title: /^type: / },

  // ---- routes -------------------------------------------------------------
  { name: 'unknown route', send: get(() => '/v2/nope'), status: 404, code: 'not_found', title: /\/v2\/nope/ },
  { name: 'unknown route under an app', send: get((s) => `${app(s)}/widgets`), status: 404, code: 'not_found', title: /widgets/ },
  { name: 'unrouted method (PUT app)', send: json('PUT', app, { displayName: 'x' }), status: 404, code: 'not_found', title: /PUT/ },
];

describe('bad input is refused with a 4xx naming the field', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const res = await c.send();
    seenTitles.set(c.name, res.body?.errors?.[0]?.title);
    expectError(res, c.status, c.code, c.title);
  });
});

describe('titles name the field once', () => {
  // describeIssue prefixes the issue path; a check message that already names the field must not repeat it ("content: content: …").
  it('no error title of the table repeats its field path', () => {
    expect(seenTitles.size).toBe(cases.length);
    const repeated = [...seenTitles].filter(([, title]) => typeof title === 'string' && /^([\w.[\]]+): \1[:.]/.test(title));
    expect(repeated).toEqual([]);
  });
});

describe('after all the bad input, nothing was stored', () => {
  it('the conversation still holds exactly the seeded message', async () => {
    const res = await call('GET', messages(s), s.auth);
    expect(res.status).toBe(200);
    expect(res.body.messages.map((m: { id: string }) => m.id)).toEqual([s.messageId]);
    expect(res.body.messages[0].content).toMatchObject({ type: 'text', text: 'seeded message' });
  });

  it('the user, app, conversations, participants and clients are unchanged', async () => {
    const after = await snapshot(s);
    expect(after).toStrictEqual(before);
    expect(after.user.user.profile).toEqual({ givenName: 'Ada', surname: 'Lovelace', email: 'val-user@example.org' });
    expect(after.user.user.metadata).toEqual({ tier: 'gold', visits: 3 });
    expect(after.conversations.conversations.map((c: { id: string }) => c.id).sort()).toEqual([s.conversationId, s.groupId].sort());
    expect(after.participants.participants).toHaveLength(2);
  });

  it('no app was created', async () => {
    expect(await listAppIds()).toEqual(appsBefore);
  });
});

// After the "nothing was stored" checks, because it creates its own conversation.
describe('message pages: page[size] is an extension that never breaks a Sunshine caller (contract §1.10, §5.2)', () => {
  it('honours page[size] 1–100 and ignores values the contract would ignore, instead of refusing them', async () => {
    const conv = await call('POST', conversations(s), s.auth, { type: 'sdkGroup', displayName: 'page size probe' });
    expect(conv.status).toBe(201);
    const path = `${app(s)}/conversations/${conv.body.conversation.id}/messages`;
    const ids: string[] = [];
    for (const t of ['one', 'two', 'three']) {
      const m = await call('POST', path, s.auth, { author: business, content: { type: 'text', text: t } });
      expect(m.status).toBe(201);
      ids.push(m.body.messages[0].id);
    }
    const one = await call('GET', `${path}?page[size]=1`, s.auth);
    expect({ status: one.status, ids: one.body.messages.map((m: { id: string }) => m.id), hasMore: one.body.meta.hasMore }).toEqual({ status: 200, ids: ids.slice(2), hasMore: true });
    for (const size of ['0', '101', 'abc']) {
      const res = await call('GET', `${path}?page[size]=${size}`, s.auth);
      expect({ size, status: res.status, ids: res.body.messages?.map((m: { id: string }) => m.id) }).toEqual({ size, status: 200, ids });
    }
  });
});
