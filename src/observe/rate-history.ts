// Requests per second by outcome over the last minutes, for the status page's chart: once a
// second the totals of etag_proxy_requests_total are read and the difference from the second
// before is kept in a ring (10 minutes by default). Sampling the counters, rather than a hook on
// each request, keeps the hit path free of it. Per process: with --workers each worker keeps
// the history of the requests it answered.
import { COUNTERS, OUTCOMES, type Outcome } from './counters.js';
import type { ProxyMetrics } from './metrics.js';

export interface RatePoint {
  /** End of the second, epoch ms. */
  time: number;
  counts: Record<Outcome, number>;
}

export interface RateHistoryJson {
  intervalSeconds: number;
  outcomes: readonly Outcome[];
  /** Oldest first. */
  points: RatePoint[];
}

export type OutcomeTotals = () => Promise<Record<Outcome, number>>;

/** This process's request totals by outcome, read from its registry (the tallies' collect runs). */
export function outcomeTotals(metrics: ProxyMetrics): OutcomeTotals {
  return async () => {
    const totals = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
    const metric = metrics.registry.getSingleMetric(COUNTERS.requests.name);
    for (const { labels, value } of (await metric?.get())?.values ?? []) {
      const outcome = labels['outcome'] as Outcome;
      if (outcome in totals) totals[outcome] = value;
    }
    return totals;
  };
}

export class RateHistory {
  private readonly points: RatePoint[] = [];
  private last: Record<Outcome, number> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly totals: OutcomeTotals,
    private readonly options: { seconds?: number; now?: () => number } = {},
  ) {}

  get capacity(): number {
    return this.options.seconds ?? 600;
  }

  start(): this {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), 1000);
    this.timer.unref(); // never what keeps a process alive
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Take one sample (the timer's job; tests call it). */
  async sample(): Promise<void> {
    const now = (this.options.now ?? Date.now)();
    const totals = await this.totals();
    const previous = this.last;
    this.last = totals;
    if (!previous) return; // the first reading is the baseline
    const counts = Object.fromEntries(OUTCOMES.map((o) => [o, Math.max(0, totals[o] - previous[o])])) as Record<Outcome, number>;
    this.points.push({ time: now, counts });
    if (this.points.length > this.capacity) this.points.splice(0, this.points.length - this.capacity);
  }

  toJSON(): RateHistoryJson {
    return { intervalSeconds: 1, outcomes: OUTCOMES, points: [...this.points] };
  }
}
