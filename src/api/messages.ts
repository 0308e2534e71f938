/**
 * `/v2/apps/{appId}/conversations/{id}/messages` and `/activity`: post, list,
 * delete one, delete all, and activities. Validation happens here; ordering,
 * limits and storage happen in the ConversationDO.
 */
import { deleteConversationUploads } from './attachments';
import { appPolicy, cachedPolicy } from '../db/app-policy';
import { maskContent } from '../content/card-numbers';
import { expandShorthand, MAX_MESSAGES_PER_POST, templateNames, type Expanded } from '../content/shorthand';
import { templatesByName } from '../db/message-templates';
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { adapterFor } from '../channels/registry';
import { withTextFallback } from '../channels/text-fallback';
import { withTemplateText } from '../channels/whatsapp-templates';
import { badRequest, unwrap } from '../http/errors';
import { pageEnvelope } from '../http/links';
import { parseWith, readBody, readQuery } from '../http/request';
import { content as contentSchema, type Content } from '../schema/content';
import { activityBody } from '../schema/conversation';
import { messageListQuery, messagePostBody, type StoredAuthor } from '../schema/message';
import { appContext, conversationStub, json } from './context';
import { resolveParticipant } from './conversations';

const MESSAGE_PAGE_SIZE = 100;

/**
 * The messages one post stands for, all checked before any is stored: its
 * shorthand expanded, with the stored templates a business text names read in
 * one query (none when it names none, so ordinary sends cost no D1 read).
 */
async function messagesOf(env: Env, appId: string, content: Content, business: boolean): Promise<Expanded[]> {
  if (content.type !== 'text') return [{ content }];
  const field = content.text !== undefined ? 'text' : 'markdownText';
  const names = business ? templateNames(content) : [];
  if (names.length > MAX_MESSAGES_PER_POST) throw badRequest(`content.${field}: names ${names.length} templates; one post may make at most ${MAX_MESSAGES_PER_POST} messages`);
  const templates = await templatesByName(env, appId, names);
  const missing = names.find((name) => !templates.has(name));
  if (missing !== undefined) throw badRequest(`content.${field}: no template named "${missing}" in this app; create it with POST /v2/apps/${appId}/templates`);
  const parts = expandShorthand(content, templates);
  if (!parts) return [{ content }];
  if (parts.length > MAX_MESSAGES_PER_POST) throw badRequest(`content.${field}: makes ${parts.length} messages; one post may make at most ${MAX_MESSAGES_PER_POST}`);
  return parts.map((p) => ({ ...p, content: parseWith(contentSchema, p.content) }));
}

export async function post(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, messagePostBody);
  for (const [type, { payload }] of Object.entries(body.override ?? {})) {
    const refused = payload === undefined ? undefined : adapterFor(type)?.checkNative(payload);
    if (refused) throw badRequest(refused);
  }
  const stub = conversationStub(env, appId, request.params.conversationId!);
  let author: StoredAuthor;
  if (body.author.type === 'user') {
    const user = await resolveParticipant(env, appId, body.author, 'author');
    const { userExternalId: _written, ...rest } = body.author;
    author = { ...rest, userId: user.id };
  } else {
    author = body.author;
  }
  // Only business messages go out to a channel; the DO checks the conversation has a client for the destination.
  if (body.destination && author.type !== 'business') throw badRequest('destination: only business messages have a destination');
  // Shorthand may make several messages of one (text before an image, a template): each stored in order, all answered.
  const parts = await messagesOf(env, appId, body.content, author.type === 'business');
  const mask = (await cachedPolicy(env, appId)).settings.maskCreditCardNumbers;
  const policy = author.type === 'user' ? await appPolicy(env, appId) : undefined;
  const inputs = [];
  for (const part of parts) {
    // A template's stored text is what the user saw, rebuilt from the approved template when its integration can look it up.
    const { content, override } = await withTemplateText(
      env,
      { appId, business: author.type === 'business', destination: body.destination, conversation: stub },
      withTextFallback(part.content) as Content,
      part.whatsappTemplate ? { ...body.override, whatsapp: { ...body.override?.whatsapp, payload: part.whatsappTemplate } } : body.override,
    );
    inputs.push({
      author,
      content: mask ? maskContent(content) : content,
      source: { type: 'api:conversations' },
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(body.destination ? { destination: body.destination } : {}),
      ...(override ? { override } : {}),
      ...(policy ? { policy } : {}),
    });
  }
  // One call: the post's messages get consecutive seqs and are stored all or none.
  const messages = unwrap(await stub.postMessages(inputs));
  return json({ messages }, 201);
}

export async function list(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const query = readQuery(request, messageListQuery);
  const page = unwrap(
    await conversationStub(env, appId, request.params.conversationId!).listMessages({
      before: query['page[before]'],
      after: query['page[after]'],
      size: query['page[size]'] ?? MESSAGE_PAGE_SIZE,
    }),
  );
  const { messages, ...meta } = page;
  return json({ messages, ...pageEnvelope(request, meta) });
}

export async function remove(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  unwrap(await conversationStub(env, appId, request.params.conversationId!).deleteMessage(request.params.messageId!));
  return json({});
}

export async function removeAll(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  unwrap(await conversationStub(env, appId, request.params.conversationId!).deleteAllMessages());
  await deleteConversationUploads(env, appId, [request.params.conversationId!]);
  return json({});
}

export async function activity(request: IRequest, env: Env) {
  const { appId } = await appContext(request, env);
  const body = await readBody(request, activityBody);
  const stub = conversationStub(env, appId, request.params.conversationId!);
  if (body.author.type === 'user') {
    const user = await resolveParticipant(env, appId, body.author, 'author');
    unwrap(await stub.activity({ type: 'conversation:read', author: { type: 'user', userId: user.id } }));
  } else {
    unwrap(await stub.activity({ type: body.type, author: body.author }));
  }
  return json({});
}
