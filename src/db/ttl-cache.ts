/**
 * Per-isolate caches of D1 reads (keys, integrations, identities, webhook
 * subscriptions), so a hot path costs no D1 read per request, and the one
 * place that forgets them. Every entry is tagged with the app, integration
 * and key it depends on; `forget` drops every entry of every cache tagged
 * with what was deleted, so a deletion takes effect at once in the isolate
 * that made it. Other isolates keep their copy until it expires: the writes
 * they attempt meanwhile are conditioned on the rows still existing.
 */

export type Tag = `app:${string}` | `integration:${string}` | `key:${string}`;

export const appTag = (id: string): Tag => `app:${id}`;
export const integrationTag = (id: string): Tag => `integration:${id}`;
export const keyTag = (id: string): Tag => `key:${id}`;

interface Entry<V> {
  expires: number;
  value: Promise<V>;
  /** Known once the read finished; until then any `forget` drops the entry, since it may hold what was just deleted. */
  tags?: readonly Tag[];
}

export interface TtlCacheOptions<V> {
  ttlMs: number;
  /** How long an absent row (undefined) is remembered; 0 keeps no answer for it. */
  missMs: number;
  /** What the value read for `key` depends on. */
  tags: (value: NonNullable<V>, key: string) => readonly Tag[];
  max?: number;
}

const caches = new Set<{ drop(tags: readonly Tag[]): void }>();

export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(private readonly options: TtlCacheOptions<V>) {
    caches.add(this);
  }

  /** The cached value, else `load()`'s; concurrent callers share one read, and a failed read is not kept. */
  read(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit && hit.expires > Date.now()) return hit.value;
    if (this.entries.size >= (this.options.max ?? 10_000)) this.entries.clear();
    const entry: Entry<V> = { expires: Date.now() + this.options.ttlMs, value: load() };
    this.entries.set(key, entry);
    entry.value.then(
      (value) => {
        if (this.entries.get(key) !== entry) return;
        if (value === undefined || value === null) {
          if (this.options.missMs > 0) entry.expires = Math.min(entry.expires, Date.now() + this.options.missMs);
          else this.entries.delete(key);
          entry.tags = [];
        } else {
          entry.tags = this.options.tags(value as NonNullable<V>, key);
        }
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.value;
  }

  /** Drops one entry after a change made in this isolate (an update, not a deletion). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** @internal */
  drop(tags: readonly Tag[]): void {
    for (const [key, entry] of this.entries) {
      if (!entry.tags || entry.tags.some((t) => tags.includes(t))) this.entries.delete(key);
    }
  }
}

/** Forgets, in every cache of this isolate, everything that depends on what was deleted. Call it after the delete committed. */
export function forget(...tags: Tag[]): void {
  for (const cache of caches) cache.drop(tags);
}
