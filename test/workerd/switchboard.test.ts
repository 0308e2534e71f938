/**
 * The switchboard: its configuration routes (limits, references, scopes), the
 * conversation's control state changing in order with its messages, and the
 * routing of webhook events by that state — a bot and an agent desk, each a
 * custom integration with its own receiver, handing a conversation over the
 * way a support team does, and a Telegram user writing in through the real
 * channel path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TelegramFake } from '../fakes/telegram';
import { eventually, hook, routeFetch, WebhookReceiver } from './channels/harness';
import { basic, call, newApp } from './helpers';

const BOT = 'https://bot.test';
const AGENT = 'https://agent.test';
const AUDIT = 'https://audit.test';
const TELEGRAM = 'https://telegram-switchboard.test';

let receivers: Record<string, WebhookReceiver>;
const telegram = new TelegramFake({ webhookFetch: (request) => hook(request) });
let restore: () => void;

beforeAll(() => {
  receivers = { [BOT]: new WebhookReceiver(), [AGENT]: new WebhookReceiver(), [AUDIT]: new WebhookReceiver() };
  const spy = routeFetch({ ...receivers, [TELEGRAM]: telegram });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

type App = Awaited<ReturnType<typeof newApp>>;

async function customIntegration(app: App, target: string) {
  const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: `${target}/hook`, triggers: ['*'] }] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  const integrationId = res.body.integration.id as string;
  const key = await call('POST', `/v2/apps/${app.appId}/integrations/${integrationId}/keys`, app.auth, { displayName: 'k' });
  return { integrationId, auth: basic(key.body.key.id, key.body.key.secret) };
}

/**
 * An app with a bot (default; its next is the agent desk) and an agent desk
 * that hears nothing in standby, plus an audit integration the switchboard
 * does not name; the switchboard enabled.
 */
async function handoverApp(options: { enable?: boolean } = {}) {
  const app = await newApp('switchboard');
  const bot = await customIntegration(app, BOT);
  const agent = await customIntegration(app, AGENT);
  await customIntegration(app, AUDIT);
  const sb = await call('POST', `/v2/apps/${app.appId}/switchboards`, app.auth);
  expect(sb.status).toBe(201);
  const switchboardId = sb.body.switchboard.id as string;
  const base = `/v2/apps/${app.appId}/switchboards/${switchboardId}`;
  const agentSb = await call('POST', `${base}/switchboardIntegrations`, app.auth, { name: 'agent', integrationId: agent.integrationId, deliverStandbyEvents: false });
  expect(agentSb.status, JSON.stringify(agentSb.body)).toBe(201);
  const botSb = await call('POST', `${base}/switchboardIntegrations`, app.auth, {
    name: 'bot',
    integrationId: bot.integrationId,
    deliverStandbyEvents: false,
    nextSwitchboardIntegrationId: agentSb.body.switchboardIntegration.id,
    messageHistoryCount: 2,
  });
  expect(botSb.status, JSON.stringify(botSb.body)).toBe(201);
  const enabled = await call('PATCH', base, app.auth, { enabled: options.enable ?? true, defaultSwitchboardIntegrationId: botSb.body.switchboardIntegration.id });
  expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
  const user = await call('POST', `/v2/apps/${app.appId}/users`, app.auth, { externalId: `sb-${crypto.randomUUID()}` });
  const conversation = await call('POST', `/v2/apps/${app.appId}/conversations`, app.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
  expect(conversation.status).toBe(201);
  return {
    app,
    bot,
    agent,
    base,
    switchboardId,
    botSbId: botSb.body.switchboardIntegration.id as string,
    agentSbId: agentSb.body.switchboardIntegration.id as string,
    userId: user.body.user.id as string,
    conversationId: conversation.body.conversation.id as string,
    conversation: conversation.body.conversation,
  };
}

type Handover = Awaited<ReturnType<typeof handoverApp>>;

async function userSays(h: Handover, text: string) {
  const res = await call('POST', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}/messages`, h.app.auth, { author: { type: 'user', userId: h.userId }, content: { type: 'text', text } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

const action = (h: Handover, name: string, body?: unknown, auth = h.app.auth) => call('POST', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}/${name}`, auth, body);

/** The texts of the conversation:message events a receiver got for this conversation. */
const heard = (origin: string, h: Handover) =>
  receivers[origin]!.ofType('conversation:message')
    .filter((e) => (e.payload.conversation as { id: string }).id === h.conversationId)
    .map((e) => (e.payload.message as { content: { text: string } }).content.text);

const eventsOf = (origin: string, h: Handover, type: string) => receivers[origin]!.ofType(type).filter((e) => (e.payload.conversation as { id: string }).id === h.conversationId);

describe('switchboard configuration', () => {
  it('one switchboard per app, created disabled; listed; a second create answers 400', async () => {
    const app = await newApp('sb config');
    const created = await call('POST', `/v2/apps/${app.appId}/switchboards`, app.auth);
    expect(created.status).toBe(201);
    expect(created.body.switchboard).toEqual({ id: expect.stringMatching(/^[0-9a-f]{24}$/), enabled: false, defaultSwitchboardIntegrationId: null });
    const again = await call('POST', `/v2/apps/${app.appId}/switchboards`, app.auth);
    expect(again.status).toBe(400);
    expect(again.body.errors[0].title).toMatch(/only one switchboard/i);
    const listed = await call('GET', `/v2/apps/${app.appId}/switchboards`, app.auth);
    expect(listed.body).toEqual({ switchboards: [created.body.switchboard] });
  });

  it('switchboard integrations: created by integrationId or integrationType, the 11th refused with too_many_switchboard_integrations', async () => {
    const app = await newApp('sb limits');
    const { integrationId } = await customIntegration(app, BOT);
    const sb = await call('POST', `/v2/apps/${app.appId}/switchboards`, app.auth);
    const base = `/v2/apps/${app.appId}/switchboards/${sb.body.switchboard.id}/switchboardIntegrations`;
    const byId = await call('POST', base, app.auth, { name: 'bot', integrationId });
    expect(byId.status).toBe(201);
    expect(byId.body.switchboardIntegration).toEqual({
      id: expect.any(String),
      name: 'bot',
      integrationId,
      integrationType: 'custom',
      deliverStandbyEvents: true,
      nextSwitchboardIntegrationId: null,
      messageHistoryCount: null,
    });
    for (let i = 1; i < 10; i++) expect((await call('POST', base, app.auth, { name: `desk-${i}`, integrationType: `zd:desk${i}` })).status).toBe(201);
    const eleventh = await call('POST', base, app.auth, { name: 'one-too-many', integrationType: 'zd:more' });
    expect(eleventh.status).toBe(400);
    expect(eleventh.body.errors[0].code).toBe('too_many_switchboard_integrations');
    expect((await call('GET', base, app.auth)).body.switchboardIntegrations).toHaveLength(10);
  });

  it('bad input names the field and stores nothing', async () => {
    const app = await newApp('sb bad input');
    const { integrationId } = await customIntegration(app, BOT);
    const sb = await call('POST', `/v2/apps/${app.appId}/switchboards`, app.auth);
    const board = `/v2/apps/${app.appId}/switchboards/${sb.body.switchboard.id}`;
    const base = `${board}/switchboardIntegrations`;
    const cases: [unknown, RegExp][] = [
      [{ integrationId }, /^name: is required/],
      [{ name: 'has space', integrationId }, /^name: /],
      [{ name: 'x'.repeat(129), integrationId }, /^name: must be at most 128/],
      [{ name: 'both', integrationId, integrationType: 'custom' }, /exactly one of integrationId or integrationType/],
      [{ name: 'neither' }, /exactly one of integrationId or integrationType/],
      [{ name: 'ghost', integrationId: '0123456789abcdef01234567' }, /^integrationId: the app has no integration/],
      [{ name: 'hist', integrationId, messageHistoryCount: 11 }, /^messageHistoryCount: must be at most 10/],
      [{ name: 'next', integrationId, nextSwitchboardIntegrationId: '0123456789abcdef01234567' }, /^nextSwitchboardIntegrationId: /],
      [{ name: 'standby', integrationId, deliverStandbyEvents: 'yes' }, /^deliverStandbyEvents: must be a boolean/],
    ];
    for (const [body, title] of cases) {
      const res = await call('POST', base, app.auth, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors[0].title, JSON.stringify(body)).toMatch(title);
    }
    expect((await call('GET', base, app.auth)).body.switchboardIntegrations).toEqual([]);
    const enable = await call('PATCH', board, app.auth, { enabled: true });
    expect(enable.status).toBe(400);
    expect(enable.body.errors[0].title).toMatch(/^enabled: set defaultSwitchboardIntegrationId first/);
    const badDefault = await call('PATCH', board, app.auth, { defaultSwitchboardIntegrationId: '0123456789abcdef01234567' });
    expect(badDefault.status).toBe(400);
    expect((await call('GET', `/v2/apps/${app.appId}/switchboards`, app.auth)).body.switchboards[0]).toMatchObject({ enabled: false, defaultSwitchboardIntegrationId: null });
    expect((await call('PATCH', `/v2/apps/${app.appId}/switchboards/0123456789abcdef01234567`, app.auth, { enabled: false })).body.errors[0].code).toBe('switchboard_not_found');
  });

  it('the default and a next cannot be deleted; integration keys cannot manage switchboards', async () => {
    const h = await handoverApp();
    const delDefault = await call('DELETE', `${h.base}/switchboardIntegrations/${h.botSbId}`, h.app.auth);
    expect(delDefault.status).toBe(400);
    const delNext = await call('DELETE', `${h.base}/switchboardIntegrations/${h.agentSbId}`, h.app.auth);
    expect(delNext.status).toBe(400);
    expect((await call('GET', `${h.base}/switchboardIntegrations`, h.app.auth)).body.switchboardIntegrations).toHaveLength(2);
    for (const [method, path] of [
      ['GET', `/v2/apps/${h.app.appId}/switchboards`],
      ['POST', `/v2/apps/${h.app.appId}/switchboards`],
      ['PATCH', h.base],
      ['DELETE', h.base],
      ['GET', `${h.base}/switchboardIntegrations`],
    ] as const) {
      const res = await call(method, path, h.bot.auth, method === 'PATCH' ? { enabled: false } : undefined);
      expect(res.status, `${method} ${path}`).toBe(403);
    }
  });
});

describe('handover: control state and routing', () => {
  it('a new conversation starts on the default; user messages reach the bot and integrations outside the switchboard, not the agent in standby', async () => {
    const h = await handoverApp();
    expect(h.conversation.activeSwitchboardIntegration).toEqual({ id: h.botSbId, name: 'bot', integrationId: h.bot.integrationId, integrationType: 'custom' });
    await userSays(h, 'hello bot');
    await eventually(() => expect(heard(BOT, h)).toEqual(['hello bot']));
    await eventually(() => expect(heard(AUDIT, h)).toEqual(['hello bot']));
    const got = eventsOf(BOT, h, 'conversation:message')[0]!;
    expect((got.payload.conversation as Record<string, unknown>).activeSwitchboardIntegration).toMatchObject({ id: h.botSbId, name: 'bot' });
    // In standby from the start, the agent hears neither the creation nor the message.
    expect(heard(AGENT, h)).toEqual([]);
    expect(eventsOf(AGENT, h, 'conversation:create')).toEqual([]);
  });

  it('passControl next hands over with its metadata and the history asked for; messages then reach the agent only; releaseControl and the next message put it back on the default silently', async () => {
    const h = await handoverApp();
    await userSays(h, 'one');
    await userSays(h, 'two');
    await userSays(h, 'I want a human');
    const pass = await action(h, 'passControl', { switchboardIntegration: 'next', metadata: { reason: 'asked for a human' } }, h.bot.auth);
    expect(pass.status, JSON.stringify(pass.body)).toBe(200);
    expect(pass.body).toEqual({});
    const now = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(now.body.conversation.activeSwitchboardIntegration).toMatchObject({ id: h.agentSbId, name: 'agent', integrationId: h.agent.integrationId });
    // Both sides hear the handover itself, whatever their standby setting.
    for (const origin of [BOT, AGENT]) {
      await eventually(() => expect(eventsOf(origin, h, 'switchboard:passControl')).toHaveLength(1));
    }
    const passed = eventsOf(AGENT, h, 'switchboard:passControl')[0]!.payload;
    expect(passed.metadata).toEqual({ reason: 'asked for a human' });
    expect((passed.conversation as Record<string, unknown>).activeSwitchboardIntegration).toMatchObject({ id: h.agentSbId });
    // The agent asked for no history; the bot asked for 2, so that rides on control coming back to it later.
    expect(passed.messageHistory).toBeUndefined();

    // A retried `next` from the bot, which no longer controls the conversation, is disregarded.
    expect((await action(h, 'passControl', { switchboardIntegration: 'next' }, h.bot.auth)).status).toBe(200);
    await userSays(h, 'hello agent');
    await eventually(() => expect(heard(AGENT, h)).toEqual(['hello agent']));
    expect(heard(BOT, h)).toEqual(['one', 'two', 'I want a human']);

    // Handing back to the bot by name: it receives the 2 newest messages as history.
    expect((await action(h, 'passControl', { switchboardIntegration: 'bot' }, h.agent.auth)).status).toBe(200);
    await eventually(() => expect(eventsOf(BOT, h, 'switchboard:passControl')).toHaveLength(2));
    const back = eventsOf(BOT, h, 'switchboard:passControl')[1]!.payload;
    expect((back.messageHistory as { content: { text: string } }[]).map((m) => m.content.text)).toEqual(['I want a human', 'hello agent']);

    expect((await action(h, 'releaseControl', undefined, h.bot.auth)).status).toBe(200);
    await eventually(() => expect(eventsOf(AGENT, h, 'switchboard:releaseControl')).toHaveLength(1));
    const released = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(released.body.conversation.activeSwitchboardIntegration).toBeUndefined();
    await userSays(h, 'anyone?');
    await eventually(() => expect(heard(BOT, h)).toContain('anyone?'));
    const message = eventsOf(BOT, h, 'conversation:message').find((e) => (e.payload.message as { content: { text: string } }).content.text === 'anyone?')!;
    expect((message.payload.conversation as Record<string, unknown>).activeSwitchboardIntegration).toMatchObject({ id: h.botSbId });
    expect(eventsOf(BOT, h, 'switchboard:passControl')).toHaveLength(2);
    expect(heard(AGENT, h)).toEqual(['hello agent']);
  });

  it('offerControl then acceptControl; offering to the one in control raises offerControl:failure; only the pending integration may accept', async () => {
    const h = await handoverApp();
    const failed = await action(h, 'offerControl', { switchboardIntegration: h.botSbId, metadata: { n: 1 } });
    expect(failed.status).toBe(200);
    await eventually(() => expect(eventsOf(BOT, h, 'switchboard:offerControl:failure')).toHaveLength(1));
    expect(eventsOf(BOT, h, 'switchboard:offerControl:failure')[0]!.payload).toMatchObject({ metadata: { n: 1 }, error: { code: 'switchboard_invalid_target' } });

    expect((await action(h, 'offerControl', { switchboardIntegration: 'agent' }, h.bot.auth)).status).toBe(200);
    const offered = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(offered.body.conversation).toMatchObject({ activeSwitchboardIntegration: { id: h.botSbId }, pendingSwitchboardIntegration: { id: h.agentSbId } });

    const notPending = await action(h, 'acceptControl', {}, h.bot.auth);
    expect(notPending.status).toBe(403);
    expect((await action(h, 'acceptControl', { metadata: { ticket: 42 } }, h.agent.auth)).status).toBe(200);
    const accepted = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(accepted.body.conversation.activeSwitchboardIntegration).toMatchObject({ id: h.agentSbId });
    expect(accepted.body.conversation.pendingSwitchboardIntegration).toBeUndefined();
    await eventually(() => expect(eventsOf(AGENT, h, 'switchboard:acceptControl')).toHaveLength(1));
    expect(eventsOf(AGENT, h, 'switchboard:acceptControl')[0]!.payload.metadata).toEqual({ ticket: 42 });

    // Nothing is pending any more: an app key's accept is announced as a failure.
    expect((await action(h, 'acceptControl')).status).toBe(200);
    await eventually(() => expect(eventsOf(AGENT, h, 'switchboard:acceptControl:failure')).toHaveLength(1));
  });

  it('passControl next from an integration with no next raises passControl:failure and changes nothing', async () => {
    const h = await handoverApp();
    expect((await action(h, 'passControl', { switchboardIntegration: 'agent' })).status).toBe(200);
    const res = await action(h, 'passControl', { switchboardIntegration: 'next', metadata: { attempt: 2 } }, h.agent.auth);
    expect(res.status).toBe(200);
    await eventually(() => expect(eventsOf(AGENT, h, 'switchboard:passControl:failure')).toHaveLength(1));
    expect(eventsOf(AGENT, h, 'switchboard:passControl:failure')[0]!.payload).toMatchObject({ metadata: { attempt: 2 }, error: { code: 'switchboard_invalid_target', message: 'agent has no nextSwitchboardIntegrationId' } });
    const still = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(still.body.conversation.activeSwitchboardIntegration).toMatchObject({ id: h.agentSbId });
  });

  it('control actions refuse what names nothing, or more than one, with a 400, and an integration acting for another with a 403', async () => {
    const h = await handoverApp();
    const unknown = await action(h, 'passControl', { switchboardIntegration: 'nobody' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors[0].title).toMatch(/^switchboardIntegration: no switchboard integration/);
    const ambiguous = await action(h, 'passControl', { switchboardIntegration: 'custom' });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.errors[0].title).toMatch(/2 switchboard integrations have integrationType custom/);
    expect((await action(h, 'passControl', {})).body.errors[0].title).toMatch(/^switchboardIntegration: is required/);
    expect((await action(h, 'passControl', { switchboardIntegration: 'agent', metadata: { nested: { no: 1 } } })).status).toBe(400);
    expect((await action(h, 'releaseControl', {}, h.agent.auth)).status).toBe(403);
    expect((await action(h, 'passControl', { switchboardIntegration: 'agent' }, h.agent.auth)).status).toBe(403);
    const still = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(still.body.conversation.activeSwitchboardIntegration).toMatchObject({ id: h.botSbId });
    const noBoard = await newApp('no switchboard');
    const user = await call('POST', `/v2/apps/${noBoard.appId}/users`, noBoard.auth, { externalId: 'u' });
    const conv = await call('POST', `/v2/apps/${noBoard.appId}/conversations`, noBoard.auth, { type: 'personal', participants: [{ userId: user.body.user.id }] });
    const none = await call('POST', `/v2/apps/${noBoard.appId}/conversations/${conv.body.conversation.id}/passControl`, noBoard.auth, { switchboardIntegration: 'next' });
    expect(none.status).toBe(404);
    expect(none.body.errors[0].code).toBe('switchboard_not_found');
  });

  it('deleting the integration in control: the next message falls back to the default without a passControl event, and the deleted one hears everything', async () => {
    const h = await handoverApp();
    // Give the agent control, then make the bot the agent's next-free default path so the agent may be deleted.
    expect((await action(h, 'passControl', { switchboardIntegration: 'agent' })).status).toBe(200);
    expect((await call('PATCH', `${h.base}/switchboardIntegrations/${h.botSbId}`, h.app.auth, { nextSwitchboardIntegrationId: null })).status).toBe(200);
    expect((await call('DELETE', `${h.base}/switchboardIntegrations/${h.agentSbId}`, h.app.auth)).status).toBe(200);
    await userSays(h, 'after the agent left');
    const conv = await call('GET', `/v2/apps/${h.app.appId}/conversations/${h.conversationId}`, h.app.auth);
    expect(conv.body.conversation.activeSwitchboardIntegration).toMatchObject({ id: h.botSbId });
    await eventually(() => expect(heard(BOT, h)).toEqual(['after the agent left']));
    // No longer named by the switchboard, the agent's integration hears everything again.
    await eventually(() => expect(heard(AGENT, h)).toEqual(['after the agent left']));
    expect(eventsOf(BOT, h, 'switchboard:passControl')).toHaveLength(1);
  });

  it('a disabled switchboard routes nothing: every integration hears every message', async () => {
    const h = await handoverApp({ enable: false });
    expect(h.conversation.activeSwitchboardIntegration).toBeUndefined();
    await userSays(h, 'to everyone');
    await eventually(() => expect(heard(BOT, h)).toEqual(['to everyone']));
    await eventually(() => expect(heard(AGENT, h)).toEqual(['to everyone']));
  });

  it('a Telegram user\'s first message opens a conversation on the default, routed to the bot only', async () => {
    const h = await handoverApp();
    const tg = await call('POST', `/v2/apps/${h.app.appId}/integrations`, h.app.auth, { type: 'telegram', token: telegram.token, apiBaseUrl: TELEGRAM });
    expect(tg.status).toBe(201);
    const from = { id: 7_700_000 + Math.floor(Math.random() * 1000), first_name: 'Tess' };
    expect((await hook(telegram.text(tg.body.integration.webhookUrl, from, 'hi from telegram'))).status).toBe(200);
    const fromTelegram = (origin: string) =>
      receivers[origin]!.ofType('conversation:message').filter((e) => (e.payload.message as { content: { text: string } }).content.text === 'hi from telegram');
    await eventually(() => expect(fromTelegram(BOT)).toHaveLength(1));
    expect((fromTelegram(BOT)[0]!.payload.conversation as Record<string, unknown>).activeSwitchboardIntegration).toMatchObject({ id: h.botSbId });
    const created = receivers[BOT]!.ofType('conversation:create').find((e) => (e.payload.conversation as { id: string }).id === (fromTelegram(BOT)[0]!.payload.conversation as { id: string }).id);
    expect(created).toBeDefined();
    expect(fromTelegram(AGENT)).toEqual([]);
  });
});
