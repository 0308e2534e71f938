/**
 * The webhook delivery log names what went wrong (issue 16, point 5), against
 * the real runtime: wrangler dev's workerd calls each failing target for real
 * on loopback (a closed port, a server that never answers, one that hangs up,
 * a TLS handshake with a plain-HTTP port, a name that does not resolve, and
 * receivers answering 500 and 401), and `GET …/webhooks/{id}/deliveries`
 * must say which, with what to do next, never "internal error; reference = …".
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { appWithKey, basicAuth, rest } from './rest';

const base = inject('parleyUrl');
const account = basicAuth(inject('accountKeyId'), inject('accountKeySecret'));
let appId = '';
let auth = '';
const servers: (Server | HttpServer)[] = [];
const sockets: Socket[] = [];

async function listen<T extends Server | HttpServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: bound once, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  await new Promise((r) => server.close(r));
  return port;
}

const statusServer = (status: number) => createHttpServer((req, res) => req.resume().on('end', () => res.writeHead(status).end('no')));

beforeAll(async () => {
  ({ appId, auth } = await appWithKey(base, account, 'webhook causes'));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A custom integration whose one webhook posts to `target`; returns the path of its delivery log. */
async function webhookTo(target: string): Promise<string> {
  const res = await rest(base, 'POST', `/v2/apps/${appId}/integrations`, auth, { type: 'custom', displayName: 'cause', webhooks: [{ target, triggers: ['conversation:message'] }] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return `/v2/apps/${appId}/integrations/${res.body.integration.id}/webhooks/${res.body.integration.webhooks[0].id}/deliveries`;
}

async function firstError(log: string, within = 20_000): Promise<{ error: string; outcome: string; responseCode: number | null }> {
  const deadline = Date.now() + within;
  for (;;) {
    const res = await rest(base, 'GET', log, auth);
    const attempt = res.body?.deliveries?.find((d: { outcome: string }) => d.outcome !== 'delivered');
    if (attempt) return attempt;
    if (Date.now() > deadline) throw new Error(`no failed attempt in ${log}: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('the webhook delivery log names the cause', () => {
  it('says DNS failure, connection refused, connection closed, TLS error, timeout or the status, and what to do', async () => {
    const hanging = createServer((socket) => sockets.push(socket));
    const hangingPort = await listen(hanging);
    const hangUp = createServer((socket) => socket.once('data', () => socket.destroy()));
    const hangUpPort = await listen(hangUp);
    const plainPort = await listen(statusServer(200));
    const failingPort = await listen(statusServer(500));
    const refusingPort = await listen(statusServer(401));
    const closed = await closedPort();

    const cases: [string, string, RegExp][] = [
      ['a closed port', `http://127.0.0.1:${closed}/hook`, new RegExp(`^connection refused: nothing accepts connections at 127\\.0\\.0\\.1:${closed}; start the receiver`)],
      ['a server that never answers', `http://127.0.0.1:${hangingPort}/hook`, new RegExp(`^timeout: 127\\.0\\.0\\.1:${hangingPort} sent no answer within 1 s`)],
      ['a server that hangs up', `http://127.0.0.1:${hangUpPort}/hook`, /^connection closed: .* accepted the connection but closed it without an HTTP answer/],
      ['TLS to a plain-HTTP port', `https://127.0.0.1:${plainPort}/hook`, new RegExp(`^TLS error: 127\\.0\\.0\\.1:${plainPort} accepted the connection but the TLS handshake failed .*use http:// for a plain local port`)],
      ['a name that does not resolve', 'https://no-such-receiver.invalid/hook', /^DNS failure: no-such-receiver\.invalid could not be resolved; check the host name/],
      ['a receiver answering 500', `http://127.0.0.1:${failingPort}/hook`, /^receiver answered HTTP 500; the receiver failed: see its logs; Parley retries$/],
      ['a receiver answering 401', `http://127.0.0.1:${refusingPort}/hook`, /^receiver answered HTTP 401; check that the receiver verifies X-API-Key or webhook-signature .*; not retried/],
    ];
    const logs = await Promise.all(cases.map(([, target]) => webhookTo(target)));
    const user = await rest(base, 'POST', `/v2/apps/${appId}/users`, auth, { externalId: 'cause-ada' });
    expect(user.status).toBe(201);
    const conv = await rest(base, 'POST', `/v2/apps/${appId}/conversations`, auth, { type: 'personal', participants: [{ userExternalId: 'cause-ada' }] });
    expect(conv.status).toBe(201);
    const sent = await rest(base, 'POST', `/v2/apps/${appId}/conversations/${conv.body.conversation.id}/messages`, auth, { author: { type: 'business' }, content: { type: 'text', text: 'who hears this?' } });
    expect(sent.status).toBe(201);

    const attempts = await Promise.all(logs.map((log) => firstError(log)));
    cases.forEach(([what, , cause], i) => {
      const { error } = attempts[i]!;
      expect(error, what).toMatch(cause);
      expect(error, what).not.toMatch(/internal error|reference =/);
    });
    expect(attempts[5]!.responseCode).toBe(500);
    expect(attempts[6]).toMatchObject({ responseCode: 401, outcome: 'dead' });
  }, 60_000);
});
