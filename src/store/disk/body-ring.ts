// The disk store's bodies: one file used as a ring (as ATS's cache volumes and Squid's rock store
// do), outside LMDB. A body is written once, at the ring's head, with a positioned write and no
// fsync; the head moves on and, a lap later, overwrites it. LMDB keeps only the records, which
// name a body by its absolute position (a number that only grows, so it also names the body for
// good). Why: with bodies inside LMDB, every stored body was copied into B-tree pages and synced
// with them (about 220 KB written per request for 30 KB bodies at a small cap), and freeing pages
// for new bodies took eviction transactions of their own.
//
// The file's first page keeps the frontier: a position at or past every byte handed out so far.
// Writers (under LMDB's write lock, which serialises every process's reservations) move it on in
// steps, before any byte past the old frontier is written, so it is written once per step, not per
// body. A reader that reads a body and then finds the frontier at most one ring length past the
// body's start knows no writer could have touched those bytes while it read. A torn body after a
// machine crash (a record synced before its unsynced body reached the disk) is caught by the
// length and CRC-32 checks (entry-store.ts).
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** The file's first page: magic, ring length, frontier. Bodies start after it. */
const HEADER_BYTES = 4096;
const MAGIC = 0x31474e4952505445n; // "ETPRING1", little-endian
const RING_OFFSET = 8;
const FRONTIER_OFFSET = 16;
const HEADER_FIELDS = 24;

export const BODY_FILE = 'bodies.ring';

export class BodyRing {
  private readonly fd: number;
  private readonly scratch = Buffer.alloc(16);

  /** Opens (creating when missing) the ring file in `dir`. */
  constructor(
    dir: string,
    /** Bytes of bodies the ring holds. */
    readonly length: number,
  ) {
    this.fd = openSync(join(dir, BODY_FILE), constants.O_RDWR | constants.O_CREAT, 0o600);
  }

  /** True when the file was made for a ring of this length. */
  matches(): boolean {
    const header = Buffer.alloc(HEADER_FIELDS);
    const read = fstatSync(this.fd).size >= header.length ? readSync(this.fd, header, 0, header.length, 0) : 0;
    return read === header.length && header.readBigUInt64LE(0) === MAGIC && header.readDoubleLE(RING_OFFSET) === this.length;
  }

  /** Empties the file and writes its header for this length, frontier at 0 (under LMDB's write lock). */
  reset(): void {
    const header = Buffer.alloc(HEADER_FIELDS);
    header.writeBigUInt64LE(MAGIC, 0);
    header.writeDoubleLE(this.length, RING_OFFSET);
    header.writeDoubleLE(0, FRONTIER_OFFSET);
    ftruncateSync(this.fd, 0);
    writeAll(this.fd, header, 0);
  }

  /**
   * The frontier (read from the file: every process's reservations count). Infinity when another
   * process reset the file for another ring length (another --cache-size on the same directory):
   * then nothing here is live and writers refuse.
   */
  frontier(): number {
    if (readSync(this.fd, this.scratch, 0, 16, RING_OFFSET) !== 16) return Infinity;
    return this.scratch.readDoubleLE(0) === this.length ? this.scratch.readDoubleLE(8) : Infinity;
  }

  /** Only under LMDB's write lock, never backwards, and before writing any byte up to `frontier`. */
  setFrontier(frontier: number): void {
    const bytes = Buffer.alloc(8);
    bytes.writeDoubleLE(frontier, 0);
    writeAll(this.fd, bytes, FRONTIER_OFFSET);
  }

  /** Where a body of `bytes` goes at or after `head`: a body never wraps round the ring's end. */
  place(head: number, bytes: number): number {
    const offset = head % this.length;
    return offset + bytes > this.length ? head - offset + this.length : head;
  }

  /** True while the bytes at `position` have not been handed out again. */
  isLive(position: number): boolean {
    return position >= this.frontier() - this.length;
  }

  /** Only for a position below the frontier set, and above the frontier before it less one ring. */
  write(position: number, body: Buffer): void {
    writeAll(this.fd, body, HEADER_BYTES + (position % this.length));
  }

  /**
   * The body at `position`, or undefined when its place was handed out again before the read
   * ended (the record is stale: its region belongs to a newer body). A short read (a truncated
   * file) returns the bytes there are, for the caller's length check.
   */
  read(position: number, length: number): Buffer | undefined {
    const body = this.readRaw(position, length);
    return this.isLive(position) ? body : undefined;
  }

  /** The bytes at `position` with no check: for the writer, under the write lock. */
  readRaw(position: number, length: number): Buffer {
    // A Buffer of its own: the pipeline writes it to the socket later, and the hot-body cache keeps it.
    const body = Buffer.allocUnsafeSlow(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, body, done, length - done, HEADER_BYTES + (position % this.length) + done);
      if (n === 0) return body.subarray(0, done);
      done += n;
    }
    return body;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function writeAll(fd: number, bytes: Buffer, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
