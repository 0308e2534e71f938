/**
 * The Web Messenger's browser API, `/sdk/v2/apps/{appId}/...` (additive to
 * the v2 contract): the widget's config, anonymous sessions, the session
 * user's conversations and messages, postbacks, typing and read activity,
 * uploads, and the realtime socket. A session token is the only credential;
 * every conversation call is checked against the conversation's participants
 * by its Durable Object, so one user's token opens nobody else's messages.
 * Logging in with the business's JWT is `login.ts`.
 */
import { appPolicy, cachedPolicy } from '../db/app-policy';
import { maskContent } from '../content/card-numbers';
import { animalName } from './animal-names';
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { conversationStub, indexNow, json } from '../api/context';
import { ownUpload, storeUpload, WEB_UPLOADS } from '../api/attachments';
import { openPersonalConversation } from '../channels/identity';
import { indexConversation, listUserConversations } from '../db/conversations';
import { addWebClient, createWebUser, WEB_CLIENT_TYPE } from '../db/web-clients';
import { badRequest, forbidden, StatusError, unauthorized, unwrap } from '../http/errors';
import { findUserById } from '../db/users';
import { pageEnvelope } from '../http/links';
import { readBody, readQuery } from '../http/request';
import { newId } from '../ids';
import { messageListQuery } from '../schema/message';
import { sessionBody, socketQuery, webActivityBody, webConversationBody, webMessageBody, webPostbackBody, webView, type DeviceInfo } from '../schema/web';
import { WEB, SOCKET_USER_HEADER, type InboundClient } from '../../durable/conversation';
import { clientInfo, deviceOf } from './client-info';
import { DEFAULT_PRECHAT_FIELDS, formResponseProblem } from './forms';
import { checkOrigin, limitVisitor, requireWebIntegration, type WebIntegration } from './integration';
import { answeredCampaign, campaignMessage, campaignStart } from './campaigns';
import type { Campaign } from '../schema/campaign';
import { ANONYMOUS_SESSION_DAYS, issueSession, readSession, verifySession, type WebSession } from './session';

const appIdOf = (request: IRequest) => request.params.appId!;

/** The session and its integration, with the integration's origin policy applied. */
async function sessionContext(request: IRequest, env: Env): Promise<{ session: WebSession; integration: WebIntegration }> {
  const appId = appIdOf(request);
  const session = await readSession(env, request.headers.get('authorization'), appId);
  const integration = await requireWebIntegration(env, appId, session.integrationId);
  checkOrigin(request, integration);
  return { session, integration };
}

/** The session's client as the conversation object takes it; `view` is only read when the client is new there. */
export function webClient(session: WebSession, info: Record<string, string> | null = null): InboundClient {
  return {
    id: session.clientId,
    integrationId: session.integrationId,
    type: WEB,
    externalId: session.clientId,
    userId: session.userId,
    ...(session.externalId ? { userExternalId: session.externalId } : {}),
    raw: null,
    view: clientView(session.clientId, session.integrationId, info),
  };
}

export function clientView(clientId: string, integrationId: string, info: Record<string, string> | null, now = new Date().toISOString()) {
  return {
    id: clientId,
    type: WEB_CLIENT_TYPE,
    status: 'active',
    integrationId,
    externalId: null,
    lastSeen: now,
    linkedAt: now,
    displayName: null,
    avatarUrl: null,
    info,
    raw: null,
  };
}

/** The answer to a new session or a login: the token and who it is for. */
export async function sessionAnswer(env: Env, session: WebSession, days: number, info: Record<string, string> | null, status = 201) {
  const stub = conversationStub(env, session.appId, session.conversationId);
  const [issued, current] = await Promise.all([issueSession(env, session, days), stub.get()]);
  const { conversation } = unwrap(current);
  return json(
    {
      session: issued,
      user: { id: session.userId, ...(session.externalId ? { externalId: session.externalId } : {}), authenticated: Boolean(session.externalId) },
      client: clientView(session.clientId, session.integrationId, info),
      conversation,
    },
    status,
  );
}

/**
 * Opens a user's web presence: their personal conversation (the default one
 * unless they already had it) and the client registered in it, which raises
 * `client:add`; a campaign the visitor answered opens it instead, and its
 * message comes first (campaigns.ts).
 */
export async function openWebClient(
  env: Env,
  appId: string,
  integration: WebIntegration,
  user: { userId: string; externalId?: string },
  clientId: string,
  conversationId: string,
  info: Record<string, string>,
  campaign?: Campaign,
): Promise<void> {
  const { settings } = await cachedPolicy(env, appId);
  // Opening the widget starts the conversation automatically: an app that ignores such starts hears of it with the first message.
  // Answering a campaign is no automatic start: it is announced at once (campaigns.ts).
  const start = campaign ? campaignStart(campaign) : { creationReason: 'startConversation', source: { type: WEB, integrationId: integration.id }, announce: !settings.ignoreAutoConversationStart };
  const first = campaign && campaignMessage(campaign, settings.maskCreditCardNumbers);
  await openPersonalConversation(env, appId, { userId: user.userId, userExternalId: user.externalId ?? null }, conversationId, start.creationReason, start.source, start.announce, first);
  const session: WebSession = { appId, integrationId: integration.id, userId: user.userId, clientId, conversationId, ...(user.externalId ? { externalId: user.externalId } : {}) };
  unwrap(await conversationStub(env, appId, conversationId).addClient(webClient(session, info)));
}

export async function config(request: IRequest, env: Env) {
  const appId = appIdOf(request);
  const integration = await requireWebIntegration(env, appId, request.params.integrationId!);
  checkOrigin(request, integration);
  const { originWhitelist: _origins, ...settings } = webView(integration.settings);
  return json({
    config: {
      appId,
      integrationId: integration.id,
      displayName: integration.displayName,
      ...settings,
      attachments: { maxBytes: WEB_UPLOADS.maxBytes, types: WEB_UPLOADS.types },
    },
  });
}

/** POST /sessions: an anonymous visitor becomes a user with a web client and a personal conversation. */
export async function startSession(request: IRequest, env: Env) {
  const appId = appIdOf(request);
  const body = await readBody(request, sessionBody);
  const integration = await requireWebIntegration(env, appId, body.integrationId);
  checkOrigin(request, integration);
  await limitVisitor(request, env.WEB_SESSION_LIMIT, integration.id);
  const campaign = await answeredCampaign(env, appId, integration.id, body.campaignId);
  const info = clientInfo(request, body.device);
  const conversationId = newId();
  const { settings } = await cachedPolicy(env, appId);
  const created = await createWebUser(env, appId, {
    ...(settings.useAnimalNames ? { profile: animalName() } : {}),
    client: { integrationId: integration.id, info, conversationId, device: deviceOf(body.device) },
  });
  if (created === 'conflict') throw new Error('an anonymous user could not be created');
  await openWebClient(env, appId, integration, { userId: created.userId }, created.clientId, conversationId, info, campaign);
  const session: WebSession = { appId, integrationId: integration.id, userId: created.userId, clientId: created.clientId, conversationId };
  return sessionAnswer(env, session, ANONYMOUS_SESSION_DAYS, info);
}

/** Used by login when a known user opens the widget on a new browser. */
export async function newClientFor(env: Env, appId: string, integration: WebIntegration, userId: string, conversationId: string, device: DeviceInfo | undefined, request: Request) {
  const info = clientInfo(request, device);
  const clientId = await addWebClient(env, appId, userId, { integrationId: integration.id, info, conversationId, device: deviceOf(device) });
  return { clientId, info };
}

/** The user's conversations, each with their unread count and its newest message, which the widget's conversation list (canUserSeeConversationList) shows as a preview. */
export async function conversations(request: IRequest, env: Env) {
  const { session } = await sessionContext(request, env);
  const rows = await listUserConversations(env, session.appId, session.userId, { size: 100 });
  const fresh = await Promise.all(
    rows.map(async (c) => {
      const stub = conversationStub(env, session.appId, c.id);
      return Promise.all([stub.get(), stub.listMessages({ size: 1, asUser: session.userId })]);
    }),
  );
  return json({
    conversations: fresh.flatMap(([r, newest]) => {
      if (!r.ok) return [];
      const me = r.value.participants.find((p) => p.userId === session.userId);
      const lastMessage = newest.ok ? newest.value.messages.at(-1) : undefined;
      return me ? [{ ...r.value.conversation, unreadCount: me.unreadCount, lastRead: me.lastRead, ...(lastMessage ? { lastMessage } : {}) }] : [];
    }),
  });
}

/** Routes that reach no conversation of the user (whose participants would refuse a deleted user) ask D1. */
async function requireLiveUser(env: Env, session: WebSession): Promise<void> {
  if (!(await findUserById(env, session.appId, session.userId))) throw unauthorized("The session's user no longer exists; start a new session");
}

export async function createConversation(request: IRequest, env: Env) {
  const { session, integration } = await sessionContext(request, env);
  if (!integration.settings.canUserCreateMoreConversations) throw forbidden('This web integration does not let users create more conversations (canUserCreateMoreConversations is false)');
  await requireLiveUser(env, session);
  const body = await readBody(request, webConversationBody);
  const id = newId();
  const created = unwrap(
    await conversationStub(env, session.appId, id).create({
      id,
      appId: session.appId,
      type: 'personal',
      isDefault: false,
      ...(body.displayName ? { displayName: body.displayName } : {}),
      ...(body.description ? { description: body.description } : {}),
      metadata: null,
      participants: [{ userId: session.userId, userExternalId: session.externalId ?? null }],
      creationReason: 'startConversation',
      source: { type: WEB, integrationId: integration.id },
      policy: await appPolicy(env, session.appId),
    }),
  );
  await indexNow(indexConversation(env, session.appId, created.conversation, created.participants));
  unwrap(await conversationStub(env, session.appId, id).addClient(webClient(session)));
  return json({ conversation: created.conversation }, 201);
}

export async function listMessages(request: IRequest, env: Env) {
  const { session } = await sessionContext(request, env);
  const query = readQuery(request, messageListQuery);
  const page = unwrap(
    await conversationStub(env, session.appId, request.params.conversationId!).listMessages({
      before: query['page[before]'],
      after: query['page[after]'],
      size: query['page[size]'] ?? 100,
      asUser: session.userId,
    }),
  );
  const { messages, ...meta } = page;
  return json({ messages, ...pageEnvelope(request, meta) });
}

/** `label: value` lines, the contract's read-only `textFallback` of a form response. */
function formTextFallback(fields: { label: string; text?: string; email?: string; select?: { label: string }[] }[]): string {
  return fields.map((f) => `${f.label}: ${f.text ?? f.email ?? (f.select ?? []).map((s) => s.label).join(', ')}`).join('\n');
}

export async function postMessage(request: IRequest, env: Env) {
  const { session, integration } = await sessionContext(request, env);
  const body = await readBody(request, webMessageBody);
  let content = body.content;
  let quotedMessageId: string | undefined;
  if (content.type === 'image' || content.type === 'file') {
    const stored = await ownUpload(env, request, session.appId, content.mediaUrl);
    if (!stored) throw badRequest('content.mediaUrl: upload the file with POST /sdk/v2/apps/{appId}/attachments first and send the mediaUrl it returns');
    content = { ...content, ...stored };
  }
  if (content.type === 'formResponse') {
    const { quotedMessageId: quoted, ...rest } = content;
    quotedMessageId = quoted;
    // Without a form message to answer it can only be the integration's prechat form (a quoted form is checked by the conversation).
    if (!quoted) {
      const prechat = integration.settings.prechatCapture;
      if (!prechat?.enabled) throw badRequest("content.quotedMessageId: is required (the form this answers), unless the integration's prechatCapture is enabled");
      const problem = formResponseProblem(prechat.fields ?? DEFAULT_PRECHAT_FIELDS, rest.fields);
      if (problem) throw badRequest(problem);
    }
    content = { ...rest, textFallback: formTextFallback(rest.fields) } as typeof content;
  }
  const { settings } = await cachedPolicy(env, session.appId);
  const message = unwrap(
    await conversationStub(env, session.appId, request.params.conversationId!).clientPost(webClient(session), {
      content: settings.maskCreditCardNumbers ? maskContent(content) : content,
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(body.clientMessageId ? { clientMessageId: body.clientMessageId } : {}),
      ...(quotedMessageId ? { quotedMessageId } : {}),
      policy: await appPolicy(env, session.appId),
    }),
  );
  return json({ messages: [message] }, 201);
}

export async function postback(request: IRequest, env: Env) {
  const { session } = await sessionContext(request, env);
  const body = await readBody(request, webPostbackBody);
  unwrap(
    await conversationStub(env, session.appId, request.params.conversationId!).clientActivity(webClient(session), {
      kind: 'postback',
      // Every tap is its own postback: the key only has to be unique.
      dedupeKey: `${WEB}:postback:${newId()}`,
      payload: body.payload,
    }, await appPolicy(env, session.appId)),
  );
  return json({});
}

export async function activity(request: IRequest, env: Env) {
  const { session } = await sessionContext(request, env);
  const body = await readBody(request, webActivityBody);
  const event = body.type === 'conversation:read' ? { kind: 'read' as const } : { kind: 'typing' as const, state: body.type === 'typing:start' ? ('start' as const) : ('stop' as const) };
  unwrap(await conversationStub(env, session.appId, request.params.conversationId!).clientActivity(webClient(session), event));
  return json({});
}

export async function upload(request: IRequest, env: Env) {
  const { session, integration } = await sessionContext(request, env);
  if (integration.settings.attachmentsEnabled === false) throw forbidden('This web integration does not accept uploads (attachmentsEnabled is false)');
  await limitVisitor(request, env.WEB_UPLOAD_LIMIT, integration.id);
  await requireLiveUser(env, session);
  const attachment = await storeUpload(request, env, session.appId, WEB_UPLOADS, session.userId);
  return json({ attachment }, 201);
}

/**
 * The realtime socket. Browsers cannot set headers on a WebSocket, so the
 * token rides as the second subprotocol (`new WebSocket(url, ["parley",
 * token])`), which keeps it out of URLs and logs; the object answers with
 * `parley`. Everything is checked before the upgrade, so a refusal is a plain
 * HTTP 4xx.
 */
export async function socket(request: IRequest, env: Env) {
  if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') throw new StatusError(426, 'upgrade_required', 'Connect with a WebSocket');
  const appId = appIdOf(request);
  const protocols = (request.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
  if (protocols[0] !== 'parley' || !protocols[1]) throw badRequest('Open the socket with the subprotocols ["parley", <session token>]');
  const session = await verifySession(env, protocols[1], appId);
  const integration = await requireWebIntegration(env, appId, session.integrationId);
  checkOrigin(request, integration);
  const { after } = readQuery(request, socketQuery);
  const url = new URL(request.url);
  url.search = after ? `?after=${after}` : '';
  return conversationStub(env, appId, request.params.conversationId!).fetch(url.toString(), {
    headers: { upgrade: 'websocket', [SOCKET_USER_HEADER]: session.userId },
  });
}
