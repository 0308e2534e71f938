/**
 * The channel simulator against the suite's Parley, driven through the
 * simulator's own HTTP API as its page drives it: a Telegram user and an SMS
 * user write, the simulator's webhook receiver logs conversation:message for
 * each, and a business answer posted through the REST API appears in each
 * user's chat; a Telegram user taps a button the business sent and an SMS
 * user answers a numbered list, and both come back as postbacks; WhatsApp
 * and Messenger users get the same round trip; a LINE and a Viber user write,
 * get the answer, and tap the buttons the business sent (a LINE template's
 * postback action, a Viber keyboard button) as postbacks; a MessageBird SMS
 * user writes, gets the answer with its status reports, and answers a
 * numbered list; an email user writes a mail, finds the threaded answer in
 * their inbox, replies in the thread and answers the business's options by
 * mail; a WeChat user (after the simulator passed WeChat's echostr check)
 * taps a msgmenu option, an X user (whose webhook X's fake registered after a
 * CRC) taps a quick reply and answers a numbered list, an Apple customer picks
 * from a list picker and a quick reply, and one on a device without them gets
 * the options as text; and after a restart every channel is re-armed against
 * fresh fakes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type Simulator } from '../../scripts/simulator/index';

const parleyUrl = inject('parleyUrl');
const account = `Basic ${Buffer.from(`${inject('accountKeyId')}:${inject('accountKeySecret')}`).toString('base64')}`;
let appId = '';
let appKey = '';
let sim: Simulator;
let stateDir = '';
let options: Parameters<typeof startSimulator>[0];
const lines: string[] = [];
/** Fixed ports (as `npm start` uses) so a restart finds its fakes where the integrations point; chosen in beforeAll. */
let port = 0;

/** Whether nothing listens on 127.0.0.1:p right now. */
const free = (p: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(p, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * Five free ports in a row, below Linux's ephemeral range (32768 up), where an
 * outgoing connection of another suite could hold one of them at any moment.
 */
async function freePorts(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + 5 * Math.floor(Math.random() * 2_400);
    if ((await Promise.all([0, 1, 2, 3, 4].map((i) => free(base + i)))).every(Boolean)) return base;
  }
  throw new Error('no five free ports in a row between 20000 and 32000');
}

async function parley(method: string, p: string, auth: string, body?: unknown) {
  const res = await fetch(`${parleyUrl}${p}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function simulator(method: 'GET' | 'POST', p: string, body?: unknown) {
  const res = await fetch(`${sim.url}${p}`, { method, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (await res.json()) as any };
}

const chat = async (channel: string, user: string) => (await simulator('GET', `/api/chat?channel=${channel}&user=${encodeURIComponent(user)}`)).body;

async function eventually<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; webhook lines: ${JSON.stringify(lines)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The id of the message a `POST .../messages` created. */
const sentId = (body: any): string => body.messages?.[0]?.id ?? body.message?.id;

const logged = (line: string) => eventually(`the line ${line}`, async () => lines.includes(line));

beforeAll(async () => {
  const app = await parley('POST', '/v2/apps', account, { displayName: 'Simulator suite' });
  appId = app.body.app.id;
  const key = await parley('POST', `/v2/apps/${appId}/keys`, account, { displayName: 'suite' });
  appKey = `Basic ${Buffer.from(`${key.body.key.id}:${key.body.key.secret}`).toString('base64')}`;
  stateDir = mkdtempSync(path.join(tmpdir(), 'parley-simulator-'));
  port = await freePorts();
  options = {
    parleyUrl,
    appId,
    keyId: key.body.key.id,
    keySecret: key.body.key.secret,
    port,
    stateFile: path.join(stateDir, 'simulator.json'),
    log: (line) => lines.push(line),
  };
  sim = await startSimulator(options);
});

afterAll(async () => {
  await sim?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('the channel simulator', () => {
  it('sets up one integration per channel against its fake and a webhook to its receiver, and keeps their ids', async () => {
    expect(sim.channels.map((c) => [c.id, c.ready, c.error])).toEqual([
      ['telegram', true, undefined],
      ['sms', true, undefined],
      ['whatsapp', true, undefined],
      ['messenger', true, undefined],
      ['line', true, undefined],
      ['viber', true, undefined],
      ['messagebird', true, undefined],
      ['email', true, undefined],
      ['wechat', true, undefined],
      ['x', true, undefined],
      ['apple', true, undefined],
    ]);
    const state = JSON.parse(readFileSync(path.join(stateDir, 'simulator.json'), 'utf8'));
    const integrations = (await parley('GET', `/v2/apps/${appId}/integrations`, appKey)).body.integrations as any[];
    const byId = new Map(integrations.map((i) => [i.id, i]));
    expect(byId.get(state.integrations.telegram)).toMatchObject({ type: 'telegram', status: 'active', apiBaseUrl: sim.fakeUrls.telegram });
    expect(byId.get(state.integrations.sms)).toMatchObject({ type: 'twilio', status: 'active', apiBaseUrl: sim.fakeUrls.twilio });
    expect(byId.get(state.integrations.line)).toMatchObject({ type: 'line', status: 'active', apiBaseUrl: sim.fakeUrls.line });
    expect(byId.get(state.integrations.viber)).toMatchObject({ type: 'viber', status: 'active', apiBaseUrl: sim.fakeUrls.viber });
    expect(byId.get(state.integrations.messagebird)).toMatchObject({ type: 'messagebird', status: 'active', apiBaseUrl: sim.fakeUrls.messagebird });
    expect(byId.get(state.integrations.email)).toMatchObject({ type: 'mailgun', status: 'active', apiBaseUrl: sim.fakeUrls.mailgun, incomingAddress: 'support@mg.example.com' });
    // WeChat's token is Parley's own, given to the fake as a customer pastes it into the console.
    expect(byId.get(state.integrations.wechat)).toMatchObject({ type: 'wechat', status: 'active', apiBaseUrl: sim.fakeUrls.wechat, token: expect.stringMatching(/^[A-Za-z0-9]{3,32}$/) });
    // Active only once X's fake ran its CRC against Parley's /hooks and registered the webhook.
    expect(byId.get(state.integrations.x)).toMatchObject({ type: 'twitter', status: 'active', apiBaseUrl: sim.fakeUrls.twitter, screenName: 'TacoSupport' });
    expect(byId.get(state.integrations.apple)).toMatchObject({ type: 'apple', status: 'active', apiBaseUrl: sim.fakeUrls.apple });
    // All but Twilio and Meta share the Telegram fake's port, routed by path.
    const shared = ['telegram', 'line', 'viber', 'messagebird', 'mailgun', 'wechat', 'twitter', 'apple'] as const;
    expect(new Set(shared.map((f) => sim.fakeUrls[f])).size).toBe(1);
    expect(byId.get(state.webhook.integrationId)).toMatchObject({ type: 'custom', webhooks: [{ target: sim.receiverUrl, triggers: ['*'] }] });
  });

  it('carries a Telegram and an SMS user to the customer webhook, and the business answer back to each', async () => {
    const sent = await Promise.all([
      simulator('POST', '/api/send', { channel: 'telegram', user: 'Ann', text: 'hi from telegram' }),
      simulator('POST', '/api/send', { channel: 'sms', user: '+15551230001', text: 'hi by sms' }),
    ]);
    for (const s of sent) expect(s.status, JSON.stringify(s.body)).toBe(200);
    for (const s of sent) expect(s.body.bubble.error).toBeUndefined();

    await logged('webhook conversation:message from telegram user Ann: "hi from telegram"');
    await logged('webhook conversation:message from twilio user +15551230001: "hi by sms"');

    for (const [channel, user] of [
      ['telegram', 'Ann'],
      ['sms', '+15551230001'],
    ] as const) {
      const view = await eventually(`the ${channel} conversation id`, async () => {
        const v = await chat(channel, user);
        return v.conversationId ? v : undefined;
      });
      expect(view.curl).toContain(`/v2/apps/${appId}/conversations/${view.conversationId}/messages`);
      const answer = await parley('POST', `/v2/apps/${appId}/conversations/${view.conversationId}/messages`, appKey, {
        author: { type: 'business' },
        content: { type: 'text', text: `Hello ${channel} user` },
      });
      expect(answer.status).toBe(201);
      await eventually(`the answer in the ${channel} chat`, async () => (await chat(channel, user)).bubbles.some((b: any) => b.from === 'business' && b.text === `Hello ${channel} user`));
    }
    await logged('webhook conversation:message from business: "Hello telegram user"');
  });

  it('lets a Telegram user tap a button and an SMS user answer a numbered list, both arriving as postbacks', async () => {
    const options = {
      author: { type: 'business' },
      content: { type: 'text', text: 'Pick a size', actions: [{ type: 'postback', text: 'Large', payload: 'SIZE_L' }, { type: 'postback', text: 'Small', payload: 'SIZE_S' }] },
    };
    for (const channel of ['telegram', 'sms'] as const) {
      const user = channel === 'telegram' ? 'Ann' : '+15551230001';
      const { conversationId } = await chat(channel, user);
      expect(conversationId, 'the previous test opened the conversation').toBeTruthy();
      const posted = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, appKey, options);
      expect(posted.status).toBe(201);
      // Parley records the offered choices once the channel took the send; an answer before that would name none.
      await logged(`webhook conversation:message:delivery:channel to ${channel === 'telegram' ? 'telegram user Ann' : 'twilio user +15551230001'}, message ${sentId(posted.body)}`);
    }

    const offer = await eventually('the Telegram buttons', async () => (await chat('telegram', 'Ann')).bubbles.find((b: any) => b.buttons?.some((x: any) => x.label === 'Large')));
    const tapped = await simulator('POST', '/api/tap', { channel: 'telegram', user: 'Ann', bubble: offer.id, button: offer.buttons.findIndex((x: any) => x.label === 'Large') });
    expect(tapped.status, JSON.stringify(tapped.body)).toBe(200);
    await logged('webhook conversation:postback from telegram user Ann: payload "SIZE_L"');

    const numbered = await eventually('the numbered SMS list', async () => (await chat('sms', '+15551230001')).bubbles.find((b: any) => b.from === 'business' && /Pick a size/.test(b.text ?? '')));
    expect(numbered.text).toMatch(/1\W+Large/);
    await simulator('POST', '/api/send', { channel: 'sms', user: '+15551230001', text: '2' });
    await logged('webhook conversation:postback from twilio user +15551230001: payload "SIZE_S"');
  });

  it('lets a Telegram user pay for a buy button at the Stripe fake\'s checkout, raising conversation:payment once', async () => {
    expect(sim.payments).toMatchObject({ ready: true });
    const { conversationId } = await chat('telegram', 'Ann');
    expect(conversationId, 'an earlier test opened the conversation').toBeTruthy();
    // The business writes shorthand, as a bot would: the buy button becomes a pay link on Telegram.
    const posted = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, appKey, {
      author: { type: 'business' },
      content: { type: 'text', text: 'Your mug is ready $[Buy the mug]($12.50)' },
    });
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    const offer = await eventually('the pay button in the Telegram chat', async () =>
      (await chat('telegram', 'Ann')).bubbles.find((b: any) => b.from === 'business' && b.buttons?.some((x: any) => x.kind === 'link' && x.label === 'Buy the mug')),
    );
    const payLink = offer.buttons.find((x: any) => x.label === 'Buy the mug').url as string;
    expect(payLink.startsWith(`${parleyUrl}/pages/pay/`), payLink).toBe(true);

    // The page makes a Checkout Session at the fake and sends the payer to its hosted page.
    const toCheckout = await fetch(payLink, { redirect: 'manual' });
    expect(toCheckout.status).toBe(303);
    const checkout = toCheckout.headers.get('location')!;
    expect(checkout.startsWith(`${sim.fakeUrls.stripe}c/pay/`) || checkout.startsWith(`${sim.fakeUrls.stripe}/c/pay/`), checkout).toBe(true);
    const page = await fetch(checkout);
    expect(await page.text()).toContain('Pay 1250 usd');
    // Pressing Pay: the fake sends the signed checkout.session.completed to Parley and the payer returns to Parley's done page.
    const paid = await fetch(checkout, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    const done = paid.headers.get('location')!;
    expect(done.startsWith(`${payLink}/done`), done).toBe(true);
    expect((await fetch(done)).status).toBe(200);
    const line = await eventually('the payment event', async () => lines.find((l) => l.startsWith(`webhook conversation:payment in conversation ${conversationId}: 1250 usd`)));
    expect(line).toContain('"Buy the mug"');
    expect(lines.filter((l) => l.startsWith('webhook conversation:payment')).length).toBe(1);
  });

  it('carries a WhatsApp and a Messenger user the same way', async () => {
    const people = [
      ['whatsapp', '+15551230002', 'whatsapp user +15551230002'],
      ['messenger', 'Ben', 'messenger user Ben'],
    ] as const;
    for (const [channel, user] of people) {
      const sent = await simulator('POST', '/api/send', { channel, user, text: `hi from ${channel}` });
      expect(sent.body.bubble?.error, JSON.stringify(sent.body)).toBeUndefined();
    }
    for (const [channel, user, who] of people) {
      await logged(`webhook conversation:message from ${who}: "hi from ${channel}"`);
      expect((await chat(channel, user)).conversationId).toBeTruthy();
      const replied = await simulator('POST', '/api/reply', { channel, user, text: `Hello ${channel} user` });
      expect(replied.status, JSON.stringify(replied.body)).toBe(200);
      await eventually(`the answer in the ${channel} chat`, async () => (await chat(channel, user)).bubbles.some((b: any) => b.from === 'business' && b.text === `Hello ${channel} user`));
    }
  });

  it('carries a LINE and a Viber user to the customer webhook and back, and their taps on the business buttons as postbacks', async () => {
    const people = [
      ['line', 'Cleo'],
      ['viber', 'Dana'],
    ] as const;
    const sent = await Promise.all(people.map(([channel, user]) => simulator('POST', '/api/send', { channel, user, text: `hi from ${channel}` })));
    for (const s of sent) expect(s.status, JSON.stringify(s.body)).toBe(200);
    for (const s of sent) expect(s.body.bubble.error, JSON.stringify(s.body)).toBeUndefined();
    for (const [channel, user] of people) {
      await logged(`webhook conversation:message from ${channel} user ${user}: "hi from ${channel}"`);
      const view = await eventually(`the ${channel} conversation id`, async () => {
        const v = await chat(channel, user);
        return v.conversationId ? v : undefined;
      });
      const answer = await parley('POST', `/v2/apps/${appId}/conversations/${view.conversationId}/messages`, appKey, {
        author: { type: 'business' },
        content: { type: 'text', text: `Hello ${channel} user` },
      });
      expect(answer.status).toBe(201);
      await eventually(`the answer in the ${channel} chat`, async () => (await chat(channel, user)).bubbles.some((b: any) => b.from === 'business' && b.text === `Hello ${channel} user`));

      const offer = {
        author: { type: 'business' },
        content: {
          type: 'text',
          text: 'Pick a size',
          actions: [
            { type: 'postback', text: 'Large', payload: 'SIZE_L' },
            { type: 'postback', text: 'Small', payload: 'SIZE_S' },
            { type: 'link', text: 'Menu', uri: 'https://example.com/menu' },
          ],
        },
      };
      const posted = await parley('POST', `/v2/apps/${appId}/conversations/${view.conversationId}/messages`, appKey, offer);
      expect(posted.status).toBe(201);
      // Parley takes the offered choices as offered once the channel accepted the send (Viber's taps name a choice number).
      await logged(`webhook conversation:message:delivery:channel to ${channel} user ${user}, message ${sentId(posted.body)}`);
      const offered = await eventually(`the ${channel} buttons`, async () => (await chat(channel, user)).bubbles.find((b: any) => b.buttons?.some((x: any) => x.label === 'Large')));
      expect(offered.text).toBe('Pick a size');
      expect(offered.buttons.map((b: any) => [b.label, b.kind])).toEqual([
        ['Large', 'postback'],
        ['Small', 'postback'],
        ['Menu', 'link'],
      ]);
      const tapped = await simulator('POST', '/api/tap', { channel, user, bubble: offered.id, button: offered.buttons.findIndex((x: any) => x.label === 'Large') });
      expect(tapped.status, JSON.stringify(tapped.body)).toBe(200);
      expect(tapped.body.bubble.error, JSON.stringify(tapped.body)).toBeUndefined();
      await logged(`webhook conversation:postback from ${channel} user ${user}: payload "SIZE_L"`);
    }
  });

  it('shows LINE and Viber carousels as cards and quick replies as buttons, and a quick reply tap comes back as its answer', async () => {
    for (const [channel, user] of [
      ['line', 'Cleo'],
      ['viber', 'Dana'],
    ] as const) {
      const { conversationId } = await chat(channel, user);
      expect(conversationId, 'the previous test opened the conversation').toBeTruthy();
      const post = (content: unknown) => parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, appKey, { author: { type: 'business' }, content });
      // Uneven cards: LINE sends these as a Flex carousel, Viber as rich_media.
      const carousel = await post({
        type: 'carousel',
        items: [
          { title: 'Taco', description: 'Spicy', actions: [{ type: 'postback', text: 'Order taco', payload: 'TACO' }] },
          { title: 'Burrito', actions: [{ type: 'postback', text: 'Order burrito', payload: 'BURRITO' }, { type: 'link', text: 'Details', uri: 'https://example.com/burrito' }] },
        ],
      });
      expect(carousel.status, JSON.stringify(carousel.body)).toBe(201);
      const cards = await eventually(`the ${channel} carousel`, async () => (await chat(channel, user)).bubbles.find((b: any) => b.cards?.length));
      expect(cards.cards).toEqual([{ title: 'Taco', subtitle: 'Spicy' }, { title: 'Burrito' }]);
      expect(cards.buttons.map((b: any) => [b.label, b.kind, b.card])).toEqual([
        ['Order taco', 'postback', 0],
        ['Order burrito', 'postback', 1],
        ['Details', 'link', 1],
      ]);

      const quick = await post({ type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes please', payload: 'HOT' }, { type: 'reply', text: 'No', payload: 'MILD' }] });
      expect(quick.status, JSON.stringify(quick.body)).toBe(201);
      await logged(`webhook conversation:message:delivery:channel to ${channel} user ${user}, message ${sentId(quick.body)}`);
      const asked = await eventually(`the ${channel} quick replies`, async () => (await chat(channel, user)).bubbles.find((b: any) => b.text === 'Spicy?' && b.buttons?.length));
      expect(asked.buttons.map((b: any) => b.label)).toEqual(['Yes please', 'No']);
      const tapped = await simulator('POST', '/api/tap', { channel, user, bubble: asked.id, button: 0 });
      expect(tapped.status, JSON.stringify(tapped.body)).toBe(200);
      expect(tapped.body.bubble.error, JSON.stringify(tapped.body)).toBeUndefined();
      await logged(`webhook conversation:message from ${channel} user ${user}: "Yes please" (payload "HOT")`);
    }
  });

  it('carries a MessageBird SMS user to the customer webhook and back, with status reports, and a numbered answer as a postback', async () => {
    const user = '+31612340001';
    const sent = await simulator('POST', '/api/send', { channel: 'messagebird', user, text: 'hi by messagebird' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.bubble.error, JSON.stringify(sent.body)).toBeUndefined();
    await logged(`webhook conversation:message from messagebird user ${user}: "hi by messagebird"`);
    expect((await chat('messagebird', user)).conversationId).toBeTruthy();

    const replied = await simulator('POST', '/api/reply', { channel: 'messagebird', user, text: 'Hello messagebird user' });
    expect(replied.status, JSON.stringify(replied.body)).toBe(200);
    await eventually('the answer in the MessageBird chat', async () => (await chat('messagebird', user)).bubbles.some((b: any) => b.from === 'business' && b.text === 'Hello messagebird user'));
    // The fake's signed status reports (GETs to the message's reportUrl) reach Parley after the send.
    await logged(`webhook conversation:message:delivery:user to messagebird user ${user}, message ${replied.body.messageId}`);

    const { conversationId } = await chat('messagebird', user);
    const offer = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, appKey, {
      author: { type: 'business' },
      content: { type: 'text', text: 'Pick a size', actions: [{ type: 'postback', text: 'Large', payload: 'SIZE_L' }, { type: 'postback', text: 'Small', payload: 'SIZE_S' }] },
    });
    expect(offer.status).toBe(201);
    await logged(`webhook conversation:message:delivery:channel to messagebird user ${user}, message ${sentId(offer.body)}`);
    const numbered = await eventually('the numbered MessageBird list', async () => (await chat('messagebird', user)).bubbles.find((b: any) => b.from === 'business' && /Pick a size/.test(b.text ?? '')));
    expect(numbered.text).toMatch(/2\W+Small/);
    expect(numbered.buttons).toBeUndefined();
    await simulator('POST', '/api/send', { channel: 'messagebird', user, text: '2' });
    await logged(`webhook conversation:postback from messagebird user ${user}: payload "SIZE_S"`);
  });

  it('lets an email user write a mail, find the threaded answer in their inbox, and reply in the thread', async () => {
    const who = 'mailgun user Eve (eve@example.net)';
    const wrote = await simulator('POST', '/api/mail', { channel: 'email', user: 'Eve', subject: 'Order #12', text: 'Where is my order?' });
    expect(wrote.status, JSON.stringify(wrote.body)).toBe(200);
    const first = wrote.body.bubble;
    expect(first.error, JSON.stringify(first)).toBeUndefined();
    expect(first.mail).toMatchObject({ from: 'Eve <eve@example.net>', to: 'support@mg.example.com', subject: 'Order #12', messageId: expect.stringMatching(/^<[^<>\s]+@example\.net>$/), text: 'Where is my order?' });
    await logged(`webhook conversation:message from ${who}: "Where is my order?"`);
    expect((await chat('email', 'Eve')).conversationId).toBeTruthy();

    const replied = await simulator('POST', '/api/reply', { channel: 'email', user: 'Eve', text: 'Hello email user, it ships today.' });
    expect(replied.status, JSON.stringify(replied.body)).toBe(200);
    const answer = await eventually('the answer in the inbox', async () => (await chat('email', 'Eve')).bubbles.find((b: any) => b.from === 'business' && b.mail?.text?.includes('it ships today')));
    // Threaded under Eve's mail, from the domain, with replies going to the incoming address.
    expect(answer.mail).toMatchObject({
      from: 'noreply@mg.example.com',
      to: 'eve@example.net',
      replyTo: 'support@mg.example.com',
      subject: 'Re: Order #12',
      inReplyTo: first.mail.messageId,
      references: first.mail.messageId,
      messageId: expect.stringMatching(/@mg\.example\.com>$/),
    });
    expect(answer.mail.html).toContain('Hello email user, it ships today.');
    // Mailgun's delivered event for the send reaches Parley.
    await logged(`webhook conversation:message:delivery:user to ${who}, message ${replied.body.messageId}`);

    const again = await simulator('POST', '/api/mail', { channel: 'email', user: 'Eve', subject: '', text: 'Thanks, got it', inReplyTo: answer.mail.messageId });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body.bubble.mail).toMatchObject({ subject: 'Re: Order #12', inReplyTo: answer.mail.messageId, references: `${first.mail.messageId} ${answer.mail.messageId}` });
    // The answered mail is quoted below the reply, as a mail client does; Parley keeps only what Eve wrote.
    expect(again.body.bubble.mail.text).toMatch(/^Thanks, got it\n\nOn .+, noreply@mg\.example\.com wrote:\n> Hello email user/);
    await logged(`webhook conversation:message from ${who}: "Thanks, got it"`);

    const unknown = await simulator('POST', '/api/mail', { channel: 'email', user: 'Eve', subject: 'Re: ?', text: 'hm', inReplyTo: '<nothing@example.net>' });
    expect(unknown.status).toBe(404);
  });

  it("shows the business's email options as buttons, and a tap replies by mail with the option's number, arriving as a postback", async () => {
    const { conversationId } = await chat('email', 'Eve');
    expect(conversationId, 'the previous test opened the conversation').toBeTruthy();
    const offer = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, appKey, {
      author: { type: 'business' },
      content: { type: 'text', text: 'Pick a size', actions: [{ type: 'postback', text: 'Large', payload: 'SIZE_L' }, { type: 'postback', text: 'Small', payload: 'SIZE_S' }] },
    });
    expect(offer.status).toBe(201);
    await logged(`webhook conversation:message:delivery:channel to mailgun user Eve (eve@example.net), message ${sentId(offer.body)}`);
    const offered = await eventually('the options mail', async () => (await chat('email', 'Eve')).bubbles.find((b: any) => b.from === 'business' && b.buttons?.length));
    expect(offered.buttons.map((b: any) => [b.label, b.kind, b.payload])).toEqual([
      ['Large', 'reply', '#1'],
      ['Small', 'reply', '#2'],
    ]);
    const tapped = await simulator('POST', '/api/tap', { channel: 'email', user: 'Eve', bubble: offered.id, button: 0 });
    expect(tapped.status, JSON.stringify(tapped.body)).toBe(200);
    expect(tapped.body.bubble.error, JSON.stringify(tapped.body)).toBeUndefined();
    expect(tapped.body.bubble.mail).toMatchObject({ subject: 'Re: Order #12', inReplyTo: offered.mail.messageId });
    await logged('webhook conversation:postback from mailgun user Eve (eve@example.net): payload "SIZE_L"');
  });

  /**
   * Opens a conversation as `user`, gets the business answer in the chat, and returns a poster of business messages
   * that waits until the channel took each (Parley records the offered choices then: a tap before it would name none).
   */
  async function roundTrip(channel: string, user: string, who: string) {
    const sent = await simulator('POST', '/api/send', { channel, user, text: `hi from ${channel}` });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    expect(sent.body.bubble.error, JSON.stringify(sent.body)).toBeUndefined();
    await logged(`webhook conversation:message from ${who}: "hi from ${channel}"`);
    const replied = await simulator('POST', '/api/reply', { channel, user, text: `Hello ${channel} user` });
    expect(replied.status, JSON.stringify(replied.body)).toBe(200);
    await eventually(`the answer in the ${channel} chat`, async () => (await chat(channel, user)).bubbles.some((b: any) => b.from === 'business' && b.text === `Hello ${channel} user`));
    const { conversationId } = await chat(channel, user);
    return async (content: unknown) => {
      const posted = await parley('POST', `/v2/apps/${appId}/conversations/${conversationId}/messages`, appKey, { author: { type: 'business' }, content });
      expect(posted.status, JSON.stringify(posted.body)).toBe(201);
      await logged(`webhook conversation:message:delivery:channel to ${who}, message ${sentId(posted.body)}`);
    };
  }
  const tap = async (channel: string, user: string, bubble: any, label: string) => {
    const tapped = await simulator('POST', '/api/tap', { channel, user, bubble: bubble.id, button: bubble.buttons.findIndex((x: any) => x.label === label) });
    expect(tapped.status, JSON.stringify(tapped.body)).toBe(200);
    expect(tapped.body.bubble.error, JSON.stringify(tapped.body)).toBeUndefined();
  };
  const sizes = (...more: unknown[]) => ({
    type: 'text',
    text: 'Pick a size',
    actions: [{ type: 'postback', text: 'Large', payload: 'SIZE_L' }, { type: 'postback', text: 'Small', payload: 'SIZE_S' }, ...more],
  });
  const spicy = { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes please', payload: 'HOT' }, { type: 'reply', text: 'No', payload: 'MILD' }] };

  it('carries a WeChat user to the customer webhook and back, and a tap on a msgmenu option as a postback', async () => {
    const post = await roundTrip('wechat', 'Gao', 'wechat user Gao');
    // A menu cannot hold links beside options: the link is written into the menu's text.
    await post(sizes({ type: 'link', text: 'Menu', uri: 'https://example.com/menu' }));
    const menu = await eventually('the WeChat menu', async () => (await chat('wechat', 'Gao')).bubbles.find((b: any) => b.buttons?.some((x: any) => x.label === 'Large')));
    expect(menu.text).toBe('Pick a size\n\nMenu: https://example.com/menu');
    expect(menu.buttons.map((b: any) => [b.label, b.kind])).toEqual([
      ['Large', 'reply'],
      ['Small', 'reply'],
    ]);
    await tap('wechat', 'Gao', menu, 'Small');
    await logged('webhook conversation:postback from wechat user Gao: payload "SIZE_S"');

    await post({ type: 'text', text: 'Our menu', actions: [{ type: 'link', text: 'Menu', uri: 'https://example.com/menu' }] });
    const linked = await eventually('the WeChat link', async () => (await chat('wechat', 'Gao')).bubbles.find((b: any) => b.text?.startsWith('Our menu')));
    expect(linked).toMatchObject({ text: 'Our menu\nMenu', buttons: [{ label: 'Menu', kind: 'link', url: 'https://example.com/menu' }] });
  });

  it('carries an X user to the customer webhook and back, options as numbered text (v2 DMs have no buttons) answered by number', async () => {
    const post = await roundTrip('x', 'Fay', 'twitter user Fay');
    await post({ ...spicy, actions: [...spicy.actions, { type: 'link', text: 'Menu', uri: 'https://example.com/menu' }] });
    const asked = await eventually('the X options', async () => (await chat('x', 'Fay')).bubbles.find((b: any) => /^Spicy\?/.test(b.text ?? '')));
    expect(asked.text).toBe('Spicy?\n\n1. Yes please\n2. No\n\nMenu: https://example.com/menu\n\nReply with the number of your choice.');
    expect(asked.buttons).toBeUndefined();
    await simulator('POST', '/api/send', { channel: 'x', user: 'Fay', text: '1' });
    await logged('webhook conversation:message from twitter user Fay: "1" (payload "HOT")');

    // X has no postback buttons: Parley numbers them and maps the typed number back.
    await post(sizes());
    const numbered = await eventually('the numbered X list', async () => (await chat('x', 'Fay')).bubbles.find((b: any) => /^Pick a size/.test(b.text ?? '')));
    expect(numbered.text).toMatch(/1\W+Large\n2\W+Small/);
    await simulator('POST', '/api/send', { channel: 'x', user: 'Fay', text: '1' });
    await logged('webhook conversation:postback from twitter user Fay: payload "SIZE_L"');
  });

  it('carries an Apple customer to the customer webhook and back, with list picker and quick reply answers, and options as text on a device without them', async () => {
    const post = await roundTrip('apple', 'Hana', 'apple user Hana');
    await post(sizes({ type: 'link', text: 'Menu', uri: 'https://example.com/menu' }));
    const picker = await eventually('the list picker', async () => (await chat('apple', 'Hana')).bubbles.find((b: any) => b.cards?.[0]?.title === 'Pick a size'));
    expect(picker.buttons.map((b: any) => [b.label, b.kind, b.card])).toEqual([
      ['Large', 'postback', 0],
      ['Small', 'postback', 0],
    ]);
    // The text comes first and the link as a rich link of its own, as Messages shows them.
    const bubbles = (await chat('apple', 'Hana')).bubbles;
    expect(bubbles.some((b: any) => b.text === 'Pick a size' && !b.buttons)).toBe(true);
    expect(bubbles.find((b: any) => b.cards?.[0]?.title === 'Menu')?.buttons).toEqual([{ label: 'Open', kind: 'link', url: 'https://example.com/menu', card: 0 }]);
    await tap('apple', 'Hana', picker, 'Large');
    await logged('webhook conversation:postback from apple user Hana: payload "SIZE_L"');

    await post(spicy);
    const quick = await eventually('the quick reply', async () => (await chat('apple', 'Hana')).bubbles.find((b: any) => b.buttons?.some((x: any) => x.label === 'Yes please')));
    expect(quick.buttons.map((b: any) => [b.label, b.kind])).toEqual([
      ['Yes please', 'reply'],
      ['No', 'reply'],
    ]);
    await tap('apple', 'Hana', quick, 'Yes please');
    await logged('webhook conversation:message from apple user Hana: "Yes please" (payload "HOT")');

    // A device without LIST and QUICK: Parley reads the list from the customer's first message and writes the options out.
    expect((await simulator('POST', '/api/setting', { channel: 'apple', on: false })).body).toEqual({ on: false });
    expect((await simulator('GET', '/api/channels')).body.channels.find((c: any) => c.id === 'apple').setting).toMatchObject({ on: false });
    const older = await roundTrip('apple', 'Ivo', 'apple user Ivo');
    await older(sizes());
    await older(spicy);
    const written = await eventually('the options as text', async () => {
      const texts = (await chat('apple', 'Ivo')).bubbles.filter((b: any) => b.from === 'business');
      return texts.length >= 3 && texts.at(-1).text?.startsWith('Spicy?') ? texts : undefined;
    });
    expect(written.every((b: any) => !b.buttons && !b.cards)).toBe(true);
    expect(written.at(-2).text).toMatch(/^Pick a size\n\n1\. Large\n2\. Small\n\nReply with the number/);
    expect(written.at(-1).text).toBe('Spicy?\n\nYes please\nNo');
    await simulator('POST', '/api/send', { channel: 'apple', user: 'Ivo', text: 'Yes please' });
    await logged('webhook conversation:message from apple user Ivo: "Yes please" (payload "HOT")');
    await simulator('POST', '/api/setting', { channel: 'apple', on: true });
  });

  it('re-arms the same integrations against fresh fakes after a restart, and the same person writes on', async () => {
    const before = readFileSync(path.join(stateDir, 'simulator.json'), 'utf8');
    await sim.close();
    sim = await startSimulator(options);
    expect(sim.channels.every((c) => c.ready)).toBe(true);
    expect(readFileSync(path.join(stateDir, 'simulator.json'), 'utf8')).toBe(before);
    // The fresh fake numbers its updates from the start again; Parley must not take this for the first run's message.
    const sent = await simulator('POST', '/api/send', { channel: 'telegram', user: 'Ann', text: 'hi after a restart' });
    expect(sent.body.bubble?.error, JSON.stringify(sent.body)).toBeUndefined();
    await logged('webhook conversation:message from telegram user Ann: "hi after a restart"');
    // LINE's fresh fake has a new bot user id and access token, Viber's lost its webhook: both set up again.
    for (const [channel, user] of [
      ['line', 'Cleo'],
      ['viber', 'Dana'],
    ] as const) {
      const again = await simulator('POST', '/api/send', { channel, user, text: `${channel} after a restart` });
      expect(again.body.bubble?.error, JSON.stringify(again.body)).toBeUndefined();
      await logged(`webhook conversation:message from ${channel} user ${user}: "${channel} after a restart"`);
    }
    // MessageBird's fresh fake is proven with the same keys; Mailgun's has no route until setup makes one again.
    for (const [channel, user, who] of [
      ['messagebird', '+31612340001', 'messagebird user +31612340001'],
      ['email', 'Eve', 'mailgun user Eve (eve@example.net)'],
    ] as const) {
      const again = await simulator('POST', '/api/send', { channel, user, text: `${channel} after a restart` });
      expect(again.body.bubble?.error, JSON.stringify(again.body)).toBeUndefined();
      await logged(`webhook conversation:message from ${who}: "${channel} after a restart"`);
    }
    // WeChat's fresh fake needs the Token and the echostr check again, X's a new webhook (after a CRC) and subscription.
    for (const [channel, user, who] of [
      ['wechat', 'Gao', 'wechat user Gao'],
      ['x', 'Fay', 'twitter user Fay'],
      ['apple', 'Hana', 'apple user Hana'],
    ] as const) {
      const again = await simulator('POST', '/api/send', { channel, user, text: `${channel} after a restart` });
      expect(again.body.bubble?.error, JSON.stringify(again.body)).toBeUndefined();
      await logged(`webhook conversation:message from ${who}: "${channel} after a restart"`);
    }
    expect(lines.filter((l) => l.startsWith('webhook conversation:create') && l.includes('telegram user Ann'))).toHaveLength(1);
  });
});
