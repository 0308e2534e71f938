/**
 * What every fuzz property needs besides its generators: sending a generated
 * request exactly as generated, the Worker's error log (a 5xx report carries
 * the stack), the v2 error-body check, and a fingerprint of everything one app
 * has stored (its D1 rows and its seeded conversations' messages), so "a
 * refused request stored nothing" is an equality of two fingerprints.
 */
import { env, SELF } from 'cloudflare:test';
import { vi } from 'vitest';
import { describeBody, type FuzzBody } from './arbitraries';
import { tally } from './budget';
import { knownFailure } from './known';

export const ORIGIN = 'http://parley.test';

export interface Sent {
  status: number;
  contentType: string;
  text: string;
  body: unknown;
}

// ---- the Worker's log ------------------------------------------------------------------

const logged: { seq: number; line: string }[] = [];
let seq = 0;

/**
 * Keeps what the Worker (same isolate as the tests) writes to console.error,
 * instead of printing it: fuzzed webhooks and channel calls fail on purpose
 * and log a lot. `errorResponse` logs "unhandled error <stack>" for every 500.
 */
export function captureWorkerLog(): () => void {
  const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    const line = args.map((a) => (a instanceof Error ? (a.stack ?? a.message) : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
    logged.push({ seq: ++seq, line });
    if (logged.length > 500) logged.splice(0, logged.length - 500);
  });
  return () => spy.mockRestore();
}

/** A position in the Worker's log; `logSince` returns what was logged after it. */
export const logMark = () => seq;
export const logSince = (mark: number) => logged.filter((l) => l.seq > mark).map((l) => l.line);
/** Everything logged so far that is not an expected, handled failure. */
export const workerLog = () => logged.map((l) => l.line);

// ---- requests ----------------------------------------------------------------------------

/** A JSON body of `chunks` × `chunkSize` padding, streamed (no Content-Length), for size limits. */
export function streamOf(chunks: number, chunkSize: number): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === 0) controller.enqueue(enc.encode('{"pad":"'));
      if (sent < chunks) controller.enqueue(enc.encode('x'.repeat(chunkSize)));
      else {
        controller.enqueue(enc.encode('"}'));
        controller.close();
      }
      sent++;
    },
  });
}

export interface FuzzRequest {
  method: string;
  path: string;
  authorization?: string | undefined;
  contentType?: string | undefined;
  body?: FuzzBody | undefined;
  headers?: Record<string, string>;
}

export const describeRequest = (r: FuzzRequest) =>
  `${r.method} ${r.path.length > 200 ? `${r.path.slice(0, 200)}…` : r.path}${r.contentType !== undefined ? ` [content-type: ${JSON.stringify(r.contentType)}]` : ''}${r.body ? ` ${describeBody(r.body)}` : ''}`;

/** Sends exactly what was generated: no JSON encoding, no default headers (bytes, so fetch adds no text/plain). */
export async function send(r: FuzzRequest): Promise<Sent> {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  if (r.authorization !== undefined) headers.authorization = r.authorization;
  if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  let body: BodyInit | undefined;
  if (r.body && r.method !== 'GET' && r.method !== 'HEAD') {
    body = r.body.stream ? streamOf(r.body.stream.chunks, r.body.stream.chunkSize) : (r.body.bytes ?? new TextEncoder().encode(r.body.text ?? ''));
  }
  const res = await SELF.fetch(`${ORIGIN}${r.path}`, { method: r.method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, body: parsed };
}

// ---- what an answer must look like ------------------------------------------------------------

/**
 * No 5xx: a 5xx fails with the stack the Worker logged for it, unless it is a
 * known, reported product bug (known.ts), which is counted and answered
 * `'known'` so the caller skips the checks that bug breaks anyway.
 */
export function expectNo5xx(res: Sent, request: string, mark: number): 'ok' | 'known' {
  tally(res.status);
  if (res.status < 500) return 'ok';
  const log = logSince(mark);
  if (knownFailure(res, request, log)) return 'known';
  const stacks = log.filter((l) => l.startsWith('unhandled error'));
  throw new Error(`${res.status} for ${request}\nanswer: ${res.text.slice(0, 300)}${stacks.length ? `\nworker log: ${stacks.join('\n')}` : ''}`);
}

/** The contract's error envelope: exactly `{errors:[{code,title}]}` (strings), as JSON. */
export function expectV2Error(res: Sent, request: string): void {
  const b = res.body as { errors?: unknown } | undefined;
  const ok =
    /^application\/json/.test(res.contentType) &&
    b !== null &&
    typeof b === 'object' &&
    !Array.isArray(b) &&
    Object.keys(b).length === 1 &&
    Array.isArray(b.errors) &&
    b.errors.length >= 1 &&
    b.errors.every((e: unknown) => e !== null && typeof e === 'object' && Object.keys(e).sort().join() === 'code,title' && typeof (e as { code: unknown }).code === 'string' && typeof (e as { title: unknown }).title === 'string' && (e as { title: string }).title.length > 0);
  if (!ok) throw new Error(`${res.status} without the v2 error body for ${request}: ${res.contentType} ${res.text.slice(0, 300)}`);
}

// ---- what an app has stored ---------------------------------------------------------------

/**
 * The app's rows in every D1 table a request can write, so the fingerprint
 * only moves on a request. Conversations and participants are owned by their
 * DOs; D1's copy is written again by the index queue in any order (a stale
 * upsert briefly brings back a participant who left), so only what no queued
 * op changes is read here: which conversations exist and whether they are
 * deleted. The delivery log is append-only and left out.
 */
export async function d1Rows(appId: string): Promise<Record<string, unknown[]>> {
  const by = (sql: string) => env.DB.prepare(sql).bind(appId);
  const tables = {
    apps: env.DB.prepare('SELECT count(*) AS n FROM apps'),
    app: by('SELECT display_name, settings, metadata FROM apps WHERE id = ?'),
    appKeys: by('SELECT id, display_name FROM app_keys WHERE app_id = ? ORDER BY id'),
    users: by('SELECT id, external_id, signed_up_at, to_be_retained, authenticated, profile, metadata, identities FROM users WHERE app_id = ? ORDER BY id'),
    clients: by('SELECT id, user_id, type, status, integration_id, external_id, display_name, avatar_url, info, raw FROM clients WHERE app_id = ? ORDER BY id'),
    conversations: by('SELECT id, type, is_default, deleted_at IS NOT NULL AS deleted FROM conversations WHERE app_id = ? ORDER BY id'),
    integrations: by('SELECT id, type, status, display_name, config FROM integrations WHERE app_id = ? ORDER BY id'),
    webhooks: by('SELECT id, integration_id, target, triggers, include_full_user, include_full_source, version, secret_sealed FROM webhooks WHERE app_id = ? ORDER BY id'),
    integrationKeys: by('SELECT id, integration_id, display_name FROM integration_keys WHERE app_id = ? ORDER BY id'),
    deadLetters: by('SELECT event_id, webhook_id, replay_requested_at FROM webhook_dead_letters WHERE app_id = ? ORDER BY webhook_id, event_id'),
    switchboards: by('SELECT id, enabled, default_switchboard_integration_id FROM switchboards WHERE app_id = ?'),
    switchboardIntegrations: by('SELECT * FROM switchboard_integrations WHERE app_id = ? ORDER BY id'),
  };
  const results = await env.DB.batch(Object.values(tables));
  return Object.fromEntries(Object.keys(tables).map((name, i) => [name, results[i]!.results]));
}

/** What a conversation's DO holds: the conversation, its participants and its newest page of messages (ids, deletions). */
export async function conversationState(appId: string, conversationId: string): Promise<unknown> {
  const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(`${appId}/${conversationId}`));
  const [got, page] = await Promise.all([stub.get(), stub.listMessages({ size: 100 })]);
  return {
    conversation: got.ok ? got.value : `${got.status} ${got.code}`,
    messages: page.ok ? page.value.messages.map((m) => `${m.id}${m.deleted ? ' deleted' : ''}`) : `${page.status} ${page.code}`,
  };
}

export interface Watched {
  appId: string;
  auth: string;
  /** Conversations whose DO state (fields, participants, messages) is part of the fingerprint. */
  conversations: string[];
}

export async function fingerprint(w: Watched): Promise<string> {
  const [rows, ...held] = await Promise.all([d1Rows(w.appId), ...w.conversations.map((c) => conversationState(w.appId, c))]);
  return JSON.stringify({ ...rows, conversationObjects: held });
}

/** Names the first rows of two fingerprints that differ, for a readable failure. */
export function fingerprintDiff(before: string, after: string): string {
  const a = JSON.parse(before) as Record<string, unknown[]>;
  const b = JSON.parse(after) as Record<string, unknown[]>;
  for (const key of Object.keys(a)) {
    const x = a[key] ?? [];
    const y = b[key] ?? [];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    const removed = x.filter((row) => !y.some((other) => JSON.stringify(other) === JSON.stringify(row)));
    const added = y.filter((row) => !x.some((other) => JSON.stringify(other) === JSON.stringify(row)));
    const cut = (rows: unknown[]) => rows.map((r) => JSON.stringify(r).slice(0, 400)).join('\n    ');
    return `${key} changed:\n  before: ${cut(removed)}\n  after:  ${cut(added)}`;
  }
  return 'no difference';
}

/** A refused request must leave the fingerprint as it was. */
export async function expectNothingStored(w: Watched, before: string, request: string, res: Sent): Promise<string> {
  const after = await fingerprint(w);
  if (after !== before) throw new Error(`${res.status} for ${request}, yet storage changed: ${fingerprintDiff(before, after)}\nanswer: ${res.text.slice(0, 300)}`);
  return after;
}

/**
 * The last fingerprint known to be current, so a run of refused requests costs
 * one fingerprint each, not two. Anything that may write (a 2xx that is not a
 * GET, a victim, a clean-up) forgets it; so does looking at other objects.
 */
export class FingerprintCache {
  private current: { of: string; value: string } | undefined;
  async get(w: Watched): Promise<string> {
    const of = JSON.stringify(w);
    if (this.current?.of !== of) this.current = { of, value: await fingerprint(w) };
    return this.current.value;
  }
  set(w: Watched, value: string): void {
    this.current = { of: JSON.stringify(w), value };
  }
  forget(): void {
    this.current = undefined;
  }
}
