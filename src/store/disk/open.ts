// Opens the disk store's LMDB environment in a directory: one memory-mapped file (data.mdb) that
// every process on the host may open at once (LMDB's own reader table and write lock), with the
// named databases the store's parts keep. Opening reads no entry: start-up costs the same at
// 1 KiB and 1 TiB. Nothing here knows what the records mean.
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { OrderKey, RecordKey } from './record.js';

export interface DiskDatabases {
  root: RootDatabase;
  /** Entry and Vary records by store key (record.ts), msgpack. */
  records: Database<unknown, RecordKey>;
  /** Body chunks by [bodyId, index], raw bytes. */
  bodies: Database<Buffer, [string, number]>;
  /** The generational LRU order: [generation, record key] → 1 (eviction.ts). */
  order: Database<number, OrderKey>;
  /** Counters shared by every process: bytes held, current generation (eviction.ts). */
  state: Database<unknown, string>;
}

// msgpack without records: msgpackr otherwise tags objects with record ids that only a shared
// structure table (one more thing for every process to agree on) makes cheap.
const PLAIN_MSGPACK = { encoding: 'msgpack', useRecords: false } as const;

/** The directory holding the store, created (0700: cached pages may be private) when missing. */
export function openDiskDatabases(dir: string): DiskDatabases {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const root = open({
    path: dir,
    ...PLAIN_MSGPACK,
    maxDbs: 12,
    // Readers: one per process and thread; workers, admin tools and tests open the same file.
    maxReaders: 510,
  });
  return {
    root,
    records: root.openDB<unknown, RecordKey>('records', PLAIN_MSGPACK),
    bodies: root.openDB<Buffer, [string, number]>({ name: 'bodies', encoding: 'binary' }),
    order: root.openDB<number, OrderKey>({ name: 'order', encoding: 'msgpack' }),
    state: root.openDB<unknown, string>('state', PLAIN_MSGPACK),
  };
}
