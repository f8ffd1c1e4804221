// A byte-bounded LRU (the memory store and the Redis near cache): lru-cache with `maxSize` and a
// size per value. True LRU, evicting from the least recently used end only as much as the new
// value needs (not by halves, trap 8); a value larger than the whole bound is not stored and
// removes what its key held. Per-value TTLs (set(key, value, { ttl })) run on lru-cache's
// monotonic clock, and an expired value reads as absent.
import { LRUCache } from 'lru-cache';

export type ByteLru<V extends NonNullable<unknown>> = LRUCache<string, V>;

export function byteLru<V extends NonNullable<unknown>>(
  maxBytes: number,
  sizeOf: (value: V) => number,
  /** Told the size of each value evicted to make room (not of deletes, expiries or replacements). */
  onEvict?: (size: number) => void,
  /** Told of every value that leaves: evicted, deleted, expired or replaced by another. */
  onRemove?: (value: V) => void,
): ByteLru<V> {
  // lru-cache wants a positive integer size: an empty value still takes a slot.
  const size = (value: V): number => Math.max(1, Math.ceil(sizeOf(value)));
  return new LRUCache<string, V>({
    maxSize: Math.max(1, maxBytes),
    sizeCalculation: size,
    // Read the clock on each TTL check: the default (cache it for 1 ms) arms a timer every
    // millisecond of traffic, which on the hit path costs more than the clock read it saves.
    ttlResolution: 0,
    ...((onEvict || onRemove) && {
      dispose: (value: V, _key: string, reason: LRUCache.DisposeReason) => {
        if (reason === 'evict') onEvict?.(size(value));
        onRemove?.(value);
      },
    }),
  });
}
