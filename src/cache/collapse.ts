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
      /** Synchronous (nothing returned) when there was nothing to release: a key known to store nothing. */
      finish(outcome: FillOutcome): void | Promise<void>;
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
const UNCACHEABLE_MEMORY_MS = 120_000;
const UNCACHEABLE_MAX_KEYS = 10_000;

export class Collapser {
  private readonly inflight = new Map<string, Promise<FillOutcome>>();
  /** key → until when (epoch ms) requests for it go upstream on their own. */
  private readonly uncacheable = new Map<string, number>();

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
   * A ticket for `key`: synchronously, with no lock to release, for a key whose last fill stored
   * nothing (the pass-through of an uncacheable URL then pays for no promise here); otherwise
   * once this request leads the fill or another's fill settled.
   */
  join(key: string): FillTicket | Promise<FillTicket> {
    const until = this.uncacheable.get(key);
    if (until !== undefined) {
      if (until > Date.now()) return new UncacheableTicket(this.uncacheable, key);
      this.uncacheable.delete(key);
    }
    return this.joinFill(key);
  }

  private async joinFill(key: string): Promise<FillTicket> {
    const existing = this.inflight.get(key);
    if (existing) return { role: 'follower', outcome: await existing };

    let settle!: (outcome: FillOutcome) => void;
    this.inflight.set(key, new Promise<FillOutcome>((resolve) => (settle = resolve)));
    let lock: FillLock | null;
    try {
      lock = await this.coordination.acquireFill(key, this.leaseMs);
    } catch {
      lock = NO_LOCK; // store unavailable: collapse within this process only
    }
    if (lock === null) {
      await this.waitForOtherWorker(key);
      this.inflight.delete(key);
      settle('unknown');
      return { role: 'follower', outcome: 'unknown' };
    }
    let finished = false;
    const stopRenewing = this.keepRenewing(lock);
    return {
      role: 'leader',
      lock,
      finish: async (outcome) => {
        if (finished) return;
        finished = true;
        stopRenewing();
        await lock.release().catch(() => {});
        this.inflight.delete(key);
        if (outcome === 'not-stored') this.rememberUncacheable(key);
        settle(outcome);
      },
    };
  }

  /**
   * Renew the lease every third of it until stopped, so two renewals may fail (a slow store call)
   * before it lapses. A timer per fill that lasts longer than that, never a store call per request;
   * it stops by itself once the lease is lost (expired meanwhile, or released with a write).
   */
  private keepRenewing(lock: FillLock): () => void {
    let renewing = false;
    const timer = setInterval(() => {
      if (renewing) return;
      if (lock.released) return clearInterval(timer);
      renewing = true;
      lock.renew(this.leaseMs).then(
        (held) => {
          renewing = false;
          if (!held) clearInterval(timer);
        },
        () => (renewing = false), // the store is down: the next tick tries again
      );
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    timer.unref();
    return () => clearInterval(timer);
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

  finish(outcome: FillOutcome): void {
    if (outcome === 'stored') this.uncacheable.delete(this.key);
  }
}
