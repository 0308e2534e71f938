/**
 * The customer's webhook receiver for the chaos test, on loopback. It checks
 * every delivery's Standard Webhooks signature, can be switched to answer
 * HTTP 500 (an outage: Parley must retry), and records what arrived the way a
 * careful receiver would read it: raw deliveries, deliveries repeated under a
 * webhook-id already accepted, and events deduplicated by event id.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../test/node/receiver';

export interface ReceivedMessageEvent {
  eventId: string;
  conversationId: string;
  messageId: string;
  seq: number;
  originalMessageId?: string;
  /** Accepted deliveries that carried this event (1 when never repeated). */
  copies: number;
  /** When it first arrived. */
  firstAt: number;
}

export class ChaosReceiver {
  secret = '';
  /** While true every delivery is answered 500 and not read as received. */
  failing = false;
  readonly counts = {
    requests: 0,
    refused500: 0,
    badSignature: 0,
    accepted: 0,
    /** Accepted deliveries whose webhook-id had been accepted before. */
    duplicateDeliveries: 0,
    /** Events (any type) that arrived again in another accepted delivery. */
    duplicateEvents: 0,
    /** conversation:message events that arrived after a later seq of their conversation (first copies only). */
    outOfOrder: 0,
  };
  readonly messageEvents = new Map<string, ReceivedMessageEvent>();
  /** Every conversation any event named. */
  readonly conversations = new Set<string>();
  private readonly webhookIds = new Set<string>();
  private readonly eventIds = new Set<string>();
  private readonly lastSeq = new Map<string, number>();
  private server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.counts.requests++;
        if (this.failing) {
          this.counts.refused500++;
          res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver outage');
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8');
        if (!verifySignature(this.secret, req.headers, body)) {
          this.counts.badSignature++;
          res.writeHead(401, { 'content-type': 'text/plain' }).end('bad signature');
          return;
        }
        this.counts.accepted++;
        const webhookId = String(req.headers['webhook-id']);
        if (this.webhookIds.has(webhookId)) this.counts.duplicateDeliveries++;
        this.webhookIds.add(webhookId);
        let events: any[] = [];
        try {
          events = JSON.parse(body).events ?? [];
        } catch {
          // counted as accepted with no events; a signed body that is not JSON would be a Parley bug the counts show
        }
        for (const e of events) this.take(e);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }

  private take(e: any): void {
    const conversationId: string | undefined = e?.payload?.conversation?.id;
    if (conversationId) this.conversations.add(conversationId);
    if (this.eventIds.has(e.id)) {
      this.counts.duplicateEvents++;
      const known = this.messageEvents.get(e.id);
      if (known) known.copies++;
      return;
    }
    this.eventIds.add(e.id);
    if (e.type !== 'conversation:message' || !conversationId) return;
    const m = e.payload.message;
    const seq = Number(m.seq);
    if (seq <= (this.lastSeq.get(conversationId) ?? 0)) this.counts.outOfOrder++;
    else this.lastSeq.set(conversationId, seq);
    this.messageEvents.set(e.id, { eventId: e.id, conversationId, messageId: m.id, seq, ...(m.source?.originalMessageId ? { originalMessageId: m.source.originalMessageId } : {}), copies: 1, firstAt: Date.now() });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhook`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
