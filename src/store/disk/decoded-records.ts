// Records this process has decoded, kept with the bytes they came from. A hit reads its record's
// bytes as a view into lmdb's shared read buffer (getBinaryFast: no copy, no allocation; the view
// is overwritten by the next read, so it is only compared here, synchronously, never kept) and,
// when they equal the bytes kept, returns the object decoded before; otherwise it reads the record
// again through get(). So a hot hit neither decodes msgpack nor makes a new meta object, and the
// pipeline's per-meta work (the head built in stored-head.ts, kept on the meta object) is done
// once per stored version, as with the memory store.
// Whatever another process wrote is seen at once: it changes the bytes. The records handed out are
// shared and must not be mutated (the store only spreads them into new records).
import type { Database } from 'lmdb';
import type { RecordKey } from './record.js';

const MAX_RECORDS = 4096;

interface Decoded {
  bytes: Buffer;
  value: unknown;
}

export class DecodedRecords<K extends RecordKey = RecordKey> {
  private readonly decoded = new Map<string, Decoded>();

  constructor(private readonly records: Database<unknown, K>) {}

  get(key: K): unknown {
    const view = this.records.getBinaryFast(key);
    if (view === undefined) return undefined;
    // The reused buffer is larger than the value: lmdb sets its `length` to the value's size
    // (documented for getBinaryFast), while its memory runs on (`byteLength`).
    const size = view.length;
    const id = idOf(key);
    const kept = this.decoded.get(id);
    if (kept && kept.bytes.length === size && kept.bytes.compare(view, 0, size) === 0) return kept.value;
    const bytes = copyOf(view);
    // Decoded by lmdb's public get(): synchronous reads in one turn of the event loop share one
    // read transaction, so it reads the same version as the bytes above.
    const value: unknown = this.records.get(key);
    this.keep(id, bytes, value, kept !== undefined);
    return value;
  }

  /**
   * Inside the write transaction that has just put `value` at `key`: keep it with the bytes it was
   * encoded to (read back from the transaction), so the next hit neither decodes it nor makes a new
   * meta. If the transaction does not commit, the file's bytes differ and get() decodes them.
   */
  seed(key: K, value: unknown): void {
    const view = this.records.getBinaryFast(key);
    if (view === undefined) return;
    const id = idOf(key);
    this.keep(id, copyOf(view), value, this.decoded.has(id));
  }

  forget(key: K): void {
    this.decoded.delete(idOf(key));
  }

  private keep(id: string, bytes: Buffer, value: unknown, replacing: boolean): void {
    if (this.decoded.size >= MAX_RECORDS && !replacing) {
      // Oldest inserted first out: a bound, not an LRU (a miss costs one decode).
      const oldest = this.decoded.keys().next().value;
      if (oldest !== undefined) this.decoded.delete(oldest);
    }
    this.decoded.set(id, { bytes, value });
  }
}

const idOf = (key: RecordKey): string => (typeof key === 'string' ? key : `${key[0]}\u0000${key[1]}`);

/** A copy: the view is reused by the next read. */
const copyOf = (view: Buffer): Buffer => Buffer.from(Buffer.from(view.buffer, view.byteOffset, view.length));
