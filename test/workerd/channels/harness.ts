/**
 * End-to-end harness for channel suites inside workerd. The tests, the Worker
 * (SELF), its queue consumers and its Durable Objects share one global scope
 * here, so routing `globalThis.fetch` by origin puts the channel fakes and a
 * customer webhook receiver behind the very calls Parley makes: integration
 * setup, sends, media downloads and webhook deliveries, all over each
 * channel's real protocol, with no network.
 */
import { SELF } from 'cloudflare:test';
import { vi } from 'vitest';
import { call } from '../helpers';

export interface FetchHandler {
  fetch(request: Request): Promise<Response>;
}

/** Sends every fetch whose origin is listed to its handler; anything else is refused, so no test reaches the internet. */
export function routeFetch(routes: Record<string, FetchHandler>) {
  return vi.spyOn(globalThis, 'fetch').mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const handler = routes[new URL(request.url).origin];
    if (!handler) throw new TypeError(`test network: nothing listens at ${new URL(request.url).origin}`);
    return handler.fetch(request);
  });
}

/** A customer's webhook endpoint: keeps every event it receives. */
export class WebhookReceiver implements FetchHandler {
  events: { type: string; payload: Record<string, unknown>; id: string }[] = [];

  async fetch(request: Request): Promise<Response> {
    const body = (await request.json()) as { events: { id: string; type: string; payload: Record<string, unknown> }[] };
    this.events.push(...body.events);
    return new Response('ok');
  }

  ofType(type: string) {
    return this.events.filter((e) => e.type === type);
  }
}

export const RECEIVER_ORIGIN = 'https://receiver.test';

/** Subscribes the app to every trigger at the receiver. */
export async function subscribe(appId: string, auth: string): Promise<void> {
  const res = await call('POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', webhooks: [{ target: `${RECEIVER_ORIGIN}/hook`, triggers: ['*'] }] });
  if (res.status !== 201) throw new Error(`webhook subscription failed: ${JSON.stringify(res.body)}`);
}

/** Polls until the check passes (queues and alarms run in the background) or the time runs out. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = 8_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** POSTs a channel's webhook request to Parley exactly as built (raw bytes and headers untouched). */
export async function hook(request: Request): Promise<Response> {
  return SELF.fetch(request);
}

export async function messages(appId: string, auth: string, conversationId: string) {
  const res = await call('GET', `/v2/apps/${appId}/conversations/${conversationId}/messages`, auth);
  return res.body.messages as { id: string; author: { type: string; userId?: string }; content: Record<string, unknown>; source: Record<string, unknown> }[];
}

/**
 * The conversation Parley opened for a channel user, found through the
 * `client:add` event the receiver got for their channel id (the user's id is
 * in it; their conversations are listed by it).
 */
export async function conversationOfUser(receiver: WebhookReceiver, app: { appId: string; auth: string }, externalId: string): Promise<string> {
  const added = await eventually(() => {
    const e = receiver.ofType('client:add').find((ev) => (ev.payload.client as { externalId: string }).externalId === externalId);
    if (!e) throw new Error(`no client:add for ${externalId} yet`);
    return e;
  });
  const list = await call('GET', `/v2/apps/${app.appId}/conversations?filter[userId]=${(added.payload.user as { id: string }).id}`, app.auth);
  return list.body.conversations[0].id;
}
