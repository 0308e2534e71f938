/**
 * What the hosted form page refuses, each with a 4xx page a person can read
 * and nothing stored: altered and forged links, a link of another kind, a
 * link signed for another app's conversation, a link to a message that is no
 * form, a deleted form, a deleted user, a user who left the conversation, a
 * user with no channel in it, and a body that is no form post.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { env, SELF } from 'cloudflare:test';
import { call, newApp } from '../helpers';
import { eventually, messages, subscribe } from '../channels/harness';
import { pageUrl } from '../../../src/content/page-links';
import { toBase64Url } from '../../../src/channels/signing';
import { CHANNELS, formOnChannel, formResponses, openPage, postPage, useFakes } from './harness';

useFakes();

const telegram = CHANNELS.find((c) => c.type === 'telegram')!;
const ANSWERS = { name: 'Ann', email: 'ann@example.com', size: 's', qty: '1' };

let app: Awaited<ReturnType<typeof newApp>>;
let sent: Awaited<ReturnType<typeof formOnChannel>>;

beforeAll(async () => {
  app = await newApp('hosted form refusals');
  await subscribe(app.appId, app.auth);
  sent = await formOnChannel(telegram, app);
});

/** GET and POST both answer `status` with a page carrying `heading`, and the conversation gets no answer. */
async function refused(url: string, status: number, heading: string, conversationId = sent.conversationId) {
  const shown = await openPage(url);
  expect(shown.res.status).toBe(status);
  expect(shown.res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(shown.res.headers.get('cache-control')).toBe('no-store');
  expect(shown.html).toContain(`<h1>${heading}</h1>`);
  expect(shown.html).not.toContain('<form');
  const posted = await postPage(url, ANSWERS);
  expect(posted.res.status).toBe(status);
  expect(posted.html).toContain(`<h1>${heading}</h1>`);
  expect(await formResponses(app, conversationId)).toEqual([]);
}

describe('links that were not made by Parley for this form', () => {
  it('an altered token (one character of its body changed) is refused', async () => {
    const [base, token] = [sent.url.slice(0, sent.url.lastIndexOf('/') + 1), sent.url.slice(sent.url.lastIndexOf('/') + 1)];
    const flipped = token[5] === 'A' ? 'B' : 'A';
    await refused(`${base}${token.slice(0, 5)}${flipped}${token.slice(6)}`, 404, 'This link does not work');
  });

  it('a forged token (a body naming the form, with a made-up signature) is refused, as are tokens without or with extra parts', async () => {
    const body = toBase64Url(new TextEncoder().encode(JSON.stringify({ k: 'form', a: app.appId, c: sent.conversationId, m: sent.formId, u: sent.userId })));
    const base = 'http://parley.test/pages/form/';
    await refused(`${base}${body}.${'A'.repeat(32)}`, 404, 'This link does not work');
    await refused(`${base}${body}`, 404, 'This link does not work');
    await refused(`${sent.url}.extra`, 404, 'This link does not work');
  });

  it("a pay page link for the same message does not open the form page", async () => {
    const pay = await pageUrl(env, 'http://parley.test', { kind: 'pay', appId: app.appId, conversationId: sent.conversationId, messageId: sent.formId, userId: sent.userId });
    await refused(pay.replace('/pages/pay/', '/pages/form/'), 404, 'This link does not work');
  });

  it("a link signed for app B naming app A's conversation reaches nothing in either app", async () => {
    const other = await newApp('hosted form other app');
    const url = await pageUrl(env, 'http://parley.test', { kind: 'form', appId: other.appId, conversationId: sent.conversationId, messageId: sent.formId, userId: sent.userId });
    await refused(url, 404, 'This form is no longer available');
    const form = (await messages(app.appId, app.auth, sent.conversationId)).find((m) => m.id === sent.formId)!;
    expect(form.content).not.toHaveProperty('submitted');
  });

  it('a link to a message that is no form says there is no form here', async () => {
    const text = await call('POST', `/v2/apps/${app.appId}/conversations/${sent.conversationId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'text', text: 'just text' } });
    expect(text.status).toBe(201);
    const url = await pageUrl(env, 'http://parley.test', { kind: 'form', appId: app.appId, conversationId: sent.conversationId, messageId: text.body.messages[0].id, userId: sent.userId });
    await refused(url, 404, 'There is no form here');
  });
});

describe('forms that can no longer be answered', () => {
  it('a deleted form: its link answers 404 and nothing is stored', async () => {
    const fresh = await formOnChannel(telegram, app);
    expect((await openPage(fresh.url)).res.status).toBe(200);
    const removed = await call('DELETE', `/v2/apps/${app.appId}/conversations/${fresh.conversationId}/messages/${fresh.formId}`, app.auth);
    expect(removed.status).toBe(200);
    await refused(fresh.url, 404, 'This form is no longer available', fresh.conversationId);
  });

  it('a deleted user: the conversation no longer holds them, so their link is refused', async () => {
    const fresh = await formOnChannel(telegram, app);
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${fresh.userId}`, app.auth)).status).toBe(200);
    // Deleting a user takes their personal conversation (and so the form) with them.
    await eventually(async () => expect((await openPage(fresh.url)).res.status).toBe(404));
    const shown = await openPage(fresh.url);
    expect(shown.html).toContain('<h1>This form is no longer available</h1>');
    const posted = await postPage(fresh.url, ANSWERS);
    expect(posted.res.status).toBe(404);
    expect(posted.html).toContain('<h1>This form is no longer available</h1>');
  });

  it('a user who left a group conversation: shown the form while a participant, refused once they left', async () => {
    const group = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'sdkGroup', participants: [{ userId: sent.userId }] });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    const groupId = group.body.conversation.id;
    const posted = await call('POST', `/v2/apps/${app.appId}/conversations/${groupId}/messages`, app.auth, { author: { type: 'business' }, content: { type: 'form', fields: [{ type: 'text', name: 'name', label: 'Name' }] } });
    expect(posted.status).toBe(201);
    const url = await pageUrl(env, 'http://parley.test', { kind: 'form', appId: app.appId, conversationId: groupId, messageId: posted.body.messages[0].id, userId: sent.userId });
    expect((await openPage(url)).res.status).toBe(200);
    // The user never wrote in this conversation on a channel: there is no channel to answer as.
    const nowhere = await postPage(url, { name: 'Ann' });
    expect(nowhere.res.status).toBe(409);
    expect(nowhere.html).toContain('<h1>This form cannot be answered here</h1>');
    expect((await call('POST', `/v2/apps/${app.appId}/conversations/${groupId}/leave`, app.auth, { userId: sent.userId })).status).toBe(200);
    await refused(url, 403, 'This form is no longer available to you', groupId);
  });

  it('a POST that is no form post (JSON) answers 415 and stores nothing', async () => {
    const res = await SELF.fetch(sent.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ANSWERS) });
    expect(res.status).toBe(415);
    expect(await res.text()).toContain('<h1>The form could not be read</h1>');
    expect(await formResponses(app, sent.conversationId)).toEqual([]);
  });
});
