// Leaf signing shared out between client addresses. A leaf costs 3-5 ms of the process's CPU, so
// signings run a few at a time, handed out in turn between the addresses that wait (round robin),
// and each address has a token bucket: a burst of new leaves at once, then a steady number a
// second. One client asking for 4,000 names gets them at its rate while another's name is signed
// next; a name waits at most its handshake's deadline. Leaves already made take no turn.

export interface SigningRate {
  /** New leaves an address may start at once. */
  burst: number;
  /** New leaves an address may start a second after its burst. */
  perSecond: number;
  /** Signings in progress at once, for all addresses. */
  concurrent: number;
}

export const LEAF_SIGNING_RATE: SigningRate = { burst: 50, perSecond: 25, concurrent: 2 };

/** Addresses whose buckets are kept; past it, full and idle buckets are dropped. */
const MAX_BUCKETS = 10_000;

/** Call when the signing is over, to hand its place to the next. */
export type Release = () => void;

interface Waiter {
  resolve: (release: Release) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

interface Bucket {
  tokens: number;
  at: number;
  /** When the address last got a turn (a count of turns given): the lowest goes next. */
  lastTurn: number;
}

export class SigningTurns {
  private readonly buckets = new Map<string, Bucket>();
  /** Addresses with names waiting, and their names in order. */
  private readonly queues = new Map<string, Waiter[]>();
  private running = 0;
  private turnsGiven = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly rate: SigningRate = LEAF_SIGNING_RATE,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Resolves with `release` when `client` may sign; rejects if `signal` aborts while it waits. */
  take(client: string, signal?: AbortSignal): Promise<Release> {
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = { resolve };
      let queue = this.queues.get(client);
      if (!queue) this.queues.set(client, (queue = []));
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          const waiting = this.queues.get(client);
          const at = waiting?.indexOf(waiter) ?? -1;
          if (at >= 0) waiting!.splice(at, 1);
          if (waiting?.length === 0) this.queues.delete(client);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      queue.push(waiter);
      this.dispatch();
    });
  }

  private dispatch(): void {
    let soonestMs = Infinity;
    while (this.running < this.rate.concurrent) {
      // The address served least recently among those that have a token (round robin).
      let next: { client: string; queue: Waiter[]; bucket: Bucket } | undefined;
      for (const [client, queue] of this.queues) {
        const bucket = this.bucketOf(client);
        this.refill(bucket);
        if (bucket.tokens < 1) {
          soonestMs = Math.min(soonestMs, ((1 - bucket.tokens) * 1000) / this.rate.perSecond);
          continue;
        }
        if (!next || bucket.lastTurn < next.bucket.lastTurn) next = { client, queue, bucket };
      }
      if (!next) break;
      const { client, queue, bucket } = next;
      const waiter = queue.shift()!;
      if (queue.length === 0) this.queues.delete(client);
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      bucket.tokens--;
      bucket.lastTurn = ++this.turnsGiven;
      this.running++;
      let released = false;
      waiter.resolve(() => {
        if (released) return;
        released = true;
        this.running--;
        this.dispatch();
      });
    }
    if (this.running < this.rate.concurrent && this.queues.size && soonestMs < Infinity && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.dispatch();
      }, Math.max(1, Math.ceil(soonestMs)));
      this.timer.unref();
    }
  }

  private bucketOf(client: string): Bucket {
    let bucket = this.buckets.get(client);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropIdle();
      bucket = { tokens: this.rate.burst, at: this.clock(), lastTurn: 0 };
      this.buckets.set(client, bucket);
    }
    return bucket;
  }

  private refill(bucket: Bucket): void {
    const now = this.clock();
    bucket.tokens = Math.min(this.rate.burst, bucket.tokens + ((now - bucket.at) * this.rate.perSecond) / 1000);
    bucket.at = now;
  }

  /** Buckets of addresses with nothing waiting whose tokens have grown back to the burst carry no state. */
  private dropIdle(): void {
    for (const [client, bucket] of this.buckets) {
      this.refill(bucket);
      if (!this.queues.has(client) && bucket.tokens >= this.rate.burst) this.buckets.delete(client);
    }
  }
}
