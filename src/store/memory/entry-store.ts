// The default store: entry records in a byte-bounded LRU (lru-cache, byte-lru.ts) and their
// bodies in the page pool (page-pool.ts), so a hit hands back the stored object (no JSON, no copy
// of the body) without awaiting anything, and a body leaves no garbage for V8 when it goes.
// Entry TTLs are lru-cache's; a varying URL's record outlives its longest variant. A body handed
// out stays valid while held (hold()): the pipeline holds it until its client has the bytes.
import type { Entry, EntryAddress, EntryMeta, EntryStore, FillLock, Found, ReservedBody, ScannedEntry, StoredVariant, StoreUsage } from '../types.js';
import { byteLru, type ByteLru } from './byte-lru.js';
import { PagePool, pageSizeFor, type PoolUsage, type Slot } from './page-pool.js';

// An entry record is also the lookup's answer ({ entry, address }), so a hit allocates nothing.
// `metaBytes`: recordBytesOf(entry.meta), counted once per metadata object (a refresh replaces it).
type EntryRecord = { kind: 'entry'; entry: Entry; address: EntryAddress; slot: Slot; metaBytes: number };
type Stored = EntryRecord | { kind: 'vary'; vary: string[]; variants: Set<string> };

const RELEASED = (): void => undefined;

// A slot lent for a body being received: its page stays pinned until released, so nothing
// recycles it meanwhile; nothing else points at it until put() takes it over.
const UNCLAIMED = { moved: RELEASED, evicted: RELEASED };

// Per-record bookkeeping: key strings, Map slots, the meta object and its serialised cache policy
// (with the stored request's fields). `npm run soak` with 1 KB bodies (SOAK_MIN_KB=1
// SOAK_MAX_KB=1) measured about 1.3 KB of live JS heap per entry whose header fields total
// ~120 bytes, where 600 + 3 x 120 counted under 1 KB: the cache then held 20 % more than its cap.
const RECORD_OVERHEAD = 1000;

function sizeOf(record: Stored): number {
  return record.kind === 'vary' ? RECORD_OVERHEAD : record.entry.body.length + record.metaBytes;
}

/** What a record costs beside its body (on the JS heap, outside the page pool). */
function recordBytesOf(meta: EntryMeta): number {
  return headerBytesOf(meta.headers) * 3 + RECORD_OVERHEAD;
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
  readonly pool: PagePool;
  /** Bytes of the records (beside their bodies) in the LRU: the pool has the rest of the cap. */
  private recordBytes = 0;

  constructor(
    private readonly maxBytes: number,
    pageBytes = pageSizeFor(maxBytes),
  ) {
    this.pool = new PagePool(pageBytes, () => this.maxBytes - this.recordBytes);
    this.lru = byteLru(maxBytes, sizeOf, undefined, (record) => this.forget(record));
  }

  /** A record left the LRU (evicted, deleted, replaced or expired): its body's bytes go back to the pool. */
  private forget(record: Stored): void {
    if (record.kind === 'vary') {
      this.recordBytes -= RECORD_OVERHEAD;
      return;
    }
    this.recordBytes -= record.metaBytes;
    this.pool.free(record.slot);
  }

  private remember(record: Stored): void {
    this.recordBytes += record.kind === 'vary' ? RECORD_OVERHEAD : record.metaBytes;
  }

  /**
   * Keep `entry`'s body bytes where they are until the returned function is called: a body is a
   * view into a page, which is recycled only when nobody holds it. Call it once the bytes have
   * reached the client (or it went); bounded by --send-timeout.
   */
  hold(entry: Entry): () => void {
    const page = this.pool.pageHolding(entry.body);
    return page ? this.pool.pinPage(page) : RELEASED;
  }

  /** The page pool's state (tests, the soak). */
  poolUsage(): PoolUsage {
    return this.pool.usage();
  }

  /** Bodies being received into the pool (reserveBody), by the view handed out. */
  private readonly reserved = new Map<Buffer, Slot>();

  /** A slot of the pool for a body of `length` bytes (one that fits in a page), pinned until released. */
  reserveBody(length: number): ReservedBody | undefined {
    if (length === 0 || length > this.pool.pageBytes) return undefined;
    const slot = this.pool.allocate(length, UNCLAIMED);
    if (!slot) return undefined;
    const unpin = this.pool.pin(slot);
    this.reserved.set(slot.body, slot);
    return {
      body: slot.body,
      release: () => {
        if (this.reserved.delete(slot.body) && slot.owner === UNCLAIMED) this.pool.free(slot);
        unpin();
      },
    };
  }

  /** The body copied into a slot of the pool (or in the slot reserved for it), in a record for `key`; null when no page can take it now. */
  private newRecord(key: string, address: EntryAddress, entry: Entry): EntryRecord | null {
    const record = { kind: 'entry', entry, address, metaBytes: recordBytesOf(entry.meta) } as EntryRecord;
    const owner = {
      moved: (body: Buffer) => void (record.entry = { meta: record.entry.meta, body }),
      evicted: () => {
        if (this.lru.peek(key) === record) this.lru.delete(key);
      },
    };
    const reserved = this.reserved.get(entry.body);
    if (reserved?.owner === UNCLAIMED && reserved.live) {
      reserved.owner = owner;
      record.slot = reserved;
      return record;
    }
    // A body read from this pool (a variant moved to another address) must not be recycled while it is copied.
    const source = this.pool.pageHolding(entry.body);
    const release = source ? this.pool.pinPage(source) : RELEASED;
    try {
      const slot = this.pool.allocate(entry.body.length, owner);
      if (!slot) return null;
      entry.body.copy(slot.body);
      record.slot = slot;
      record.entry = { meta: entry.meta, body: slot.body };
      return record;
    } finally {
      release();
    }
  }

  private setRecord(key: string, record: Stored, ttlMs: number): void {
    const before = this.lru.peek(key);
    if (before === record) {
      // Same object: lru-cache neither disposes nor re-adds it; its size may have changed.
      this.lru.set(key, record, { ttl: ttlMs });
      return;
    }
    this.remember(record);
    this.lru.set(key, record, { ttl: ttlMs });
    // lru-cache keeps nothing larger than its whole bound (and then disposes nothing).
    if (this.lru.peek(key) !== record) this.forget(record);
  }

  /** lru-cache keeps nothing larger than its whole bound (byte-lru.ts): a body must fit beside its record. */
  maxBodyBytes(headers: Readonly<Record<string, string | string[] | undefined>>): number {
    return Math.max(0, this.maxBytes - RECORD_OVERHEAD - headerBytesOf(headers) * 3);
  }

  usage(): StoreUsage {
    // lru-cache's count of record and body bytes (within --cache-size), as before the page pool.
    return { store: 'memory', entries: this.lru.size, bytes: this.lru.calculatedSize };
  }

  lookup(url: string, variantOf: (vary: string[]) => string): Found | undefined {
    const record = this.lru.get(url);
    if (!record) return undefined;
    const found = record.kind === 'entry' ? record : this.lru.get(`${url}:${variantOf(record.vary)}`);
    if (found?.kind !== 'entry') return undefined;
    // Read since stored: it keeps its place when its page is recycled.
    found.slot.hot = true;
    return found;
  }

  async put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void> {
    const key = address.vary && address.variant ? `${address.url}:${address.variant}` : address.url;
    const stored: EntryAddress = address.vary && address.variant ? { ...address } : { url: address.url, vary: null, variant: null };
    const record = this.newRecord(key, stored, entry);
    // Every page is held by clients still receiving its bodies: not stored this time, as past the cap.
    if (!record) return;
    const existing = this.lru.get(address.url);
    const sameVary = existing?.kind === 'vary' && !!address.vary && sameNames(existing.vary, address.vary);
    // Variants listed under other Vary names (or none) must not come back if those names return.
    if (existing?.kind === 'vary' && !sameVary) this.dropVariants(address.url, existing.variants);
    if (!address.vary || !address.variant) {
      this.setRecord(key, record, ttlMs);
      return;
    }
    const variants = sameVary && existing?.kind === 'vary' ? existing.variants : new Set<string>();
    variants.add(address.variant);
    this.extendVaryRecord(address.url, address.vary, variants, sameVary, ttlMs);
    this.setRecord(key, record, ttlMs);
  }

  /** The URL's Vary record lives as long as the longest-lived of its variants. */
  private extendVaryRecord(url: string, vary: string[], variants: Set<string>, keepsTtl: boolean, ttlMs: number): void {
    const left = keepsTtl ? this.lru.getRemainingTTL(url) : 0; // 0 when gone
    this.setRecord(url, { kind: 'vary', vary, variants }, Math.max(Number.isFinite(left) ? left : 0, ttlMs));
  }

  // Written at once: a revalidation's refresh costs no promise (pipeline/refresh.ts).
  refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number, _fill?: FillLock, revalidated?: Entry): void {
    const key = address.variant ? `${address.url}:${address.variant}` : address.url;
    // A peek: setRecord below makes it the most recently used.
    const record = this.lru.peek(key);
    if (record?.kind !== 'entry') return;
    // Another body was stored meanwhile: the 304 was about the one the pipeline looked up.
    if (revalidated && record.entry.body !== revalidated.body) return;
    // The same record (it owns the slot) with the new metadata.
    // A 304 that repeated every field leaves the same headers object: the same count.
    const metaBytes = meta.headers === record.entry.meta.headers ? record.metaBytes : recordBytesOf(meta);
    this.recordBytes += metaBytes - record.metaBytes;
    record.metaBytes = metaBytes;
    record.entry = { meta, body: record.entry.body };
    this.setRecord(key, record, ttlMs);
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
