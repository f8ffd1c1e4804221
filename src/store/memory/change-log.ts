// The change history in this process: one ring per URL (the last PER_URL_CHANGES changes, for
// at most FLEET_CHANGES URLs) and one fleet ring (the last FLEET_CHANGES changes), with ids that grow with every append. Separate from the
// entry store so the memory store's own files stay as they are. Beside them, per URL, what its
// unchanged revalidations found (a count and the last-checked time), as bounded.
import type { ChangeEvent, ChangeLog, CheckSummary } from '../types.js';

export const PER_URL_CHANGES = 50;
export const FLEET_CHANGES = 10_000;

export class MemoryChangeLog implements ChangeLog {
  private readonly perUrl = new Map<string, ChangeEvent[]>();
  private readonly fleet: ChangeEvent[] = [];
  private readonly checked = new Map<string, CheckSummary>();
  private seq = 0;

  async append(event: Omit<ChangeEvent, 'id'>, urlKey: string): Promise<ChangeEvent> {
    // Redis stream ids have the same shape (<ms>-<seq>), so clients treat both alike.
    const stored: ChangeEvent = { id: `${event.time}-${++this.seq}`, ...event };
    const ring = this.perUrl.get(urlKey) ?? [];
    ring.push(stored);
    if (ring.length > PER_URL_CHANGES) ring.shift();
    // Re-inserted so the Map's order is "least recently changed first"; bounded like the fleet ring.
    this.perUrl.delete(urlKey);
    this.perUrl.set(urlKey, ring);
    if (this.perUrl.size > FLEET_CHANGES) this.perUrl.delete(this.perUrl.keys().next().value!);
    this.fleet.push(stored);
    if (this.fleet.length > FLEET_CHANGES) this.fleet.shift();
    this.check(urlKey, event.time, 0);
    return stored;
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
    this.checked.delete(urlKey);
    this.checked.set(urlKey, summary);
    if (this.checked.size > FLEET_CHANGES) this.checked.delete(this.checked.keys().next().value!);
  }

  async history(urlKey: string): Promise<ChangeEvent[]> {
    return [...(this.perUrl.get(urlKey) ?? [])];
  }

  async after(afterId: string, limit: number): Promise<ChangeEvent[]> {
    const out: ChangeEvent[] = [];
    for (const event of this.fleet) {
      if (compareIds(event.id, afterId) > 0) out.push(event);
      if (out.length >= limit) break;
    }
    return out;
  }

  async latest(): Promise<string> {
    return this.fleet.at(-1)?.id ?? '0';
  }

  async cursorAt(time: number): Promise<string> {
    return `${Math.max(0, time - 1)}-${Number.MAX_SAFE_INTEGER}`;
  }
}

/** Order of `<ms>-<seq>` ids; "0" sorts first. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}
