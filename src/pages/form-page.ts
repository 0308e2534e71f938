/**
 * The hosted form page, `/pages/form/{token}`: where a `form` message leads on
 * channels without native forms (src/content/page-links.ts makes the signed
 * link). GET shows the form; POST checks the answers with the Web Messenger's
 * rules (src/content/form-validation.ts) and stores the same `formResponse`
 * the widget would, through the conversation's DO (`clientPost`, which quotes
 * the form and marks it submitted in one transaction, so a second POST or a
 * double click stores nothing). The author is the user the link was made for,
 * answering as the channel client the form was sent to.
 *
 * The token is the only credential: it is signed, names app, conversation,
 * message and user, and the DO is addressed by the app it names, so a link
 * reaches nothing but its own form. Every answer is a small HTML page, never
 * cached, under a CSP that allows no script and no external asset.
 */
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { conversationStub } from '../api/context';
import type { InboundClient } from '../../durable/conversation';
import type { LedgerClient } from '../../durable/channel-ledger';
import { maskContent } from '../content/card-numbers';
import { buildFormResponse, formResponseText, validateForm, type FormFieldSpec, type FormValues } from '../content/form-validation';
import { readPageToken, type PageRef } from '../content/page-links';
import { appPolicy, cachedPolicy } from '../db/app-policy';
import { StatusError, type Failure, type Result } from '../http/errors';
import { toBase64Url } from '../channels/signing';
import type { Message } from '../schema/message';
import { formPage, messagePage } from './form-html';

/** Far above 20 fields of 256 characters, url-encoded; anything larger is not this form's answer. */
const MAX_BODY_BYTES = 64 * 1024;

/** A page that stops the request: its status, title and text, and the v2 error code it stands for. */
class PageError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly heading: string,
    readonly text: string,
  ) {
    super(heading);
  }
}

const LINK_INVALID = new PageError(404, 'not_found', 'This link does not work', 'The link is incomplete or was changed. Open the form again from the message you received.');
const FORM_GONE = new PageError(404, 'message_not_found', 'This form is no longer available', 'The form was removed from the conversation, so it cannot be filled in any more.');
const CONVERSATION_GONE = new PageError(404, 'conversation_not_found', 'This form is no longer available', 'The conversation this form belongs to no longer exists.');
const NOT_YOURS = new PageError(403, 'forbidden', 'This form is no longer available to you', 'You are no longer part of the conversation this form was sent in.');
const NO_CHANNEL = new PageError(409, 'conflict', 'This form cannot be answered here', 'This form was not sent to you on a messaging channel, so its answers have nowhere to go. Please answer it where you received it.');
const NOT_A_FORM = new PageError(404, 'not_found', 'There is no form here', 'This link does not lead to a form.');
const ALREADY = new PageError(409, 'conflict', 'Already submitted', 'This form was already filled in and sent. Your answers were kept; nothing more is needed.');

/** The DO's refusal as a page a person understands. */
function fromFailure(f: Failure): PageError {
  if (f.code === 'conversation_not_found') return CONVERSATION_GONE;
  if (f.code === 'message_not_found') return FORM_GONE;
  if (f.status === 403) return NOT_YOURS;
  if (f.status === 409) return ALREADY;
  if (f.status === 423) return new PageError(423, f.code, 'The form cannot be sent now', 'This conversation is full. Please write to us on the channel you came from.');
  return new PageError(f.status, f.code, 'The form cannot be sent', f.title);
}

function newNonce(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
}

function html(nonce: string, body: string, status = 200): Response {
  return new Response(body, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
      // The token in the URL is the only credential: no page it leads to may learn it.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    },
  });
}

function errorPage(err: PageError): Response {
  const nonce = newNonce();
  return html(nonce, messagePage(nonce, err.heading, err.text, err === ALREADY ? { done: true } : { code: err.code }), err.status);
}

interface Loaded {
  ref: PageRef;
  fields: FormFieldSpec[];
  text?: string;
  submitted: boolean;
  client?: LedgerClient;
}

async function load(env: Env, token: string): Promise<Loaded> {
  const ref = await readPageToken(env, 'form', token);
  if (!ref) throw LINK_INVALID;
  let stub;
  try {
    stub = conversationStub(env, ref.appId, ref.conversationId);
  } catch (err) {
    if (err instanceof StatusError && err.status === 404) throw CONVERSATION_GONE;
    throw err;
  }
  // Results cross RPC as plain values (narrowing does not survive the RPC type wrapper, hence the cast).
  const found = (await stub.pageForm(ref.userId, ref.messageId)) as Result<{ form: Message; client?: LedgerClient }>;
  if (!found.ok) throw fromFailure(found);
  const { form, client } = found.value;
  if (form.content.type !== 'form') throw NOT_A_FORM;
  const content = form.content as Extract<Message['content'], { type: 'form' }> & { submitted?: boolean };
  return { ref, fields: content.fields as FormFieldSpec[], ...(content.text ? { text: content.text } : {}), submitted: content.submitted === true, ...(client ? { client } : {}) };
}

async function handle(work: () => Promise<Response>): Promise<Response> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PageError) return errorPage(err);
    console.error('form page failed', err instanceof Error ? err.message : String(err));
    return errorPage(new PageError(500, 'internal_error', 'Something went wrong', 'The form could not be loaded. Please try again in a moment.'));
  }
}

/** GET /pages/form/{token}: the form, or why it cannot be filled in. */
export function show(request: IRequest, env: Env): Promise<Response> {
  return handle(async () => {
    const loaded = await load(env, request.params.token!);
    if (loaded.submitted) throw ALREADY;
    const nonce = newNonce();
    return html(nonce, formPage(nonce, { ...(loaded.text ? { text: loaded.text } : {}), fields: loaded.fields, values: {}, errors: {} }));
  });
}

async function readValues(request: Request, fields: readonly FormFieldSpec[]): Promise<FormValues> {
  const type = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new PageError(415, 'unsupported_media_type', 'The form could not be read', 'Send the form from its page.');
  }
  const raw = await request.text();
  if (raw.length > MAX_BODY_BYTES) throw new PageError(413, 'payload_too_large', 'The answers are too long', 'Please shorten your answers and send the form again.');
  const params = new URLSearchParams(raw);
  return Object.fromEntries(fields.map((f) => [f.name, params.get(f.name) ?? '']));
}

/** The channel client the user answers as, in the shape the DO's inbound side takes (known there, so `view` is never announced). */
function asInbound(c: LedgerClient): InboundClient {
  return {
    id: c.id,
    integrationId: c.integrationId,
    type: c.type,
    externalId: c.externalId,
    userId: c.userId,
    raw: c.raw,
    view: { id: c.id, type: c.type, status: 'active', integrationId: c.integrationId, externalId: c.externalId },
  };
}

/** POST /pages/form/{token}: answers checked as the Web Messenger checks them, stored once as its formResponse. */
export function submit(request: IRequest, env: Env): Promise<Response> {
  return handle(async () => {
    const loaded = await load(env, request.params.token!);
    if (loaded.submitted) throw ALREADY;
    const values = await readValues(request, loaded.fields);
    const errors = validateForm(loaded.fields, values);
    if (Object.keys(errors).length > 0) {
      const nonce = newNonce();
      return html(nonce, formPage(nonce, { ...(loaded.text ? { text: loaded.text } : {}), fields: loaded.fields, values, errors }), 422);
    }
    // Without a client the form was never sent to this user on a channel, so there is no channel to answer on.
    if (!loaded.client) throw NO_CHANNEL;
    const { quotedMessageId: _, ...response } = buildFormResponse(loaded.fields, values);
    const content = { ...response, textFallback: formResponseText(response.fields) } as Message['content'];
    const { appId, conversationId, messageId } = loaded.ref;
    const { settings } = await cachedPolicy(env, appId);
    const stored: Result<Message> = await conversationStub(env, appId, conversationId).clientPost(asInbound(loaded.client), {
      content: settings.maskCreditCardNumbers ? maskContent(content) : content,
      quotedMessageId: messageId,
      policy: await appPolicy(env, appId),
      onPage: true,
    });
    if (!stored.ok) throw fromFailure(stored);
    const nonce = newNonce();
    return html(nonce, messagePage(nonce, 'Thank you', 'Your answers were sent. You can close this page and go back to the conversation.', { done: true }));
  });
}
