/**
 * The edge of every REST handler: read a JSON body within the contract's size
 * limit and parse it, or the query string, with a valibot schema. Failures
 * become 4xx StatusErrors naming the field, before anything reaches storage.
 */
import * as v from 'valibot';
import { describeIssue, LIMITS } from '../schema/common';
import { badRequest, StatusError } from './errors';

export async function readBody<S extends v.GenericSchema>(request: Request, schema: S): Promise<v.InferOutput<S>> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new StatusError(415, 'unsupported_media_type', `Content-Type must be application/json${type ? `, not ${type}` : ''}`);
  }
  const declared = Number(request.headers.get('content-length') ?? '0');
  if (declared > LIMITS.bodyBytes) throw tooLarge();
  const text = new TextDecoder().decode(await readBytes(request, LIMITS.bodyBytes));
  checkJsonDepth(text);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw badRequest(`Malformed JSON body: ${err instanceof Error ? err.message : 'cannot parse'}`);
  }
  return parseWith(schema, json);
}

/** Deeper than any v2 body or channel payload needs; a deeper value would overflow the stack on its way to a Durable Object. */
export const JSON_MAX_DEPTH = 64;

/**
 * Refuses JSON text nested deeper than JSON_MAX_DEPTH, by scanning brackets
 * outside strings before anything parses it.
 */
export function checkJsonDepth(text: string, max = JSON_MAX_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) throw badRequest(`Body nests deeper than ${max} levels`);
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
}

export function parseWith<S extends v.GenericSchema>(schema: S, input: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (result.success) return result.output;
  throw badRequest(describeIssue(result.issues[0]));
}

/** Query strings are parsed with their literal keys, e.g. `page[after]`; repeated keys keep the last value. */
export function readQuery<S extends v.GenericSchema>(request: Request, schema: S): v.InferOutput<S> {
  const params: Record<string, string> = {};
  for (const [key, value] of new URL(request.url).searchParams) params[key] = value;
  return parseWith(schema, params);
}

const tooLarge = (limit = LIMITS.bodyBytes) => new StatusError(413, 'payload_too_large', `Request body must be at most ${limit} bytes`);

/**
 * Reads a raw body (a request's, or a download's) but stops at the limit, so a
 * missing or lying Content-Length cannot make us buffer more.
 */
export async function readBytes(message: Request | Response, limit: number, refuse: () => Error = () => tooLarge(limit)): Promise<Uint8Array> {
  if (Number(message.headers.get('content-length') ?? '0') > limit) throw refuse();
  if (!message.body) return new Uint8Array();
  const reader = message.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw refuse();
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.byteLength;
  }
  return all;
}
