import { describe, expect, it } from 'vitest';
import { SELF } from 'cloudflare:test';
import { call, newApp } from './helpers';

describe('smoke', () => {
  it('creates an app, a user, a conversation and a message', async () => {
    const { appId, auth } = await newApp();
    const user = await call('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'u1' });
    expect(user.status).toBe(201);
    const conv = await call('POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    expect(conv.status).toBe(201);
    const msg = await call('POST', `/v2/apps/${appId}/conversations/${conv.body.conversation.id}/messages`, auth, {
      author: { type: 'business' },
      content: { type: 'text', text: 'hello' },
    });
    expect(msg.status).toBe(201);
    expect(msg.body.messages[0].seq).toBe(1);
  });

  it('answers HEAD on every GET route with the headers GET sends and no body', async () => {
    for (const path of ['/web-messenger.js', '/healthz']) {
      const get = await SELF.fetch(`https://parley.test${path}`);
      const head = await SELF.fetch(`https://parley.test${path}`, { method: 'HEAD' });
      expect([path, head.status]).toEqual([path, 200]);
      expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
      expect(await head.text()).toBe('');
      await get.body?.cancel();
    }
    expect((await SELF.fetch('https://parley.test/no-such-page', { method: 'HEAD' })).status).toBe(404);
  });
});
