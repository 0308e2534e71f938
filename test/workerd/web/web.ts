/**
 * Helpers for the Web Messenger suites: a web integration on a fresh app, the
 * browser's calls (Origin, Bearer session token), sessions, the socket with
 * its collected frames, and user JWTs minted the way a customer's server
 * mints them.
 */
import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { signHs256 } from '../../../src/auth/jwt';
import { call, newApp } from '../helpers';

export const ORIGIN = 'https://shop.example.com';
export const BASE = 'http://parley.test';

export type WebApp = Awaited<ReturnType<typeof newApp>> & { integrationId: string };

export async function webApp(settings: Record<string, unknown> = { originWhitelist: [ORIGIN] }): Promise<WebApp> {
  const app = await newApp('web');
  const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'web', displayName: 'Site', ...settings });
  expect(created.status).toBe(201);
  return { ...app, integrationId: created.body.integration.id as string };
}

export interface BrowserResult {
  status: number;
  headers: Headers;
  body: any;
}

/** A browser request: JSON body, the page's Origin (null = none), the session token when given. */
export async function browser(
  method: string,
  path: string,
  token: string | undefined,
  body?: unknown,
  origin: string | null = ORIGIN,
  headers: Record<string, string> = {},
): Promise<BrowserResult> {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method,
    headers: {
      ...(origin ? { origin } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

export interface Visitor {
  token: string;
  userId: string;
  clientId: string;
  conversationId: string;
  body: any;
}

export async function startSession(app: WebApp, device?: Record<string, unknown>, origin: string | null = ORIGIN): Promise<Visitor> {
  const res = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId, ...(device ? { device } : {}) }, origin);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { token: res.body.session.token, userId: res.body.user.id, clientId: res.body.client.id, conversationId: res.body.conversation.id, body: res.body };
}

export const messagesPath = (app: { appId: string }, conversationId: string) => `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`;

export async function say(app: WebApp, visitor: { token: string; conversationId: string }, text: string, extra: Record<string, unknown> = {}) {
  const res = await browser('POST', messagesPath(app, visitor.conversationId), visitor.token, { content: { type: 'text', text }, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.messages[0];
}

/** The conversation's messages as the business sees them (v2 API, app key). */
export async function storedMessages(app: { appId: string; auth: string }, conversationId: string): Promise<any[]> {
  const res = await call('GET', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth);
  expect(res.status).toBe(200);
  return res.body.messages;
}

export async function businessSays(app: { appId: string; auth: string }, conversationId: string, content: Record<string, unknown>) {
  const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.messages[0];
}

export const socketPath = (app: { appId: string }, conversationId: string, after?: number) =>
  `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/socket${after === undefined ? '' : `?after=${after}`}`;

/** The upgrade request as a browser sends it: token as the second subprotocol. */
export function socketRequest(app: { appId: string }, conversationId: string, token: string, after?: number, origin: string | null = ORIGIN) {
  return SELF.fetch(`${BASE}${socketPath(app, conversationId, after)}`, {
    headers: { upgrade: 'websocket', ...(origin ? { origin } : {}), 'sec-websocket-protocol': `parley, ${token}` },
  });
}

export interface OpenSocket {
  ws: WebSocket;
  frames: any[];
  closed: { code: number; reason: string } | undefined;
}

export async function openSocket(app: { appId: string }, conversationId: string, token: string, after?: number): Promise<OpenSocket> {
  const res = await socketRequest(app, conversationId, token, after);
  expect(res.status).toBe(101);
  expect(res.headers.get('sec-websocket-protocol')).toBe('parley');
  const ws = res.webSocket!;
  const socket: OpenSocket = { ws, frames: [], closed: undefined };
  ws.accept();
  ws.addEventListener('message', (e) => {
    socket.frames.push(JSON.parse(e.data as string));
  });
  ws.addEventListener('close', (e) => {
    socket.closed = { code: e.code, reason: e.reason };
  });
  return socket;
}

export const messageFrames = (s: OpenSocket) => s.frames.filter((f) => f.type === 'message').map((f) => f.message);

/** Polls until the check stops throwing / returns truthy (queues, alarms and sockets run in the background). */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 8_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value === false) throw new Error('not yet');
      return value;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The user JWT a customer's server signs for the widget's login. */
export function userJwt(key: { id: string; secret: string }, externalId: string, extra: Record<string, unknown> = {}) {
  return signHs256({ scope: 'user', external_id: externalId, ...extra }, key.id, key.secret);
}

export async function login(app: WebApp, externalId: string, jwt: string, anonymousToken?: string, origin: string | null = ORIGIN) {
  return browser('POST', `/sdk/v2/apps/${app.appId}/login`, anonymousToken, { integrationId: app.integrationId, externalId, jwt }, origin);
}

/** Session tokens are HS256 under a secret derived from MASTER_KEY; re-derived here to mint expired ones. */
export async function sessionSecret(): Promise<string> {
  const master = env.MASTER_KEY!;
  const key = await crypto.subtle.importKey('raw', Uint8Array.from(atob(master), (c) => c.charCodeAt(0)), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const bytes = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode('parley web messenger session v1')));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function decodePayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(part + '='.repeat((4 - (part.length % 4)) % 4)));
}
