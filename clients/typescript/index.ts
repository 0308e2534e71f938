/**
 * Parley's typed TypeScript client: openapi-fetch over the types
 * openapi-typescript generated from Parley's OpenAPI document (schema.d.ts,
 * `npm run client:generate`). Every path, parameter, body and answer is
 * checked by the compiler; the runtime is openapi-fetch (a few kB over fetch).
 *
 *   const parley = createParleyClient('http://127.0.0.1:8787', { keyId, secret });
 *   const { data, error } = await parley.GET('/v2/apps/{appId}', { params: { path: { appId } } });
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, operations, paths } from './schema';
/** The named shapes: `Schemas['Message']`, `Schemas['Conversation']`, `Schemas['Error']`, … */
export type Schemas = components['schemas'];

/** An API key (Basic: its id and secret) or a bearer token (a JWT signed with a key, or an OAuth access token). */
export type ParleyAuth = { keyId: string; secret: string } | { token: string };

export type ParleyClient = Client<paths>;

export function createParleyClient(baseUrl: string, auth: ParleyAuth, init: { fetch?: (request: Request) => Promise<Response> } = {}): ParleyClient {
  const authorization = 'token' in auth ? `Bearer ${auth.token}` : `Basic ${btoa(`${auth.keyId}:${auth.secret}`)}`;
  return createClient<paths>({ baseUrl: baseUrl.replace(/\/+$/, ''), headers: { authorization }, ...init });
}

/** `KEY=<id>:<secret>` as `npm start` prints it, as a ParleyAuth. */
export function keyAuth(key: string): ParleyAuth {
  const at = key.indexOf(':');
  if (at < 1) throw new Error('KEY must be <key id>:<key secret>');
  return { keyId: key.slice(0, at), secret: key.slice(at + 1) };
}
