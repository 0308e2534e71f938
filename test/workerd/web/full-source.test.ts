/**
 * includeFullSource: a webhook that asks for it sees, in the source of a
 * user's message, the client it came through and that client's device; a
 * webhook that does not ask sees the plain source.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, routeFetch, WebhookReceiver } from '../channels/harness';
import { call } from '../helpers';
import { say, startSession, webApp } from './web';

const FULL = 'https://full-source.test';
const PLAIN = 'https://plain-source.test';
const receivers: Record<string, WebhookReceiver> = { [FULL]: new WebhookReceiver(), [PLAIN]: new WebhookReceiver() };
let restore: () => void;
beforeAll(() => {
  const spy = routeFetch(receivers);
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

describe('includeFullSource', () => {
  it("adds the message's client and device to its source, only for the webhook that asked", async () => {
    const app = await webApp();
    for (const [target, includeFullSource] of [[FULL, true], [PLAIN, false]] as const) {
      const res = await call('POST', `/v2/apps/${app.appId}/integrations`, app.auth, { type: 'custom', webhooks: [{ target: `${target}/hook`, triggers: ['conversation:message'], includeFullSource }] });
      expect(res.status).toBe(201);
    }
    const visitor = await startSession(app, { guid: 'full-source-guid-1', sdkVersion: '3.1.0' });
    await say(app, visitor, 'where does this come from?');
    const [full, plain] = await eventually(() => {
      const got = [FULL, PLAIN].map((o) => receivers[o]!.ofType('conversation:message').find((e) => (e.payload.conversation as { id: string }).id === visitor.conversationId));
      if (!got.every(Boolean)) throw new Error('not yet');
      return got as NonNullable<(typeof got)[number]>[];
    });
    const source = (full!.payload.message as { source: Record<string, any> }).source;
    expect(source).toMatchObject({
      type: 'web',
      integrationId: app.integrationId,
      client: { id: visitor.clientId, type: 'sdk', integrationId: app.integrationId },
      device: { guid: 'full-source-guid-1', type: 'web', clientId: visitor.clientId, appVersion: '3.1.0' },
    });
    const plainSource = (plain!.payload.message as { source: Record<string, unknown> }).source;
    expect(plainSource).toEqual({ type: 'web', integrationId: app.integrationId });
  });
});
