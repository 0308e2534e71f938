/**
 * The local customer webhook: what a customer's server would be. Parley POSTs
 * every event of the demo app here (a custom integration with triggers ['*']);
 * each event is logged as one line and the last 200 are kept for the page.
 * It checks the Standard Webhooks signature, as a customer should, and marks
 * events that fail it rather than refusing them: this is a demo, not a gate.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { close, listen } from './http';

export interface ReceivedEvent {
  /** Position in the receiver's log, for polling with `after`. */
  n: number;
  at: number;
  id: string;
  type: string;
  line: string;
  verified: boolean;
  payload: unknown;
}

const KEEP = 200;

/** Standard Webhooks: HMAC-SHA256 keyed with the base64 part of `whsec_…` over `id.timestamp.body`. */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string' || !secret.startsWith('whsec_')) return false;
  const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((s) => {
    const given = Buffer.from(s.replace(/^v1,/, ''), 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const quote = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 79)}…` : text);

function contentText(content: any): string {
  if (!content) return '';
  if (content.type === 'text') return quote(content.text ?? '') + (content.payload ? ` (payload ${quote(String(content.payload))})` : '');
  if (content.type === 'location') return `[location ${content.coordinates?.lat}, ${content.coordinates?.long}]`;
  return `[${content.type}]${content.text ? ` ${quote(content.text)}` : ''}`;
}

/**
 * One line per event: `webhook conversation:message from telegram user Ann: "hi"`.
 * `who` is the person as the simulator knows them, when it does.
 */
export function describe(event: { type?: string; payload?: any }, who?: string): string {
  const p = event.payload ?? {};
  const type = event.type ?? '?';
  const channel = p.message?.source?.type ?? p.source?.type ?? p.destination?.type ?? p.client?.type;
  const person = `${channel ?? 'unknown'} user ${who ?? p.message?.author?.displayName ?? p.user?.id ?? '?'}`;
  switch (type) {
    case 'conversation:message': {
      const m = p.message ?? {};
      if (m.author?.type === 'business') return `webhook ${type} from business: ${contentText(m.content)}`;
      return `webhook ${type} from ${person}: ${contentText(m.content)}`;
    }
    case 'conversation:postback':
      return `webhook ${type} from ${person}: payload ${quote(String(p.postback?.payload ?? ''))}`;
    case 'conversation:payment': {
      const pay = p.payment ?? {};
      return `webhook ${type} in conversation ${p.conversation?.id}: ${pay.amount} ${pay.currency} ${pay.status ?? 'paid'} for "${p.action?.text ?? '?'}" (${pay.checkoutSessionId})`;
    }
    case 'conversation:create':
      return `webhook ${type} ${p.conversation?.id} for ${person} (${p.creationReason ?? 'created'})`;
    case 'client:add':
      return `webhook ${type} ${channel ?? 'unknown'} client for ${who ?? p.client?.displayName ?? p.client?.externalId ?? p.user?.id}`;
    case 'conversation:message:delivery:channel':
    case 'conversation:message:delivery:user':
    case 'conversation:message:delivery:failure':
      return `webhook ${type} to ${person}, message ${p.message?.id}${p.error ? `: ${p.error.message ?? p.error.code}` : ''}`;
    default:
      return `webhook ${type}${p.conversation?.id ? ` in conversation ${p.conversation.id}` : ''}${who ? ` (${person})` : ''}`;
  }
}

export interface Receiver {
  url: string;
  /** The webhook secret, once the simulator knows it. */
  secret: string;
  events(after?: number): ReceivedEvent[];
  close(): Promise<void>;
}

export interface ReceiverOptions {
  port: number;
  /** Sees a batch's events before any is logged (a batch opens with conversation:create, before the message that names the person). */
  learn?: (events: { type?: string; payload?: any }[]) => void;
  /** The event's person, as the simulator knows them. */
  who?: (event: { type?: string; payload?: any }) => string | undefined;
  log?: (line: string) => void;
}

export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const kept: ReceivedEvent[] = [];
  let n = 0;
  const receiver = {
    url: '',
    secret: '',
    events: (after = 0) => kept.filter((e) => e.n > after),
    close: () => close(server),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      let envelope: any;
      try {
        envelope = JSON.parse(body);
      } catch {
        options.log?.(`webhook with a body that is not JSON (${body.length} bytes)`);
        return;
      }
      const verified = receiver.secret !== '' && verifySignature(receiver.secret, req.headers, body);
      // Delivery is at least once: a retried batch carries events already logged.
      const events: any[] = (Array.isArray(envelope?.events) ? envelope.events : []).filter((event: any) => !kept.some((e) => e.id === event?.id));
      options.learn?.(events);
      for (const event of events) {
        const line = describe(event, options.who?.(event)) + (verified ? '' : ' (signature not verified)');
        kept.push({ n: ++n, at: Date.now(), id: event.id, type: event.type, line, verified, payload: event.payload });
        if (kept.length > KEEP) kept.splice(0, kept.length - KEEP);
        options.log?.(line);
      }
    });
  });
  await listen(server, options.port, 'webhook receiver');
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  return receiver;
}
