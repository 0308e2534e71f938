/**
 * How a route is described for the OpenAPI document: a small record per
 * operation, written next to its neighbours in src/openapi/routes-*.ts and
 * turned into an OpenAPI operation by document.ts. Bodies, queries and
 * answers are valibot schemas (src/schema/), never JSON written by hand;
 * only answers that are not JSON (HTML pages, scripts, files, streams) name a
 * media type instead.
 */
import type { Schema } from './convert';

export type Method = 'get' | 'post' | 'patch' | 'delete' | 'put' | 'options';

/**
 * Who may call: `api` = an account, app or integration key (Basic or JWT) or
 * an OAuth access token; `account` = the account key only; `session` = a Web
 * Messenger session token; `none` = public (channels and browsers prove
 * themselves otherwise: signatures, signed tokens in the URL, CORS).
 */
export type Auth = 'api' | 'account' | 'session' | 'none';

export interface Answer {
  status: number;
  description: string;
  /** A JSON body. */
  schema?: Schema;
  /** A body that is not JSON: its media type (`text/html`, `application/x-ndjson`, `*\/*`). */
  media?: string;
}

export interface Route {
  method: Method;
  /** OpenAPI path template: `/v2/apps/{appId}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  auth: Auth;
  query?: Schema | Schema[];
  /** A JSON request body, or several media types each with a schema (forms, multipart). */
  body?: Schema | { media: Record<string, Schema | undefined>; required?: boolean };
  /** The success answer; errors are added from `errors`. */
  ok: Answer;
  /** Extra non-error answers (304, 302 redirects, 202). */
  more?: Answer[];
  /** Error statuses besides the ones every authenticated route has (400, 401, 403, 404 are added by auth). */
  errors?: number[];
  /** A Parley addition to the Sunshine Conversations v2 contract. */
  extension?: boolean;
  /** Extra request headers (Idempotency-Key, Stripe-Signature). */
  headers?: { name: string; description: string; required?: boolean }[];
  deprecated?: boolean;
}

/** Marks every route of a list as a Parley extension. */
export const extensions = (routes: Route[]): Route[] => routes.map((r) => ({ ...r, extension: true }));

export const html = (description: string, status = 200): Answer => ({ status, description, media: 'text/html' });
export const json = (schema: Schema, description: string, status = 200): Answer => ({ status, description, schema });
