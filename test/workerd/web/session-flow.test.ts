/** The Web Messenger's browser API end to end inside workerd: session, post, socket replay and live frames, business reply. */
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';

const ORIGIN = 'https://shop.example.com';

async function webApp(settings: Record<string, unknown> = {}) {
  const app = await newApp('web');
  const created = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'web', displayName: 'Site', originWhitelist: [ORIGIN], ...settings });
  expect(created.status).toBe(201);
  return { ...app, integrationId: created.body.integration.id as string };
}

async function browser(method: string, path: string, token: string | undefined, body?: unknown, origin = ORIGIN) {
  const res = await SELF.fetch(`http://parley.test${path}`, {
    method,
    headers: { origin, ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function openSocket(appId: string, conversationId: string, token: string, after = 0) {
  const res = await SELF.fetch(`http://parley.test/sdk/v2/apps/${appId}/conversations/${conversationId}/socket?after=${after}`, {
    headers: { upgrade: 'websocket', origin: ORIGIN, 'sec-websocket-protocol': `parley, ${token}` },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  const frames: any[] = [];
  ws.accept();
  ws.addEventListener('message', (e) => {
    frames.push(JSON.parse(e.data as string));
  });
  return { ws, frames };
}

const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('Web Messenger session flow', () => {
  it('a visitor starts a session, posts, and sees the business reply live on the socket', async () => {
    const app = await webApp();
    const started = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId, device: { browserLanguage: 'fr-FR' } });
    expect(started.status).toBe(201);
    expect(started.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const { token } = started.body.session;
    const conversationId = started.body.conversation.id;
    expect(started.body.client.type).toBe('sdk');

    const posted = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`, token, { content: { type: 'text', text: 'Bonjour' }, clientMessageId: 'c1' });
    expect(posted.status).toBe(201);
    expect(posted.body.messages[0].source).toMatchObject({ type: 'web', integrationId: app.integrationId, originalMessageId: 'c1' });
    const again = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/messages`, token, { content: { type: 'text', text: 'Bonjour' }, clientMessageId: 'c1' });
    expect(again.body.messages[0].id).toBe(posted.body.messages[0].id);

    const { frames, ws } = await openSocket(app.appId, conversationId, token);
    await until(() => frames.some((f) => f.type === 'ready'));
    expect(frames.filter((f) => f.type === 'message').map((f) => f.message.content.text)).toEqual(['Bonjour']);

    const reply = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'Hello!' } });
    expect(reply.status).toBe(201);
    await until(() => frames.some((f) => f.type === 'message' && f.message.content.text === 'Hello!'));
    const seqs = frames.filter((f) => f.type === 'message').map((f) => f.message.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    ws.close();

    const clients = await call('GET', `/v2/apps/${app.appId}/users/${started.body.user.id}/clients`, app.auth);
    expect(clients.body.clients[0].info.browserLanguage).toBe('fr-FR');
  });

  it('refuses a page on an origin the integration does not list, without CORS headers', async () => {
    const app = await webApp();
    const refused = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId }, 'https://evil.example');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(refused.body.errors[0].title).toContain('originWhitelist');
  });
});
