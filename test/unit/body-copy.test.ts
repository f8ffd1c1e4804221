// The store's copy of a body (pipeline/body.ts): memory is taken as bytes arrive, never for a body
// the store could not keep (issue 18, items 1 and 7), and a large stored body goes to the client
// in pieces, each after the last was taken (so the send deadline sees a slow reader's progress).
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { BodyCopy, sendBody } from '../../src/pipeline/body.js';
import { MemoryEntryStore } from '../../src/store/memory/entry-store.js';

const MiB = 1024 * 1024;
const chunk = (bytes: number, fill = 7) => Buffer.alloc(bytes, fill);

describe('BodyCopy', () => {
  it('holds nothing for a body whose Content-Length is over the cap, and yields no body', () => {
    const copy = new BodyCopy(600 * MiB, 16 * MiB);
    for (let i = 0; i < 64; i++) copy.add(chunk(64 * 1024));
    expect(copy.held).toBe(0);
    expect(copy.keeping).toBe(false);
    expect(copy.result()).toBeNull();
  });

  it('takes memory as the bytes arrive, not the whole Content-Length up front, and ends in a buffer of exactly the body', () => {
    const copy = new BodyCopy(16 * MiB, 16 * MiB);
    copy.add(chunk(100 * 1024));
    expect(copy.held).toBeLessThanOrEqual(256 * 1024);
    for (let sent = 100 * 1024; sent < 16 * MiB; sent += 64 * 1024) copy.add(chunk(Math.min(64 * 1024, 16 * MiB - sent)));
    const body = copy.result()!;
    expect(body.length).toBe(16 * MiB);
    expect(body.buffer.byteLength).toBe(16 * MiB);
    expect(copy.held).toBe(0);
  });

  it('allocates a small body of known length once, outside the shared pool', () => {
    const copy = new BodyCopy(100, 16 * MiB);
    copy.add(chunk(60, 1));
    copy.add(chunk(40, 2));
    const body = copy.result()!;
    expect(body.buffer.byteLength).toBe(100);
    expect(body.subarray(0, 60).every((b) => b === 1) && body.subarray(60).every((b) => b === 2)).toBe(true);
  });

  it('drops a chunked body that outgrows the cap, and lets go of what it held', () => {
    const copy = new BodyCopy(undefined, MiB);
    copy.add(chunk(MiB - 10));
    expect(copy.held).toBeGreaterThan(0);
    copy.add(chunk(20));
    expect(copy.held).toBe(0);
    expect(copy.result()).toBeNull();
  });

  it('trims a chunked body to its length', () => {
    const copy = new BodyCopy(undefined, MiB);
    copy.add(chunk(70 * 1024));
    const body = copy.result()!;
    expect(body.length).toBe(70 * 1024);
    expect(body.buffer.byteLength).toBe(70 * 1024);
  });

  it('yields no body when fewer bytes came than the Content-Length said, or after drop()', () => {
    const short = new BodyCopy(1000, MiB);
    short.add(chunk(999));
    expect(short.result()).toBeNull();
    const dropped = new BodyCopy(10, MiB);
    dropped.add(chunk(10));
    dropped.drop();
    expect(dropped.held).toBe(0);
    expect(dropped.result()).toBeNull();
  });
});

describe("the memory store's largest body", () => {
  it('is what fits in --cache-size beside the record, so a larger one is never buffered for it', () => {
    const store = new MemoryEntryStore(MiB);
    const headers = { 'content-type': 'text/plain', 'cache-control': 'max-age=60' };
    const largest = store.maxBodyBytes(headers);
    expect(largest).toBeLessThan(MiB);
    expect(largest).toBeGreaterThan(MiB - 2000);
    expect(new MemoryEntryStore(100).maxBodyBytes(headers)).toBe(0);
  });
});

/** A ServerResponse that takes one write at a time and says when it drained. */
class FakeResponse extends EventEmitter {
  destroyed = false;
  readonly writes: Buffer[] = [];
  ended: Buffer | undefined;
  finished = false;
  readonly req = { socket: {} };
  write(piece: Buffer): boolean {
    this.writes.push(piece);
    return false;
  }
  end(piece?: Buffer): void {
    this.ended = piece;
    this.finished = true;
  }
}

describe('sendBody', () => {
  it('ends with a small body in one write', () => {
    const res = new FakeResponse();
    expect(sendBody(res as unknown as ServerResponse, chunk(1000))).toBeUndefined();
    expect(res.writes).toHaveLength(0);
    expect(res.ended?.length).toBe(1000);
  });

  it('writes a large body in pieces, the next only once the client took the last', async () => {
    const res = new FakeResponse();
    const body = Buffer.alloc(MiB);
    for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
    const sending = sendBody(res as unknown as ServerResponse, body);
    expect(sending).toBeInstanceOf(Promise);
    expect(res.writes).toHaveLength(1);
    while (!res.finished) res.emit('drain');
    await sending;
    expect(res.writes.length).toBeGreaterThan(4);
    expect(Buffer.concat([...res.writes, res.ended!]).equals(body)).toBe(true);
  });

  it('rejects when the client goes first', async () => {
    const res = new FakeResponse();
    const sending = sendBody(res as unknown as ServerResponse, Buffer.alloc(MiB));
    res.emit('close');
    await expect(sending).rejects.toMatchObject({ code: 'client_gone' });
  });
});

describe('BodyCopy into the memory store\'s room (reserveBody)', () => {
  const meta = (length: number) => ({ v: 2 as const, status: 200, headers: {}, policy: {} as never, storedAt: 0, bodyLength: length });
  const address = { url: 'http://example.test/r', vary: null, variant: null };

  it('writes a body of known length straight into a page of the store, which keeps those bytes on put (no second copy)', async () => {
    const store = new MemoryEntryStore(4 * MiB);
    const copy = new BodyCopy(100 * 1024, 16 * MiB, (length) => store.reserveBody(length));
    copy.add(chunk(60 * 1024, 1));
    copy.add(chunk(40 * 1024, 2));
    const body = copy.result()!;
    expect(store.pool.pageHolding(body)).toBeDefined();
    await store.put(address, { meta: meta(body.length), body }, 60_000);
    copy.release();
    const found = store.lookup(address.url, () => '')!;
    expect(found.entry.body).toBe(body);
    expect(found.entry.body.subarray(0, 60 * 1024).every((byte) => byte === 1)).toBe(true);
    expect(found.entry.body.subarray(60 * 1024).every((byte) => byte === 2)).toBe(true);
    await store.close();
  });

  it('gives the room back when the body fails, outgrows its length or is not stored', () => {
    const store = new MemoryEntryStore(4 * MiB);
    const failed = new BodyCopy(100 * 1024, 16 * MiB, (length) => store.reserveBody(length));
    failed.add(chunk(10 * 1024));
    expect(store.poolUsage().pinnedPages).toBe(1);
    failed.drop();
    expect(store.poolUsage().pinnedPages).toBe(0);
    const outgrown = new BodyCopy(10, 16 * MiB, (length) => store.reserveBody(length));
    outgrown.add(chunk(11));
    expect(outgrown.result()).toBeNull();
    expect(store.poolUsage().pinnedPages).toBe(0);
    const notStored = new BodyCopy(10, 16 * MiB, (length) => store.reserveBody(length));
    notStored.add(chunk(10));
    expect(notStored.result()).not.toBeNull();
    expect(store.poolUsage().pinnedPages).toBe(1);
    notStored.release();
    notStored.release();
    expect(store.poolUsage().pinnedPages).toBe(0);
  });

  it('falls back to a buffer of its own for a body larger than a page or of unknown length', () => {
    const store = new MemoryEntryStore(64 * MiB);
    const large = new BodyCopy(2 * MiB, 16 * MiB, (length) => store.reserveBody(length));
    large.add(chunk(2 * MiB));
    expect(store.pool.pageHolding(large.result()!)).toBeUndefined();
    const chunked = new BodyCopy(undefined, 16 * MiB, (length) => store.reserveBody(length));
    chunked.add(chunk(1000));
    expect(store.pool.pageHolding(chunked.result()!)).toBeUndefined();
  });
});
