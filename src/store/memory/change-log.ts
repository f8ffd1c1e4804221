// The change history in this process: one ring per URL (its last PER_URL_CHANGES changes, the
// rings together within HISTORY_BYTES, the least recently changed URL forgotten first) and one
// fleet ring (the last FLEET_CHANGES changes, within FLEET_BYTES), with ids that grow with every
// append. Beside them, per URL, what its unchanged revalidations found (a count and the
// last-checked time), as bounded. Every event's fields are cut to their bounds first
// (change-bounds.ts), so the caps by count are caps by bytes too, and the byte caps say so.
// `after` is a binary search over the fleet ring; `watch` hears of each append at once.
import { boundedEvent, eventBytes } from '../change-bounds.js';
import type { ChangeEvent, ChangeLog, CheckSummary } from '../types.js';

export const PER_URL_CHANGES = 50;
export const FLEET_CHANGES = 10_000;
/** About 10,000 events of ordinary URLs; events of 2 KB URLs keep fewer. */
export const FLEET_BYTES = 8 * 1024 * 1024;
/** All URLs' rings together (they share their events with the fleet ring, so this is an upper bound). */
export const HISTORY_BYTES = 16 * 1024 * 1024;
/** The per-URL check summaries: 10,000 URLs of ordinary keys fit. */
export const CHECKED_BYTES = 2 * 1024 * 1024;
/** A ring's or a summary's own objects and Map slot, beside its key (an estimate). */
const SLOT_OVERHEAD_BYTES = 120;

interface Kept {
  event: ChangeEvent;
  ms: number;
  seq: number;
  bytes: number;
}

export interface ChangeLogUsage {
  fleet: { events: number; bytes: number };
  perUrl: { urls: number; bytes: number };
  checked: { urls: number; bytes: number };
}

export class MemoryChangeLog implements ChangeLog {
  private readonly perUrl = new Map<string, Kept[]>();
  private perUrlBytes = 0;
  /** Oldest first from `head`; evicted slots are emptied at once and compacted now and then. */
  private fleet: Array<Kept | undefined> = [];
  private head = 0;
  private fleetBytes = 0;
  private readonly checked = new Map<string, CheckSummary>();
  private checkedBytes = 0;
  private seq = 0;
  private lastMs = 0;
  private readonly watchers = new Set<(id?: string) => void>();

  async append(event: Omit<ChangeEvent, 'id'>, urlKey: string): Promise<ChangeEvent> {
    const bounded = boundedEvent(event);
    // Redis stream ids have the same shape (<ms>-<seq>), so clients treat both alike. The ms part
    // never goes back (a clock stepped back), so the ring stays sorted for the binary search.
    const ms = Math.max(Math.floor(bounded.time), this.lastMs);
    this.lastMs = ms;
    const seq = ++this.seq;
    const stored: ChangeEvent = { id: `${ms}-${seq}`, ...bounded };
    const kept: Kept = { event: stored, ms, seq, bytes: eventBytes(stored) };
    this.keepForUrl(urlKey, kept);
    this.fleet.push(kept);
    this.fleetBytes += kept.bytes;
    while (this.fleet.length - this.head > FLEET_CHANGES || this.fleetBytes > FLEET_BYTES) {
      this.fleetBytes -= this.fleet[this.head]!.bytes;
      this.fleet[this.head++] = undefined;
    }
    if (this.head > 1024 && this.head * 2 > this.fleet.length) {
      this.fleet = this.fleet.slice(this.head);
      this.head = 0;
    }
    this.check(urlKey, event.time, 0);
    for (const watcher of this.watchers) watcher(stored.id);
    return stored;
  }

  private keepForUrl(urlKey: string, kept: Kept): void {
    let ring = this.perUrl.get(urlKey);
    if (ring) {
      // Re-inserted so the Map's order is "least recently changed first".
      this.perUrl.delete(urlKey);
    } else {
      ring = [];
      this.perUrlBytes += urlKey.length + SLOT_OVERHEAD_BYTES;
    }
    this.perUrl.set(urlKey, ring);
    ring.push(kept);
    this.perUrlBytes += kept.bytes;
    if (ring.length > PER_URL_CHANGES) this.perUrlBytes -= ring.shift()!.bytes;
    for (const [oldestKey, oldest] of this.perUrl) {
      if (this.perUrl.size <= FLEET_CHANGES && this.perUrlBytes <= HISTORY_BYTES) break;
      if (oldest === ring) break; // the URL just changed stays (one ring is far below the cap)
      this.perUrl.delete(oldestKey);
      this.perUrlBytes -= oldestKey.length + SLOT_OVERHEAD_BYTES;
      for (const gone of oldest) this.perUrlBytes -= gone.bytes;
    }
  }

  async checkedUnchanged(urlKey: string, time: number, count = 1): Promise<void> {
    this.check(urlKey, time, count);
  }

  async checks(urlKey: string): Promise<CheckSummary> {
    return { ...(this.checked.get(urlKey) ?? { lastChecked: null, unchanged: 0 }) };
  }

  private check(urlKey: string, time: number, unchanged: number): void {
    const summary = this.checked.get(urlKey) ?? { lastChecked: null, unchanged: 0 };
    summary.lastChecked = Math.max(summary.lastChecked ?? 0, time);
    summary.unchanged += unchanged;
    // Least recently checked first, bounded like the per-URL rings.
    if (!this.checked.delete(urlKey)) this.checkedBytes += urlKey.length + SLOT_OVERHEAD_BYTES;
    this.checked.set(urlKey, summary);
    for (const oldestKey of this.checked.keys()) {
      if (this.checked.size <= FLEET_CHANGES && this.checkedBytes <= CHECKED_BYTES) break;
      if (oldestKey === urlKey) break;
      this.checked.delete(oldestKey);
      this.checkedBytes -= oldestKey.length + SLOT_OVERHEAD_BYTES;
    }
  }

  async history(urlKey: string): Promise<ChangeEvent[]> {
    return (this.perUrl.get(urlKey) ?? []).map((kept) => kept.event);
  }

  async after(afterId: string, limit: number): Promise<ChangeEvent[]> {
    const [ms, seq] = parseId(afterId);
    // The first kept event whose id is greater than afterId.
    let low = this.head;
    let high = this.fleet.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const kept = this.fleet[middle]!;
      if (kept.ms < ms || (kept.ms === ms && kept.seq <= seq)) low = middle + 1;
      else high = middle;
    }
    const out: ChangeEvent[] = [];
    for (let i = low; i < this.fleet.length && out.length < limit; i++) out.push(this.fleet[i]!.event);
    return out;
  }

  async latest(): Promise<string> {
    return this.fleet.length > this.head ? this.fleet.at(-1)!.event.id : '0';
  }

  async cursorAt(time: number): Promise<string> {
    return `${Math.max(0, time - 1)}-${Number.MAX_SAFE_INTEGER}`;
  }

  watch(listener: (id?: string) => void): () => void {
    this.watchers.add(listener);
    return () => void this.watchers.delete(listener);
  }

  /** What the history holds and about how many bytes, against FLEET_BYTES, HISTORY_BYTES, CHECKED_BYTES. */
  usage(): ChangeLogUsage {
    return {
      fleet: { events: this.fleet.length - this.head, bytes: this.fleetBytes },
      perUrl: { urls: this.perUrl.size, bytes: this.perUrlBytes },
      checked: { urls: this.checked.size, bytes: this.checkedBytes },
    };
  }
}

/** `<ms>-<seq>` as two numbers; "0" (or anything without a dash) is `<ms>-0`. */
export function parseId(id: string): [ms: number, seq: number] {
  const dash = id.indexOf('-');
  if (dash < 0) return [Number(id) || 0, 0];
  return [Number(id.slice(0, dash)) || 0, Number(id.slice(dash + 1)) || 0];
}

/** Order of `<ms>-<seq>` ids; "0" sorts first. */
export function compareIds(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am !== bm ? am - bm : as - bs;
}
