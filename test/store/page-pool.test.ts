// The memory store's page pool (src/store/memory/page-pool.ts): where bodies go, what a recycled
// page keeps and evicts, pins, large bodies and the byte budget.
import { describe, expect, it } from 'vitest';
import { PagePool, pageSizeFor, type Slot, type SlotOwner } from '../../src/store/memory/page-pool.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** An owner that records what the pool told it, with the body's first byte as its name. */
class Owners {
  readonly evicted: number[] = [];
  readonly moved: number[] = [];
  owner(name: number): SlotOwner {
    return { moved: () => void this.moved.push(name), evicted: () => void this.evicted.push(name) };
  }
}

function put(pool: PagePool, owners: Owners, name: number, length: number): Slot | null {
  const slot = pool.allocate(length, owners.owner(name));
  slot?.body.fill(name);
  return slot;
}

const intact = (slot: Slot, name: number, length: number) => slot.body.length === length && slot.body.every((byte) => byte === name);

describe('page pool', () => {
  it('sizes pages at a 32nd of the cap as a power of two, within 16 KiB … 1 MiB', () => {
    expect(pageSizeFor(64 * MiB)).toBe(1 * MiB);
    expect(pageSizeFor(1024 * MiB)).toBe(1 * MiB);
    expect(pageSizeFor(4 * MiB)).toBe(128 * KiB);
    expect(pageSizeFor(3 * MiB)).toBe(64 * KiB);
    expect(pageSizeFor(100 * KiB)).toBe(16 * KiB);
  });

  it('carves bodies one after another in a page and takes a new page when one is full, within the budget', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 256 * KiB);
    const a = put(pool, owners, 1, 30 * KiB)!;
    const b = put(pool, owners, 2, 30 * KiB)!;
    expect(a.body.buffer).toBe(b.body.buffer);
    expect(b.offset).toBe(30 * KiB);
    const c = put(pool, owners, 3, 30 * KiB)!;
    expect(c.body.buffer).not.toBe(a.body.buffer);
    expect(pool.usage()).toMatchObject({ heldBytes: 128 * KiB, pages: 2, evictions: 0 });
    expect([intact(a, 1, 30 * KiB), intact(b, 2, 30 * KiB), intact(c, 3, 30 * KiB)]).toEqual([true, true, true]);
  });

  it('never holds more than its budget: past it, the oldest page is recycled and its bodies evicted', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 128 * KiB);
    for (let name = 1; name <= 8; name++) put(pool, owners, name, 30 * KiB);
    // Pages: [1,2] [3,4] → recycle [1,2] for 5,6 → recycle [3,4] for 7,8.
    expect(owners.evicted).toEqual([1, 2, 3, 4]);
    expect(pool.usage()).toMatchObject({ heldBytes: 128 * KiB, pages: 2, evictions: 4 });
  });

  it('gives a body read since it was written a second chance: it moves to the front of its recycled page, bytes intact', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 128 * KiB);
    const slots = [1, 2, 3, 4].map((name) => put(pool, owners, name, 20 * KiB)!);
    slots[1]!.hot = true; // body 2 was read
    // Pages: [1,2,3] [4,5]; 6 does not fit in the open page and recycles [1,2,3].
    put(pool, owners, 5, 40 * KiB);
    const six = put(pool, owners, 6, 30 * KiB)!;
    expect(owners.evicted).toEqual([1, 3]);
    expect(owners.moved).toEqual([2]);
    const two = slots[1]!;
    expect(two.live).toBe(true);
    expect(two.offset).toBe(0);
    expect(two.hot).toBe(false);
    expect(intact(two, 2, 20 * KiB)).toBe(true);
    expect(six.body.buffer).toBe(two.body.buffer);
    expect(six.offset).toBe(20 * KiB);
    expect(intact(six, 6, 30 * KiB)).toBe(true);
  });

  it('evicts even a hot body when keeping it would leave no room for the new one', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 64 * KiB);
    const a = put(pool, owners, 1, 40 * KiB)!;
    a.hot = true;
    put(pool, owners, 2, 40 * KiB);
    expect(owners.evicted).toEqual([1]);
    expect(a.live).toBe(false);
  });

  it('skips a pinned page (a client still reads from it) and recycles it once released', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 128 * KiB);
    const a = put(pool, owners, 1, 60 * KiB)!;
    put(pool, owners, 2, 60 * KiB);
    const release = pool.pin(a);
    // Only page [2] may be recycled; [1] stays whole while pinned.
    put(pool, owners, 3, 60 * KiB);
    expect(owners.evicted).toEqual([2]);
    expect(intact(a, 1, 60 * KiB)).toBe(true);
    expect(pool.usage().pinnedPages).toBe(1);
    // Every other page is the open one or pinned: nothing can take a body now.
    pool.pin(a)(); // a second pin, released at once
    const b = put(pool, owners, 4, 60 * KiB);
    expect(b).not.toBeNull(); // [3] was sealed and unpinned: recycled
    expect(owners.evicted).toEqual([2, 3]);
    const pinnedToo = pool.pin(b!);
    expect(put(pool, owners, 5, 60 * KiB)).toBeNull();
    expect(intact(a, 1, 60 * KiB)).toBe(true);
    release();
    release(); // a second call changes nothing
    pinnedToo();
    expect(pool.usage().pinnedPages).toBe(0);
    expect(put(pool, owners, 6, 60 * KiB)).not.toBeNull();
    expect(owners.evicted).toEqual([2, 3, 1]);
  });

  it('keeps a freed body in its page until the page is recycled, and then does not report it evicted', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 64 * KiB);
    const a = put(pool, owners, 1, 30 * KiB)!;
    put(pool, owners, 2, 30 * KiB);
    pool.free(a);
    put(pool, owners, 3, 30 * KiB);
    expect(owners.evicted).toEqual([2]);
    expect(pool.usage().evictions).toBe(1);
  });

  it('gives a body larger than a page a buffer of its own, counted in the budget, taking whole pages out of service for it', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 256 * KiB);
    for (let name = 1; name <= 8; name++) put(pool, owners, name, 30 * KiB);
    expect(pool.usage().heldBytes).toBe(256 * KiB);
    const large = put(pool, owners, 9, 150 * KiB)!;
    expect(intact(large, 9, 150 * KiB)).toBe(true);
    expect(large.body.buffer.byteLength).toBe(150 * KiB);
    // Three pages out of service (the open one is kept): 64 + 150 ≤ 256.
    expect(owners.evicted).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pool.usage().heldBytes).toBe(64 * KiB + 150 * KiB);
    pool.free(large);
    expect(pool.usage().heldBytes).toBe(64 * KiB);
    expect(put(pool, owners, 10, 300 * KiB)).toBeNull(); // over the whole budget
  });

  it('gives pages up when the budget shrinks (the records beside the bodies grew)', () => {
    const owners = new Owners();
    let budget = 192 * KiB;
    const pool = new PagePool(64 * KiB, () => budget);
    for (let name = 1; name <= 6; name++) put(pool, owners, name, 60 * KiB);
    expect(pool.usage().heldBytes).toBe(192 * KiB);
    // One body a page: 4, 5 and 6 recycled the pages of 1, 2 and 3.
    expect(owners.evicted).toEqual([1, 2, 3]);
    budget = 100 * KiB;
    put(pool, owners, 7, 60 * KiB);
    // Two pages given up (their bodies evicted), the third recycled for 7.
    expect(owners.evicted).toEqual([1, 2, 3, 4, 5, 6]);
    expect(pool.usage()).toMatchObject({ heldBytes: 64 * KiB, pages: 1 });
  });
});

describe('page pool: second chances', () => {
  it('keeps hot bodies in at most half of a recycled page, so each recycling frees half a page or more', () => {
    const owners = new Owners();
    const pool = new PagePool(64 * KiB, () => 128 * KiB);
    const slots = [1, 2, 3, 4, 5, 6].map((name) => put(pool, owners, name, 10 * KiB)!);
    for (const slot of slots) slot.hot = true;
    put(pool, owners, 7, 60 * KiB); // second page
    put(pool, owners, 8, 10 * KiB); // recycles the first: 1, 2 and 3 kept (30 KiB ≤ 32), 4, 5 and 6 evicted
    expect(owners.moved).toEqual([1, 2, 3]);
    expect(owners.evicted).toEqual([4, 5, 6]);
    expect(slots.slice(0, 3).every((slot, i) => intact(slot, i + 1, 10 * KiB))).toBe(true);
  });
});
