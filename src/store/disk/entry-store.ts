// The disk store's entries: records and body chunks in LMDB (open.ts), read synchronously from the
// memory map (a hit awaits nothing), written in one transaction per put, so after a crash at any
// moment an entry is whole or absent. Each body read is checked against its stored length, and its
// CRC-32 once per process (bodies never change under their id). The byte bound and the LRU order
// live in the same database (eviction.ts), so they survive restarts and hold across processes.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { isCurrentMeta, type Entry, type EntryAddress, type EntryMeta, type EntryStore, type FillLock, type Found, type ScannedEntry, type StoredVariant, type StoreUsage } from '../types.js';
import { DecodedRecords } from './decoded-records.js';
import { DiskLru, type Tx } from './eviction.js';
import { transact, type DiskDatabases } from './open.js';
import { bodyBytesOnDisk, CHUNK_BYTES, isRecord, keyOf, keyPart, RECORD_OVERHEAD, urlRecordKey, type EntryRecord, type RecordKey, type StoreRecord, type VaryRecord } from './record.js';
import { HotBodies } from './hot-bodies.js';
import { VerifiedBodies } from './verified.js';
import { uniqueId } from './unique-id.js';
import { TurnMemo } from './turn-memo.js';

export interface DiskEntryStoreOptions {
  /** The store's directory (for the file size in usage()). */
  dir: string;
  cacheSizeBytes: number;
  now: () => number;
  /** A body failed its length or digest check (it is dropped and reads as a miss). */
  onCorrupt?: (url: string, problem: string) => void;
  /** Bytes of recently read bodies this process keeps on the heap (hot-bodies.ts); 0 turns it off. */
  hotBodyBytes?: number;
}

/** The hot-body cache's default: a sixteenth of the cap, at most 32 MiB (bodies up to 4 MiB). */
export const hotBodyBytesFor = (cacheSizeBytes: number): number => Math.min(32 * 2 ** 20, Math.floor(cacheSizeBytes / 16));

export class DiskEntryStore implements EntryStore {
  private readonly lru: DiskLru;
  private readonly verified = new VerifiedBodies();
  private readonly hot: HotBodies;
  private readonly decoded: DecodedRecords;
  /** Plain (no Vary) hits already answered in this event-loop turn (turn-memo.ts). */
  private readonly answered = new TurnMemo<{ found: Found; exp: number }>();
  /** Which stored body a Buffer handed out by lookup is (refresh's `revalidated`). */
  private readonly bodyIds = new WeakMap<Buffer, string>();
  private fileStat: { at: number; bytes: number | undefined } = { at: 0, bytes: undefined };

  constructor(
    private readonly db: DiskDatabases,
    private readonly options: DiskEntryStoreOptions,
  ) {
    this.decoded = new DecodedRecords(db.records);
    this.lru = new DiskLru(db, options.cacheSizeBytes, this.decoded);
    this.hot = new HotBodies(options.hotBodyBytes ?? hotBodyBytesFor(options.cacheSizeBytes));
  }

  maxBodyBytes(headers: Readonly<Record<string, string | string[] | undefined>>): number {
    return Math.max(0, this.options.cacheSizeBytes - RECORD_OVERHEAD - headerBytesOf(headers));
  }

  usage(): StoreUsage {
    const state = this.lru.state();
    return { store: 'disk', entries: state.entries, bytes: state.bytes, evictions: this.lru.counts.evicted, fileBytes: this.fileBytes() };
  }

  /** data.mdb's size, read at most once a second (usage() is read per metrics scrape). */
  private fileBytes(): number | undefined {
    const now = Date.now();
    if (now - this.fileStat.at > 1000) {
      try {
        this.fileStat = { at: now, bytes: statSync(join(this.options.dir, 'data.mdb')).size };
      } catch {
        this.fileStat = { at: now, bytes: undefined };
      }
    }
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
    const bodyId = uniqueId();
    const crc = crc32(body);
    const chunks = Math.max(1, Math.ceil(body.length / CHUNK_BYTES));
    const size = bodyBytesOnDisk(body.length) + metaBytes(entry.meta) + RECORD_OVERHEAD;
    const plain = !address.vary || address.variant === null;
    this.answered.clear();
    await this.written(transact(this.db.root, () => this.lru.update((tx) => {
      const now = this.options.now();
      const exp = now + ttlMs;
      const urlKey = urlRecordKey(address.url);
      const top = this.record(urlKey);
      const sameVary = !plain && top?.k === 'v' && top.exp > now && sameNames(top.vary, address.vary!);
      if (top && !sameVary) this.removeTree(tx, urlKey, top);
      for (let i = 0; i < chunks; i++) this.db.bodies.putSync([bodyId, i], body.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
      const stored: Omit<EntryRecord, 'gen'> = { k: 'e', address: plain ? { url: address.url, vary: null, variant: null } : { ...address }, meta: entry.meta, body: bodyId, chunks, len: body.length, crc, exp, size };
      if (plain) {
        this.lru.write(tx, urlKey, stored);
        return;
      }
      const key = keyOf(address);
      const old = this.record(key);
      if (old) this.lru.remove(tx, key, old, (id, n) => this.dropBody(id, n));
      const variants = sameVary && top?.k === 'v' ? [...new Set([...top.variants, address.variant!])] : [address.variant!];
      const varyExp = Math.max(sameVary && top ? top.exp : 0, exp);
      this.lru.write(tx, urlKey, { k: 'v', url: address.url, vary: address.vary!, variants, exp: varyExp, size: RECORD_OVERHEAD });
      this.lru.write(tx, key, stored);
    })));
    // Committed: the stored bytes are the ones just hashed, so this process's first read of them
    // need not hash them again (a crash that could tear them also empties this set).
    this.verified.add(bodyId);
    await this.written(this.lru.evictIfOver((tx, key, record) => this.removeTree(tx, key, record)));
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
        this.lru.write(tx, key, { ...record, meta, exp, size: bodyBytesOnDisk(record.len) + metaBytes(meta) + RECORD_OVERHEAD });
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
    // The record was read just now, so the body is still stored under this id; a kept copy passed
    // the checks below when it was read, and the id names those bytes for good.
    const kept = this.hot.get(record.body);
    if (kept && kept.length === record.len) return kept;
    let body: Buffer | undefined;
    if (record.chunks === 1) body = this.db.bodies.getBinary([record.body, 0]);
    else {
      const parts: Buffer[] = [];
      for (let i = 0; i < record.chunks; i++) {
        const part = this.db.bodies.getBinary([record.body, i]);
        if (!part) break;
        parts.push(part);
      }
      body = parts.length === record.chunks ? Buffer.concat(parts, record.len) : undefined;
    }
    const problem = !body ? 'body missing' : body.length !== record.len ? `body is ${body.length} bytes, stored ${record.len}` : !this.verified.has(record.body) && crc32(body) !== record.crc ? 'body digest differs' : undefined;
    if (problem) {
      this.options.onCorrupt?.(record.meta.url ?? record.address.url, problem);
      void this.invalidate(record.address.url).catch(() => {});
      return undefined;
    }
    this.verified.add(record.body);
    // Each read makes a new Buffer, so a Buffer names one body id for good; a kept one already has it.
    this.bodyIds.set(body!, record.body);
    this.hot.add(record.body, body!);
    return body;
  }

  private isBody(record: EntryRecord, body: Buffer): boolean {
    const id = this.bodyIds.get(body);
    return id !== undefined ? id === record.body : body.length === record.len && crc32(body) === record.crc;
  }

  /** Remove a record; a URL's Vary record takes its variants along. */
  private removeTree(tx: Tx, key: RecordKey, top: StoreRecord): void {
    if (top.k === 'v' && typeof key === 'string') {
      for (const variant of top.variants) {
        const variantKey: RecordKey = [key, keyPart(variant)];
        const variantRecord = this.record(variantKey);
        if (variantRecord) this.lru.remove(tx, variantKey, variantRecord, (id, n) => this.dropBody(id, n));
      }
    }
    this.lru.remove(tx, key, top, (id, n) => this.dropBody(id, n));
  }

  private dropBody(bodyId: string, chunks: number): void {
    for (let i = 0; i < chunks; i++) this.db.bodies.removeSync([bodyId, i]);
    this.verified.delete(bodyId);
    this.hot.delete(bodyId);
  }
}

function metaBytes(meta: EntryMeta): number {
  return headerBytesOf(meta.headers) * 2 + 256;
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
