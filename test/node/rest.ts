/**
 * Plain REST calls to a local Parley from the Node suites, for tests that
 * want the raw status and body rather than the official client's models.
 */
export const basicAuth = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** A JSON call; the body comes back parsed (undefined when empty). */
export async function rest(base: string, method: string, path: string, auth: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A new app and an app key for it (Basic, and the key's id and secret for tools that take them), made with the account key. */
export async function appWithKey(base: string, account: string, displayName: string): Promise<{ appId: string; auth: string; keyId: string; keySecret: string }> {
  const app = await rest(base, 'POST', '/v2/apps', account, { displayName });
  if (app.status !== 201) throw new Error(`creating an app answered ${app.status}: ${JSON.stringify(app.body)}`);
  const key = await rest(base, 'POST', `/v2/apps/${app.body.app.id}/keys`, account, { displayName: 'suite' });
  if (key.status !== 201) throw new Error(`creating a key answered ${key.status}: ${JSON.stringify(key.body)}`);
  return { appId: app.body.app.id, auth: basicAuth(key.body.key.id, key.body.key.secret), keyId: key.body.key.id, keySecret: key.body.key.secret };
}
