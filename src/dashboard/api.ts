/**
 * The dashboard's only way to Parley: same-origin calls to the v2 REST API
 * with HTTP Basic. The credentials live in this closure and nowhere else (no
 * storage, no cookie), so reloading the tab or signing out forgets them.
 */
export interface Credentials {
  appId: string;
  keyId: string;
  secret: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
  /** A route this Parley doesn't have (an older deployment): the panel says "not available". */
  get missingRoute(): boolean {
    return this.status === 404 && this.code === 'not_found' && /^No route/.test(this.message);
  }
}

export type Params = Record<string, string | undefined>;

export interface Api {
  readonly appId: string;
  json<T>(path: string, params?: Params): Promise<T>;
  /** The raw response (for exports), checked for errors first. */
  raw(pathOrUrl: string, params?: Params): Promise<Response>;
}

function basic(keyId: string, secret: string): string {
  // btoa takes Latin-1 only; go through UTF-8 so any character in a secret survives.
  const bytes = new TextEncoder().encode(`${keyId}:${secret}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

export function createApi(creds: Credentials): Api {
  const auth = basic(creds.keyId, creds.secret);
  const base = `/v2/apps/${encodeURIComponent(creds.appId)}`;

  async function raw(pathOrUrl: string, params: Params = {}): Promise<Response> {
    // App-relative paths ('/stats') or a full link the server gave (an export's `Link: rel="next"`).
    const url = new URL(/^(https?:\/\/|\/v2\/)/.test(pathOrUrl) ? pathOrUrl : base + pathOrUrl, location.origin);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    // Same origin only: a Link header pointing elsewhere never gets the key.
    if (url.origin !== location.origin) throw new ApiError(0, 'bad_link', 'The server pointed to another site; refusing to send the key there');
    let res: Response;
    try {
      res = await fetch(url, { headers: { authorization: auth, accept: 'application/json' }, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' });
    } catch {
      throw new ApiError(0, 'network', 'Parley could not be reached; check the connection and try again');
    }
    if (!res.ok) {
      let code = 'error';
      let title = `Parley answered ${res.status}`;
      try {
        const body = (await res.json()) as { errors?: { code?: string; title?: string }[] };
        code = body.errors?.[0]?.code ?? code;
        title = body.errors?.[0]?.title ?? title;
      } catch {
        /* not a v2 error body */
      }
      throw new ApiError(res.status, code, title);
    }
    return res;
  }

  return {
    appId: creds.appId,
    raw,
    async json<T>(path: string, params?: Params): Promise<T> {
      return (await (await raw(path, params)).json()) as T;
    },
  };
}

/** What a person should read for a failed call. */
export function explain(err: unknown): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err);
  if (err.status === 401) return 'Sign-in failed: the key id or secret is wrong.';
  if (err.status === 403) return `Not allowed with this key: ${err.message}.`;
  if (err.status === 404 && err.code === 'app_not_found') return 'There is no app with this id.';
  if (err.missingRoute) return 'Not available on this Parley.';
  return `${err.message} (${err.status || err.code})`;
}
