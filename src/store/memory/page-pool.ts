// Where the memory store keeps its bodies: a few large Buffers (pages) taken once and reused, so
// a stored body is never garbage for V8 to find (no forced GCs, no heap flags). Pages fill in turn
// like a log; when the budget allows no new page, the oldest sealed page that no client is still
// reading (unpinned) is recycled: bodies read since they were written (hot) move to its front (a
// second chance, as CLOCK does), the others are evicted. Bodies larger than a page get a buffer of
// their own, counted in the same budget. Which key a body belongs to is the owner's business.

/** The store's side of a slot: told when its body moves within a page or leaves the pool. */
export interface SlotOwner {
  moved(body: Buffer): void;
  evicted(): void;
}

export interface Slot {
  /** The body's bytes: a view into its page (or, for a large body, its own buffer). */
  body: Buffer;
  /** Read since it was written or last given its second chance. */
  hot: boolean;
  live: boolean;
  readonly page: Page;
  offset: number;
  /** Replaced when a reserved slot is taken over by the record it was reserved for. */
  owner: SlotOwner;
}

export interface Page {
  readonly buffer: Buffer;
  /** A large body's own buffer: one slot, never carved. */
  readonly large: boolean;
  slots: Slot[];
  fill: number;
  /** Clients still sending a body from this page: it is not recycled while above 0. */
  pins: number;
  /** Out of service: its bytes no longer count against the budget. */
  dropped: boolean;
}

export interface PoolUsage {
  /** Bytes of pages and large bodies held (what counts against the budget). */
  heldBytes: number;
  pages: number;
  pinnedPages: number;
  /** Bodies evicted to make room since the pool was made. */
  evictions: number;
}

/** Page size for a cache of `capBytes`: a 32nd of it as a power of two, within 16 KiB … 1 MiB. */
export function pageSizeFor(capBytes: number): number {
  const target = Math.max(16 * 1024, Math.min(1024 * 1024, capBytes / 32));
  return 2 ** Math.floor(Math.log2(target));
}

export class PagePool {
  private readonly sealed: Page[] = [];
  private open: Page | null = null;
  private readonly pageOf = new Map<ArrayBufferLike, Page>();
  private held = 0;
  private evictions = 0;

  constructor(
    readonly pageBytes: number,
    /** Bytes the pool may hold now (the cap less what the store's records cost); read at each growth. */
    private readonly budget: () => number,
  ) {}

  /** A slot of `length` bytes (its body not yet written), or null when every candidate page is pinned. */
  allocate(length: number, owner: SlotOwner): Slot | null {
    if (length > this.pageBytes) return this.allocateLarge(length, owner);
    let page = this.open;
    if (!page || page.fill + length > this.pageBytes) {
      if (page) this.sealed.push(page);
      this.open = page = this.pageWithRoom(length);
      if (!page) return null;
    }
    const slot: Slot = { body: page.buffer.subarray(page.fill, page.fill + length), hot: false, live: true, page, offset: page.fill, owner };
    page.slots.push(slot);
    page.fill += length;
    return slot;
  }

  /** The slot's body is no longer wanted (deleted, replaced, expired): its bytes wait for the page's recycling. */
  free(slot: Slot): void {
    if (!slot.live) return;
    slot.live = false;
    // A large body's buffer goes back to the budget at once (and to V8: nothing else views it).
    if (slot.page.large && slot.page.pins === 0) this.dropLarge(slot.page);
  }

  /** Keep the slot's bytes where they are until the returned function is called (once). */
  pin(slot: Slot): () => void {
    return this.pinPage(slot.page);
  }

  /** The page a body viewing one of the pool's pages sits in (a body copied from the pool back into it). */
  pageHolding(body: Buffer): Page | undefined {
    return this.pageOf.get(body.buffer);
  }

  pinPage(page: Page): () => void {
    page.pins++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      page.pins--;
      if (page.large && page.pins === 0 && !page.slots[0]?.live) this.dropLarge(page);
    };
  }

  usage(): PoolUsage {
    const pages = [...this.sealed, ...(this.open ? [this.open] : [])];
    return { heldBytes: this.held, pages: pages.length, pinnedPages: pages.filter((page) => page.pins > 0).length, evictions: this.evictions };
  }

  /** A new page while the budget allows one, else the oldest unpinned page recycled with `length` bytes free at its end. */
  private pageWithRoom(length: number): Page | null {
    if (this.held + this.pageBytes <= this.budget()) return this.newPage(Buffer.allocUnsafeSlow(this.pageBytes), false);
    for (const page of this.takeUnpinnedOldestFirst()) {
      if (page.large) {
        this.evict(page.slots[0]!);
        this.dropLarge(page);
        // Its bytes may be what a new page needs.
        if (this.held + this.pageBytes <= this.budget()) return this.newPage(Buffer.allocUnsafeSlow(this.pageBytes), false);
        continue;
      }
      // Over budget (the store's records grew): give the page up rather than reuse it.
      if (this.held > this.budget()) {
        this.dropPage(page);
        continue;
      }
      // Hot bodies keep at most half the page: each recycling frees half a page or more, so a
      // cache of bodies all read since written moves half a page per half page written, not a page per body.
      this.recycle(page, Math.min(this.pageBytes - length, this.pageBytes / 2));
      return page;
    }
    return null;
  }

  /**
   * The sealed pages no client is reading, oldest first, each taken out of the sealed list as it is
   * yielded: the caller recycles, drops or returns it. Pinned pages go back to the end; each page
   * sealed at the start is looked at once, so pages that stay pinned end the walk.
   */
  private *takeUnpinnedOldestFirst(): Generator<Page, void, undefined> {
    for (let tries = this.sealed.length; tries > 0; tries--) {
      const page = this.sealed.shift()!;
      if (page.pins > 0) this.sealed.push(page);
      else yield page;
    }
  }

  /**
   * Hot bodies move to the page's front (lower offsets only, so copyWithin never overwrites one
   * not yet moved) while they leave `keepAtMost` bytes; the rest are evicted.
   */
  private recycle(page: Page, keepAtMost: number): void {
    const kept: Slot[] = [];
    let fill = 0;
    for (const slot of page.slots) {
      if (!slot.live) continue;
      const length = slot.body.length;
      if (!slot.hot || fill + length > keepAtMost) {
        this.evict(slot);
        continue;
      }
      if (slot.offset !== fill) page.buffer.copyWithin(fill, slot.offset, slot.offset + length);
      slot.offset = fill;
      slot.hot = false;
      slot.body = page.buffer.subarray(fill, fill + length);
      slot.owner.moved(slot.body);
      kept.push(slot);
      fill += length;
    }
    page.slots = kept;
    page.fill = fill;
  }

  private allocateLarge(length: number, owner: SlotOwner): Slot | null {
    // Room is made by taking whole pages (or other large bodies) out of service, oldest first.
    if (this.held + length > this.budget()) {
      for (const page of this.takeUnpinnedOldestFirst()) {
        if (page.large) {
          this.evict(page.slots[0]!);
          this.dropLarge(page);
        } else this.dropPage(page);
        if (this.held + length <= this.budget()) break;
      }
    }
    if (this.held + length > this.budget()) return null;
    const page = this.newPage(Buffer.allocUnsafeSlow(length), true);
    const slot: Slot = { body: page.buffer, hot: false, live: true, page, offset: 0, owner };
    page.slots.push(slot);
    page.fill = length;
    this.sealed.push(page);
    return slot;
  }

  private newPage(buffer: Buffer, large: boolean): Page {
    const page: Page = { buffer, large, slots: [], fill: 0, pins: 0, dropped: false };
    this.held += buffer.length;
    if (!large) this.pageOf.set(buffer.buffer, page);
    return page;
  }

  private dropPage(page: Page): void {
    if (page.dropped) return;
    page.dropped = true;
    for (const slot of page.slots) if (slot.live) this.evict(slot);
    this.pageOf.delete(page.buffer.buffer);
    this.held -= page.buffer.length;
  }

  private dropLarge(page: Page): void {
    if (page.dropped) return;
    page.dropped = true;
    const at = this.sealed.indexOf(page);
    if (at >= 0) this.sealed.splice(at, 1);
    this.held -= page.buffer.length;
    page.slots = [];
  }

  private evict(slot: Slot): void {
    if (!slot.live) return;
    slot.live = false;
    this.evictions++;
    slot.owner.evicted();
  }
}
