/**
 * The simulator's own HTTP server on loopback: the page (plain HTML and JS,
 * bundled in) and the small JSON API the page polls and posts to. The API is
 * also what the Node test and a curious user drive:
 *
 *   GET  /api/channels                          channels, whether each is set up
 *   GET  /api/chat?channel=telegram&user=Ann    a chat, its conversation id and a reply curl
 *   GET  /api/webhooks?after=N                  customer webhook events received after N
 *   POST /api/send      {channel, user, text}
 *   POST /api/mail      {channel, user, subject, text, inReplyTo?}   email: a new mail, or a reply in a thread
 *   POST /api/tap       {channel, user, bubble, button}
 *   POST /api/location  {channel, user, lat, long}
 *   POST /api/setting   {channel, on}           the simulated device's switch (Apple: list pickers and quick replies)
 *   POST /api/reply     {channel, user, text}   the business answers through the REST API
 */
/// <reference path="./raw.d.ts" />
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ActionError, type Actions } from './actions';
import { close, listen, readJson, sendJson } from './http';
import APP_JS from './page/app.js?raw';
import INDEX_HTML from './page/index.html?raw';
import type { Receiver } from './receiver';

export interface PageInfo {
  parleyUrl: string;
  appId: string;
  keyId: string;
}

async function route(req: IncomingMessage, res: ServerResponse, actions: Actions, receiver: Receiver, info: PageInfo): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://simulator');
  const q = (name: string) => url.searchParams.get(name) ?? '';
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (get && (url.pathname === '/' || url.pathname === '/index.html')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(INDEX_HTML);
    return;
  }
  if (get && url.pathname === '/app.js') {
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(APP_JS);
    return;
  }
  if (get && url.pathname === '/api/channels') return sendJson(res, 200, { ...info, channels: actions.channelList() });
  if (get && url.pathname === '/api/chat') return sendJson(res, 200, actions.chat(q('channel'), q('user')));
  if (get && url.pathname === '/api/webhooks') return sendJson(res, 200, { events: receiver.events(Number(q('after')) || 0) });
  if (req.method === 'POST' && url.pathname.startsWith('/api/')) {
    const b = await readJson(req);
    switch (url.pathname) {
      case '/api/send':
        return sendJson(res, 200, { bubble: await actions.send(b.channel, b.user, b.text) });
      case '/api/mail':
        return sendJson(res, 200, { bubble: await actions.mail(b.channel, b.user, b.subject, b.text, b.inReplyTo) });
      case '/api/tap':
        return sendJson(res, 200, await actions.tap(b.channel, b.user, b.bubble, b.button));
      case '/api/location':
        return sendJson(res, 200, { bubble: await actions.location(b.channel, b.user, b.lat, b.long) });
      case '/api/setting':
        return sendJson(res, 200, actions.setting(b.channel, b.on));
      case '/api/reply':
        return sendJson(res, 200, await actions.reply(b.channel, b.user, b.text));
    }
  }
  sendJson(res, 404, { error: `nothing at ${req.method} ${url.pathname}` });
}

export async function startPageServer(port: number, actions: Actions, receiver: Receiver, info: PageInfo): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    route(req, res, actions, receiver, info).catch((err: unknown) => {
      const status = err instanceof ActionError ? err.status : err instanceof SyntaxError ? 400 : 500;
      if (status === 500) console.error('simulator:', err);
      if (!res.headersSent) sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  await listen(server, port, 'simulator page');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => close(server) };
}
