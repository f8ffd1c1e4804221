// "Checked, unchanged" counts, gathered per process and written once a second per URL. A poller's
// 304s would otherwise cost a store write each (three Redis commands, or a message to the primary
// under --workers with the memory store) on the revalidation path. Reads through this process
// see its own pending counts at once (a URL's are written before its summary is read); another
// process sees them within FLUSH_MS. close() writes what is pending.
import type { ChangeLog, CheckSummary } from './types.js';

const FLUSH_MS = 1000;

interface Pending {
  time: number;
  count: number;
}

export interface CoalescedChangeLog extends ChangeLog {
  /** Write every pending count now (at shutdown). */
  flush(): Promise<void>;
}

export function coalesceChecks(changes: ChangeLog, flushMs = FLUSH_MS): CoalescedChangeLog {
  let pending = new Map<string, Pending>();
  let timer: NodeJS.Timeout | undefined;

  const write = async (urlKey: string, check: Pending): Promise<void> => changes.checkedUnchanged(urlKey, check.time, check.count);
  const writeOne = (urlKey: string): Promise<void> => {
    const check = pending.get(urlKey);
    if (!check) return Promise.resolve();
    pending.delete(urlKey);
    return write(urlKey, check);
  };
  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    const due = pending;
    pending = new Map();
    // One failed write (a store outage) loses only its own counts; the breaker logs it.
    await Promise.allSettled([...due].map(([urlKey, check]) => write(urlKey, check)));
  };

  return {
    append: (event, urlKey) => changes.append(event, urlKey),
    history: (urlKey) => changes.history(urlKey),
    after: (afterId, limit) => changes.after(afterId, limit),
    cursorAt: (time) => changes.cursorAt(time),
    latest: () => changes.latest(),
    watch: (listener) => changes.watch(listener),
    // Counted at once: a poller's 304 costs no promise here (observe/changes.ts).
    checkedUnchanged(urlKey: string, time: number, count = 1): void {
      const check = pending.get(urlKey);
      if (check) {
        check.time = Math.max(check.time, time);
        check.count += count;
      } else {
        pending.set(urlKey, { time, count });
      }
      timer ??= setTimeout(() => void flush(), flushMs).unref();
    },
    async checks(urlKey: string): Promise<CheckSummary> {
      await writeOne(urlKey);
      return changes.checks(urlKey);
    },
    flush,
  };
}
