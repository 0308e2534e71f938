/**
 * The customer's webhook endpoint, on loopback: subscribed to
 * conversation:message, it answers 200 at once and notes, per bench token,
 * when the event arrived, which event id carried it (a redelivered event is
 * counted, not hidden), and the message's conversation and seq.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TOKEN } from './channels';
import { now } from './http';

export interface Seen {
  at: number;
  eventId: string;
  messageId: string;
  conversationId: string;
  seq: number;
  /** The channel user who wrote it (inbound messages), as the source's integration saw them. */
  userId?: string;
}

export interface Receiver {
  url: string;
  /** Token → first receipt. */
  first: Map<string, Seen>;
  /** Token → how many events carried it (1 when delivered once). */
  count: Map<string, number>;
  /** Event ids seen more than once. */
  redelivered: number;
  /** Resolves with the token's first receipt, or undefined after `ms`. */
  wait(token: string, ms: number): Promise<Seen | undefined>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const eventIds = new Set<string>();
  const waiters = new Map<string, (seen: Seen | undefined) => void>();
  const receiver: Receiver = {
    url: '',
    first: new Map(),
    count: new Map(),
    redelivered: 0,
    wait(token, ms) {
      const seen = receiver.first.get(token);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiters.delete(token);
          resolve(undefined);
        }, ms);
        waiters.set(token, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = now();
      res.writeHead(200).end();
      let envelope: any;
      try {
        envelope = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return;
      }
      for (const event of Array.isArray(envelope?.events) ? envelope.events : []) {
        if (event?.type !== 'conversation:message') continue;
        if (eventIds.has(event.id)) receiver.redelivered++;
        eventIds.add(event.id);
        const message = event.payload?.message ?? {};
        const text = typeof message.content?.text === 'string' ? message.content.text : '';
        for (const m of text.matchAll(TOKEN)) {
          const t = m[0];
          receiver.count.set(t, (receiver.count.get(t) ?? 0) + 1);
          if (receiver.first.has(t)) continue;
          const seen: Seen = {
            at,
            eventId: event.id,
            messageId: message.id,
            conversationId: event.payload?.conversation?.id,
            seq: message.seq,
            ...(message.author?.type === 'user' ? { userId: message.author.userId } : {}),
          };
          receiver.first.set(t, seen);
          waiters.get(t)?.(seen);
          waiters.delete(t);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Parley's consumer may hold many connections open at once; keep them alive between batches.
  server.keepAliveTimeout = 30_000;
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  return receiver;
}
