/**
 * The `web` integration as the browser routes need it: found by id (cached
 * per isolate for a short while, so a page load costs no D1 read), and the
 * origin policy its `originWhitelist` sets. The whitelist keeps other sites
 * from embedding a customer's widget; it is not authentication (a session
 * token is), so requests without an Origin (servers, curl) pass it.
 */
import { appTag, integrationTag, TtlCache } from '../db/ttl-cache';
import type { Env } from '../env';
import { notFound, StatusError } from '../http/errors';
import { ID_PATTERN } from '../ids';
import type { WebSettings } from '../schema/web';

export interface WebIntegration {
  id: string;
  appId: string;
  status: string;
  displayName: string | null;
  settings: WebSettings;
}

const CACHE_MS = 30_000;
const cache = new TtlCache<WebIntegration | undefined>({ ttlMs: CACHE_MS, missMs: CACHE_MS, tags: (i) => [appTag(i.appId), integrationTag(i.id)] });

/** The app's web integration with this id; 404 otherwise (another app's, another type, unknown). */
export async function requireWebIntegration(env: Env, appId: string, integrationId: string): Promise<WebIntegration> {
  const integration = ID_PATTERN.test(integrationId) ? await cached(env, integrationId) : undefined;
  if (!integration || integration.appId !== appId) throw notFound('integration_not_found', 'No web integration with this id in this app');
  return integration;
}

/** Drops the cached copy after an update made in this isolate (a deletion forgets it everywhere here); other isolates see it within 30 s. */
export function forgetWebIntegration(integrationId: string): void {
  cache.delete(integrationId);
}

function cached(env: Env, integrationId: string): Promise<WebIntegration | undefined> {
  return cache.read(integrationId, () =>
    env.DB.prepare("SELECT id, app_id, status, display_name, config FROM integrations WHERE id = ? AND type = 'web'")
      .bind(integrationId)
      .first<{ id: string; app_id: string; status: string; display_name: string | null; config: string }>()
      .then((row) => (row ? { id: row.id, appId: row.app_id, status: row.status, displayName: row.display_name, settings: JSON.parse(row.config) as WebSettings } : undefined)),
  );
}

/** Refuses a browser on a site the integration does not list; an empty or absent list allows every site. */
export function checkOrigin(request: Request, integration: WebIntegration): void {
  const origin = request.headers.get('origin');
  const allowed = integration.settings.originWhitelist ?? [];
  if (!origin || allowed.length === 0 || allowed.includes(origin)) return;
  throw new OriginRefused(origin);
}

/** A refusal the browser must not be allowed to read: it carries no CORS headers. */
export class OriginRefused extends StatusError {
  constructor(origin: string) {
    super(403, 'forbidden', `Origin ${origin} is not allowed for this web integration; add it to the integration's originWhitelist`);
  }
}

/**
 * CORS for the browser routes. Preflights are answered for any origin: they
 * only let the browser ask, and the request itself is then checked against
 * the integration's whitelist (which needs the session or the body to know
 * the integration) and refused without CORS headers.
 */
export function withCors(request: Request, response: Response, refused: boolean): Response {
  const origin = request.headers.get('origin');
  if (!origin || refused || response.status === 101) return response;
  const headers = new Headers(response.headers);
  headers.set('access-control-allow-origin', origin);
  headers.append('vary', 'Origin');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

export function preflight(request: Request): Response {
  return new Response(null, {
    status: 204,
    headers: {
      'access-control-allow-origin': request.headers.get('origin') ?? '*',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '600',
      vary: 'Origin',
    },
  });
}

/**
 * Counts a browser's request against a rate limit, keyed by its IP (which
 * Cloudflare sets) and the integration; 429 past it. Requests without the
 * header (Parley's own tests, server-side callers on a private network) are
 * not limited.
 */
export async function limitVisitor(request: Request, limiter: RateLimit | undefined, integrationId: string): Promise<void> {
  const ip = request.headers.get('cf-connecting-ip');
  if (!limiter || !ip) return;
  const { success } = await limiter.limit({ key: `${integrationId}:${ip}` });
  if (!success) throw new StatusError(429, 'too_many_requests', 'Too many requests from this address; wait a minute and retry');
}
