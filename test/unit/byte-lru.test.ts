// store/memory/byte-lru.ts: lru-cache set up as an LRU bounded by bytes (the memory store and
// the Redis near cache). These pin down what the stores rely on: true LRU order, eviction of
// only what a new value needs, oversized values refused, per-value TTLs, eviction reports.
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { byteLru } from '../../src/store/memory/byte-lru.js';

const lru = (maxBytes: number, onEvict?: (size: number) => void) => byteLru<string>(maxBytes, (value) => value.length, onEvict);

describe('byteLru', () => {
  it('keeps entries while their total size fits', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa').set('b', 'bbbb');

    expect(cache.get('a')).toBe('aaaa');
    expect(cache.get('b')).toBe('bbbb');
    expect(cache.calculatedSize).toBe(8);
    expect(cache.size).toBe(2);
  });

  it('evicts the least recently used entries, not the oldest inserted, until the new one fits', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa').set('b', 'bbbb');
    cache.get('a');
    cache.set('c', 'cccc');

    expect(cache.has('a')).toBe(true);
    expect(cache.has('b')).toBe(false);
    expect(cache.has('c')).toBe(true);
    expect(cache.calculatedSize).toBe(8);
  });

  it('evicts only as many entries as needed (not by halves)', () => {
    const cache = lru(10);
    for (const key of ['a', 'b', 'c', 'd', 'e']) cache.set(key, 'xx');
    cache.set('f', 'xx');

    expect(cache.size).toBe(5);
    expect(cache.has('a')).toBe(false);
    expect(cache.has('b')).toBe(true);
  });

  it('does not store a value larger than the whole cache, and evicts nothing for it', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa');
    cache.set('huge', 'x'.repeat(11));

    expect(cache.has('huge')).toBe(false);
    expect(cache.get('a')).toBe('aaaa');
  });

  it('replaces a value under the same key and counts only the new size', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa');
    cache.set('a', 'aa');

    expect(cache.calculatedSize).toBe(2);
    expect(cache.get('a')).toBe('aa');
  });

  it('frees the bytes of a deleted entry, and clear() frees all', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa').set('b', 'bbbb');

    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.calculatedSize).toBe(4);
    cache.clear();
    expect(cache.calculatedSize).toBe(0);
    expect(cache.size).toBe(0);
  });

  it('reports the size of each value evicted to make room, and not of deletes or replacements', () => {
    const evicted: number[] = [];
    const cache = lru(10, (size) => evicted.push(size));
    cache.set('a', 'aaaa').set('b', 'bbb');
    cache.set('a', 'aa');
    cache.delete('b');
    expect(evicted).toEqual([]);
    cache.set('c', 'ccccccccc');
    expect(evicted).toEqual([2]);
  });

  it('replacing a value with one larger than the whole cache removes the old one', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa');
    cache.set('a', 'x'.repeat(11));

    expect(cache.has('a')).toBe(false);
    expect(cache.calculatedSize).toBe(0);
  });

  it('forgets a value once its own TTL has passed, and keeps one without', async () => {
    const cache = lru(100);
    cache.set('short', 'gone soon', { ttl: 50 });
    cache.set('long', 'kept');
    expect(cache.get('short')).toBe('gone soon');
    await delay(150);
    expect(cache.get('short')).toBeUndefined();
    expect(cache.get('long')).toBe('kept');
    expect(cache.calculatedSize).toBe(4);
  });
});
