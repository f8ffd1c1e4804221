// The byte bound and a generational LRU kept in the database itself, so both survive restarts and
// every process on the host sees one count. Records carry the generation they were written or last
// moved in; the generation advances each time a sixteenth of the cap has been written. A hit
// writes nothing: this process notes the record as used (in memory), and eviction, which removes
// records oldest generation first until the store is back under 95 % of its cap, moves a noted
// record to the current generation instead of removing it (a second chance, as in CLOCK). So a
// record survives while it is used at least once per turnover of the cache, and a hot record is
// rewritten once per turnover, inside an eviction transaction, instead of once per few hits in a
// transaction of its own. Within a generation the order is by key.
import { DecodedRecords } from './decoded-records.js';
import { transact, type DiskDatabases } from './open.js';
import { keyFromOrder, orderKey, type RecordKey, type StoreRecord } from './record.js';

export interface DiskState {
  /** Bytes counted for every record (record.ts `size`). */
  bytes: number;
  entries: number;
  gen: number;
  /** Bytes written in the current generation. */
  written: number;
}

/** A write transaction's view of the shared counters, written once when its work is done (update). */
export interface Tx {
  state: DiskState;
  changed: boolean;
}

type Unstamped<R> = R extends StoreRecord ? Omit<R, 'gen'> & { gen?: number } : never;
type DropBody = (bodyId: string, chunks: number) => void;
export type RemoveTree = (tx: Tx, key: RecordKey, record: StoreRecord) => void;

const STATE_KEY = 'usage';
const GENERATIONS_PER_CAP = 16;
const LOW_WATER = 0.95;
// Share of --cache-size the live records may hold. The rest is for LMDB's free pages: a body
// needs a run of contiguous pages, so pages freed by eviction are reused only in part and the
// file grows past the live data (by 9–14 % in a crawl of 4–64 KB bodies, page rounding counted;
// bench:crawl). Without this room, data.mdb ended at 1.12–1.18× the cap.
const LIVE_SHARE = 0.88;
const EVICT_BATCH = 64;
// Records noted as used, at most: past it the note made longest ago is dropped (that record may
// then be evicted once without its second chance). 64 Ki notes of 100-character URL keys are
// about 10 MB of heap (keys longer than 480 bytes are a 44-character digest: record.ts keyPart).
const MAX_USED_NOTES = 65_536;

export class DiskLru {
  /**
   * Records this process answered a hit from since eviction last looked at them, by key id.
   * Only this process's hits: another worker's are noted in that worker, and are lost with a
   * restart (the order in the file is that of the last moves). LRU accuracy only.
   */
  private readonly used = new Set<string>();
  private evicting = false;
  /** Records given a second chance (moved to the current generation) and records evicted, by this process. */
  readonly counts = { touched: 0, evicted: 0, evictedBytes: 0 };
  /** The counters are read on every hit (touch): decoded once per change, not per read. */
  private readonly decodedState: DecodedRecords<string>;

  /** Bytes the live records may hold: the cap less room for LMDB's free pages. */
  private readonly capBytes: number;

  constructor(
    private readonly db: DiskDatabases,
    cacheSizeBytes: number,
    /** The entry store's decoded records: reads here skip msgpack when the bytes are known, writes seed it. */
    private readonly records: DecodedRecords = new DecodedRecords(db.records),
  ) {
    this.capBytes = cacheSizeBytes * LIVE_SHARE;
    this.decodedState = new DecodedRecords(db.state);
  }

  /** A copy: the decoded object is shared (decoded-records.ts) and transactions change theirs. */
  state(): DiskState {
    const stored = this.decodedState.get(STATE_KEY) as DiskState | undefined;
    return stored ? { ...stored } : { bytes: 0, entries: 0, gen: 1, written: 0 };
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

  private putRecord(key: RecordKey, record: StoreRecord): void {
    this.db.records.putSync(key, record);
    this.records.seed(key, record);
  }

  /** Store `record` at `key` in the current generation, replacing what was there. */
  write(tx: Tx, key: RecordKey, record: Unstamped<StoreRecord>): void {
    const old = this.records.get(key) as StoreRecord | undefined;
    if (old) {
      this.db.order.removeSync(orderKey(old.gen, key));
      tx.state.bytes -= old.size;
      tx.state.entries--;
    }
    const gen = tx.state.gen;
    this.putRecord(key, { ...record, gen } as StoreRecord);
    this.db.order.putSync(orderKey(gen, key), 1);
    tx.state.bytes += record.size;
    tx.state.entries++;
    tx.state.written += record.size;
    if (tx.state.written >= this.capBytes / GENERATIONS_PER_CAP) {
      tx.state.gen++;
      tx.state.written = 0;
    }
    tx.changed = true;
  }

  remove(tx: Tx, key: RecordKey, record: StoreRecord, dropBody: DropBody): void {
    if (record.k === 'e') dropBody(record.body, record.chunks);
    this.db.records.removeSync(key);
    this.records.forget(key);
    this.used.delete(idOf(key));
    this.db.order.removeSync(orderKey(record.gen, key));
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

  /** After a write: evict the oldest generations until the store is under its low-water mark. */
  async evictIfOver(removeTree: RemoveTree): Promise<void> {
    if (this.evicting || this.state().bytes <= this.capBytes) return;
    this.evicting = true;
    try {
      let more = true;
      while (more) {
        more = await transact(this.db.root, () => this.update((tx) => this.evictBatch(tx, removeTree)));
      }
    } finally {
      this.evicting = false;
    }
  }

  /** One transaction's worth of eviction; true when more is needed. */
  private evictBatch(tx: Tx, removeTree: RemoveTree): boolean {
    const target = this.capBytes * LOW_WATER;
    if (tx.state.bytes <= target) return false;
    const oldest = [...this.db.order.getKeys({ limit: EVICT_BATCH })];
    if (!oldest.length) return false;
    for (const order of oldest) {
      if (tx.state.bytes <= target) return false;
      const key = keyFromOrder(order);
      const record = this.records.get(key) as StoreRecord | undefined;
      if (!record || record.gen !== order[0]) {
        this.db.order.removeSync(order); // left behind by a crash-free but racing writer: harmless
        continue;
      }
      if (this.used.delete(idOf(key))) {
        // Used since it was written or last moved: to the current generation, not out.
        this.db.order.removeSync(order);
        this.putRecord(key, { ...record, gen: tx.state.gen });
        this.db.order.putSync(orderKey(tx.state.gen, key), 1);
        this.counts.touched++;
        continue;
      }
      const before = tx.state.bytes;
      removeTree(tx, key, record);
      this.counts.evicted++;
      this.counts.evictedBytes += before - tx.state.bytes;
    }
    return tx.state.bytes > target;
  }
}

const idOf = (key: RecordKey): string => (typeof key === 'string' ? key : `${key[0]}\n${key[1]}`);
