// The default store: live Entry objects in a byte-bounded LRU (lru-cache, byte-lru.ts), so a hit
// hands back the stored object (no JSON, no base64, no copy of the body) without awaiting
// anything. Entry TTLs are lru-cache's; a varying URL's record outlives its longest variant.
import type { Entry, EntryAddress, EntryMeta, EntryStore, FillLock, Found, ScannedEntry, StoredVariant, StoreUsage } from '../types.js';
import { byteLru, type ByteLru } from './byte-lru.js';
import { Reclaimer } from './reclaim.js';

// An entry record is also the lookup's answer ({ entry, address }), so a hit allocates nothing.
type EntryRecord = { kind: 'entry'; entry: Entry; address: EntryAddress };
type Stored = EntryRecord | { kind: 'vary'; vary: string[]; variants: Set<string> };

// Per-record bookkeeping: key strings, Map slots, the meta object and its serialised cache policy
// (with the stored request's fields). `npm run soak` with 1 KB bodies (SOAK_MIN_KB=1
// SOAK_MAX_KB=1) measured about 1.3 KB of live JS heap per entry whose header fields total
// ~120 bytes, where 600 + 3 x 120 counted under 1 KB: the cache then held 20 % more than its cap.
const RECORD_OVERHEAD = 1000;

function sizeOf(record: Stored): number {
  if (record.kind === 'vary') return RECORD_OVERHEAD;
  return record.entry.body.length + headerBytesOf(record.entry.meta.headers) * 3 + RECORD_OVERHEAD;
}

function headerBytesOf(headers: Readonly<Record<string, string | string[] | undefined>>): number {
  let headerBytes = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) headerBytes += name.length + (Array.isArray(value) ? value.join('').length : value.length);
  }
  return headerBytes;
}

export class MemoryEntryStore implements EntryStore {
  readonly lru: ByteLru<Stored>;
  readonly reclaimer: Reclaimer;

  constructor(private readonly maxBytes: number) {
    this.reclaimer = new Reclaimer(maxBytes);
    this.lru = byteLru(maxBytes, sizeOf, (size) => this.reclaimer.noteEvicted(size));
  }

  /** lru-cache keeps nothing larger than its whole bound (byte-lru.ts): a body must fit beside its record. */
  maxBodyBytes(headers: Readonly<Record<string, string | string[] | undefined>>): number {
    return Math.max(0, this.maxBytes - RECORD_OVERHEAD - headerBytesOf(headers) * 3);
  }

  usage(): StoreUsage {
    return { store: 'memory', entries: this.lru.size, bytes: this.lru.calculatedSize };
  }

  lookup(url: string, variantOf: (vary: string[]) => string): Found | undefined {
    const record = this.lru.get(url);
    if (!record) return undefined;
    if (record.kind === 'entry') return record;
    const variantRecord = this.lru.get(`${url}:${variantOf(record.vary)}`);
    return variantRecord?.kind === 'entry' ? variantRecord : undefined;
  }

  async put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void> {
    this.reclaimer.noteWrite();
    const existing = this.lru.get(address.url);
    const sameVary = existing?.kind === 'vary' && !!address.vary && sameNames(existing.vary, address.vary);
    // Variants listed under other Vary names (or none) must not come back if those names return.
    if (existing?.kind === 'vary' && !sameVary) this.dropVariants(address.url, existing.variants);
    if (!address.vary || !address.variant) {
      this.lru.set(address.url, { kind: 'entry', entry, address: { url: address.url, vary: null, variant: null } }, { ttl: ttlMs });
      return;
    }
    const variants = sameVary && existing?.kind === 'vary' ? existing.variants : new Set<string>();
    variants.add(address.variant);
    this.extendVaryRecord(address.url, address.vary, variants, sameVary, ttlMs);
    this.lru.set(`${address.url}:${address.variant}`, { kind: 'entry', entry, address: { ...address } }, { ttl: ttlMs });
  }

  /** The URL's Vary record lives as long as the longest-lived of its variants. */
  private extendVaryRecord(url: string, vary: string[], variants: Set<string>, keepsTtl: boolean, ttlMs: number): void {
    const left = keepsTtl ? this.lru.getRemainingTTL(url) : 0; // 0 when gone
    this.lru.set(url, { kind: 'vary', vary, variants }, { ttl: Math.max(Number.isFinite(left) ? left : 0, ttlMs) });
  }

  async refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number, _fill?: FillLock, revalidated?: Entry): Promise<void> {
    const key = address.variant ? `${address.url}:${address.variant}` : address.url;
    const record = this.lru.get(key);
    if (record?.kind !== 'entry') return;
    // Another body was stored meanwhile: the 304 was about the one the pipeline looked up.
    if (revalidated && record.entry.body !== revalidated.body) return;
    this.lru.set(key, { kind: 'entry', entry: { meta, body: record.entry.body }, address: record.address }, { ttl: ttlMs });
    if (address.variant && address.vary) {
      const urlRecord = this.lru.get(address.url);
      if (urlRecord?.kind === 'vary') this.extendVaryRecord(address.url, urlRecord.vary, urlRecord.variants, true, ttlMs);
    }
  }

  async invalidate(url: string): Promise<void> {
    const record = this.lru.get(url);
    if (record?.kind === 'vary') this.dropVariants(url, record.variants);
    this.lru.delete(url);
  }

  private dropVariants(url: string, variants: Iterable<string>): void {
    for (const variant of variants) this.lru.delete(`${url}:${variant}`);
  }

  // Inspection and purge (not on the request path). Peeks leave the LRU order as it was.
  async variants(url: string): Promise<StoredVariant[]> {
    const record = this.lru.peek(url);
    if (!record) return [];
    const keys = record.kind === 'entry' ? [url] : [...record.variants].map((variant) => `${url}:${variant}`);
    const found: StoredVariant[] = [];
    for (const key of keys) {
      const stored = this.lru.info(key);
      if (stored?.value.kind !== 'entry') continue;
      found.push({
        address: stored.value.address,
        meta: stored.value.entry.meta,
        bytes: stored.size ?? 0,
        ...(stored.ttl !== undefined && { expiresInMs: Math.max(0, Math.round(stored.ttl)) }),
      });
    }
    return found;
  }

  /** One page holds every URL: the keys are in this process, so a snapshot costs one array. */
  async scanPage(): Promise<{ cursor: string; entries: ScannedEntry[] }> {
    const entries: ScannedEntry[] = [];
    for (const key of this.lru.rkeys()) {
      const value = this.lru.peek(key);
      if (!value) continue;
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
