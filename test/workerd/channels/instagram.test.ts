/** The Instagram adapter against the Graph fake: config, setup, handshake, signatures, every inbound kind, every part kind, failures. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { instagram, type InstagramConfig } from '../../../src/channels/instagram';
import { describeIssue } from '../../../src/schema/common';
import { MetaFake, type MetaFakeOptions } from '../../fakes/meta';

const API = 'https://meta.fake';
const WEBHOOK = 'https://parley.test/hooks/int_instagram';
const IGSID = '5370000000000001';

const fetcherFor = (fake: MetaFake) => ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;

async function inbound(request: Request): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now: Date.now() };
}

const createBody = (fake: MetaFake, extra: Record<string, unknown> = {}) => ({ pageAccessToken: fake.page.accessToken, appId: '1517776481860111', appSecret: fake.appSecret, apiBaseUrl: API, ...extra });

/** An Instagram account set up through the adapter's own setup, as the API layer does on create. */
async function connected(options: MetaFakeOptions = {}, extra: Record<string, unknown> = {}) {
  const fake = new MetaFake(options);
  const fetch = fetcherFor(fake);
  const created = v.parse(instagram.createSchema, createBody(fake, extra));
  const outcome = await instagram.setup!({ config: created, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  const config: InstagramConfig = { ...created, ...outcome.config };
  const ctx: ChannelContext<InstagramConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

const parsed = async (config: InstagramConfig, request: Promise<Request>) => instagram.parse(await inbound(await request), config);
const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const lastBody = (fake: MetaFake) => fake.calls.at(-1)?.body as Record<string, any>;
async function userWrote(fake: MetaFake, config: InstagramConfig) {
  await parsed(config, fake.instagram.text(WEBHOOK, IGSID, 'hi'));
  return { externalId: IGSID, lastInboundAt: Date.now() - 60_000 };
}

describe('instagram config', () => {
  it('requires pageAccessToken, appId and appSecret and names each', () => {
    const result = v.safeParse(instagram.createSchema, {});
    expect(result.success).toBe(false);
    expect(result.issues!.map(describeIssue)).toEqual(expect.arrayContaining(['pageAccessToken: is required', 'appId: is required', 'appSecret: is required']));
  });

  it('enables story replies and mentions by default and checks their type', () => {
    expect(v.parse(instagram.createSchema, { pageAccessToken: 't', appId: '1', appSecret: 's' })).toMatchObject({ storyRepliesEnabled: true, storyMentionsEnabled: true });
    expect(v.safeParse(instagram.createSchema, { pageAccessToken: 't', appId: '1', appSecret: 's', storyRepliesEnabled: 'yes' }).issues?.map(describeIssue)).toEqual([
      'storyRepliesEnabled: must be a boolean',
    ]);
  });

  it('lets a PATCH change the token and the story flags only', () => {
    expect(v.parse(instagram.updateSchema, { pageAccessToken: 'new', storyMentionsEnabled: false, appSecret: 'x', businessId: 'spoofed' })).toEqual({
      pageAccessToken: 'new',
      storyMentionsEnabled: false,
    });
  });

  it('never shows a secret in the view', () => {
    const config: InstagramConfig = { pageAccessToken: 'SECRET-A', appId: '1', appSecret: 'SECRET-B', storyRepliesEnabled: true, storyMentionsEnabled: false, username: 'tacos' };
    expect(JSON.stringify(instagram.view(config))).not.toMatch(/SECRET/);
    expect(instagram.view(config)).toMatchObject({ appId: '1', storyMentionsEnabled: false, username: 'tacos' });
  });
});

describe('instagram setup', () => {
  it('learns the Page and its Instagram professional account', async () => {
    const { fake, config } = await connected();
    const ig = fake.page.instagram!;
    expect(config).toMatchObject({ pageId: fake.page.id, businessId: ig.id, userId: ig.id, businessName: ig.name, businessUsername: ig.username, username: ig.username });
    expect(fake.calls[0]).toMatchObject({ path: '/v21.0/me', body: { fields: 'id,name,instagram_business_account{id,username,name}' }, headers: { authorization: `Bearer ${fake.page.accessToken}` } });
  });

  it('reports a bad token and a Page without an Instagram account as error statuses', async () => {
    const fake = new MetaFake();
    const bad = await instagram.setup!({ config: v.parse(instagram.createSchema, createBody(fake, { pageAccessToken: 'nope' })), fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(bad).toMatchObject({ status: 'error', error: expect.stringMatching(/Graph error 190.*instagram_manage_messages/) });
    const lonely = new MetaFake({ page: { instagram: null } });
    const none = await instagram.setup!({ config: v.parse(instagram.createSchema, createBody(lonely)), fetch: fetcherFor(lonely), webhookUrl: WEBHOOK });
    expect(none).toMatchObject({ status: 'error', error: `The Facebook Page ${lonely.page.name} has no Instagram professional account linked; link one in the Page settings` });
  });
});

describe('instagram handshake and signature', () => {
  it('echoes the challenge for the right verify token only', async () => {
    const { fake, config } = await connected();
    const ok = await instagram.handshake!(new URL(fake.handshake(WEBHOOK, config.verifyToken!, '42').url), config);
    expect([ok.status, await ok.text()]).toEqual([200, '42']);
    expect((await instagram.handshake!(new URL(fake.handshake(WEBHOOK, 'nope-nope').url), config)).status).toBe(403);
  });

  it('verifies the reference vector, its SHA-1 fallback, and refuses tampering', async () => {
    const config = { appSecret: 'app_secret_123' } as InstagramConfig;
    const request = (headers: Record<string, string>, raw = '{"object":"page","entry":[]}'): InboundRequest => ({
      method: 'POST',
      url: WEBHOOK,
      headers: new Headers(headers),
      raw: new TextEncoder().encode(raw),
      now: Date.now(),
    });
    const sha256 = { 'x-hub-signature-256': 'sha256=3b38910fd4c2e5c834930c9fd805f746ee525de8bee6b29c36fbabcbb61670c2' };
    expect(await instagram.verify(request(sha256), config)).toEqual({ ok: true });
    expect(await instagram.verify(request({ 'x-hub-signature': 'sha1=916533047d1e7e5aa678b11464e91a934a76171f' }), config)).toEqual({ ok: true });
    expect(await instagram.verify(request(sha256, '{"object":"instagram","entry":[]}'), config)).toMatchObject({ ok: false, status: 403 });
    expect(await instagram.verify(request({}), config)).toMatchObject({ ok: false, status: 401 });
  });
});

describe('instagram inbound', () => {
  it('turns a text into a message keyed by mid, reading second timestamps as seconds', async () => {
    const { fake, config } = await connected();
    const [seconds] = await parsed(config, fake.instagram.text(WEBHOOK, IGSID, 'hi', { timestamp: 1700000000, mid: 'aWdfMID' }));
    expect(seconds).toEqual({ kind: 'message', channelMessageId: 'aWdfMID', content: { type: 'text', text: 'hi' }, user: { externalId: IGSID }, timestamp: 1700000000000 });
    const [millis] = await parsed(config, fake.instagram.text(WEBHOOK, IGSID, 'hi', { timestamp: 1700000000123 }));
    expect(millis).toMatchObject({ timestamp: 1700000000123 });
  });

  it('turns image, video and audio into media, shares and reels into their link', async () => {
    const { fake, config } = await connected();
    for (const type of ['image', 'video', 'audio'] as const) {
      const [event] = await parsed(config, fake.instagram.attachment(WEBHOOK, IGSID, type));
      expect(event).toMatchObject({ content: { type: 'media', media: { kind: type, ref: expect.stringContaining('/cdn/') } } });
    }
    for (const type of ['share', 'reel', 'ig_reel']) {
      const [event] = await parsed(config, fake.instagram.attachment(WEBHOOK, IGSID, type, { url: `https://instagram.test/${type}/1` }));
      expect(event).toMatchObject({ kind: 'message', content: { type: 'text', text: `https://instagram.test/${type}/1` } });
    }
  });

  it('turns a story mention into a referral, unless mentions are disabled', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.instagram.attachment(WEBHOOK, IGSID, 'story_mention', { url: 'https://cdn.test/story/1' }));
    expect(event).toMatchObject({ kind: 'referral', ref: 'https://cdn.test/story/1', source: 'STORY_MENTION', user: { externalId: IGSID } });
    const off = await parsed({ ...config, storyMentionsEnabled: false }, fake.instagram.attachment(WEBHOOK, IGSID, 'story_mention', { url: 'https://cdn.test/story/2' }));
    expect(off).toEqual([]);
  });

  it('keeps story replies, unless story replies are disabled', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.instagram.storyReply(WEBHOOK, IGSID, 'Love it', 'https://cdn.test/story/3'));
    expect(event).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Love it' } });
    expect(await parsed({ ...config, storyRepliesEnabled: false }, fake.instagram.storyReply(WEBHOOK, IGSID, 'Love it', 'https://cdn.test/story/3'))).toEqual([]);
  });

  it('turns quick replies and postbacks into their answers', async () => {
    const { fake, config } = await connected();
    const [reply] = await parsed(config, fake.instagram.quickReply(WEBHOOK, IGSID, 'Yes', 'YES'));
    expect(reply).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Yes', payload: 'YES' } });
    const [postback] = await parsed(config, fake.instagram.postback(WEBHOOK, IGSID, 'Start', 'START'));
    expect(postback).toMatchObject({ kind: 'postback', payload: 'START', text: 'Start' });
  });

  it('turns messaging_seen into a read receipt for the message it names', async () => {
    const { fake, config } = await connected();
    const [event] = await parsed(config, fake.instagram.read(WEBHOOK, IGSID, { mid: 'aWdfOURS' }));
    expect(event).toMatchObject({ kind: 'delivery', status: 'read', channelMessageId: 'aWdfOURS', user: { externalId: IGSID } });
  });

  it("ignores echoes, reactions, another account's entries and Messenger bodies", async () => {
    const { fake, config } = await connected();
    expect(await parsed(config, fake.instagram.echo(WEBHOOK, IGSID, 'ours'))).toEqual([]);
    expect(await parsed(config, fake.instagram.reaction(WEBHOOK, IGSID, 'aWdf1', '❤'))).toEqual([]);
    const other = fake.instagram.webhook(WEBHOOK, [fake.instagram.item(IGSID, { message: { mid: 'aWdf2', text: 'x' } })], { entryId: '17841499999999999' });
    expect(await parsed(config, other)).toEqual([]);
    expect(await parsed(config, fake.messenger.text(WEBHOOK, IGSID, 'x'))).toEqual([]);
  });

  it('reads every entry of a batch and throws a 400 for a malformed item', async () => {
    const { fake, config } = await connected();
    const batch = fake.instagram.webhook(WEBHOOK, [fake.instagram.item(IGSID, { message: { mid: 'a1', text: '1' } }), fake.instagram.item(IGSID, { read: { mid: 'ours' } })]);
    expect((await parsed(config, batch)).map((e) => e.kind)).toEqual(['message', 'delivery']);
    const broken = fake.instagram.webhook(WEBHOOK, [fake.instagram.item(IGSID, { message: { text: 'no mid' } })]);
    await expect(parsed(config, broken)).rejects.toThrow('entry[0].messaging[0]: message.mid: is required');
  });
});

describe('instagram send', () => {
  it('declares no file and no location, and a 1,000-character text', () => {
    expect(instagram.capabilities).toMatchObject({ textMax: 1000, media: ['image', 'video', 'audio'], location: false, locationRequest: false, carousel: { maxItems: 10, maxButtons: 3 } });
  });

  it("sends text to the Page's messages endpoint with the page token", async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    const outcome = await instagram.send(ctx, to, text('Hello'));
    expect(outcome).toEqual({ ok: true, channelMessageId: expect.stringMatching(/^m_aWdf/) });
    expect(fake.calls.at(-1)).toMatchObject({
      path: `/v21.0/${fake.page.id}/messages`,
      headers: { authorization: `Bearer ${fake.page.accessToken}` },
      body: { messaging_type: 'RESPONSE', recipient: { id: IGSID }, message: { text: 'Hello' } },
    });
  });

  it('sends buttons as a button template and quick replies as quick_replies', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    await instagram.send(ctx, to, text('Pick', { buttons: [{ kind: 'postback', text: 'A', payload: 'A', choice: 1 }, { kind: 'link', text: 'Web', uri: 'https://x.test' }] }));
    expect(lastBody(fake).message.attachment.payload).toEqual({
      template_type: 'button',
      text: 'Pick',
      buttons: [
        { type: 'postback', title: 'A', payload: 'A' },
        { type: 'web_url', title: 'Web', url: 'https://x.test' },
      ],
    });
    const outcome = await instagram.send(ctx, to, text('Size?', { replies: [{ text: 'S', payload: 'S', choice: 1 }, { text: 'M', payload: 'M', choice: 2 }] }));
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake).message.quick_replies).toHaveLength(2);
  });

  it('sends image, video and audio attachments and a generic-template carousel', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    for (const kind of ['image', 'video', 'audio'] as const) {
      expect((await instagram.send(ctx, to, { kind: 'media', media: kind, url: `https://x.test/${kind}`, buttons: [], replies: [] })).ok).toBe(true);
      expect(lastBody(fake).message.attachment).toEqual({ type: kind, payload: { url: `https://x.test/${kind}`, is_reusable: true } });
    }
    const outcome = await instagram.send(ctx, to, { kind: 'carousel', cards: [{ title: 'Hat', mediaUrl: 'https://x.test/hat.jpg', buttons: [{ kind: 'postback', text: 'Buy', payload: 'HAT', choice: 1 }] }] });
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake).message.attachment.payload).toEqual({
      template_type: 'generic',
      elements: [{ title: 'Hat', image_url: 'https://x.test/hat.jpg', buttons: [{ type: 'postback', title: 'Buy', payload: 'HAT' }] }],
    });
  });

  it('sends a native override and the typing indicator', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    await instagram.send(ctx, to, { kind: 'native', payload: { text: 'native' } });
    expect(lastBody(fake)).toEqual({ messaging_type: 'RESPONSE', recipient: { id: IGSID }, message: { text: 'native' } });
    await instagram.typing!(ctx, to, true);
    expect(lastBody(fake)).toEqual({ recipient: { id: IGSID }, sender_action: 'typing_on' });
  });

  it('tags a reply after 24 hours as HUMAN_AGENT', async () => {
    let now = Date.now();
    const { fake, ctx, config } = await connected({ now: () => now });
    await userWrote(fake, config);
    now += 30 * 60 * 60 * 1000;
    expect((await instagram.send(ctx, { externalId: IGSID, lastInboundAt: Date.now() - 30 * 60 * 60 * 1000 }, text('Sorry for the wait'))).ok).toBe(true);
    expect(lastBody(fake)).toMatchObject({ messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' });
  });

  it('retries rate limits and temporary errors; keeps token and policy errors permanent', async () => {
    const { fake, ctx, config } = await connected();
    const to = await userWrote(fake, config);
    fake.errorNext('613');
    expect(await instagram.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '613', retryAfterMs: 60_000 });
    fake.errorNext('2');
    expect(await instagram.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: true, code: '2' });
    expect(await instagram.send({ ...ctx, config: { ...config, pageAccessToken: 'bad' } }, to, text('x'))).toMatchObject({ ok: false, retryable: false, code: '190' });
    fake.errorNext('10/2018278');
    expect(await instagram.send(ctx, to, text('x'))).toMatchObject({ ok: false, retryable: false, code: '10' });
  });
});
