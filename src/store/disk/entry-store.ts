// The disk store's entries: records in LMDB (open.ts), read synchronously from the memory map,
// and bodies in the body ring (body-ring.ts), read with one positioned read (a hit awaits
// nothing). A put writes its body to the ring and its record in one transaction, so after a crash
// at any moment an entry is whole or absent. Each body read is checked against its stored length,
// and its CRC-32 once per process (a position names one body for good). The byte bound and the
// eviction order come from the ring (eviction.ts), so they survive restarts and hold across
// processes.
import { crc32 } from 'node:zlib';
import { isCurrentMeta, type Entry, type EntryAddress, type EntryMeta, type EntryStore, type FillLock, type Found, type ScannedEntry, type StoredVariant, type StoreUsage } from '../types.js';
import { DecodedRecords } from './decoded-records.js';
import { BODY_FILE, BodyRing } from './body-ring.js';
import { DiskLru, emptyState, STATE_KEY, type DiskState, type KeptBody, type Tx } from './eviction.js';
import { storeFileBytes, transact, type DiskDatabases } from './open.js';
import { isRecord, keyOf, keyPart, RECORD_OVERHEAD, urlRecordKey, type EntryRecord, type RecordKey, type StoreRecord, type VaryRecord } from './record.js';
import { HotBodies } from './hot-bodies.js';
import { VerifiedBodies } from './verified.js';
import { TurnMemo } from './turn-memo.js';

export interface DiskEntryStoreOptions {
  /** The store's directory (for the file size in usage()). */
  dir: string;
  cacheSizeBytes: number;
  now: () => number;
  /** A body failed its length or digest check (it is dropped and reads as a miss). */
  onCorrupt?: (url: string, problem: string) => void;
  /** Entries were dropped at start: the directory was written for another ring length (`reason`). */
  onDropped?: (entries: number, reason: string) => void;
  /** Bytes of recently read bodies this process keeps on the heap (hot-bodies.ts); 0 turns it off. */
  hotBodyBytes?: number;
}

/** The hot-body cache's default: half the cap, at most 32 MiB (bodies up to 4 MiB). */
export const hotBodyBytesFor = (cacheSizeBytes: number): number => Math.min(32 * 2 ** 20, Math.floor(cacheSizeBytes / 2));

// Share of --cache-size for the body ring; the rest is for data.mdb (records, the order, LMDB's
// free pages): about 4 % of the cap for bodies of 4–64 KB (bench:crawl).
const RING_SHARE = 0.88;

/** The body ring's length for a cap: whole pages. */
export const ringBytesFor = (cacheSizeBytes: number): number => Math.max(4096, Math.floor((cacheSizeBytes * RING_SHARE) / 4096) * 4096);

export class DiskEntryStore implements EntryStore {
  private readonly lru: DiskLru;
  private readonly verified = new VerifiedBodies();
  private readonly hot: HotBodies;
  private readonly decoded: DecodedRecords;
  /** Plain (no Vary) hits already answered in this event-loop turn (turn-memo.ts). */
  private readonly answered = new TurnMemo<{ found: Found; exp: number }>();
  /** Which stored body a Buffer handed out by lookup is (refresh's `revalidated`): its position. */
  private readonly bodyIds = new WeakMap<Buffer, number>();
  private readonly ring: BodyRing;
  private fileStat: { at: number; bytes: number | undefined } = { at: 0, bytes: undefined };

  constructor(
    private readonly db: DiskDatabases,
    private readonly options: DiskEntryStoreOptions,
  ) {
    this.decoded = new DecodedRecords(db.records);
    this.ring = new BodyRing(options.dir, ringBytesFor(options.cacheSizeBytes));
    this.lru = new DiskLru(db, this.ring, this.decoded, (tx, key, record) => this.removeTree(tx, key, record), this.keptBody);
    this.startRing();
    this.hot = new HotBodies(options.hotBodyBytes ?? hotBodyBytesFor(options.cacheSizeBytes));
  }

  /**
   * Under LMDB's write lock, so workers starting together agree: records written for another ring
   * (another --cache-size, a lost body file, or the format before the ring) are dropped, and the
   * file's frontier is put back to the committed one if a machine crash lost the file's newer one.
   */
  private startRing(): void {
    // A read first: it gives this process its slot in LMDB's reader table (other-processes.ts).
    this.db.state.get(STATE_KEY);
    this.db.root.transactionSync(() => {
      const state = this.db.state.get(STATE_KEY) as Partial<DiskState> | undefined;
      if (state?.ring !== this.ring.length || state.frontier === undefined || !this.ring.matches()) {
        if (state?.entries) {
          const reason = state.ring === undefined ? 'stored by an older version (bodies inside data.mdb)' : state.ring !== this.ring.length ? `stored for another --cache-size (ring of ${state.ring} bytes, now ${this.ring.length})` : `${BODY_FILE} is missing or not a body ring`;
          this.options.onDropped?.(state.entries, reason);
        }
        this.ring.reset();
        this.db.records.clearSync();
        this.db.order.clearSync();
        this.db.bodies.clearSync();
        this.db.state.putSync(STATE_KEY, emptyState(this.ring.length));
        return;
      }
      // The file's frontier is never behind the committed one (a machine crash can lose the file's).
      if (state.frontier > this.ring.frontier()) this.ring.setFrontier(state.frontier);
    });
  }

  maxBodyBytes(headers: Readonly<Record<string, string | string[] | undefined>>): number {
    return Math.max(0, this.ring.length - RECORD_OVERHEAD - metaBytesOf(headers));
  }

  usage(): StoreUsage {
    const state = this.lru.state();
    return { store: 'disk', entries: state.entries, bytes: state.bytes, evictions: this.lru.counts.evicted, fileBytes: this.fileBytes() };
  }

  /** data.mdb's size and the body ring's, read at most once a second (usage() is read per metrics scrape). */
  private fileBytes(): number | undefined {
    const now = Date.now();
    if (now - this.fileStat.at > 1000) this.fileStat = { at: now, bytes: storeFileBytes(this.options.dir) };
    return this.fileStat.bytes;
  }

  lookup(url: string, variantOf: (vary: string[]) => string): Found | undefined {
    const now = this.options.now();
    const urlKey = urlRecordKey(url);
    const memo = this.answered.get(urlKey);
    if (memo && memo.exp > now) return memo.found;
    const top = this.read(urlKey, now);
    if (!top) return undefined;
    const key: RecordKey = top.k === 'e' ? urlKey : [urlKey, keyPart(variantOf(top.vary))];
    const record = top.k === 'e' ? top : this.read(key, now);
    // An older proxy's metadata (another policy form) is never read: a miss, not a wrong answer.
    if (record?.k !== 'e' || !isCurrentMeta(record.meta)) return undefined;
    const body = this.readBody(record);
    if (!body) return undefined;
    this.lru.touch(key);
    if (top.k === 'v') this.lru.touch(urlKey);
    const found: Found = { entry: { meta: record.meta, body }, address: record.address };
    if (top.k === 'e') this.answered.set(urlKey, { found, exp: record.exp });
    return found;
  }

  async put(address: EntryAddress, entry: Entry, ttlMs: number): Promise<void> {
    const { body } = entry;
    const crc = crc32(body);
    const size = body.length + metaBytes(entry.meta) + RECORD_OVERHEAD;
    const plain = !address.vary || address.variant === null;
    this.answered.clear();
    let position = -1;
    await this.written(transact(this.db.root, () => this.lru.update((tx) => {
      // Reservations first: the records the frontier passes leave before the ones below are read.
      const pos = this.lru.reserve(tx, size, body);
      position = pos;
      const varyPos = plain ? 0 : this.lru.reserve(tx, RECORD_OVERHEAD, undefined);
      const now = this.options.now();
      const exp = now + ttlMs;
      const urlKey = urlRecordKey(address.url);
      const top = this.record(urlKey);
      const sameVary = !plain && top?.k === 'v' && top.exp > now && sameNames(top.vary, address.vary!);
      if (top && !sameVary) this.removeTree(tx, urlKey, top);
      const stored: EntryRecord = { k: 'e', address: plain ? { url: address.url, vary: null, variant: null } : { ...address }, meta: entry.meta, pos, len: body.length, crc, exp, size };
      if (plain) {
        this.lru.write(tx, urlKey, stored);
        return;
      }
      const key = keyOf(address);
      const old = this.record(key);
      if (old) this.lru.remove(tx, key, old, (position) => this.dropBody(position));
      const variants = sameVary && top?.k === 'v' ? [...new Set([...top.variants, address.variant!])] : [address.variant!];
      const varyExp = Math.max(sameVary && top ? top.exp : 0, exp);
      this.lru.write(tx, urlKey, { k: 'v', url: address.url, vary: address.vary!, variants, exp: varyExp, pos: varyPos, size: RECORD_OVERHEAD });
      this.lru.write(tx, key, stored);
    })));
    // Committed: the stored bytes are the ones just hashed, so this process's first read of them
    // need not hash them again (a crash that could tear them also empties this set).
    this.verified.add(position);
  }

  async refresh(address: EntryAddress, meta: EntryMeta, ttlMs: number, _fill?: FillLock, revalidated?: Entry): Promise<void> {
    const key = keyOf(address);
    this.answered.clear();
    await this.written(transact(this.db.root, () => {
      const now = this.options.now();
      const record = this.record(key);
      if (record?.k !== 'e' || record.exp <= now) return;
      // Another body was stored meanwhile: the 304 was about the one the pipeline looked up.
      if (revalidated && !this.isBody(record, revalidated.body)) return;
      this.lru.update((tx) => {
        const exp = now + ttlMs;
        this.lru.write(tx, key, { ...record, meta, exp, size: record.len + metaBytes(meta) + RECORD_OVERHEAD });
        if (typeof key === 'string') return;
        const top = this.record(key[0]);
        if (top?.k === 'v') this.lru.write(tx, key[0], { ...top, exp: Math.max(top.exp, exp) });
      });
    }));
  }

  async invalidate(url: string): Promise<void> {
    this.answered.clear();
    await this.written(transact(this.db.root, () => {
      const urlKey = urlRecordKey(url);
      const top = this.record(urlKey);
      if (top) this.lru.update((tx) => this.removeTree(tx, urlKey, top));
    }));
  }

  /** A write of this process: no hit kept from before it answers after it, committed or not. */
  private async written<T>(write: Promise<T>): Promise<T> {
    try {
      return await write;
    } finally {
      this.answered.clear();
    }
  }

  async variants(url: string): Promise<StoredVariant[]> {
    const now = this.options.now();
    const urlKey = urlRecordKey(url);
    const top = this.read(urlKey, now);
    if (!top) return [];
    const keys: RecordKey[] = top.k === 'e' ? [urlKey] : top.variants.map((variant): RecordKey => [urlKey, keyPart(variant)]);
    const found: StoredVariant[] = [];
    for (const key of keys) {
      const record = this.read(key, now);
      if (record?.k === 'e' && isCurrentMeta(record.meta)) found.push({ address: record.address, meta: record.meta, bytes: record.size, expiresInMs: Math.max(0, record.exp - now) });
    }
    return found;
  }

  /** A page of URL keys in key order; the cursor is the last key of the page (JSON), "0" at the end. */
  async scanPage(cursor: string, count: number): Promise<{ cursor: string; entries: ScannedEntry[] }> {
    const after = cursor === '0' ? undefined : (JSON.parse(cursor) as RecordKey);
    const now = this.options.now();
    const entries: ScannedEntry[] = [];
    let last: RecordKey | undefined;
    let seen = 0;
    for (const { key, value } of this.db.records.getRange({ ...(after !== undefined && { start: after }), snapshot: false })) {
      if (after !== undefined && sameKey(key as RecordKey, after)) continue;
      if (seen++ >= count) return { cursor: JSON.stringify(last), entries };
      last = key as RecordKey;
      if (typeof key !== 'string' || !isRecord(value) || value.exp <= now) continue;
      if (value.k === 'e') entries.push({ url: value.address.url, ...(value.meta.url !== undefined && { href: value.meta.url }) });
      else entries.push({ url: value.url, ...this.hrefOfVariants(key, value) });
    }
    return { cursor: '0', entries };
  }

  async close(): Promise<void> {
    // The environment belongs to the backend (backend.ts), which closes it after every part.
    this.ring.close();
  }

  /** A Vary record's URL, from any of its variants (their metas carry it). */
  private hrefOfVariants(urlKey: string, top: VaryRecord): { href?: string } {
    for (const variant of top.variants) {
      const record = this.record([urlKey, keyPart(variant)]);
      if (record?.k === 'e' && record.meta.url !== undefined) return { href: record.meta.url };
    }
    return {};
  }

  private record(key: RecordKey): StoreRecord | undefined {
    const value = this.decoded.get(key);
    return isRecord(value) ? value : undefined;
  }

  /** A live record: expired ones read as absent (eviction reclaims their bytes). */
  private read(key: RecordKey, now: number): StoreRecord | undefined {
    const record = this.record(key);
    return record && record.exp > now ? record : undefined;
  }

  /** The whole body, or undefined (and the entry dropped) when it is not what was stored. */
  private readBody(record: EntryRecord): Buffer | undefined {
    // The record was read just now, so its position still names this body; a kept copy passed the
    // checks below when it was read, and the position names those bytes for good.
    const kept = this.hot.get(record.pos);
    if (kept && kept.length === record.len) return kept;
    const body = this.ring.read(record.pos, record.len);
    // The frontier has come round to it: the writer that moved the frontier removes the record.
    if (!body) return undefined;
    const problem = body.length !== record.len ? `body is ${body.length} bytes, stored ${record.len}` : !this.verified.has(record.pos) && crc32(body) !== record.crc ? 'body digest differs' : undefined;
    if (problem) {
      this.options.onCorrupt?.(record.meta.url ?? record.address.url, problem);
      void this.invalidate(record.address.url).catch(() => {});
      return undefined;
    }
    this.verified.add(record.pos);
    // Each read makes a new Buffer, so a Buffer names one body for good; a kept one already has it.
    this.bodyIds.set(body, record.pos);
    this.hot.add(record.pos, body);
    return body;
  }

  private isBody(record: EntryRecord, body: Buffer): boolean {
    const id = this.bodyIds.get(body);
    return id !== undefined ? id === record.pos : body.length === record.len && crc32(body) === record.crc;
  }

  /** Remove a record; a URL's Vary record takes its variants along. */
  private removeTree(tx: Tx, key: RecordKey, top: StoreRecord): void {
    if (top.k === 'v' && typeof key === 'string') {
      for (const variant of top.variants) {
        const variantKey: RecordKey = [key, keyPart(variant)];
        const variantRecord = this.record(variantKey);
        if (variantRecord) this.lru.remove(tx, variantKey, variantRecord, (position) => this.dropBody(position));
      }
    }
    this.lru.remove(tx, key, top, (position) => this.dropBody(position));
  }

  /**
   * A moving body this process holds (checked when it was read): kept under its new position too.
   * Not marked verified there: if its write to the new place failed (a full disk) while the record
   * moved, a read from the file must still check the digest.
   */
  private readonly keptBody: KeptBody = (record, movedTo) => {
    const body = this.hot.get(record.pos);
    if (!body || body.length !== record.len) return undefined;
    this.hot.delete(record.pos);
    this.hot.add(movedTo, body);
    this.bodyIds.set(body, movedTo);
    return body;
  };

  /** The body's bytes stay in the ring until the frontier comes round; this process forgets them now. */
  private dropBody(position: number): void {
    this.verified.delete(position);
    this.hot.delete(position);
  }
}

function metaBytes(meta: EntryMeta): number {
  return metaBytesOf(meta.headers);
}

/** What a record's header fields cost in data.mdb, about (counted twice: the record and the B-tree's slack). */
function metaBytesOf(headers: Readonly<Record<string, string | string[] | undefined>>): number {
  return headerBytesOf(headers) * 2 + 256;
}

function headerBytesOf(headers: Readonly<Record<string, string | string[] | undefined>>): number {
  let bytes = 0;
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) bytes += name.length + (Array.isArray(value) ? value.join('').length : value.length);
  }
  return bytes;
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

function sameKey(a: RecordKey, b: RecordKey): boolean {
  return typeof a === 'string' ? a === b : typeof b !== 'string' && a[0] === b[0] && a[1] === b[1];
}
