/**
 * The official sunshine-conversations-client creates, lists, gets, updates and
 * deletes each channel integration type against a locally running Parley,
 * whose channel setup calls go to the channel fakes served on loopback. Where
 * the client's models drop fields (Parley's additive `webhookUrl`, `error`),
 * the raw response is checked too.
 */
import SunshineConversationsClient from 'sunshine-conversations-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MetaFake } from '../fakes/meta';
import { serveFake, type ServedFake } from '../fakes/serve';
import { TelegramFake } from '../fakes/telegram';
import { TwilioFake } from '../fakes/twilio';
import { apiClient, expectApiError, OBJECT_ID } from './sunco';

const baseUrl = inject('parleyUrl');
const account = { keyId: inject('accountKeyId'), secret: inject('accountKeySecret'), scope: 'account' as const };
let integrations: SunshineConversationsClient.IntegrationsApi;
let appId = '';
const servers: ServedFake[] = [];
const bases: Record<string, string> = {};

beforeAll(async () => {
  const client = apiClient(baseUrl, 'basic', account);
  const app = await new SunshineConversationsClient.AppsApi(client).createApp({ displayName: 'channel integrations' });
  appId = app.app.id;
  integrations = new SunshineConversationsClient.IntegrationsApi(client);
  for (const [name, make] of Object.entries({
    telegram: () => new TelegramFake(),
    twilio: (origin: string) => new TwilioFake({ origin, authToken: TWILIO_TOKEN }),
    meta: (origin: string) => new MetaFake({ origin }),
  })) {
    const served = await serveFake((origin) => make(origin));
    servers.push(served);
    bases[name] = served.url;
  }
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const meta = new MetaFake();
const telegram = new TelegramFake();
// Twilio's default test token is a substring of its default account SID; a distinct one keeps the no-secret check meaningful.
const TWILIO_TOKEN = 'fedcba9876543210fedcba9876543210';
const twilio = new TwilioFake({ authToken: TWILIO_TOKEN });

interface Case {
  type: string;
  create: () => Record<string, unknown>;
  /** Fields the v2 integration must show after creation (read-only ones learned from the channel). */
  shows: Record<string, unknown>;
  update: Record<string, unknown>;
  secrets: string[];
}

const cases: Case[] = [
  {
    type: 'whatsapp',
    create: () => ({ phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, verifyToken: 'verify-me-please', hsmFallbackLanguage: 'fr_FR', apiBaseUrl: bases.meta }),
    shows: { hsmFallbackLanguage: 'fr_FR', phoneNumber: expect.any(String) },
    update: { hsmFallbackLanguage: 'de_DE' },
    secrets: [meta.wa.accessToken, meta.appSecret],
  },
  {
    type: 'messenger',
    create: () => ({ pageAccessToken: meta.page.accessToken, appId: '1234567890', appSecret: meta.appSecret, apiBaseUrl: bases.meta }),
    shows: { pageId: meta.page.id, pageName: meta.page.name },
    update: { pageAccessToken: meta.page.accessToken },
    secrets: [meta.page.accessToken, meta.appSecret],
  },
  {
    type: 'instagram',
    create: () => ({ pageAccessToken: meta.page.accessToken, appId: '1234567890', appSecret: meta.appSecret, apiBaseUrl: bases.meta }),
    shows: { pageId: meta.page.id },
    update: { pageAccessToken: meta.page.accessToken },
    secrets: [meta.page.accessToken, meta.appSecret],
  },
  {
    type: 'telegram',
    create: () => ({ token: telegram.token, apiBaseUrl: bases.telegram }),
    shows: { username: telegram.bot.username, botId: String(telegram.bot.id) },
    update: { token: telegram.token },
    secrets: [telegram.token],
  },
  {
    type: 'twilio',
    create: () => ({ accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: [...twilio.phoneNumbers.keys()][0], apiBaseUrl: bases.twilio }),
    shows: { accountSid: twilio.accountSid, phoneNumber: '+15005550001' },
    update: { authToken: twilio.authToken },
    secrets: [twilio.authToken],
  },
];

describe.each(cases)('IntegrationsApi with type $type', (c) => {
  let id = '';

  it('creates it: active, with the channel\'s read-only fields, a webhookUrl, and no secret echoed', async () => {
    const info = await integrations.createIntegrationWithHttpInfo(appId, { type: c.type, displayName: `My ${c.type}`, ...c.create() });
    expect(info.response.status).toBe(201);
    const raw = info.response.body.integration;
    expect(raw).toMatchObject({ type: c.type, status: 'active', displayName: `My ${c.type}`, ...c.shows });
    expect(raw.id).toMatch(OBJECT_ID);
    expect(raw.webhookUrl).toBe(`${baseUrl}/hooks/${raw.id}`);
    for (const secret of c.secrets) expect(JSON.stringify(raw)).not.toContain(secret);
    expect(info.data.integration.id).toBe(raw.id);
    expect(info.data.integration.type).toBe(c.type);
    id = raw.id;
  });

  it('lists it, filtered by type', async () => {
    const list = await integrations.listIntegrations(appId, { filter: { types: c.type } });
    expect(list.integrations.map((i: { id: string }) => i.id)).toEqual([id]);
  });

  it('gets it', async () => {
    const got = await integrations.getIntegrationWithHttpInfo(appId, id);
    expect(got.response.body.integration).toMatchObject({ id, type: c.type, status: 'active', ...c.shows });
  });

  it('updates it: displayName and the type\'s updatable credential, setup re-run', async () => {
    const updated = await integrations.updateIntegrationWithHttpInfo(appId, id, { displayName: 'Renamed', ...c.update });
    expect(updated.response.status).toBe(200);
    expect(updated.response.body.integration).toMatchObject({ id, displayName: 'Renamed', status: 'active' });
  });

  it('refuses a create without its required credentials, naming the field', async () => {
    const err = await expectApiError(integrations.createIntegration(appId, { type: c.type }), 400, 'bad_request');
    expect(err.body.errors[0].title).toMatch(/is required/);
  });

  it('deletes it', async () => {
    const info = await integrations.deleteIntegrationWithHttpInfo(appId, id);
    expect(info.response.status).toBe(200);
    await expectApiError(integrations.getIntegration(appId, id), 404, 'integration_not_found');
  });
});
