// Write-on-change for the isolate ledger (STYLE.md §5.5): this process remembers, in a small
// bounded map, which validators it recorded lately per client and URL key, so a hit under
// isolate does not cost a store write each time. The ledger itself lives in the store.
import type { ValidatorLedger } from '../store/types.js';

const MAX_REMEMBERED = 10_000;
/** Ids hold a client id and a validator, both sent from outside: about 2 MiB for all of them. */
const MAX_REMEMBERED_BYTES = 2 * 1024 * 1024;
/** The Map slot and the number beside the id (an estimate). */
const SLOT_OVERHEAD_BYTES = 64;
// Re-record at least this often even with a long --keep-validators: a store that lost its data
// (a Redis restart) gets the record back soon instead of days later.
const MAX_REFRESH_MS = 10 * 60_000;

export class RecentlyRecorded {
  private readonly recordedAt = new Map<string, number>();
  private bytes = 0;

  constructor(
    private readonly max = MAX_REMEMBERED,
    private readonly maxBytes = MAX_REMEMBERED_BYTES,
  ) {}

  /** Whether (client, key, validator) was recorded by this process less than `refreshMs` ago. */
  isRecent(id: string, now: number, refreshMs: number): boolean {
    const at = this.recordedAt.get(id);
    return at !== undefined && now - at < refreshMs;
  }

  remember(id: string, now: number): void {
    // Delete first so the id moves to the end: iteration order is then oldest first.
    if (!this.recordedAt.delete(id)) this.bytes += id.length + SLOT_OVERHEAD_BYTES;
    this.recordedAt.set(id, now);
    for (const oldest of this.recordedAt.keys()) {
      if (this.recordedAt.size <= this.max && this.bytes <= this.maxBytes) break;
      this.recordedAt.delete(oldest);
      this.bytes -= oldest.length + SLOT_OVERHEAD_BYTES;
    }
  }

  /** Ids remembered and their estimated bytes (tests). */
  usage(): { entries: number; bytes: number } {
    return { entries: this.recordedAt.size, bytes: this.bytes };
  }
}

/** Keep a record alive: rewrite it once half its TTL has passed (capped, see MAX_REFRESH_MS). */
export const refreshIntervalMs = (keepValidatorsMs: number): number => Math.min(keepValidatorsMs / 2, MAX_REFRESH_MS);

export const recordId = (client: string, key: string, validator: string): string => `${client}\n${key}\n${validator}`;

// One memo per ledger: two proxies in one process (tests, embedding) may use different stores.
const memos = new WeakMap<ValidatorLedger, RecentlyRecorded>();

export function recentlyRecordedFor(ledger: ValidatorLedger): RecentlyRecorded {
  let memo = memos.get(ledger);
  if (!memo) memos.set(ledger, (memo = new RecentlyRecorded()));
  return memo;
}
