/**
 * Every REST route of src/router.ts under generated input: mutations of the
 * route's valid bodies, arbitrary JSON, non-JSON, deep and oversize bodies,
 * wrong content types, garbage query strings, and now and then a path id that
 * is not the seeded one (unknown, malformed, another tenant's). Whatever comes
 * in, the answer is below 500; a 4xx carries the v2 error body; and after a
 * 4xx the app's stored state (its D1 rows and its conversations' DO state) is
 * exactly what it was before the request. Destructive routes get a fresh
 * victim per run; creations that succeed are undone so limits never close a
 * route for the rest of the run.
 *
 * The routes are split over two test files (rest-*.test.ts), each with its own
 * seeded world, so the halves can run side by side (`npm run fuzz` runs two
 * workers).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { asAccount, basic, call, newApp } from '../helpers';
import { seedApp, type Seed } from '../fixtures';
import { routeFetch, RECEIVER_ORIGIN, WebhookReceiver } from '../channels/harness';
import { TelegramFake } from '../../fakes/telegram';
import { TwilioFake } from '../../fakes/twilio';
import { MetaFake } from '../../fakes/meta';
import { badAuthorization, bodyArb, describeBody, garbageSegment, jsonContentType, queryArb, type FuzzBody, type Json } from './arbitraries';
import { check, timeoutFor } from './budget';
import { captureWorkerLog, describeRequest, expectNo5xx, expectNothingStored, expectV2Error, FingerprintCache, logMark, logSince, send, type FuzzRequest, type Sent, type Watched } from './world';

const TELEGRAM = 'https://telegram.test';
const TWILIO = 'https://twilio.test';
const META = 'https://meta.test';

const telegram = new TelegramFake();
const twilio = new TwilioFake({ origin: TWILIO });
const meta = new MetaFake({ origin: META });
const receiver = new WebhookReceiver();

interface World extends Seed {
  customId: string;
  telegramId: string;
  webhookId: string;
  integrationKeyId: string;
  joinerId: string;
  joinerExternalId: string;
  other: { appId: string; userId: string; conversationId: string; integrationId: string; keyId: string };
  switchboardId: string;
  /** The switchboard's two integrations: the custom integration as `bot` (the default, its next is `agent`) and `agent` by type. */
  botSbId: string;
  agentSbId: string;
}

/** An enabled switchboard for the fuzz app (again after a run deleted it). */
async function seedSwitchboard(appId: string, auth: string, customId: string): Promise<Pick<World, 'switchboardId' | 'botSbId' | 'agentSbId'>> {
  const sb = (await must('POST', `/v2/apps/${appId}/switchboards`, auth)).switchboard.id as string;
  const sbBase = `/v2/apps/${appId}/switchboards/${sb}`;
  const agent = (await must('POST', `${sbBase}/switchboardIntegrations`, auth, { name: 'agent', integrationType: 'zd:agentWorkspace', deliverStandbyEvents: false })).switchboardIntegration.id as string;
  const bot = (await must('POST', `${sbBase}/switchboardIntegrations`, auth, { name: 'bot', integrationId: customId, nextSwitchboardIntegrationId: agent })).switchboardIntegration.id as string;
  await must('PATCH', sbBase, auth, { enabled: true, defaultSwitchboardIntegrationId: bot });
  return { switchboardId: sb, botSbId: bot, agentSbId: agent };
}

let w: World;
let watched: Watched;
const stored = new FingerprintCache();

/**
 * What a route's refusal is checked against: D1 always; the seeded
 * conversations' DOs too when the route can reach a ConversationDO (users,
 * conversations; the credential and unrouted properties pass no route).
 */
const watchedFor = (route?: Route): Watched => (route && !/\/(users|conversations)\b/.test(route.path) ? { ...watched, conversations: [] } : watched);
const restores: (() => void)[] = [];

const base = () => `/v2/apps/${w.appId}`;

async function must(method: string, path: string, auth: string, body?: unknown) {
  const res = await call(method, path, auth, body);
  if (res.status >= 300) throw new Error(`fuzz setup: ${method} ${path} answered ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

// ---- valid bodies, per route (the seeds of the mutations) -----------------------------------

const name100 = fc.string({ minLength: 1, maxLength: 100 }).filter((s) => s.length >= 1 && s.length <= 100);
const flatMetadata = fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()), { maxKeys: 4 });
const settings = fc.record(
  { conversationRetentionSeconds: fc.nat(), maskCreditCardNumbers: fc.boolean(), useAnimalNames: fc.boolean(), echoPostback: fc.boolean(), ignoreAutoConversationStart: fc.boolean(), appLocalizationEnabled: fc.boolean() },
  { requiredKeys: [] },
);
const profile = fc.record(
  { givenName: fc.constantFrom('Ada', 'Grace', null), surname: fc.constantFrom('Lovelace', null), email: fc.constantFrom('ada@example.org', null), avatarUrl: fc.constantFrom('https://example.org/a.png', null), locale: fc.constantFrom('en-US', 'fr', null) },
  { requiredKeys: [] },
);
/** A valid page of a list: size 1–100 and at most one cursor (a seeded id, or one nobody minted). */
const page = (cursors: () => string[]) =>
  fc
    .record({ size: fc.option(fc.integer({ min: 1, max: 100 })), cursor: fc.option(fc.tuple(fc.constantFrom('after', 'before'), fc.constantFrom(...cursors(), '0123456789abcdef01234567'))) })
    .map(({ size, cursor }) => [size !== null ? `page[size]=${size}` : '', cursor ? `page[${cursor[0]}]=${cursor[1]}` : ''].filter(Boolean).join('&'));
const withPage = (filters: () => fc.Arbitrary<string>, cursors: () => string[]) => () =>
  fc.tuple(filters(), page(cursors)).map((parts) => parts.filter(Boolean).join('&'));
const triggers = fc.subarray(['conversation:message', 'conversation:create', 'client:add', 'user:update'], { minLength: 1 });
const webhookBody = fc.record(
  { target: fc.constantFrom(`${RECEIVER_ORIGIN}/a`, 'https://example.org/hook', 'http://localhost:9999/hook'), triggers, includeFullUser: fc.boolean(), includeFullSource: fc.boolean(), version: fc.constantFrom('v2', 'v1') },
  { requiredKeys: ['target', 'triggers'] },
);
const link = { type: 'link', text: 'Open', uri: 'https://example.org' };
const postback = { type: 'postback', text: 'Buy', payload: 'BUY' };
const item = (n: number) => ({ title: `Item ${n}`, description: 'd', mediaUrl: 'https://example.org/i.png', actions: [link, postback] });
const contents: Json[] = [
  { type: 'text', text: 'hello' },
  { type: 'text', text: 'pick', actions: [postback, link, { type: 'reply', text: 'Yes', payload: 'YES' }, { type: 'locationRequest', text: 'Where?' }, { type: 'buy', text: 'Pay', amount: 100, currency: 'usd' }, { type: 'webview', text: 'W', uri: 'https://example.org/w', fallback: 'https://example.org/f' }] },
  { type: 'text', htmlText: '<b>hi</b>' },
  { type: 'text', markdownText: '**hi**', payload: 'P' },
  { type: 'image', mediaUrl: 'https://example.org/a.png', altText: 'a', text: 'caption' },
  { type: 'file', mediaUrl: 'https://example.org/a.pdf' },
  { type: 'carousel', items: [item(1), item(2)], displaySettings: { imageAspectRatio: 'square' } },
  { type: 'list', items: [item(1)], actions: [link] },
  { type: 'location', coordinates: { lat: 45.5, long: -73.6 }, location: { name: 'Montreal', address: '1 rue' } },
  { type: 'form', fields: [{ type: 'text', name: 'n', label: 'Name' }, { type: 'select', name: 's', label: 'S', options: [{ label: 'A', name: 'a' }] }] },
];
const messageBody = (): fc.Arbitrary<Json> =>
  fc.oneof(
    fc.record(
      {
        author: fc.constantFrom<Json>({ type: 'business' }, { type: 'business', displayName: 'Bot', avatarUrl: 'https://example.org/b.png', subtypes: ['AI'] }, { type: 'user', userId: w.userId }, { type: 'user', userExternalId: w.userExternalId }),
        content: fc.constantFrom(...contents),
        metadata: flatMetadata,
        override: fc.constant({ whatsapp: { payload: { type: 'text', text: { body: 'raw' } } } }),
      },
      { requiredKeys: ['author', 'content'] },
    ),
    fc.constant<Json>({ author: { type: 'business' }, content: { type: 'template', template: { name: 'hello', language: { code: 'en' } } }, schema: 'whatsapp' }),
    fc.constant<Json>({ author: { type: 'business' }, content: { type: 'text', text: 'to telegram' }, destination: { integrationType: 'telegram' } }),
  );

// ---- routes ------------------------------------------------------------------------------------

type Param = 'appId' | 'keyId' | 'integrationId' | 'webhookId' | 'user' | 'conversationId' | 'messageId' | 'token' | 'name' | 'switchboardId' | 'switchboardIntegrationId' | 'clientId' | 'deviceId';
type Ids = Partial<Record<Param, string>>;

export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  account?: boolean;
  /** The route's valid bodies; a route without reads none, but POST and DELETE routes still get bodies thrown at them. */
  body?: () => fc.Arbitrary<unknown>;
  /** The route's valid query strings (filters, cursors), the seeds of garbled ones. */
  query?: () => fc.Arbitrary<string>;
  /** The seeded ids a path parameter takes when the run does not pick garbage. */
  real?: () => Partial<Record<Param, string[]>>;
  /** Creates a fresh target (and returns its ids) for a route that destroys or moves what it names. */
  victim?: () => Promise<Ids>;
  /** Puts things back after a run (undoes a successful creation, a join, a leave). */
  after?: (res: Sent, ids: Ids) => Promise<void>;
}

const id = (res: Sent, ...path: string[]) => {
  let v: unknown = res.body;
  for (const p of path) v = (v as Record<string, unknown> | undefined)?.[p];
  return typeof v === 'string' ? v : undefined;
};

const undo = async (res: Sent, path: (created: string) => string, account = false, ...idPath: string[]) => {
  const created = res.status < 300 ? id(res, ...idPath) : undefined;
  if (created) await call('DELETE', path(created), account ? asAccount : w.auth);
};

const realIds = (): Record<Param, string[]> => ({
  appId: [w.appId],
  keyId: [w.key.id],
  integrationId: [w.customId, w.telegramId],
  webhookId: [w.webhookId],
  user: [w.userId, w.userExternalId],
  conversationId: [w.conversationId, w.groupId],
  messageId: [w.messageId],
  token: ['x.y'],
  name: ['file'],
  switchboardId: [w.switchboardId],
  switchboardIntegrationId: [w.botSbId, w.agentSbId],
  clientId: ['0123456789abcdef01234567'],
  deviceId: ['0123456789abcdef01234567'],
});

const customOnly = () => ({ integrationId: [w.customId] });
const intKey = () => ({ integrationId: [w.customId], keyId: [w.integrationKeyId] });

const ROUTES: Route[] = [
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/hooks/:integrationId', real: () => ({ integrationId: [w.telegramId, w.customId] }) },
  { method: 'GET', path: '/media/:integrationId/:token/:name', real: () => ({ integrationId: [w.telegramId], token: ['eyJyIjoiYSJ9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'x'], name: ['file.jpg'] }) },
  {
    method: 'POST',
    path: '/v2/apps',
    account: true,
    body: () => fc.record({ displayName: name100, settings, metadata: fc.option(flatMetadata) }, { requiredKeys: ['displayName'] }),
    after: (res) => undo(res, (created) => `/v2/apps/${created}`, true, 'app', 'id'),
  },
  { method: 'GET', path: '/v2/apps', account: true, query: withPage(() => fc.constantFrom('', 'filter[serviceAccountId]=sa_1'), () => [w.appId]) },
  { method: 'GET', path: '/v2/apps/:appId' },
  { method: 'PATCH', path: '/v2/apps/:appId', body: () => fc.record({ displayName: name100, settings, metadata: fc.option(flatMetadata) }, { requiredKeys: [] }) },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId',
    account: true,
    victim: async () => ({ appId: (await must('POST', '/v2/apps', asAccount, { displayName: 'fuzz victim' })).app.id }),
  },
  {
    method: 'POST',
    path: '/v2/apps/:appId/keys',
    account: true,
    body: () => fc.record({ displayName: name100 }),
    after: (res) => undo(res, (created) => `${base()}/keys/${created}`, true, 'key', 'id'),
  },
  { method: 'GET', path: '/v2/apps/:appId/keys', account: true },
  { method: 'GET', path: '/v2/apps/:appId/keys/:keyId', account: true },
  { method: 'DELETE', path: '/v2/apps/:appId/keys/:keyId', account: true, victim: async () => ({ keyId: (await must('POST', `${base()}/keys`, asAccount, { displayName: 'victim' })).key.id }) },
  {
    method: 'POST',
    path: '/v2/apps/:appId/integrations',
    body: () =>
      fc.oneof(
        fc.record({ type: fc.constant('custom'), displayName: fc.option(name100), webhooks: webhookBody.map((h) => [h]) }, { requiredKeys: ['type', 'webhooks'] }),
        fc.constant<Json>({ type: 'telegram', token: telegram.token, apiBaseUrl: TELEGRAM, displayName: 'tg' }),
        fc.constant<Json>({ type: 'twilio', accountSid: twilio.accountSid, authToken: twilio.authToken, phoneNumberSid: [...twilio.phoneNumbers.keys()][0]!, apiBaseUrl: TWILIO }),
        fc.constant<Json>({ type: 'whatsapp', phoneNumberId: meta.wa.phoneNumberId, accessToken: meta.wa.accessToken, appSecret: meta.appSecret, apiBaseUrl: META }),
        fc.constant<Json>({ type: 'messenger', pageAccessToken: meta.page.accessToken, appId: '1517776481860111', appSecret: meta.appSecret, apiBaseUrl: META }),
        fc.constant<Json>({ type: 'instagram', pageAccessToken: meta.page.accessToken, appId: '1517776481860111', appSecret: meta.appSecret, apiBaseUrl: META, storyRepliesEnabled: false }),
      ),
    after: (res) => undo(res, (created) => `${base()}/integrations/${created}`, false, 'integration', 'id'),
  },
  { method: 'GET', path: '/v2/apps/:appId/integrations', query: withPage(() => fc.constantFrom('', 'filter[types]=custom', 'filter[types]=custom,telegram,web'), () => [w.customId, w.telegramId]) },
  { method: 'GET', path: '/v2/apps/:appId/integrations/:integrationId' },
  {
    method: 'PATCH',
    path: '/v2/apps/:appId/integrations/:integrationId',
    body: () => fc.oneof(fc.record({ displayName: fc.option(name100) }), fc.constant<Json>({ token: telegram.token }), fc.constant<Json>({ displayName: 'renamed', token: telegram.token })),
  },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/integrations/:integrationId',
    victim: async () => ({ integrationId: (await must('POST', `${base()}/integrations`, w.auth, { type: 'custom', webhooks: [{ target: `${RECEIVER_ORIGIN}/v`, triggers: ['client:add'] }] })).integration.id }),
  },
  {
    method: 'POST',
    path: '/v2/apps/:appId/integrations/:integrationId/keys',
    body: () => fc.record({ displayName: name100 }),
    real: customOnly,
    after: (res) => undo(res, (created) => `${base()}/integrations/${w.customId}/keys/${created}`, false, 'key', 'id'),
  },
  { method: 'GET', path: '/v2/apps/:appId/integrations/:integrationId/keys', real: customOnly },
  { method: 'GET', path: '/v2/apps/:appId/integrations/:integrationId/keys/:keyId', real: intKey },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/integrations/:integrationId/keys/:keyId',
    real: customOnly,
    victim: async () => ({ keyId: (await must('POST', `${base()}/integrations/${w.customId}/keys`, w.auth, { displayName: 'victim' })).key.id }),
  },
  {
    method: 'POST',
    path: '/v2/apps/:appId/integrations/:integrationId/webhooks',
    body: () => webhookBody,
    real: customOnly,
    after: (res) => undo(res, (created) => `${base()}/integrations/${w.customId}/webhooks/${created}`, false, 'webhook', 'id'),
  },
  { method: 'GET', path: '/v2/apps/:appId/integrations/:integrationId/webhooks', real: customOnly },
  { method: 'GET', path: '/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId', real: customOnly },
  {
    method: 'PATCH',
    path: '/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId',
    body: () => fc.record({ target: fc.constantFrom(`${RECEIVER_ORIGIN}/hook`, 'https://example.org/h'), triggers, includeFullUser: fc.boolean(), includeFullSource: fc.boolean() }, { requiredKeys: [] }),
    real: customOnly,
  },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId',
    real: customOnly,
    victim: async () => ({ webhookId: (await must('POST', `${base()}/integrations/${w.customId}/webhooks`, w.auth, { target: `${RECEIVER_ORIGIN}/v`, triggers: ['client:add'] })).webhook.id }),
  },
  { method: 'POST', path: '/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId/rotateSecret', real: customOnly },
  { method: 'GET', path: '/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId/deliveries', real: customOnly, query: withPage(() => fc.constant(''), () => []) },
  {
    method: 'POST',
    path: '/v2/apps/:appId/integrations/:integrationId/webhooks/:webhookId/replay',
    body: () => fc.oneof(fc.record({ eventIds: fc.array(fc.constantFrom('0123456789abcdef01234567', 'ffffffffffffffffffffffff'), { minLength: 1, maxLength: 3 }) }), fc.record({ since: fc.constant('2020-01-01T00:00:00.000Z'), until: fc.constant('2030-01-01T00:00:00.000Z') }, { requiredKeys: [] })),
    real: customOnly,
  },
  { method: 'POST', path: '/v2/apps/:appId/switchboards' },
  { method: 'GET', path: '/v2/apps/:appId/switchboards' },
  {
    method: 'PATCH',
    path: '/v2/apps/:appId/switchboards/:switchboardId',
    body: () => fc.record({ enabled: fc.boolean(), defaultSwitchboardIntegrationId: fc.constantFrom(w.botSbId, w.agentSbId, '0123456789abcdef01234567') }, { requiredKeys: [] }),
    after: async () => void (await call('PATCH', `${base()}/switchboards/${w.switchboardId}`, w.auth, { enabled: true, defaultSwitchboardIntegrationId: w.botSbId })),
  },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/switchboards/:switchboardId',
    after: async (res) => {
      if (res.status === 200) Object.assign(w, await seedSwitchboard(w.appId, w.auth, w.customId));
    },
  },
  {
    method: 'POST',
    path: '/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations',
    body: () =>
      fc.record(
        {
          name: fc.constantFrom('desk', 'bot', 'has space', ''),
          integrationId: fc.constantFrom(w.customId, w.telegramId, '0123456789abcdef01234567'),
          integrationType: fc.constantFrom('zd:desk', 'custom'),
          deliverStandbyEvents: fc.boolean(),
          nextSwitchboardIntegrationId: fc.option(fc.constantFrom(w.botSbId, w.agentSbId)),
          messageHistoryCount: fc.option(fc.integer({ min: 0, max: 12 })),
        },
        { requiredKeys: ['name'] },
      ),
    after: (res) => undo(res, (created) => `${base()}/switchboards/${w.switchboardId}/switchboardIntegrations/${created}`, false, 'switchboardIntegration', 'id'),
  },
  { method: 'GET', path: '/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations' },
  {
    method: 'PATCH',
    path: '/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations/:switchboardIntegrationId',
    body: () =>
      fc.record(
        { name: fc.constantFrom('bot', 'agent'), deliverStandbyEvents: fc.boolean(), messageHistoryCount: fc.option(fc.integer({ min: 0, max: 12 })), nextSwitchboardIntegrationId: fc.option(fc.constantFrom(w.botSbId, w.agentSbId)) },
        { requiredKeys: [] },
      ),
  },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/switchboards/:switchboardId/switchboardIntegrations/:switchboardIntegrationId',
    victim: async () => ({
      switchboardIntegrationId: (await must('POST', `${base()}/switchboards/${w.switchboardId}/switchboardIntegrations`, w.auth, { name: `victim-${crypto.randomUUID().slice(0, 8)}`, integrationType: 'zd:victim' })).switchboardIntegration.id,
    }),
  },
  ...(['passControl', 'offerControl', 'acceptControl', 'releaseControl'] as const).map(
    (action): Route => ({
      method: 'POST',
      path: `/v2/apps/:appId/conversations/:conversationId/${action}`,
      body: () => fc.record({ switchboardIntegration: fc.constantFrom('bot', 'agent', 'next', 'zd:agentWorkspace', 'custom', 'nobody', w.botSbId), metadata: flatMetadata }, { requiredKeys: action === 'passControl' || action === 'offerControl' ? ['switchboardIntegration'] : [] }),
    }),
  ),
  {
    method: 'POST',
    path: '/v2/apps/:appId/users',
    body: () => fc.record({ externalId: fc.string({ minLength: 1, maxLength: 40 }), signedUpAt: fc.constant('2026-01-31T12:00:00.000Z'), toBeRetained: fc.boolean(), profile, metadata: flatMetadata }, { requiredKeys: [] }),
  },
  { method: 'GET', path: '/v2/apps/:appId/users/:user' },
  { method: 'PATCH', path: '/v2/apps/:appId/users/:user', body: () => fc.record({ signedUpAt: fc.constant('2026-01-31T12:00:00.000Z'), toBeRetained: fc.boolean(), profile, metadata: flatMetadata }, { requiredKeys: [] }) },
  { method: 'DELETE', path: '/v2/apps/:appId/users/:user', victim: async () => ({ user: (await must('POST', `${base()}/users`, w.auth, { externalId: `victim-${crypto.randomUUID()}` })).user.id }) },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/users/:user/personalinformation',
    victim: async () => ({ user: (await must('POST', `${base()}/users`, w.auth, { externalId: `victim-${crypto.randomUUID()}`, profile: { givenName: 'V' } })).user.id }),
  },
  { method: 'GET', path: '/v2/apps/:appId/users/:user/clients', query: withPage(() => fc.constant(''), () => []) },
  {
    method: 'POST',
    path: '/v2/apps/:appId/users/:user/clients',
    body: () =>
      fc.record({
        matchCriteria: fc.record({ type: fc.constantFrom('twilio', 'whatsapp', 'mailgun'), integrationId: fc.constantFrom(w.customId, w.telegramId), phoneNumber: fc.constantFrom('+15005550999', '5550100') }, { requiredKeys: ['type', 'integrationId'] }),
        confirmation: fc.record({ type: fc.constantFrom('immediate', 'userActivity', 'prompt', 'never') }),
        target: fc.record({ conversationId: fc.constantFrom(w.conversationId, w.groupId) }),
      }),
  },
  { method: 'DELETE', path: '/v2/apps/:appId/users/:user/clients/:clientId' },
  { method: 'GET', path: '/v2/apps/:appId/users/:user/devices' },
  { method: 'GET', path: '/v2/apps/:appId/users/:user/devices/:deviceId' },
  ...(['v2', 'v1.1'] as const).map(
    (version): Route => ({
      method: 'POST',
      path: `/${version}/apps/:appId/notifications`,
      body: () =>
        fc.record(
          {
            destination: fc.record({ integrationId: fc.constantFrom(w.telegramId, w.customId), destinationId: fc.constantFrom('12345', '+15005550999', 'not-a-chat') }),
            message: fc.constantFrom<Json>({ type: 'text', text: 'notified' }, { type: 'form', fields: [] }),
            messageSchema: fc.constant('whatsapp'),
          },
          { requiredKeys: ['destination'] },
        ),
    }),
  ),
  { method: 'POST', path: '/v2/apps/:appId/attachments/remove', body: () => fc.record({ mediaUrl: fc.constantFrom('https://cdn.example.com/a.png', 'http://parley.test/attachments/0123456789abcdef01234567/0123456789abcdef01234567/a.png', 'nope') }) },
  {
    method: 'POST',
    path: '/v2/apps/:appId/conversations',
    body: () =>
      fc.oneof(
        fc.constant<Json>({ type: 'personal', participants: [{ userId: w.userId }] }),
        fc.record({ type: fc.constant('sdkGroup'), participants: fc.constant([{ userExternalId: w.userExternalId, subscribeSDKClient: false }]), displayName: name100, description: fc.constant('d'), iconUrl: fc.constant('https://example.org/i.png'), metadata: fc.option(flatMetadata) }, { requiredKeys: ['type'] }),
      ),
  },
  { method: 'GET', path: '/v2/apps/:appId/conversations', query: withPage(() => fc.constantFrom(`filter[userId]=${w.userId}`, `filter[userExternalId]=${w.userExternalId}`, `filter[userId]=${w.otherUserId}`), () => [w.conversationId, w.groupId]) },
  { method: 'GET', path: '/v2/apps/:appId/conversations/:conversationId' },
  {
    method: 'PATCH',
    path: '/v2/apps/:appId/conversations/:conversationId',
    body: () => fc.record({ displayName: fc.option(name100), description: fc.option(fc.constant('about')), iconUrl: fc.option(fc.constant('https://example.org/i.png')), metadata: fc.option(flatMetadata) }, { requiredKeys: [] }),
  },
  { method: 'DELETE', path: '/v2/apps/:appId/conversations/:conversationId', victim: async () => ({ conversationId: (await must('POST', `${base()}/conversations`, w.auth, { type: 'sdkGroup' })).conversation.id }) },
  {
    method: 'POST',
    path: '/v2/apps/:appId/conversations/:conversationId/join',
    body: () => fc.constantFrom<Json>({ userId: w.joinerId }, { userExternalId: w.joinerExternalId, subscribeSDKClient: true }, { userId: w.otherUserId }),
    real: () => ({ conversationId: [w.groupId, w.conversationId] }),
    after: async () => void (await call('POST', `${base()}/conversations/${w.groupId}/leave`, w.auth, { userId: w.joinerId })),
  },
  {
    method: 'POST',
    path: '/v2/apps/:appId/conversations/:conversationId/leave',
    body: () => fc.constantFrom<Json>({ userId: w.joinerId }, { userExternalId: w.joinerExternalId }),
    real: () => ({ conversationId: [w.groupId] }),
    victim: async () => {
      await must('POST', `${base()}/conversations/${w.groupId}/join`, w.auth, { userId: w.joinerId });
      return {};
    },
    after: async () => void (await call('POST', `${base()}/conversations/${w.groupId}/leave`, w.auth, { userId: w.joinerId })),
  },
  { method: 'GET', path: '/v2/apps/:appId/conversations/:conversationId/participants', real: () => ({ conversationId: [w.groupId, w.conversationId] }), query: withPage(() => fc.constant(''), () => []) },
  { method: 'POST', path: '/v2/apps/:appId/conversations/:conversationId/messages', body: messageBody },
  { method: 'GET', path: '/v2/apps/:appId/conversations/:conversationId/messages', query: withPage(() => fc.constant(''), () => [w.messageId]) },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/conversations/:conversationId/messages',
    victim: async () => {
      const conv = (await must('POST', `${base()}/conversations`, w.auth, { type: 'sdkGroup' })).conversation.id;
      await must('POST', `${base()}/conversations/${conv}/messages`, w.auth, { author: { type: 'business' }, content: { type: 'text', text: 'victim' } });
      return { conversationId: conv };
    },
  },
  {
    method: 'DELETE',
    path: '/v2/apps/:appId/conversations/:conversationId/messages/:messageId',
    real: () => ({ conversationId: [w.groupId] }),
    victim: async () => ({ messageId: (await must('POST', `${base()}/conversations/${w.groupId}/messages`, w.auth, { author: { type: 'business' }, content: { type: 'text', text: 'victim' } })).messages[0].id }),
  },
  {
    method: 'POST',
    path: '/v2/apps/:appId/conversations/:conversationId/activity',
    body: () => fc.constantFrom<Json>({ author: { type: 'business' }, type: 'typing:start' }, { author: { type: 'business', displayName: 'B' }, type: 'typing:stop' }, { author: { type: 'user', userId: w.userId }, type: 'conversation:read' }),
  },
  // OAuth clients belong to the account, not to an app; a run that names one gets a fresh victim, passed in the keyId slot.
  {
    method: 'POST',
    path: '/v2/oauth/clients',
    account: true,
    body: () => fc.record({ name: name100, redirectUris: fc.subarray(['https://partner.test/cb', 'http://localhost:9999/cb', 'https://partner.test/cb?x=1'], { minLength: 1 }), removeUrl: fc.constantFrom(`${RECEIVER_ORIGIN}/removed`, 'http://127.0.0.1:9999/r') }, { requiredKeys: ['name', 'redirectUris'] }),
    after: (res) => undo(res, (created) => `/v2/oauth/clients/${created}`, true, 'client', 'id'),
  },
  { method: 'GET', path: '/v2/oauth/clients', account: true },
  ...(['GET', 'DELETE'] as const).map((method): Route => ({
    method,
    path: '/v2/oauth/clients/:keyId',
    account: true,
    victim: async () => ({ keyId: (await must('POST', '/v2/oauth/clients', asAccount, { name: 'victim', redirectUris: ['https://partner.test/cb'] })).client.id }),
    after: async (_res, ids) => void (method === 'GET' && /^oauth_[0-9a-f]{24}$/.test(ids.keyId ?? '') && (await call('DELETE', `/v2/oauth/clients/${ids.keyId}`, asAccount))),
  })),
];

const routeName = (r: Route) => `${r.method} ${r.path}`;
const paramsOf = (r: Route) => [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1] as Param);

// ---- one generated request per run ---------------------------------------------------------------

type Choice = { kind: 'real'; pick: number } | { kind: 'other'; pick: number } | { kind: 'garbage'; value: string };

const choice: fc.Arbitrary<Choice> = fc.oneof(
  { weight: 14, arbitrary: fc.nat({ max: 7 }).map((pick): Choice => ({ kind: 'real', pick })) },
  { weight: 1, arbitrary: fc.nat({ max: 7 }).map((pick): Choice => ({ kind: 'other', pick })) },
  { weight: 2, arbitrary: garbageSegment.map((value): Choice => ({ kind: 'garbage', value })) },
);

interface Generated {
  params: Partial<Record<Param, Choice>>;
  query: string;
  contentType: string | undefined;
  body: FuzzBody | undefined;
}

function generated(route: Route): fc.Arbitrary<Generated> {
  const params = Object.fromEntries(paramsOf(route).map((p) => [p, choice])) as Record<Param, fc.Arbitrary<Choice>>;
  const takesBody = route.method !== 'GET';
  return fc
    .record({
      params: fc.record(params),
      query: route.query
        ? fc.oneof(
            { weight: 3, arbitrary: route.query() },
            { weight: 3, arbitrary: fc.tuple(route.query(), queryArb).map((parts) => parts.filter(Boolean).join('&')) },
            { weight: 2, arbitrary: queryArb },
          )
        : route.method === 'GET'
          ? queryArb
          : fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: queryArb }),
      contentType: takesBody ? jsonContentType : fc.constant(undefined),
      body: takesBody ? (route.body ? bodyArb(route.body() as fc.Arbitrary<Json>) : fc.option(bodyArb(), { freq: 3 }).map((b) => b ?? undefined)) : fc.constant(undefined),
    })
    .map((g) =>
      Object.defineProperty(g, fc.toStringMethod, {
        value: () => `${JSON.stringify(g.params)} ?${g.query.slice(0, 120)} ct=${JSON.stringify(g.contentType)} ${g.body ? describeBody(g.body) : 'no body'}`,
      }),
    );
}

const otherIds = (): Record<Param, string[]> => ({
  appId: [w.other.appId],
  keyId: [w.other.keyId],
  integrationId: [w.other.integrationId],
  webhookId: [w.other.integrationId],
  user: [w.other.userId, 'fuzz-other'],
  conversationId: [w.other.conversationId],
  messageId: [w.other.conversationId],
  token: ['eyJyIjoiYSJ9.x'],
  name: ['x'],
  switchboardId: [w.other.integrationId],
  switchboardIntegrationId: [w.other.integrationId],
  clientId: [w.other.integrationId],
  deviceId: [w.other.integrationId],
});

/** Resolves the path: a victim when the run names the real target of a destructive route, else seeded, foreign or garbage ids. */
async function resolvePath(route: Route, g: Generated): Promise<{ path: string; ids: Ids; victim: boolean }> {
  const ids: Ids = {};
  const real = { ...realIds(), ...(route.real?.() ?? {}) };
  const choices = Object.fromEntries(
    paramsOf(route).map((p) => {
      const c = g.params[p]!;
      // The account key manages every app: another tenant's ids are no wall for it, and deleting them would break the run.
      return [p, c.kind === 'other' && route.account ? { kind: 'real', pick: c.pick } : c];
    }),
  ) as Record<Param, Choice>;
  const needsVictim = route.victim && paramsOf(route).every((p) => choices[p].kind === 'real');
  if (needsVictim) stored.forget();
  const victim = needsVictim ? await route.victim!() : {};
  for (const p of paramsOf(route)) {
    const c = choices[p];
    if (c.kind === 'garbage') ids[p] = c.value;
    else if (victim[p] !== undefined) ids[p] = victim[p];
    else {
      const pool = c.kind === 'real' ? real[p] : otherIds()[p];
      ids[p] = pool[c.pick % pool.length]!;
    }
  }
  const path = route.path.replace(/:(\w+)/g, (_, p: Param) => ids[p]!);
  return { path: `${path}${g.query ? `?${g.query}` : ''}`, ids, victim: Boolean(needsVictim) };
}

/** One run: send, then no 5xx; a 4xx has the v2 body and stored nothing; then put things back. */
async function exercise(route: Route, g: Generated, credentials?: { authorization: string | undefined }, expectRefusal?: number[]): Promise<void> {
  const authorization = credentials ? credentials.authorization : route.account ? asAccount : w.auth;
  const { path, ids, victim } = await resolvePath(route, g);
  const request: FuzzRequest = { method: route.method, path, authorization, contentType: g.contentType, body: g.body };
  const described = describeRequest(request);
  const scope = watchedFor(credentials ? undefined : route);
  const before = await stored.get(scope);
  stored.forget();
  const mark = logMark();
  let res: Sent | undefined;
  try {
    try {
      res = await send(request);
    } catch (err) {
      throw new Error(`the request crashed: ${described}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\nworker log: ${logSince(mark).join('\n')}`);
    }
    if (expectNo5xx(res, described, mark) === 'known') return;
    if (expectRefusal && !expectRefusal.includes(res.status)) throw new Error(`expected ${expectRefusal.join(' or ')}, got ${res.status} for ${described}: ${res.text.slice(0, 200)}`);
    if (res.status >= 400) {
      expectV2Error(res, described);
      stored.set(scope, await expectNothingStored(scope, before, described, res));
    } else if (route.method === 'GET') stored.set(scope, before);
  } finally {
    if (res && route.after) {
      stored.forget();
      await route.after(res, ids);
    }
    // A victim the request did not destroy (it was refused) is destroyed here, so limits (10 keys, 10 webhooks) stay open.
    if (victim && route.method === 'DELETE' && (!res || res.status >= 300)) {
      stored.forget();
      await call('DELETE', path.split('?')[0]!, route.account ? asAccount : w.auth);
    }
  }
}

// ---- the suite ------------------------------------------------------------------------------------

let otherAuth: string | undefined;
async function otherTenantAuth(): Promise<string> {
  if (otherAuth) return otherAuth;
  const key = await must('POST', `/v2/apps/${w.other.appId}/keys`, asAccount, { displayName: 'fuzz other' });
  otherAuth = basic(key.key.id, key.key.secret);
  return otherAuth;
}

/**
 * Seeds a world (in this test file's own storage) and registers one property
 * per selected route, plus, when asked, the credential and unrouted-request
 * properties, which range over every route.
 */
export function describeRestFuzz(select: (route: Route) => boolean, extras: { credentials?: boolean; unrouted?: boolean } = {}): void {
  beforeAll(async () => {
    restores.push(captureWorkerLog());
    const spy = routeFetch({ [TELEGRAM]: telegram, [TWILIO]: twilio, [META]: meta, [RECEIVER_ORIGIN]: receiver });
    restores.push(() => spy.mockRestore());

    const { appId, auth, key } = await newApp('Fuzz app');
    const seed = await seedApp(appId, auth, key, 'fuzz-user');
    const custom = await must('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', displayName: 'fuzz hooks', webhooks: [{ target: `${RECEIVER_ORIGIN}/hook`, triggers: ['conversation:message'] }] });
    const tg = await must('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'telegram', token: telegram.token, apiBaseUrl: TELEGRAM });
    const intKey = await must('POST', `/v2/apps/${appId}/integrations/${custom.integration.id}/keys`, auth, { displayName: 'fuzz int key' });
    const joiner = await must('POST', `/v2/apps/${appId}/users`, auth, { externalId: 'fuzz-joiner' });

    const other = await newApp('Fuzz other tenant');
    const otherUser = await must('POST', `/v2/apps/${other.appId}/users`, other.auth, { externalId: 'fuzz-other' });
    const otherConv = await must('POST', `/v2/apps/${other.appId}/conversations`, other.auth, { type: 'personal', participants: [{ userId: otherUser.user.id }] });
    const otherInt = await must('POST', `/v2/apps/${other.appId}/integrations`, other.auth, { type: 'custom', webhooks: [{ target: `${RECEIVER_ORIGIN}/other`, triggers: ['conversation:message'] }] });

    w = {
      ...(await seedSwitchboard(appId, auth, custom.integration.id)),
      ...seed,
      customId: custom.integration.id,
      telegramId: tg.integration.id,
      webhookId: custom.integration.webhooks[0].id,
      integrationKeyId: intKey.key.id,
      joinerId: joiner.user.id,
      joinerExternalId: 'fuzz-joiner',
      other: { appId: other.appId, userId: otherUser.user.id, conversationId: otherConv.conversation.id, integrationId: otherInt.integration.id, keyId: other.key.id },
    };
    watched = { appId, auth, conversations: [seed.conversationId, seed.groupId] };
  }, 60_000);

  afterAll(() => {
    for (const restore of restores.reverse()) restore();
  });

  describe('every REST route under generated input: no 5xx, v2 errors, nothing stored when refused', () => {
    for (const route of ROUTES.filter(select)) {
      it(routeName(route), async () => {
        await check(routeName(route), fc.asyncProperty(generated(route), (g) => exercise(route, g)));
      }, timeoutFor());
    }
  });

  if (extras.credentials) {
    describe('credentials', () => {
      const guarded = ROUTES.filter((r) => r.path.startsWith('/v2/'));

      it('garbage Authorization on any /v2 route: 401 or 403, nothing stored', async () => {
        const arb = fc.tuple(fc.nat({ max: guarded.length - 1 }), badAuthorization).chain(([i, authorization]) => generated(guarded[i]!).map((g) => ({ i, authorization, g })));
        await check('garbage Authorization on any /v2 route', fc.asyncProperty(arb, ({ i, authorization, g }) => exercise(guarded[i]!, g, { authorization }, [401, 403])));
      }, timeoutFor());

      it("another tenant's key, or an app key on an account route: 401, 403 or 404, nothing stored", async () => {
        const arb = fc
          .tuple(fc.nat({ max: guarded.length - 1 }), fc.boolean())
          .chain(([i, otherTenant]) => generated(guarded[i]!).map((g) => ({ i, otherTenant, g })))
          // Our app's ids (or garbage), never the other tenant's own: with its key, those are its to use.
          .filter(({ g }) => Object.values(g.params).every((c) => c.kind !== 'other'));
        await check(
          "another tenant's key",
          fc.asyncProperty(arb, async ({ i, otherTenant, g }) => {
            const route = guarded[i]!;
            // The other tenant's app key; on account routes, our own app key is just as wrong.
            const auth = otherTenant || !route.account ? await otherTenantAuth() : w.auth;
            // A victim route would destroy its fresh victim only if the check were missing: still refused.
            await exercise(route, g, { authorization: auth }, [401, 403, 404]);
          }),
        );
      }, timeoutFor());
    });
  }

  if (extras.unrouted) {
    describe('unrouted requests', () => {
      it('any method on any path under an app: no 5xx, v2 errors, nothing stored', async () => {
        const seg = fc.oneof(garbageSegment, fc.constantFrom('users', 'conversations', 'messages', 'integrations', 'webhooks', 'keys', 'join', 'leave', 'activity', 'clients', 'participants', ''));
        const arb = fc.record({
          method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
          segments: fc.array(seg, { minLength: 0, maxLength: 5 }),
          prefix: fc.constantFrom('/v2/apps/APP', '/v2', '/v1/apps/APP', '/', '/hooks', '/media', '//v2/apps/APP', '/v2/apps/APP/'),
          query: queryArb,
          body: fc.option(bodyArb(), { freq: 2 }),
          contentType: jsonContentType,
        });
        await check(
          'any method on any path',
          fc.asyncProperty(arb, async (r) => {
            const path = `${r.prefix.replace('APP', w.appId)}${r.segments.map((s) => `/${s}`).join('')}` + (r.query ? `?${r.query}` : '');
            const bodyAllowed = !['GET', 'HEAD'].includes(r.method);
            const request: FuzzRequest = { method: r.method, path: path.startsWith('/') ? path : `/${path}`, authorization: w.auth, contentType: r.contentType, body: bodyAllowed ? (r.body ?? undefined) : undefined };
            const described = describeRequest(request);
            const before = await stored.get(watched);
            stored.forget();
            const mark = logMark();
            let res: Sent;
            try {
              res = await send(request);
            } catch (err) {
              throw new Error(`the request crashed: ${described}: ${String(err)}\nworker log: ${logSince(mark).join('\n')}`);
            }
            if (expectNo5xx(res, described, mark) === 'known') return;
            if (res.status >= 400 && r.method !== 'HEAD') {
              expectV2Error(res, described);
              stored.set(watched, await expectNothingStored(watched, before, described, res));
            }
          }),
        );
      }, timeoutFor());
    });
  }
}
