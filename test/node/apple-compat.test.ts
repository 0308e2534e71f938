/**
 * The last official-client method: `ConversationsApi.downloadMessageRef`,
 * through `sunshine-conversations-client@14` against a locally started
 * Parley, with Basic and JWT credentials. Apple Messages for Business (its
 * fake served on loopback: the MSP gateway on one port, Apple's file storage
 * on another) sends an interactive reply too large to inline as a reference;
 * Parley stores the reference as the message's payload in the shape the
 * download body takes, and the client's call resolves it through Apple's
 * preDownload, the encrypted file and decodePayload into the data itself.
 */
import Sunco from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AppleFake } from '../fakes/apple';
import { serveFake, type ServedFake } from '../fakes/serve';
import { Receiver, waitFor } from './receiver';
import { apiClient, apis, expectApiError, unique, type Apis, type AuthMode } from './sunco';

const url = inject('parleyUrl');
const accountKey = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };

describe.each<AuthMode>(['basic', 'jwt'])('sunshine-conversations-client downloadMessageRef with %s auth', (auth) => {
  const account = apis(apiClient(url, auth, accountKey));
  const receiver = new Receiver();
  let fake!: AppleFake;
  const served: ServedFake[] = [];
  let app!: Apis;
  let appId = '';
  let webhookUrl = '';

  beforeAll(async () => {
    await receiver.listen();
    // Apple's storage is another host than its gateway; the fake answers both, telling them apart by origin.
    const storage = await serveFake({ fetch: (request) => fake.fetch(request) });
    const gateway = await serveFake({ fetch: (request) => fake.fetch(request) });
    served.push(storage, gateway);
    fake = new AppleFake({ origin: gateway.url, storageOrigin: storage.url });

    const { app: created } = await account.apps.createApp(new Sunco.AppCreateBody(unique(`apple-compat-${auth}`)));
    appId = created.id;
    const { key } = await account.appKeys.createAppKey(appId, new Sunco.AppKeyCreateBody('apple compat suite'));
    app = apis(apiClient(url, auth, { keyId: key.id, secret: key.secret, scope: 'app' }));
    const hook = Object.assign(new Sunco.WebhookCreateBody(), { target: receiver.url, triggers: ['conversation:message'] });
    expect((await app.integrations.createIntegrationWithHttpInfo(appId, new Sunco.Custom('custom', [hook]))).response.status).toBe(201);
    const apple = await app.integrations.createIntegrationWithHttpInfo(appId, { type: 'apple', businessId: fake.businessId, mspId: fake.mspId, apiSecret: fake.apiSecret, apiBaseUrl: gateway.url });
    expect(apple.response.status, JSON.stringify(apple.response.body)).toBe(201);
    webhookUrl = apple.response.body.integration.webhookUrl as string;
  });
  afterAll(async () => {
    await receiver.close();
    await Promise.all(served.map((s) => s.close()));
  });

  it('resolves the reference an Apple interactive reply carried into its data', async () => {
    const customer = { id: `urn:mbid:${unique('apple-compat')}` };
    const data = { listPicker: { sections: [{ title: 'Pick-up time', items: [{ identifier: '1', title: 'Today 5 pm', subtitle: unique('slot') }] }] }, padding: 'x'.repeat(12_000) };
    const { request, ref } = await fake.largeInteractive(webhookUrl, customer, data);
    const posted = await fetch(request);
    expect(posted.status, await posted.clone().text()).toBe(200);

    const said = await waitFor('the Apple message', () => receiver.events().find((e) => e.type === 'conversation:message' && e.payload.message?.source?.type === 'apple'));
    const userId = said.payload.message.author.userId as string;
    const conversationId = said.payload.conversation.id as string;
    // Stored in the download body's shape (the model's url, bid, key, signature and owner), so a customer passes it straight on.
    const stored = JSON.parse(said.payload.message.content.payload as string) as { apple: { interactiveDataRef: Record<string, unknown> } };
    const { size: _size, ...refFields } = ref;
    expect(stored).toEqual({ apple: { interactiveDataRef: refFields } });

    // DownloadMessageRefBody's constructor drops its argument (the generator quirk WebhookCreateBody has): fields are assigned.
    const body = Object.assign(new Sunco.DownloadMessageRefBody(userId), { userId }, stored);
    const decoded = await app.conversations.downloadMessageRefWithHttpInfo(appId, conversationId, body);
    expect(decoded.response.status).toBe(200);
    expect(decoded.response.body).toEqual(data);
    // The data came through Apple's own steps: a download URL for the file, then Apple's decoder.
    expect(fake.callsTo('preDownload').at(-1)?.status).toBe(200);
    expect(fake.callsTo('decodePayload').at(-1)?.status).toBe(200);

    // A user without an Apple client in that conversation: the client sees the v2 error.
    const { user: stranger } = await app.users.createUser(appId, new Sunco.UserCreateBody(unique('stranger')));
    await expectApiError(app.conversations.downloadMessageRef(appId, conversationId, Object.assign(new Sunco.DownloadMessageRefBody(stranger.id), { userId: stranger.id }, stored)), 404, 'client_not_found');
  });
});
