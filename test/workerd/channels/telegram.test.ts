/** The Telegram adapter against the Bot API fake: config, setup, webhook secret, every update kind, every part kind, failures. */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import type { ChannelContext, InboundRequest, Part } from '../../../src/channels/adapter';
import { telegram, toTelegramHtml, type TelegramConfig } from '../../../src/channels/telegram';
import { describeIssue } from '../../../src/schema/common';
import { TelegramFake } from '../../fakes/telegram';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const API = 'http://telegram.fake';
const WEBHOOK = 'https://parley.test/hooks/int_telegram';
const ANN = { id: 1111111, first_name: 'Ann', last_name: 'Lee', username: 'ann', language_code: 'en' };
const GROUP = { id: -100200300, type: 'supergroup' as const, title: 'Taco Friends' };

const fetcherFor = (fake: TelegramFake) => ((input: RequestInfo | URL, init?: RequestInit) => fake.fetch(new Request(input, init))) as typeof fetch;

/** A fake bot with its webhook registered through the adapter's own setup, as the API layer does on create. */
async function connected() {
  const fake = new TelegramFake({ now: () => NOW });
  const fetch = fetcherFor(fake);
  const created: TelegramConfig = { token: fake.token, apiBaseUrl: API };
  const outcome = await telegram.setup!({ config: created, fetch, webhookUrl: WEBHOOK });
  expect(outcome.status).toBe('active');
  const config: TelegramConfig = { ...created, ...outcome.config };
  const ctx: ChannelContext<TelegramConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, ctx, config };
}

async function inbound(request: Request, now = NOW): Promise<InboundRequest> {
  return { method: request.method, url: request.url, headers: request.headers, raw: new Uint8Array(await request.arrayBuffer()), now };
}

const text = (t: string, extra: Partial<Extract<Part, { kind: 'text' }>> = {}): Part => ({ kind: 'text', text: t, buttons: [], replies: [], ...extra });
const lastBody = (fake: TelegramFake, method: string) => fake.callsTo(method).at(-1)?.body as Record<string, unknown>;
const ann = { externalId: String(ANN.id) };

describe('telegram config', () => {
  it('requires the bot token and names the field', () => {
    const result = v.safeParse(telegram.createSchema, {});
    expect(result.success).toBe(false);
    expect(result.issues!.map(describeIssue)).toContain('token: is required');
  });

  it('rejects something that is not a bot token, pointing at @BotFather', () => {
    const result = v.safeParse(telegram.createSchema, { token: 'hello' });
    expect(result.success).toBe(false);
    expect(describeIssue(result.issues![0])).toMatch(/^token: must be a Telegram bot token.*@BotFather/);
  });

  it('rejects an apiBaseUrl that is not a URL', () => {
    const result = v.safeParse(telegram.createSchema, { token: '123456789:AAHfakeTelegramTokenForTests_0123456789', apiBaseUrl: 'nope' });
    expect(result.success).toBe(false);
    expect(describeIssue(result.issues![0])).toBe('apiBaseUrl: must be a valid URI');
  });

  it('lets a PATCH rotate only the token', () => {
    expect(v.parse(telegram.updateSchema, { token: '42:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).toEqual({ token: '42:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(v.parse(telegram.updateSchema, { username: 'evil' })).toEqual({});
    expect(v.safeParse(telegram.updateSchema, { token: 'bad' }).success).toBe(false);
  });

  it('keeps the token and the webhook secret sealed and out of the view', () => {
    expect(telegram.secretFields).toEqual(['token', 'secretToken']);
    const config = { token: '42:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', secretToken: 's'.repeat(43), username: 'parley_test_bot', botId: '42' };
    expect(telegram.view(config)).toEqual({ username: 'parley_test_bot', botId: '42' });
  });
});

describe('telegram setup and teardown', () => {
  it('checks the token with getMe, then registers the webhook with a generated secret', async () => {
    const { fake, config } = await connected();
    expect(config.username).toBe('parley_test_bot');
    expect(config.botId).toBe('123456789');
    expect(config.secretToken).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(fake.calls.map((c) => c.method)).toEqual(['getMe', 'setWebhook']);
    expect(lastBody(fake, 'setWebhook')).toEqual({
      url: WEBHOOK,
      secret_token: config.secretToken,
      allowed_updates: ['message', 'edited_message', 'callback_query'],
      drop_pending_updates: false,
    });
    expect(fake.webhook).toMatchObject({ url: WEBHOOK, secretToken: config.secretToken });
  });

  it('generates a different secret on every registration', async () => {
    const a = await connected();
    const b = await connected();
    expect(a.config.secretToken).not.toBe(b.config.secretToken);
  });

  it('answers a bad token with an error status telling to check the token from @BotFather', async () => {
    const fake = new TelegramFake();
    const outcome = await telegram.setup!({ config: { token: '987654321:AAHsomeoneElsesTokenThatIsWrong_012345', apiBaseUrl: API }, fetch: fetcherFor(fake), webhookUrl: WEBHOOK });
    expect(outcome.status).toBe('error');
    expect(outcome.error).toMatch(/Unauthorized.*@BotFather/);
    expect(outcome.config).toBeUndefined();
    expect(fake.webhook).toBeNull();
  });

  it('answers a webhook URL Telegram refuses with an error status naming it', async () => {
    const fake = new TelegramFake();
    const outcome = await telegram.setup!({ config: { token: fake.token, apiBaseUrl: API }, fetch: fetcherFor(fake), webhookUrl: 'not a url' });
    expect(outcome).toEqual({ status: 'error', error: expect.stringContaining('bad webhook') });
  });

  it('deletes the webhook on teardown', async () => {
    const { fake, ctx } = await connected();
    await telegram.teardown!(ctx);
    expect(lastBody(fake, 'deleteWebhook')).toEqual({ drop_pending_updates: false });
    expect(fake.webhook).toBeNull();
  });

  it('reports a failed teardown by throwing, so the caller can log it', async () => {
    const { fake, ctx } = await connected();
    fake.failNext(1, { status: 500 });
    await expect(telegram.teardown!(ctx)).rejects.toThrow(/deleteWebhook failed: 500/);
  });
});

describe('telegram webhook secret', () => {
  it('accepts an update carrying the registered secret', async () => {
    const { fake, config } = await connected();
    expect(await telegram.verify(await inbound(fake.text(WEBHOOK, ANN, 'hi')), config)).toEqual({ ok: true });
  });

  it('refuses a wrong secret with 401', async () => {
    const { fake, config } = await connected();
    const verdict = await telegram.verify(await inbound(fake.text(WEBHOOK, ANN, 'hi')), { ...config, secretToken: 'another-secret-of-the-same-sort-0123456789a' });
    expect(verdict).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses a secret that is only a prefix of the right one', async () => {
    const { fake, config } = await connected();
    const request = fake.text(WEBHOOK, ANN, 'hi');
    request.headers.set('x-telegram-bot-api-secret-token', config.secretToken!.slice(0, 20));
    expect(await telegram.verify(await inbound(request), config)).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses an update without the secret header with 401', async () => {
    const { fake, config } = await connected();
    const request = fake.text(WEBHOOK, ANN, 'hi');
    request.headers.delete('x-telegram-bot-api-secret-token');
    expect(await telegram.verify(await inbound(request), config)).toEqual({ ok: false, status: 401, reason: 'Missing X-Telegram-Bot-Api-Secret-Token' });
  });

  it('refuses everything before setup stored a secret', async () => {
    const { fake, config } = await connected();
    const { secretToken: _, ...unset } = config;
    expect(await telegram.verify(await inbound(fake.text(WEBHOOK, ANN, 'hi')), unset)).toMatchObject({ ok: false, status: 401 });
  });

  it('has no timestamp to check: an update delivered a day late still passes (dedupe is by update_id)', async () => {
    const { fake, config } = await connected();
    expect(await telegram.verify(await inbound(fake.text(WEBHOOK, ANN, 'hi'), NOW + 86_400_000), config)).toEqual({ ok: true });
  });
});

describe('telegram inbound updates', () => {
  const parse = async (request: Request, config: TelegramConfig) => telegram.parse(await inbound(request), config);

  it('turns a private text message into a message from the chat, keyed by update_id', async () => {
    const { fake, config } = await connected();
    const request = fake.text(WEBHOOK, ANN, 'hello');
    const update = await request.clone().json<{ update_id: number }>();
    expect(await parse(request, config)).toEqual([
      {
        kind: 'message',
        channelMessageId: String(update.update_id),
        timestamp: Math.floor(NOW / 1000) * 1000,
        user: {
          externalId: '1111111',
          displayName: 'Ann Lee',
          givenName: 'Ann',
          surname: 'Lee',
          locale: 'en',
          info: { username: 'ann', languageCode: 'en' },
          raw: { id: 1111111, is_bot: false, first_name: 'Ann', last_name: 'Lee', username: 'ann', language_code: 'en' },
        },
        content: { type: 'text', text: 'hello' },
      },
    ]);
  });

  it('gives update ids that increase, so redeliveries and new updates are told apart', async () => {
    const { fake, config } = await connected();
    const [a] = await parse(fake.text(WEBHOOK, ANN, 'one'), config);
    const [b] = await parse(fake.text(WEBHOOK, ANN, 'two'), config);
    expect(Number((b as { channelMessageId: string }).channelMessageId)).toBeGreaterThan(Number((a as { channelMessageId: string }).channelMessageId));
  });

  it('addresses a group message to the group chat, named by its title, keeping the author in raw', async () => {
    const { fake, config } = await connected();
    const [event] = await parse(fake.text(WEBHOOK, ANN, 'hola', { chat: GROUP }), config);
    expect(event).toMatchObject({ kind: 'message', user: { externalId: '-100200300', displayName: 'Taco Friends', raw: { id: 1111111 } } });
    expect(event!.user.givenName).toBeUndefined();
  });

  it('takes the largest size of a photo, with its caption as text', async () => {
    const { fake, config } = await connected();
    const request = fake.photo(WEBHOOK, ANN, { caption: 'my cat' });
    const sizes = (await request.clone().json<{ message: { photo: { file_id: string }[] } }>()).message.photo;
    const [event] = await parse(request, config);
    expect(event).toMatchObject({ kind: 'message', content: { type: 'media', text: 'my cat', media: { kind: 'image', ref: sizes[2]!.file_id, mimeType: 'image/jpeg' } } });
  });

  it.each([
    ['document', 'file', { mimeType: 'application/pdf', fileName: 'report.pdf' }],
    ['video', 'video', { mimeType: 'video/mp4', fileName: 'clip.mp4' }],
    ['audio', 'audio', { mimeType: 'audio/mpeg', fileName: 'song.mp3' }],
    ['voice', 'audio', { mimeType: 'audio/ogg' }],
  ] as const)('carries a %s as %s media with its file_id, mime type, name and size', async (field, kind, expected) => {
    const { fake, config } = await connected();
    const request = fake[field](WEBHOOK, ANN, { caption: 'see this', bytes: new Uint8Array([1, 2, 3]) });
    const fileId = (await request.clone().json<{ message: Record<string, { file_id: string }> }>()).message[field]!.file_id;
    const [event] = await parse(request, config);
    expect(event).toMatchObject({ kind: 'message', content: { type: 'media', text: 'see this', media: { kind, ref: fileId, size: 3, ...expected } } });
    if (field === 'voice') expect((event as { content: { media: { fileName?: string } } }).content.media.fileName).toBeUndefined();
  });

  it('reads an animation as video, not as the document it also carries', async () => {
    const { fake, config } = await connected();
    const [event] = await parse(fake.animation(WEBHOOK, ANN), config);
    expect(event).toMatchObject({ content: { type: 'media', media: { kind: 'video', mimeType: 'video/mp4' } } });
  });

  it('reads a sticker as an image, an animated one as a file and a video sticker as video', async () => {
    const { fake, config } = await connected();
    const kinds = [];
    for (const options of [{}, { animated: true }, { video: true }]) {
      const [event] = await parse(fake.sticker(WEBHOOK, ANN, options), config);
      kinds.push((event as { content: { media: { kind: string } } }).content.media.kind);
    }
    expect(kinds).toEqual(['image', 'file', 'video']);
  });

  it('reads a shared location', async () => {
    const { fake, config } = await connected();
    const [event] = await parse(fake.location(WEBHOOK, ANN, 48.8584, 2.2945), config);
    expect(event).toMatchObject({ kind: 'message', content: { type: 'location', lat: 48.8584, long: 2.2945 } });
  });

  it('reads a venue as a location with its name and address', async () => {
    const { fake, config } = await connected();
    const [event] = await parse(fake.venue(WEBHOOK, ANN, { latitude: 48.8584, longitude: 2.2945, title: 'Eiffel Tower', address: 'Champ de Mars, Paris' }), config);
    expect((event as { content: unknown }).content).toEqual({ type: 'location', lat: 48.8584, long: 2.2945, name: 'Eiffel Tower', address: 'Champ de Mars, Paris' });
  });

  it('reads a shared contact as text "name phone"', async () => {
    const { fake, config } = await connected();
    const [event] = await parse(fake.contact(WEBHOOK, ANN, { phone_number: '+33612345678', first_name: 'Bob', last_name: 'Martin', user_id: 2222 }), config);
    expect((event as { content: unknown }).content).toEqual({ type: 'text', text: 'Bob Martin +33612345678' });
  });

  it('turns a tap on an inline button into a postback with its payload and label', async () => {
    const { fake, ctx, config } = await connected();
    await telegram.send(ctx, ann, text('Pick one', { buttons: [{ kind: 'postback', text: 'Tacos', payload: 'TACOS', choice: 1 }] }));
    const request = fake.tap(WEBHOOK, ANN, 'Tacos');
    const update = await request.clone().json<{ update_id: number }>();
    expect(await parse(request, config)).toEqual([
      {
        kind: 'postback',
        channelMessageId: String(update.update_id),
        payload: 'TACOS',
        text: 'Tacos',
        user: expect.objectContaining({ externalId: '1111111', displayName: 'Ann Lee' }),
      },
    ]);
  });

  it('turns a tap on a button sent as #N back into choice N', async () => {
    const { fake, ctx, config } = await connected();
    const long = 'x'.repeat(65);
    await telegram.send(ctx, ann, text('Pick one', { buttons: [{ kind: 'postback', text: 'Long one', payload: long, choice: 2 }] }));
    const [event] = await parse(fake.tap(WEBHOOK, ANN, 'Long one'), config);
    expect(event).toMatchObject({ kind: 'postback', choice: 2, text: 'Long one' });
    expect(event).not.toHaveProperty('payload');
  });

  it('sends a reply-keyboard tap as the plain text message Telegram makes of it', async () => {
    const { fake, ctx, config } = await connected();
    await telegram.send(ctx, ann, text('Hungry?', { replies: [{ text: 'Yes', payload: 'YES', choice: 1 }] }));
    const [event] = await parse(fake.tap(WEBHOOK, ANN, 'Yes'), config);
    expect(event).toMatchObject({ kind: 'message', content: { type: 'text', text: 'Yes' } });
  });

  it('ignores edits, messages from bots, and service messages', async () => {
    const { fake, config } = await connected();
    expect(await parse(fake.editedMessage(WEBHOOK, ANN, 'hello (edited)'), config)).toEqual([]);
    expect(await parse(fake.text(WEBHOOK, { id: 777, first_name: 'Other', is_bot: true }, 'beep'), config)).toEqual([]);
    const service = { update_id: fake.nextUpdateId(), message: { message_id: 9, date: 1, chat: GROUP, from: ANN, new_chat_members: [ANN] } };
    expect(await parse(fake.update(WEBHOOK, service), config)).toEqual([]);
  });

  it('throws a 400 naming what is malformed', async () => {
    const { fake, config } = await connected();
    await expect(parse(fake.update(WEBHOOK, 'not json'), config)).rejects.toMatchObject({ status: 400, message: 'Telegram update is not valid JSON' });
    await expect(parse(fake.update(WEBHOOK, { message: {} }), config)).rejects.toMatchObject({ status: 400, message: 'Telegram update update_id: is required' });
    await expect(parse(fake.update(WEBHOOK, { update_id: 1, message: { message_id: 1, date: 1, text: 'hi' } }), config)).rejects.toMatchObject({
      status: 400,
      message: 'Telegram update message.chat: is required',
    });
  });
});

describe('telegram after an inbound update', () => {
  it('answers a callback query so the button stops spinning', async () => {
    const { fake, ctx } = await connected();
    const request = fake.callbackQuery(WEBHOOK, ANN, 'TACOS');
    const id = (await request.clone().json<{ callback_query: { id: string } }>()).callback_query.id;
    await telegram.afterInbound!(ctx, await inbound(request));
    expect(lastBody(fake, 'answerCallbackQuery')).toEqual({ callback_query_id: id });
    expect(fake.answered.has(id)).toBe(true);
  });

  it('calls nothing for a plain message', async () => {
    const { fake, ctx } = await connected();
    await telegram.afterInbound!(ctx, await inbound(fake.text(WEBHOOK, ANN, 'hi')));
    expect(fake.callsTo('answerCallbackQuery')).toEqual([]);
  });
});

describe('telegram media download', () => {
  it('downloads a file by file_id through getFile and the file path', async () => {
    const { fake, ctx, config } = await connected();
    const bytes = new TextEncoder().encode('%PDF-1.7 fake');
    const [event] = telegram.parse(await inbound(fake.document(WEBHOOK, ANN, { bytes })), config);
    const ref = (event as { content: { media: { ref: string } } }).content.media.ref;
    const response = await telegram.fetchMedia!(ctx, ref);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    expect(response.headers.get('content-type')).toBe('application/pdf');
    expect(fake.callsTo('getFile')[0]!.body).toEqual({ file_id: ref });
    expect(fake.callsTo('file')[0]!.path).toMatch(new RegExp(`^/file/bot${fake.token}/documents/`));
  });

  it('throws a clear error for a file Telegram does not know', async () => {
    const { ctx } = await connected();
    await expect(telegram.fetchMedia!(ctx, 'no-such-file')).rejects.toThrow('Telegram getFile failed: 400 Bad Request: invalid file_id');
  });
});

describe('telegram sending', () => {
  it('sends text with sendMessage and returns the per-chat message id', async () => {
    const { fake, ctx } = await connected();
    expect(await telegram.send(ctx, ann, text('Hello!'))).toEqual({ ok: true, channelMessageId: '1' });
    expect(await telegram.send(ctx, ann, text('Again'))).toEqual({ ok: true, channelMessageId: '2' });
    expect(lastBody(fake, 'sendMessage')).toEqual({ chat_id: '1111111', text: 'Again' });
  });

  it('sends rich text as Telegram HTML when the part carries html', async () => {
    const { fake, ctx } = await connected();
    const outcome = await telegram.send(ctx, ann, text('Hi you', { html: '<p>Hi <strong>you</strong><br><em>there</em></p>' }));
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake, 'sendMessage')).toEqual({ chat_id: '1111111', text: 'Hi <b>you</b>\n<i>there</i>', parse_mode: 'HTML' });
  });

  it('falls back to the plain text when Telegram cannot parse the HTML', async () => {
    const { fake, ctx } = await connected();
    const outcome = await telegram.send(ctx, ann, text('bold start', { html: '<b>bold <i>start</b></i>' }));
    expect(outcome).toEqual({ ok: true, channelMessageId: '1' });
    expect(fake.callsTo('sendMessage').map((c) => c.status)).toEqual([400, 200]);
    expect(lastBody(fake, 'sendMessage')).toEqual({ chat_id: '1111111', text: 'bold start' });
  });

  it('puts postback and link buttons in an inline keyboard, one per row', async () => {
    const { fake, ctx } = await connected();
    await telegram.send(
      ctx,
      ann,
      text('Menu', {
        buttons: [
          { kind: 'postback', text: 'Tacos', payload: 'TACOS', choice: 1 },
          { kind: 'link', text: 'Website', uri: 'https://example.org/menu' },
          { kind: 'postback', text: 'Big order', payload: 'ORDER:' + 'é'.repeat(32), choice: 3 },
          { kind: 'postback', text: 'Tricky', payload: '#7', choice: 4 },
        ],
      }),
    );
    expect(lastBody(fake, 'sendMessage').reply_markup).toEqual({
      inline_keyboard: [
        [{ text: 'Tacos', callback_data: 'TACOS' }],
        [{ text: 'Website', url: 'https://example.org/menu' }],
        // 70 bytes of UTF-8 do not fit in callback_data; a payload that looks like "#N" would be misread.
        [{ text: 'Big order', callback_data: '#3' }],
        [{ text: 'Tricky', callback_data: '#4' }],
      ],
    });
  });

  it('offers quick replies and a location request on a one-time reply keyboard', async () => {
    const { fake, ctx } = await connected();
    await telegram.send(
      ctx,
      ann,
      text('Where are you?', {
        buttons: [{ kind: 'locationRequest', text: 'Send my location' }],
        replies: [
          { text: 'At home', payload: 'HOME', choice: 1 },
          { text: 'At work', payload: 'WORK', choice: 2 },
        ],
      }),
    );
    expect(lastBody(fake, 'sendMessage').reply_markup).toEqual({
      keyboard: [[{ text: 'At home' }], [{ text: 'At work' }], [{ text: 'Send my location', request_location: true }]],
      one_time_keyboard: true,
      resize_keyboard: true,
    });
  });

  it('carries quick replies as #N inline buttons when the message also has buttons (one reply_markup per message)', async () => {
    const { fake, ctx } = await connected();
    await telegram.send(ctx, ann, text('Order?', { buttons: [{ kind: 'postback', text: 'Menu', payload: 'MENU', choice: 1 }], replies: [{ text: 'Later', payload: 'LATER', choice: 2 }] }));
    expect(lastBody(fake, 'sendMessage').reply_markup).toEqual({ inline_keyboard: [[{ text: 'Menu', callback_data: 'MENU' }], [{ text: 'Later', callback_data: '#2' }]] });
  });

  it.each([
    ['image', 'sendPhoto', 'photo'],
    ['file', 'sendDocument', 'document'],
    ['video', 'sendVideo', 'video'],
    ['audio', 'sendAudio', 'audio'],
  ] as const)('sends %s media with %s by URL, with caption and buttons', async (media, method, field) => {
    const { fake, ctx } = await connected();
    const url = `https://cdn.example.org/${field}.bin`;
    const outcome = await telegram.send(ctx, ann, {
      kind: 'media',
      media,
      url,
      caption: 'Look',
      buttons: [{ kind: 'link', text: 'Open', uri: 'https://example.org' }],
      replies: [],
    });
    expect(outcome).toEqual({ ok: true, channelMessageId: '1' });
    expect(lastBody(fake, method)).toEqual({ chat_id: '1111111', [field]: url, caption: 'Look', reply_markup: { inline_keyboard: [[{ text: 'Open', url: 'https://example.org' }]] } });
  });

  it('sends media without caption or markup when there is none', async () => {
    const { fake, ctx } = await connected();
    await telegram.send(ctx, ann, { kind: 'media', media: 'image', url: 'https://cdn.example.org/a.jpg', buttons: [], replies: [{ text: 'Nice', payload: 'NICE', choice: 1 }] });
    expect(lastBody(fake, 'sendPhoto')).toEqual({
      chat_id: '1111111',
      photo: 'https://cdn.example.org/a.jpg',
      reply_markup: { keyboard: [[{ text: 'Nice' }]], one_time_keyboard: true, resize_keyboard: true },
    });
  });

  it('sends a bare location with sendLocation and a named one with sendVenue', async () => {
    const { fake, ctx } = await connected();
    await telegram.send(ctx, ann, { kind: 'location', lat: 45.5, long: -73.6 });
    expect(lastBody(fake, 'sendLocation')).toEqual({ chat_id: '1111111', latitude: 45.5, longitude: -73.6 });
    await telegram.send(ctx, ann, { kind: 'location', lat: 45.5, long: -73.6, name: 'Our shop', address: '1 Main St' });
    expect(lastBody(fake, 'sendVenue')).toEqual({ chat_id: '1111111', latitude: 45.5, longitude: -73.6, title: 'Our shop', address: '1 Main St' });
    const outcome = await telegram.send(ctx, ann, { kind: 'location', lat: 45.5, long: -73.6, name: 'Our shop' });
    expect(outcome.ok).toBe(true);
    expect(lastBody(fake, 'sendVenue')).toMatchObject({ title: 'Our shop', address: '45.5, -73.6' });
  });

  it('sends a native payload as the Bot API call it names, addressed to the recipient', async () => {
    const { fake, ctx } = await connected();
    const outcome = await telegram.send(ctx, ann, { kind: 'native', payload: { method: 'sendVenue', latitude: 1, longitude: 2, title: 'T', address: 'A', chat_id: 'ignored' } });
    expect(outcome).toEqual({ ok: true, channelMessageId: '1' });
    expect(lastBody(fake, 'sendVenue')).toEqual({ latitude: 1, longitude: 2, title: 'T', address: 'A', chat_id: '1111111' });
    await telegram.send(ctx, ann, { kind: 'native', payload: { text: '<u>raw</u>', parse_mode: 'HTML' } });
    expect(lastBody(fake, 'sendMessage')).toEqual({ text: '<u>raw</u>', parse_mode: 'HTML', chat_id: '1111111' });
  });

  it('refuses a native payload that is not an object, and parts it never declared', async () => {
    const { fake, ctx } = await connected();
    expect(await telegram.send(ctx, ann, { kind: 'native', payload: 'hi' })).toMatchObject({ ok: false, retryable: false, code: 'invalid_native_payload' });
    expect(await telegram.send(ctx, ann, { kind: 'native', payload: { method: '../getMe' } })).toMatchObject({ ok: false, retryable: false, code: 'invalid_native_payload' });
    expect(await telegram.send(ctx, ann, { kind: 'carousel', cards: [] })).toMatchObject({ ok: false, retryable: false, code: 'unsupported_part' });
    expect(fake.calls.filter((c) => c.method.startsWith('send'))).toEqual([]);
  });

  it('shows typing with sendChatAction, and does nothing to stop it', async () => {
    const { fake, ctx } = await connected();
    await telegram.typing!(ctx, ann, true);
    await telegram.typing!(ctx, ann, false);
    expect(fake.callsTo('sendChatAction').map((c) => c.body)).toEqual([{ chat_id: '1111111', action: 'typing' }]);
  });
});

describe('telegram send failures', () => {
  it('makes flood control retryable after parameters.retry_after', async () => {
    const { fake, ctx } = await connected();
    fake.rateLimitNext(35);
    expect(await telegram.send(ctx, ann, text('hi'))).toEqual({ ok: false, retryable: true, code: '429', message: 'Too Many Requests: retry after 35', retryAfterMs: 35_000 });
  });

  it('retries Telegram 5xx answers and proxy error pages', async () => {
    const { fake, ctx } = await connected();
    fake.failNext(1, { status: 502, body: { ok: false, error_code: 502, description: 'Bad Gateway' } });
    expect(await telegram.send(ctx, ann, text('hi'))).toEqual({ ok: false, retryable: true, code: '502', message: 'Bad Gateway' });
    fake.failNext(1, { status: 503, body: '<html>Service Unavailable</html>', headers: { 'content-type': 'text/html', 'retry-after': '7' } });
    expect(await telegram.send(ctx, ann, text('hi'))).toEqual({ ok: false, retryable: true, code: 'http_503', message: 'Telegram answered HTTP 503', retryAfterMs: 7000 });
  });

  it('retries network faults and timeouts', async () => {
    const { ctx } = await connected();
    const down = { ...ctx, fetch: (async () => Promise.reject(new TypeError('connection refused'))) as typeof fetch };
    expect(await telegram.send(down, ann, text('hi'))).toMatchObject({ ok: false, retryable: true, code: 'network_error' });
    const slow = { ...ctx, fetch: (async () => Promise.reject(new DOMException('The operation timed out', 'TimeoutError'))) as typeof fetch };
    expect(await telegram.send(slow, ann, text('hi'))).toMatchObject({ ok: false, retryable: true, code: 'timeout' });
  });

  it('gives up on a user who blocked the bot, with Telegram code 403', async () => {
    const { fake, ctx } = await connected();
    fake.blockUser(ANN.id);
    expect(await telegram.send(ctx, ann, text('hi'))).toEqual({ ok: false, retryable: false, code: '403', message: 'Forbidden: bot was blocked by the user' });
  });

  it('gives up on bad requests and a revoked token', async () => {
    const { ctx } = await connected();
    expect(await telegram.send(ctx, { externalId: '@nobody' }, text('hi'))).toEqual({ ok: false, retryable: false, code: '400', message: 'Bad Request: chat not found' });
    const revoked = { ...ctx, config: { ...ctx.config, token: '123456789:AAHrevokedTokenRevokedTokenRevoked_01' } };
    expect(await telegram.send(revoked, ann, text('hi'))).toEqual({ ok: false, retryable: false, code: '401', message: 'Unauthorized' });
  });

  it('names the new chat when a group became a supergroup', async () => {
    const { fake, ctx } = await connected();
    fake.failNext(1, { status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: group chat was upgraded to a supergroup chat', parameters: { migrate_to_chat_id: -1001234 } } });
    expect(await telegram.send(ctx, { externalId: '-1234' }, text('hi'))).toMatchObject({ retryable: false, code: '400', message: expect.stringContaining('-1001234') });
  });
});

describe('telegram HTML reduction', () => {
  it('keeps the tags Telegram knows, renames their synonyms and strips the rest', () => {
    expect(toTelegramHtml('<div>Hi <strong>you</strong>&nbsp;<em>there</em><br/><a href="https://x.example/?a=1&amp;b=2" target="_blank">link</a> <span style="x">plain</span> <code>c &lt; d</code> R&D</div>')).toBe(
      'Hi <b>you</b> <i>there</i>\n<a href="https://x.example/?a=1&amp;b=2">link</a> plain <code>c &lt; d</code> R&amp;D',
    );
  });
});

describe('telegram fake', () => {
  it('answers a wrong token and an unknown method like the real API', async () => {
    const fake = new TelegramFake();
    const bad = await fake.fetch(new Request(`${API}/bot1:wrong/getMe`));
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ ok: false, error_code: 401, description: 'Unauthorized' });
    const unknown = await fake.fetch(new Request(`${API}/bot${fake.token}/sendTelepathy`, { method: 'POST' }));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ ok: false, error_code: 404, description: 'Not Found' });
  });

  it('accepts form bodies with JSON-serialized markup, as the real API does', async () => {
    const fake = new TelegramFake();
    const form = new URLSearchParams({ chat_id: '42', text: 'hi', reply_markup: JSON.stringify({ inline_keyboard: [[{ text: 'A', callback_data: 'a' }]] }) });
    const response = await fake.fetch(new Request(`${API}/bot${fake.token}/sendMessage`, { method: 'POST', body: form }));
    const body = await response.json<{ ok: boolean; result: { message_id: number; chat: { id: number }; reply_markup: unknown } }>();
    expect(body.ok).toBe(true);
    expect(body.result).toMatchObject({ message_id: 1, chat: { id: 42 }, reply_markup: { inline_keyboard: [[{ text: 'A', callback_data: 'a' }]] } });
    expect(fake.calls[0]!.body).toEqual(Object.fromEntries(form));
  });

  it('redelivers an update until the webhook answers 2xx, recording the error for getWebhookInfo', async () => {
    const { fake, config } = await connected();
    const statuses = [500, 503, 200];
    const waits: number[] = [];
    const received: InboundRequest[] = [];
    const delivery = await fake.deliver(fake.text(WEBHOOK, ANN, 'hi'), {
      fetch: async (request) => {
        received.push(await inbound(request));
        return new Response(null, { status: statuses.shift()! });
      },
      sleep: async (ms) => void waits.push(ms),
    });
    expect(delivery).toEqual({ delivered: true, attempts: 3, statuses: [500, 503, 200] });
    expect(waits).toEqual([1000, 2000]);
    // Every redelivery is the same update: same bytes, same secret, same update_id.
    for (const r of received) expect(await telegram.verify(r, config)).toEqual({ ok: true });
    expect(new Set(received.map((r) => new TextDecoder().decode(r.raw))).size).toBe(1);
    const info = await (await fake.fetch(new Request(`${API}/bot${fake.token}/getWebhookInfo`))).json<{ result: Record<string, unknown> }>();
    expect(info.result).toMatchObject({ url: WEBHOOK, pending_update_count: 0, last_error_message: expect.stringMatching(/^Wrong response from the webhook: 503/) });
  });

  it('gives up after the bounded number of attempts', async () => {
    const fake = new TelegramFake();
    const delivery = await fake.deliver(fake.text(WEBHOOK, ANN, 'hi'), { fetch: async () => new Response(null, { status: 500 }), attempts: 3, sleep: async () => {} });
    expect(delivery).toEqual({ delivered: false, attempts: 3, statuses: [500, 500, 500] });
  });

  it("holds back a chat's later updates while an earlier one is being redelivered", async () => {
    const fake = new TelegramFake();
    const order: string[] = [];
    let firstAttempt = true;
    const fetch = async (request: Request) => {
      const body = await request.json<{ message: { text: string } }>();
      order.push(body.message.text);
      if (body.message.text === 'one' && firstAttempt) {
        firstAttempt = false;
        return new Response(null, { status: 500 });
      }
      return new Response(null, { status: 200 });
    };
    const options = { fetch, sleep: async () => {} };
    await Promise.all([fake.deliver(fake.text(WEBHOOK, ANN, 'one'), options), fake.deliver(fake.text(WEBHOOK, ANN, 'two'), options)]);
    expect(order).toEqual(['one', 'one', 'two']);
  });
});
