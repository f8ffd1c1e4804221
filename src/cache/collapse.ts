// Request collapsing: N concurrent requests for one missing or stale entry cause one upstream
// request. In-process followers wait on the leader's promise; followers in other workers wait
// on the store's fill lock. The lock is a short lease the leader renews while its fill runs, so
// a leader that dies (SIGKILL, a lost host) frees the key within one lease, and its followers
// then fetch for themselves.
// A key whose last fill stored nothing is not collapsed for a while (Varnish's hit-for-miss):
// waiting for a response that cannot be shared only adds the leader's latency to everyone's.
import type { Coordination, FillLock } from '../store/types.js';

/** What the leader's fill produced: followers re-read the store, or forward on their own. */
export type FillOutcome = 'stored' | 'not-stored' | 'unknown';

export type FillTicket =
  | {
      role: 'leader';
      /** For a store write that may release it along (EntryStore.refresh); finish() releases it otherwise. */
      lock: FillLock;
      /** Release the lock and tell the followers; undefined when that is done at once (the memory store's lock). */
      finish(outcome: FillOutcome): Promise<void> | undefined;
    }
  | { role: 'follower'; outcome: FillOutcome };

const NO_LOCK: FillLock = { release: async () => {}, renew: async () => false };

export interface CollapserOptions {
  /**
   * How long a fill lock lasts unless renewed; renewed every third of it while the fill runs.
   * A dead leader blocks other workers for at most this long.
   */
  leaseMs: number;
  /**
   * Longest a follower in another worker waits for a leader that is alive (the slowest origin
   * we wait for); then it fetches for itself.
   */
  maxWaitMs: number;
  /** How often such a follower looks at the lock. */
  pollMs?: number;
}
/** A fill under way in this process: its followers wait on `waiting`, made when the first one comes. */
interface Inflight {
  waiting: Promise<FillOutcome> | undefined;
  settle: ((outcome: FillOutcome) => void) | undefined;
  /** The store's lock while the leader holds it: its lease is renewed by the collapser's one timer (keepRenewing). */
  lock: FillLock | undefined;
  /** When the lease was taken or last renewed (epoch ms). */
  renewedAt: number;
  /** A renewal is under way: a slow store call is not sent twice. */
  renewing: boolean;
}

const UNCACHEABLE_MEMORY_MS = 120_000;
const UNCACHEABLE_MAX_KEYS = 10_000;

export class Collapser {
  private readonly inflight = new Map<string, Inflight>();
  /** key → until when (epoch ms) requests for it go upstream on their own. */
  private readonly uncacheable = new Map<string, number>();
  private renewal: NodeJS.Timeout | undefined;

  private readonly leaseMs: number;
  private readonly maxWaitMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly coordination: Coordination,
    options: CollapserOptions,
  ) {
    this.leaseMs = options.leaseMs;
    this.maxWaitMs = options.maxWaitMs;
    this.pollMs = options.pollMs ?? 15;
  }

  get pending(): number {
    return this.inflight.size;
  }

  /**
   * Leader or follower for `key`. Synchronous when the store answers at once (the memory store's
   * lock) and no fill of the key is under way: a revalidation's lock then costs no promise.
   */
  join(key: string): FillTicket | Promise<FillTicket> {
    const until = this.uncacheable.get(key);
    if (until !== undefined) {
      if (until > Date.now()) return new UncacheableTicket(this.uncacheable, key);
      this.uncacheable.delete(key);
    }
    return this.joinFill(key);
  }

  private joinFill(key: string): FillTicket | Promise<FillTicket> {
    const existing = this.inflight.get(key);
    if (existing) {
      // Most fills have no follower: the promise is made by the first.
      existing.waiting ??= new Promise<FillOutcome>((resolve) => (existing.settle = resolve));
      return existing.waiting.then((outcome): FillTicket => ({ role: 'follower', outcome }));
    }

    const fill: Inflight = { waiting: undefined, settle: undefined, lock: undefined, renewedAt: 0, renewing: false };
    this.inflight.set(key, fill);
    let acquired: FillLock | null | Promise<FillLock | null>;
    try {
      acquired = this.coordination.acquireFill(key, this.leaseMs);
    } catch {
      acquired = NO_LOCK; // store unavailable: collapse within this process only
    }
    if (acquired instanceof Promise) return acquired.catch(() => NO_LOCK).then((lock) => this.ticketFor(key, lock, fill));
    return this.ticketFor(key, acquired, fill);
  }

  /** The ticket once the store has answered: leader with `lock`, or follower of another worker's fill (null). */
  private ticketFor(key: string, lock: FillLock | null, fill: Inflight): FillTicket | Promise<FillTicket> {
    if (lock === null) {
      return this.waitForOtherWorker(key).then((): FillTicket => {
        this.inflight.delete(key);
        fill.settle?.('unknown');
        return { role: 'follower', outcome: 'unknown' };
      });
    }
    let finished = false;
    // Without the store's lock (the store is down) there is no lease to renew.
    if (lock !== NO_LOCK) this.keepRenewing(fill, lock);
    const settled = (outcome: FillOutcome): void => {
      this.inflight.delete(key);
      if (outcome === 'not-stored') this.rememberUncacheable(key);
      fill.settle?.(outcome);
    };
    return {
      role: 'leader',
      lock,
      finish: (outcome) => {
        if (finished) return undefined;
        finished = true;
        fill.lock = undefined;
        let releasing: Promise<void> | void;
        try {
          releasing = lock.release();
        } catch {
          releasing = undefined; // the lease lapses by itself
        }
        // Followers are told once the lock is free: at once when the store released it at once.
        if (releasing) return releasing.catch(() => {}).then(() => settled(outcome));
        settled(outcome);
        return undefined;
      },
    };
  }

  /**
   * Renew each held lease at the latest a third of the lease after it was taken or last renewed
   * (at the tick before that), so two renewals may fail (a slow store call) before it lapses; a
   * failed renewal is tried again at the next tick. One timer for all fills, ticking every sixth
   * of the lease while any fill is under way, rather than one per fill: most fills end long before
   * their first renewal is due, and cost no store call for it. A lease stops being renewed once
   * lost (expired meanwhile, or released with a write).
   */
  private keepRenewing(fill: Inflight, lock: FillLock): void {
    fill.lock = lock;
    fill.renewedAt = Date.now();
    this.renewal ??= this.startRenewal();
  }

  private startRenewal(): NodeJS.Timeout {
    const tickMs = Math.max(1, Math.floor(this.leaseMs / 6));
    const renewAfterMs = Math.max(0, Math.floor(this.leaseMs / 3) - tickMs);
    const timer = setInterval(() => {
      // Stopped at the first tick with no fill under way; the next fill starts it again.
      if (this.inflight.size === 0) {
        clearInterval(timer);
        this.renewal = undefined;
        return;
      }
      const now = Date.now();
      for (const fill of this.inflight.values()) {
        const lock = fill.lock;
        if (!lock) continue;
        if (lock.released) {
          fill.lock = undefined;
          continue;
        }
        if (fill.renewing || now - fill.renewedAt < renewAfterMs) continue;
        fill.renewing = true;
        lock.renew(this.leaseMs).then(
          (held) => {
            fill.renewing = false;
            fill.renewedAt = now; // the lease runs from when the renewal was asked for
            if (!held && fill.lock === lock) fill.lock = undefined;
          },
          () => (fill.renewing = false), // the store is down: the next tick tries again
        );
      }
    }, tickMs);
    timer.unref();
    return timer;
  }

  private rememberUncacheable(key: string): void {
    if (this.uncacheable.size >= UNCACHEABLE_MAX_KEYS) {
      const oldest = this.uncacheable.keys().next().value;
      if (oldest !== undefined) this.uncacheable.delete(oldest);
    }
    this.uncacheable.set(key, Date.now() + UNCACHEABLE_MEMORY_MS);
  }

  private async waitForOtherWorker(key: string): Promise<void> {
    const deadline = Date.now() + this.maxWaitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, this.pollMs));
      const filling = await this.coordination.isFilling(key).catch(() => false);
      if (!filling) return;
    }
  }
}

/** A key known to store nothing goes upstream on its own; a response that is stored after all ends that. */
class UncacheableTicket {
  readonly role = 'leader';
  readonly lock = NO_LOCK;

  constructor(
    private readonly uncacheable: Map<string, number>,
    private readonly key: string,
  ) {}

  finish(outcome: FillOutcome): undefined {
    if (outcome === 'stored') this.uncacheable.delete(this.key);
    return undefined;
  }
}

