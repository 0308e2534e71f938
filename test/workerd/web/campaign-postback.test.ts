/**
 * A postback tapped on a campaign's message is
 * announced with the campaign in its source, as the contract's
 * ConversationPostbackEventAllOfPayload.source (SourceWithCampaignWebhook) has it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { call } from '../helpers';
import { eventually, RECEIVER_ORIGIN, routeFetch, subscribe, WebhookReceiver } from '../channels/harness';
import { browser, webApp } from './web';

const receiver = new WebhookReceiver();
let restore: () => void;
beforeAll(() => {
  const spy = routeFetch({ [RECEIVER_ORIGIN]: receiver });
  restore = () => spy.mockRestore();
});
afterAll(() => restore());

it("a postback on the campaign's message carries source.campaign", async () => {
  const app = await webApp();
  await subscribe(app.appId, app.auth);
  const content = { type: 'text', text: 'Want 10% off?', actions: [{ type: 'postback', text: 'Yes', payload: 'DISCOUNT' }] };
  const made = await call('POST', `/v2/apps/${app.appId}/campaigns`, app.auth, { displayName: 'promo', integrationId: app.integrationId, message: { content } });
  expect(made.status).toBe(201);
  const session = await browser('POST', `/sdk/v2/apps/${app.appId}/sessions`, undefined, { integrationId: app.integrationId, campaignId: made.body.campaign.id });
  expect(session.status).toBe(201);
  const conversationId = session.body.conversation.id as string;
  const tapped = await browser('POST', `/sdk/v2/apps/${app.appId}/conversations/${conversationId}/postback`, session.body.session.token, { payload: 'DISCOUNT' });
  expect(tapped.status, JSON.stringify(tapped.body)).toBe(200);
  const event = await eventually(() => {
    const e = receiver.ofType('conversation:postback').find((x) => (x.payload.conversation as { id: string }).id === conversationId);
    if (!e) throw new Error('no postback yet');
    return e.payload;
  });
  expect(event.source).toMatchObject({ campaign: { id: made.body.campaign.id } });
});
