/**
 * The demo's HTTP server on loopback. It plays two parts a customer would
 * build themselves: the website that embeds the Web Messenger (`/`, with its
 * product images under `/img/`), and the support backend (`/inbox`), which
 * receives Parley's customer webhook and calls Parley's REST API with the app
 * key. The key stays here: the inbox page only talks to `/inbox/api/*`.
 *
 *   GET  /inbox/api/info                             what the page shows in its header
 *   GET  /inbox/api/conversations                    conversations known from webhooks, newest activity first
 *   GET  /inbox/api/conversations/{id}/messages      the newest messages, read from Parley
 *   POST /inbox/api/conversations/{id}/messages      {text} or {rich: carousel|quickReplies|form}, sent as the business
 *   POST /inbox/api/conversations/{id}/read          the agent opened it (also tells Parley: the user sees "Seen")
 *   POST /inbox/api/conversations/{id}/typing        {typing: boolean}, the business typing indicator
 *   GET  /inbox/api/events?after=n                   the webhook events received
 *   GET  /inbox/api/stream                           the same changes, live, as Server-Sent Events
 *   POST /inbox/webhook                              Parley's customer webhook
 */
/// <reference path="../simulator/raw.d.ts" />
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readJson, sendJson } from '../simulator/http';
import type { ParleyApi } from '../simulator/parley';
import { verifySignature } from '../simulator/receiver';
import BACKPACK_SVG from './img/backpack.svg?raw';
import BOOTS_SVG from './img/boots.svg?raw';
import JACKET_SVG from './img/jacket.svg?raw';
import LOGO_SVG from './img/logo.svg?raw';
import AGENT_SVG from './img/agent.svg?raw';
import TENT_SVG from './img/tent.svg?raw';
import type { Inbox, InboxChange } from './inbox';
import INBOX_HTML from './page/inbox.html?raw';
import INBOX_JS from './page/inbox.js?raw';
import STORE_HTML from './page/store.html?raw';
import { isRichKind, PRODUCTS, richContent } from './rich';
import type { InboxWebhook } from './setup';

const IMAGES: Record<string, string> = { backpack: BACKPACK_SVG, boots: BOOTS_SVG, jacket: JACKET_SVG, logo: LOGO_SVG, agent: AGENT_SVG, tent: TENT_SVG };

/** What the routes share; the integration and the webhook are filled in once Parley has answered. */
export interface DemoContext {
  api: ParleyApi;
  inbox: Inbox;
  url: string;
  integrationId?: string;
  webhook?: InboxWebhook;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const CONVERSATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const WEBHOOK_BODY_LIMIT = 1 << 20;

/** Values for an inline <script>: JSON, with `<` escaped so no string can close the tag. */
const scriptValue = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function storePage(ctx: DemoContext): string {
  const cards = PRODUCTS.map(
    (p) => `
      <article class="card" id="${p.slug}">
        <div class="art"><img src="/img/${p.slug}.svg" alt="${escapeHtml(p.name)}" width="320" height="220">${p.tag ? `<span class="tag">${escapeHtml(p.tag)}</span>` : ''}</div>
        <h3>${escapeHtml(p.name)}</h3>
        <p>${escapeHtml(p.blurb)}</p>
        <div class="buy"><strong>${p.price}</strong><button type="button">Add to cart</button></div>
      </article>`,
  ).join('');
  const { appId } = ctx.api.credentials;
  const fill: Record<string, string> = {
    PARLEY_URL: escapeHtml(ctx.api.base),
    PRODUCTS: cards,
    INIT: `ParleyMessenger.init(${scriptValue({ appId, integrationId: ctx.integrationId })});`,
  };
  // A function replacer, so a `$` in a price is never read as a replacement pattern.
  return STORE_HTML.replace(/%([A-Z_]+)%/g, (whole, name: string) => fill[name] ?? whole);
}

function page(res: ServerResponse, type: string, body: string): void {
  res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' }).end(body);
}

async function readText(req: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'the body is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const sameSecret = (given: string, secret: string) => {
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
};

/**
 * Checks the webhook as a customer's server should: the X-API-Key Sunshine
 * sends, and Parley's Standard Webhooks signature over the raw body. A refusal
 * (401) is final for Parley, so while the secret is not yet known (Parley has
 * not answered the setup) the answer is 503, which Parley retries.
 */
async function receiveWebhook(req: IncomingMessage, res: ServerResponse, ctx: DemoContext): Promise<void> {
  const body = await readText(req, WEBHOOK_BODY_LIMIT);
  const secret = ctx.webhook?.secret;
  if (!secret) return sendJson(res, 503, { error: 'the demo is still connecting to Parley' });
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || !sameSecret(key, secret)) return sendJson(res, 401, { error: 'X-API-Key is not this webhook’s secret' });
  if (!verifySignature(secret, req.headers, body)) return sendJson(res, 401, { error: 'webhook-signature does not match the body' });
  const envelope = JSON.parse(body);
  ctx.inbox.ingest(Array.isArray(envelope?.events) ? envelope.events : []);
  sendJson(res, 200, {});
}

/** Server-Sent Events: every inbox change, as it happens. */
function stream(req: IncomingMessage, res: ServerResponse, inbox: Inbox): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.write('retry: 2000\n\n');
  const off = inbox.subscribe((change: InboxChange) => res.write(`data: ${JSON.stringify(change)}\n\n`));
  // Some proxies and browsers give up on a silent stream; a comment line keeps it open.
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), 25_000);
  req.on('close', () => {
    off();
    clearInterval(keepalive);
  });
}

/** The Parley answer, or an error carrying Parley's own title. */
async function parley(ctx: DemoContext, method: string, path: string, body?: unknown) {
  const answer = await ctx.api.app(method, path, body);
  if (answer.status >= 400) throw new HttpError(answer.status === 404 ? 404 : 502, answer.body?.errors?.[0]?.title ?? `Parley answered ${answer.status}`);
  return answer.body;
}

async function conversationApi(req: IncomingMessage, res: ServerResponse, ctx: DemoContext, id: string, action: string): Promise<void> {
  const at = `/conversations/${id}`;
  if (req.method === 'GET' && action === 'messages') {
    const { messages } = await parley(ctx, 'GET', `${at}/messages?page[size]=100`);
    return sendJson(res, 200, { messages, conversation: ctx.inbox.conversation(id) });
  }
  if (req.method !== 'POST') throw new HttpError(404, `nothing at ${req.method} ${req.url}`);
  // A JSON body cannot come from another site's form without a CORS preflight, which this server never grants.
  if (!String(req.headers['content-type']).startsWith('application/json')) throw new HttpError(415, 'send JSON');
  const body = await readJson(req);
  const business = { type: 'business', displayName: 'Acme support', avatarUrl: `${ctx.url}/img/agent.svg` };
  switch (action) {
    case 'messages': {
      let content: unknown;
      if (isRichKind(body.rich)) content = richContent(body.rich, ctx.url);
      else if (typeof body.text === 'string' && body.text.trim()) content = { type: 'text', text: body.text.trim() };
      else throw new HttpError(400, 'send {text} or {rich: carousel|quickReplies|form}');
      const { messages } = await parley(ctx, 'POST', `${at}/messages`, { author: business, content });
      return sendJson(res, 201, { messages });
    }
    case 'read':
      await parley(ctx, 'POST', `${at}/activity`, { author: { type: 'business' }, type: 'conversation:read' });
      return sendJson(res, 200, { conversation: ctx.inbox.markRead(id) });
    case 'typing':
      await parley(ctx, 'POST', `${at}/activity`, { author: business, type: body.typing ? 'typing:start' : 'typing:stop' });
      return sendJson(res, 200, {});
  }
  throw new HttpError(404, `nothing at POST ${req.url}`);
}

async function route(req: IncomingMessage, res: ServerResponse, ctx: DemoContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://demo');
  const path = url.pathname;
  const get = req.method === 'GET' || req.method === 'HEAD';
  // /sale is the storefront too; the demo's campaign greets its visitors (setup.ts).
  if (get && (path === '/' || path === '/index.html' || path === '/sale')) {
    if (!ctx.integrationId) throw new HttpError(503, 'The demo is still connecting to Parley; reload in a moment.');
    return page(res, 'text/html', storePage(ctx));
  }
  const image = get ? /^\/img\/([a-z]+)\.svg$/.exec(path)?.[1] : undefined;
  if (image && IMAGES[image]) {
    return void res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=3600', 'access-control-allow-origin': '*' }).end(IMAGES[image]);
  }
  if (get && (path === '/inbox' || path === '/inbox/')) return page(res, 'text/html', INBOX_HTML);
  if (get && path === '/inbox/app.js') return page(res, 'text/javascript', INBOX_JS);
  if (req.method === 'POST' && path === '/inbox/webhook') return receiveWebhook(req, res, ctx);
  if (get && path === '/inbox/api/info') {
    return sendJson(res, 200, { parleyUrl: ctx.api.base, appId: ctx.api.credentials.appId, storeUrl: ctx.url, integrationId: ctx.integrationId, webhookTarget: `${ctx.url}/inbox/webhook` });
  }
  if (get && path === '/inbox/api/conversations') return sendJson(res, 200, { conversations: ctx.inbox.conversations() });
  if (get && path === '/inbox/api/events') return sendJson(res, 200, { events: ctx.inbox.events(Number(url.searchParams.get('after')) || 0) });
  if (get && path === '/inbox/api/stream') return stream(req, res, ctx.inbox);
  const conversation = /^\/inbox\/api\/conversations\/([^/]+)\/(messages|read|typing)$/.exec(path);
  if (conversation && CONVERSATION_ID.test(conversation[1]!)) return conversationApi(req, res, ctx, conversation[1]!, conversation[2]!);
  throw new HttpError(404, `nothing at ${req.method} ${path}`);
}

export function createDemoServer(ctx: DemoContext): Server {
  return createServer((req, res) => {
    route(req, res, ctx).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof SyntaxError ? 400 : 500;
      if (status === 500) console.error('web messenger demo:', err);
      if (!res.headersSent) sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
    });
  });
}
