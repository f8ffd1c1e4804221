// THE table of metrics: every Prometheus series this proxy exports, with its help text, labels
// and (for histograms) buckets, as Varnish's VSC files declare counters. metrics.ts builds the
// prom-client objects from it; docs/reference/metrics.md is generated from this table (npm run docs). Names follow the
// Prometheus conventions: `_total` counters, base units (`_seconds`, `_bytes`).

/** How a request was answered, decided once in finish (outcome.ts). */
export const OUTCOMES = ['hit', 'miss', 'revalidated-304', 'revalidated-200', 'stale', 'collapsed', 'bypass', 'error'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Latency buckets in seconds: a loopback Redis answers in well under a millisecond, an origin in tens of them. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const UPSTREAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Row {
  type: 'counter' | 'gauge' | 'histogram';
  name: string;
  help: string;
  labels: readonly string[];
  buckets?: readonly number[];
  /** How --workers combines the workers' values (prom-client AggregatorRegistry); default sum. */
  aggregator?: 'sum' | 'max';
}

export const COUNTERS = {
  requests: {
    type: 'counter',
    name: 'etag_proxy_requests_total',
    help: 'Requests answered, by cache outcome (hit, miss, revalidated-304, revalidated-200, stale, collapsed, bypass, error)',
    labels: ['outcome'],
  },
  policyRequests: {
    type: 'counter',
    name: 'etag_proxy_policy_requests_total',
    help: 'Requests by the validator policy applied to them (pass, strip, isolate)',
    labels: ['policy'],
  },
  validatorsDropped: {
    type: 'counter',
    name: 'etag_proxy_client_validators_dropped_total',
    help: 'Client request fields removed by the validator policy (if-none-match, if-modified-since, range, if-range)',
    labels: ['field'],
  },
  upstreamRequests: {
    type: 'counter',
    name: 'etag_proxy_upstream_requests_total',
    help: 'Requests sent to origins (background revalidations included), by response status class or "error"',
    labels: ['status'],
  },
  upstreamBytes: {
    type: 'counter',
    name: 'etag_proxy_upstream_received_bytes_total',
    help: 'Bytes read from origin connections (response heads and bodies, as on the wire)',
    labels: [],
  },
  upstreamSeconds: {
    type: 'histogram',
    name: 'etag_proxy_upstream_response_seconds',
    help: 'Time from sending a request to an origin to receiving its response head',
    labels: [],
    buckets: UPSTREAM_BUCKETS,
  },
  servedFromCacheBytes: {
    type: 'counter',
    name: 'etag_proxy_cache_served_bytes_total',
    help: 'Body bytes sent to clients from stored entries (hits, stale answers, bodies kept after a 304): bandwidth saved',
    labels: [],
  },
  originRequestsAvoided: {
    type: 'counter',
    name: 'etag_proxy_origin_requests_avoided_total',
    help: 'Requests answered from the cache without any origin request on their behalf (hits and collapsed followers)',
    labels: [],
  },
  storeSeconds: {
    type: 'histogram',
    name: 'etag_proxy_store_operation_seconds',
    help: 'Duration of shared-store (Redis) calls, by operation',
    labels: ['op'],
    buckets: STORE_BUCKETS,
  },
  storeErrors: {
    type: 'counter',
    name: 'etag_proxy_store_errors_total',
    help: 'Shared-store calls that failed, timed out or were skipped while the breaker was open, by operation',
    labels: ['op'],
  },
  storeBreakerOpen: {
    type: 'gauge',
    name: 'etag_proxy_store_breaker_open',
    help: '1 while the store breaker is open (the store is treated as down), else 0',
    labels: [],
    aggregator: 'max',
  },
  cacheEntries: {
    type: 'gauge',
    name: 'etag_proxy_cache_entries',
    help: 'Records held in this process: the memory store, or the near cache in front of Redis',
    labels: ['store'],
  },
  cacheBytes: {
    type: 'gauge',
    name: 'etag_proxy_cache_bytes',
    help: 'Bytes counted against --cache-size: the memory store, or the near cache in front of Redis',
    labels: ['store'],
  },
  cacheEvictions: {
    type: 'counter',
    name: 'etag_proxy_cache_evictions_total',
    help: 'Records the disk store evicted to stay within --cache-size, by this process',
    labels: ['store'],
  },
  cacheFileBytes: {
    type: 'gauge',
    name: 'etag_proxy_cache_file_bytes',
    help: 'Size of the disk store\'s files: data.mdb (LMDB reuses freed pages and never shrinks it) and the body ring',
    labels: ['store'],
  },
  hostRequests: {
    type: 'counter',
    name: 'etag_proxy_host_requests_total',
    help: 'Requests by origin host and outcome, for the first --metrics-top-hosts hosts seen; the rest as host="other"',
    labels: ['host', 'outcome'],
  },
  parentRequests: {
    type: 'counter',
    name: 'etag_proxy_parent_requests_total',
    help: 'Requests sent through each parent proxy (retries included), by pool and parent (scheme://host:port, as configured: bounded)',
    labels: ['pool', 'parent'],
  },
  parentNotModified: {
    type: 'counter',
    name: 'etag_proxy_parent_not_modified_total',
    help: '304 answers received through each parent proxy (a revalidation that carried no body)',
    labels: ['pool', 'parent'],
  },
  parentErrors: {
    type: 'counter',
    name: 'etag_proxy_parent_errors_total',
    help: 'Requests through each parent proxy that failed before an answer (refused, timed out, 407, CONNECT refused)',
    labels: ['pool', 'parent'],
  },
  parentBans: {
    type: 'counter',
    name: 'etag_proxy_parent_bans_total',
    help: "Answers through each parent proxy that matched its pool's ban markers (dropped, never stored)",
    labels: ['pool', 'parent'],
  },
  parentSentBytes: {
    type: 'counter',
    name: 'etag_proxy_parent_sent_bytes_total',
    help: 'Bytes written to each parent proxy on the wire (CONNECT and TLS included): what the parent counts as received',
    labels: ['pool', 'parent'],
  },
  parentReceivedBytes: {
    type: 'counter',
    name: 'etag_proxy_parent_received_bytes_total',
    help: 'Bytes read from each parent proxy on the wire (heads, bodies, 304s and errors): what the pool bills',
    labels: ['pool', 'parent'],
  },
  parentNotModifiedAvoidedBytes: {
    type: 'counter',
    name: 'etag_proxy_parent_not_modified_avoided_bytes_total',
    help: 'Body bytes of stored entries that 304s through each parent proxy did not carry (the per-parent share of the avoided bytes)',
    labels: ['pool', 'parent'],
  },
  parentAvoidedRequests: {
    type: 'counter',
    name: 'etag_proxy_parent_avoided_requests_total',
    help: 'Requests a pool would have carried that the cache answered with no parent traffic, by pool',
    labels: ['pool'],
  },
  parentAvoidedBytes: {
    type: 'counter',
    name: 'etag_proxy_parent_avoided_bytes_total',
    help: 'Body bytes a pool did not carry: cache answers with no parent traffic, and the stored bodies that 304s through it stood for',
    labels: ['pool'],
  },
  parentPricePerGb: {
    type: 'gauge',
    name: 'etag_proxy_parent_price_per_gb',
    help: "A pool's pricePerGB from the configuration (0: none given), to turn bytes into money saved",
    labels: ['pool'],
    aggregator: 'max',
  },
} as const satisfies Record<string, Row>;

export type CounterName = keyof typeof COUNTERS;
