/**
 * Connects the demo to a running Parley with the demo app's key, the way a
 * customer would: a `web` integration for the storefront's widget, and a
 * custom integration whose webhook targets the demo's inbox. Both are found by
 * listing the app's integrations (the web one by its display name, the custom
 * one by its target, then by its display name), so every start reuses them;
 * settings that drifted, such as the origins after a port change, are PATCHed.
 * A campaign greets visitors of the sale page (/sale) before they write.
 */
import type { ParleyApi } from '../simulator/parley';

export const WEB_DISPLAY_NAME = 'Demo website';
export const WEBHOOK_DISPLAY_NAME = 'Demo: support inbox';
export const CAMPAIGN_DISPLAY_NAME = 'Demo: sale greeting';

/** What the inbox shows; delivery receipts are left out, they would only add noise to the event log. */
export const INBOX_TRIGGERS = [
  'conversation:create',
  'conversation:message',
  'conversation:postback',
  'conversation:typing',
  'conversation:read',
  'conversation:remove',
  'client:add',
] as const;

/** The widget's settings; every URL points at the demo server, so nothing is loaded from the internet. */
export function webSettings(demoUrl: string, origins: string[]) {
  return {
    displayName: WEB_DISPLAY_NAME,
    businessName: 'Acme Outfitters',
    businessIconUrl: `${demoUrl}/img/logo.svg`,
    brandColor: '1f4d3a',
    conversationColor: '2f6f55',
    actionColor: 'a84a14',
    displayStyle: 'button',
    originWhitelist: origins,
  };
}

interface Listed {
  id: string;
  type: string;
  displayName?: string | null;
  status?: string;
  webhooks?: { id: string; target: string; triggers: string[]; secret: string }[];
  [setting: string]: unknown;
}

/** Every integration of the given type, following the cursor pages. */
async function listIntegrations(api: ParleyApi, type: string): Promise<Listed[]> {
  const all: Listed[] = [];
  let after: string | undefined;
  do {
    const query = `filter[types]=${type}&page[size]=100${after ? `&page[after]=${encodeURIComponent(after)}` : ''}`;
    const page = await api.expect([200], 'GET', `/integrations?${query}`);
    // A Parley without the type's filter answers everything: keep only the type asked for.
    all.push(...(page.body.integrations as Listed[]).filter((i) => i.type === type));
    after = page.body.meta?.hasMore ? page.body.meta.afterCursor : undefined;
  } while (after);
  return all;
}

const sameSetting = (a: unknown, b: unknown) =>
  Array.isArray(a) && Array.isArray(b) ? a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n') : a === b;

/**
 * The demo's web integration id: the existing one, brought up to date, or a new
 * one. An update Parley refuses is reported through `warn`, not fatal: the
 * widget still works from the origins it already allows.
 */
export async function ensureWebIntegration(api: ParleyApi, settings: ReturnType<typeof webSettings>, warn: (line: string) => void): Promise<string> {
  const existing = (await listIntegrations(api, 'web')).find((i) => i.displayName === WEB_DISPLAY_NAME);
  if (!existing) {
    const created = await api.expect([201], 'POST', '/integrations', { type: 'web', ...settings });
    return created.body.integration.id;
  }
  const drifted = Object.fromEntries(Object.entries(settings).filter(([key, value]) => !sameSetting(existing[key], value)));
  if (Object.keys(drifted).length > 0) {
    await api.expect([200], 'PATCH', `/integrations/${existing.id}`, drifted).catch((err: Error) => warn(`The demo's web integration kept its old settings: ${err.message}`));
  }
  return existing.id;
}

export interface InboxWebhook {
  integrationId: string;
  webhookId: string;
  secret: string;
}

/** The custom integration whose webhook posts to `target`: reused (re-aimed if the port moved) or created once. */
export async function ensureInboxWebhook(api: ParleyApi, target: string): Promise<InboxWebhook> {
  const customs = await listIntegrations(api, 'custom');
  const pick = (match: (i: Listed, w: NonNullable<Listed['webhooks']>[number]) => boolean) => {
    for (const integration of customs) for (const webhook of integration.webhooks ?? []) if (match(integration, webhook)) return { integration, webhook };
    return undefined;
  };
  const found = pick((_, w) => w.target === target) ?? pick((i) => i.displayName === WEBHOOK_DISPLAY_NAME);
  if (found) {
    const { integration, webhook } = found;
    const triggersMatch = sameSetting(webhook.triggers, [...INBOX_TRIGGERS]);
    if (webhook.target === target && triggersMatch) return { integrationId: integration.id, webhookId: webhook.id, secret: webhook.secret };
    const patched = await api.expect([200], 'PATCH', `/integrations/${integration.id}/webhooks/${webhook.id}`, { target, triggers: INBOX_TRIGGERS });
    return { integrationId: integration.id, webhookId: webhook.id, secret: patched.body.webhook.secret };
  }
  const created = await api.expect([201], 'POST', '/integrations', {
    type: 'custom',
    displayName: WEBHOOK_DISPLAY_NAME,
    webhooks: [{ target, triggers: INBOX_TRIGGERS }],
  });
  const integration = created.body.integration;
  return { integrationId: integration.id, webhookId: integration.webhooks[0].id, secret: integration.webhooks[0].secret };
}

/** The sale page's greeting: shown by the widget to a visitor of /sale who has not written yet, every page load. */
export const SALE_CAMPAIGN = {
  displayName: CAMPAIGN_DISPLAY_NAME,
  message: {
    author: { displayName: 'Acme Outfitters' },
    content: {
      type: 'text',
      text: 'The winter sale is on: 30% off every jacket. Want help picking a size?',
      actions: [
        { type: 'reply', text: 'Help me pick a size', payload: 'SIZE_HELP' },
        { type: 'reply', text: 'Just browsing', payload: 'BROWSING' },
      ],
    },
  },
  rules: { urlContains: '/sale', delaySeconds: 2 },
  frequency: 'everyPageLoad',
} as const;

/**
 * The sale campaign of the demo's web integration: reused, or created once.
 * Campaigns go with their integration, so a new web integration gets a new one.
 */
export async function ensureSaleCampaign(api: ParleyApi, integrationId: string): Promise<string> {
  let after: string | undefined;
  do {
    const page = await api.expect([200], 'GET', `/campaigns?page[size]=100${after ? `&page[after]=${encodeURIComponent(after)}` : ''}`);
    const found = (page.body.campaigns as { id: string; displayName: string; integrationId: string }[]).find((c) => c.displayName === CAMPAIGN_DISPLAY_NAME && c.integrationId === integrationId);
    if (found) return found.id;
    after = page.body.meta?.hasMore ? page.body.meta.afterCursor : undefined;
  } while (after);
  const created = await api.expect([201], 'POST', '/campaigns', { ...SALE_CAMPAIGN, integrationId });
  return created.body.campaign.id;
}
