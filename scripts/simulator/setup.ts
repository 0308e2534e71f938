/**
 * Connects the simulator to a running Parley with the demo app's key. Each
 * channel integration is created once (its `apiBaseUrl` pointing at the fake)
 * and its id kept in `.parley/simulator.json`; on every later start, since the
 * fakes forget everything, it is PATCHed (with its credentials, or for
 * Mailgun, whose keys stay fixed, a display setting) so Parley runs the
 * channel's setup again (Telegram's setWebhook, Twilio's number URL, LINE's
 * webhook endpoint, Viber's set_webhook, MessageBird's key check, Mailgun's
 * inbound route, WeChat's access token, X's webhook with its CRC and the
 * subscription; Apple needs none) against the fresh fake, and the channel
 * then checks what it needs (WeChat: the console's echostr check, run by the
 * simulator). One custom integration with a `*`
 * webhook targets the local receiver, and one `stripe` integration points at
 * the Stripe fake, whose events go to that integration's `webhookUrl`, so a
 * buy button the business sends can be paid end to end. A channel Parley
 * cannot set up is reported, not fatal.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { ChannelId, IntegrationView, SimChannel } from './channels/types';
import type { StripeFake } from '../../test/fakes/stripe';
import type { ParleyApi } from './parley';

export interface SimulatorState {
  appId: string;
  integrations: Partial<Record<ChannelId, string>>;
  webhook?: { integrationId: string; webhookId: string };
  /** The stripe integration the Stripe fake's checkout pays through. */
  stripe?: string;
}

export interface ChannelStatus {
  ready: boolean;
  integrationId?: string;
  error?: string;
}

export function readState(file: string, appId: string): SimulatorState {
  try {
    if (existsSync(file)) {
      const state = JSON.parse(readFileSync(file, 'utf8')) as SimulatorState;
      // Another demo app (its state was reset): nothing kept belongs to it.
      if (state.appId === appId) return { ...state, integrations: state.integrations ?? {} };
    }
  } catch {
    // An unreadable state file is only a cache of ids: start over.
  }
  return { appId, integrations: {} };
}

export function writeState(file: string, state: SimulatorState): void {
  writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/** The kept integration when it still fits (same type, same fake address), re-armed; otherwise a new one. */
async function connectChannel(api: ParleyApi, channel: SimChannel, apiBaseUrl: string, keptId: string | undefined): Promise<IntegrationView> {
  if (keptId) {
    const kept = await api.app('GET', `/integrations/${keptId}`);
    const view = kept.body?.integration as IntegrationView | undefined;
    if (kept.status === 200 && view?.type === channel.integrationType && view.apiBaseUrl === apiBaseUrl) {
      const patched = await api.expect([200], 'PATCH', `/integrations/${keptId}`, channel.rearmBody());
      return patched.body.integration;
    }
    // The fake moved (another port): apiBaseUrl cannot be patched, so the integration is replaced.
    if (kept.status === 200) await api.app('DELETE', `/integrations/${keptId}`);
  }
  const created = await api.expect([201], 'POST', '/integrations', channel.createBody(apiBaseUrl));
  return created.body.integration;
}

/** Fills `statuses` as each channel comes up. */
export async function connectChannels(api: ParleyApi, channels: SimChannel[], fakeUrls: Record<string, string>, state: SimulatorState, statuses: Map<ChannelId, ChannelStatus>): Promise<void> {
  for (const channel of channels) {
    try {
      const integration = await connectChannel(api, channel, fakeUrls[channel.fake]!, state.integrations[channel.id]);
      state.integrations[channel.id] = integration.id;
      if (integration.status !== 'active') throw new Error(`Parley could not set up the integration: ${integration.error ?? integration.status}`);
      await channel.ready(integration);
      statuses.set(channel.id, { ready: true, integrationId: integration.id });
    } catch (err) {
      statuses.set(channel.id, { ready: false, ...(state.integrations[channel.id] ? { integrationId: state.integrations[channel.id] } : {}), error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** The custom integration whose webhook (all triggers) goes to the receiver; returns its secret. */
export async function connectWebhook(api: ParleyApi, target: string, state: SimulatorState): Promise<string> {
  if (state.webhook) {
    const { integrationId, webhookId } = state.webhook;
    const kept = await api.app('GET', `/integrations/${integrationId}/webhooks/${webhookId}`);
    if (kept.status === 200) {
      const webhook = kept.body.webhook;
      if (webhook.target === target) return webhook.secret;
      const moved = await api.expect([200], 'PATCH', `/integrations/${integrationId}/webhooks/${webhookId}`, { target, triggers: ['*'] });
      return moved.body.webhook.secret;
    }
  }
  const created = await api.expect([201], 'POST', '/integrations', {
    type: 'custom',
    displayName: 'Simulator: local webhook receiver',
    webhooks: [{ target, triggers: ['*'] }],
  });
  const integration = created.body.integration;
  state.webhook = { integrationId: integration.id, webhookId: integration.webhooks[0].id };
  return integration.webhooks[0].secret;
}

/**
 * The app's stripe integration, at the Stripe fake: kept from an earlier run
 * (its keys PATCHed, as the fake is new) or made; the fake then sends its
 * signed events to the integration's webhookUrl. Returns its id.
 */
export async function connectPayments(api: ParleyApi, stripe: StripeFake, apiBaseUrl: string, state: SimulatorState): Promise<string> {
  const keys = { secretKey: stripe.secretKey, webhookSecret: stripe.webhookSecret };
  let integration: { id: string; webhookUrl: string } | undefined;
  if (state.stripe) {
    const kept = await api.app('GET', `/integrations/${state.stripe}`);
    if (kept.status === 200 && kept.body.integration.type === 'stripe') {
      integration = (await api.expect([200], 'PATCH', `/integrations/${state.stripe}`, { ...keys, apiBaseUrl })).body.integration;
    }
  }
  if (!integration) {
    // One per app: a stripe integration the state file does not know (made by hand) is in the way; say so.
    const created = await api.app('POST', '/integrations', { type: 'stripe', displayName: 'Simulator: Stripe', ...keys, apiBaseUrl });
    if (created.status === 409) throw new Error('the demo app already has a stripe integration the simulator did not make: delete it to pay through the simulator');
    if (created.status !== 201) throw new Error(`creating the stripe integration answered ${created.status}: ${JSON.stringify(created.body)}`);
    integration = created.body.integration;
  }
  state.stripe = integration!.id;
  stripe.endpoint = integration!.webhookUrl;
  return integration!.id;
}
