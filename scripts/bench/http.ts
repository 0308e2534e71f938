/**
 * The bench's HTTP on loopback: a keep-alive client cheap enough that the
 * load generator, which shares the machine with workerd, spends little CPU
 * per request; requests built ahead of time (the fakes' signed webhooks), so
 * signing is not inside the measured time; and the clock every timestamp uses.
 */
import { Agent, request as httpRequest } from 'node:http';

/** Milliseconds on one monotonic clock for the whole process: sends, answers and receipts compare directly. */
export const now = () => performance.now();

export interface Prepared {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
}

export interface Answer {
  status: number;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

export function send(req: Prepared): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers, ...(req.body ? { 'content-length': String(req.body.byteLength) } : {}) };
    const r = httpRequest(req.url, { method: req.method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(req.body);
  });
}

/** A fetch Request (what the fakes build) as bytes ready to send. */
export async function prepare(request: Request): Promise<Prepared> {
  const headers: Record<string, string> = {};
  request.headers.forEach((value, name) => (headers[name] = value));
  const body = request.method === 'GET' ? undefined : Buffer.from(await request.arrayBuffer());
  return { method: request.method, url: request.url, headers, ...(body ? { body } : {}) };
}

export function json(method: string, url: string, auth: string, body?: unknown): Prepared {
  return {
    method,
    url,
    headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: Buffer.from(JSON.stringify(body)) } : {}),
  };
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A REST client for setup and checks, outside any measured time. */
export class Api {
  constructor(
    readonly base: string,
    private auth: string,
  ) {}

  as(auth: string): Api {
    return new Api(this.base, auth);
  }

  async call(method: string, path: string, body?: unknown, expected = [200, 201]): Promise<any> {
    const answer = await send(json(method, `${this.base}${path}`, this.auth, body));
    const parsed = answer.body ? JSON.parse(answer.body) : undefined;
    if (!expected.includes(answer.status)) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    return parsed;
  }
}

export function closeConnections(): void {
  agent.destroy();
}
