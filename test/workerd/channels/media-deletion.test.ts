/**
 * A channel user's media goes with them, as web uploads do: deleting the user,
 * scrubbing their personal information or deleting the app removes the copies
 * from R2, and the `/media` URL then answers 404 without downloading the file
 * from the channel again, whether or not Parley had copied it yet.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAccount, call, newApp } from '../helpers';
import { TelegramFake, type TelegramUser } from '../../fakes/telegram';
import { eventually, hook, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://telegram.test';
const fake = new TelegramFake({ webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;

beforeAll(() => {
  const spy = routeFetch({ [API]: fake, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
});

afterAll(() => restore());

async function telegramApp(name: string) {
  const app = await newApp(name);
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'telegram', token: fake.token, apiBaseUrl: API });
  expect(res.status).toBe(201);
  return { ...app, webhookUrl: res.body.integration.webhookUrl as string };
}

let userCounter = 7500;
const newTelegramUser = (): TelegramUser => ({ id: ++userCounter, first_name: `User${userCounter}` });

const sha256Hex = async (s: string) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)))].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Every R2 key holding a copy of this media URL's file, whatever the key layout. */
async function copiesOf(mediaUrl: string): Promise<string[]> {
  const hash = await sha256Hex(new URL(mediaUrl).pathname.split('/')[3]!);
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.ATTACHMENTS.list({ prefix: 'media/', ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key).filter((k) => k.endsWith(`/${hash}`)));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys;
}

const downloads = () => fake.calls.filter((c) => c.method === 'file' || c.method.toLowerCase() === 'getfile').length;

/** The user sends a document; returns its Parley URL and user id once Parley has copied the file into R2. */
async function sendDocument(app: { webhookUrl: string }, user: TelegramUser, fileName: string) {
  expect((await hook(fake.document(app.webhookUrl, user, { mimeType: 'application/pdf', fileName }))).status).toBe(200);
  const message = await eventually(() => {
    const e = receiver.ofType('conversation:message').find((ev) => (ev.payload.message as { content: { altText?: string } }).content.altText === fileName);
    if (!e) throw new Error('not stored yet');
    return e.payload.message as { author: { userId: string }; content: { mediaUrl: string } };
  });
  const mediaUrl = message.content.mediaUrl;
  await eventually(async () => expect(await copiesOf(mediaUrl)).toHaveLength(1));
  return { mediaUrl, userId: message.author.userId };
}

/** As if the copy after the webhook had failed: only the first GET would download the file. */
async function uncopied(mediaUrl: string): Promise<void> {
  await env.ATTACHMENTS.delete(await copiesOf(mediaUrl));
}

/** The URL is dead: 404, nothing in R2, and nothing downloaded from the channel to answer it. */
async function expectGone(mediaUrl: string): Promise<void> {
  const before = downloads();
  const res = await hook(new Request(mediaUrl));
  expect(res.status).toBe(404);
  await res.arrayBuffer();
  expect(downloads()).toBe(before);
  expect(await copiesOf(mediaUrl)).toEqual([]);
}

const served = async (mediaUrl: string) => {
  const res = await hook(new Request(mediaUrl));
  await res.arrayBuffer();
  return res.status;
};

describe("a channel user's media goes with them", () => {
  it('deleting the user deletes their copied and not yet copied media, and no GET downloads it again', async () => {
    const app = await telegramApp('media: user delete');
    const [gone, stays] = [newTelegramUser(), newTelegramUser()];
    const copied = await sendDocument(app, gone, 'gone-copied.pdf');
    const lazy = await sendDocument(app, gone, 'gone-lazy.pdf');
    const other = await sendDocument(app, stays, 'stays.pdf');
    await uncopied(lazy.mediaUrl);
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${copied.userId}`, app.auth)).status).toBe(200);
    await expectGone(copied.mediaUrl);
    await expectGone(lazy.mediaUrl);
    expect(await served(other.mediaUrl)).toBe(200);
  });

  it('a deleted user who writes again is a new user, and the media they send now is theirs and served', async () => {
    const app = await telegramApp('media: user returns');
    const person = newTelegramUser();
    const before = await sendDocument(app, person, 'before-delete.pdf');
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${before.userId}`, app.auth)).status).toBe(200);
    const after = await sendDocument(app, person, 'after-delete.pdf');
    expect(after.userId).not.toBe(before.userId);
    expect(await served(after.mediaUrl)).toBe(200);
  });

  it('scrubbing personal information deletes the media sent before it, and no GET downloads it again; media sent after it is served', async () => {
    const app = await telegramApp('media: scrub');
    const [scrubbed, stays] = [newTelegramUser(), newTelegramUser()];
    const copied = await sendDocument(app, scrubbed, 'scrubbed-copied.pdf');
    const lazy = await sendDocument(app, scrubbed, 'scrubbed-lazy.pdf');
    const other = await sendDocument(app, stays, 'scrub-stays.pdf');
    await uncopied(lazy.mediaUrl);
    expect((await call('DELETE', `/v2/apps/${app.appId}/users/${copied.userId}/personalinformation`, app.auth)).status).toBe(200);
    await expectGone(copied.mediaUrl);
    await expectGone(lazy.mediaUrl);
    expect(await served(other.mediaUrl)).toBe(200);
    // A URL made in the scrub's own millisecond counts as before it; a moment later is after.
    await new Promise((r) => setTimeout(r, 5));
    const later = await sendDocument(app, scrubbed, 'after-scrub.pdf');
    expect(later.userId).toBe(copied.userId);
    expect(await served(later.mediaUrl)).toBe(200);
  });

  it('deleting the app deletes all its channel media, and no GET downloads it again', async () => {
    const app = await telegramApp('media: app delete');
    const copied = await sendDocument(app, newTelegramUser(), 'app-copied.pdf');
    const lazy = await sendDocument(app, newTelegramUser(), 'app-lazy.pdf');
    await uncopied(lazy.mediaUrl);
    expect((await call('DELETE', `/v2/apps/${app.appId}`, asAccount)).status).toBe(200);
    await expectGone(copied.mediaUrl);
    await expectGone(lazy.mediaUrl);
  });
});
