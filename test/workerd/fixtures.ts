/**
 * Shared fixtures for the validation, auth and tenancy suites: raw requests
 * (any headers, any body, including streams), the exact v2 error-body check,
 * a hand-rolled HS256 JWT builder that does not reuse src/auth/jwt.ts, and a
 * seeded app (user, personal + sdkGroup conversations, one message).
 */
import { SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { call } from './helpers';

export const ORIGIN = 'http://parley.test';

export interface RawResult {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/** Sends exactly what it is given: no JSON encoding and no default headers. */
export async function raw(method: string, path: string, init: { headers?: Record<string, string>; body?: BodyInit | null } = {}): Promise<RawResult> {
  const res = await SELF.fetch(`${ORIGIN}${path}`, { method, headers: init.headers ?? {}, ...(init.body !== undefined ? { body: init.body } : {}) });
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/**
 * The contract's error envelope (§2.10, §5.4): the body is exactly
 * `{errors:[{code,title}]}` with no other keys at any level, JSON content type.
 */
export function expectError(res: { status: number; body: unknown; headers?: Headers }, status: number, code: string, title?: RegExp): void {
  expect({ status: res.status, body: res.body }).toStrictEqual({
    status,
    body: { errors: [{ code, title: title ? expect.stringMatching(title) : expect.any(String) }] },
  });
  if (res.headers) expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
}

// ---- JWTs built by hand with WebCrypto (independent of src/auth/jwt.ts) -----

const utf8 = (s: string) => new TextEncoder().encode(s);

export function b64url(input: string | Uint8Array): string {
  const bytes = typeof input === 'string' ? utf8(input) : input;
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function hmacSha256(secret: string, data: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', utf8(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8(data)));
}

/** Builds `header.payload.signature` with an HMAC-SHA256 signature over whatever header it is given. */
export async function handJwt(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(await hmacSha256(secret, input))}`;
}

export const bearer = (token: string) => `Bearer ${token}`;
export const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---- seeded data -------------------------------------------------------------

export interface Seed {
  appId: string;
  auth: string;
  key: { id: string; secret: string };
  userId: string;
  userExternalId: string;
  otherUserId: string;
  conversationId: string;
  groupId: string;
  messageId: string;
}

/**
 * An app with a key, user `ext` (with profile and metadata), a second user, a
 * personal conversation for the first with one business message, and an
 * sdkGroup holding both users. Every step must succeed, or the suite stops here.
 */
export async function seedApp(appId: string, auth: string, key: { id: string; secret: string }, ext: string): Promise<Seed> {
  const base = `/v2/apps/${appId}`;
  const user = await call('POST', `${base}/users`, auth, {
    externalId: ext,
    profile: { givenName: 'Ada', surname: 'Lovelace', email: `${ext}@example.org` },
    metadata: { tier: 'gold', visits: 3 },
  });
  expect(user.status).toBe(201);
  const other = await call('POST', `${base}/users`, auth, { externalId: `${ext}-other` });
  expect(other.status).toBe(201);
  const conv = await call('POST', `${base}/conversations`, auth, {
    type: 'personal',
    participants: [{ userId: user.body.user.id }],
    displayName: 'Support',
    description: 'Seeded conversation',
    metadata: { lang: 'en' },
  });
  expect(conv.status).toBe(201);
  const group = await call('POST', `${base}/conversations`, auth, {
    type: 'sdkGroup',
    participants: [{ userId: user.body.user.id }, { userId: other.body.user.id }],
    displayName: 'Group',
  });
  expect(group.status).toBe(201);
  const msg = await call('POST', `${base}/conversations/${conv.body.conversation.id}/messages`, auth, {
    author: { type: 'business' },
    content: { type: 'text', text: 'seeded message' },
  });
  expect(msg.status).toBe(201);
  return {
    appId,
    auth,
    key,
    userId: user.body.user.id,
    userExternalId: ext,
    otherUserId: other.body.user.id,
    conversationId: conv.body.conversation.id,
    groupId: group.body.conversation.id,
    messageId: msg.body.messages[0].id,
  };
}

/** Everything observable about a seeded app, read with the given credentials, for before/after comparisons. */
export async function snapshot(s: Seed, auth = s.auth) {
  const base = `/v2/apps/${s.appId}`;
  const read = async (path: string) => {
    const r = await call('GET', `${base}${path}`, auth);
    expect(r.status, `GET ${path}`).toBe(200);
    return r.body;
  };
  // The list comes from the D1 index, whose lastUpdatedAt follows the DO through the index queue
  // (eventually); the DO's own value is compared through `conversation` and `group`.
  const indexed = async (path: string) => {
    const body = await read(path);
    return { ...body, conversations: body.conversations.map(({ lastUpdatedAt: _eventual, ...c }: Record<string, unknown>) => c) };
  };
  return {
    app: await read(''),
    user: await read(`/users/${s.userId}`),
    otherUser: await read(`/users/${s.otherUserId}`),
    conversation: await read(`/conversations/${s.conversationId}`),
    group: await read(`/conversations/${s.groupId}`),
    messages: await read(`/conversations/${s.conversationId}/messages`),
    groupMessages: await read(`/conversations/${s.groupId}/messages`),
    participants: await read(`/conversations/${s.groupId}/participants`),
    conversations: await indexed(`/conversations?filter[userId]=${s.userId}`),
    otherConversations: await indexed(`/conversations?filter[userId]=${s.otherUserId}`),
    clients: await read(`/users/${s.userId}/clients`),
  };
}
