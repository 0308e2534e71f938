/**
 * Hosted forms end to end, on Telegram and on Twilio SMS: the business posts a
 * `form` through the REST API, the channel's fake receives its text and a
 * link, the person opens the page (every field rendered, labels bound), sends
 * wrong answers (a 422 page naming each problem, nothing stored), then right
 * ones: the conversation holds the Web Messenger's formResponse (typed fields,
 * quotedMessage, textFallback, author the user, source the channel), the
 * customer webhook gets it as conversation:message, and the form is marked
 * submitted, so any further POST, a double click included, stores nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { newApp } from '../helpers';
import { eventually, messages, subscribe } from '../channels/harness';
import { CHANNELS, formOnChannel, formResponses, openPage, postPage, receiver, useFakes, type Json } from './harness';

useFakes();

describe.each(CHANNELS)('hosted form on $type', (channel) => {
  let app: Awaited<ReturnType<typeof newApp>>;
  let sent: Awaited<ReturnType<typeof formOnChannel>>;

  beforeAll(async () => {
    app = await newApp(`hosted forms ${channel.type}`);
    await subscribe(app.appId, app.auth);
    sent = await formOnChannel(channel, app);
  });

  it('GET shows every field with its label bound, placeholders and hints, as an uncached page that runs no script', async () => {
    const { res, html } = await openPage(sent.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/form-action 'self'/);
    expect(csp).not.toMatch(/script-src|unsafe-inline/);
    const nonce = /style-src 'nonce-([\w-]+)'/.exec(csp)![1];
    expect(html).toContain(`<style nonce="${nonce}">`);
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain(`Tell us about your order #`);
    expect(html).toContain('<form method="post" novalidate>');
    expect(html).toContain('<label for="field-0">Your name</label>');
    expect(html).toMatch(/<input id="field-0" name="name" type="text" value="" required maxlength="20" minlength="2" placeholder="Ann Lee" autocomplete="name" aria-describedby="field-0-error">/);
    expect(html).toContain('<label for="field-1">Email address</label>');
    expect(html).toMatch(/<input id="field-1" name="email" type="email" [^>]*autocomplete="email" aria-describedby="field-1-error">/);
    expect(html).toContain('<label for="field-2">Size</label>');
    expect(html).toContain('<select id="field-2" name="size" required aria-describedby="field-2-error"><option value="">Choose…</option><option value="s">Small</option><option value="l">Large</option></select>');
    expect(html).toMatch(/<input id="field-3" name="qty" type="text" [^>]*inputmode="numeric"/);
    for (let i = 0; i < 4; i++) expect(html).toContain(`<p class="err" id="field-${i}-error"></p>`);
  });

  it('POST with wrong answers answers 422 with each problem by its field, keeps what was typed, and stores nothing', async () => {
    const before = receiver.ofType('conversation:message').length;
    const { res, html } = await postPage(sent.url, { name: 'A', email: 'not-an-email', size: 'xl', qty: '' });
    expect(res.status).toBe(422);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(html).toContain('<title>Error: Fill in the form</title>');
    expect(html).toMatch(/<div class="summary" role="alert" [^>]*autofocus>/);
    expect(html).toContain('Please check these 4 answers');
    expect(html).toContain('<a href="#field-0">Your name: Use at least 2 characters.</a>');
    expect(html).toContain('<p class="err" id="field-0-error">Use at least 2 characters.</p>');
    expect(html).toContain('<p class="err" id="field-1-error">Enter a valid email address.</p>');
    expect(html).toContain('<p class="err" id="field-2-error">Choose one of the options.</p>');
    expect(html).toContain('<p class="err" id="field-3-error">This field is required.</p>');
    expect(html).toMatch(/<input id="field-0" name="name" type="text" value="A" [^>]*aria-describedby="field-0-error" aria-invalid="true">/);
    expect(html).toContain('value="not-an-email"');
    const tooLong = await postPage(sent.url, { name: 'x'.repeat(21), email: 'ann@example.com', size: 's', qty: '2' });
    expect(tooLong.res.status).toBe(422);
    expect(tooLong.html).toContain('Please check this answer');
    expect(tooLong.html).toContain('<p class="err" id="field-0-error">Use at most 20 characters.</p>');
    expect(tooLong.html).toContain('<option value="s" selected>Small</option>');
    expect(await formResponses(app, sent.conversationId)).toEqual([]);
    const stored = (await messages(app.appId, app.auth, sent.conversationId)).find((m) => m.id === sent.formId)!;
    expect(stored.content).not.toHaveProperty('submitted');
    expect(receiver.ofType('conversation:message').length).toBe(before);
  });

  it("POST with right answers stores the Web Messenger's formResponse, raises conversation:message, and marks the form submitted", async () => {
    const { res, html } = await postPage(sent.url, { name: '  Ann Lee ', email: 'ann@example.com', size: 'l', qty: '3' });
    expect(res.status).toBe(200);
    expect(html).toContain('<h1>Thank you</h1>');
    const [answer, ...more] = await formResponses(app, sent.conversationId);
    expect(more).toEqual([]);
    expect(answer).toMatchObject({
      author: { type: 'user', userId: sent.userId },
      source: { type: channel.type, integrationId: sent.integrationId },
      content: {
        type: 'formResponse',
        textFallback: 'Your name: Ann Lee\nEmail address: ann@example.com\nSize: Large\nHow many?: 3',
        fields: [
          { type: 'text', name: 'name', label: 'Your name', text: 'Ann Lee' },
          { type: 'email', name: 'email', label: 'Email address', email: 'ann@example.com' },
          { type: 'select', name: 'size', label: 'Size', select: [{ name: 'l', label: 'Large' }] },
          { type: 'text', name: 'qty', label: 'How many?', text: '3' },
        ],
      },
      quotedMessage: { type: 'message', message: { id: sent.formId, content: { type: 'form', submitted: true } } },
    });
    expect(answer!.content).not.toHaveProperty('quotedMessageId');
    const formNow = (await messages(app.appId, app.auth, sent.conversationId)).find((m) => m.id === sent.formId)!;
    expect(formNow.content.submitted).toBe(true);
    const event = await eventually(() => {
      const e = receiver.ofType('conversation:message').find((ev) => (ev.payload.message as Json).id === answer!.id);
      if (!e) throw new Error('no webhook yet');
      return e;
    });
    expect(event.payload).toMatchObject({
      conversation: { id: sent.conversationId },
      message: {
        author: { type: 'user', userId: sent.userId },
        content: { type: 'formResponse', textFallback: answer!.content.textFallback, fields: answer!.content.fields },
        source: { type: channel.type, integrationId: sent.integrationId },
        // Which form it answers, as the official client's MessageWebhook model carries it.
        quotedMessage: { type: 'message', message: { id: sent.formId } },
      },
    });
  });

  it('a second POST answers "already submitted" and stores nothing; so does opening the page again', async () => {
    const again = await postPage(sent.url, { name: 'Someone else', email: 'x@example.com', size: 's', qty: '1' });
    expect(again.res.status).toBe(409);
    expect(again.html).toContain('<h1>Already submitted</h1>');
    const reopened = await openPage(sent.url);
    expect(reopened.res.status).toBe(409);
    expect(reopened.html).toContain('<h1>Already submitted</h1>');
    expect(reopened.html).not.toContain('<form');
    expect(await formResponses(app, sent.conversationId)).toHaveLength(1);
  });

  it('a double click (two POSTs at once) stores one formResponse: one page thanks, the other says already submitted', async () => {
    const fresh = await formOnChannel(channel, app);
    const answers = { name: 'Bo', email: 'bo@example.com', size: 's', qty: '1' };
    const results = await Promise.all([postPage(fresh.url, answers), postPage(fresh.url, answers)]);
    expect(results.map((r) => r.res.status).sort()).toEqual([200, 409]);
    expect(await formResponses(app, fresh.conversationId)).toHaveLength(1);
  });
});
