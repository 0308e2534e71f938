/**
 * Seeding for the insights suites: index ops written straight through the
 * index consumer (applyIndexOps, as the feed consumer calls it) with chosen
 * times and channels, and a poll for what the real API path indexes.
 */
import { env } from 'cloudflare:test';
import { expect } from 'vitest';
import type { Env } from '../../../src/env';
import { applyIndexOps } from '../../../src/delivery/index-consumer';
import { newId } from '../../../src/ids';
import type { IndexOp } from '../../../src/schema/index-ops';

export const testEnv = env as unknown as Env;

export interface Seeded {
  id: string;
  conversationId: string;
  seq: number;
  received: string;
  authorType: 'user' | 'business';
  userId: string | null;
  channel: string;
  text: string;
}

const seqs = new Map<string, number>();

/** A message.upsert op as a conversation's outbox would send it. */
export function messageOp(appId: string, m: Omit<Seeded, 'id' | 'seq'> & { id?: string; seq?: number }): { op: IndexOp; seeded: Seeded } {
  const seq = m.seq ?? (seqs.get(m.conversationId) ?? 0) + 1;
  seqs.set(m.conversationId, Math.max(seq, seqs.get(m.conversationId) ?? 0));
  const id = m.id ?? newId(Date.parse(m.received));
  const body = {
    id,
    received: m.received,
    author: { type: m.authorType, ...(m.userId ? { userId: m.userId } : {}) },
    content: { type: 'text', text: m.text },
    source: { type: m.channel },
  };
  const seeded: Seeded = { ...m, id, seq };
  return {
    seeded,
    op: {
      op: 'message.upsert',
      appId,
      conversationId: m.conversationId,
      message: { id, seq, received: m.received, authorType: m.authorType, authorUserId: m.userId, contentType: 'text', text: m.text, body: JSON.stringify(body), integrationType: m.channel },
    },
  };
}

export async function apply(ops: IndexOp[]) {
  expect(await applyIndexOps(testEnv, ops)).toBe(true);
}

/** Waits until the app's index holds `n` messages (the feed consumer runs on the real queue). */
export async function waitIndexed(appId: string, n: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await env.DB.prepare('SELECT count(*) AS n FROM message_index WHERE app_id = ?').bind(appId).first<{ n: number }>();
    if (row!.n >= n) return;
    if (Date.now() > deadline) throw new Error(`index holds ${row!.n} of ${n} messages for ${appId}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An integration key of the app (a custom integration with one webhook to a closed port). */
export async function integrationAuth(appId: string, auth: string): Promise<string> {
  const { call, basic } = await import('../helpers');
  const integration = await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [{ target: 'http://127.0.0.1:9/hook', triggers: ['conversation:message'] }] });
  expect(integration.status, JSON.stringify(integration.body)).toBe(201);
  const key = await call('POST', `/v2/apps/${appId}/integrations/${integration.body.integration.id}/keys`, auth, { displayName: 'insights' });
  return basic(key.body.key.id, key.body.key.secret);
}
