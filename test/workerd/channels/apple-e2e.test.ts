/**
 * Apple Messages for Business through the whole product: the integration
 * created through the API, JWT-signed gzipped requests to /hooks/{id}
 * deduped by their `id` header, encrypted attachments copied into R2,
 * business messages encoded per the customer's device capabilities and sent
 * through the deliveries queue, list picker and quick reply answers mapped
 * back to the choices offered, a closed conversation failing the delivery
 * with Apple's status, and POST …/conversations/{id}/download resolving an
 * interactive data reference through preDownload, decryption and
 * decodePayload. Attachments both ways: a business image encrypted and
 * uploaded (preUpload, upload, a message the fake decrypts back to the
 * image), preUpload failures retried or final; a customer's multi-MB file
 * decrypted as it streams into R2 and served byte-identical from /media.
 */
import { env } from 'cloudflare:test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { AppleFake, type AppleCustomer } from '../../fakes/apple';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from './harness';
// The official client is a Node package (it needs node:os), so it cannot run inside workerd: its source pins what it sends instead.
// @ts-expect-error a Vite raw import: the file's text
import conversationsApiSource from 'sunshine-conversations-client/dist/sunshine-conversations-client/sunshine-conversations-client.api/ConversationsApi.js?raw';
// @ts-expect-error a Vite raw import: the file's text
import interactiveDataRefSource from 'sunshine-conversations-client/dist/sunshine-conversations-client/sunshine-conversations-client.model/DownloadMessageRefBodyAllOfAppleInteractiveDataRef.js?raw';

const API = 'https://mspgw.apple.test';
const STORAGE = 'https://mmcs.apple.test';
/** The business's public file host. */
const CDN = 'https://cdn.taco.test';
const cdnFiles = new Map<string, { bytes: Uint8Array; type: string }>();
const cdn = {
  async fetch(request: Request): Promise<Response> {
    const file = cdnFiles.get(new URL(request.url).pathname);
    return file ? new Response(file.bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': file.type, 'content-length': String(file.bytes.byteLength) } }) : new Response('Not Found', { status: 404 });
  },
};
const fake = new AppleFake({ origin: API, storageOrigin: STORAGE });
const receiver = new WebhookReceiver();
let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
let integration: Record<string, unknown> & { id: string; webhookUrl: string };

const ann: AppleCustomer = { id: 'urn:mbid:AQAAYW5uLWUyZS1vcGFxdWUtaWQ=', locale: 'en_US' };
/** An older device: no list pickers, no quick replies. */
const bo: AppleCustomer = { id: 'urn:mbid:AQAAYm8tZTJlLW9wYXF1ZS1pZA==', capabilities: ['AUTH'] };

beforeAll(async () => {
  const spy = routeFetch({ [API]: fake, [STORAGE]: fake, [RECEIVER_ORIGIN]: receiver, [CDN]: cdn });
  restore = () => spy.mockRestore();
  app = await newApp('apple e2e');
  await subscribe(app.appId, app.auth);
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, {
    type: 'apple',
    businessId: fake.businessId,
    mspId: fake.mspId,
    apiSecret: fake.apiSecret,
    apiBaseUrl: API,
    displayName: 'Taco Co on Messages',
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  integration = res.body.integration;
});

afterAll(() => restore());

async function userOf(externalId: string): Promise<{ userId: string; conversationId: string }> {
  const clientAdd = await eventually(() => {
    const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as { externalId: string }).externalId === externalId);
    if (!e) throw new Error('no client:add yet');
    return e;
  });
  const userId = (clientAdd.payload.user as { id: string }).id;
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${userId}`, app.auth);
  return { userId, conversationId: list.body.conversations[0].id };
}

const post = async (conversationId: string, content: Record<string, unknown>) => {
  const res = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/messages`, app.auth, { author: { type: 'business' }, content });
  expect(res.status).toBe(201);
  return res.body.messages[0].id as string;
};

const eventFor = (type: string, messageId: string) =>
  eventually(() => {
    const e = receiver.ofType(type).find((ev) => (ev.payload.message as { id: string }).id === messageId);
    if (!e) throw new Error(`no ${type} yet`);
    return e;
  }, 15_000);

/** A digest to compare big files by: deep equality over megabytes of elements is too slow to be useful. */
const digest = async (bytes: Uint8Array) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))].map((b) => b.toString(16).padStart(2, '0')).join('') + `/${bytes.byteLength}`;

const accepted = (customerId: string) => fake.callsTo('message').filter((c) => c.status === 200 && c.body?.destinationId === customerId);

describe('apple integration', () => {
  it('is created active with no call to Apple (the MSP API has nothing to register), showing the ids and never the secret', async () => {
    expect(fake.calls).toHaveLength(0);
    // Apple only POSTs to an MSP: there is no GET handshake to answer.
    expect((await hook(new Request(integration.webhookUrl))).status).toBe(405);
    expect(integration).toMatchObject({ type: 'apple', status: 'active', displayName: 'Taco Co on Messages', businessId: fake.businessId, mspId: fake.mspId });
    expect(JSON.stringify(integration)).not.toContain(fake.apiSecret);
  });
});

describe('inbound', () => {
  it('a signed, gzipped text delivered three times is stored once, keyed by its id header; the device capabilities land in the client raw', async () => {
    const id = crypto.randomUUID();
    const req = await fake.text(integration.webhookUrl, ann, 'Hello from Messages', { id });
    const body = await req.clone().arrayBuffer();
    for (let i = 0; i < 3; i++) expect((await hook(new Request(req.url, { method: 'POST', headers: req.headers, body }))).status).toBe(200);
    const { conversationId } = await userOf(ann.id);
    const stored = await messages(app.appId, app.auth, conversationId);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'Hello from Messages' }, source: { type: 'apple', integrationId: integration.id, originalMessageId: id } });
    const client = receiver.ofType('client:add').find((e) => (e.payload.client as { externalId: string }).externalId === ann.id)!.payload.client as Record<string, unknown>;
    expect(client).toMatchObject({ type: 'apple', integrationId: integration.id, externalId: ann.id, raw: { capabilityList: ['QUICK', 'LIST', 'TIME', 'AUTH', 'AUTH2', 'FORM'], deviceAgent: 'iPhone OS', locale: 'en_US' } });
  });

  it('a request without a token is refused with 401, a forged or stale one with 403, and nobody is created', async () => {
    const mallory: AppleCustomer = { id: 'urn:mbid:AQAAbWFsbG9yeQ==' };
    const unsigned = await fake.text(integration.webhookUrl, mallory, 'hi');
    unsigned.headers.delete('authorization');
    expect((await hook(unsigned)).status).toBe(401);
    const forged = await fake.request(integration.webhookUrl, mallory, { type: 'text', body: 'hi' }, { token: await fake.token({ secret: btoa('not the MSP secret, 32 bytes....') }) });
    expect((await hook(forged)).status).toBe(403);
    const stale = await fake.request(integration.webhookUrl, mallory, { type: 'text', body: 'hi' }, { token: await fake.token({ iat: Math.floor(Date.now() / 1000) - 86_400 }) });
    expect((await hook(stale)).status).toBe(403);
    expect(receiver.ofType('client:add').some((e) => (e.payload.client as { externalId: string }).externalId === mallory.id)).toBe(false);
  });

  it('a token and id captured from a genuine request cannot carry another body: 403 and nothing stored; a redelivery of the same bytes is still one message', async () => {
    const carol: AppleCustomer = { id: 'urn:mbid:AQAAY2Fyb2wtZTJl' };
    const token = await fake.token();
    const id = crypto.randomUUID();
    const genuine = await fake.request(integration.webhookUrl, carol, { type: 'text', body: 'pay 10' }, { id, token });
    const bytes = await genuine.clone().arrayBuffer();
    expect((await hook(genuine)).status).toBe(200);
    const forged = await hook(await fake.request(integration.webhookUrl, carol, { type: 'text', body: 'pay 99' }, { id, token }));
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { errors: { title: string }[] }).errors[0]!.title).toMatch(/replay/);
    expect((await hook(new Request(genuine.url, { method: 'POST', headers: genuine.headers, body: bytes }))).status).toBe(200);
    const { conversationId } = await userOf(carol.id);
    await eventually(async () => expect((await messages(app.appId, app.auth, conversationId)).map((m) => m.content.text)).toEqual(['pay 10']));
  });

  it('an encrypted attachment is stored as an image served from Parley, decrypted from Apple\'s storage', async () => {
    const bytes = new TextEncoder().encode('a picture from an iPhone');
    expect((await hook(await fake.attachment(integration.webhookUrl, ann, bytes, 'image/jpeg', 'IMG_0001.JPG'))).status).toBe(200);
    const { conversationId } = await userOf(ann.id);
    const image = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'image');
      if (!found) throw new Error('no image yet');
      return found;
    });
    const url = String(image.content.mediaUrl);
    expect(url).toMatch(new RegExp(`^http://parley.test/media/${integration.id}/`));
    expect(url).not.toContain('apple.test');
    const res = await hook(new Request(url));
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    expect(fake.callsTo('preDownload').length).toBeGreaterThan(0);
  });

  it('a multi-MB attachment is decrypted as it streams into R2 and served byte-identical from /media', async () => {
    const bytes = new Uint8Array(6 * 1024 * 1024 + 3);
    for (let i = 0; i < bytes.byteLength; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(bytes.byteLength, i + 65536)));
    const served = fake.downloadsServed.length;
    expect((await hook(await fake.attachment(integration.webhookUrl, ann, bytes, 'video/mp4', 'IMG_0002.MOV'))).status).toBe(200);
    const { conversationId } = await userOf(ann.id);
    const video = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.type === 'file' || m.content.type === 'video' ? String(m.content.mediaUrl).endsWith('/IMG_0002.MOV') : false);
      if (!found) throw new Error('no video yet');
      return found;
    });
    const res = await hook(new Request(String(video.content.mediaUrl)));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(bytes.byteLength));
    expect(await digest(new Uint8Array(await res.arrayBuffer()))).toBe(await digest(bytes));
    // Storage served it in 64 KiB chunks, every one read (apple.test.ts shows the first comes out decrypted before the rest are fetched).
    expect(fake.downloadsServed.slice(served).some((d) => d.chunks === 97 && d.pulled === 97)).toBe(true);
  });

  it('a file whose length is not the size Apple announced is refused with 502 and nothing is kept', async () => {
    const file = await fake.storeFile(new TextEncoder().encode('nine byte'));
    const request = await fake.request(integration.webhookUrl, ann, { type: 'text', body: '\uFFFC', attachments: [{ name: 'odd.txt', mimeType: 'text/plain', ...file, size: file.size + 1 }] });
    expect((await hook(request)).status).toBe(200);
    const { conversationId, userId } = await userOf(ann.id);
    const odd = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => String(m.content.mediaUrl ?? '').endsWith('/odd.txt'));
      if (!found) throw new Error('no file yet');
      return found;
    });
    const res = await hook(new Request(String(odd.content.mediaUrl)));
    expect(res.status).toBe(502);
    expect((await res.json()) as unknown).toMatchObject({ errors: [{ code: 'bad_gateway', title: expect.stringMatching(/is 9 bytes, not the 10 the message announced/) }] });
    const kept = await env.ATTACHMENTS.list({ prefix: `media/${app.appId}/${userId}/` });
    expect(await Promise.all(kept.objects.map(async (o) => (await env.ATTACHMENTS.get(o.key))!.size))).not.toContain(9);
  });

  it('typing_start raises conversation:typing', async () => {
    const before = receiver.ofType('conversation:typing').length;
    expect((await hook(await fake.typing(integration.webhookUrl, ann, true))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:typing').length).toBeGreaterThan(before));
  });
});

describe('outbound', () => {
  it('a business text goes to /v1/message under the id the delivery event reports', async () => {
    const { conversationId } = await userOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Hi Ann, how can we help?' });
    const delivered = await eventFor('conversation:message:delivery:channel', id);
    const [send] = accepted(ann.id).filter((c) => c.body!.body === 'Hi Ann, how can we help?');
    expect(send!.body).toEqual({ type: 'text', body: 'Hi Ann, how can we help?', v: 1, id: send!.headers.id, sourceId: fake.businessId, destinationId: ann.id });
    expect(delivered.payload).toMatchObject({ destination: { type: 'apple', integrationId: integration.id }, externalMessages: [{ id: send!.headers.id }] });
  });

  it('postbacks go out as a list picker, and the customer\'s pick raises the postback it offered', async () => {
    const { conversationId } = await userOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'What would you like?', actions: [{ type: 'postback', text: 'Tacos', payload: 'ORDER_TACOS' }, { type: 'postback', text: 'Ramen', payload: 'ORDER_RAMEN' }] });
    await eventFor('conversation:message:delivery:channel', id);
    const picker = accepted(ann.id).find((c) => c.body!.interactiveData?.data?.listPicker?.sections?.[0]?.title === 'What would you like?');
    expect(picker!.body!.interactiveData.data.listPicker.sections[0].items.map((i: { title: string }) => i.title)).toEqual(['Tacos', 'Ramen']);
    expect((await hook(await fake.listPickerReply(integration.webhookUrl, ann, ['Ramen']))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'ORDER_RAMEN', text: 'Ramen' }));
  });

  it('quick replies go out as a quick reply, and a tap comes back as the customer\'s answer carrying its payload', async () => {
    const { conversationId } = await userOf(ann.id);
    const id = await post(conversationId, { type: 'text', text: 'Spicy?', actions: [{ type: 'reply', text: 'Yes', payload: 'SPICY_YES' }, { type: 'reply', text: 'No', payload: 'SPICY_NO' }] });
    await eventFor('conversation:message:delivery:channel', id);
    expect((await hook(await fake.quickReply(integration.webhookUrl, ann, 'No'))).status).toBe(200);
    await eventually(async () => {
      const answer = (await messages(app.appId, app.auth, conversationId)).at(-1)!;
      expect(answer).toMatchObject({ author: { type: 'user' }, content: { type: 'text', text: 'No', payload: 'SPICY_NO' } });
    });
  });

  it('a list picker answered after newer options were offered still raises its own payload', async () => {
    const { conversationId } = await userOf(ann.id);
    const first = await post(conversationId, { type: 'text', text: 'Which drink?', actions: [{ type: 'postback', text: 'Tea', payload: 'DRINK_TEA' }, { type: 'postback', text: 'Coffee', payload: 'DRINK_COFFEE' }] });
    await eventFor('conversation:message:delivery:channel', first);
    const later = await post(conversationId, { type: 'text', text: 'Dessert?', actions: [{ type: 'postback', text: 'Flan', payload: 'DESSERT_FLAN' }, { type: 'postback', text: 'Churros', payload: 'DESSERT_CHURROS' }] });
    await eventFor('conversation:message:delivery:channel', later);
    // The fake answers the most recent picker, so the drinks picker is answered from its copy as Apple would send it.
    const drinks = accepted(ann.id).find((c) => c.body!.interactiveData?.receivedMessage?.title === 'Which drink?')!.body!;
    const item = drinks.interactiveData.data.listPicker.sections[0].items[1];
    const answer = await fake.request(integration.webhookUrl, ann, { type: 'interactive', interactiveData: { bid: drinks.interactiveData.bid, data: { ...drinks.interactiveData.data, listPicker: { sections: [{ ...drinks.interactiveData.data.listPicker.sections[0], items: [item] }] } } } });
    expect((await hook(answer)).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'DRINK_COFFEE', text: 'Coffee' }));
    expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).not.toContain('DESSERT_CHURROS');
  });

  it('falls back deterministically on a device without LIST or QUICK: numbered postbacks, reply labels, links as rich links', async () => {
    expect((await hook(await fake.text(integration.webhookUrl, bo, 'hello from an old Mac'))).status).toBe(200);
    const { conversationId } = await userOf(bo.id);
    const id = await post(conversationId, {
      type: 'text',
      text: 'Which size?',
      actions: [
        { type: 'postback', text: 'Small', payload: 'S' },
        { type: 'postback', text: 'Large', payload: 'L' },
        { type: 'link', text: 'Size guide', uri: 'https://tacos.example/sizes' },
      ],
    });
    await eventFor('conversation:message:delivery:channel', id);
    const sent = accepted(bo.id).map((c) => c.body!);
    expect(sent.some((b) => b.type === 'interactive')).toBe(false);
    expect(sent).toContainEqual(expect.objectContaining({ type: 'text', body: 'Which size?\n\n1. Small\n2. Large\n\nReply with the number of your choice.' }));
    expect(sent).toContainEqual(expect.objectContaining({ type: 'richLink', richLinkData: { url: 'https://tacos.example/sizes', title: 'Size guide' } }));
    // Free text that starts with a number is not an answer.
    expect((await hook(await fake.text(integration.webhookUrl, bo, '2 tacos please'))).status).toBe(200);
    await eventually(async () => expect((await messages(app.appId, app.auth, conversationId)).at(-1)!.content).toEqual({ type: 'text', text: '2 tacos please' }));
    expect(receiver.ofType('conversation:postback').map((e) => (e.payload.postback as { payload: string }).payload)).not.toContain('L');
    // The device showed the options numbered, so a typed number answers them.
    expect((await hook(await fake.text(integration.webhookUrl, bo, '2'))).status).toBe(200);
    await eventually(() => expect(receiver.ofType('conversation:postback').map((e) => e.payload.postback)).toContainEqual({ payload: 'L', text: 'Large' }));
  });

  it('a 503 is retried with the same message id, then delivered once', async () => {
    const { conversationId } = await userOf(ann.id);
    fake.failNext(1, 503);
    const id = await post(conversationId, { type: 'text', text: 'after the outage' });
    await eventFor('conversation:message:delivery:channel', id);
    const tries = fake.callsTo('message').filter((c) => c.body?.body === 'after the outage');
    expect(tries.map((c) => c.status)).toEqual([503, 200]);
    expect(tries[0]!.headers.id).toBe(tries[1]!.headers.id);
  });

  it('after the customer closes the conversation, a send fails for good with Apple\'s 410', async () => {
    const { conversationId } = await userOf(ann.id);
    expect((await hook(await fake.close(integration.webhookUrl, ann))).status).toBe(200);
    const id = await post(conversationId, { type: 'text', text: 'are you still there?' });
    const failure = await eventFor('conversation:message:delivery:failure', id);
    expect(failure.payload.error).toMatchObject({ code: 'http_410', message: expect.stringMatching(/closed the conversation/) });
    expect(fake.callsTo('message').filter((c) => c.body?.body === 'are you still there?')).toHaveLength(1);
  });
});

describe('outbound attachments', () => {
  // The conversation above ended closed: writing again reopens it.
  beforeAll(async () => expect((await hook(await fake.text(integration.webhookUrl, ann, 'one more thing'))).status).toBe(200));

  it('a business image is encrypted, preUploaded, uploaded and attached: the fake decrypts it to the image', async () => {
    const { conversationId } = await userOf(ann.id);
    const png = crypto.getRandomValues(new Uint8Array(48_000));
    cdnFiles.set('/specials.png', { bytes: png, type: 'image/png' });
    const id = await post(conversationId, { type: 'image', mediaUrl: `${CDN}/specials.png` });
    const delivered = await eventFor('conversation:message:delivery:channel', id);
    const send = accepted(ann.id).find((c) => c.body?.attachments?.[0]?.name === 'specials.png')!;
    expect(send.body!.body).toBe('\uFFFC');
    expect(send.body!.attachments[0]).toMatchObject({ mimeType: 'image/png', size: '48000', key: expect.stringMatching(/^00[0-9a-f]{64}$/) });
    expect(await digest(fake.received.get(send.body!.attachments[0].url)!)).toBe(await digest(png));
    expect(delivered.payload).toMatchObject({ externalMessages: [{ id: send.headers.id }] });
  });

  it('a preUpload 5xx is retried and the image delivered once', async () => {
    const { conversationId } = await userOf(ann.id);
    cdnFiles.set('/retry.png', { bytes: new Uint8Array([137, 80, 78, 71, 1, 2, 3]), type: 'image/png' });
    const before = fake.callsTo('preUpload').length;
    fake.failNextPreUpload(1, 503);
    const id = await post(conversationId, { type: 'image', mediaUrl: `${CDN}/retry.png` });
    await eventFor('conversation:message:delivery:channel', id);
    expect(fake.callsTo('preUpload').slice(before).map((c) => c.status)).toEqual([503, 200]);
    expect(accepted(ann.id).filter((c) => c.body?.attachments?.[0]?.name === 'retry.png')).toHaveLength(1);
  });

  it('a preUpload 4xx fails the delivery for good with Apple\'s status as the code', async () => {
    const { conversationId } = await userOf(ann.id);
    cdnFiles.set('/refused.png', { bytes: new Uint8Array([137, 80, 78, 71]), type: 'image/png' });
    const before = fake.callsTo('preUpload').length;
    fake.failNextPreUpload(1, 400);
    const id = await post(conversationId, { type: 'image', mediaUrl: `${CDN}/refused.png` });
    const failure = await eventFor('conversation:message:delivery:failure', id);
    expect(failure.payload.error).toMatchObject({ code: 'http_400', message: expect.stringMatching(/^Apple preUpload answered HTTP 400/) });
    expect(fake.callsTo('preUpload').slice(before).map((c) => c.status)).toEqual([400]);
    expect(accepted(ann.id).filter((c) => c.body?.attachments?.[0]?.name === 'refused.png')).toHaveLength(0);
  });
});

describe('downloadMessageRef', () => {
  it('an interactive data reference is stored with its download body as payload, and POST …/download answers Apple\'s decoded JSON', async () => {
    const data = { bid: 'com.apple.messages.MSMessageExtensionBalloonPlugin:0000000000:com.apple.icloud.apps.messages.business.extension', data: { listPicker: { sections: [{ items: [{ identifier: '1', title: 'Tacos', imageIdentifier: 'img1' }] }] }, images: [{ identifier: 'img1', data: 'iVBORw0KGgo=' }] } };
    const { request } = await fake.largeInteractive(integration.webhookUrl, ann, data);
    expect((await hook(request)).status).toBe(200);
    const { userId, conversationId } = await userOf(ann.id);
    const stored = await eventually(async () => {
      const found = (await messages(app.appId, app.auth, conversationId)).find((m) => m.content.text === '[Apple interactive message]');
      if (!found) throw new Error('no reference message yet');
      return found;
    });
    const ref = JSON.parse(String(stored.content.payload));
    // What the official client's ConversationsApi.downloadMessageRef(appId, conversationId, DownloadMessageRefBody) sends: its path
    // template and verb, and a body {userId, apple: {interactiveDataRef}} whose reference has exactly the model's five fields.
    const [, template, verb] = /callApi\('(\/v2\/apps\/\{appId\}\/conversations\/\{conversationId\}\/download)', '([A-Z]+)'/.exec(String(conversationsApiSource))!;
    const fields = /function DownloadMessageRefBodyAllOfAppleInteractiveDataRef\(([^)]*)\)/.exec(String(interactiveDataRefSource))![1]!.split(',').map((f) => f.trim());
    expect(fields).toEqual(['url', 'bid', 'key', 'signature', 'owner']);
    const interactiveDataRef = Object.fromEntries(fields.map((f) => [f, ref.apple.interactiveDataRef[f]]));
    const path = template!.replace('{appId}', app.appId).replace('{conversationId}', conversationId);
    const res = await call(verb!, path, app.auth, { userId, apple: { interactiveDataRef } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual(data);
    expect(fake.callsTo('decodePayload').at(-1)!.headers).toMatchObject({ bid: interactiveDataRef.bid, 'source-id': fake.businessId });
  });

  it('answers 400 naming the field for a bad body, and 404 when the user has no Apple client in the conversation', async () => {
    const { userId, conversationId } = await userOf(ann.id);
    const missing = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/download`, app.auth, { userId, apple: { interactiveDataRef: { url: 'https://mmcs.apple.test/x', bid: 'b', key: 'nothex', signature: 'ab', owner: 'o' } } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0]).toMatchObject({ code: 'bad_request', title: expect.stringContaining('apple.interactiveDataRef.key') });
    const noUser = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/download`, app.auth, { apple: {} });
    expect(noUser.status).toBe(400);
    expect(noUser.body.errors[0].title).toContain('userId');
    const other = await call('POST', '/v2/apps/' + app.appId + '/users', app.auth, { externalId: 'not-on-apple' });
    expect(other.status).toBe(201);
    const valid = { url: 'https://mmcs.apple.test/x', bid: 'b', key: `00${'ab'.repeat(32)}`, signature: 'abcd', owner: 'o' };
    const stranger = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/download`, app.auth, { userId: other.body.user.id, apple: { interactiveDataRef: valid } });
    expect(stranger.status).toBe(404);
    expect(stranger.body.errors[0].code).toBe('client_not_found');
    const gone = await call('POST', `/v2/apps/${app.appId}/conversations/${conversationId}/download`, app.auth, { userId, apple: { interactiveDataRef: valid } });
    expect(gone.status).toBe(502);
  });
});
