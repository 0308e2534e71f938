/**
 * Errors as values with a status. Anything thrown with a StatusError is rendered
 * into the v2 error body `{"errors":[{"code","title"}]}` in exactly one place
 * (`errorResponse`); anything else is a platform fault and answers 500 without
 * leaking internals.
 */
export class StatusError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    title: string,
  ) {
    super(title);
    this.name = 'StatusError';
  }
}

export const badRequest = (title: string) => new StatusError(400, 'bad_request', title);
export const unauthorized = (title = 'Authorization is required') => new StatusError(401, 'unauthorized', title);
export const forbidden = (title = 'Forbidden') => new StatusError(403, 'forbidden', title);
export const notFound = (code: string, title: string) => new StatusError(404, code, title);
export const conflict = (title: string) => new StatusError(409, 'conflict', title);

/** A DO or helper result that carries an error across an RPC boundary, where custom Error fields are lost. */
export type Failure = { ok: false; status: number; code: string; title: string };
export type Result<T> = { ok: true; value: T } | Failure;

export const fail = (status: number, code: string, title: string): Failure => ({ ok: false, status, code, title });

export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new StatusError(result.status, result.code, result.title);
}

export function errorResponse(err: unknown): Response {
  if (err instanceof StatusError) {
    return Response.json({ errors: [{ code: err.code, title: err.message }] }, { status: err.status });
  }
  console.error('unhandled error', err instanceof Error ? (err.stack ?? err.message) : String(err));
  return Response.json(
    { errors: [{ code: 'internal_error', title: 'Internal error; retry the request, and report it if it persists' }] },
    { status: 500 },
  );
}
