/**
 * First-contact profiles. Some channels name a user in their webhooks by an
 * id alone (Messenger's PSID, Instagram's IGSID) and keep the name and the
 * picture behind a lookup; the identity resolver asks the adapter's
 * `profile` hook once, when it is about to create the client, so the user
 * and the client start with a name. Best effort by design: the lookup is
 * bounded by PROFILE_TIMEOUT_MS whatever the adapter does, and a failure or
 * a timeout leaves the profile empty rather than delay or lose the message.
 * Answers are cached per isolate, so concurrent first webhooks of one person
 * (and the pipeline's retry after a vanished conversation) share one call.
 */
import type { Env } from '../env';
import { integrationTag, appTag, TtlCache } from '../db/ttl-cache';
import { PROFILE_TIMEOUT_MS, type ChannelUser } from './adapter';
import { channelContext } from './http';
import type { ChannelIntegration } from './store';

type Profile = Omit<ChannelUser, 'externalId'>;

const PROFILE_CACHE_MS = 10 * 60_000;
/** A failed lookup is not retried for a minute: a burst of first webhooks must not hammer a failing Graph. */
const FAILED_LOOKUP_MS = 60_000;
const cache = new TtlCache<{ appId: string; integrationId: string; profile: Profile } | null>({
  ttlMs: PROFILE_CACHE_MS,
  missMs: FAILED_LOOKUP_MS,
  max: 10_000,
  tags: (v) => [appTag(v.appId), integrationTag(v.integrationId)],
});

/** Resolves with undefined once `ms` passed, so a hook that never settles cannot hold the message. */
const within = <T>(work: Promise<T>, ms: number): Promise<T | undefined> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    work.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (err: unknown) => (clearTimeout(timer), reject(err)),
    );
  });

async function lookup(env: Env, integration: ChannelIntegration, externalId: string): Promise<Profile | undefined> {
  const { adapter, config } = integration;
  try {
    const ctx = channelContext(env, adapter, config, integration.webhookUrl, { timeoutMs: PROFILE_TIMEOUT_MS });
    const profile = await within(adapter.profile!(ctx, externalId), PROFILE_TIMEOUT_MS);
    if (!profile) console.warn(`${integration.type} profile lookup for a new client gave nothing (timed out or refused); the client starts without a profile`);
    return profile;
  } catch (err) {
    console.warn(`${integration.type} profile lookup failed; the client starts without a profile:`, err instanceof Error ? err.message : String(err));
    return undefined;
  }
}

const defined = (user: ChannelUser) => Object.fromEntries(Object.entries(user).filter(([, value]) => value !== undefined)) as ChannelUser;

/** `user` with the channel's profile under it: what the webhook said wins, the raw fields of both are kept. */
export async function withProfile(env: Env, integration: ChannelIntegration, user: ChannelUser): Promise<ChannelUser> {
  if (!integration.adapter.profile) return user;
  const cached = await cache.read(`${integration.id}\n${user.externalId}`, async () => {
    const profile = await lookup(env, integration, user.externalId);
    return profile ? { appId: integration.appId, integrationId: integration.id, profile } : null;
  });
  if (!cached) return user;
  const { raw, ...profile } = cached.profile;
  const own = defined(user);
  const mergedRaw = raw || own.raw ? { raw: { ...raw, ...own.raw } } : {};
  return { ...profile, ...own, ...mergedRaw };
}
