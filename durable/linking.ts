/**
 * Channel linking (contract §1.7, §7.3): the business attaches a channel
 * identity (a phone number on Twilio or WhatsApp) to one of its user's
 * conversations. `client:add` (reason `channelLinking`) says the link began;
 * `immediate` registers the client at once (`client:update` confirmed) and
 * sends the optional confirmation message; `prompt` sends the prompt and
 * waits; `userActivity` waits. The user's first activity on that channel
 * settles a waiting link (`client:update` matched, or confirmed for a prompt).
 * A client linked as primary comes first for business messages (the
 * most-recent-client rule). Waiting links are marked among the ledger's seen
 * ids, so they lapse when those do (8 days).
 */
import { fail, type Result } from '../src/http/errors';
import type { Message } from '../src/schema/message';
import { clientAddEvent, clientUpdateEvent } from '../src/webhooks/events';
import { NOT_FOUND, type Core } from './core';
import type { InboundClient } from './inbound';
import type { Messages, NewMessage } from './messages';
import { userRef } from './participants';
import { toConversation } from './record';

export type Confirmation = 'immediate' | 'userActivity' | 'prompt';

export interface LinkRequest {
  client: InboundClient;
  confirmation: Confirmation;
  primary: boolean;
  /** Sent to the new client: the confirmation message (immediate) or the prompt. */
  message?: Pick<NewMessage, 'author' | 'content'>;
}

const waiting = (clientId: string, reason: 'matched' | 'confirmed', primary: boolean) => `link:${clientId}:${reason}:${primary ? 'primary' : 'secondary'}`;
const settledKey = (clientId: string) => `link-settled:${clientId}`;
const linkedKey = (clientId: string) => `linked:${clientId}`;

/**
 * Inside an inbound transaction: when this client's link was waiting for the
 * user, settles it (once) and says how; the caller raises `client:update`.
 */
export function settleLink(core: Core, clientId: string, now: number): { reason: 'matched' | 'confirmed'; primary: boolean } | undefined {
  const keys = (['matched', 'confirmed'] as const).flatMap((reason) => [true, false].map((primary) => ({ key: waiting(clientId, reason, primary), reason, primary })));
  const found = core.sql.exec<{ key: string }>(`SELECT key FROM inbound_seen WHERE key IN (${keys.map(() => '?').join(', ')})`, ...keys.map((k) => k.key)).toArray()[0];
  if (!found || !core.ledger.firstSight(settledKey(clientId), now)) return undefined;
  const hit = keys.find((k) => k.key === found.key)!;
  if (hit.primary) core.ledger.prefer(clientId, now);
  return { reason: hit.reason, primary: hit.primary };
}

export class Linking {
  constructor(
    private core: Core,
    private messages: Messages,
  ) {}

  /** Links once per client id: a repeated request (a retry after a failure past this point) answers `already`. */
  link(req: LinkRequest): Result<{ message?: Message; already?: true }> {
    const { core } = this;
    const row = core.record.live();
    if (!row) return NOT_FOUND;
    const participant = core.people.byUser(req.client.userId);
    if (!participant) return fail(400, 'bad_request', 'target.conversationId: the user is not a participant of that conversation');
    const now = Date.now();
    const user = userRef(participant);
    const source = { type: 'api:users' };
    if (core.ledger.seen(linkedKey(req.client.id)) && !core.ledger.removed(req.client.id)) return { ok: true, value: { already: true } };
    const sent = core.transact(() => {
      const conversation = toConversation(row);
      core.ledger.firstSight(linkedKey(req.client.id), now);
      core.ledger.restore(req.client.id);
      core.raise(clientAddEvent(user, { ...req.client.view, status: 'pending' }, source, { conversation }));
      if (req.confirmation === 'userActivity') {
        core.ledger.firstSight(waiting(req.client.id, 'matched', req.primary), now);
        return undefined;
      }
      // Immediate and prompt both need the client here: one to deliver to it, the other to send the prompt.
      core.ledger.touchClient(req.client, undefined, now);
      if (req.confirmation === 'immediate') {
        if (req.primary) core.ledger.prefer(req.client.id, now);
        core.raise(clientUpdateEvent(conversation, user, { ...req.client.view, status: 'active' }, 'confirmed'));
      } else {
        core.ledger.firstSight(waiting(req.client.id, 'confirmed', req.primary), now);
      }
      core.people.setClients(participant.id, core.ledger.clientsOf(req.client.userId));
      if (!req.message) return undefined;
      const stored = this.messages.insert(core.record.row()!, { ...req.message, source: { type: 'api:conversations' } });
      core.ledger.add(stored.id, req.client.id, JSON.stringify({ content: stored.content }));
      core.outbox.enqueueDeliveryKick(row.app_id, row.id, req.client.id);
      return stored;
    });
    core.afterCommit();
    return { ok: true, value: sent ? { message: sent } : {} };
  }
}
