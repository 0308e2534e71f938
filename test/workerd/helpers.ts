/** Small helpers for calling Parley from tests inside workerd: auth headers and JSON requests. */
import { env, SELF } from 'cloudflare:test';

export const ACCOUNT = { id: env.ACCOUNT_KEY_ID!, secret: env.ACCOUNT_KEY_SECRET! };

export const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`;

export async function call(method: string, path: string, auth: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await SELF.fetch(`http://parley.test${path}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export const asAccount = basic(ACCOUNT.id, ACCOUNT.secret);

/** Creates an app with its own app key; returns the ids and an Authorization header for the key. */
export async function newApp(name = 'Test app') {
  const app = await call('POST', '/v2/apps', asAccount, { displayName: name });
  const key = await call('POST', `/v2/apps/${app.body.app.id}/keys`, asAccount, { displayName: 'test key' });
  return { appId: app.body.app.id as string, key: key.body.key as { id: string; secret: string }, auth: basic(key.body.key.id, key.body.key.secret) };
}
