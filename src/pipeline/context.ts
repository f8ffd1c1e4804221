// Everything shared by all requests of one proxy instance: config, clock, logger, store,
// RFC engine, upstream agent, collapsing, policies. Built once by createProxy().
import type { Collapser } from '../cache/collapse.js';
import type { NoVarySearchHints } from '../cache/no-vary-search.js';
import type { Semantics } from '../cache/semantics.js';
import type { ProxyConfig } from '../config/types.js';
import type { Guard } from '../guard/guard.js';
import type { Upstream } from '../http/upstream.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import type { StoredPolicies } from '../policy/stored-rules.js';
import type { PolicyEngine } from '../policy/types.js';
import type { Backend } from '../store/types.js';

export interface ProxyContext {
  readonly config: ProxyConfig;
  readonly now: () => number;
  readonly logger: Logger;
  /** Counters fed once per request from finish (observe/metrics.ts). */
  readonly metrics: ProxyMetrics;
  readonly backend: Backend<StoredPolicies>;
  readonly semantics: Semantics;
  readonly upstream: Upstream;
  /** Client, CONNECT-port and destination rules (invariant 3). */
  readonly guard: Guard;
  readonly collapser: Collapser;
  readonly policies: PolicyEngine;
  /** What origins said in No-Vary-Search, per URL without query (cache/no-vary-search.ts). */
  readonly noVarySearch: NoVarySearchHints;
  /** True when a URL points at this proxy's own listener (answered locally, never looped). */
  isSelf(url: URL): boolean;
  /** Background work (stale-while-revalidate refreshes) that close() waits for. */
  readonly background: Set<Promise<unknown>>;
}
