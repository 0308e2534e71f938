/**
 * Channel media with a stated length streams into R2 (src/channels/media.ts,
 * FixedLengthStream): a lying content-length or a body that breaks halfway
 * fails the copy (502) and leaves no object in R2 and no usage_media row; a
 * truthful answer is stored and counted once. (The local runtime logs
 * "Network connection lost" / "client disconnected" as uncaught for the
 * refused cases: its R2 simulation reading the errored upload stream; the
 * put's rejection itself is handled in media.ts.)
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { ViberFake, type ViberUser } from '../../fakes/viber';
import { conversationOfUser, eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';

const API = 'https://viber.test';
const MEDIA = 'https://dl-media.viber.test';
/** A media host whose answers lie about their length. */
const LIES = 'https://lies.viber.test';
const fake = new ViberFake({ origin: MEDIA, webhookFetch: (request) => hook(request) });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: { id: string; webhookUrl: string };

const bytes = (n: number) => new Uint8Array(n).fill(7);
const stream = (chunks: Uint8Array[], fail = false) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      if (fail) c.error(new Error('connection reset halfway'));
      else c.close();
    },
  });
const answers: Record<string, () => Response> = {
  '/ok.jpg': () => new Response(stream([bytes(600), bytes(400)]), { headers: { 'content-type': 'image/jpeg', 'content-length': '1000' } }),
  '/short.jpg': () => new Response(stream([bytes(10)]), { headers: { 'content-type': 'image/jpeg', 'content-length': '1000' } }),
  '/long.jpg': () => new Response(stream([bytes(600), bytes(600)]), { headers: { 'content-type': 'image/jpeg', 'content-length': '1000' } }),
  '/broken.jpg': () => new Response(stream([bytes(500)], true), { headers: { 'content-type': 'image/jpeg', 'content-length': '1000' } }),
};
const lies = { fetch: async (request: Request) => answers[new URL(request.url).pathname]?.() ?? new Response('Not Found', { status: 404 }) };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [MEDIA]: fake, [LIES]: lies, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('media stream');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'viber', token: fake.token, apiBaseUrl: API });
  expect(res.status).toBe(201);
  integration = res.body.integration;
});
afterAll(() => restore());

async function mediaUrlFor(user: ViberUser, path: string): Promise<string> {
  const message = (fake as unknown as { message(url: string, u: ViberUser, m: unknown): Promise<Request> }).message.bind(fake);
  const req = await message(integration.webhookUrl, user, { type: 'picture', media: `${LIES}${path}`, thumbnail: `${LIES}${path}`, text: '', file_name: 'photo.jpg', size: 1000 });
  expect((await hook(req)).status).toBe(200);
  const conversationId = await conversationOfUser(receiver, app, user.id);
  const image = await eventually(async () => {
    const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
    if (!found) throw new Error('no image yet');
    return found;
  });
  return String(image.content.mediaUrl);
}

async function stored(userId: string) {
  const objects = (await env.ATTACHMENTS.list({ prefix: `media/${app.appId}/${userId}/` })).objects;
  const usage = await env.DB.prepare('SELECT bytes FROM usage_media WHERE app_id = ? AND substr(key, 1, ?) = ?').bind(app.appId, `media/${app.appId}/${userId}/`.length, `media/${app.appId}/${userId}/`).all<{ bytes: number }>();
  return { objects: objects.map((o) => o.size), usage: usage.results.map((r) => r.bytes) };
}

describe('channel media with a stated length', () => {
  for (const [path, ok] of [['/ok.jpg', true], ['/short.jpg', false], ['/long.jpg', false], ['/broken.jpg', false]] as const) {
    it(`${path}: ${ok ? 'stored and counted once' : 'refused, nothing left in R2 and nothing counted'}`, async () => {
      const user: ViberUser = { id: `Rev${path.replace(/\W/g, '')}000000000000==`.slice(0, 24), name: path };
      const url = await mediaUrlFor(user, path);
      const res = await hook(new Request(url));
      const body = new Uint8Array(await res.arrayBuffer());
      // The owner the signed token names (media.ts keeps the copy under media/{appId}/{userId}/).
      const token = new URL(url).pathname.split('/')[3]!.split('.')[0]!;
      const appUser = (JSON.parse(atob(token.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (token.length % 4)) % 4))) as { u: string }).u;
      // Let a prefetch still running settle before looking.
      await new Promise((r) => setTimeout(r, 300));
      const after = await stored(appUser);
      if (ok) {
        expect(res.status).toBe(200);
        expect(body.byteLength).toBe(1000);
        expect(after).toEqual({ objects: [1000], usage: [1000] });
      } else {
        expect(res.status).toBe(502);
        expect(after).toEqual({ objects: [], usage: [] });
      }
    });
  }
});
