/**
 * What goes over the wire to a customer's webhook target: the v2 envelope
 * `{app, webhook, events[]}` (or the legacy v1 payload, one trigger per POST),
 * and the headers: `X-API-Key` as Sunshine sends it, plus a Standard Webhooks
 * signature (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64
 * HMAC-SHA256 of "id.timestamp.body">`), signed with every currently valid
 * secret so a rotation never breaks verification.
 */
import type { WebhookEvent } from './events';
import { fromBase64, toBase64 } from '../channels/signing';

export interface EnvelopeTarget {
  id: string;
  version: 'v1' | 'v2';
}

export const v2Body = (appId: string, webhook: EnvelopeTarget, events: WebhookEvent[]) =>
  JSON.stringify({ app: { id: appId }, webhook: { id: webhook.id, version: webhook.version }, events });

/** A secret in Standard Webhooks form (`whsec_<base64>`) signs with its decoded bytes; any other with its UTF-8 bytes. */
function keyBytes(secret: string): Uint8Array {
  if (secret.startsWith('whsec_')) return fromBase64(secret.slice(6));
  return new TextEncoder().encode(secret);
}

export async function sign(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', keyBytes(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

export async function deliveryHeaders(secrets: string[], id: string, timestamp: number, body: string): Promise<Record<string, string>> {
  const signatures = await Promise.all(secrets.map((s) => sign(s, id, timestamp, body)));
  return {
    'content-type': 'application/json',
    'user-agent': 'Parley-Webhooks/1',
    'x-api-key': secrets[0]!,
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatures.join(' '),
  };
}

// ---- legacy v1 ------------------------------------------------------------

export interface V1User {
  id: string;
  externalId?: string;
  signedUpAt?: string;
  profile: { givenName?: string | null; surname?: string | null; email?: string | null; avatarUrl?: string | null };
  metadata: Record<string, unknown>;
  clients: { id: string; type: string; status: string; displayName: string | null; lastSeen: string | null; linkedAt: string | null; info: Record<string, unknown> | null; integrationId: string | null; externalId: string | null }[];
}

const V1_TRIGGERS: Record<string, (e: WebhookEvent) => string | undefined> = {
  'conversation:message': (e) => ((e.payload.message as { author: { type: string } }).author.type === 'user' ? 'message:appUser' : 'message:appMaker'),
  'conversation:create': () => 'conversation:start',
  'conversation:read': () => 'conversation:read',
  'conversation:typing': () => 'typing:appUser',
  'conversation:postback': () => 'postback',
  'conversation:referral': () => 'conversation:referral',
  'user:remove': () => 'appUser:delete',
  'user:merge': () => 'merge:appUser',
  'client:add': () => 'client:add',
  'client:remove': () => 'client:remove',
  'conversation:message:delivery:channel': () => 'message:delivery:channel',
  'conversation:message:delivery:user': () => 'message:delivery:user',
  'conversation:message:delivery:failure': () => 'message:delivery:failure',
  'conversation:payment': () => 'payment:success',
};

/** The v1 trigger for a v2 event, or undefined when v1 had no such trigger (the event is skipped for v1 webhooks). */
export const v1Trigger = (e: WebhookEvent) => V1_TRIGGERS[e.type]?.(e);

const epochSeconds = (iso: string) => Date.parse(iso) / 1000;

function v1Message(appId: string, m: Record<string, any>) {
  const c = m.content ?? {};
  return {
    _id: m.id,
    type: c.type,
    text: c.text,
    role: m.author.type === 'user' ? 'appUser' : 'appMaker',
    authorId: m.author.userId ?? appId,
    name: m.author.displayName,
    avatarUrl: m.author.avatarUrl,
    received: epochSeconds(m.received),
    ...(c.actions ? { actions: c.actions } : {}),
    ...(c.mediaUrl ? { mediaUrl: c.mediaUrl, mediaType: c.mediaType } : {}),
    ...(c.items ? { items: c.items } : {}),
    ...(c.coordinates ? { coordinates: c.coordinates, location: c.location } : {}),
    ...(m.metadata ? { metadata: m.metadata } : {}),
    source: { type: m.source?.type, ...(m.source?.integrationId ? { id: m.source.integrationId } : {}) },
  };
}

function v1AppUser(u: V1User) {
  return {
    _id: u.id,
    userId: u.externalId,
    givenName: u.profile.givenName ?? undefined,
    surname: u.profile.surname ?? undefined,
    email: u.profile.email ?? undefined,
    avatarUrl: u.profile.avatarUrl ?? undefined,
    signedUpAt: u.signedUpAt,
    properties: u.metadata,
    conversationStarted: true,
    clients: u.clients.map((c) => ({
      id: c.id,
      platform: c.type,
      active: c.status === 'active',
      status: c.status,
      displayName: c.displayName,
      lastSeen: c.lastSeen,
      linkedAt: c.linkedAt,
      info: c.info,
      integrationId: c.integrationId,
      externalId: c.externalId,
    })),
  };
}

/** The v1 payload for one event (the older format Sunshine's own documentation shows). */
export function v1Body(appId: string, e: WebhookEvent, trigger: string, user: V1User | undefined): string {
  const p = e.payload as Record<string, any>;
  return JSON.stringify({
    trigger,
    version: 'v1',
    app: { _id: appId, id: appId },
    ...(p.conversation ? { conversation: { _id: p.conversation.id } } : {}),
    ...(p.message?.author ? { messages: [v1Message(appId, p.message)] } : {}),
    ...(p.payment ? { payments: [{ source: { type: p.payment.provider }, message: { _id: p.message?.id }, action: p.action, charge: { id: p.payment.paymentIntentId ?? p.payment.checkoutSessionId } }] } : {}),
    ...(p.activity ? { source: p.activity.source, timestamp: epochSeconds(e.createdAt) } : {}),
    ...(user ? { appUser: v1AppUser(user) } : {}),
  });
}
