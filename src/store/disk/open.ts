// Opens the disk store's LMDB environment in a directory: one memory-mapped file (data.mdb) that
// every process on the host may open at once (LMDB's own reader table and write lock), with the
// named databases the store's parts keep. Opening reads no entry: start-up costs the same at
// 1 KiB and 1 TiB. Nothing here knows what the records mean.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { BODY_FILE } from './body-ring.js';
import type { OrderKey, RecordKey } from './record.js';

export interface DiskDatabases {
  root: RootDatabase;
  /** Entry and Vary records by store key (record.ts), msgpack. */
  records: Database<unknown, RecordKey>;
  /** Body chunks of the format before the body ring: only emptied (entry-store.ts startRing). */
  bodies: Database<Buffer, [string, number]>;
  /** The generational LRU order: [generation, record key] → 1 (eviction.ts). */
  order: Database<number, OrderKey>;
  /** Counters shared by every process: bytes held, current generation (eviction.ts). */
  state: Database<unknown, string>;
  /** The fleet's rules (coordination.ts), and the change history (change-log.ts). */
  rules: Database<unknown, string>;
  changes: Database<unknown, [number, number]>;
  changesByUrl: Database<number, [string, number, number]>;
  checks: Database<unknown, string>;
}

/**
 * What is written on almost every request and worth nothing after a reboot: fill locks and the
 * isolate ledger. Its own environment, committed without fsync: a killed process loses nothing
 * (the writes are in the kernel's page cache), and one that cannot be opened (a machine crash
 * mid-write) is started afresh.
 */
export interface VolatileDatabases {
  root: RootDatabase;
  locks: Database<unknown, string>;
  ledger: Database<unknown, string>;
}

// msgpack without records: msgpackr otherwise tags objects with record ids that only a shared
// structure table (one more thing for every process to agree on) makes cheap.
const PLAIN_MSGPACK = { encoding: 'msgpack', useRecords: false } as const;

// lmdb-js takes a path with an extension ("cache.v2", "tmp.x1Y") for a file, not a directory:
// our path is always a directory.
const DIRECTORY = { noSubdir: false } as const;

// lmdb-js batches an event turn's writes behind a commit promise nobody holds: when that commit
// fails (a full disk), the rejection is unhandled and Node exits. Our writes are explicit
// transactions (`transact`), which lmdb-js still groups, so the turn batching adds nothing.
const NO_EVENT_TURN_BATCHING = { eventTurnBatching: false } as const;

/** What the store's files take on disk: data.mdb and the body ring (what --cache-size bounds). */
export function storeFileBytes(dir: string): number {
  const size = (name: string): number => {
    try {
      return statSync(join(dir, name)).size;
    } catch {
      return 0;
    }
  };
  return size('data.mdb') + size(BODY_FILE);
}

/** The directory holding the store, created (0700: cached pages may be private) when missing. */
export function openDiskDatabases(dir: string): DiskDatabases {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const root = open({
    path: dir,
    ...DIRECTORY,
    ...PLAIN_MSGPACK,
    maxDbs: 12,
    // Readers: one per process and thread; workers, admin tools and tests open the same file.
    maxReaders: 510,
    ...NO_EVENT_TURN_BATCHING,
  });
  return {
    root,
    records: root.openDB<unknown, RecordKey>('records', PLAIN_MSGPACK),
    bodies: root.openDB<Buffer, [string, number]>({ name: 'bodies', encoding: 'binary' }),
    order: root.openDB<number, OrderKey>({ name: 'order', encoding: 'msgpack' }),
    state: root.openDB<unknown, string>('state', PLAIN_MSGPACK),
    rules: root.openDB<unknown, string>('rules', PLAIN_MSGPACK),
    changes: root.openDB<unknown, [number, number]>('changes', PLAIN_MSGPACK),
    changesByUrl: root.openDB<number, [string, number, number]>('changes-by-url', PLAIN_MSGPACK),
    checks: root.openDB<unknown, string>('checks', PLAIN_MSGPACK),
  };
}

export function openVolatileDatabases(dir: string): VolatileDatabases {
  const path = join(dir, 'volatile');
  const tryOpen = (): VolatileDatabases => {
    const root = open({ path, ...DIRECTORY, ...PLAIN_MSGPACK, maxDbs: 4, maxReaders: 510, noSync: true, ...NO_EVENT_TURN_BATCHING });
    return { root, locks: root.openDB<unknown, string>('locks', PLAIN_MSGPACK), ledger: root.openDB<unknown, string>('ledger', PLAIN_MSGPACK) };
  };
  try {
    return tryOpen();
  } catch {
    rmSync(path, { recursive: true, force: true });
    return tryOpen();
  }
}

/**
 * A write transaction. When a commit fails, lmdb-js rejects the call with an error whose
 * `commitError` is a second promise that rejects later with the cause (ENOSPC, EIO): handled here,
 * so a full disk never becomes an unhandled rejection.
 */
export function transact<T>(root: RootDatabase, work: () => T): Promise<T> {
  return root.transaction(work).catch((err: unknown) => {
    const later = (err as { commitError?: unknown } | null)?.commitError;
    if (later instanceof Promise) later.catch(() => {});
    throw err;
  });
}
