/**
 * X media sends (twitter-media.ts) against the X fake: resuming an upload X
 * already holds, waiting for processing as X says, streaming a download into
 * the APPEND calls, and sending the link for what X will not take. The first
 * case is the review of 5f598b7 (moved from test/workerd/review/x-media-retry.test.ts).
 */
import * as v from 'valibot';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChannelContext, Part } from '../../../src/channels/adapter';
import { twitter, type TwitterConfig } from '../../../src/channels/twitter';
import { CHUNK_BYTES, PROCESSING_DEADLINE_MS, UNSTATED_MAX_BYTES } from '../../../src/channels/twitter-media';
import { FileHost, TwitterFake } from '../../fakes/twitter';

const API = 'https://api.twitter.test';
const WEBHOOK = 'https://parley.test/hooks/int_twitter';
const ANN = '9007199254740993';
const MB = 1024 * 1024;

type Fetch = typeof globalThis.fetch;

/** An account set up through the adapter; `route` may answer a request before the fake or the file host does. */
async function connected(route?: (request: Request, fake: TwitterFake, files: FileHost) => Promise<Response | undefined>) {
  let config: TwitterConfig | undefined;
  const fake = new TwitterFake({ origin: API, webhookFetch: async (request) => twitter.handshake!(new URL(request.url), config!) });
  const files = new FileHost();
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const routed = await route?.(request, fake, files);
    if (routed) return routed;
    return new URL(request.url).origin === files.origin ? files.fetch(request) : fake.fetch(request);
  }) as Fetch;
  config = v.parse(twitter.createSchema, { tier: 'enterprise', consumerKey: fake.consumerKey, consumerSecret: fake.consumerSecret, accessTokenKey: fake.accessToken, accessTokenSecret: fake.accessTokenSecret, apiBaseUrl: API });
  const setup = await twitter.setup!({ config, fetch, webhookUrl: WEBHOOK });
  expect(setup).toMatchObject({ status: 'active' });
  config = { ...config, ...setup.config };
  const ctx: ChannelContext<TwitterConfig> = { config, fetch, webhookUrl: WEBHOOK };
  return { fake, files, ctx };
}

const media = (url: string, extra: Partial<Extract<Part, { kind: 'media' }>> = {}): Part => ({ kind: 'media', media: 'image', url, buttons: [], replies: [], ...extra });
const isStatus = (request: Request) => request.method === 'GET' && new URL(request.url).pathname === '/2/media/upload' && new URL(request.url).searchParams.get('command') === 'STATUS';

/** A download whose body is made `chunk` bytes at a time as it is read, counting what was read and whether it was cancelled. */
function streamed(total: number, headers: Record<string, string>, chunk = 256 * 1024) {
  const seen = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const n = Math.min(chunk, total - seen.pulled);
        if (n <= 0) return controller.close();
        seen.pulled += n;
        controller.enqueue(new Uint8Array(n).fill(7));
      },
      cancel() {
        seen.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { seen, response: () => new Response(body, { headers }) };
}

describe('X video still processing after the status checks', () => {
  it('a retry re-uses the media X already holds instead of uploading the whole file again', async () => {
    let processing = true;
    const { fake, files, ctx } = await connected(async (request, fake) => {
      // X still processing a large video: in_progress, check again at once (check_after_secs 0 keeps the test fast).
      if (processing && isStatus(request)) {
        await fake.fetch(request);
        return Response.json({ data: { id: new URL(request.url).searchParams.get('media_id'), processing_info: { state: 'in_progress', check_after_secs: 0, progress_percent: 40 } } });
      }
      return undefined;
    });
    const video = new Uint8Array(3 * CHUNK_BYTES + 17).fill(1);
    const url = files.add('ad.mp4', video, 'video/mp4');
    const part: Part = { kind: 'media', media: 'video', url, buttons: [], replies: [] };
    const to = { externalId: ANN, deliveryKey: 'msg_1:client_1:0' };

    const first = await twitter.send(ctx, to, part);
    expect(first).toMatchObject({ ok: false, retryable: true, code: 'media_processing' });
    expect(fake.callsTo('/2/media/upload/initialize')).toHaveLength(1);
    expect(fake.callsTo(/\/append$/)).toHaveLength(4);

    // X finishes processing; the delivery is retried.
    processing = false;
    const second = await twitter.send(ctx, to, part);
    expect(second).toMatchObject({ ok: true });
    // The defect: a second initialize and four more appends (and a second 3 MiB download) for a file X already holds.
    expect(files.gets).toHaveLength(1);
    expect(fake.callsTo('/2/media/upload/initialize')).toHaveLength(1);
    expect(fake.callsTo(/\/append$/)).toHaveLength(4);
    expect(fake.sent.get(ANN)!.at(-1)!.media!.bytes.byteLength).toBe(video.byteLength);
  });

  it('a DM that failed after the upload is retried with the same media id; another delivery part uploads its own', async () => {
    const { fake, files, ctx } = await connected();
    const url = files.add('menu.png', new Uint8Array(1000).fill(3), 'image/png');
    fake.failNext(1);
    expect(await twitter.send(ctx, { externalId: ANN, deliveryKey: 'msg_2:client_1:0' }, media(url))).toMatchObject({ ok: false, retryable: true });
    expect(await twitter.send(ctx, { externalId: ANN, deliveryKey: 'msg_2:client_1:0' }, media(url))).toMatchObject({ ok: true });
    expect(fake.callsTo('/2/media/upload/initialize')).toHaveLength(1);
    expect(fake.callsTo(/^\/2\/media\/upload/).filter((c) => c.method === 'GET')).toHaveLength(0);
    expect(await twitter.send(ctx, { externalId: ANN, deliveryKey: 'msg_3:client_1:0' }, media(url))).toMatchObject({ ok: true });
    expect(fake.callsTo('/2/media/upload/initialize')).toHaveLength(2);
    expect(files.gets).toHaveLength(2);
  });
});

describe('X processing: check_after_secs and the deadline', () => {
  afterEach(() => void vi.useRealTimers());

  /** Runs `send` on fake time, advancing a second at a time until it settles; returns its outcome and the fake seconds of each STATUS call. */
  async function onFakeTime(answer: (check: number) => unknown) {
    let start = 0;
    const statusAt: number[] = [];
    const { fake, files, ctx } = await connected(async (request, fake) => {
      if (!isStatus(request)) return undefined;
      statusAt.push((Date.now() - start) / 1000);
      await fake.fetch(request);
      return Response.json({ data: { id: new URL(request.url).searchParams.get('media_id'), processing_info: answer(statusAt.length) } });
    });
    const url = files.add('clip.mp4', new Uint8Array(2000).fill(5), 'video/mp4');
    vi.useFakeTimers({ toFake: ['setTimeout', 'Date'] });
    start = Date.now();
    let outcome: unknown;
    const sending = twitter.send(ctx, { externalId: ANN, deliveryKey: `msg_${crypto.randomUUID()}:client_1:0` }, media(url, { media: 'video' })).then((o) => (outcome = o));
    for (let s = 0; outcome === undefined && s < 3600; s++) await vi.advanceTimersByTimeAsync(1000);
    await sending;
    return { outcome, statusAt, fake, elapsed: (Date.now() - start) / 1000 };
  }

  it('waits as long as X says between STATUS checks (30 s here), past six checks, and attaches the video', async () => {
    const { outcome, statusAt, fake } = await onFakeTime((n) => (n < 8 ? { state: 'in_progress', check_after_secs: 30 } : { state: 'succeeded' }));
    expect(outcome).toMatchObject({ ok: true });
    // The fake's finalize says check after 1 s; each STATUS then says 30 s.
    expect(statusAt).toEqual([1, 31, 61, 91, 121, 151, 181, 211]);
    expect(fake.sent.get(ANN)!.at(-1)!.media).toBeDefined();
  });

  it('gives up at the 5-minute deadline, retryable after X\'s next check_after_secs', async () => {
    const { outcome, statusAt, fake, elapsed } = await onFakeTime(() => ({ state: 'in_progress', check_after_secs: 60 }));
    expect(outcome).toEqual({ ok: false, retryable: true, code: 'media_processing', message: 'X was still processing the media after 5 checks', retryAfterMs: 60_000 });
    expect(statusAt).toEqual([1, 61, 121, 181, 241]);
    expect(elapsed).toBeLessThanOrEqual(PROCESSING_DEADLINE_MS / 1000);
    expect(fake.sent.get(ANN)).toBeUndefined();
  });
});

describe('X media download: streamed, bounded, checked before it is read', () => {
  it('streams a download with a stated length into the APPEND calls 1 MiB at a time, without reading it all first', async () => {
    const total = 8 * MB + 5;
    const file = streamed(total, { 'content-type': 'video/mp4', 'content-length': String(total) });
    const pulledAtAppend: number[] = [];
    const { fake, ctx } = await connected(async (request) => {
      const url = new URL(request.url);
      if (url.origin === 'https://cdn.test') return file.response();
      if (url.pathname.endsWith('/append')) pulledAtAppend.push(file.seen.pulled);
      return undefined;
    });
    expect(await twitter.send(ctx, { externalId: ANN }, media('https://cdn.test/long.mp4', { media: 'video' }))).toMatchObject({ ok: true });
    expect(fake.callsTo('/2/media/upload/initialize')[0]!.body).toMatchObject({ total_bytes: total, media_category: 'dm_video' });
    expect(pulledAtAppend).toHaveLength(9);
    // Each APPEND went out with at most a segment (plus one read) of the file downloaded past it.
    pulledAtAppend.forEach((pulled, i) => expect(pulled).toBeLessThanOrEqual((i + 1) * CHUNK_BYTES + 256 * 1024));
    expect(fake.sent.get(ANN)!.at(-1)!.media!.bytes.byteLength).toBe(total);
  });

  it('refuses a body shorter (retryable) or longer (permanent) than its stated length; nothing is sent', async () => {
    let body = { stated: 0, actual: 0 };
    const { fake, ctx } = await connected(async (request) => {
      if (new URL(request.url).origin !== 'https://cdn.test') return undefined;
      return streamed(body.actual, { 'content-type': 'image/png', 'content-length': String(body.stated) }).response();
    });
    body = { stated: 2 * MB, actual: MB + 3 };
    expect(await twitter.send(ctx, { externalId: ANN }, media('https://cdn.test/cut.png'))).toMatchObject({ ok: false, retryable: true, code: 'media_length_mismatch' });
    body = { stated: MB, actual: 2 * MB };
    expect(await twitter.send(ctx, { externalId: ANN }, media('https://cdn.test/long.png'))).toMatchObject({ ok: false, retryable: false, code: 'media_length_mismatch' });
    expect(fake.callsTo(/\/finalize$/)).toHaveLength(0);
    expect(fake.sent.get(ANN)).toBeUndefined();
  });

  it('does not download a file whose stated size is over X\'s limit: the body is cancelled and the caption and link go as text', async () => {
    const file = streamed(6 * MB, { 'content-type': 'image/jpeg', 'content-length': String(6 * MB) });
    const { fake, ctx } = await connected(async (request) => (new URL(request.url).origin === 'https://cdn.test' ? file.response() : undefined));
    expect(await twitter.send(ctx, { externalId: ANN }, media('https://cdn.test/poster.jpg', { caption: 'The poster' }))).toMatchObject({ ok: true });
    expect(file.seen.cancelled).toBe(true);
    expect(file.seen.pulled).toBeLessThanOrEqual(256 * 1024);
    expect(fake.callsTo(/^\/2\/media\/upload/)).toHaveLength(0);
    expect(fake.sent.get(ANN)).toEqual([{ id: expect.any(String), text: 'The poster\nhttps://cdn.test/poster.jpg' }]);
  });

  it('holds at most 32 MiB of a download without a stated length: a longer video goes as its link, a shorter one is uploaded', async () => {
    const long = streamed(UNSTATED_MAX_BYTES + 2 * MB, { 'content-type': 'video/mp4' }, MB);
    const short = streamed(3 * MB, { 'content-type': 'video/mp4' }, MB);
    const { fake, ctx } = await connected(async (request) => {
      const url = new URL(request.url);
      if (url.href === 'https://cdn.test/long.mp4') return long.response();
      if (url.href === 'https://cdn.test/short.mp4') return short.response();
      return undefined;
    });
    expect(await twitter.send(ctx, { externalId: ANN }, media('https://cdn.test/long.mp4', { media: 'video' }))).toMatchObject({ ok: true });
    expect(long.seen.cancelled).toBe(true);
    expect(long.seen.pulled).toBeLessThanOrEqual(UNSTATED_MAX_BYTES + MB);
    expect(fake.callsTo(/^\/2\/media\/upload/)).toHaveLength(0);
    expect(fake.sent.get(ANN)!.at(-1)).toEqual({ id: expect.any(String), text: 'https://cdn.test/long.mp4' });

    expect(await twitter.send(ctx, { externalId: ANN }, media('https://cdn.test/short.mp4', { media: 'video' }))).toMatchObject({ ok: true });
    expect(fake.callsTo('/2/media/upload/initialize')[0]!.body).toMatchObject({ total_bytes: 3 * MB });
    expect(fake.sent.get(ANN)!.at(-1)!.media!.bytes.byteLength).toBe(3 * MB);
  });
});
