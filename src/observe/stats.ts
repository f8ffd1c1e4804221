// GET /stats: the metrics as one JSON document a person (or `etag-proxy stats`) reads, computed
// from the registry's JSON (one proxy, or the workers' aggregate), so /stats and /metrics can
// never disagree. The ratios are defined here and in docs/reference/metrics.md, nowhere else.
import { COUNTERS, OUTCOMES, type Outcome } from './counters.js';
import { servedFromCache } from './outcome.js';

interface MetricJson {
  name: string;
  values: Array<{ value: number; labels: Record<string, string | number | undefined>; metricName?: string }>;
}

export interface Stats {
  requests: number;
  byOutcome: Record<Outcome, number>;
  byPolicy: Record<string, number>;
  /** Answers from stored entries (hit, collapsed, stale, revalidated-304) over requests that were looked up. */
  hitRatio: number | null;
  bandwidthSavedBytes: number;
  originRequestsAvoided: number;
  validatorsDropped: Record<string, number>;
  upstream: { requests: number; byStatus: Record<string, number>; receivedBytes: number; meanResponseSeconds: number | null };
  store: { errors: number; breakerOpen: boolean; entries: number; bytes: number };
  hosts?: Record<string, Record<string, number>>;
  /** Per parent pool (src/parents): what it carried and what the cache saved it; absent without parents. */
  parents?: Record<string, PoolStats>;
}

export interface ParentStats {
  requests: number;
  notModified: number;
  errors: number;
  bans: number;
  sentBytes: number;
  receivedBytes: number;
  /** Body bytes of stored entries that 304s through it did not carry. */
  notModifiedAvoidedBytes: number;
  /** With the pool's pricePerGB: notModifiedAvoidedBytes / 1e9 × pricePerGB (a pool's hits have no parent). */
  moneySaved?: number;
  /** With the pool's pricePerGB: receivedBytes / 1e9 × pricePerGB. */
  moneySpent?: number;
}

export interface PoolStats extends ParentStats {
  avoidedRequests: number;
  avoidedBytes: number;
  pricePerGB?: number;
  /** avoidedBytes / 1e9 × pricePerGB. */
  moneySaved?: number;
  /** Received bytes / 1e9 × pricePerGB. */
  moneySpent?: number;
  byParent: Record<string, ParentStats>;
}

const PARENT_SERIES = {
  requests: COUNTERS.parentRequests.name,
  notModified: COUNTERS.parentNotModified.name,
  errors: COUNTERS.parentErrors.name,
  bans: COUNTERS.parentBans.name,
  sentBytes: COUNTERS.parentSentBytes.name,
  receivedBytes: COUNTERS.parentReceivedBytes.name,
  notModifiedAvoidedBytes: COUNTERS.parentNotModifiedAvoidedBytes.name,
} as const;

/** Bytes at a price per GB (10^9 bytes, as providers bill), to the cent. */
const money = (bytes: number, pricePerGB: number): number => Math.round((bytes / 1e9) * pricePerGB * 100) / 100;

function parentStats(metrics: MetricJson[]): Record<string, PoolStats> | undefined {
  const pools: Record<string, PoolStats> = {};
  const poolOf = (name: string): PoolStats =>
    (pools[name] ??= { requests: 0, notModified: 0, errors: 0, bans: 0, sentBytes: 0, receivedBytes: 0, notModifiedAvoidedBytes: 0, avoidedRequests: 0, avoidedBytes: 0, byParent: {} });
  for (const [field, series] of Object.entries(PARENT_SERIES) as Array<[keyof typeof PARENT_SERIES, string]>) {
    for (const { labels, value } of metrics.find((m) => m.name === series)?.values ?? []) {
      const pool = poolOf(String(labels['pool']));
      const parent = (pool.byParent[String(labels['parent'])] ??= { requests: 0, notModified: 0, errors: 0, bans: 0, sentBytes: 0, receivedBytes: 0, notModifiedAvoidedBytes: 0 });
      parent[field] += value;
      pool[field] += value;
    }
  }
  for (const { labels, value } of metrics.find((m) => m.name === COUNTERS.parentAvoidedRequests.name)?.values ?? []) poolOf(String(labels['pool'])).avoidedRequests += value;
  for (const { labels, value } of metrics.find((m) => m.name === COUNTERS.parentAvoidedBytes.name)?.values ?? []) poolOf(String(labels['pool'])).avoidedBytes += value;
  for (const { labels, value } of metrics.find((m) => m.name === COUNTERS.parentPricePerGb.name)?.values ?? []) {
    if (value <= 0) continue;
    const pool = poolOf(String(labels['pool']));
    pool.pricePerGB = value;
    pool.moneySaved = money(pool.avoidedBytes, value);
    pool.moneySpent = money(pool.receivedBytes, value);
    for (const parent of Object.values(pool.byParent)) {
      parent.moneySaved = money(parent.notModifiedAvoidedBytes, value);
      parent.moneySpent = money(parent.receivedBytes, value);
    }
  }
  return Object.keys(pools).length ? pools : undefined;
}

function byLabel(metrics: MetricJson[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { labels, value } of metrics.find((m) => m.name === name)?.values ?? []) {
    const key = String(labels[label] ?? '');
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

function total(metrics: MetricJson[], name: string, metricName = name): number {
  let sum = 0;
  for (const v of metrics.find((m) => m.name === name)?.values ?? []) if ((v.metricName ?? name) === metricName) sum += v.value;
  return sum;
}

const sum = (record: Record<string, number>): number => Object.values(record).reduce((a, b) => a + b, 0);

export function statsOf(metrics: MetricJson[]): Stats {
  const outcomes = byLabel(metrics, COUNTERS.requests.name, 'outcome');
  const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, outcomes[o] ?? 0])) as Record<Outcome, number>;
  const requests = sum(byOutcome);
  const fromCache = OUTCOMES.filter(servedFromCache).reduce((n, o) => n + byOutcome[o], 0);
  const lookedUp = requests - byOutcome.bypass - byOutcome.error;
  const upstreamByStatus = byLabel(metrics, COUNTERS.upstreamRequests.name, 'status');
  const up = COUNTERS.upstreamSeconds.name;
  const answered = total(metrics, up, `${up}_count`);
  const stats: Stats = {
    requests,
    byOutcome,
    byPolicy: byLabel(metrics, COUNTERS.policyRequests.name, 'policy'),
    hitRatio: lookedUp > 0 ? Math.round((fromCache / lookedUp) * 10000) / 10000 : null,
    bandwidthSavedBytes: total(metrics, COUNTERS.servedFromCacheBytes.name),
    originRequestsAvoided: total(metrics, COUNTERS.originRequestsAvoided.name),
    validatorsDropped: byLabel(metrics, COUNTERS.validatorsDropped.name, 'field'),
    upstream: {
      requests: sum(upstreamByStatus),
      byStatus: upstreamByStatus,
      receivedBytes: total(metrics, COUNTERS.upstreamBytes.name),
      meanResponseSeconds: answered > 0 ? total(metrics, up, `${up}_sum`) / answered : null,
    },
    store: {
      errors: total(metrics, COUNTERS.storeErrors.name),
      breakerOpen: total(metrics, COUNTERS.storeBreakerOpen.name) > 0,
      entries: total(metrics, COUNTERS.cacheEntries.name),
      bytes: total(metrics, COUNTERS.cacheBytes.name),
    },
  };
  const parents = parentStats(metrics);
  if (parents) stats.parents = parents;
  const hostValues = metrics.find((m) => m.name === COUNTERS.hostRequests.name)?.values ?? [];
  if (hostValues.length) {
    stats.hosts = {};
    for (const { labels, value } of hostValues) {
      const host = (stats.hosts[String(labels['host'])] ??= {});
      host[String(labels['outcome'])] = value;
    }
  }
  return stats;
}
