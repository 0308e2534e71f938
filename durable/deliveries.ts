/**
 * Parley's sends to a conversation's channel clients, once the commit queued
 * them in the ledger: the deliveries consumer claims a client's head
 * delivery under a lease, keeps the lease while a long multi-part send goes
 * out, and reports how the attempt ended (the `conversation:delivery:*`
 * event, the choices the client was offered). Also the receipts channels
 * send back for those sends, which may arrive before the report of the send
 * itself (they wait, parked, in the ledger).
 */
import type { Choice } from '../src/channels/adapter';
import { deliveryEvent, readEvent, type UserRef } from '../src/webhooks/events';
import { TYPING, type DeliveryClaim } from './channel-ledger';
import type { Core } from './core';
import type { InboundClient, ReceivedEvent } from './inbound';
import { userRef } from './participants';
import { toConversation, type ConversationRow } from './record';

/** How one delivery attempt ended, as the deliveries consumer reports it. */
export type DeliveryReport =
  | { ok: true; externalIds: string[]; choices: Choice[] }
  | { ok: false; retryAt: number; partsDone: number; partSent: number; externalIds: string[] }
  | { ok: false; failed: { code: string; message: string }; externalIds: string[] };

export class Deliveries {
  constructor(private core: Core) {}

  claim(clientId: string, leaseMs: number): DeliveryClaim | { wait: number } | undefined {
    const { core } = this;
    if (!core.record.live()) {
      // Deleted since the message was queued: nothing more goes out, and nothing of it stays.
      core.ledger.clear();
      return undefined;
    }
    const claim = core.ledger.claim(clientId, leaseMs, Date.now());
    core.watch.served(`deliveries:${clientId}`);
    core.scheduleAlarm();
    return claim;
  }

  /** Keeps a long multi-part send's lease from lapsing under it; false when the lease is no longer this one. */
  extend(deliveryId: number, leaseId: string, until: number): boolean {
    const extended = this.core.ledger.extend(deliveryId, leaseId, until);
    this.core.scheduleAlarm();
    return extended;
  }

  /**
   * Records how an attempt ended and raises its event. Answers whether the
   * client has more deliveries waiting; false too when the lease had lapsed
   * (another consumer owns the delivery now, and its report is the one kept).
   */
  report(deliveryId: number, leaseId: string, report: DeliveryReport): { more: boolean } {
    const { core } = this;
    const row = core.record.row();
    const delivery = core.ledger.leased(deliveryId, leaseId);
    if (!row || !delivery) return { more: false };
    core.watch.served(`deliveries:${delivery.client_id}`);
    const client = core.ledger.client(delivery.client_id);
    const participant = client && core.people.byUser(client.userId);
    core.transact(() => {
      if ('retryAt' in report) {
        core.ledger.retryAt(delivery, report.retryAt, report.partsDone, report.partSent, report.externalIds, Date.now());
      } else {
        core.ledger.finish(delivery, report.externalIds, Date.now());
      }
      if (client && participant) {
        const destination = { type: client.type, integrationId: client.integrationId };
        for (const r of core.ledger.unpark(client.id, report.externalIds)) {
          this.raiseReceipt(row, userRef(participant), destination, delivery.message_id, r.status, r.channelMessageId, r.error);
        }
      }
      if ('retryAt' in report) return;
      if (report.ok && client && delivery.message_id !== TYPING) core.ledger.setChoices(client.id, report.choices);
      if (!client || !participant || row.deleted_at || delivery.message_id === TYPING) return;
      const destination = { type: client.type, integrationId: client.integrationId };
      const conversation = toConversation(row);
      core.raise(
        report.ok
          ? deliveryEvent('channel', conversation, userRef(participant), delivery.message_id, destination, report.externalIds)
          : deliveryEvent('failure', conversation, userRef(participant), delivery.message_id, destination, report.externalIds, report.failed),
      );
    });
    core.afterCommit();
    return { more: 'retryAt' in report ? false : core.ledger.hasDeliveries(delivery.client_id) };
  }

  /** Receipts for Parley's sends: delivered → delivery:user, read → conversation:read, failed → delivery:failure. Runs inside the caller's transaction. */
  receipt(row: ConversationRow, user: UserRef, client: InboundClient, e: Extract<ReceivedEvent, { kind: 'delivery' }>): void {
    if (e.status === 'sent') return;
    const { ledger } = this.core;
    const now = Date.now();
    if (e.channelMessageId) {
      const messageId = ledger.sentMessage(client.id, e.channelMessageId);
      // The receipt overtook the report of its own send (a multi-part message still going out): it waits for it.
      if (!messageId) ledger.park(client.id, e.channelMessageId, e.status, e.error, now);
      else this.raiseReceipt(row, user, { type: client.type, integrationId: client.integrationId }, messageId, e.status, e.channelMessageId, e.error);
      return;
    }
    if (e.watermark === undefined) return;
    if (e.status === 'read') {
      this.raiseReceipt(row, user, { type: client.type, integrationId: client.integrationId }, undefined, 'read', `watermark:${e.watermark}`);
      return;
    }
    for (const messageId of ledger.deliveredUpTo(client.id, e.watermark)) {
      this.raiseReceipt(row, user, { type: client.type, integrationId: client.integrationId }, messageId, e.status, undefined, e.error);
    }
  }

  /** Raises one receipt's event once per (client, channel id or message, status). */
  private raiseReceipt(
    row: ConversationRow,
    user: UserRef,
    destination: { type: string; integrationId: string },
    messageId: string | undefined,
    status: string,
    channelMessageId: string | undefined,
    error?: { code: string; message: string },
  ): void {
    const { core } = this;
    if (!core.ledger.firstSight(`${status}:${destination.integrationId}:${user.id}:${channelMessageId ?? messageId}`, Date.now())) return;
    const conversation = toConversation(row);
    if (status === 'read') {
      core.people.readByUser(user.id, new Date().toISOString());
      core.raise(readEvent(conversation, user, destination));
      return;
    }
    if (!messageId) return;
    const ids = channelMessageId ? [channelMessageId] : [];
    if (status === 'failed') {
      core.raise(deliveryEvent('failure', conversation, user, messageId, destination, ids, error ?? { code: 'uncategorized_error', message: 'The channel reported the message failed' }));
    } else {
      core.raise(deliveryEvent('user', conversation, user, messageId, destination, ids));
    }
  }
}
