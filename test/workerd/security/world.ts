/**
 * The world the attacker's suite plays in: two tenants built alike (the
 * victim and the attacker), each an app with a key, the seeded users and
 * conversations of fixtures.seedApp, a custom integration with a webhook and
 * an integration key, a second custom integration (whose key is the one an
 * attacker holds inside the victim's app), a Web Messenger integration with
 * visitors, and one integration per channel, set up through the API against
 * channel fakes of their own (own tokens, own secrets, own origins). Real
 * traffic then fills it: channel users write (media included), a visitor
 * uploads, the business uploads. `state` reads all of it back — through the
 * API with the owner's keys, and straight from D1 and R2 — so a test can
 * prove that an attack stored or changed nothing.
 */
import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';
import { MetaFake } from '../../fakes/meta';
import { TelegramFake } from '../../fakes/telegram';
import { TwilioFake } from '../../fakes/twilio';
import { hook, RECEIVER_ORIGIN, routeFetch, WebhookReceiver } from '../channels/harness';
import { seedApp, snapshot, type Seed, bearer, handJwt } from '../fixtures';
import { asAccount, basic, call, newApp } from '../helpers';
import { businessSays, ORIGIN, say, startSession, storedMessages, type Visitor, type WebApp } from '../web/web';

export type ChannelKind = 'telegram' | 'messenger' | 'whatsapp' | 'instagram' | 'twilio';
export const CHANNELS: ChannelKind[] = ['telegram', 'messenger', 'whatsapp', 'instagram', 'twilio'];

export interface CustomIntegration {
  id: string;
  webhookId: string;
  key: { id: string; secret: string };
  /** Basic header for the integration key. */
  auth: string;
}

export interface Tenant {
  label: string;
  seed: Seed;
  appId: string;
  /** Basic header for the app key, and a Bearer app-scope JWT signed with it. */
  auth: string;
  jwt: string;
  custom: CustomIntegration;
  spare: CustomIntegration;
  web: WebApp;
  /** Two anonymous visitors of the web integration; the second has written and uploaded. */
  visitors: [Visitor, Visitor];
  channels: Record<ChannelKind, { id: string; webhookUrl: string }>;
  fakes: { telegram: TelegramFake; meta: MetaFake; twilio: TwilioFake };
  /** The channel users who wrote, and their personal conversations. */
  telegramUser: { id: number; first_name: string };
  telegramConversationId: string;
  messengerUser: string;
  messengerConversationId: string;
  /** A picture the Telegram user sent: its /media URL. */
  mediaUrl: string;
  /** A file the business uploaded through /v2/apps/{appId}/attachments. */
  uploadUrl: string;
  /** An event the custom integration's webhook was sent (replayable by its owner). */
  eventId: string;
}

const META_APP_ID = '1517776481860111';

function fakesFor(label: string, n: number) {
  return {
    telegram: new TelegramFake({ token: `${700000000 + n}:AAH${label}BotTokenForTheSecuritySuite_0123456789` }),
    meta: new MetaFake({
      origin: `https://meta-${label}.test`,
      appSecret: `${label}_meta_app_secret`,
      page: { id: `11000000000000${n}`, name: `${label} page`, accessToken: `EAAG${label}PageToken`, instagram: { id: `1784140000000000${n}`, username: `${label}.ig`, name: `${label} ig` } },
      whatsapp: { phoneNumberId: `10654035224292${n}`, accessToken: `EAAG${label}WhatsAppToken`, wabaId: `10229012934039${n}`, displayPhoneNumber: `+1 555-078-388${n}` },
    }),
    twilio: new TwilioFake({
      origin: `https://twilio-${label}.test`,
      accountSid: `AC${String(n).repeat(32)}`,
      authToken: `${label}-twilio-auth-token-${n}`.padEnd(32, 'x'),
      phoneNumbers: { [`PN${String(n).repeat(32)}`]: `+1500555000${n}` },
    }),
  };
}

const telegramOrigin = (label: string) => `https://telegram-${label}.test`;

async function created(path: string, auth: string, body: unknown) {
  const res = await call('POST', path, auth, body);
  expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(201);
  return res.body;
}

async function customIntegration(appId: string, auth: string, name: string): Promise<CustomIntegration> {
  const { integration } = await created(`/v2/apps/${appId}/integrations`, auth, {
    type: 'custom',
    displayName: name,
    webhooks: [{ target: `${RECEIVER_ORIGIN}/${name}`, triggers: ['*'] }],
  });
  const { key } = await created(`/v2/apps/${appId}/integrations/${integration.id}/keys`, auth, { displayName: `${name} key` });
  return { id: integration.id, webhookId: integration.webhooks[0].id, key, auth: basic(key.id, key.secret) };
}

/** The conversation a channel user was given on first contact (read from D1: the API lists by Parley user only). */
async function channelConversation(appId: string, integrationId: string, externalId: string): Promise<string> {
  const row = await env.DB.prepare('SELECT conversation_id FROM clients WHERE app_id = ? AND integration_id = ? AND external_id = ?')
    .bind(appId, integrationId, externalId)
    .first<{ conversation_id: string }>();
  expect(row, `no client for ${externalId} on ${integrationId}`).not.toBeNull();
  return row!.conversation_id;
}

export function uploadForm(name = 'note.txt', text = 'hello', type = 'text/plain'): FormData {
  const form = new FormData();
  form.append('source', new File([text], name, { type }));
  return form;
}

async function tenant(label: string, n: number, fakes: Tenant['fakes']): Promise<Tenant> {
  const app = await newApp(label);
  const seed = await seedApp(app.appId, app.auth, app.key, `${label}-user`);
  const base = `/v2/apps/${app.appId}`;
  const custom = await customIntegration(app.appId, app.auth, `${label}-custom`);
  const spare = await customIntegration(app.appId, app.auth, `${label}-spare`);
  const { integration: webIntegration } = await created(`${base}/integrations`, app.auth, {
    type: 'web',
    displayName: `${label} site`,
    originWhitelist: [ORIGIN],
    canUserCreateMoreConversations: true,
  });
  const web: WebApp = { ...app, integrationId: webIntegration.id };

  const bodies: Record<ChannelKind, Record<string, unknown>> = {
    telegram: { type: 'telegram', token: fakes.telegram.token, apiBaseUrl: telegramOrigin(label) },
    messenger: { type: 'messenger', pageAccessToken: fakes.meta.page.accessToken, appId: META_APP_ID, appSecret: fakes.meta.appSecret, apiBaseUrl: fakes.meta.origin },
    instagram: { type: 'instagram', pageAccessToken: fakes.meta.page.accessToken, appId: META_APP_ID, appSecret: fakes.meta.appSecret, apiBaseUrl: fakes.meta.origin },
    whatsapp: { type: 'whatsapp', phoneNumberId: fakes.meta.wa.phoneNumberId, accessToken: fakes.meta.wa.accessToken, appSecret: fakes.meta.appSecret, apiBaseUrl: fakes.meta.origin },
    twilio: { type: 'twilio', accountSid: fakes.twilio.accountSid, authToken: fakes.twilio.authToken, phoneNumberSid: [...fakes.twilio.phoneNumbers.keys()][0], apiBaseUrl: fakes.twilio.origin },
  };
  const channels = {} as Tenant['channels'];
  for (const kind of CHANNELS) {
    const { integration } = await created(`${base}/integrations`, app.auth, bodies[kind]);
    expect(integration.status, `${label} ${kind}: ${JSON.stringify(integration)}`).toBe('active');
    channels[kind] = { id: integration.id, webhookUrl: integration.webhookUrl };
  }

  // Channel users write: the data an attacker would want to read, change or join.
  const telegramUser = { id: 7001, first_name: `${label} telegram user` };
  expect((await hook(fakes.telegram.text(channels.telegram.webhookUrl, telegramUser, `${label}: telegram secret`))).status).toBe(200);
  expect((await hook(fakes.telegram.photo(channels.telegram.webhookUrl, telegramUser, { caption: `${label} picture` }))).status).toBe(200);
  const telegramConversationId = await channelConversation(app.appId, channels.telegram.id, String(telegramUser.id));
  const messengerUser = '6543210987654321';
  expect((await hook(await fakes.meta.messenger.text(channels.messenger.webhookUrl, messengerUser, `${label}: messenger secret`))).status).toBe(200);
  const messengerConversationId = await channelConversation(app.appId, channels.messenger.id, messengerUser);
  const picture = (await storedMessages({ appId: app.appId, auth: app.auth }, telegramConversationId)).find((m) => m.content.type === 'image');
  const mediaUrl = String(picture.content.mediaUrl);
  // Served once, so its copy is in R2 before any read-back (the prefetch after the hook writes the same key).
  const served = await hook(new Request(mediaUrl));
  expect(served.status).toBe(200);
  await served.arrayBuffer();

  const visitors: [Visitor, Visitor] = [await startSession(web), await startSession(web)];
  await say(web, visitors[1], `${label}: visitor secret`);
  // Offered, so the browser tables' postback is a tap a session could really send.
  await businessSays(web, visitors[1].conversationId, { type: 'text', text: 'Buy?', actions: [{ type: 'postback', text: 'Buy', payload: 'BUY' }] });
  const uploaded = await uploadWith(`/sdk/v2/apps/${app.appId}/attachments`, { origin: ORIGIN, authorization: `Bearer ${visitors[1].token}` });
  expect(uploaded.status).toBe(201);
  const business = await uploadWith(`${base}/attachments?access=public`, { authorization: app.auth });
  expect(business.status).toBe(201);
  const attempt = await eventuallyRow<{ event_ids: string }>('SELECT event_ids FROM webhook_attempts WHERE app_id = ? AND webhook_id = ? LIMIT 1', app.appId, custom.webhookId);

  return {
    label,
    seed,
    appId: app.appId,
    auth: app.auth,
    jwt: bearer(await handJwt({ alg: 'HS256', typ: 'JWT', kid: app.key.id }, { scope: 'app' }, app.key.secret)),
    custom,
    spare,
    web,
    visitors,
    channels,
    fakes,
    telegramUser,
    telegramConversationId,
    messengerUser,
    messengerConversationId,
    mediaUrl,
    uploadUrl: business.body.attachment.mediaUrl,
    eventId: (JSON.parse(attempt.event_ids) as string[])[0]!,
  };
}

async function uploadWith(path: string, headers: Record<string, string>) {
  const res = await SELF.fetch(`http://parley.test${path}`, { method: 'POST', headers, body: uploadForm() });
  return { status: res.status, body: (await res.json()) as any };
}

export interface World {
  victim: Tenant;
  attacker: Tenant;
  receiver: WebhookReceiver;
  restore: () => Promise<void>;
}

/** Both tenants, every channel fake and a webhook receiver behind the runtime's fetch. */
export async function buildWorld(): Promise<World> {
  const victimFakes = fakesFor('victim', 1);
  const attackerFakes = fakesFor('attacker', 2);
  const receiver = new WebhookReceiver();
  const spy = routeFetch({
    [telegramOrigin('victim')]: victimFakes.telegram,
    [telegramOrigin('attacker')]: attackerFakes.telegram,
    [victimFakes.meta.origin]: victimFakes.meta,
    [attackerFakes.meta.origin]: attackerFakes.meta,
    [victimFakes.twilio.origin]: victimFakes.twilio,
    [attackerFakes.twilio.origin]: attackerFakes.twilio,
    [RECEIVER_ORIGIN]: receiver,
  });
  const [victim, attacker] = await Promise.all([tenant('victim', 1, victimFakes), tenant('attacker', 2, attackerFakes)]);
  // Queued channel sends and webhook deliveries outlive the tests: they finish on the routed network
  // (quiet for 300 ms, 5 s at most) before the runtime's own fetch, which would try DNS, is handed back.
  const restore = async () => {
    for (let seen = -1, until = Date.now() + 5_000; spy.mock.calls.length !== seen && Date.now() < until; ) {
      seen = spy.mock.calls.length;
      await new Promise((r) => setTimeout(r, 300));
    }
    spy.mockRestore();
  };
  return { victim, attacker, receiver, restore };
}

/** A row the queues write in the background, once it is there. */
export async function eventuallyRow<T>(sql: string, ...binds: unknown[]): Promise<T> {
  const until = Date.now() + 15_000;
  for (;;) {
    const row = await env.DB.prepare(sql).bind(...binds).first<T>();
    if (row) return row;
    if (Date.now() > until) throw new Error(`no row yet for ${sql}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---- read-back -----------------------------------------------------------------------------

const rows = async (sql: string, ...binds: unknown[]) => (await env.DB.prepare(sql).bind(...binds).all()).results;

/** Everything D1 holds for the app, minus columns that move on their own (last seen, last updated). */
async function storedRows(appId: string) {
  return {
    app: await rows('SELECT id, display_name, settings, metadata FROM apps WHERE id = ?', appId),
    appKeys: await rows('SELECT id, display_name, secret_sealed FROM app_keys WHERE app_id = ? ORDER BY id', appId),
    users: await rows('SELECT id, external_id, authenticated, profile, metadata, identities FROM users WHERE app_id = ? ORDER BY id', appId),
    clients: await rows('SELECT id, user_id, type, status, integration_id, external_id, conversation_id, display_name, info FROM clients WHERE app_id = ? ORDER BY id', appId),
    conversations: await rows('SELECT id, type, is_default, display_name, description, metadata, deleted_at, cleared_up_to_seq FROM conversations WHERE app_id = ? ORDER BY id', appId),
    participants: await rows('SELECT conversation_id, user_id, participant_id FROM conversation_participants WHERE app_id = ? ORDER BY conversation_id, user_id', appId),
    integrations: await rows('SELECT id, type, status, display_name, config FROM integrations WHERE app_id = ? ORDER BY id', appId),
    webhooks: await rows('SELECT id, integration_id, target, triggers, secret_sealed, previous_secret_sealed FROM webhooks WHERE app_id = ? ORDER BY id', appId),
    integrationKeys: await rows('SELECT id, integration_id, display_name, secret_sealed FROM integration_keys WHERE app_id = ? ORDER BY id', appId),
    deadLetters: await rows('SELECT event_id, webhook_id, replay_requested_at FROM webhook_dead_letters WHERE app_id = ? ORDER BY event_id', appId),
  };
}

async function objectKeys(prefix: string): Promise<string[]> {
  return (await env.ATTACHMENTS.list({ prefix, limit: 1000 })).objects.map((o) => o.key).sort();
}

/**
 * The tenant as its owner sees it (API, app and account keys) and as storage
 * holds it (D1 rows, R2 objects), for before/after comparisons.
 */
export async function state(t: Tenant) {
  const base = `/v2/apps/${t.appId}`;
  const read = async (path: string, auth = t.auth) => {
    const res = await call('GET', path, auth);
    expect(res.status, `GET ${path}`).toBe(200);
    return res.body;
  };
  const conversation = async (id: string) => ({
    conversation: await read(`${base}/conversations/${id}`),
    participants: await read(`${base}/conversations/${id}/participants`),
    messages: await read(`${base}/conversations/${id}/messages`),
  });
  const [api, integrations, customKeys, spareKeys, appKeys, conversations, stored, uploads, media] = await Promise.all([
    snapshot(t.seed),
    read(`${base}/integrations?page[size]=100`),
    read(`${base}/integrations/${t.custom.id}/keys`),
    read(`${base}/integrations/${t.spare.id}/keys`),
    read(`${base}/keys`, asAccount),
    // Channel and visitor conversations: the object, its participants (read state) and its messages.
    Promise.all([t.telegramConversationId, t.messengerConversationId, ...t.visitors.map((v) => v.conversationId)].map(conversation)),
    storedRows(t.appId),
    objectKeys(`${t.appId}/`),
    objectKeys(`media/${t.appId}/`),
  ]);
  return { api, integrations, customKeys, spareKeys, appKeys, conversations, rows: stored, uploads, media };
}

export type State = Awaited<ReturnType<typeof state>>;
