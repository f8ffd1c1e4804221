// store/memory/byte-lru.ts: a Map-like LRU bounded by bytes (what keyv sees as its store).
import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../src/store/memory/byte-lru.js';

const lru = (maxBytes: number) => new ByteLru<string>(maxBytes, (value) => value.length);

describe('ByteLru', () => {
  it('keeps entries while their total size fits', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa').set('b', 'bbbb');

    expect(cache.get('a')).toBe('aaaa');
    expect(cache.get('b')).toBe('bbbb');
    expect(cache.bytes).toBe(8);
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
    expect(cache.bytes).toBe(8);
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

    expect(cache.bytes).toBe(2);
    expect(cache.get('a')).toBe('aa');
  });

  it('frees the bytes of a deleted entry, and clear() frees all', () => {
    const cache = lru(10);
    cache.set('a', 'aaaa').set('b', 'bbbb');

    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.bytes).toBe(4);
    cache.clear();
    expect(cache.bytes).toBe(0);
    expect(cache.size).toBe(0);
  });
});
