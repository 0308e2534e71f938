/**
 * Serves a channel fake over loopback HTTP from Node, so a locally running
 * Parley (wrangler dev) calls it exactly as it would call the real channel:
 * the integration's `apiBaseUrl` points here. Used by the Node suites and the
 * channel simulator.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FetchHandler {
  fetch(request: Request): Promise<Response>;
}

export interface ServedFake {
  url: string;
  close(): Promise<void>;
}

async function toRequest(req: IncomingMessage, origin: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const body = chunks.length ? new Uint8Array(Buffer.concat(chunks)) : undefined;
  return new Request(new URL(req.url ?? '/', origin), { method: req.method ?? 'GET', headers, ...(body && req.method !== 'GET' && req.method !== 'HEAD' ? { body } : {}) });
}

async function writeResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  res.end(Buffer.from(await response.arrayBuffer()));
}

/** Listens on 127.0.0.1 (port 0 = any free port) and answers every request with the fake. */
export async function serveFake(fake: FetchHandler | ((origin: string) => FetchHandler), port = 0): Promise<ServedFake & { handler: FetchHandler }> {
  let handler: FetchHandler | undefined = typeof fake === 'function' ? undefined : fake;
  let origin = '';
  const server = createServer((req, res) => {
    toRequest(req, origin)
      .then((request) => handler!.fetch(request))
      .then((response) => writeResponse(res, response))
      .catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err instanceof Error ? err.stack : err));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`port ${port} on 127.0.0.1 is in use; stop what holds it or pick another port`) : err),
    );
    server.listen(port, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A fake that builds URLs to itself (media downloads) learns its origin once it is listening.
  if (typeof fake === 'function') handler = fake(origin);
  return {
    url: origin,
    handler: handler!,
    close: () => new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve()))),
  };
}
