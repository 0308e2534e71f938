/**
 * The Sunshine Conversations v2 contract as Parley serves it: every operation
 * of the official `sunshine-conversations-client` (test/node/openapi.test.ts
 * checks all 64 are here, unmarked), in the order of the v2 API reference.
 * Parley's own routes are in routes-extensions.ts and routes-web.ts.
 */
import * as v from 'valibot';
import { removeBody, uploadQuery } from '../api/attachments';
import { downloadBody } from '../api/download-ref';
import { appCreateBody, appListQuery, appUpdateBody, keyCreateBody } from '../schema/app';
import { clientCreateBody } from '../schema/client';
import { activityBody, conversationCreateBody, conversationListQuery, conversationUpdateBody, joinBody, leaveBody } from '../schema/conversation';
import { integrationListQuery, requestBodies } from '../schema/integration';
import { messageListQuery, messagePostBody } from '../schema/message';
import { authorizeParams, tokenRequest } from '../schema/oauth';
import { pageQuery } from '../schema/pagination';
import {
  acceptControlBody,
  offerControlBody,
  passControlBody,
  releaseControlBody,
  switchboardIntegrationCreateBody,
  switchboardIntegrationUpdateBody,
  switchboardUpdateBody,
} from '../schema/switchboard';
import { userCreateBody, userUpdateBody } from '../schema/user';
import { envelopes as e } from '../schema/views';
import { downloadedRef, oauthError, oauthToken } from '../schema/views-extensions';
import { integrationCreateBody, integrationUpdateBody } from './integration-bodies';
import { html, json, type Route } from './route';

const APP = '/v2/apps/{appId}';
const INTEGRATION = `${APP}/integrations/{integrationId}`;
const USER = `${APP}/users/{userIdOrExternalId}`;
const CONVERSATION = `${APP}/conversations/{conversationId}`;
const SWITCHBOARD = `${APP}/switchboards/{switchboardId}`;
const hooks = requestBodies(false);

const ok = (schema: v.GenericSchema = e.empty) => json(schema, 'OK');
const created = (schema: v.GenericSchema, what: string) => json(schema, `${what} created`, 201);
const r = (method: Route['method'], path: string, tag: string, summary: string, rest: Partial<Route> = {}): Route => ({
  method,
  path,
  tag,
  summary,
  auth: 'api',
  ok: ok(),
  ...rest,
});

export const contractRoutes: Route[] = [
  r('post', '/v2/apps', 'Apps', 'Create an app', { auth: 'account', body: appCreateBody, ok: created(e.app, 'App') }),
  r('get', '/v2/apps', 'Apps', 'List apps', { auth: 'account', query: [appListQuery, pageQuery], ok: ok(e.apps) }),
  r('get', APP, 'Apps', 'Get an app', { ok: ok(e.app) }),
  r('patch', APP, 'Apps', 'Update an app', { body: appUpdateBody, ok: ok(e.app) }),
  r('delete', APP, 'Apps', 'Delete an app', { auth: 'account' }),

  r('post', `${APP}/keys`, 'App keys', 'Create an app key', { auth: 'account', body: keyCreateBody, ok: created(e.key, 'Key (its secret is shown once)') }),
  r('get', `${APP}/keys`, 'App keys', 'List app keys', { auth: 'account', ok: ok(e.keys) }),
  r('get', `${APP}/keys/{keyId}`, 'App keys', 'Get an app key', { auth: 'account', ok: ok(e.key) }),
  r('delete', `${APP}/keys/{keyId}`, 'App keys', 'Delete an app key', { auth: 'account' }),

  r('post', `${APP}/integrations`, 'Integrations', 'Create an integration', {
    description: 'One body per integration type: `custom` (webhooks), `web` (the Web Messenger), `stripe`, or a channel (whatsapp, messenger, telegram, …) with its credentials.',
    body: integrationCreateBody,
    ok: created(e.integration, 'Integration'),
    errors: [409],
  }),
  r('get', `${APP}/integrations`, 'Integrations', 'List integrations', { query: [integrationListQuery, pageQuery], ok: ok(e.integrations) }),
  r('get', INTEGRATION, 'Integrations', 'Get an integration', { ok: ok(e.integration) }),
  r('patch', INTEGRATION, 'Integrations', 'Update an integration', { body: integrationUpdateBody, ok: ok(e.integration) }),
  r('delete', INTEGRATION, 'Integrations', 'Delete an integration'),

  r('post', `${INTEGRATION}/keys`, 'Custom integration API keys', 'Create an integration key', { body: keyCreateBody, ok: created(e.key, 'Key') }),
  r('get', `${INTEGRATION}/keys`, 'Custom integration API keys', 'List integration keys', { ok: ok(e.keys) }),
  r('get', `${INTEGRATION}/keys/{keyId}`, 'Custom integration API keys', 'Get an integration key', { ok: ok(e.key) }),
  r('delete', `${INTEGRATION}/keys/{keyId}`, 'Custom integration API keys', 'Delete an integration key'),

  r('post', `${INTEGRATION}/webhooks`, 'Webhooks', 'Create a webhook', { body: hooks.webhookCreate, ok: created(e.webhook, 'Webhook (its secret is shown once)') }),
  r('get', `${INTEGRATION}/webhooks`, 'Webhooks', 'List webhooks', { ok: ok(e.webhooks) }),
  r('get', `${INTEGRATION}/webhooks/{webhookId}`, 'Webhooks', 'Get a webhook', { ok: ok(e.webhook) }),
  r('patch', `${INTEGRATION}/webhooks/{webhookId}`, 'Webhooks', 'Update a webhook', { body: hooks.webhookUpdate, ok: ok(e.webhook) }),
  r('delete', `${INTEGRATION}/webhooks/{webhookId}`, 'Webhooks', 'Delete a webhook'),

  r('post', `${APP}/users`, 'Users', 'Create a user', { body: userCreateBody, ok: created(e.user, 'User'), errors: [409] }),
  r('get', USER, 'Users', 'Get a user', { ok: ok(e.user) }),
  r('patch', USER, 'Users', 'Update a user', { body: userUpdateBody, ok: ok(e.user) }),
  r('delete', USER, 'Users', 'Delete a user'),
  r('delete', `${USER}/personalinformation`, 'Users', "Delete a user's personal information", { ok: ok(e.user) }),

  r('get', `${USER}/clients`, 'Clients', "List a user's clients", { query: pageQuery, ok: ok(e.clients) }),
  r('post', `${USER}/clients`, 'Clients', 'Link a channel client to a user', { body: clientCreateBody, ok: created(e.client, 'Client') }),
  r('delete', `${USER}/clients/{clientId}`, 'Clients', 'Remove a client'),

  r('get', `${USER}/devices`, 'Devices', "List a user's devices", { ok: ok(e.devices) }),
  r('get', `${USER}/devices/{deviceId}`, 'Devices', 'Get a device', { ok: ok(e.device) }),

  r('post', `${APP}/conversations`, 'Conversations', 'Create a conversation', { body: conversationCreateBody, ok: created(e.conversation, 'Conversation') }),
  r('get', `${APP}/conversations`, 'Conversations', "List a user's conversations", { query: [conversationListQuery, pageQuery], ok: ok(e.conversations) }),
  r('get', CONVERSATION, 'Conversations', 'Get a conversation', { ok: ok(e.conversation) }),
  r('patch', CONVERSATION, 'Conversations', 'Update a conversation', { body: conversationUpdateBody, ok: ok(e.conversation) }),
  r('delete', CONVERSATION, 'Conversations', 'Delete a conversation'),
  r('post', `${CONVERSATION}/download`, 'Conversations', 'Download a message reference (Apple Messages for Business)', { body: downloadBody, ok: ok(downloadedRef), errors: [502] }),

  r('post', `${CONVERSATION}/join`, 'Participants', 'Join a conversation', { body: joinBody, ok: created(e.participant, 'Participant') }),
  r('post', `${CONVERSATION}/leave`, 'Participants', 'Leave a conversation', { body: leaveBody }),
  r('get', `${CONVERSATION}/participants`, 'Participants', 'List participants', { query: pageQuery, ok: ok(e.participants) }),

  r('post', `${CONVERSATION}/messages`, 'Messages', 'Post a message', {
    description: 'Answers the stored messages (a text with `%[…](…)` shorthand may become several). Each carries `seq`, its position in the conversation.',
    body: messagePostBody,
    ok: created(e.messagesPosted, 'Message(s)'),
  }),
  r('get', `${CONVERSATION}/messages`, 'Messages', 'List messages', { query: messageListQuery, ok: ok(e.messages) }),
  r('delete', `${CONVERSATION}/messages`, 'Messages', 'Delete all messages'),
  r('delete', `${CONVERSATION}/messages/{messageId}`, 'Messages', 'Delete a message'),

  r('post', `${CONVERSATION}/passControl`, 'Switchboard actions', 'Pass control', { body: passControlBody }),
  r('post', `${CONVERSATION}/offerControl`, 'Switchboard actions', 'Offer control', { body: offerControlBody }),
  r('post', `${CONVERSATION}/acceptControl`, 'Switchboard actions', 'Accept control', { body: acceptControlBody }),
  r('post', `${CONVERSATION}/releaseControl`, 'Switchboard actions', 'Release control', { body: releaseControlBody }),

  r('post', `${APP}/switchboards`, 'Switchboards', 'Create the switchboard', { ok: created(e.switchboard, 'Switchboard'), errors: [409] }),
  r('get', `${APP}/switchboards`, 'Switchboards', 'List switchboards', { ok: ok(e.switchboards) }),
  r('patch', SWITCHBOARD, 'Switchboards', 'Update a switchboard', { body: switchboardUpdateBody, ok: ok(e.switchboard) }),
  r('delete', SWITCHBOARD, 'Switchboards', 'Delete a switchboard'),
  r('post', `${SWITCHBOARD}/switchboardIntegrations`, 'Switchboard integrations', 'Create a switchboard integration', {
    body: switchboardIntegrationCreateBody,
    ok: created(e.switchboardIntegration, 'Switchboard integration'),
  }),
  r('get', `${SWITCHBOARD}/switchboardIntegrations`, 'Switchboard integrations', 'List switchboard integrations', { ok: ok(e.switchboardIntegrations) }),
  r('patch', `${SWITCHBOARD}/switchboardIntegrations/{switchboardIntegrationId}`, 'Switchboard integrations', 'Update a switchboard integration', {
    body: switchboardIntegrationUpdateBody,
    ok: ok(e.switchboardIntegration),
  }),
  r('delete', `${SWITCHBOARD}/switchboardIntegrations/{switchboardIntegrationId}`, 'Switchboard integrations', 'Delete a switchboard integration'),

  r('post', `${APP}/attachments`, 'Attachments', 'Upload an attachment', {
    query: uploadQuery,
    body: { media: { 'multipart/form-data': v.object({ source: v.file() }) }, required: true },
    ok: created(e.attachment, 'Attachment'),
    errors: [413, 415],
  }),
  r('post', `${APP}/attachments/remove`, 'Attachments', 'Delete an attachment', { body: removeBody }),

  r('post', `${CONVERSATION}/activity`, 'Activities', 'Post an activity (typing, read)', { body: activityBody }),

  r('get', '/oauth/authorize', 'OAuth', 'Authorize (the consent page)', {
    auth: 'none',
    query: authorizeParams,
    ok: html('The consent page, where the app owner approves with an app key'),
    more: [{ status: 302, description: 'Back to redirect_uri with an error, when the request names a registered client and URI' }],
  }),
  r('post', '/oauth/token', 'OAuth', 'Exchange an authorization code for an access token', {
    auth: 'none',
    body: { media: { 'application/json': tokenRequest, 'application/x-www-form-urlencoded': tokenRequest }, required: true },
    ok: json(oauthToken, 'An access token for the app that approved'),
    more: [json(oauthError, 'RFC 6749 error (invalid_grant, invalid_client, …)', 400)],
  }),
  r('delete', '/oauth/authorization', 'OAuth', 'Revoke the access token used to call', {
    description: 'Called with the access token itself (Bearer); removes the OAuth integration it opened.',
  }),
];
