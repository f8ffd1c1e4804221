// The change history in the disk store's files, shared by every process on the host and kept
// across restarts: the fleet's events by id [ms, seq] (the last FLEET_CHANGES), an index of each
// URL's among them (its last PER_URL_CHANGES), and per URL what its unchanged revalidations found.
// Ids have the memory and Redis shape (<ms>-<seq>); seq grows across processes because it is
// taken in the same write transaction as the event. `watch` hears this process's appends at once
// and another's within a poll.
import { boundedEvent } from '../change-bounds.js';
import { parseId, PER_URL_CHANGES } from '../memory/change-log.js';
import type { ChangeEvent, ChangeLog, CheckSummary } from '../types.js';
import { transact, type DiskDatabases } from './open.js';
import { keyPart } from './record.js';

/** Disk is cheap: ten times what the memory store keeps. */
export const DISK_FLEET_CHANGES = 100_000;
const MAX_CHECKED_URLS = 100_000;
const COUNTERS_KEY = 'changes';
const WATCH_POLL_MS = 250;

interface Counters {
  ms: number;
  seq: number;
  events: number;
  checked: number;
}

interface StoredEvent {
  event: ChangeEvent;
  urlKey: string;
}

export class DiskChangeLog implements ChangeLog {
  private readonly watchers = new Set<(id?: string) => void>();
  private timer: NodeJS.Timeout | undefined;
  private lastSeen = '0';

  constructor(private readonly db: DiskDatabases) {}

  async append(event: Omit<ChangeEvent, 'id'>, urlKey: string): Promise<ChangeEvent> {
    const bounded = boundedEvent(event);
    const stored = await transact(this.db.root, () => {
      const counters = this.counters();
      // The ms part never goes back (a clock stepped back), so ids stay ordered.
      counters.ms = Math.max(Math.floor(bounded.time), counters.ms);
      counters.seq++;
      const made: ChangeEvent = { id: `${counters.ms}-${counters.seq}`, ...bounded };
      const part = keyPart(urlKey);
      this.db.changes.putSync([counters.ms, counters.seq], { event: made, urlKey: part } satisfies StoredEvent);
      this.db.changesByUrl.putSync([part, counters.ms, counters.seq], 1);
      counters.events++;
      this.trimUrl(part);
      while (counters.events > DISK_FLEET_CHANGES && this.dropOldest()) counters.events--;
      this.check(counters, part, bounded.time, 0);
      this.db.state.putSync(COUNTERS_KEY, counters);
      return made;
    });
    for (const watcher of this.watchers) watcher(stored.id);
    return stored;
  }

  async history(urlKey: string): Promise<ChangeEvent[]> {
    const part = keyPart(urlKey);
    const out: ChangeEvent[] = [];
    for (const key of this.db.changesByUrl.getKeys({ start: [part, 0, 0], end: [part, Infinity, 0] })) {
      const stored = this.db.changes.get([key[1], key[2]]) as StoredEvent | undefined;
      if (stored) out.push(stored.event);
    }
    return out;
  }

  async after(afterId: string, limit: number): Promise<ChangeEvent[]> {
    const [ms, seq] = parseId(afterId);
    const out: ChangeEvent[] = [];
    for (const { key, value } of this.db.changes.getRange({ start: [ms, seq] })) {
      if (key[0] === ms && key[1] === seq) continue;
      out.push((value as StoredEvent).event);
      if (out.length >= limit) break;
    }
    return out;
  }

  async cursorAt(time: number): Promise<string> {
    return `${Math.max(0, time - 1)}-${Number.MAX_SAFE_INTEGER}`;
  }

  async latest(): Promise<string> {
    for (const { value } of this.db.changes.getRange({ reverse: true, limit: 1 })) return (value as StoredEvent).event.id;
    return '0';
  }

  async checkedUnchanged(urlKey: string, time: number, count = 1): Promise<void> {
    await transact(this.db.root, () => {
      const counters = this.counters();
      this.check(counters, keyPart(urlKey), time, count);
      this.db.state.putSync(COUNTERS_KEY, counters);
    });
  }

  async checks(urlKey: string): Promise<CheckSummary> {
    return (this.db.checks.get(keyPart(urlKey)) as CheckSummary | undefined) ?? { lastChecked: null, unchanged: 0 };
  }

  watch(listener: (id?: string) => void): () => void {
    this.watchers.add(listener);
    if (!this.timer) {
      this.lastSeen = this.latestSync();
      this.timer = setInterval(() => this.poll(), WATCH_POLL_MS).unref();
    }
    return () => {
      this.watchers.delete(listener);
      if (!this.watchers.size) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watchers.clear();
  }

  /** Another process appended: nudge the listeners (they read `after` themselves). */
  private poll(): void {
    try {
      const latest = this.latestSync();
      if (latest === this.lastSeen) return;
      this.lastSeen = latest;
      for (const watcher of this.watchers) watcher(latest);
    } catch {
      // Tried again at the next tick.
    }
  }

  private latestSync(): string {
    for (const { value } of this.db.changes.getRange({ reverse: true, limit: 1 })) return (value as StoredEvent).event.id;
    return '0';
  }

  private counters(): Counters {
    return { ms: 0, seq: 0, events: 0, checked: 0, ...(this.db.state.get(COUNTERS_KEY) as Partial<Counters> | undefined) };
  }

  /** Keep the URL's index to its latest PER_URL_CHANGES. */
  private trimUrl(part: string): void {
    const keys = [...this.db.changesByUrl.getKeys({ start: [part, 0, 0], end: [part, Infinity, 0] })];
    for (const key of keys.slice(0, Math.max(0, keys.length - PER_URL_CHANGES))) this.db.changesByUrl.removeSync(key);
  }

  private dropOldest(): boolean {
    for (const { key, value } of this.db.changes.getRange({ limit: 1 })) {
      this.db.changes.removeSync(key);
      this.db.changesByUrl.removeSync([(value as StoredEvent).urlKey, key[0], key[1]]);
      return true;
    }
    return false;
  }

  private check(counters: Counters, part: string, time: number, unchanged: number): void {
    const summary = this.db.checks.get(part) as CheckSummary | undefined;
    if (!summary) counters.checked++;
    this.db.checks.putSync(part, { lastChecked: Math.max(summary?.lastChecked ?? 0, time), unchanged: (summary?.unchanged ?? 0) + unchanged } satisfies CheckSummary);
    if (counters.checked <= MAX_CHECKED_URLS) return;
    for (const key of this.db.checks.getKeys({ limit: 1000 })) {
      if (key === part) continue;
      this.db.checks.removeSync(key);
      counters.checked--;
    }
  }
}
