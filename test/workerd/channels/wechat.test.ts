/**
 * The WeChat Official Account adapter against the fake: config, setup and the
 * server-configuration GET, plain and safe-mode signatures (official and
 * wechatpy test vectors for SHA-1 and the AES envelope), stale and replayed
 * callbacks, every inbound kind, every outbound encoding and the renderer's
 * fallback for what WeChat cannot show, the 48-hour window, access-token
 * expiry, error codes, and media in both directions.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { OutboundError, outboundFetcher } from '../../../src/http/outbound';
import { render } from '../../../src/channels/render';
import { wechat, type WeChatConfig } from '../../../src/channels/wechat';
import { decryptMessage, readXml, wechatSignature } from '../../../src/channels/wechat-crypto';
import { describeIssue } from '../../../src/schema/common';
import { encryptMessage, WeChatFake, type Mode } from '../../fakes/wechat';
import { routeFetch } from './harness';

const API = 'https://api.weixin.test';
const WEBHOOK = 'https://parley.test/hooks/int_wechat';
const ANN = 'oyORnuP8q7ou2gfYjqLzSIWZf0rs';
const KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

/** Access tokens are cached per isolate by API base, AppID and AppSecret: each fake account has its own secret, so no test borrows another's token. */
const freshFake = () => new WeChatFake({ origin: API, appSecret: `secret-${crypto.randomUUID()}` });

async function inbound(request: Request, now = Date.now()): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

/** An account set up through the adapter's own setup; the customer then copies the token (and key) into the fake's console. */
async function connected(mode: Mode = 'plain') {
  const fake = freshFake();
  const fetch = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof globalThis.fetch;
  let config = v.parse(wechat.createSchema, { appId: fake.appId, appSecret: fake.appSecret, apiBaseUrl: API, ...(mode !== 'plain' ? { encodingAesKey: KEY } : {}) });
  const outcome = await wechat.setup!({ config, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  config = { ...config, ...outcome.config };
  fake.server = { token: config.token!, mode, ...(mode !== 'plain' ? { encodingAesKey: KEY } : {}) };
  // Ann has written: WeChat lets the account answer her for 48 hours.
  await fake.text(WEBHOOK, ANN, 'hi');
  const ctx: ChannelContext<WeChatConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

/** What /hooks does: verify, then parse the same request. */
async function parsed(config: WeChatConfig, request: Promise<Request>) {
  const req = await inbound(await request);
  const verdict = await wechat.verify(req, config);
  if (!verdict.ok) throw new Error(verdict.reason);
  return wechat.parse(req, config);
}

const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const wrote = { externalId: ANN, lastInboundAt: Date.now() };
const lastSend = (fake: WeChatFake) => fake.callsTo('/cgi-bin/message/custom/send').at(-1)!;

describe('wechat config', () => {
  it('requires appId and appSecret, and names a malformed key', () => {
    expect(v.safeParse(wechat.createSchema, {}).issues!.map(describeIssue)).toEqual(expect.arrayContaining(['appId: is required', 'appSecret: is required']));
    const bad = v.safeParse(wechat.createSchema, { appId: 'wx2c2769f8efd9abc2', appSecret: 'secret-secret', encodingAesKey: 'short' });
    expect(describeIssue(bad.issues![0])).toMatch(/^encodingAesKey: must be the 43-character EncodingAESKey/);
    expect(describeIssue(v.safeParse(wechat.createSchema, { appId: 'gh_123', appSecret: 'secret-secret' }).issues![0])).toMatch(/^appId: must be the AppID/);
  });

  it('keeps appSecret and encodingAesKey sealed, and shows the appId and the token to paste into the console', () => {
    expect(wechat.secretFields).toEqual(['appSecret', 'encodingAesKey']);
    expect(wechat.view({ appId: 'wx2c2769f8efd9abc2', appSecret: 's3cret-s3cret', encodingAesKey: KEY, token: 'abc123' })).toEqual({ appId: 'wx2c2769f8efd9abc2', token: 'abc123' });
  });

  it('cannot reach a user who has not written first', () => {
    expect(wechat.notificationRecipient).toBeUndefined();
  });
});

describe('wechat setup and the server-configuration check', () => {
  it('checks the credentials with stable_token and makes a 32-character token WeChat accepts', async () => {
    const { fake, config } = await connected();
    expect(fake.calls.map((c) => c.path)).toEqual(['/cgi-bin/stable_token']);
    expect(fake.calls[0]!.body).toEqual({ grant_type: 'client_credential', appid: fake.appId, secret: fake.appSecret, force_refresh: false });
    expect(config.token).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps a token the customer gave, and says which credential WeChat refused', async () => {
    const fake = freshFake();
    const fetch = ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof globalThis.fetch;
    const outcome = await wechat.setup!({ config: { appId: fake.appId, appSecret: 'wrong-secret', token: 'myToken1', apiBaseUrl: API }, fetch, webhookUrl: WEBHOOK });
    expect(outcome).toEqual({ status: 'error', config: { token: 'myToken1' }, error: expect.stringContaining('WeChat errcode 40125: invalid appsecret') });
    expect(outcome.error).toMatch(/^WeChat would not issue an access token for this appId and appSecret .*the appSecret is wrong/);
  });

  it('matches the documented signature example (Token AAAAA)', async () => {
    expect(await wechatSignature('AAAAA', '1714036504', '1514711492')).toBe('f464b24fc39322e44b38aa78f5edd27bd1441696');
    const url = new URL(`${WEBHOOK}?signature=f464b24fc39322e44b38aa78f5edd27bd1441696&echostr=4375120948345356249&timestamp=1714036504&nonce=1514711492`);
    const res = await wechat.handshake!(url, { appId: 'wx2c2769f8efd9abc2', appSecret: 'secret-secret', token: 'AAAAA' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('4375120948345356249');
  });

  it('answers the echostr only to a GET signed with the integration token', async () => {
    const { fake, config } = await connected();
    const good = await fake.verifyServer(WEBHOOK, '8305999631672647420');
    expect(await (await wechat.handshake!(new URL(good.url), config)).text()).toBe('8305999631672647420');
    fake.server.token = 'someoneElse';
    const forged = await wechat.handshake!(new URL((await fake.verifyServer(WEBHOOK)).url), config);
    expect(forged.status).toBe(403);
    expect((await wechat.handshake!(new URL(`${WEBHOOK}?echostr=1`), config)).status).toBe(401);
  });
});

describe('wechat signatures (plain mode)', () => {
  it('accepts a signed callback, refuses an unsigned one with 401 and one signed with another token with 403', async () => {
    const { fake, config } = await connected();
    expect(await wechat.verify(await inbound(await fake.text(WEBHOOK, ANN, 'hi')), config)).toEqual({ ok: true });
    const unsigned = new URL((await fake.text(WEBHOOK, ANN, 'hi')).url);
    unsigned.searchParams.delete('signature');
    expect(await wechat.verify(await inbound(new Request(unsigned, { method: 'POST', body: '<xml/>' })), config)).toMatchObject({ ok: false, status: 401 });
    fake.server.token = 'otherToken';
    expect(await wechat.verify(await inbound(await fake.text(WEBHOOK, ANN, 'hi')), config)).toEqual({ ok: false, status: 403, reason: 'signature does not match' });
  });

  it('refuses a callback whose timestamp is more than five minutes off', async () => {
    const { fake, config } = await connected();
    const request = await fake.text(WEBHOOK, ANN, 'hi');
    expect(await wechat.verify(await inbound(request.clone(), Date.now() + 6 * 60_000), config)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/stale or replayed/) });
    expect(await wechat.verify(await inbound(request, Date.now() + 4 * 60_000), config)).toEqual({ ok: true });
  });

  it('binds a plain signature (which covers no body) to its body: the replay guard keys it by its query with a digest of the bytes', async () => {
    const { fake } = await connected();
    const signed = await fake.text(WEBHOOK, ANN, 'pay 10');
    const tampered = new Request(signed.url, { method: 'POST', body: (await signed.clone().text()).replace('pay 10', 'pay 99') });
    const [a, b] = [await wechat.replayGuard!(await inbound(signed)), await wechat.replayGuard!(await inbound(tampered))];
    expect(a!.nonce).toBe(b!.nonce);
    expect(a!.digest).not.toBe(b!.digest);
  });

  it('takes only safe-mode callbacks once an encodingAesKey is set', async () => {
    const { fake, config } = await connected('safe');
    fake.server.mode = 'plain';
    expect(await wechat.verify(await inbound(await fake.text(WEBHOOK, ANN, 'hi')), config)).toMatchObject({ ok: false, status: 403, reason: expect.stringMatching(/must send safe-mode callbacks/) });
  });
});

describe('wechat safe mode (AES)', () => {
  it('decrypts WeChat\'s official sample and checks its msg_signature', async () => {
    const encrypt =
      'hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=';
    expect(await wechatSignature('spamtest', '1409735669', '1320562132', encrypt)).toBe('5d197aaffba7e9b25a30732f161a50dee96bd5fa');
    const opened = await decryptMessage(KEY, encrypt);
    expect(opened.appId).toBe('wx2c2769f8efd9abc2');
    expect(readXml(opened.xml)).toMatchObject({ FromUserName: 'oyORnuP8q7ou2gfYjqLzSIWZf0rs', Content: 'abcdteT', MsgId: '6054768590064713728' });

    // The same request through verify and parse, at its own time: a text whose 64-bit MsgId keeps every digit.
    const body = `<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
    const url = `${WEBHOOK}?signature=whatever&timestamp=1409735669&nonce=1320562132&encrypt_type=aes&msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa`;
    const config: WeChatConfig = { appId: 'wx2c2769f8efd9abc2', appSecret: 'secret-secret', token: 'spamtest', encodingAesKey: KEY };
    const req = await inbound(new Request(url, { method: 'POST', body }), 1409735669_000);
    expect(await wechat.verify(req, config)).toEqual({ ok: true });
    expect(wechat.parse(req, config)).toEqual([
      { kind: 'message', channelMessageId: '6054768590064713728', user: { externalId: 'oyORnuP8q7ou2gfYjqLzSIWZf0rs' }, timestamp: 1409735668_000, content: { type: 'text', text: 'abcdteT' } },
    ]);
    expect(await wechat.verify(await inbound(new Request(url, { method: 'POST', body }), 1409735669_000), { ...config, appId: 'wx0000000000000000' })).toMatchObject({ ok: false, status: 403, reason: 'the message was encrypted for another AppID' });
  });

  it('encrypts byte for byte like wechatpy\'s vector (32-byte PKCS#7 padding) and decrypts its ciphertext', async () => {
    const key = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
    const reply = `<xml>
<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[test]]></Content>
<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>
<ToUserName><![CDATA[messense]]></ToUserName>
<AgentID>1</AgentID>
<CreateTime>1411525903</CreateTime>
</xml>`;
    const encrypt = await encryptMessage(key, reply, 'wx49f0ab532d5d035a', new TextEncoder().encode('1234567890123456'));
    expect(encrypt).toBe(
      '9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3',
    );
    expect(await wechatSignature('123456', '1411525903', '461056294', encrypt)).toBe('407518b7649e86ef23978113f92d27afa9296533');
    const theirs =
      'RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=';
    expect(await wechatSignature('123456', '1411525903', '461056294', theirs)).toBe('74d92dfeb87ba7c714f89d98870ae5eb62dff26d');
    expect(readXml((await decryptMessage(key, theirs)).xml)).toMatchObject({ Content: 'test', FromUserName: 'messense' });
  });

  it('round-trips every padding length, including the ones Web Crypto\'s 16-byte padding cannot read', async () => {
    for (let n = 0; n < 40; n++) {
      const xml = `<xml>${'x'.repeat(n)}</xml>`;
      expect(await decryptMessage(KEY, await encryptMessage(KEY, xml, 'wx2c2769f8efd9abc2'))).toEqual({ xml, appId: 'wx2c2769f8efd9abc2' });
    }
  });

  it('verifies and decrypts the fake\'s safe-mode callbacks; a tampered Encrypt, a missing msg_signature or another key are refused', async () => {
    const { fake, config } = await connected('safe');
    const request = await fake.text(WEBHOOK, ANN, '你好');
    expect(await request.clone().text()).not.toContain('你好');
    expect(await parsed(config, Promise.resolve(request.clone()))).toEqual([expect.objectContaining({ kind: 'message', content: { type: 'text', text: '你好' } })]);
    const raw = await request.clone().text();
    const flipped = raw.replace(/<!\[CDATA\[(.)/g, (m, c: string, offset: number) => (offset > raw.indexOf('<Encrypt>') ? `<![CDATA[${c === 'A' ? 'B' : 'A'}` : m));
    expect(await wechat.verify(await inbound(new Request(request.url, { method: 'POST', body: flipped })), config)).toMatchObject({ ok: false, status: 403, reason: 'msg_signature does not match the body' });
    const unsigned = new URL(request.url);
    unsigned.searchParams.delete('msg_signature');
    expect(await wechat.verify(await inbound(new Request(unsigned, { method: 'POST', body: raw })), config)).toMatchObject({ ok: false, status: 401 });
    const otherKey = { ...config, encodingAesKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut' };
    expect(await wechat.verify(await inbound(new Request(request.url, { method: 'POST', body: raw })), otherKey)).toMatchObject({ ok: false, status: 403 });
    expect(await wechat.replayGuard!(await inbound(request))).toBeUndefined();
  });

  it('in compatible mode reads only the decrypted message, never the plaintext fields beside it', async () => {
    const { fake, config } = await connected('compatible');
    const request = await fake.text(WEBHOOK, ANN, 'real words');
    const forged = (await request.text()).replace('<Content><![CDATA[real words]]></Content>', '<Content><![CDATA[forged]]></Content>');
    expect(forged).toContain('forged');
    const [event] = await parsed(config, Promise.resolve(new Request(request.url, { method: 'POST', body: forged })));
    expect(event).toMatchObject({ content: { type: 'text', text: 'real words' } });
  });
});

describe('wechat callbacks', () => {
  it('keeps 64-bit MsgIds as strings, so neighbours above 2^53 stay apart', async () => {
    const { fake, config } = await connected();
    const [a] = await parsed(config, fake.text(WEBHOOK, ANN, 'one', { msgId: 9_007_199_254_740_993n }));
    const [b] = await parsed(config, fake.text(WEBHOOK, ANN, 'two', { msgId: 9_007_199_254_740_994n }));
    expect([a!, b!].map((e) => (e as { channelMessageId: string }).channelMessageId)).toEqual(['9007199254740993', '9007199254740994']);
    expect(a).toMatchObject({ kind: 'message', user: { externalId: ANN }, content: { type: 'text', text: 'one' } });
  });

  it('reads images, voice (with its transcript), videos, locations and links', async () => {
    const { fake, config } = await connected();
    expect((await parsed(config, fake.image(WEBHOOK, ANN)))[0]).toMatchObject({ content: { type: 'media', media: { kind: 'image', ref: expect.stringMatching(/^USER_MEDIA_/) } } });
    expect((await parsed(config, fake.voice(WEBHOOK, ANN, '明天见')))[0]).toMatchObject({ content: { type: 'media', media: { kind: 'audio', mimeType: 'audio/amr' }, text: '明天见' } });
    expect((await parsed(config, fake.video(WEBHOOK, ANN)))[0]).toMatchObject({ content: { type: 'media', media: { kind: 'video' } } });
    expect((await parsed(config, fake.location(WEBHOOK, ANN, 23.134521, 113.358803, '广州市海珠区')))[0]).toMatchObject({ content: { type: 'location', lat: 23.134521, long: 113.358803, address: '广州市海珠区' } });
    expect((await parsed(config, fake.link(WEBHOOK, ANN, 'Menu', 'https://tacos.example/menu')))[0]).toMatchObject({ content: { type: 'text', text: 'Menu\nhttps://tacos.example/menu' } });
  });

  it('reads a tapped option by the payload its id carries (a reply as the user\'s answer, a postback as a postback); a text that merely looks like XML stays text', async () => {
    const { fake, ctx, config } = await connected();
    await wechat.send(ctx, wrote, text('Spicy?', { replies: [{ text: 'Yes', payload: 'Y', choice: 1 }, { text: 'No', payload: 'N', choice: 2 }] }));
    const [tap] = await parsed(config, fake.tapMenu(WEBHOOK, ANN, 'No'));
    expect(tap).toMatchObject({ kind: 'message', content: { type: 'text', text: 'No', payload: 'N' }, user: { externalId: ANN } });
    await wechat.send(ctx, wrote, text('Order?', { buttons: [{ kind: 'postback', text: 'Tacos: 2 for 1', payload: 'ORDER:TACOS', choice: 1 }] }));
    expect(await parsed(config, fake.tapMenu(WEBHOOK, ANN, 'Tacos: 2 for 1'))).toMatchObject([{ kind: 'postback', payload: 'ORDER:TACOS', text: 'Tacos: 2 for 1' }]);
    // A bare number (a payload too long for the id, a menu a native payload sent) resolves to nothing: the tapped text is the message.
    const [bare] = await parsed(config, fake.callback(WEBHOOK, { ToUserName: fake.originalId, FromUserName: ANN, CreateTime: Math.floor(Date.now() / 1000), MsgType: 'text', Content: 'Maybe', bizmsgmenuid: '101', MsgId: fake.msgId() }));
    expect(bare).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Maybe' } });
    expect((bare as { content: { payload?: string } }).content.payload).toBeUndefined();
    const [sneaky] = await parsed(config, fake.text(WEBHOOK, ANN, ']]></Content><bizmsgmenuid>1</bizmsgmenuid><Content>x'));
    expect(sneaky).toMatchObject({ kind: 'message', content: { type: 'text', text: ']]></Content><bizmsgmenuid>1</bizmsgmenuid><Content>x' } });
  });

  it('turns subscribe (from a QR code or not) and SCAN into referrals, CLICK into a postback, and ignores the rest', async () => {
    const { fake, config } = await connected();
    const at = Date.now();
    const [qr] = await parsed(config, fake.event(WEBHOOK, ANN, 'subscribe', 'qrscene_spring', { at }));
    expect(qr).toEqual({ kind: 'referral', channelMessageId: `subscribe:${ANN}:${Math.floor(at / 1000)}`, ref: 'spring', source: 'WeChat', referralType: 'subscribe', user: { externalId: ANN }, timestamp: Math.floor(at / 1000) * 1000 });
    // WeChat's retry of the same event carries the same user and CreateTime: the same key.
    const [again] = await parsed(config, fake.event(WEBHOOK, ANN, 'subscribe', 'qrscene_spring', { at }));
    expect((again as { channelMessageId: string }).channelMessageId).toBe((qr as { channelMessageId: string }).channelMessageId);
    // A plain follow (no EventKey, or WeChat's empty one) refers to nothing: no empty referral.
    expect(await parsed(config, fake.event(WEBHOOK, ANN, 'subscribe'))).toEqual([]);
    expect(await parsed(config, fake.event(WEBHOOK, ANN, 'subscribe', ''))).toEqual([]);
    expect((await parsed(config, fake.event(WEBHOOK, ANN, 'SCAN', 'table-7')))[0]).toMatchObject({ kind: 'referral', ref: 'table-7', referralType: 'scan' });
    expect((await parsed(config, fake.event(WEBHOOK, ANN, 'CLICK', 'MENU_HELP')))[0]).toMatchObject({ kind: 'postback', payload: 'MENU_HELP' });
    for (const [e, key] of [['unsubscribe', undefined], ['VIEW', 'https://tacos.example'], ['LOCATION', undefined]] as const) {
      expect(await parsed(config, fake.event(WEBHOOK, ANN, e, key))).toEqual([]);
    }
  });

  it('refuses a body WeChat would never send, and answers every callback with success', async () => {
    const { fake, config } = await connected();
    await expect(parsed(config, fake.callback(WEBHOOK, { ToUserName: 'gh_x', Content: 'no sender' }))).rejects.toThrow(/no FromUserName or MsgType/);
    const ack = wechat.acknowledge!();
    expect(await ack.text()).toBe('success');
  });
});

describe('wechat send', () => {
  it('sends text through custom/send with the access token, and links as <a> anchors', async () => {
    const { fake, ctx } = await connected();
    expect(await wechat.send(ctx, wrote, text('Hello Ann'))).toEqual({ ok: true, channelMessageId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(lastSend(fake).body).toEqual({ msgtype: 'text', text: { content: 'Hello Ann' }, touser: ANN });
    expect(lastSend(fake).query.access_token).toBe(fake.issued.at(-1));
    await wechat.send(ctx, wrote, text('Our menu', { buttons: [{ kind: 'link', text: 'Open', uri: 'https://tacos.example/menu?a="b"' }] }));
    expect(lastSend(fake).body!.text).toEqual({ content: 'Our menu\n<a href="https://tacos.example/menu?a=%22b%22">Open</a>' });
  });

  it('sends postbacks and quick replies as one msgmenu whose option ids carry kind, choice and payload (the bare choice when the payload does not fit)', async () => {
    const { fake, ctx } = await connected();
    await wechat.send(ctx, wrote, text('How was it?', {
      buttons: [{ kind: 'postback', text: 'Great', payload: 'GREAT', choice: 1 }, { kind: 'link', text: 'Review', uri: 'https://tacos.example/r' }],
      replies: [{ text: 'Meh', payload: 'MEH', choice: 2 }],
    }));
    expect(lastSend(fake).body).toEqual({
      msgtype: 'msgmenu',
      msgmenu: { head_content: 'How was it?\nReview: https://tacos.example/r', list: [{ id: 'p1:GREAT', content: 'Great' }, { id: 'r2:MEH', content: 'Meh' }], tail_content: '' },
      touser: ANN,
    });
    // WeChat documents no id limit for official accounts; WeCom's menu takes 128 bytes, so a longer id is the bare choice.
    await wechat.send(ctx, wrote, text('Long?', { buttons: [{ kind: 'postback', text: 'Fits', payload: 'x'.repeat(125), choice: 1 }, { kind: 'postback', text: 'Too long', payload: '很'.repeat(42), choice: 2 }] }));
    expect((lastSend(fake).body!.msgmenu as { list: { id: string }[] }).list.map((o) => o.id)).toEqual([`p1:${'x'.repeat(125)}`, '2']);
  });

  it('names each sent part by its delivery key, the same on every attempt', async () => {
    const { ctx } = await connected();
    const first = await wechat.send(ctx, { ...wrote, deliveryKey: 'msg_1:cli_1:0' }, text('once'));
    const retry = await wechat.send(ctx, { ...wrote, deliveryKey: 'msg_1:cli_1:0' }, text('once'));
    const next = await wechat.send(ctx, { ...wrote, deliveryKey: 'msg_1:cli_1:1' }, text('twice'));
    expect(first).toMatchObject({ ok: true, channelMessageId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(retry).toEqual(first);
    expect(next).not.toEqual(first);
  });

  it('uploads an image as temporary media, then sends its media_id', async () => {
    const { fake, ctx } = await connected();
    const url = fake.addFile(new TextEncoder().encode('png!'), 'image/png', 'logo.png');
    expect(await wechat.send(ctx, wrote, { kind: 'media', media: 'image', url, buttons: [], replies: [] })).toMatchObject({ ok: true });
    const upload = fake.callsTo('/cgi-bin/media/upload').at(-1)!;
    expect(upload.query.type).toBe('image');
    expect(lastSend(fake).body).toEqual({ msgtype: 'image', image: { media_id: expect.stringMatching(/^MEDIA_/) }, touser: ANN });
    expect(await wechat.send(ctx, wrote, { kind: 'media', media: 'image', url: `${API}/files/404/gone.png`, buttons: [], replies: [] })).toMatchObject({ ok: false, retryable: false, code: 'media_unavailable' });
  });

  it('classifies a failed image download like any channel call: timeouts and DNS faults retry, a refused or oversized file is final, and no message carries the query', async () => {
    const { fake, ctx } = await connected();
    const image = (url: string): Part => ({ kind: 'media', media: 'image', url, buttons: [], replies: [] });
    const signedUrl = `${API}/files/1/logo.png?X-Amz-Signature=s3cr3t`;
    const failing = (err: Error): typeof ctx => ({ ...ctx, fetch: async (url, init) => (url.startsWith(`${API}/files/`) ? Promise.reject(err) : ctx.fetch(url, init)) });
    const timeout = await wechat.send(failing(new DOMException('The operation timed out.', 'TimeoutError')), wrote, image(signedUrl));
    expect(timeout).toMatchObject({ ok: false, retryable: true, code: 'timeout' });
    const dns = await wechat.send(failing(new OutboundError('dns', 'DNS lookup of api.weixin.test failed: SERVFAIL')), wrote, image(signedUrl));
    expect(dns).toMatchObject({ ok: false, retryable: true, code: 'network_error' });
    const gone = await wechat.send(ctx, wrote, image(`${API}/files/404/gone.png?token=s3cr3t`));
    expect(gone).toMatchObject({ ok: false, retryable: false, code: 'media_unavailable' });
    for (const outcome of [timeout, dns, gone]) expect(JSON.stringify(outcome)).not.toContain('s3cr3t');

    // Under the real outbound policy, which caps the body at WeChat's 10 MB while it is read.
    const spy = routeFetch({ [API]: fake });
    try {
      const policed = { ...ctx, fetch: outboundFetcher({ local: false }) };
      const big = fake.addFile(new Uint8Array(10 * 1024 * 1024 + 1), 'image/png', 'huge.png');
      expect(await wechat.send(policed, wrote, image(big))).toMatchObject({ ok: false, retryable: false, code: 'media_too_large' });
      expect(await wechat.send(policed, wrote, image('http://tacos.example/logo.png'))).toMatchObject({ ok: false, retryable: false, code: 'target_refused' });
      expect(fake.callsTo('/cgi-bin/media/upload')).toHaveLength(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('falls back for what WeChat cannot show: a carousel becomes image + text per card, too many options a numbered list, a location a map link', async () => {
    const { fake, ctx } = await connected();
    const image = fake.addFile(new TextEncoder().encode('jpg'), 'image/jpeg', 'tacos.jpg');
    const carousel = render({ content: { type: 'carousel', items: [{ title: 'Tacos', description: 'Crunchy', mediaUrl: image, actions: [{ type: 'postback', text: 'Order', payload: 'ORDER' }] }] } }, wechat.capabilities, 'wechat');
    expect(carousel.parts.map((p) => p.kind)).toEqual(['media', 'text']);
    for (const part of carousel.parts) expect(await wechat.send(ctx, wrote, part)).toMatchObject({ ok: true });
    expect(fake.sent.get(ANN)!.slice(-2).map((m) => m.msgtype)).toEqual(['image', 'msgmenu']);
    expect(fake.sent.get(ANN)!.at(-1)!.msgmenu).toMatchObject({ head_content: 'Tacos\nCrunchy', list: [{ id: 'p1:ORDER', content: 'Order' }] });

    const sizes = Array.from({ length: 11 }, (_, i) => `Size ${i + 1}`);
    const many = render({ content: { type: 'text', text: 'Which size?', actions: sizes.map((s) => ({ type: 'postback', text: s, payload: s })) } }, wechat.capabilities, 'wechat');
    await wechat.send(ctx, wrote, many.parts[0]!);
    expect(lastSend(fake).body).toMatchObject({ msgtype: 'text', text: { content: expect.stringMatching(/^Which size\?\n\n1\. Size 1\n.*\n11\. Size 11\n\nReply with the number of your choice\.$/s) } });

    const where = render({ content: { type: 'location', coordinates: { lat: 39.9, long: 116.4 } } }, wechat.capabilities, 'wechat');
    await wechat.send(ctx, wrote, where.parts[0]!);
    expect(lastSend(fake).body!.text).toEqual({ content: 'https://maps.google.com/maps?q=39.9,116.4' });
  });

  it('refuses to send outside the 48-hour window without calling WeChat, with WeChat\'s own code', async () => {
    const { fake, ctx } = await connected();
    const before = fake.calls.length;
    expect(await wechat.send(ctx, { externalId: ANN, lastInboundAt: Date.now() - 49 * 3_600_000 }, text('late'))).toMatchObject({ ok: false, retryable: false, code: '45015' });
    expect(await wechat.send(ctx, { externalId: ANN }, text('never wrote'))).toMatchObject({ ok: false, retryable: false, code: '45015' });
    expect(fake.calls.length).toBe(before);
  });

  it('fetches the access token once, and again (retrying the send once) when WeChat says it expired', async () => {
    const { fake, ctx } = await connected();
    await wechat.send(ctx, wrote, text('one'));
    await wechat.send(ctx, wrote, text('two'));
    expect(fake.callsTo('/cgi-bin/stable_token')).toHaveLength(1);
    fake.expireToken();
    expect(await wechat.send(ctx, wrote, text('three'))).toMatchObject({ ok: true });
    expect(fake.calls.slice(-3).map((c) => [c.path, c.errcode])).toEqual([
      ['/cgi-bin/message/custom/send', 42001],
      ['/cgi-bin/stable_token', undefined],
      ['/cgi-bin/message/custom/send', 0],
    ]);
    expect(fake.sent.get(ANN)!.map((m) => (m.text as { content: string }).content)).toEqual(['one', 'two', 'three']);
  });

  it('retries system busy and the quotas; the window, the message count and bad requests are permanent with WeChat\'s errcode', async () => {
    const { fake, ctx } = await connected();
    fake.failNext(1, { errcode: -1 });
    expect(await wechat.send(ctx, wrote, text('x'))).toMatchObject({ ok: false, retryable: true, code: '-1' });
    fake.failNext(1, { errcode: 45011, errmsg: 'api minute-quota reach limit' });
    expect(await wechat.send(ctx, wrote, text('x'))).toMatchObject({ ok: false, retryable: true, code: '45011', retryAfterMs: 60_000 });
    fake.failNext(1, { errcode: 45009 });
    expect(await wechat.send(ctx, wrote, text('x'))).toMatchObject({ ok: false, retryable: true, code: '45009' });
    fake.failNext(1, { http: 502 });
    expect(await wechat.send(ctx, wrote, text('x'))).toMatchObject({ ok: false, retryable: true, code: 'http_502' });
    fake.failNext(1, { errcode: 45047 });
    expect(await wechat.send(ctx, wrote, text('x'))).toMatchObject({ ok: false, retryable: false, code: '45047', message: expect.stringMatching(/^WeChat errcode 45047: out of response count limit/) });
    // The fake knows Bob never wrote: WeChat's own 45015.
    expect(await wechat.send(ctx, { externalId: 'oBob', lastInboundAt: Date.now() }, text('x'))).toMatchObject({ ok: false, retryable: false, code: '45015' });
  });

  it('sends a native payload to the conversation\'s user only, and refuses fields custom/send does not have', async () => {
    const { fake, ctx } = await connected();
    expect(wechat.checkNative({ msgtype: 'text', text: { content: 'x' }, access_token: 'steal' })).toMatch(/override\.wechat\.payload\.access_token is not allowed/);
    await wechat.send(ctx, wrote, { kind: 'native', payload: { touser: 'oSomeoneElse', msgtype: 'news', news: { articles: [{ title: 'Hi', url: 'https://tacos.example' }] } } });
    expect(lastSend(fake).body).toMatchObject({ msgtype: 'news', touser: ANN });
  });
});

describe('wechat typing', () => {
  it('shows and cancels the typing status through custom/typing while the user is in the window', async () => {
    const { fake, ctx } = await connected();
    await wechat.typing!(ctx, wrote, true);
    expect(fake.typingState.get(ANN)).toBe(true);
    await wechat.typing!(ctx, wrote, false);
    expect(fake.callsTo('/cgi-bin/message/custom/typing').map((c) => c.body)).toEqual([{ touser: ANN, command: 'Typing' }, { touser: ANN, command: 'CancelTyping' }]);
    await wechat.typing!(ctx, { externalId: ANN }, true);
    expect(fake.callsTo('/cgi-bin/message/custom/typing')).toHaveLength(2);
  });
});

describe('wechat media', () => {
  it('downloads a user\'s image and video with media/get, refreshing an expired token once', async () => {
    const { fake, ctx, config } = await connected();
    const bytes = new TextEncoder().encode('jpeg!');
    const [image] = await parsed(config, fake.image(WEBHOOK, ANN, bytes));
    const ref = (image as { content: { media: { ref: string } } }).content.media.ref;
    await wechat.send(ctx, wrote, text('warm the token'));
    fake.expireToken();
    const file = await wechat.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes);
    expect(fake.callsTo('/cgi-bin/media/get').map((c) => c.errcode)).toEqual([42001, undefined]);

    const [video] = await parsed(config, fake.video(WEBHOOK, ANN, new TextEncoder().encode('mp4!')));
    const clip = await wechat.fetchMedia!(ctx, (video as { content: { media: { ref: string } } }).content.media.ref);
    expect(await clip.text()).toBe('mp4!');
    await expect(wechat.fetchMedia!(ctx, 'EXPIRED_MEDIA')).rejects.toThrow(/errcode 40007 invalid media_id/);
  });

  it('says plainly that a video cannot be copied: WeChat serves it over http only, which the outbound policy refuses', async () => {
    const { fake, ctx, config } = await connected();
    const [video] = await parsed(config, fake.video(WEBHOOK, ANN, new TextEncoder().encode('mp4!')));
    const spy = routeFetch({ [API]: fake });
    try {
      const policed = { ...ctx, fetch: outboundFetcher({ local: false }) };
      const copy = wechat.fetchMedia!(policed, (video as { content: { media: { ref: string } } }).content.media.ref);
      await expect(copy).rejects.toThrow(/WeChat serves this video only over plain http \(http:\/\/api\.weixin\.test\/video\/.*\), which Parley's outbound policy refuses: the video cannot be copied \(a permanent failure\)/);
      expect(fake.callsTo('/cgi-bin/media/get').at(-1)!.status).toBe(200);
    } finally {
      spy.mockRestore();
    }
  });
});
