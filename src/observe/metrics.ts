// One proxy's metrics: the prom-client objects built from the table in counters.ts, on a
// registry of its own (several proxies may share a process in tests and embeddings), and the
// few entry points that feed them: requestFinished (from pipeline/finish.ts), the upstream
// meter (metered-upstream.ts) and the store observer (store/guarded.ts). Nothing else counts.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DIRECT } from '../parents/config.js';
import type { Parent, ParentPool } from '../parents/pool.js';
import type { ParentRouter } from '../parents/router.js';
import type { FinishedRequest } from './finished-request.js';
import type { StoreObserver, StoreUsage } from '../store/types.js';
import { COUNTERS, OUTCOMES, type Outcome } from './counters.js';
import { outcomeOf, servedFromCache } from './outcome.js';
import { PlainHistogram } from './plain-histogram.js';

/** Status class labels, made once rather than per origin answer. */
const STATUS_CLASSES: readonly string[] = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

export interface MetricsOptions {
  /** Hosts that get a label of their own (--metrics-top-hosts); 0 = no per-host series. */
  topHosts: number;
  usage?: () => StoreUsage | undefined;
}

type Child = Counter.Internal;

/**
 * Per-request tallies as plain numbers: prom-client hashes the label values on every inc(), even
 * through a child, which is most of the hit path's counting cost; these are copied into the
 * counters when scraped (each counter's collect). One cell per key, so counting is one Map read.
 */
class Tally {
  private readonly cells = new Map<string, { n: number }>();

  /** `open`: a key not given here gets its series when first counted (otherwise it is not counted). */
  constructor(
    keys: readonly string[],
    private readonly open = false,
  ) {
    for (const key of keys) this.cells.set(key, { n: 0 });
  }

  add(key: string, n = 1): void {
    const cell = this.cells.get(key);
    if (cell !== undefined) cell.n += n;
    else if (this.open) this.cells.set(key, { n });
  }

  /** A collect function for a counter with one label. */
  collector(label: string): (this: Counter<string>) => void {
    const cells = this.cells;
    return function collect(this: Counter<string>) {
      this.reset();
      for (const [key, cell] of cells) this.inc({ [label]: key }, cell.n);
    };
  }
}

/** Totals with no label, as plain fields. */
interface Totals {
  avoided: number;
  servedBytes: number;
  upstreamBytes: number;
}

export class ProxyMetrics implements StoreObserver {
  readonly registry = new Registry();
  private readonly outcomes = new Tally(OUTCOMES);
  private readonly policies = new Tally(['pass', 'strip', 'isolate']);
  private readonly dropped = new Tally(['if-none-match', 'if-modified-since', 'range', 'if-range']);
  private readonly totals: Totals = { avoided: 0, servedBytes: 0, upstreamBytes: 0 };
  /** By status class ("2xx") or "error": a series from the first request of its kind on. */
  private readonly upstreamClasses = new Tally([], true);
  private readonly upstreamSeconds: PlainHistogram;
  private readonly storeSeconds: Histogram<string>;
  // Labelled children kept (keptChild): on the path of every Redis call and every upstream request.
  private readonly storeSecondsByOp = new Map<string, Histogram.Internal<string>>();
  private readonly storeErrors: Counter<string>;
  private readonly breakerOpen: Gauge<string>;
  private readonly hostRequests: Counter<string>;
  private readonly byHost = new Map<string, Map<Outcome, Child>>();
  private parents: ParentRouter | undefined;

  constructor(private readonly options: MetricsOptions) {
    const registers = [this.registry];
    const counter = (row: (typeof COUNTERS)[keyof typeof COUNTERS], collect?: (this: Counter<string>) => void) =>
      new Counter({ name: row.name, help: row.help, labelNames: row.labels, registers, ...(collect && { collect }) });
    counter(COUNTERS.requests, this.outcomes.collector('outcome'));
    counter(COUNTERS.policyRequests, this.policies.collector('policy'));
    counter(COUNTERS.validatorsDropped, this.dropped.collector('field'));
    counter(COUNTERS.originRequestsAvoided, totalOf(this.totals, 'avoided'));
    counter(COUNTERS.servedFromCacheBytes, totalOf(this.totals, 'servedBytes'));
    counter(COUNTERS.upstreamRequests, this.upstreamClasses.collector('status'));
    counter(COUNTERS.upstreamBytes, totalOf(this.totals, 'upstreamBytes'));
    this.storeErrors = counter(COUNTERS.storeErrors);
    this.hostRequests = counter(COUNTERS.hostRequests);
    const { upstreamSeconds: up, storeSeconds: st } = COUNTERS;
    this.upstreamSeconds = new PlainHistogram(up.name, up.help, up.buckets, registers);
    this.storeSeconds = new Histogram({ name: st.name, help: st.help, labelNames: st.labels, buckets: [...st.buckets], registers });
    const br = COUNTERS.storeBreakerOpen;
    this.breakerOpen = new Gauge({ name: br.name, help: br.help, labelNames: br.labels, aggregator: br.aggregator, registers });
    this.breakerOpen.set(0);
    const usage = options.usage;
    // What the store reports, read at each scrape; a figure the store does not keep is left out.
    const usageGauge = (row: (typeof COUNTERS)['cacheEntries' | 'cacheBytes' | 'cacheFileBytes'], figure: (now: StoreUsage) => number | undefined) =>
      new Gauge({
        name: row.name,
        help: row.help,
        labelNames: row.labels,
        registers,
        collect() {
          const now = usage?.();
          const value = now && figure(now);
          if (now && value !== undefined) this.set({ store: now.store }, value);
        },
      });
    usageGauge(COUNTERS.cacheEntries, (now) => now.entries);
    usageGauge(COUNTERS.cacheBytes, (now) => now.bytes);
    usageGauge(COUNTERS.cacheFileBytes, (now) => now.fileBytes);
    const { cacheEvictions } = COUNTERS;
    new Counter({
      name: cacheEvictions.name,
      help: cacheEvictions.help,
      labelNames: cacheEvictions.labels,
      registers,
      collect() {
        const now = usage?.();
        if (now?.evictions === undefined) return;
        // The store counts; the counter shows its total (monotonic within the process).
        this.reset();
        this.inc({ store: now.store }, now.evictions);
      },
    });
    // Every outcome and policy series exists from the start at 0 (the tallies start at 0), so
    // rates and ratios are defined; so does the received bytes total.
  }

  /** Called once per request, from pipeline/finish.ts. */
  requestFinished(tx: FinishedRequest): void {
    const outcome = outcomeOf({ status: tx.status, failed: tx.error !== undefined || tx.log.error !== undefined, method: tx.method, answered: tx.clientRes.headersSent ? tx.clientRes.statusCode : undefined });
    this.outcomes.add(outcome);
    const policy = tx.policy?.validators;
    if (policy) this.policies.add(policy);
    const dropped = tx.conditionals?.dropped;
    if (dropped?.length) for (const field of dropped) this.dropped.add(field);
    if (outcome === 'hit' || outcome === 'collapsed') this.totals.avoided++;
    if (servedFromCache(outcome) && tx.entry) {
      const bytes = bodyBytesSent(tx);
      if (bytes > 0) this.totals.servedBytes += bytes;
    }
    if (this.options.topHosts > 0 && tx.target) this.hostChild(tx.target.host, outcome).inc();
    if (this.parents && tx.target) this.parentSavings(tx, outcome);
  }

  /** What the cache saved the pools on this request (parents/accounting.ts). */
  private parentSavings(tx: FinishedRequest, outcome: Outcome): void {
    const router = this.parents!;
    if (outcome === 'revalidated-304') {
      // The 304 came through a parent (or direct): the stored body it stood for was not carried.
      const carried = tx.originRes?.parent;
      const pool = carried && router.pools.get(carried.pool);
      if (!pool || !tx.entry) return;
      pool.savings.avoidedBytes += tx.entry.meta.bodyLength;
      const parent = pool.parents.find((p) => p.label === carried.label);
      if (parent) parent.tally.avoidedBytes += tx.entry.meta.bodyLength;
      return;
    }
    if (outcome !== 'hit' && outcome !== 'collapsed' && outcome !== 'stale') return;
    const name = router.decide(tx.target!, tx.client?.id).pool;
    const pool = name === DIRECT ? undefined : router.pools.get(name);
    if (!pool) return;
    pool.savings.avoidedRequests++;
    pool.savings.avoidedBytes += tx.entry ? bodyBytesSent(tx) : 0;
  }

  /** Per-pool and per-parent series, read from the router's tallies at scrape time (bounded: the configured parents). */
  watchParents(router: ParentRouter): void {
    this.parents = router;
    const registers = [this.registry];
    type SeriesRow = { name: string; help: string; labels: readonly string[] };
    // A counter read from the tallies at scrape time; `each` adds one series per label set.
    const scraped = (row: SeriesRow, each: (add: (labels: Record<string, string>, value: number) => void) => void) =>
      new Counter({
        name: row.name,
        help: row.help,
        labelNames: row.labels,
        registers,
        collect() {
          this.reset();
          each((labels, value) => this.inc(labels, value));
        },
      });
    const perParent = (row: SeriesRow, value: (parent: Parent) => number) =>
      scraped(row, (add) => {
        for (const pool of router.pools.values()) for (const parent of pool.parents) add({ pool: pool.name, parent: parent.label }, value(parent));
      });
    perParent(COUNTERS.parentRequests, (p) => p.tally.requests);
    perParent(COUNTERS.parentNotModified, (p) => p.tally.notModified);
    perParent(COUNTERS.parentErrors, (p) => p.tally.errors);
    perParent(COUNTERS.parentBans, (p) => p.tally.bans);
    perParent(COUNTERS.parentSentBytes, (p) => p.tally.wire().sent);
    perParent(COUNTERS.parentReceivedBytes, (p) => p.tally.wire().received);
    perParent(COUNTERS.parentNotModifiedAvoidedBytes, (p) => p.tally.avoidedBytes);
    const perPool = (row: SeriesRow, value: (pool: ParentPool) => number) =>
      scraped(row, (add) => {
        for (const pool of router.pools.values()) add({ pool: pool.name }, value(pool));
      });
    perPool(COUNTERS.parentAvoidedRequests, (pool) => pool.savings.avoidedRequests);
    perPool(COUNTERS.parentAvoidedBytes, (pool) => pool.savings.avoidedBytes);
    const price = COUNTERS.parentPricePerGb;
    new Gauge({
      name: price.name,
      help: price.help,
      labelNames: price.labels,
      aggregator: price.aggregator,
      registers,
      collect() {
        for (const pool of router.pools.values()) this.set({ pool: pool.name }, pool.spec.pricePerGB ?? 0);
      },
    });
  }

  /** An origin answered (its head arrived) after `seconds`. */
  upstreamAnswered(seconds: number, status: number): void {
    this.upstreamSeconds.observe(seconds);
    this.upstreamClasses.add(STATUS_CLASSES[Math.floor(status / 100)] ?? `${Math.floor(status / 100)}xx`);
  }

  upstreamFailed(): void {
    this.upstreamClasses.add('error');
  }


  upstreamReceived(bytes: number): void {
    if (bytes > 0) this.totals.upstreamBytes += bytes;
  }

  call(op: string, seconds: number, ok: boolean): void {
    keptChild(this.storeSecondsByOp, op, (label) => this.storeSeconds.labels(label)).observe(seconds);
    if (!ok) this.storeErrors.inc({ op });
  }

  breaker(open: boolean): void {
    this.breakerOpen.set(open ? 1 : 0);
  }

  private hostChild(host: string, outcome: Outcome): Child {
    // A fixed set once full: the first N hosts keep their series, the rest count as "other", so
    // cardinality is bounded by (N + 1) × outcomes and no series ever disappears.
    let label = host;
    if (!this.byHost.has(host)) {
      const named = this.byHost.size - (this.byHost.has('other') ? 1 : 0);
      if (named >= this.options.topHosts) label = 'other';
    }
    let children = this.byHost.get(label);
    if (!children) this.byHost.set(label, (children = new Map()));
    let child = children.get(outcome);
    if (!child) children.set(outcome, (child = this.hostRequests.labels(label, outcome)));
    return child;
  }
}

function totalOf(totals: Totals, key: keyof Totals): (this: Counter<string>) => void {
  return function collect(this: Counter<string>) {
    this.reset();
    this.inc(totals[key]);
  };
}

/** Body bytes of an answer from a stored entry (a 304 or a HEAD sends none). */
function bodyBytesSent(tx: FinishedRequest): number {
  if (tx.method === 'HEAD' || !tx.clientRes.headersSent) return 0;
  const delivered = tx.log.delivered;
  if (delivered === 304 || delivered === 416) return 0;
  if (delivered === 206) return Number(tx.clientRes.getHeader('content-length') ?? 0) || 0;
  return tx.entry!.meta.bodyLength;
}

/** One labelled child per value, kept: `inc({ label })` / `observe({ label })` validate and hash the label on every call. */
function keptChild<Child>(children: Map<string, Child>, value: string, make: (value: string) => Child): Child {
  let child = children.get(value);
  if (!child) children.set(value, (child = make(value)));
  return child;
}
