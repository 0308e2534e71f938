/**
 * The channel ledger's bookkeeping inside a real Durable Object's SQLite:
 * only the head delivery of a client is leased, a delivery is owed a kick
 * until a consumer serves it (a lost kick is repeated), receipts that
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

  /** The alarm's view of a client: the later of its last kick, its newest queued delivery and its consumer's last progress. */
  const since = (lastKick: number, progress: number) => (_clientId: string, queuedAt: number) => Math.max(queuedAt, lastKick, progress);
  const every30s = () => 30_000;

  it('a queued delivery is owed a kick again when its kick brought no consumer within the interval, and nothing once sent', () =>
    withLedger('0000000000000000000000a7', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}', 1_000);
      expect(ledger.kicks(since(0, 0), every30s)).toEqual([{ clientId: 'c1', at: 31_000 }]);
      // The alarm kicked at 31 s and still no consumer came: the next kick is an interval after that one.
      expect(ledger.kicks(since(31_000, 0), every30s)).toEqual([{ clientId: 'c1', at: 61_000 }]);
      const claim = ledger.claim('c1', 60_000, 40_000) as { deliveryId: number; leaseId: string };
      expect(ledger.kicks(since(31_000, 40_000), every30s), 'leased: the lease is what to wait for').toEqual([{ clientId: 'c1', at: 100_000 }]);
      ledger.finish(ledger.leased(claim.deliveryId, claim.leaseId)!, ['x1'], 41_000);
      expect(ledger.kicks(since(31_000, 41_000), every30s)).toEqual([]);
    }));

  it('a retry that comes due after the last kick is kicked when due; a kick that brings no consumer is repeated after the interval', () =>
    withLedger('0000000000000000000000a2', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}', 1_000);
      const claim = ledger.claim('c1', 60_000, 2_000) as { deliveryId: number; leaseId: string };
      ledger.retryAt(ledger.leased(claim.deliveryId, claim.leaseId)!, 5_000, 0, 0, [], 2_000);
      expect(ledger.kicks(since(0, 2_000), every30s)).toEqual([{ clientId: 'c1', at: 5_000 }]);
      // Kicked at 5 s; the retry time stays, so a lost kick does not leave the delivery stranded.
      expect(ledger.kicks(since(5_000, 2_000), every30s)).toEqual([{ clientId: 'c1', at: 35_000 }]);
      // The kicked consumer can claim it at once.
      expect(ledger.claim('c1', 60_000, 6_000)).toMatchObject({ messageId: 'm1', attempts: 2 });
    }));

  it('a lapsed lease (a consumer died) is kicked when it lapses, then like any unserved delivery', () =>
    withLedger('0000000000000000000000a3', (ledger) => {
      ledger.touchClient(client, 1_000, 1_000);
      ledger.add('m1', 'c1', '{}', 1_000);
      ledger.claim('c1', 10_000, 2_000);
      expect(ledger.kicks(since(0, 2_000), every30s)).toEqual([{ clientId: 'c1', at: 12_000 }]);
      expect(ledger.kicks(since(12_000, 2_000), every30s)).toEqual([{ clientId: 'c1', at: 42_000 }]);
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
