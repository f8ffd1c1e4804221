// A Map-like LRU bounded by bytes, used as keyv's store for the in-memory cache.
// Map iteration order is insertion order, so re-inserting on read keeps the oldest first;
// eviction drops from the front until the new total fits (true LRU, not halves).

export class ByteLru<V> {
  private readonly map = new Map<string, { value: V; size: number }>();
  private total = 0;

  constructor(
    readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
    /** Told the size of each entry evicted to make room (not of deletes or replacements). */
    private readonly onEvict?: (size: number) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get bytes(): number {
    return this.total;
  }

  get(key: string): V | undefined {
    const slot = this.map.get(key);
    if (!slot) return undefined;
    this.map.delete(key);
    this.map.set(key, slot);
    return slot.value;
  }

  /** Read without touching the LRU order (inspection, not use). */
  peek(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** The size counted for `key`, or undefined. */
  sizeFor(key: string): number | undefined {
    return this.map.get(key)?.size;
  }

  /** Every key and value, least recently used first, without touching the order. */
  *entries(): IterableIterator<[string, V]> {
    for (const [key, slot] of this.map) yield [key, slot.value];
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  set(key: string, value: V): this {
    this.delete(key);
    const size = this.sizeOf(value);
    if (size > this.maxBytes) return this; // could never fit: not stored at all
    this.map.set(key, { value, size });
    this.total += size;
    for (const [oldKey, slot] of this.map) {
      if (this.total <= this.maxBytes) break;
      this.map.delete(oldKey);
      this.total -= slot.size;
      this.onEvict?.(slot.size);
    }
    return this;
  }

  delete(key: string): boolean {
    const slot = this.map.get(key);
    if (!slot) return false;
    this.map.delete(key);
    this.total -= slot.size;
    return true;
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }
}
