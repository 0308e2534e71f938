/**
 * Messenger and Instagram profiles on first contact, against the Graph fake:
 * a new PSID or IGSID is looked up once with the Page token
 * (`GET /{id}?fields=first_name,last_name,profile_pic` or
 * `fields=name,username,profile_pic`), and the user (givenName, surname,
 * avatarUrl) and the client (displayName, avatarUrl, raw) start with it, as
 * `client:add` and the full user of a webhook show. A lookup that fails or
 * hangs never costs the message; a returning user costs no lookup at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newApp } from '../helpers';
import { MetaFake } from '../../fakes/meta';
import { eventually, hook, messages, RECEIVER_ORIGIN, routeFetch, WebhookReceiver, type FetchHandler } from './harness';

type Json = Record<string, any>;
type Kind = 'messenger' | 'instagram';

const API = 'https://meta.test';
const APP_ID = '1517776481860111';

const fake = new MetaFake({ origin: API });
const receiver = new WebhookReceiver();
/** Profile lookups of these users never answer (Graph hanging). */
const hanging = new Set<string>();
const graph: FetchHandler = {
  fetch(request) {
    const node = new URL(request.url).pathname.split('/')[2] ?? '';
    if (request.method === 'GET' && hanging.has(node)) return new Promise<Response>(() => {});
    return fake.fetch(request);
  },
};

let restore: () => void;
let app: Awaited<ReturnType<typeof newApp>>;
const integrations = {} as Record<Kind, { id: string; webhookUrl: string }>;

beforeAll(async () => {
  const spy = routeFetch({ [API]: graph, [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
  app = await newApp('meta profiles');
  const hooks = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, {
    type: 'custom',
    webhooks: [{ target: `${RECEIVER_ORIGIN}/hook`, triggers: ['*'], includeFullUser: true }],
  });
  expect(hooks.status).toBe(201);
  for (const kind of ['messenger', 'instagram'] as const) {
    const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: kind, pageAccessToken: fake.page.accessToken, appId: APP_ID, appSecret: fake.appSecret, apiBaseUrl: API });
    expect(res.status).toBe(201);
    integrations[kind] = res.body.integration;
  }
});

afterAll(() => restore());

const send = (kind: Kind, userId: string, text: string) => (kind === 'messenger' ? fake.messenger : fake.instagram).text(integrations[kind].webhookUrl, userId, text);

function eventFor(type: string, match: (payload: Json) => boolean) {
  return eventually(() => {
    const found = receiver.ofType(type).find((e) => match(e.payload));
    if (!found) throw new Error(`no ${type} yet`);
    return found.payload as Json;
  });
}

/** The client:add of the channel user, with its user (expanded: the webhook asks for full users). */
const clientAdded = (kind: Kind, externalId: string) => eventFor('client:add', (p) => p.client.externalId === externalId && p.client.integrationId === integrations[kind].id);

async function conversationOf(userId: string): Promise<string> {
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${userId}`, app.auth);
  return list.body.conversations[0].id;
}

async function storedTexts(userId: string): Promise<Json[]> {
  return eventually(async () => {
    const stored = await messages(app.appId, app.auth, await conversationOf(userId));
    if (stored.length === 0) throw new Error('nothing stored yet');
    return stored as Json[];
  });
}

describe('Messenger first contact', () => {
  const psid = '24800000000000101';

  it('looks the PSID up once with the Page token and starts the user and the client with the name and picture', async () => {
    const pic = `${API}/cdn/ada.jpg`;
    fake.setProfile(psid, { first_name: 'Ada', last_name: 'Lovelace', profile_pic: pic });
    const res = await hook(await send('messenger', psid, 'Hello from Messenger'));
    expect(res.status).toBe(200);

    const lookups = fake.profileLookups(psid);
    expect(lookups).toHaveLength(1);
    expect(lookups[0]!.body).toEqual({ fields: 'first_name,last_name,profile_pic' });
    expect(lookups[0]!.headers.authorization).toBe(`Bearer ${fake.page.accessToken}`);
    expect(lookups[0]!.status).toBe(200);

    const added = await clientAdded('messenger', psid);
    expect(added.client).toMatchObject({ type: 'messenger', displayName: 'Ada Lovelace', avatarUrl: pic, raw: { first_name: 'Ada', last_name: 'Lovelace', profile_pic: pic } });
    expect(added.user.profile).toMatchObject({ givenName: 'Ada', surname: 'Lovelace', avatarUrl: pic });

    const user = await call('GET', `/v2/apps/${app.appId}/users/${added.user.id}`, app.auth);
    expect(user.body.user.profile).toMatchObject({ givenName: 'Ada', surname: 'Lovelace', avatarUrl: pic });
    const clients = await call('GET', `/v2/apps/${app.appId}/users/${added.user.id}/clients`, app.auth);
    expect(clients.body.clients[0]).toMatchObject({ displayName: 'Ada Lovelace', avatarUrl: pic, raw: { first_name: 'Ada', last_name: 'Lovelace' } });

    const [message] = await storedTexts(added.user.id);
    expect(message).toMatchObject({ author: { type: 'user', displayName: 'Ada Lovelace', avatarUrl: pic }, content: { text: 'Hello from Messenger' } });
    const created = await eventFor('conversation:create', (p) => p.user?.id === added.user.id);
    expect(created.user.profile).toMatchObject({ givenName: 'Ada', surname: 'Lovelace' });
  });

  it('asks nothing for a returning user: their next messages cost no profile lookup', async () => {
    const before = fake.profileLookups().length;
    for (const text of ['Second message', 'Third message']) expect((await hook(await send('messenger', psid, text))).status).toBe(200);
    const added = await clientAdded('messenger', psid);
    await eventually(async () => expect((await storedTexts(added.user.id)).map((m) => m.content.text)).toContain('Third message'));
    expect(fake.profileLookups(psid)).toHaveLength(1);
    expect(fake.profileLookups()).toHaveLength(before);
  });

  it('stores the message of a user whose profile Graph refuses (its error envelope), and starts them without one', async () => {
    const refused = '24800000000000102';
    fake.errorNext('2');
    const res = await hook(await send('messenger', refused, 'Graph is having a bad day'));
    expect(res.status).toBe(200);
    const lookups = fake.profileLookups(refused);
    expect(lookups.map((c) => c.status)).toEqual([503]);

    const added = await clientAdded('messenger', refused);
    expect(added.client.displayName ?? null).toBeNull();
    expect(added.client.avatarUrl ?? null).toBeNull();
    expect(added.user.profile?.givenName).toBeUndefined();
    const [message] = await storedTexts(added.user.id);
    expect(message).toMatchObject({ content: { text: 'Graph is having a bad day' } });
    expect(message!.author.displayName).toBeUndefined();
  });

  it('does not hold a message longer than the profile timeout when the lookup hangs', async () => {
    const slow = '24800000000000103';
    hanging.add(slow);
    const started = Date.now();
    const res = await hook(await send('messenger', slow, 'Anyone there?'));
    const took = Date.now() - started;
    expect(res.status).toBe(200);
    expect(took).toBeGreaterThanOrEqual(2_900);
    expect(took).toBeLessThan(8_000);
    const added = await clientAdded('messenger', slow);
    expect(added.client.displayName ?? null).toBeNull();
    expect((await storedTexts(added.user.id))[0]).toMatchObject({ content: { text: 'Anyone there?' } });
  }, 20_000);
});

describe('Instagram first contact', () => {
  const igsid = '6310000000000201';

  it('looks the IGSID up for name, username and picture: the name is the givenName, the client shows it', async () => {
    const pic = `${API}/cdn/grace.jpg`;
    fake.setProfile(igsid, { name: 'Grace Hopper', username: 'grace.hopper', profile_pic: pic });
    expect((await hook(await send('instagram', igsid, 'Hi from Instagram'))).status).toBe(200);

    const lookups = fake.profileLookups(igsid);
    expect(lookups.map((c) => [c.body, c.status])).toEqual([[{ fields: 'name,username,profile_pic' }, 200]]);
    const added = await clientAdded('instagram', igsid);
    expect(added.client).toMatchObject({ type: 'instagram', displayName: 'Grace Hopper', avatarUrl: pic, raw: { name: 'Grace Hopper', username: 'grace.hopper', profile_pic: pic } });
    expect(added.user.profile).toMatchObject({ givenName: 'Grace Hopper', avatarUrl: pic });
    expect(added.user.profile.surname).toBeUndefined();

    expect((await hook(await send('instagram', igsid, 'Again'))).status).toBe(200);
    await eventually(async () => expect((await storedTexts(added.user.id)).map((m) => m.content.text)).toEqual(['Hi from Instagram', 'Again']));
    expect(fake.profileLookups(igsid)).toHaveLength(1);
  });

  it('shows the @username when the user set no name', async () => {
    const unnamed = '6310000000000202';
    fake.setProfile(unnamed, { name: null, username: 'quiet.one', profile_pic: null });
    expect((await hook(await send('instagram', unnamed, 'hey'))).status).toBe(200);
    const added = await clientAdded('instagram', unnamed);
    expect(added.client).toMatchObject({ displayName: 'quiet.one', raw: { username: 'quiet.one' } });
    expect(added.client.avatarUrl ?? null).toBeNull();
    expect(added.user.profile?.givenName).toBeUndefined();
  });
});
