// The byte bound and a generational LRU kept in the database itself, so both survive restarts and
// every process on the host sees one count. Records carry the generation of their last use; the
// generation advances each time a sixteenth of the cap has been written. A hit on a record from an
// older generation moves it to the current one (one small write per record per generation, not
// per hit), and eviction removes records oldest generation first until the store is back under
// 95 % of its cap. Within a generation the order is by key: LRU to within 1/16 of the cap.
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
// How stale this process's idea of the current generation may get before a hit reads the shared
// counters again. Another process's advance is then seen that much later: a hit in that window is
// not moved to the new generation (LRU accuracy only). This process's own advances are seen at once.
const GEN_READ_MS = 100;
// A hit moves its record to the current generation only when the record is this many generations
// behind: a record keeps at least 12 of the 16 generations' worth of the cap after its last use
// (LRU to within a quarter of the cap), and a Zipf crawl's hot set is rewritten a quarter as often
// (each move is a write transaction that re-encodes the record).
const TOUCH_LAG = 4;

export class DiskLru {
  private readonly touching = new Set<string>();
  private evicting = false;
  /** Records moved to a newer generation since start, and records evicted by this process. */
  readonly counts = { touched: 0, evicted: 0, evictedBytes: 0 };
  /** The counters are read on every hit (touch): decoded once per change, not per read. */
  private readonly decodedState: DecodedRecords<string>;

  /** Bytes the live records may hold: the cap less room for LMDB's free pages. */
  private readonly capBytes: number;
  /** The current generation as last read or written here, and when it was read (performance.now()). */
  private knownGen = 0;
  private knownGenAt = -Infinity;

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
      this.knownGen = tx.state.gen;
    }
    tx.changed = true;
  }

  remove(tx: Tx, key: RecordKey, record: StoreRecord, dropBody: DropBody): void {
    if (record.k === 'e') dropBody(record.body, record.chunks);
    this.db.records.removeSync(key);
    this.records.forget(key);
    this.db.order.removeSync(orderKey(record.gen, key));
    tx.state.bytes -= record.size;
    tx.state.entries--;
    tx.changed = true;
  }

  /** A hit: move the record to the current generation when it is from an older one (in the background). */
  touch(key: RecordKey, record: StoreRecord): void {
    if (record.gen > this.currentGen() - TOUCH_LAG) return;
    const id = typeof key === 'string' ? key : `${key[0]}\n${key[1]}`;
    if (this.touching.has(id)) return;
    this.touching.add(id);
    transact(this.db.root, () => {
      const now = this.records.get(key) as StoreRecord | undefined;
      // Gone, or replaced by another body since the hit: nothing to move.
      if (!now || now.gen !== record.gen || (now.k === 'e' && record.k === 'e' && now.body !== record.body)) return;
      const { gen } = this.state();
      this.db.order.removeSync(orderKey(now.gen, key));
      this.putRecord(key, { ...now, gen });
      this.db.order.putSync(orderKey(gen, key), 1);
      this.counts.touched++;
    })
      // A failed move costs LRU accuracy only; the store's write errors are reported by put.
      .catch(() => {})
      .finally(() => this.touching.delete(id));
  }

  /**
   * The generation a hit compares with: the shared counters are read (and decoded, when they
   * changed) at most every GEN_READ_MS, not on every hit; never older than this process's writes.
   */
  private currentGen(): number {
    const now = performance.now();
    if (now - this.knownGenAt >= GEN_READ_MS) {
      const stored = this.decodedState.get(STATE_KEY) as DiskState | undefined;
      // The file's figure wins: an advance written here whose commit then failed is forgotten.
      this.knownGen = stored?.gen ?? 1;
      this.knownGenAt = now;
    }
    return this.knownGen;
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
      const before = tx.state.bytes;
      removeTree(tx, key, record);
      this.counts.evicted++;
      this.counts.evictedBytes += before - tx.state.bytes;
    }
    return tx.state.bytes > target;
  }
}
