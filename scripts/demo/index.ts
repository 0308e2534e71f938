/**
 * The Web Messenger demo: a storefront that embeds Parley's widget exactly as
 * a customer's website would, and a support inbox that answers its visitors
 * through Parley's REST API and learns about them from the customer webhook.
 * `npm start` bundles this file (scripts/bundle.mjs) and starts it once
 * Parley is up; a browser test can call `startDemo` directly.
 */
import type { AddressInfo } from 'node:net';
import { ParleyApi, type Credentials } from '../simulator/parley';
import { Inbox, type LoggedEvent } from './inbox';
import { createDemoServer, type DemoContext } from './server';
import { ensureInboxWebhook, ensureSaleCampaign, ensureWebIntegration, webSettings } from './setup';

export const DEFAULT_PORT = 8795;

export interface DemoOptions extends Credentials {
  /** 0: a free port. */
  port?: number;
  /** The inbox's conversations and event log (`.parley/inbox.json`). */
  stateFile: string;
  /** Prints a warning; default console.warn. */
  warn?: (line: string) => void;
}

export interface Demo {
  /** The storefront with the widget. */
  url: string;
  inboxUrl: string;
  /** The demo's `web` integration. */
  integrationId: string;
  /** The custom integration and webhook posting to the inbox. */
  webhook: { integrationId: string; webhookId: string; target: string };
  /** Webhook events received (and verified), oldest first; `after` is a position from an earlier call. */
  webhookEvents(after?: number): LoggedEvent[];
  close(): Promise<void>;
}

function listen(server: ReturnType<typeof createDemoServer>, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'EADDRINUSE' ? `port ${port} is in use: is another demo running? Set DEMO_PORT to move it` : err.message)),
    );
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Users Parley knows by name (a logged-in visitor, a channel profile) get it in the list; anonymous ones stay unnamed. */
async function nameOf(api: ParleyApi, userId: string): Promise<string | undefined> {
  const answer = await api.app('GET', `/users/${userId}`);
  if (answer.status !== 200) return undefined;
  const { profile, externalId } = answer.body.user ?? {};
  const full = [profile?.givenName, profile?.surname].filter(Boolean).join(' ');
  return full || profile?.email || externalId || undefined;
}

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const api = new ParleyApi(options);
  const health = await fetch(`${api.base}/healthz`).catch(() => undefined);
  if (!health?.ok) throw new Error(`Parley is not answering at ${api.base}`);

  const inbox = new Inbox(options.stateFile, options.appId);
  const ctx: DemoContext = { api, inbox, url: '' };
  const server = createDemoServer(ctx);
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // The inbox's event streams never end on their own.
      server.closeAllConnections();
    });
  // The server listens before Parley is touched, so a busy port fails fast; the webhook answers 503 until the secret is known.
  const port = await listen(server, options.port ?? DEFAULT_PORT);
  ctx.url = `http://127.0.0.1:${port}`;
  try {
    const origins = [ctx.url, `http://localhost:${port}`];
    ctx.integrationId = await ensureWebIntegration(api, webSettings(ctx.url, origins), options.warn ?? ((line) => console.warn(line)));
    ctx.webhook = await ensureInboxWebhook(api, `${ctx.url}/inbox/webhook`);
    // A greeting on the sale page only: the storefront itself stays quiet until the visitor writes.
    await ensureSaleCampaign(api, ctx.integrationId).catch((err: Error) => (options.warn ?? ((line) => console.warn(line)))(`The demo's sale campaign could not be set up: ${err.message}`));
  } catch (err) {
    await close();
    throw err;
  }

  const asked = new Set<string>();
  inbox.subscribe((change) => {
    const c = change.kind === 'event' ? change.conversation : undefined;
    if (!c?.userId || c.name || asked.has(c.userId)) return;
    asked.add(c.userId);
    nameOf(api, c.userId).then(
      (name) => name && inbox.name(c.id, name),
      () => asked.delete(c.userId!),
    );
  });

  return {
    url: ctx.url,
    inboxUrl: `${ctx.url}/inbox`,
    integrationId: ctx.integrationId,
    webhook: { integrationId: ctx.webhook.integrationId, webhookId: ctx.webhook.webhookId, target: `${ctx.url}/inbox/webhook` },
    webhookEvents: (after) => inbox.events(after),
    close,
  };
}
