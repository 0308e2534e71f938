/**
 * A real local HTTP webhook receiver for the Node suites: records every
 * request (headers and raw body), answers with a scripted behaviour per
 * request, and can stop listening for a while to play "unreachable".
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

/** What to do with one request: answer a status, or hang past the sender's timeout. */
export type Behaviour = { status: number } | { hangMs: number };

export class Receiver {
  readonly requests: Received[] = [];
  /** Consumed one per request; when empty, `fallback` answers. */
  script: Behaviour[] = [];
  fallback: Behaviour = { status: 200 };
  private server: Server;
  port = 0;

  constructor() {
    this.server = this.makeServer();
  }

  private makeServer(): Server {
    return createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        this.requests.push({ headers: req.headers, body, json, at: Date.now() });
        const b = this.script.shift() ?? this.fallback;
        if ('hangMs' in b) {
          setTimeout(() => res.writeHead(200).end(), b.hangMs).unref();
          return;
        }
        res.writeHead(b.status, { 'content-type': 'text/plain' }).end('ok');
      });
    });
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Stops accepting connections (senders see ECONNREFUSED) until `listen` is called again on the same port. */
  async goAway(): Promise<void> {
    const old = this.server;
    this.server = this.makeServer();
    old.closeAllConnections();
    await new Promise<void>((resolve) => old.close(() => resolve()));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests whose signature verifies, deduplicated by webhook-id as a receiver should. */
  uniqueDeliveries(): Received[] {
    const seen = new Set<string>();
    return this.requests.filter((r) => {
      const id = String(r.headers['webhook-id']);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  events(): { id: string; type: string; createdAt: string; payload: any }[] {
    return this.uniqueDeliveries().flatMap((r) => r.json?.events ?? []);
  }
}

/** Verifies a Standard Webhooks signature header against one secret. */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .some((part) => part === `v1,${expected}`);
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
