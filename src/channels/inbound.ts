/**
 * `/hooks/{integrationId}`: the one public endpoint per channel integration.
 * GET answers the channel's handshake; POST reads the raw bytes (capped),
 * has the adapter verify them exactly as the channel signs and parse them
 * into normalized events, resolves each channel user to a Parley client and
 * personal conversation, and hands each user's events, in order, to that
 * conversation's DO, which dedupes and stores them. The channel gets its 2xx
 * only after the DO committed; media copies and channel follow-ups run after.
 */
import { appPolicy, cachedPolicy } from '../db/app-policy';
import { maskContent } from '../content/card-numbers';
import type { IRequest } from 'itty-router';
import type { Env } from '../env';
import { withTextFallback } from './text-fallback';
import { conversationStub } from '../api/context';
import { notFound, StatusError } from '../http/errors';
import { checkJsonDepth, readBytes } from '../http/request';
import { ID_PATTERN } from '../ids';
import type { ReceivedEvent } from '../../durable/conversation';
import type { Content } from '../schema/content';
import type { InboundEvent, InboundRequest } from './adapter';
import { ensureConversation, findIdentity, forgetIdentity, resolveIdentity, type ResolvedIdentity } from './identity';
import { channelContext } from './http';
import { mediaUrl, prefetchMedia } from './media';
import { channelIntegration, type ChannelIntegration } from './store';

/** Channel webhooks are small JSON or form bodies; media never comes inline. */
export const HOOK_BODY_MAX_BYTES = 1024 * 1024;

const noIntegration = () => notFound('integration_not_found', 'No channel integration at this URL');

async function integrationFor(request: IRequest, env: Env): Promise<ChannelIntegration> {
  const id = request.params.integrationId!;
  if (!ID_PATTERN.test(id)) throw noIntegration();
  const integration = await channelIntegration(env, id);
  if (!integration) throw noIntegration();
  return integration;
}

const NONCE_TTL_MS = 24 * 3_600_000;

/** Records the nonce with its digest; false when it was recorded before with another digest. One D1 write, only for such channels. */
async function firstUseOrSame(env: Env, integrationId: string, guard: { nonce: string; digest: string }, now: number): Promise<boolean> {
  const [inserted] = await env.DB.batch([
    env.DB.prepare('INSERT INTO inbound_nonces (integration_id, nonce, digest, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').bind(integrationId, guard.nonce, guard.digest, now),
    env.DB.prepare('DELETE FROM inbound_nonces WHERE (integration_id, nonce) IN (SELECT integration_id, nonce FROM inbound_nonces WHERE at < ? LIMIT 20)').bind(now - NONCE_TTL_MS),
  ]);
  if (inserted!.meta.changes > 0) return true;
  const seen = await env.DB.prepare('SELECT digest FROM inbound_nonces WHERE integration_id = ? AND nonce = ?').bind(integrationId, guard.nonce).first<{ digest: string }>();
  return seen?.digest === guard.digest;
}

export async function handshake(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const integration = await integrationFor(request, env);
  if (integration.adapter.receivesGet) return receive(request, env, ctx);
  if (!integration.adapter.handshake) throw new StatusError(405, 'method_not_allowed', `${integration.type} webhooks are POSTed; this channel has no GET handshake`);
  return integration.adapter.handshake(new URL(request.url), integration.config);
}

export async function receive(request: IRequest, env: Env, ctx: ExecutionContext): Promise<Response> {
  const integration = await integrationFor(request, env);
  const { adapter, config } = integration;
  const inbound: InboundRequest = { method: request.method, url: request.url, headers: request.headers, raw: await readBytes(request, adapter.maxBodyBytes ?? HOOK_BODY_MAX_BYTES), now: Date.now() };
  const verdict = await adapter.verify(inbound, config);
  if (!verdict.ok) throw new StatusError(verdict.status, verdict.status === 401 ? 'unauthorized' : 'forbidden', verdict.reason);
  const guard = await adapter.replayGuard?.(inbound);
  if (guard && !(await firstUseOrSame(env, integration.id, guard, inbound.now))) {
    throw new StatusError(403, 'forbidden', 'This signed request was already used with different content (a replay)');
  }
  // Even a correctly signed payload may not nest without bound: its user profile travels to the DO as the client's raw.
  // A gzip body (Apple may send one, with or without a header saying so) is checked by its adapter once inflated.
  const gzip = inbound.raw[0] === 0x1f && inbound.raw[1] === 0x8b;
  if (/json/i.test(request.headers.get('content-type') ?? '') && !gzip) checkJsonDepth(new TextDecoder().decode(inbound.raw));
  const events = adapter.parse(inbound, config);

  // Events of one user stay in channel order; different users are independent and go in parallel.
  const byUser = new Map<string, InboundEvent[]>();
  for (const e of events) byUser.set(e.user.externalId, [...(byUser.get(e.user.externalId) ?? []), e]);
  const media: string[] = [];
  await Promise.all([...byUser.values()].map((list) => deliverToConversation(env, integration, list, media)));

  for (const url of media) ctx.waitUntil(prefetchMedia(env, integration, url));
  if (adapter.afterInbound) {
    ctx.waitUntil(
      adapter.afterInbound(channelContext(env, adapter, config, integration.webhookUrl), inbound).catch((err: unknown) => {
        console.error(`${integration.type} follow-up failed`, err instanceof Error ? err.message : String(err));
      }),
    );
  }
  return adapter.acknowledge?.() ?? Response.json({});
}

async function deliverToConversation(env: Env, integration: ChannelIntegration, events: InboundEvent[], media: string[]): Promise<void> {
  const user = events[0]!.user;
  // Receipts alone never create a user: a status for someone Parley does not know is dropped.
  const onlyReceipts = events.every((e) => e.kind === 'delivery');
  let identity: ResolvedIdentity | undefined = onlyReceipts ? await findIdentity(env, integration, user.externalId) : await resolveIdentity(env, integration, user);
  if (!identity) return;
  // Built for the identity they are stored under: authors and media URLs name its user.
  const { settings } = await cachedPolicy(env, integration.appId);
  const build = async (id: ResolvedIdentity, urls: string[]) =>
    // An event with nothing to store (a blank text) is skipped, not refused: refusing would make the channel redeliver it forever.
    (await Promise.all(events.map((e) => toReceived(env, integration, id, e, urls))))
      .filter((e): e is ReceivedEvent => e !== undefined)
      .map((e) => (e.kind === 'message' && settings.maskCreditCardNumbers ? { ...e, content: maskContent(e.content) } : e));
  let urls: string[] = [];
  let received = await build(identity, urls);
  if (received.length === 0) return;
  let result = await conversationStub(env, integration.appId, identity.conversationId).receive(identity.client, received, await appPolicy(env, integration.appId));
  if (!result.ok && result.status === 404) {
    // The conversation is gone (user deleted: start over as a new user) or was never opened (crash after the D1 write).
    forgetIdentity(integration.id, user.externalId);
    identity = onlyReceipts ? await findIdentity(env, integration, user.externalId) : await resolveIdentity(env, integration, user);
    if (!identity) return;
    await ensureConversation(env, integration, identity);
    urls = [];
    received = await build(identity, urls);
    result = await conversationStub(env, integration.appId, identity.conversationId).receive(identity.client, received, await appPolicy(env, integration.appId));
  }
  if (!result.ok) throw new StatusError(result.status, result.code, result.title);
  media.push(...urls);
  // A linked client waiting for its user (createClient) is confirmed by this activity: D1 says so too, once.
  if (identity.client.view.status === 'pending' && received.some((e) => e.kind === 'message' || e.kind === 'postback' || e.kind === 'referral')) {
    await env.DB.prepare("UPDATE clients SET status = 'active' WHERE app_id = ? AND id = ? AND status = 'pending'").bind(integration.appId, identity.client.id).run();
    forgetIdentity(integration.id, identity.client.externalId);
  }
}

async function toReceived(env: Env, integration: ChannelIntegration, identity: ResolvedIdentity, e: InboundEvent, media: string[]): Promise<ReceivedEvent | undefined> {
  const key = (kind: string, id: string) => `${integration.id}:${kind}:${id}`;
  // A channel time outside what a Date can hold is dropped rather than trusted (the receipt time stands).
  const at = e.timestamp !== undefined && Number.isFinite(e.timestamp) && Math.abs(e.timestamp) <= 8.64e15 ? e.timestamp : undefined;
  switch (e.kind) {
    case 'message': {
      const content = await storedContent(env, integration, identity.client.userId, e.content, media);
      if (!content) return undefined;
      // A channel that names the user only by id (it has a profile hook: Messenger, Instagram) still gets an author name: the client's profile.
      const known = integration.adapter.profile ? identity.client.view : {};
      const displayName = e.user.displayName ?? (typeof known.displayName === 'string' ? known.displayName : undefined);
      const avatarUrl = e.user.avatarUrl ?? (typeof known.avatarUrl === 'string' ? known.avatarUrl : undefined);
      return {
        kind: 'message',
        dedupeKey: key('m', e.channelMessageId),
        author: {
          type: 'user',
          userId: identity.client.userId,
          ...(displayName ? { displayName: displayName.slice(0, 100) } : {}),
          ...(avatarUrl ? { avatarUrl } : {}),
        },
        content,
        source: {
          type: integration.type,
          integrationId: integration.id,
          originalMessageId: e.channelMessageId,
          ...(at !== undefined ? { originalMessageTimestamp: new Date(at).toISOString() } : {}),
        },
        ...(e.quotedChannelMessageId ? { quotedChannelMessageId: e.quotedChannelMessageId } : {}),
      };
    }
    case 'postback':
      return {
        kind: 'postback',
        dedupeKey: key('p', e.channelMessageId),
        ...(e.payload !== undefined ? { payload: e.payload } : {}),
        ...(e.choice !== undefined ? { choice: e.choice } : {}),
        ...(e.text !== undefined ? { text: e.text } : {}),
      };
    case 'referral':
      return {
        kind: 'referral',
        dedupeKey: key('r', e.channelMessageId),
        ref: e.ref,
        ...(e.source ? { referralSource: e.source } : {}),
        ...(e.referralType ? { referralType: e.referralType } : {}),
      };
    case 'read':
      return { kind: 'read', ...(e.channelMessageId ? { channelMessageId: e.channelMessageId } : {}), ...(e.watermark !== undefined ? { watermark: e.watermark } : {}) };
    case 'typing':
      return { kind: 'typing', state: e.state };
    case 'delivery':
      return {
        kind: 'delivery',
        status: e.status,
        ...(e.channelMessageId ? { channelMessageId: e.channelMessageId } : {}),
        ...(e.watermark !== undefined ? { watermark: e.watermark } : {}),
        ...(e.error ? { error: e.error } : {}),
      };
  }
}

/** The v2 content a channel message is stored as; media gets a Parley URL and is copied to R2 after the ack. */
async function storedContent(
  env: Env,
  integration: ChannelIntegration,
  userId: string,
  c: Extract<InboundEvent, { kind: 'message' }>['content'],
  media: string[],
): Promise<(Content & { text?: string }) | undefined> {
  switch (c.type) {
    case 'text':
      if (!c.text.trim() && !c.payload) return undefined;
      return { type: 'text', text: c.text, ...(c.payload ? { payload: c.payload } : {}) };
    case 'media': {
      const url = await mediaUrl(env, integration, c.media, userId);
      media.push(url);
      const details = {
        ...(c.text ? { text: c.text } : {}),
        ...(c.media.fileName ? { altText: c.media.fileName.slice(0, 128) } : {}),
        ...(c.media.mimeType ? { mediaType: c.media.mimeType } : {}),
        ...(c.media.size !== undefined ? { mediaSize: c.media.size } : {}),
      };
      return (c.media.kind === 'image' ? { type: 'image', mediaUrl: url, ...details } : { type: 'file', mediaUrl: url, ...details }) as Content;
    }
    case 'location':
      return withTextFallback({
        type: 'location',
        coordinates: { lat: c.lat, long: c.long },
        ...(c.name || c.address ? { location: { ...(c.name ? { name: c.name } : {}), ...(c.address ? { address: c.address } : {}) } } : {}),
      });
  }
}
