/**
 * Customer webhooks end to end: a locally started Parley (wrangler dev) sends
 * to real HTTP receivers on loopback. Checks the v2 envelope, both headers and
 * the signature for each trigger, the v1 format, ordering and exactly-once
 * after dedupe under injected faults, the delivery log, dead letters and replay.
 * The retry schedule is shortened through the WEBHOOK_* vars in global-setup.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Receiver, verifySignature, waitFor, type Received } from './receiver';
import { basicAuth } from './rest';

const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
let auth = '';
let appId = '';

async function api(method: string, path: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: path === '/v2/apps' || path.endsWith('/keys') ? account : auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function webhookTo(receiver: Receiver, triggers: string[], extra: Record<string, unknown> = {}) {
  const res = await api('POST', `/v2/apps/${appId}/integrations`, { type: 'custom', webhooks: [{ target: receiver.url, triggers, ...extra }] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const integration = res.body.integration;
  return { integrationId: integration.id as string, webhook: integration.webhooks[0] as { id: string; secret: string; version: string } };
}

async function user(externalId: string) {
  const res = await api('POST', `/v2/apps/${appId}/users`, { externalId });
  expect(res.status).toBe(201);
  return res.body.user as { id: string; externalId: string };
}

async function personal(userId: string) {
  const res = await api('POST', `/v2/apps/${appId}/conversations`, { type: 'personal', participants: [{ userId }] });
  expect(res.status).toBe(201);
  return res.body.conversation.id as string;
}

const post = (conversationId: string, body: unknown) => api('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, body);
const business = (text: string) => ({ author: { type: 'business' }, content: { type: 'text', text } });

beforeAll(async () => {
  const app = await api('POST', '/v2/apps', { displayName: 'Webhooks suite' });
  appId = app.body.app.id;
  const key = await api('POST', `/v2/apps/${appId}/keys`, { displayName: 'suite' });
  auth = basicAuth(key.body.key.id, key.body.key.secret);
});

describe('the v2 envelope, headers and signature for each trigger', () => {
  const receiver = new Receiver();
  let secret = '';
  let webhookId = '';
  beforeAll(async () => {
    await receiver.listen();
    const created = await webhookTo(receiver, ['*'], { includeFullUser: true });
    secret = created.webhook.secret;
    webhookId = created.webhook.id;
  });
  afterAll(() => receiver.close());

  it('delivers conversation:create, :message (user and business), :join, :leave, :read and :remove, each signed', async () => {
    const ada = await user('ada-envelope');
    const bob = await user('bob-envelope');
    const conversationId = await personal(ada.id);
    expect((await post(conversationId, business('hello from the business'))).status).toBe(201);
    expect((await post(conversationId, { author: { type: 'user', userId: ada.id }, content: { type: 'text', text: 'hi from ada' } })).status).toBe(201);
    expect((await api('POST', `/v2/apps/${appId}/conversations/${conversationId}/activity`, { author: { type: 'user', userId: ada.id }, type: 'conversation:read' })).status).toBe(200);
    const group = await api('POST', `/v2/apps/${appId}/conversations`, { type: 'sdkGroup', participants: [{ userId: ada.id }] });
    const groupId = group.body.conversation.id;
    expect((await api('POST', `/v2/apps/${appId}/conversations/${groupId}/join`, { userId: bob.id })).status).toBe(201);
    expect((await api('POST', `/v2/apps/${appId}/conversations/${groupId}/leave`, { userId: bob.id })).status).toBe(200);
    expect((await api('DELETE', `/v2/apps/${appId}/conversations/${groupId}`)).status).toBe(200);

    const wanted = ['conversation:create', 'conversation:message', 'conversation:read', 'conversation:join', 'conversation:leave', 'conversation:remove'];
    await waitFor('every trigger', () => wanted.every((t) => receiver.events().some((e) => e.type === t)) && receiver.events().filter((e) => e.type === 'conversation:message').length >= 2);

    for (const r of receiver.requests) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-api-key']).toBe(secret);
      expect(verifySignature(secret, r.headers, r.body), 'signature verifies with the webhook secret').toBe(true);
      expect(verifySignature(`whsec_${Buffer.from('another secret entirely').toString('base64')}`, r.headers, r.body), 'a wrong secret does not verify').toBe(false);
      expect(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(r.json.app).toEqual({ id: appId });
      expect(r.json.webhook).toEqual({ id: webhookId, version: 'v2' });
      for (const e of r.json.events) {
        expect(e.id).toMatch(/^[0-9a-f]{24}$/);
        expect(Date.parse(e.createdAt)).not.toBeNaN();
      }
    }
    const events = receiver.events();
    const create = events.find((e) => e.type === 'conversation:create' && e.payload.conversation.id === conversationId)!;
    expect(create.payload).toMatchObject({ conversation: { id: conversationId, type: 'personal' }, creationReason: 'none', user: { id: ada.id, externalId: 'ada-envelope' } });
    const messages = events.filter((e) => e.type === 'conversation:message' && e.payload.conversation.id === conversationId);
    expect(messages.map((e) => e.payload.message.content.text)).toEqual(['hello from the business', 'hi from ada']);
    expect(messages.map((e) => e.payload.message.seq)).toEqual([1, 2]);
    expect(messages[0]!.payload.message.author).toEqual({ type: 'business' });
    // includeFullUser expands the author's user to the full v2 user.
    expect(messages[1]!.payload.message.author).toMatchObject({ type: 'user', userId: ada.id, user: { id: ada.id, externalId: 'ada-envelope', profile: {}, metadata: {} } });
    const read = events.find((e) => e.type === 'conversation:read')!;
    expect(read.payload.activity).toMatchObject({ type: 'conversation:read', author: { type: 'user', userId: ada.id } });
    expect(events.find((e) => e.type === 'conversation:join')!.payload).toMatchObject({ conversation: { id: groupId, type: 'sdkGroup' }, user: { id: bob.id } });
    expect(events.find((e) => e.type === 'conversation:leave')!.payload).toMatchObject({ conversation: { id: groupId }, user: { id: bob.id } });
    expect(events.find((e) => e.type === 'conversation:remove')!.payload).toEqual({ conversation: { id: groupId, type: 'sdkGroup' } });
  });

  it('delivers user:remove when a user is deleted, signed like every other event', async () => {
    const gone = await user('gone-user');
    expect((await api('DELETE', `/v2/apps/${appId}/users/${gone.id}`)).status).toBe(200);
    const e = await waitFor('user:remove', () => receiver.events().find((x) => x.type === 'user:remove' && x.payload.user.id === gone.id));
    // includeFullUser cannot expand a deleted user: the truncated user is what remains.
    expect(e.payload).toEqual({ user: { id: gone.id, externalId: 'gone-user', authenticated: false } });
    const r = receiver.requests.find((x) => x.json?.events?.some((y: { id: string }) => y.id === e.id))!;
    expect(verifySignature(secret, r.headers, r.body)).toBe(true);
  });

  it('replays a chosen, already delivered event by id, under a new webhook-id and the same event id', async () => {
    const ada = await user('ada-replay');
    const c = await personal(ada.id);
    await post(c, business('replay me'));
    const e = await waitFor('the delivered event', () => receiver.events().find((x) => x.payload.message?.content?.text === 'replay me'));
    const before = receiver.requests.length;
    const integrationId = (await api('GET', `/v2/apps/${appId}/integrations`)).body.integrations.find((i: { webhooks?: { id: string }[] }) => i.webhooks?.some((w) => w.id === webhookId))?.id;
    expect(integrationId).toBeTruthy();
    const res = await api('POST', `/v2/apps/${appId}/integrations/${integrationId}/webhooks/${webhookId}/replay`, { eventIds: [e.id] });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const again = await waitFor('the replay', () => receiver.requests.slice(before).find((r) => r.json?.events?.[0]?.id === e.id));
    expect(again.headers['webhook-id'], 'a replay is a new message, so webhook-id dedupe does not drop it').toMatch(new RegExp(`^${e.id}\\.replay\\.\\d+$`));
    expect(again.json.events[0]).toEqual(e);
    expect(verifySignature(secret, again.headers, again.body)).toBe(true);
  });

  it('sends only subscribed triggers', async () => {
    const only = new Receiver();
    await only.listen();
    try {
      await webhookTo(only, ['conversation:message']);
      const ada = await user('ada-filter');
      const conversationId = await personal(ada.id);
      await post(conversationId, business('only messages'));
      await waitFor('the message event', () => only.events().some((e) => e.payload.message?.content?.text === 'only messages'));
      expect(new Set(only.events().map((e) => e.type))).toEqual(new Set(['conversation:message']));
    } finally {
      await only.close();
    }
  });
});

describe('the legacy v1 format', () => {
  it('sends message:appUser with messages[] and appUser as the product documentation shows', async () => {
    const receiver = new Receiver();
    await receiver.listen();
    try {
      const { webhook } = await webhookTo(receiver, ['conversation:message'], { version: 'v1' });
      expect(webhook.version).toBe('v1');
      const ada = await user('ada-v1');
      const conversationId = await personal(ada.id);
      await post(conversationId, { author: { type: 'user', userId: ada.id, displayName: 'Ada' }, content: { type: 'text', text: 'legacy hello' } });
      const r = await waitFor('the v1 delivery', () => receiver.requests.find((x) => x.json?.messages?.[0]?.text === 'legacy hello'));
      expect(r.headers['x-api-key']).toBe(webhook.secret);
      expect(verifySignature(webhook.secret, r.headers, r.body)).toBe(true);
      expect(r.json).toMatchObject({ trigger: 'message:appUser', app: { _id: appId }, conversation: { _id: conversationId } });
      const [m] = r.json.messages;
      expect(m).toMatchObject({ type: 'text', text: 'legacy hello', role: 'appUser', authorId: ada.id, name: 'Ada' });
      expect(typeof m._id).toBe('string');
      expect(typeof m.received).toBe('number');
      expect(Math.abs(m.received - Date.now() / 1000)).toBeLessThan(60);
      expect(r.json.appUser).toMatchObject({ _id: ada.id, userId: 'ada-v1', properties: {}, clients: [] });

      await post(conversationId, business('legacy reply'));
      const reply = await waitFor('the appMaker delivery', () => receiver.requests.find((x) => x.json?.messages?.[0]?.text === 'legacy reply'));
      expect(reply.json).toMatchObject({ trigger: 'message:appMaker', messages: [{ role: 'appMaker', text: 'legacy reply' }], appUser: { _id: ada.id, userId: 'ada-v1' } });
    } finally {
      await receiver.close();
    }
  });
});

describe('faults: every event arrives once after dedupe, in seq order per conversation', () => {
  it('survives 500 ×3, a timeout, an unreachable receiver, then recovers; the delivery log shows every attempt', async () => {
    const receiver = new Receiver();
    await receiver.listen();
    const { integrationId, webhook } = await webhookTo(receiver, ['conversation:message']);
    receiver.script = [{ status: 500 }, { status: 500 }, { status: 500 }, { hangMs: 3000 }];
    const a = await personal((await user('fault-a')).id);
    const b = await personal((await user('fault-b')).id);
    const texts: string[] = [];
    for (let i = 0; i < 6; i++) {
      for (const c of [a, b]) {
        const text = `${c === a ? 'a' : 'b'}-${i}`;
        texts.push(text);
        expect((await post(c, business(text))).status).toBe(201);
      }
    }
    // After the scripted failures are used up, go away for a while, then come back.
    await waitFor('the scripted faults to be used', () => receiver.script.length === 0 && receiver.requests.length >= 4, 30_000);
    // Let the hanging request run past the sender's 1 s timeout before the receiver disappears.
    await new Promise((r) => setTimeout(r, 1500));
    const port = receiver.port;
    await receiver.goAway();
    await new Promise((r) => setTimeout(r, 1500));
    await receiver.listen(port);

    await waitFor('every event', () => texts.every((t) => receiver.events().some((e) => e.payload.message.content.text === t)), 40_000);
    const events = receiver.events();
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size, 'each event id exactly once after dedupe by webhook-id').toBe(ids.length);
    expect(events).toHaveLength(texts.length);
    for (const c of [a, b]) {
      const seqs = events.filter((e) => e.payload.conversation.id === c).map((e) => e.payload.message.seq);
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    }
    for (const r of receiver.requests) expect(verifySignature(webhook.secret, r.headers, r.body)).toBe(true);

    const log = await api('GET', `/v2/apps/${appId}/integrations/${integrationId}/webhooks/${webhook.id}/deliveries?page[size]=100`);
    expect(log.status).toBe(200);
    const outcomes = log.body.deliveries.map((d: { outcome: string }) => d.outcome);
    expect(outcomes.filter((o: string) => o === 'failed').length, 'three 500s and one timeout at least').toBeGreaterThanOrEqual(4);
    expect(log.body.deliveries.some((d: { responseCode: number | null }) => d.responseCode === 500)).toBe(true);
    expect(log.body.deliveries.map((d: { error: string | null }) => d.error).join(' | ')).toMatch(/timeout|abort/i);
    expect(outcomes).toContain('delivered');
    await receiver.close();
  }, 90_000);
});

describe('dead letters and replay', () => {
  it('a refused event (404) is dead-lettered at once and comes back through replay', async () => {
    const receiver = new Receiver();
    await receiver.listen();
    try {
      receiver.fallback = { status: 404 };
      const { integrationId, webhook } = await webhookTo(receiver, ['conversation:message']);
      const c = await personal((await user('dead-404')).id);
      await post(c, business('refused once'));
      await waitFor('the refused attempt', () => receiver.requests.length >= 1);
      const base = `/v2/apps/${appId}/integrations/${integrationId}/webhooks/${webhook.id}`;
      const log = await waitForAsync('the dead outcome in the log', async () => {
        const res = await api('GET', `${base}/deliveries`);
        return res.body.deliveries.find((d: { outcome: string }) => d.outcome === 'dead');
      }, 10_000);
      expect(log).toMatchObject({ responseCode: 404, attempt: 1 });
      expect(receiver.requests, 'a 404 is not retried').toHaveLength(1);
      const eventId = receiver.requests[0]!.json.events[0].id;

      receiver.fallback = { status: 200 };
      const replay = await api('POST', `${base}/replay`, { eventIds: [eventId] });
      expect(replay.status, JSON.stringify(replay.body)).toBe(202);
      const again = await waitFor('the replayed event', () => receiver.requests.slice(1).find((r) => r.json?.events?.[0]?.id === eventId));
      expect(verifySignature(webhook.secret, again.headers, again.body)).toBe(true);
      expect((await api('POST', `${base}/replay`, { eventIds: ['0123456789abcdef01234567'] })).status).toBe(400);
    } finally {
      await receiver.close();
    }
  });

  it('an event that keeps failing past the retry window is dead-lettered, then replayed', async () => {
    const receiver = new Receiver();
    await receiver.listen();
    try {
      receiver.fallback = { status: 503 };
      const { integrationId, webhook } = await webhookTo(receiver, ['conversation:message']);
      const c = await personal((await user('dead-window')).id);
      await post(c, business('never accepted in time'));
      const base = `/v2/apps/${appId}/integrations/${integrationId}/webhooks/${webhook.id}`;
      const dead = await waitForAsync('the dead-letter', async () => {
        const log = await api('GET', `${base}/deliveries`);
        return log.body.deliveries.length > 0 && (await api('POST', `${base}/replay`, { since: '2000-01-01T00:00:00.000Z' })).status === 202;
      }, 30_000);
      expect(dead).toBe(true);
      const attempts = receiver.requests.length;
      expect(attempts).toBeGreaterThan(2);
      receiver.fallback = { status: 200 };
      const replayed = () => receiver.requests.slice(attempts).some((r: Received) => r.json?.events?.[0]?.payload?.message?.content?.text === 'never accepted in time');
      await waitFor('the replayed delivery', replayed, 45_000).catch(async (err) => {
        const log = await api('GET', `${base}/deliveries?page[size]=100`);
        throw new Error(`${(err as Error).message}; delivery log: ${JSON.stringify(log.body.deliveries.map((d: object) => d))}`);
      });
    } finally {
      await receiver.close();
    }
  }, 90_000);
});

async function waitForAsync<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
