// Whether another process has the store's directory open: LMDB's reader table lists every process
// that has read from the environment (each worker reads at open: backend.ts), and readerCheck()
// clears the slots of processes that died. Read at most twice a second.
import type { RootDatabase } from 'lmdb';

const RECHECK_MS = 500;

export class OtherProcesses {
  private checkedAt = -Infinity;
  private present = true;

  constructor(
    private readonly root: RootDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when another live process has read from the directory (and so may fill beside us). */
  any(): boolean {
    const now = this.now();
    if (now - this.checkedAt < RECHECK_MS) return this.present;
    this.checkedAt = now;
    try {
      this.root.readerCheck();
      this.present = otherPids(this.root.readerList()).size > 0;
    } catch {
      this.present = true; // cannot tell: coordinate through the file
    }
    return this.present;
  }
}

/** The pids in lmdb's reader list (a header line, then "pid thread txnid" per slot) other than ours. */
export function otherPids(list: string): Set<number> {
  const pids = new Set<number>();
  for (const line of list.split('\n')) {
    const pid = Number(line.trim().split(/\s+/)[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) pids.add(pid);
  }
  return pids;
}
