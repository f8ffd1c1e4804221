// Wraps any Backend so a store can only fail fast and in one way (trap 3): every call gets a
// deadline, every failure becomes StoreUnavailable, and a breaker stops touching the store after
// an outage until one probe call succeeds. The state change is logged once ("store down" /
// "store up"), never per request. What a caller does with StoreUnavailable is the pipeline's job.
import { StoreUnavailable } from '../errors.js';
import type { Logger } from '../observe/log.js';
import type { Backend, Entry, FillLock, StoreObserver } from './types.js';

export interface GuardOptions {
  /** Deadline per call (`--store-timeout`). */
  timeoutMs: number;
  logger: Logger;
  /** Names the store in log lines and errors, e.g. "redis". */
  name: string;
  /** At most one probe per this many ms while the breaker is open. */
  probeIntervalMs?: number;
  /** Lets the breaker probe at once when the store reports it is reachable again. */
  watchReady?: (listener: () => void) => void;
  /**
   * Whether a failure means the store is unreachable (opens the breaker). Some failures do not:
   * a server that answers "out of memory" to a write still serves reads. Default: every failure.
   */
  isOutage?: (err: unknown) => boolean;
  now?: () => number;
}

const DEFAULT_PROBE_INTERVAL_MS = 500;
const CLOSE_TIMEOUT_MS = 2000;
// Extra deadline per body byte on put: 20 MB/s, so a 10 MB body gets about half a second more.
const PUT_BYTES_PER_MS = 20_000;

export function guardBackend<Rules>(backend: Backend<Rules>, options: GuardOptions): Backend<Rules> {
  const breaker = new Breaker(options);
  const { entries, coordination, ledger, rules } = backend;
  const guardLock = (lock: FillLock | null): FillLock | null => lock && new GuardedLock(lock, breaker);
  return {
    kind: backend.kind,
    entries: {
      // A store that answers from memory or a memory map (disk) answers synchronously: the hit
      // then arms no deadline timer and waits for no microtask. One that does I/O gets the deadline.
      lookup: (url, variantOf) => breaker.callMaybeSync('lookup', () => entries.lookup(url, variantOf)),
      // A large body takes longer to send than a lookup does to answer; it must not read as an outage.
      put: (address, entry, ttlMs) =>
        breaker.call('put', () => entries.put(address, entry, ttlMs), options.timeoutMs + entry.body.length / PUT_BYTES_PER_MS),
      refresh: (address, meta, ttlMs, fill, revalidated) =>
        // Promise.resolve: a store that answers at once is wrapped, one that returns a promise keeps it
        // (an async wrapper would add microtask turns before the caller hears of it).
        breaker.call('refresh', () => Promise.resolve(entries.refresh(address, meta, ttlMs, fill instanceof GuardedLock ? fill.inner : fill, revalidated))),
      invalidate: (url) => breaker.call('invalidate', () => entries.invalidate(url)),
      ...(entries.usage && { usage: () => entries.usage!() }),
      ...(entries.hold && { hold: (entry: Entry) => entries.hold!(entry) }),
      ...(entries.reserveBody && { reserveBody: (length: number) => entries.reserveBody!(length) }),
      ...(entries.maxBodyBytes && { maxBodyBytes: (headers: Parameters<NonNullable<typeof entries.maxBodyBytes>>[0]) => entries.maxBodyBytes!(headers) }),
      ...(entries.variants && { variants: (url: string) => breaker.call('variants', () => entries.variants!(url)) }),
      // A page at a time: each gets the deadline, so a long purge never reads as an outage.
      ...(entries.scanPage && { scanPage: (cursor: string, count: number) => breaker.call('scan', () => entries.scanPage!(cursor, count)) }),
      close: () => breaker.closing('entries.close', () => entries.close()),
    },
    coordination: {
      acquireFill: async (key, ttlMs) => guardLock(await breaker.call('acquireFill', () => Promise.resolve(coordination.acquireFill(key, ttlMs)))),
      isFilling: (key) => breaker.call('isFilling', () => coordination.isFilling(key)),
    },
    ledger: {
      recordServed: (client, key, validator, ttlMs) =>
        breaker.call('recordServed', () => ledger.recordServed(client, key, validator, ttlMs)),
      wasServed: (client, key, validator) => breaker.call('wasServed', () => ledger.wasServed(client, key, validator)),
    },
    rules: {
      load: () => breaker.call('rules.load', () => rules.load()),
      save: (value) => breaker.call('rules.save', () => rules.save(value)),
      onChange: (listener) => rules.onChange(listener),
      close: () => breaker.closing('rules.close', () => rules.close()),
    },
    ...(backend.changes && {
      changes: {
        append: (event, urlKey) => breaker.call('changes.append', () => backend.changes!.append(event, urlKey)),
        history: (urlKey) => breaker.call('changes.history', () => backend.changes!.history(urlKey)),
        after: (afterId, limit) => breaker.call('changes.after', () => backend.changes!.after(afterId, limit)),
        cursorAt: (time) => backend.changes!.cursorAt(time),
        latest: () => breaker.call('changes.latest', () => backend.changes!.latest()),
        checkedUnchanged: (urlKey, time, count) => breaker.call('changes.checked', () => Promise.resolve(backend.changes!.checkedUnchanged(urlKey, time, count))),
        checks: (urlKey) => breaker.call('changes.checks', () => backend.changes!.checks(urlKey)),
        watch: (listener) => backend.changes!.watch(listener),
      },
    }),
    instrument: (observer) => breaker.observe(observer),
    close: () => breaker.closing('close', () => backend.close()),
  };
}

/**
 * A store's fill lock behind the breaker. The store under the guard gets its own lock back
 * (EntryStore.refresh's `fill`), and a lock its refresh already released costs no store call.
 */
class GuardedLock implements FillLock {
  constructor(
    readonly inner: FillLock,
    private readonly breaker: Breaker,
  ) {}

  get released(): boolean {
    return this.inner.released === true;
  }

  release(): Promise<void> {
    if (this.released) return Promise.resolve();
    return this.breaker.call('release', () => Promise.resolve(this.inner.release()));
  }

  renew(ttlMs: number): Promise<boolean> {
    if (this.released) return Promise.resolve(false);
    return this.breaker.call('renewFill', () => this.inner.renew(ttlMs));
  }
}

class Breaker {
  readonly observers = new Set<StoreObserver>();
  private down = false;
  private probing = false;
  private nextProbeAt = 0;
  private readonly timeoutMs: number;
  private readonly probeIntervalMs: number;
  private readonly now: () => number;
  private readonly isOutage: (err: unknown) => boolean;

  constructor(private readonly options: GuardOptions) {
    this.timeoutMs = options.timeoutMs;
    this.probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.now = options.now ?? Date.now;
    this.isOutage = options.isOutage ?? (() => true);
    options.watchReady?.(() => {
      this.nextProbeAt = 0;
    });
  }

  async call<T>(op: string, run: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    const isProbe = this.down;
    if (isProbe) {
      if (this.probing || this.now() < this.nextProbeAt) {
        for (const observer of this.observers) observer.call(op, 0, false);
        throw new StoreUnavailable(`${this.options.name} store is down: ${op} not attempted`);
      }
      this.probing = true;
    }
    // A monotonic clock: a latency, not a freshness decision.
    const startedAt = this.observers.size ? performance.now() : undefined;
    try {
      const value = await this.withDeadline(op, run, timeoutMs);
      if (startedAt !== undefined) this.report(op, startedAt, true);
      if (isProbe) this.markUp();
      return value;
    } catch (err) {
      if (startedAt !== undefined) this.report(op, startedAt, false);
      if (this.isOutage(err)) this.markDown(err);
      // The server answered (with an error): it is reachable, whatever it thought of the command.
      else if (isProbe) this.markUp();
      throw err instanceof StoreUnavailable ? err : new StoreUnavailable(`${this.options.name} store ${op} failed: ${reason(err)}`, { cause: err });
    } finally {
      if (isProbe) this.probing = false;
    }
  }

  /**
   * call() for an operation the store may answer synchronously (lookup). A synchronous answer
   * needs no deadline (it is already here) and is returned as is; a promise gets call()'s deadline.
   * While the breaker is open every call takes call()'s path, so probing works as for any op.
   */
  callMaybeSync<T>(op: string, run: () => T | Promise<T>): T | Promise<T> {
    if (this.down) return this.call(op, async () => run());
    const startedAt = this.observers.size ? performance.now() : undefined;
    let value: T | Promise<T>;
    try {
      value = run();
    } catch (err) {
      if (startedAt !== undefined) this.report(op, startedAt, false);
      if (this.isOutage(err)) this.markDown(err);
      return Promise.reject(err instanceof StoreUnavailable ? err : new StoreUnavailable(`${this.options.name} store ${op} failed: ${reason(err)}`, { cause: err }));
    }
    if (value instanceof Promise) return this.call(op, () => value);
    if (startedAt !== undefined) this.report(op, startedAt, true);
    return value;
  }

  /** Shutdown: a deadline but no breaker, since connections must be closed even while down. */
  async closing(op: string, run: () => Promise<void>): Promise<void> {
    try {
      // Closing may wait for replies still in flight; it gets more time than a request does.
      await this.withDeadline(op, run, Math.max(this.timeoutMs, CLOSE_TIMEOUT_MS));
    } catch (err) {
      throw err instanceof StoreUnavailable ? err : new StoreUnavailable(`${this.options.name} store ${op} failed: ${reason(err)}`, { cause: err });
    }
  }

  private withDeadline<T>(op: string, run: () => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreUnavailable(`${this.options.name} store ${op} timed out after ${Math.round(timeoutMs)} ms`)), timeoutMs);
      let pending: Promise<T>;
      try {
        pending = run();
      } catch (err) {
        clearTimeout(timer);
        reject(err);
        return;
      }
      // Both handlers are attached even when the deadline wins, so a late failure is never
      // an unhandled rejection; once settled, the later outcome is ignored.
      pending.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  observe(observer: StoreObserver): void {
    this.observers.add(observer);
    observer.breaker(this.down); // it may have opened before anyone watched (rules load at start)
  }

  private report(op: string, startedAt: number, ok: boolean): void {
    const seconds = (performance.now() - startedAt) / 1000;
    for (const observer of this.observers) observer.call(op, seconds, ok);
  }

  private markDown(err: unknown): void {
    this.nextProbeAt = this.now() + this.probeIntervalMs;
    if (this.down) return;
    this.down = true;
    for (const observer of this.observers) observer.breaker(true);
    this.options.logger.warn('store down', { store: this.options.name, reason: reason(err) });
  }

  private markUp(): void {
    if (!this.down) return;
    this.down = false;
    for (const observer of this.observers) observer.breaker(false);
    this.options.logger.info('store up', { store: this.options.name });
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
