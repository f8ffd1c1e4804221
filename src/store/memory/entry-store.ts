// The default store: keyv over a byte-bounded LRU, with keyv's serializer switched off so a hit
// hands back the live Entry object (no JSON, no base64, no copy of the body).
import { Keyv } from 'keyv';
import type { Entry, EntryAddress, EntryMeta, EntryStore, ScannedEntry, StoredVariant, StoreUsage } from '../types.js';
import { ByteLru } from './byte-lru.js';
import { Reclaimer } from './reclaim.js';

// A varying URL's record lives as long as its longest-lived variant (`expires`, epoch ms).
// An entry record is also the lookup's answer ({ entry, address }), so a hit allocates nothing.
type EntryRecord = { kind: 'entry'; entry: Entry; address: EntryAddress };
type Stored = EntryRecord | { kind: 'vary'; vary: string[]; variants: Set<string>; expires: number };

// Per-record bookkeeping: key strings, Map slots, the meta object and its serialised cache policy
// (with the stored request's fields). `npm run soak` with 1 KB bodies (SOAK_MIN_KB=1
// SOAK_MAX_KB=1) measured about 1.3 KB of live JS heap per entry whose header fields total
// ~120 bytes, where 600 + 3 x 120 counted under 1 KB: the cache then held 20 % more than its cap.
const RECORD_OVERHEAD = 1000;

function sizeOf(wrapped: { value: Stored }): number {
  const record = wrapped.value;
  if (record.kind === 'vary') return RECORD_OVERHEAD;
  let headerBytes = 0;
  for (const [name, value] of Object.entries(record.entry.meta.headers)) {
    headerBytes += name.length + (Array.isArray(value) ? value.join('').length : value.length);
  }
  return record.entry.body.length + headerBytes * 3 + RECORD_OVERHEAD;
}

export class MemoryEntryStore implements EntryStore {
  readonly lru: ByteLru<{ value: Stored }>;
  private readonly keyv: Keyv<Stored>;
  readonly reclaimer: Reclaimer;

  constructor(maxBytes: number) {
    this.reclaimer = new Reclaimer(maxBytes);
    this.lru = new ByteLru(maxBytes, sizeOf, (size) => this.reclaimer.noteEvicted(size));
    this.keyv = new Keyv<Stored>({
      store: this.lru,
      namespace: '',
      useKeyPrefix: false,
      serialize: undefined,
      deserialize: undefined,
    });
  }

  usage(): StoreUsage {
    return { store: 'memory', entries: this.lru.size, bytes: this.lru.bytes };
  }

  async lookup(url: string, variantOf: (vary: string[]) => string) {
    const record = await this.keyv.get(url);
    if (!record) return undefined;
    if (record.kind === 'entry') return record;
    const variant = variantOf(record.vary);
    const variantRecord = await this.keyv.get(`${url}:${variant}`);
    if (variantRecord?.kind !== 'entry') return undefined;
    return variantRecord;
  }

  async put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void> {
    this.reclaimer.noteWrite();
    const existing = await this.keyv.get(address.url);
    const sameVary = existing?.kind === 'vary' && !!address.vary && sameNames(existing.vary, address.vary);
    // Variants listed under other Vary names (or none) must not come back if those names return.
    if (existing?.kind === 'vary' && !sameVary) await this.dropVariants(address.url, existing.variants);
    if (!address.vary || !address.variant) {
      await this.keyv.set(address.url, { kind: 'entry', entry, address: { url: address.url, vary: null, variant: null } }, ttlMs);
      return;
    }
    const variants = sameVary && existing?.kind === 'vary' ? existing.variants : new Set<string>();
    variants.add(address.variant);
    await this.extendVaryRecord(address.url, address.vary, variants, sameVary ? existing.expires : 0, ttlMs);
    await this.keyv.set(`${address.url}:${address.variant}`, { kind: 'entry', entry, address: { ...address } }, ttlMs);
  }

  private async extendVaryRecord(url: string, vary: string[], variants: Set<string>, expires: number, ttlMs: number): Promise<void> {
    // keyv's expiry reads the wall clock, so this bookkeeping does too.
    const until = Math.max(expires, Date.now() + ttlMs);
    await this.keyv.set(url, { kind: 'vary', vary, variants, expires: until }, until - Date.now());
  }

  async refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number): Promise<void> {
    const key = address.variant ? `${address.url}:${address.variant}` : address.url;
    const record = await this.keyv.get(key);
    if (record?.kind !== 'entry') return;
    await this.keyv.set(key, { kind: 'entry', entry: { meta, body: record.entry.body }, address: record.address }, ttlMs);
    if (address.variant && address.vary) {
      const urlRecord = await this.keyv.get(address.url);
      if (urlRecord?.kind === 'vary') await this.extendVaryRecord(address.url, urlRecord.vary, urlRecord.variants, urlRecord.expires, ttlMs);
    }
  }

  async invalidate(url: string): Promise<void> {
    const record = await this.keyv.get(url);
    if (record?.kind === 'vary') await this.dropVariants(url, record.variants);
    await this.keyv.delete(url);
  }

  private async dropVariants(url: string, variants: Iterable<string>): Promise<void> {
    for (const variant of variants) await this.keyv.delete(`${url}:${variant}`);
  }

  // Inspection and purge (not on the request path). Peeks leave the LRU order as it was.
  async variants(url: string): Promise<StoredVariant[]> {
    const record = this.lru.peek(url)?.value;
    if (!record) return [];
    const keys = record.kind === 'entry' ? [url] : [...record.variants].map((variant) => `${url}:${variant}`);
    const found: StoredVariant[] = [];
    for (const key of keys) {
      const stored = this.lru.peek(key);
      if (stored?.value.kind !== 'entry') continue;
      found.push({ address: stored.value.address, meta: stored.value.entry.meta, bytes: this.lru.sizeFor(key) ?? 0 });
    }
    return found;
  }

  /** One page holds every URL: the keys are in this process, so a snapshot costs one array. */
  async scanPage(): Promise<{ cursor: string; entries: ScannedEntry[] }> {
    const entries: ScannedEntry[] = [];
    for (const [key, { value }] of this.lru.entries()) {
      if (value.kind === 'entry') entries.push({ url: value.address.url, ...(value.entry.meta.url !== undefined && { href: value.entry.meta.url }) });
      else if (!key.includes(':')) entries.push({ url: key }); // a Vary record: its variants carry the URL
    }
    return { cursor: '0', entries };
  }

  async close(): Promise<void> {
    this.lru.clear();
  }
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
