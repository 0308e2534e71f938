/**
 * Switchboard routing of webhook events (contract §4.4): with an enabled
 * switchboard, a conversation's events go to the webhooks of the switchboard
 * integration in control, and to the others only if they asked for standby
 * events; integrations the switchboard does not name hear everything. Each
 * event is judged by the `activeSwitchboardIntegration` its conversation had
 * when it was raised (the conversation's object stamps it in order with its
 * messages), against the switchboard as the consumer's cache has it, so
 * routing costs the message path no D1 read and no extra object call.
 */
import type { WebhookEvent } from '../webhooks/events';

/** How one webhook is routed: undefined when it hears everything (see routingFor in db/switchboards.ts). */
export type WebhookRouting = { ids: string[]; standby: boolean } | undefined;

export function routes(routing: WebhookRouting, event: WebhookEvent): boolean {
  if (!routing) return true;
  // Control changes concern every switchboard integration: the one that lost control as much as the one that got it.
  if (event.type.startsWith('switchboard:')) return true;
  const conversation = event.payload.conversation as { activeSwitchboardIntegration?: { id: string } } | undefined;
  // User-level events (user:merge, user:remove, client:* without a conversation) belong to no conversation's switchboard.
  if (!conversation) return true;
  const active = conversation.activeSwitchboardIntegration;
  if (active && routing.ids.includes(active.id)) return true;
  return routing.standby;
}
