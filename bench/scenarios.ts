// The benchmark's scenarios and bars as tables (read by bench/run.ts, which measures them, and
// bench/report.ts, which prints them), and the shape of one measured run.
import type { LoadResult } from './load.js';
import type { MachineStats, WindowStats } from './processes.js';

export type ScenarioId = '1k' | '100k' | 'revalidate' | 'nostore' | 'stale' | 'many';

export interface Scenario {
  /** BENCH_ONLY name; the origin route is `/<id>`. */
  id: ScenarioId;
  name: string;
  /** A cache hit: the origin should see (almost) nothing during the proxy run. */
  hit: boolean;
  /** Spread the requests over this many URLs (see LoadTarget.spread). */
  spread?: number;
  pick?: 'turn' | 'zipf';
  /** Runs on a proxy of its own, started with these flags on top of the store's. */
  proxyArgs?: string[];
  /** Unmeasured load before each run, at least this long (a capped cache needs time to fill). */
  minWarmupSeconds?: number;
  /** Fetch every spread URL once through the proxy before the warm-up, so each measured request finds an entry. */
  prefill?: boolean;
}

export const MANY_URLS = 10_000;
export const STORM_URLS = 1000;

export function allScenarios(manyCacheSize: string): Scenario[] {
  return [
    { id: '1k', name: 'Hit, 1 KB', hit: true },
    { id: '100k', name: 'Hit, 100 KB', hit: true },
    // Over 1,000 URLs so that concurrent requests are not collapsed into one revalidation.
    { id: 'revalidate', name: 'Revalidate (upstream 304), 1 KB, 1,000 URLs', hit: false, spread: 1000, prefill: true },
    { id: 'nostore', name: 'Pass-through (no-store), 1 KB, 1,000 URLs', hit: false, spread: 1000 },
    { id: 'stale', name: 'Revalidate storm (max-age=0, 304), 4–64 KB, 1,000 URLs in turn', hit: false, spread: STORM_URLS, prefill: true },
    {
      id: 'many',
      name: `Many URLs (10,000 of 4–64 KB, Zipf), --cache-size ${manyCacheSize}`,
      hit: false,
      spread: MANY_URLS,
      pick: 'zipf',
      proxyArgs: ['--cache-size', manyCacheSize],
      minWarmupSeconds: 3,
    },
  ];
}

/** The scenarios also run with `--workers N`: those of issue 10's bars. */
export const WORKER_SCENARIOS: ScenarioId[] = ['1k', '100k', 'revalidate', 'nostore'];

/** Issue 10's bars: proxy req/s as a % of the origin's, measured in the same run. */
export const BARS: { id: ScenarioId; label: string; min: number; aim?: number }[] = [
  { id: 'revalidate', label: 'Revalidate over 1,000 URLs (upstream 304 each request)', min: 45, aim: 70 },
  { id: 'nostore', label: 'Pass-through (no-store) over 1,000 URLs', min: 45, aim: 70 },
  { id: '1k', label: '1 KB hit', min: 85, aim: 100 },
  { id: '100k', label: '100 KB hit', min: 95 },
];
/** Redis-store hits as a % of memory-store hits. */
export const REDIS_HIT_BAR = 80;

export interface Measured {
  load: LoadResult;
  /** The process that answered (proxy, with its workers, or origin) during the run. */
  server: WindowStats;
  /** The origin during a proxy run (undefined for a direct run: then `server` is the origin). */
  origin: WindowStats | undefined;
  /** A local redis-server during a Redis-store run. */
  redis: WindowStats | undefined;
  /** Every process on the machine (ours and others'), undefined without /proc. */
  machine: MachineStats | undefined;
  /** Responses the origin sent during the run, by "route status". */
  originResponses: Record<string, number>;
  /** Cache-Status of one more request for the load's first URL, after the run (through the proxy only). */
  cacheStatus: string | undefined;
  /** VmHWM of a proxy started for this scenario alone (summed over its workers). */
  ownProxyPeakRss?: number;
}

export function rate(m: Measured): number {
  return m.load.requestsPerSecond;
}

export function upstreamCount(m: Pick<Measured, 'originResponses'>): number {
  return Object.values(m.originResponses).reduce((a, b) => a + b, 0);
}

/** CPU µs per request of the answering side, with redis-server's when it ran on this machine. */
export function cpuPerRequest(m: Measured): number | undefined {
  if (m.server.cpuPercent === undefined) return undefined;
  return ((m.server.cpuPercent + (m.redis?.cpuPercent ?? 0)) * 10_000) / rate(m);
}

/** The kernel (sys) part of cpuPerRequest. */
export function sysPerRequest(m: Measured): number | undefined {
  if (m.server.sysPercent === undefined) return undefined;
  return ((m.server.sysPercent + (m.redis?.sysPercent ?? 0)) * 10_000) / rate(m);
}
