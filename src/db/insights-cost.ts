/**
 * The estimated Cloudflare bill behind a month's usage: counted events times
 * the billable operations each costs, times the list prices of
 * scripts/bench/prices.json (bundled into the Worker as data: one file to edit
 * when Cloudflare changes a price). The operations per message are the
 * bench's measured figures (README, Performance: a returning user's message
 * with one webhook subscribed, run of 2026-12-06 16:11 UTC) plus the rows
 * migration 0013 adds; the others are estimates from the code path, marked as
 * such. Storage (D1, R2, Durable Object GB-months) is not priced: the price
 * file has no storage prices.
 */
import prices from '../../scripts/bench/prices.json';

type PriceItem = keyof typeof prices.prices;
type Units = Partial<Record<PriceItem, number>>;

/**
 * Rows 0013 adds per indexed message, as D1 counts rows_written (measured by
 * test/workerd/insights/cost.test.ts: the same upsert with and without the
 * triggers): the usage counter upsert and the search row. A user's first
 * message of the month adds its active-user row once.
 */
export const INSIGHTS_ROWS_PER_MESSAGE = 2;

/** Per event, the billable operations. */
export const UNITS: Record<'message' | 'delivery' | 'notification' | 'webhookAttempt' | 'mediaObject', { units: Units; basis: string }> = {
  message: {
    units: {
      workerRequests: 1.055,
      doRequests: 2,
      doDurationGBs: 0.0083,
      doRowsRead: 54,
      doRowsWritten: 9,
      d1RowsRead: 2,
      d1RowsWritten: 5 + INSIGHTS_ROWS_PER_MESSAGE,
      queueOperations: 3,
    },
    basis: 'measured: npm run bench, returning-user ingest with one webhook (README Performance), less the webhook delivery log row (priced per webhook attempt), plus the rows migration 0013 adds per message',
  },
  delivery: {
    units: { workerRequests: 1, doRequests: 2, doRowsWritten: 4, queueOperations: 3, d1RowsWritten: 2 },
    basis: 'estimate from the code path: a deliveries queue message (send, read, ack), the claim and report calls, the ledger rows and the outcome row with its counter',
  },
  notification: {
    units: { workerRequests: 1, doRequests: 1, doRowsWritten: 9, d1RowsWritten: 2, queueOperations: 3 },
    basis: 'estimate: one API call, the notification row, and a business message sent as above',
  },
  webhookAttempt: {
    units: { d1RowsWritten: 1 },
    basis: 'estimate: the delivery log row (the POST itself rides the message’s own queue message)',
  },
  mediaObject: {
    units: { r2ClassA: 1, d1RowsWritten: 2 },
    basis: 'one R2 put and its usage row with its counter',
  },
};

export interface CostEstimate {
  currency: string;
  total: number;
  byEvent: Record<string, number>;
  pricesChecked: string;
  model: Record<string, { units: Units; basis: string }>;
}

const usdFor = (units: Units) =>
  Object.entries(units).reduce((sum, [item, n]) => sum + (n ?? 0) * (prices.prices[item as PriceItem].usdPerMillion / 1_000_000), 0);

const micro = (usd: number) => Math.round(usd * 1e6) / 1e6;

export function estimateCost(counts: Record<keyof typeof UNITS, number>): CostEstimate {
  const byEvent = Object.fromEntries(Object.entries(counts).map(([event, n]) => [event, micro(n * usdFor(UNITS[event as keyof typeof UNITS].units))]));
  return {
    currency: prices.currency,
    total: micro(Object.values(byEvent).reduce((a, b) => a + b, 0)),
    byEvent,
    pricesChecked: prices.checked,
    model: UNITS,
  };
}
