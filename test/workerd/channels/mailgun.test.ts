/**
 * The Mailgun adapter against the Mailgun fake: the signature vector,
 * stale and replayed signatures, parsing of forwarded mail (quotes
 * stripped, attachments held for the media copy, "#N" answers), sends as
 * HTML with a text twin and threading headers, failure classification,
 * route setup and teardown, settings and notification addresses.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part, Recipient } from '../../../src/channels/adapter';
import { stripQuoted } from '../../../src/channels/email-render';
import { mailgun, type MailgunConfig } from '../../../src/channels/mailgun';
import { describeIssue } from '../../../src/schema/common';
import { MailgunFake, mailgunSignature } from '../../fakes/mailgun';

const API = 'https://mailgun.fake';
const WEBHOOK = 'https://parley.test/hooks/65f000000000000000000002';
const INCOMING = 'support@mg.example.com';
const NOW = 1_770_000_000_000;

function setupFake() {
  const fake = new MailgunFake({ origin: API, now: () => NOW });
  const config: MailgunConfig = { apiKey: fake.apiKey, signingKey: fake.signingKey, domain: 'mg.example.com', incomingAddress: INCOMING, apiBaseUrl: API };
  const fetcher = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;
  const ctx = (over: Partial<MailgunConfig> = {}): ChannelContext<MailgunConfig> => ({ config: { ...config, ...over }, fetch: fetcher, webhookUrl: WEBHOOK });
  return { fake, config, ctx };
}

async function inbound(request: Request, now = NOW): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

const text = (t: string): Part => ({ kind: 'text', text: t, buttons: [], replies: [] });
const userRaw = { from: 'Jane <jane@example.net>', subject: 'Order #12', messageId: '<CAJane1@mail.example.net>' };
const jane: Recipient = { externalId: 'jane@example.net', raw: userRaw };

describe('Mailgun signature (timestamp + token)', () => {
  const vector = { timestamp: '1529006854', token: 'a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0', signature: '3be42b8a8adc5dd5368be706b1b2e16deb1dfd46b30631d1b3f041729f03576e' };
  const vectorConfig = { apiKey: 'key', signingKey: 'mailgun_signing_key', domain: 'mg.example.com', incomingAddress: INCOMING } as MailgunConfig;
  const form = (fields: Record<string, string>, now: number): InboundRequest => ({
    method: 'POST',
    url: WEBHOOK,
    headers: new Headers({ 'content-type': 'application/x-www-form-urlencoded' }),
    raw: new TextEncoder().encode(new URLSearchParams(fields).toString()),
    now,
  });

  it("accepts the reference vector within five minutes of its timestamp, and the fake signs it identically", async () => {
    expect(await mailgunSignature('mailgun_signing_key', vector.timestamp, vector.token)).toBe(vector.signature);
    expect(await mailgun.verify(form({ ...vector, recipient: INCOMING }, 1529006854_000 + 60_000), vectorConfig)).toEqual({ ok: true });
  });

  it('refuses the same signature once it is more than five minutes old', async () => {
    expect(await mailgun.verify(form({ ...vector, recipient: 'x' }, 1529006854_000 + 5 * 60_000 + 1_000), vectorConfig)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/stale/) });
  });

  it('refuses a missing or wrong signature, and falls back to the API key when no signing key is set', async () => {
    expect(await mailgun.verify(form({ timestamp: vector.timestamp, token: vector.token, recipient: 'y' }, 1529006854_000), vectorConfig)).toMatchObject({ ok: false, status: 403 });
    expect(await mailgun.verify(form({ ...vector, signature: vector.signature.replace(/^3/, '4'), recipient: 'y' }, 1529006854_000), vectorConfig)).toMatchObject({ ok: false, status: 403 });
    const { signingKey: _none, ...noSigningKey } = vectorConfig;
    // The very body accepted above: a redelivery of a remembered token.
    expect(await mailgun.verify(form({ ...vector, recipient: INCOMING }, 1529006854_000), { ...noSigningKey, apiKey: 'mailgun_signing_key' })).toEqual({ ok: true });
  });

  it('names each token with what identifies its mail (Message-Id and recipient), so a redelivery matches and another mail does not', async () => {
    const { fake } = setupFake();
    const signed = await fake.sign();
    const first = await fake.inbound(WEBHOOK, { from: 'jane@example.net', text: 'Hello', messageId: '<same@x.net>' }, signed);
    // Mailgun may frame a redelivery afresh (another multipart boundary): the guard must not depend on the bytes.
    const reframed = await fake.inbound(WEBHOOK, { from: 'jane@example.net', text: 'Hello', messageId: '<same@x.net>' }, signed);
    const forged = await fake.inbound(WEBHOOK, { from: 'mallory@example.net', text: 'Wire the money', messageId: '<other@x.net>' }, signed);
    const a = await mailgun.replayGuard!(await inbound(first));
    const b = await mailgun.replayGuard!(await inbound(reframed));
    const c = await mailgun.replayGuard!(await inbound(forged));
    expect(a).toEqual({ nonce: signed.token, digest: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(b).toEqual(a);
    expect(c!.nonce).toBe(signed.token);
    expect(c!.digest).not.toBe(a!.digest);
  });
});

describe('Mailgun inbound parsing', () => {
  it('makes the lowercased From address the user, keeps subject and Message-Id, and strips quoted history itself without stripped-text', async () => {
    const { fake, config } = setupFake();
    const body = 'Yes, Tuesday works.\n\nOn Mon, Dec 1, 2026 at 9:00 AM Acme Support <\nsupport@mg.example.com> wrote:\n> When can we call?\n> Thanks';
    const req = await fake.inbound(WEBHOOK, { from: 'Jane.Doe@Example.NET', fromName: 'Jane Doe', subject: 'Re: Call', text: body, messageId: '<CAJ1@mail.example.net>', inReplyTo: '<20261201.1.AB@mg.example.com>' });
    const events = mailgun.parse(await inbound(req), config);
    expect(events).toEqual([
      {
        kind: 'message',
        channelMessageId: '<CAJ1@mail.example.net>',
        content: { type: 'text', text: 'Yes, Tuesday works.' },
        quotedChannelMessageId: '<20261201.1.AB@mg.example.com>',
        timestamp: Math.floor(NOW / 1000) * 1000,
        user: { externalId: 'jane.doe@example.net', displayName: 'Jane Doe', info: { email: 'jane.doe@example.net' }, raw: { from: 'Jane Doe <Jane.Doe@Example.NET>', subject: 'Re: Call', messageId: '<CAJ1@mail.example.net>' } },
      },
    ]);
  });

  it('prefers Mailgun\'s stripped-text when present', async () => {
    const { fake, config } = setupFake();
    const req = await fake.inbound(WEBHOOK, { from: 'jane@example.net', text: 'Mine\n> theirs', strippedText: 'Mine only' });
    expect(mailgun.parse(await inbound(req), config)).toMatchObject([{ content: { type: 'text', text: 'Mine only' } }]);
  });

  it('strips Outlook header blocks and stray quote lines', () => {
    expect(stripQuoted('Thanks!\r\n\r\nFrom: Acme <support@mg.example.com>\r\nSent: Monday\r\nSubject: hi\r\n\r\nold text')).toBe('Thanks!');
    expect(stripQuoted('Sure\n-----Original Message-----\nold')).toBe('Sure');
    expect(stripQuoted('> quoted\nnew line')).toBe('new line');
  });

  it('turns each attachment of a multipart form into a media message whose bytes fetchMedia hands over', async () => {
    const { fake, config, ctx } = setupFake();
    const png = new Uint8Array([137, 80, 78, 71, 1, 2, 3]);
    const req = await fake.inbound(WEBHOOK, { from: 'jane@example.net', text: 'See attached', strippedText: 'See attached', messageId: '<A1@x.net>', attachments: [{ filename: 'receipt.png', contentType: 'image/png', body: png }] });
    expect(req.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
    expect(await mailgun.verify(await inbound(req.clone()), config)).toEqual({ ok: true });
    const events = mailgun.parse(await inbound(req), config);
    expect(events).toMatchObject([
      { kind: 'message', channelMessageId: '<A1@x.net>', content: { type: 'text', text: 'See attached' } },
      { kind: 'message', channelMessageId: '<A1@x.net>#1', content: { type: 'media', media: { kind: 'image', mimeType: 'image/png', fileName: 'receipt.png', size: 7 } } },
    ]);
    const ref = (events[1] as { content: { media: { ref: string } } }).content.media.ref;
    const res = await mailgun.fetchMedia!(ctx(), ref);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(png);
    await expect(mailgun.fetchMedia!(ctx(), 'mailgun:unknown:1')).rejects.toThrow(/no longer held/);
  });

  it('reads a reply that is only "#N" as the choice of that option', async () => {
    const { fake, config } = setupFake();
    const req = await fake.inbound(WEBHOOK, { from: 'jane@example.net', text: '#2\n\nOn Mon, Jane wrote:\n> 1. Tacos', messageId: '<C2@x.net>' });
    expect(mailgun.parse(await inbound(req), config)).toMatchObject([{ kind: 'postback', channelMessageId: '<C2@x.net>', choice: 2 }]);
  });

  it('ignores mail for other addresses, our own mail looping back and auto-replies', async () => {
    const { fake, config } = setupFake();
    const parse = async (mail: Parameters<MailgunFake['inbound']>[1]) => mailgun.parse(await inbound(await fake.inbound(WEBHOOK, mail)), config);
    expect(await parse({ from: 'jane@example.net', recipient: 'sales@mg.example.com', text: 'hi' })).toEqual([]);
    expect(await parse({ from: 'noreply@mg.example.com', recipient: INCOMING, text: 'loop' })).toEqual([]);
    expect(await parse({ from: 'jane@example.net', recipient: INCOMING, text: 'I am away', headers: { 'Auto-Submitted': 'auto-replied' } })).toEqual([]);
  });

  it('turns delivered and permanently failed events into receipts for the Message-Id, and skips temporary failures', async () => {
    const { fake, config } = setupFake();
    const parse = async (r: Request) => {
      const req = await inbound(r);
      expect(await mailgun.verify(req, config)).toEqual({ ok: true });
      return mailgun.parse(req, config);
    };
    expect(await parse(await fake.event(WEBHOOK, { event: 'delivered', recipient: 'Jane@example.net', messageId: '<1.A@mg.example.com>' }))).toMatchObject([
      { kind: 'delivery', status: 'delivered', channelMessageId: '<1.A@mg.example.com>', user: { externalId: 'jane@example.net' } },
    ]);
    expect(await parse(await fake.event(WEBHOOK, { event: 'failed', recipient: 'jane@example.net', messageId: '1.B@mg.example.com', code: 550, description: 'No such user' }))).toMatchObject([
      { kind: 'delivery', status: 'failed', channelMessageId: '<1.B@mg.example.com>', error: { code: '550', message: 'No such user' } },
    ]);
    expect(await parse(await fake.event(WEBHOOK, { event: 'failed', severity: 'temporary', recipient: 'jane@example.net', messageId: '1.C@mg.example.com' }))).toEqual([]);
  });
});

describe('Mailgun sends', () => {
  it('sends HTML and text from noreply@domain with Reply-To and the threading headers of the user\'s mail', async () => {
    const { fake, ctx } = setupFake();
    const outcome = await mailgun.send(ctx(), jane, text('Your order <b> shipped: https://track.example/1.'));
    expect(outcome).toEqual({ ok: true, channelMessageId: fake.sent[0]!.id });
    expect(fake.sent[0]!.id).toMatch(/^<\d{14}\.1\.[0-9A-F]{16}@mg\.example\.com>$/);
    expect(fake.sent[0]).toMatchObject({
      from: 'noreply@mg.example.com',
      to: ['jane@example.net'],
      subject: 'Re: Order #12',
      headers: { 'Reply-To': INCOMING, 'In-Reply-To': '<CAJane1@mail.example.net>', References: '<CAJane1@mail.example.net>' },
    });
    expect(fake.sent[0]!.text).toBe('Your order <b> shipped: https://track.example/1.\n\n--\nUnsubscribe: %unsubscribe_url%');
    expect(fake.sent[0]!.html).toContain('Your order &lt;b&gt; shipped: <a href="https://track.example/1">https://track.example/1</a>.');
    expect(fake.calls[0]!.path).toBe('/v3/mg.example.com/messages');
  });

  it('uses fromAddress, keeps an existing "Re:", and hides the unsubscribe link when asked', async () => {
    const { fake, ctx } = setupFake();
    await mailgun.send(ctx({ fromAddress: 'Acme <help@acme.example>', hideUnsubscribeLink: true }), { externalId: 'x@y.org', raw: { subject: 'RE: hi', messageId: '<m@y.org>' } }, text('ok'));
    expect(fake.sent[0]).toMatchObject({ from: 'Acme <help@acme.example>', subject: 'RE: hi', text: 'ok' });
    expect(fake.sent[0]!.html).not.toContain('unsubscribe');
  });

  it('renders buttons as links and "reply with #N" mailto suggestions, with a text fallback', async () => {
    const { fake, ctx } = setupFake();
    const part: Part = {
      kind: 'text',
      text: 'Pick one',
      buttons: [
        { kind: 'postback', text: 'Yes', payload: 'YES', choice: 1 },
        { kind: 'link', text: 'Docs', uri: 'https://docs.example/a?b=1&c=2' },
      ],
      replies: [{ text: 'Later', payload: 'LATER', choice: 2 }],
    };
    await mailgun.send(ctx({ hideUnsubscribeLink: true }), jane, part);
    const mail = fake.sent[0]!;
    expect(mail.text).toBe('Pick one\n\nReply with #1 for "Yes"\nDocs: https://docs.example/a?b=1&c=2\nReply with #2 for "Later"');
    expect(mail.html).toContain(`href="mailto:${INCOMING}?subject=Re%3A%20Order%20%2312&amp;body=%231"`);
    expect(mail.html).toContain('href="https://docs.example/a?b=1&amp;c=2"');
    expect(mail.html).toContain('>Later</a>');
  });

  it('never puts a javascript: or data: URL in an href or src, and never a line break in a threading header', async () => {
    const { fake, ctx } = setupFake();
    const part: Part = { kind: 'text', text: 'Open', buttons: [{ kind: 'link', text: 'Click', uri: 'javascript:alert(1)' }], replies: [] };
    await mailgun.send(ctx(), jane, part);
    expect(fake.sent[0]!.html).not.toContain('javascript:');
    expect(fake.sent[0]!.html).toContain('href="#"');
    const forged: Recipient = { externalId: 'jane@example.net', raw: { ...userRaw, messageId: '<ok@x>\r\nBcc: victim@example.com' } };
    await mailgun.send(ctx(), forged, text('hello'));
    expect(JSON.stringify(fake.sent[1])).not.toContain('victim@example.com');
  });

  it('refuses a multipart body whose boundary is longer than RFC 2046 allows, before any search', async () => {
    const { config } = setupFake();
    const boundary = '-'.repeat(400);
    const req = new Request(WEBHOOK, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: `--${boundary}\r\n` });
    await expect(Promise.resolve().then(async () => mailgun.verify(await inbound(req), config))).rejects.toThrow(/boundary is longer than 70/);
  });

  it('renders a carousel as stacked cards with images, and an image part inline', async () => {
    const { fake, ctx } = setupFake();
    const carousel: Part = {
      kind: 'carousel',
      cards: [
        { title: 'Tacos', description: 'Crunchy', mediaUrl: 'https://img.example/t.jpg', buttons: [{ kind: 'postback', text: 'Order', payload: 'T', choice: 1 }] },
        { title: 'Ramen', buttons: [{ kind: 'link', text: 'Menu', uri: 'https://food.example/ramen' }] },
      ],
    };
    await mailgun.send(ctx({ hideUnsubscribeLink: true }), jane, carousel);
    expect(fake.sent[0]!.text).toBe('Tacos\nCrunchy\nhttps://img.example/t.jpg\nReply with #1 for "Order"\n\nRamen\nMenu: https://food.example/ramen');
    expect(fake.sent[0]!.html!.match(/<table/g)).toHaveLength(2);
    expect(fake.sent[0]!.html).toContain('<img src="https://img.example/t.jpg"');
    await mailgun.send(ctx({ hideUnsubscribeLink: true }), jane, { kind: 'media', media: 'image', url: 'https://img.example/p.png', caption: 'Our store', buttons: [], replies: [] });
    expect(fake.sent[1]!.html).toContain('<img src="https://img.example/p.png" alt="Our store"');
    expect(fake.sent[1]!.text).toBe('Our store\nhttps://img.example/p.png');
  });

  it('classifies 429 (with Retry-After) and 5xx as retryable, 4xx as permanent with Mailgun\'s message, and a bad key by its plain 401', async () => {
    const { fake, ctx } = setupFake();
    fake.rateLimitNext(3);
    expect(await mailgun.send(ctx(), jane, text('x'))).toEqual({ ok: false, retryable: true, code: 'http_429', message: 'Too many requests', retryAfterMs: 3000 });
    fake.failNext(1, { status: 502, body: 'Bad Gateway' });
    expect(await mailgun.send(ctx(), jane, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_502' });
    expect(await mailgun.send(ctx(), { externalId: 'not-an-address' }, text('x'))).toEqual({ ok: false, retryable: false, code: 'http_400', message: 'to parameter is not a valid address. please check documentation' });
    expect(await mailgun.send(ctx({ apiKey: 'wrong' }), jane, text('x'))).toEqual({ ok: false, retryable: false, code: 'http_401', message: 'Forbidden' });
    expect(await mailgun.send(ctx({ domain: 'other.example.com' }), jane, text('x'))).toMatchObject({ ok: false, retryable: false, code: 'http_404', message: 'Domain not found: other.example.com' });
  });

  it('sends a native payload\'s allowed fields but keeps the recipient and sender', async () => {
    const { fake, ctx } = setupFake();
    expect(mailgun.checkNative({ to: 'evil@x.org' })).toMatch(/override\.mailgun\.payload\.to is not allowed/);
    await mailgun.send(ctx(), jane, { kind: 'native', payload: { subject: 'Invoice', html: '<p>Due</p>', 'o:tag': 'billing' } });
    expect(fake.sent[0]).toMatchObject({ to: ['jane@example.net'], subject: 'Invoice', html: '<p>Due</p>' });
    expect(fake.calls[0]!.fields['o:tag']).toEqual(['billing']);
  });
});

describe('Mailgun setup, settings, notifications', () => {
  it('creates a route forwarding the incoming address to the webhook, keeps it on a second setup, and deletes it on teardown', async () => {
    const { fake, ctx } = setupFake();
    const outcome = await mailgun.setup!(ctx());
    expect(outcome.status).toBe('active');
    const routeId = outcome.config!.routeId!;
    expect(fake.routes.get(routeId)).toMatchObject({ expression: 'match_recipient("^support@mg\\.example\\.com$")', actions: [`forward("${WEBHOOK}")`, 'stop()'] });
    expect(await mailgun.setup!(ctx({ routeId }))).toEqual({ status: 'active' });
    expect(fake.routes.size).toBe(1);
    await mailgun.teardown!(ctx({ routeId }));
    expect(fake.routes.size).toBe(0);
    // A route deleted by hand is made again.
    expect((await mailgun.setup!(ctx({ routeId }))).config!.routeId).not.toBe(routeId);
  });

  it('reports a bad API key at setup in words the customer can act on', async () => {
    const { ctx } = setupFake();
    const outcome = await mailgun.setup!(ctx({ apiKey: 'nope' }));
    expect(outcome).toMatchObject({ status: 'error', error: expect.stringMatching(/rejected the API key \(Forbidden\).*api\.eu\.mailgun\.net/) });
  });

  it('validates the official fields, lowercases addresses, and seals both keys', () => {
    const ok = v.parse(mailgun.createSchema, { apiKey: 'k', domain: 'MG.Example.com', incomingAddress: 'Support@MG.example.com', signingKey: 's', fromAddress: 'Acme <a@b.co>' });
    expect(ok).toMatchObject({ domain: 'mg.example.com', incomingAddress: 'support@mg.example.com' });
    const bad = v.safeParse(mailgun.createSchema, { apiKey: 'k', domain: 'mg.example.com', incomingAddress: 'not an address' });
    expect(bad.success ? '' : describeIssue(bad.issues[0])).toMatch(/incomingAddress.*email address/);
    expect(v.safeParse(mailgun.createSchema, { domain: 'mg.example.com', incomingAddress: 'a@b.co' }).success).toBe(false);
    expect(mailgun.secretFields).toEqual(['apiKey', 'signingKey']);
    expect(v.parse(mailgun.updateSchema, { fromAddress: null, hideUnsubscribeLink: true })).toEqual({ fromAddress: null, hideUnsubscribeLink: true });
    expect(mailgun.view({ ...ok, routeId: 'r' })).toEqual({ domain: 'mg.example.com', incomingAddress: 'support@mg.example.com', fromAddress: 'Acme <a@b.co>' });
  });

  it('takes an email address as a notification destination, lowercased', () => {
    expect(mailgun.notificationRecipient!(' Jane@Example.NET ')).toEqual({ externalId: 'jane@example.net', displayName: 'jane@example.net', info: { email: 'jane@example.net' } });
    expect(mailgun.notificationRecipient!('+15005550006')).toMatch(/email address/);
  });
});
