/**
 * Inbound channel media on the real runtime: a `wrangler dev` Parley copies a
 * WhatsApp image (Graph lookup, then the lookaside URL it names, both with the
 * Bearer token) and a Twilio MMS (Basic auth, then the redirect to the
 * pre-signed media host, without credentials) from fakes served on loopback,
 * and serves the bytes back at its /media URL. workerd's own `fetch` is in the
 * path here, which the workerd suites replace with a plain function: this is
 * where calling it as a method of an object ("Illegal invocation") showed.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MetaFake } from '../fakes/meta';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TwilioFake } from '../fakes/twilio';
import { Receiver, waitFor } from './receiver';
import { appWithKey, basicAuth, rest } from './rest';

const url = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
const receiver = new Receiver();
const servers: ServedFake[] = [];
let meta: MetaFake;
let twilio: TwilioFake;
let auth = '';
let appId = '';

const api = (method: string, path: string, body?: unknown, as = auth) => rest(url, method, path, as, body);

async function integrate(body: Record<string, unknown>): Promise<string> {
  const res = await api('POST', `/v2/apps/${appId}/integrations`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.integration.status).toBe('active');
  return res.body.integration.webhookUrl as string;
}

/** The stored message's media URL, from the customer webhook it raised. */
async function mediaOf(text: string): Promise<string> {
  const event = await waitFor(`the message "${text}"`, () => receiver.events().find((e) => e.payload.message?.content?.text === text));
  const mediaUrl = String(event.payload.message.content.mediaUrl);
  expect(mediaUrl).toContain('/media/');
  return mediaUrl;
}

beforeAll(async () => {
  const servedMeta = await serveFake((origin) => (meta = new MetaFake({ origin })));
  const servedTwilio = await serveFake((origin) => (twilio = new TwilioFake({ origin })));
  servers.push(servedMeta, servedTwilio);
  await receiver.listen();
  ({ appId, auth } = await appWithKey(url, account, 'channel media'));
  expect((await api('POST', `/v2/apps/${appId}/integrations`, { type: 'custom', webhooks: [{ target: receiver.url, triggers: ['conversation:message'] }] })).status).toBe(201);
});

afterAll(async () => {
  await receiver.close();
  await Promise.all(servers.map((s) => s.close()));
});

describe('inbound media downloads through the runtime fetch', () => {
  it('a WhatsApp image is looked up, downloaded with the token and served from /media', async () => {
    const webhookUrl = await integrate({ type: 'whatsapp', phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, apiBaseUrl: servers[0]!.url });
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    const hook = await meta.whatsapp.media(webhookUrl, { waId: '15550001111', name: 'Wanda' }, 'image', { caption: 'wa receipt', bytes });
    expect((await fetch(hook)).status).toBe(200);
    const res = await fetch(await mediaOf('wa receipt'));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  it('a Twilio MMS photo is downloaded with Basic auth, its redirect followed without credentials, and served from /media', async () => {
    const phoneNumberSid = [...twilio.phoneNumbers.keys()][0]!;
    const webhookUrl = await integrate({ type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid, apiBaseUrl: servers[1]!.url });
    const bytes = new Uint8Array([137, 80, 78, 71, 13, 10]);
    const hook = await twilio.media(webhookUrl, { from: '+15550002222' }, [{ contentType: 'image/png', body: bytes }], 'sms receipt');
    expect((await fetch(hook)).status).toBe(200);
    const res = await fetch(await mediaOf('sms receipt'));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
    const mediaHost = twilio.calls.filter((c) => c.path.startsWith('/media/'));
    expect(mediaHost.length).toBeGreaterThan(0);
    for (const call of mediaHost) expect(call.headers).not.toHaveProperty('authorization');
  });
});
