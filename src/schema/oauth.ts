/**
 * Parley as an OAuth 2.0 provider: the body that registers a partner client
 * (`POST /v2/oauth/clients`, an extension for the account key), the parameters
 * of `/oauth/authorize` and of its consent form, and the token request, which
 * arrives as a form or as JSON. Redirect and remove URLs are judged by the
 * webhook target rules (src/http/targets.ts), which depend on whether Parley
 * runs locally, so the client body comes in two prebuilt sets.
 */
import * as v from 'valibot';
import { checkTarget } from '../http/targets';
import { boundedString, uri } from './common';

export const OAUTH_LIMITS = {
  /** Partner clients are registered by the operator, one per partner: a hundred is plenty and keeps the list one page. */
  clients: 100,
  redirectUrisPerClient: 10,
  stateChars: 1024,
  /** How long an authorization code can be exchanged (RFC 6749 §4.1.2 recommends at most 10 minutes). */
  codeTtlMs: 10 * 60 * 1000,
} as const;

/** Client ids are the OAuth integration's `type` too, so the prefix keeps them apart from every built-in type. */
export const CLIENT_ID = /^oauth_[0-9a-f]{24}$/;

function clientBodies(local: boolean) {
  const target = v.pipe(
    uri(),
    v.check(
      (url) => checkTarget(url, local) === undefined,
      (issue) => checkTarget(String(issue.input), local) ?? 'is not an allowed URL',
    ),
  );
  // RFC 6749 §3.1.2: a redirection endpoint is an absolute URI without a fragment.
  const redirectUri = v.pipe(target, v.check((url) => !url.includes('#'), 'must not contain a fragment (#)'));
  const create = v.object({
    name: boundedString(1, 100),
    redirectUris: v.pipe(
      v.array(redirectUri, 'must be an array of URIs'),
      v.minLength(1, 'must hold at least one URI'),
      v.maxLength(OAUTH_LIMITS.redirectUrisPerClient, `must hold at most ${OAUTH_LIMITS.redirectUrisPerClient} URIs`),
      v.check((list) => new Set(list).size === list.length, 'must not list a URI twice'),
    ),
    removeUrl: v.optional(target),
  });
  return { create };
}

const LOCAL = clientBodies(true);
const HOSTED = clientBodies(false);

/** The client body whose URLs are judged for a local or a hosted Parley. */
export const clientCreateBody = (local: boolean) => (local ? LOCAL : HOSTED).create;
export type ClientCreate = v.InferOutput<typeof HOSTED.create>;

/** A registered client as the API shows it; the secret only ever at creation. */
export interface OAuthClient {
  id: string;
  name: string;
  redirectUris: string[];
  removeUrl?: string;
}

const param = v.optional(v.pipe(v.string('must be a string'), v.maxLength(2048, 'must be at most 2048 characters long')));

/**
 * `/oauth/authorize`: unknown parameters are ignored (RFC 6749 §3.1); which of
 * the known ones is missing or wrong is judged by the handler, in the order
 * that decides between an error page and a redirect.
 */
export const authorizeParams = v.looseObject({
  response_type: param,
  client_id: param,
  redirect_uri: param,
  state: v.optional(v.pipe(v.string('must be a string'), v.maxLength(OAUTH_LIMITS.stateChars, `must be at most ${OAUTH_LIMITS.stateChars} characters long`))),
});
export type AuthorizeParams = v.InferOutput<typeof authorizeParams>;

/** The consent form posts the request back with the owner's decision and, to approve, an app key. */
export const consentForm = v.looseObject({
  ...authorizeParams.entries,
  decision: v.optional(v.picklist(['approve', 'deny'], 'must be approve or deny')),
  key_id: param,
  key_secret: param,
});
export type ConsentForm = v.InferOutput<typeof consentForm>;

/** `POST /oauth/token` (RFC 6749 §4.1.3); the official client sends it as JSON, RFC clients as a form. */
export const tokenRequest = v.looseObject({
  grant_type: param,
  code: param,
  client_id: param,
  client_secret: param,
  redirect_uri: param,
});
export type TokenRequest = v.InferOutput<typeof tokenRequest>;
