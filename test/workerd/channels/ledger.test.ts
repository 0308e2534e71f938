/**
 * The channel ledger's bookkeeping inside a real Durable Object's SQLite:
 * only the head delivery of a client is leased, a due retry is handed to
 * exactly one kick (the alarm does not fire again for it), receipts that
 * overtake their send wait for it, and deleting clears every channel trace.
 */
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ChannelLedger } from '../../../durable/channel-ledger';
import { conversationDO } from '../load-fixtures';

const client = { id: 'c1', integrationId: 'i1', type: 'telegram', externalId: '42', userId: 'u1', raw: null };

async function withLedger<T>(name: string, fn: (ledger: ChannelLedger, sql: SqlStorage) => T): Promise<T> {
  return runInDurableObject(conversationDO('ledgerapp', name), (_instance, state) => fn(new ChannelLedger(state.storage.sql), state.storage.sql));
}

describe('channel ledger', () => {
  it('leases only the head delivery of a client, and the next one after it finishes', () =>
    withLedger('0000000000000000000000a1', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}');
      ledger.add('m2', 'c1', '{}');
      const first = ledger.claim('c1', 60_000, 2_000);
      expect(first && 'messageId' in first && first.messageId).toBe('m1');
      expect(ledger.claim('c1', 60_000, 2_000)).toEqual({ wait: 62_000 });
      ledger.finish(ledger.leased((first as { deliveryId: number }).deliveryId, (first as { leaseId: string }).leaseId)!, ['x1'], 3_000);
      const second = ledger.claim('c1', 60_000, 3_000);
      expect(second && 'messageId' in second && second.messageId).toBe('m2');
    }));

  it('hands a due retry to one kick: once taken, the alarm has nothing to wake for it', () =>
    withLedger('0000000000000000000000a2', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}');
      const claim = ledger.claim('c1', 60_000, 2_000) as { deliveryId: number; leaseId: string };
      ledger.retryAt(ledger.leased(claim.deliveryId, claim.leaseId)!, 5_000, 0, 0, [], 2_000);
      expect(ledger.nextWake()).toBe(5_000);
      expect(ledger.takeDue(4_000)).toEqual([]);
      expect(ledger.takeDue(5_000)).toEqual(['c1']);
      expect(ledger.nextWake()).toBeNull();
      expect(ledger.takeDue(6_000)).toEqual([]);
      // The kicked consumer can claim it at once.
      expect(ledger.claim('c1', 60_000, 6_000)).toMatchObject({ messageId: 'm1', attempts: 2 });
    }));

  it('a lapsed lease is handed to one kick the same way', () =>
    withLedger('0000000000000000000000a3', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}');
      ledger.claim('c1', 10_000, 2_000);
      expect(ledger.nextWake()).toBe(12_000);
      expect(ledger.takeDue(12_000)).toEqual(['c1']);
      expect(ledger.nextWake()).toBeNull();
    }));

  it('remembers channel ids sent before a retry, so their receipts find the message', () =>
    withLedger('0000000000000000000000a4', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}');
      const claim = ledger.claim('c1', 60_000, 2_000) as { deliveryId: number; leaseId: string };
      ledger.retryAt(ledger.leased(claim.deliveryId, claim.leaseId)!, 9_000, 1, 0, ['part-1'], 2_000);
      expect(ledger.sentMessage('c1', 'part-1')).toBe('m1');
    }));

  it('parks a receipt that overtook its send and hands it out once', () =>
    withLedger('0000000000000000000000a5', (ledger) => {
      ledger.park('c1', 'SM1', 'delivered', undefined, 1_000);
      ledger.park('c1', 'SM1', 'delivered', undefined, 1_001);
      expect(ledger.unpark('c1', ['SM1', 'SM2'])).toEqual([{ channelMessageId: 'SM1', status: 'delivered' }]);
      expect(ledger.unpark('c1', ['SM1'])).toEqual([]);
    }));

  it('clear forgets clients, queued deliveries, sent ids and parked receipts', () =>
    withLedger('0000000000000000000000a6', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}');
      ledger.park('c1', 'SM1', 'delivered', undefined, 1_000);
      ledger.clear();
      expect(ledger.claim('c1', 60_000, 2_000)).toBeUndefined();
      expect(ledger.client('c1')).toBeUndefined();
      expect(ledger.unpark('c1', ['SM1'])).toEqual([]);
    }));
});
