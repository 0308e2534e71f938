/**
 * What happens to an uploaded file later: `for=message` ties it to a
 * conversation (it goes when the conversation is deleted, its messages are
 * cleared or its user is deleted), and `attachments/remove` deletes one at
 * once, refusing URLs of other hosts or apps.
 */
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from './helpers';

const BASE = 'http://parley.test';
let app: Awaited<ReturnType<typeof newApp>>;
beforeAll(async () => {
  app = await newApp('attachment lifecycle');
});

async function upload(query: string, on = app) {
  const form = new FormData();
  form.append('source', new File(['%PDF-1.4 quote'], 'quote.pdf', { type: 'application/pdf' }));
  const res = await SELF.fetch(`${BASE}/v2/apps/${on.appId}/attachments${query}`, { method: 'POST', headers: { authorization: on.auth }, body: form });
  return { status: res.status, body: (await res.json()) as any };
}
const served = async (url: string) => (await SELF.fetch(url)).status;

async function personal() {
  const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: `att-${crypto.randomUUID()}` });
  const conv = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
  return { userId: user.body.user.id as string, conversationId: conv.body.conversation.id as string };
}

describe('uploads for=message', () => {
  it('need an existing conversationId, and only with for=message', async () => {
    for (const [query, status, title] of [
      ['?access=public&for=message', 400, /^conversationId: is required with for=message/],
      [`?access=public&conversationId=0123456789abcdef01234567`, 400, /^conversationId: is required with for=message, and only with it/],
      ['?access=public&for=message&conversationId=nope', 400, /^conversationId: must be a 24-character id/],
    ] as const) {
      const res = await upload(query);
      expect(res.status, query).toBe(status);
      expect(res.body.errors[0].title, query).toMatch(title);
    }
    const missing = await upload('?access=public&for=message&conversationId=0123456789abcdef01234567');
    expect(missing.status).toBe(404);
    expect(missing.body.errors[0].code).toBe('conversation_not_found');
  });

  it('go with their conversation when it is deleted, and with its messages when they are cleared', async () => {
    const group = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'sdkGroup' });
    const inGroup = await upload(`?access=public&for=message&conversationId=${group.body.conversation.id}`);
    expect(inGroup.status).toBe(201);
    const unrelated = await upload('?access=public');
    expect(await served(inGroup.body.attachment.mediaUrl)).toBe(200);
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${group.body.conversation.id}`, app.auth)).status).toBe(200);
    expect(await served(inGroup.body.attachment.mediaUrl)).toBe(404);
    expect(await served(unrelated.body.attachment.mediaUrl)).toBe(200);

    const { conversationId } = await personal();
    const inPersonal = await upload(`?access=public&for=message&conversationId=${conversationId}`);
    expect((await call('DELETE', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth)).status).toBe(200);
    expect(await served(inPersonal.body.attachment.mediaUrl)).toBe(404);
  });

  it("go with their user's personal conversation when the user is deleted", async () => {
    const { userId, conversationId } = await personal();
    const up = await upload(`?access=public&for=message&conversationId=${conversationId}`);
    expect(await served(up.body.attachment.mediaUrl)).toBe(200);
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${userId}`, app.auth)).status).toBe(200);
    expect(await served(up.body.attachment.mediaUrl)).toBe(404);
  });
});

describe('attachments/remove', () => {
  it('deletes one of the app\'s uploads at once; refuses other hosts and apps (400) and unknown files (404)', async () => {
    const up = await upload('?access=public');
    const url = up.body.attachment.mediaUrl as string;
    const remove = (body: unknown, on = app) => call('POST', `/v2/apps/${on.appId}/attachments/remove`, on.auth, body);

    const other = await newApp('attachment lifecycle: other');
    const foreignApp = await remove({ mediaUrl: url }, other);
    expect(foreignApp.status).toBe(400);
    expect(foreignApp.body.errors[0].title).toMatch(/^mediaUrl: not an attachment of this app/);
    expect((await remove({ mediaUrl: url.replace('http://parley.test', 'https://cdn.example.com') })).status).toBe(400);
    expect((await remove({})).body.errors[0].title).toMatch(/^mediaUrl: is required/);
    expect(await served(url)).toBe(200);

    expect((await remove({ mediaUrl: url })).status).toBe(200);
    expect(await served(url)).toBe(404);
    const again = await remove({ mediaUrl: url });
    expect(again.status).toBe(404);
    expect(again.body.errors[0].code).toBe('attachment_not_found');
  });
});
