// The per-process near cache in front of Redis: recently read or written entries with the version
// token they were stored under, and the Vary names of varying URLs, in a byte-bounded LRU.
// It only ever holds hints: entry-store.ts serves a near-cached entry after Redis confirmed its
// version, so a put, refresh or invalidation by any worker is seen at the next lookup.
import type { Entry } from '../types.js';
import { byteLru, type ByteLru } from '../memory/byte-lru.js';

export interface NearEntry {
  kind: 'entry';
  /** The token Redis holds for exactly this meta + body (see record.ts). */
  version: Buffer;
  bodyVersion: Buffer;
  metaBytes: number;
  entry: Entry;
  /** The last check found the meta rewritten by another instance: the next one reads it along. */
  refreshedElsewhere?: boolean;
}

// The body version an entry object was read or written with, kept on the object (never stored):
// a refresh names the body its 304 was about, not whatever the near cache holds by then.
const BODY_VERSION = Symbol('bodyVersion');
type Tagged = Entry & { [BODY_VERSION]?: Buffer };

/** `entry`, marked as holding the body of `bodyVersion`. */
export function withBodyVersion(entry: Entry, bodyVersion: Buffer): Entry {
  (entry as Tagged)[BODY_VERSION] = bodyVersion;
  return entry;
}

/** The body version `entry` was read or written with, when this store made it. */
export function bodyVersionOf(entry: Entry): Buffer | undefined {
  return (entry as Tagged)[BODY_VERSION];
}

export interface NearVary {
  kind: 'vary';
  names: string[];
  /** The Vary record's bytes up to its ids, compared with Redis's to check the names. */
  prefix: Buffer;
}

export type NearRecord = NearEntry | NearVary;

// Key string, Map slot, record, version Buffers and the parsed meta: Node 20 holds about 1.6 KB
// of heap per record for a typical 464-byte meta JSON; this estimate gives 1.8 KB (erring high,
// as the memory store does). The body is counted at its length.
const RECORD_OVERHEAD = 400;
const PARSED_META_FACTOR = 3;

function sizeOf(record: NearRecord): number {
  return record.kind === 'entry'
    ? RECORD_OVERHEAD + record.entry.body.length + record.metaBytes * PARSED_META_FACTOR
    : RECORD_OVERHEAD + record.prefix.length * PARSED_META_FACTOR;
}

export class NearCache {
  private readonly lru: ByteLru<NearRecord> | undefined;

  /** `maxBytes` 0 disables it: every lookup reads the whole entry from Redis. */
  constructor(private readonly maxBytes: number) {
    this.lru = maxBytes > 0 ? byteLru(maxBytes, sizeOf) : undefined;
  }

  get bytes(): number {
    return this.lru?.calculatedSize ?? 0;
  }

  get entries(): number {
    return this.lru?.size ?? 0;
  }

  get(key: string): NearRecord | undefined {
    return this.lru?.get(key);
  }

  entry(key: string): NearEntry | undefined {
    const record = this.lru?.get(key);
    return record?.kind === 'entry' ? record : undefined;
  }

  /**
   * Keep `record` under `key` (a record too large for the bound is not kept, and replaces
   * nothing) and return it, with its body and versions copied out of any larger buffer first.
   */
  remember<R extends NearRecord>(key: string, record: R): R {
    if (!this.lru) return record;
    if (record.kind === 'vary') {
      const kept: NearVary = { kind: 'vary', names: record.names, prefix: own(record.prefix) };
      this.lru.set(key, kept);
      return kept as R;
    }
    if (sizeOf(record) > this.maxBytes) {
      this.lru.delete(key);
      return record;
    }
    const kept: NearEntry = {
      kind: 'entry',
      version: own(record.version),
      bodyVersion: own(record.bodyVersion),
      metaBytes: record.metaBytes,
      entry: { meta: record.entry.meta, body: own(record.entry.body) },
    };
    withBodyVersion(kept.entry, kept.bodyVersion);
    if (record.refreshedElsewhere) kept.refreshedElsewhere = true;
    this.lru.set(key, kept);
    return kept as R;
  }

  forget(key: string): void {
    this.lru?.delete(key);
  }

  clear(): void {
    this.lru?.clear();
  }
}

// Replies are views into node-redis's socket chunks, and small Buffers share Node's 8 KB pool:
// keeping such a view would pin the whole chunk, which the byte bound does not count.
function own(buffer: Buffer): Buffer {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return buffer;
  const copy = Buffer.allocUnsafeSlow(buffer.length);
  buffer.copy(copy);
  return copy;
}
