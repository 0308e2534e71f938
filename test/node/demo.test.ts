/**
 * The Web Messenger demo against the suite's Parley, driven as its pages
 * drive it: the storefront embeds the widget with the demo's own web
 * integration, a visitor's message sent through the widget's routes from the
 * storefront's origin reaches the inbox through the customer webhook, the
 * agent's answer goes back through the REST API, and restarts reuse the same
 * integration and webhook instead of piling up new ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDemo, type Demo } from '../../scripts/demo/index';
import { appWithKey, basicAuth } from './rest';

const parleyUrl = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
let appId = '';
let appKey = '';
let demo: Demo;
let stateDir = '';
let options: Parameters<typeof startDemo>[0];

async function parley(method: string, p: string, body?: unknown, headers: Record<string, string> = { authorization: appKey }) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
}

async function inbox(method: 'GET' | 'POST', p: string, body?: unknown) {
  const res = await fetch(`${demo.url}/inbox/api${p}`, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as any };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events: ${JSON.stringify(demo.webhookEvents().map((e) => e.summary))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const integrationsOf = async (type: string) => (await parley('GET', `/v2/apps/${appId}/integrations?filter[types]=${type}`)).body.integrations as any[];

/** A visitor opens the storefront: the widget's session call, from the storefront's origin. */
async function visitor() {
  const origin = { origin: demo.url };
  const session = await parley('POST', `/sdk/v2/apps/${appId}/sessions`, { integrationId: demo.integrationId, device: { currentUrl: `${demo.url}/` } }, origin);
  expect(session.status, JSON.stringify(session.body)).toBe(201);
  const auth = { ...origin, authorization: `Bearer ${session.body.session.token}` };
  const conversationId: string = session.body.conversation.id;
  const say = async (text: string) => {
    const sent = await parley('POST', `/sdk/v2/apps/${appId}/conversations/${conversationId}/messages`, { content: { type: 'text', text } }, auth);
    expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  };
  return { conversationId, say };
}

beforeAll(async () => {
  const key = await appWithKey(parleyUrl, account, 'Demo suite');
  ({ appId, auth: appKey } = key);
  stateDir = mkdtempSync(path.join(tmpdir(), 'parley-demo-'));
  options = { parleyUrl, appId, keyId: key.keyId, keySecret: key.keySecret, port: 0, stateFile: path.join(stateDir, 'inbox.json') };
  demo = await startDemo(options);
});

afterAll(async () => {
  await demo?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('the Web Messenger demo', () => {
  it('creates a web integration for its own origins and a webhook to its inbox', async () => {
    const port = new URL(demo.url).port;
    const [web] = await integrationsOf('web');
    expect(web).toMatchObject({ id: demo.integrationId, displayName: 'Demo website', businessName: 'Acme Outfitters', status: 'active' });
    expect([...web.originWhitelist].sort()).toEqual([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
    const [custom] = await integrationsOf('custom');
    expect(custom.webhooks).toMatchObject([{ id: demo.webhook.webhookId, target: `${demo.url}/inbox/webhook` }]);
    expect(custom.webhooks[0].triggers).toEqual(expect.arrayContaining(['conversation:message', 'conversation:postback', 'conversation:typing', 'conversation:read', 'client:add']));
  });

  it('serves a storefront that embeds the widget from Parley with that integration', async () => {
    const html = await (await fetch(demo.url)).text();
    expect(html).toContain(`<script src="${parleyUrl}/web-messenger.js"></script>`);
    expect(html).toContain(`ParleyMessenger.init({"appId":"${appId}","integrationId":"${demo.integrationId}"})`);
    const image = await fetch(`${demo.url}/img/jacket.svg`);
    expect(image.headers.get('content-type')).toBe('image/svg+xml');
  });

  it('greets visitors of its sale page with a campaign, and only there; answering it opens the conversation as proactiveMessaging', async () => {
    const origin = { origin: demo.url };
    const campaignsFor = async (page: string) => {
      const res = await parley('GET', `/sdk/v2/apps/${appId}/integrations/${demo.integrationId}/campaigns?url=${encodeURIComponent(`${demo.url}${page}`)}`, undefined, origin);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.campaigns as any[];
    };
    expect(await campaignsFor('/')).toEqual([]);
    const [sale] = await campaignsFor('/sale');
    expect(sale).toMatchObject({ message: { author: { displayName: 'Acme Outfitters' }, content: { type: 'text' } }, delaySeconds: 2, frequency: 'everyPageLoad' });
    expect((await fetch(`${demo.url}/sale`)).status).toBe(200);
    const session = await parley('POST', `/sdk/v2/apps/${appId}/sessions`, { integrationId: demo.integrationId, campaignId: sale.id, device: { currentUrl: `${demo.url}/sale` } }, origin);
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    const created = await eventually('the campaign conversation in the inbox events', async () =>
      demo.webhookEvents().find((e) => e.type === 'conversation:create' && e.conversationId === session.body.conversation.id),
    );
    expect(created.payload).toMatchObject({ creationReason: 'proactiveMessaging', source: { type: 'web', campaign: { id: sale.id } } });
    // A restart finds the campaign again instead of making a second one.
    const listed = await parley('GET', `/v2/apps/${appId}/campaigns`);
    expect(listed.body.campaigns.filter((c: any) => c.displayName === 'Demo: sale greeting')).toHaveLength(1);
  });

  it('lists a visitor’s conversation once the webhook arrives, shows its messages and sends the agent’s answer', async () => {
    const { conversationId, say } = await visitor();
    await say('Do the Summit boots run large?');
    const listed = await eventually('the message in the inbox', async () =>
      (await inbox('GET', '/conversations')).body.conversations.find((c: any) => c.id === conversationId && c.previewAuthor === 'user'),
    );
    expect(listed).toMatchObject({ channel: 'web', unread: true, preview: 'Do the Summit boots run large?', previewAuthor: 'user' });
    expect(demo.webhookEvents().some((e) => e.type === 'conversation:message' && e.conversationId === conversationId)).toBe(true);

    const thread = await inbox('GET', `/conversations/${conversationId}/messages`);
    expect(thread.body.messages.map((m: any) => [m.author.type, m.content.text])).toEqual([['user', 'Do the Summit boots run large?']]);
    expect((await inbox('POST', `/conversations/${conversationId}/read`, {})).body.conversation.unread).toBe(false);

    expect((await inbox('POST', `/conversations/${conversationId}/messages`, { text: 'They run true to size.' })).status).toBe(201);
    expect((await inbox('POST', `/conversations/${conversationId}/messages`, { rich: 'carousel' })).status).toBe(201);
    const stored = await parley('GET', `/v2/apps/${appId}/conversations/${conversationId}/messages`);
    const [answer, carousel] = stored.body.messages.slice(-2);
    expect(answer).toMatchObject({ author: { type: 'business', displayName: 'Acme support' }, content: { type: 'text', text: 'They run true to size.' } });
    expect(carousel.content.items.map((i: any) => i.mediaUrl)).toEqual([`${demo.url}/img/jacket.svg`, `${demo.url}/img/boots.svg`, `${demo.url}/img/backpack.svg`]);
    await eventually('the answer as the preview', async () => (await inbox('GET', '/conversations')).body.conversations.find((c: any) => c.id === conversationId)?.previewAuthor === 'business');
  });

  it('refuses a webhook without the secret, and logs nothing from it', async () => {
    const forged = await fetch(`${demo.url}/inbox/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'whsec_guess' },
      body: JSON.stringify({ events: [{ id: 'forged', type: 'conversation:message', payload: { conversation: { id: 'x' }, message: { author: { type: 'user' }, content: { type: 'text', text: 'hi' } } } }] }),
    });
    expect(forged.status).toBe(401);
    expect(demo.webhookEvents().map((e) => e.id)).not.toContain('forged');
  });

  it('reuses its integration and webhook after a restart on another port, and keeps the inbox', async () => {
    const { integrationId } = demo;
    const kept = (await inbox('GET', '/conversations')).body.conversations.map((c: any) => c.id);
    await demo.close();
    demo = await startDemo(options);
    expect(demo.integrationId).toBe(integrationId);
    const [web, ...moreWeb] = await integrationsOf('web');
    expect(moreWeb).toEqual([]);
    expect(web.originWhitelist).toContain(demo.url);
    const customs = await integrationsOf('custom');
    expect(customs.flatMap((c) => c.webhooks.map((w: any) => w.target))).toEqual([`${demo.url}/inbox/webhook`]);
    expect((await inbox('GET', '/conversations')).body.conversations.map((c: any) => c.id)).toEqual(kept);

    const { conversationId, say } = await visitor();
    await say('still there?');
    await eventually('the new conversation after the restart', async () => (await inbox('GET', '/conversations')).body.conversations[0]?.id === conversationId);
  });
});
