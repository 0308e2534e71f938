/**
 * Drives Parley through the official `sunshine-conversations-client`, the way
 * a customer's server does: one ApiClient per credential, authenticated with
 * HTTP Basic or with an HS256 JWT minted from the same key.
 */
import { createHmac } from 'node:crypto';
import SunshineConversationsClient from 'sunshine-conversations-client';
import { expect } from 'vitest';

export type AuthMode = 'basic' | 'jwt';

export interface Credentials {
  keyId: string;
  secret: string;
  scope: 'account' | 'app';
}

/** An HS256 JWT as Sunshine v2 takes it: `kid` names the key, the payload carries the key's scope. */
export function signJwt(keyId: string, secret: string, payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${part({ alg: 'HS256', typ: 'JWT', kid: keyId })}.${part(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/**
 * One ApiClient per credential: when both basic and bearer are set the client
 * sends both headers, so a client is configured with exactly one of them.
 */
export function apiClient(basePath: string, auth: AuthMode, creds: Credentials): SunshineConversationsClient.ApiClient {
  const client = new SunshineConversationsClient.ApiClient();
  client.basePath = basePath;
  if (auth === 'basic') {
    client.authentications.basicAuth.username = creds.keyId;
    client.authentications.basicAuth.password = creds.secret;
  } else {
    client.authentications.bearerAuth.accessToken = signJwt(creds.keyId, creds.secret, { scope: creds.scope });
  }
  return client;
}

export function apis(client: SunshineConversationsClient.ApiClient) {
  return {
    apps: new SunshineConversationsClient.AppsApi(client),
    appKeys: new SunshineConversationsClient.AppKeysApi(client),
    users: new SunshineConversationsClient.UsersApi(client),
    clients: new SunshineConversationsClient.ClientsApi(client),
    conversations: new SunshineConversationsClient.ConversationsApi(client),
    participants: new SunshineConversationsClient.ParticipantsApi(client),
    messages: new SunshineConversationsClient.MessagesApi(client),
    activities: new SunshineConversationsClient.ActivitiesApi(client),
    integrations: new SunshineConversationsClient.IntegrationsApi(client),
    customIntegrationApiKeys: new SunshineConversationsClient.CustomIntegrationApiKeysApi(client),
    switchboards: new SunshineConversationsClient.SwitchboardsApi(client),
    switchboardIntegrations: new SunshineConversationsClient.SwitchboardIntegrationsApi(client),
    switchboardActions: new SunshineConversationsClient.SwitchboardActionsApi(client),
    devices: new SunshineConversationsClient.DevicesApi(client),
    attachments: new SunshineConversationsClient.AttachmentsApi(client),
    webhooks: new SunshineConversationsClient.WebhooksApi(client),
  };
}
export type Apis = ReturnType<typeof apis>;

/**
 * Awaits a call that must fail and checks what the client surfaces: the HTTP
 * status on `.status` and the v2 error body `{errors:[{code,title}]}` on `.body`.
 */
export async function expectApiError(call: Promise<unknown>, status: number, code: string): Promise<SunshineConversationsClient.ApiError> {
  const err = await call.then(
    (value) => {
      throw new Error(`expected HTTP ${status} ${code}, but the call succeeded with ${JSON.stringify(value)}`);
    },
    (e: SunshineConversationsClient.ApiError) => e,
  );
  expect({ status: err.status, body: err.body }).toEqual({
    status,
    body: { errors: [{ code, title: expect.any(String) }] },
  });
  return err;
}

/** Deletes answer 200 with an empty JSON object. */
export function expectEmptyOk(info: SunshineConversationsClient.HttpInfo<unknown>): void {
  expect(info.response.status).toBe(200);
  expect(info.response.body).toEqual({});
}

export const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const OBJECT_ID = /^[0-9a-f]{24}$/;

let counter = 0;
/** A name unique within this run, for externalIds and display names. */
export const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
