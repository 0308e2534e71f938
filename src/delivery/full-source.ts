/**
 * `includeFullSource` (contract §2.9): a webhook that asks for it gets, in
 * each `source` a user's message or activity came from, that user's `client`
 * on the source's integration and its `device` (a Web Messenger browser).
 * Read from D1 per batch, with one read per distinct user and integration,
 * only for webhooks that opted in: the message path itself pays nothing.
 */
import { latestDevice } from '../db/devices';
import { clientOn } from '../db/users';
import type { Env } from '../env';
import { sourceSlots, type WebhookEvent } from '../webhooks/events';

export async function expandSources(env: Env, appId: string, events: WebhookEvent[]): Promise<WebhookEvent[]> {
  const memo = new Map<string, Promise<{ client?: unknown; device?: unknown }>>();
  const lookup = (userId: string, integrationId: string) => {
    const key = `${userId}/${integrationId}`;
    let found = memo.get(key);
    if (!found) {
      found = clientOn(env, appId, userId, integrationId).then(async (client) => {
        if (!client) return {};
        const device = await latestDevice(env, appId, client.id);
        return { client, ...(device ? { device } : {}) };
      });
      memo.set(key, found);
    }
    return found;
  };
  return Promise.all(
    events.map(async (e) => {
      const slots = sourceSlots(e.payload);
      if (slots.every((s) => typeof s.source.integrationId !== 'string')) return e;
      const copy = structuredClone(e);
      for (const slot of sourceSlots(copy.payload)) {
        if (typeof slot.source.integrationId === 'string') Object.assign(slot.source, await lookup(slot.userId, slot.source.integrationId));
      }
      return copy;
    }),
  );
}
