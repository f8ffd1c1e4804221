// The byte bound and the eviction order, both given by the body ring (body-ring.ts): a record
// takes a reservation of the ring as large as it counts (its body, its header fields, its
// bookkeeping), and when the ring's head comes round to a reservation a lap later, the record is
// evicted: first in, first out, across restarts and across every process on the host, with no
// counter to keep apart from the head. A hit writes nothing: this process notes the record as used
// (in memory), and a noted record the head comes round to is moved to the head instead (its body
// copied there, in the same transaction): a second chance, as in CLOCK, so a record stays while it
// is used at least once per lap. The order of the reservations is kept in the database ([position,
// record key]), so eviction reads the oldest records first without a scan.
import type { BodyRing } from './body-ring.js';
import { DecodedRecords } from './decoded-records.js';
import type { DiskDatabases } from './open.js';
import { keyFromOrder, orderKey, type EntryRecord, type RecordKey, type StoreRecord } from './record.js';

export interface DiskState {
  /** Bytes counted for every live record (record.ts `size`). */
  bytes: number;
  entries: number;
  /** Where the next reservation starts. */
  head: number;
  /** The frontier as of the last commit (the file's may be ahead: body-ring.ts). */
  frontier: number;
  /** The ring length the records were written for. */
  ring: number;
}

/** A write transaction's view of the shared counters, written once when its work is done (update). */
export interface Tx {
  state: DiskState;
  changed: boolean;
}

export type RemoveTree = (tx: Tx, key: RecordKey, record: StoreRecord) => void;
type DropBody = (position: number) => void;
/** A moving record's body, when this process holds it (and now holds it under `movedTo`). */
export type KeptBody = (record: EntryRecord, movedTo: number) => Buffer | undefined;

export const emptyState = (ring: number): DiskState => ({ bytes: 0, entries: 0, head: 0, frontier: 0, ring });

export const STATE_KEY = 'usage';
// Records noted as used, at most: past it the note made longest ago is dropped (that record may
// then be evicted once without its second chance). 64 Ki notes of 100-character URL keys are
// about 10 MB of heap (keys longer than 480 bytes are a 44-character digest: record.ts keyPart).
const MAX_USED_NOTES = 65_536;
// A record larger than this share of the ring gets no second chance: moving it would push out
// many others.
const LARGEST_MOVED_SHARE = 1 / 8;
// The frontier moves a 64th of the ring at a time: one write of the file's header per step, and
// records up to a step ahead of the head are evicted early (a 64th of the cache).
const FRONTIER_STEPS = 64;

export class DiskLru {
  /**
   * Records this process answered a hit from since the head last came round to them, by key id.
   * Only this process's hits: another worker's are noted in that worker, and are lost with a
   * restart. LRU accuracy only.
   */
  private readonly used = new Set<string>();
  /** Records given a second chance (moved to the head) and records evicted, by this process. */
  readonly counts = { touched: 0, evicted: 0, evictedBytes: 0 };
  /** The counters are read on every write: decoded once per change, not per read. */
  private readonly decodedState: DecodedRecords<string>;
  /** How far the frontier moves at a time. */
  private readonly step: number;

  constructor(
    private readonly db: DiskDatabases,
    private readonly ring: BodyRing,
    /** The entry store's decoded records: reads here skip msgpack when the bytes are known, writes seed it. */
    private readonly records: DecodedRecords,
    /** How the entry store removes an evicted record (a URL's Vary record takes its variants along). */
    private readonly removeTree: RemoveTree,
    /** A moving body this process holds, saving a read of the ring. */
    private readonly kept: KeptBody,
  ) {
    this.decodedState = new DecodedRecords(db.state);
    this.step = Math.max(4096, Math.floor(ring.length / FRONTIER_STEPS));
  }

  /** A copy: the decoded object is shared (decoded-records.ts) and transactions change theirs. */
  state(): DiskState {
    const stored = this.decodedState.get(STATE_KEY) as DiskState | undefined;
    return stored ? { ...stored } : emptyState(this.ring.length);
  }

  /**
   * Work on records inside a write transaction (db.root.transaction), with the counters written
   * once at the end, also when the work throws: lmdb-js keeps the writes of a callback that threw
   * (its batch commits), so the counters must follow them.
   */
  update<T>(work: (tx: Tx) => T): T {
    const tx: Tx = { state: this.state(), changed: false };
    try {
      return work(tx);
    } finally {
      if (tx.changed) this.db.state.putSync(STATE_KEY, tx.state);
    }
  }

  /**
   * A reservation of `bytes` at the ring's head, with `body` written at its start. When it ends
   * past the frontier, the frontier moves on a step: the records it passes are evicted or moved
   * to the head first, then the frontier is written (before any byte past the old one:
   * body-ring.ts), then the bytes go to the file. Returns the reservation's position.
   */
  reserve(tx: Tx, bytes: number, body: Buffer | undefined): number {
    const start = this.ring.place(tx.state.head, bytes);
    let end = start + bytes;
    const writes: Array<[number, Buffer]> = body?.length ? [[start, body]] : [];
    let frontier = tx.state.frontier;
    while (end > frontier) {
      const written = this.ring.frontier();
      if (written === Infinity) throw new Error('disk store: another process started this directory with another --cache-size; storing nothing');
      frontier = Math.max(written, end + this.step);
      end = this.evictBelow(tx, frontier - this.ring.length, end, writes);
    }
    if (frontier !== tx.state.frontier) {
      this.ring.setFrontier(frontier);
      tx.state.frontier = frontier;
    }
    tx.state.head = end;
    tx.changed = true;
    for (const [position, bytes] of writes) this.ring.write(position, bytes);
    return start;
  }

  /** Evict (or move to `end`, for a used one) every record below `limit`; returns the new end. */
  private evictBelow(tx: Tx, limit: number, end: number, writes: Array<[number, Buffer]>): number {
    for (;;) {
      const [order] = this.db.order.getKeys({ limit: 1 });
      if (!order || order[0] >= limit) return end;
      this.db.order.removeSync(order);
      const key = keyFromOrder(order);
      const record = this.records.get(key) as StoreRecord | undefined;
      if (!record || record.pos !== order[0]) continue; // left behind by a writer that did not commit
      if (this.used.delete(idOf(key)) && record.size <= this.ring.length * LARGEST_MOVED_SHARE) {
        // Used since the frontier last passed it: to the head, not out.
        const moved = this.ring.place(end, record.size);
        if (record.k === 'e' && record.len > 0) writes.push([moved, this.kept(record, moved) ?? this.ring.readRaw(record.pos, record.len)]);
        this.putRecord(key, { ...record, pos: moved });
        this.db.order.putSync(orderKey(moved, key), 1);
        end = moved + record.size;
        this.counts.touched++;
        continue;
      }
      const before = tx.state.bytes;
      this.removeTree(tx, key, record);
      this.counts.evicted++;
      this.counts.evictedBytes += before - tx.state.bytes;
    }
  }

  private putRecord(key: RecordKey, record: StoreRecord): void {
    this.db.records.putSync(key, record);
    this.records.seed(key, record);
  }

  /** Store `record` (its reservation made: reserve) at `key`, replacing what was there. */
  write(tx: Tx, key: RecordKey, record: StoreRecord): void {
    const old = this.records.get(key) as StoreRecord | undefined;
    if (old) {
      if (old.pos !== record.pos) this.db.order.removeSync(orderKey(old.pos, key));
      tx.state.bytes -= old.size;
      tx.state.entries--;
    }
    this.putRecord(key, record);
    if (old?.pos !== record.pos) this.db.order.putSync(orderKey(record.pos, key), 1);
    tx.state.bytes += record.size;
    tx.state.entries++;
    tx.changed = true;
  }

  remove(tx: Tx, key: RecordKey, record: StoreRecord, dropBody: DropBody): void {
    if (record.k === 'e') dropBody(record.pos);
    this.db.records.removeSync(key);
    this.records.forget(key);
    this.used.delete(idOf(key));
    this.db.order.removeSync(orderKey(record.pos, key));
    tx.state.bytes -= record.size;
    tx.state.entries--;
    tx.changed = true;
  }

  /** A hit: note the record as used, for eviction's second chance (nothing is written). */
  touch(key: RecordKey): void {
    const id = idOf(key);
    if (this.used.has(id)) return;
    if (this.used.size >= MAX_USED_NOTES) {
      const oldest = this.used.values().next().value;
      if (oldest !== undefined) this.used.delete(oldest);
    }
    this.used.add(id);
  }
}

const idOf = (key: RecordKey): string => (typeof key === 'string' ? key : `${key[0]}\n${key[1]}`);
