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

/** The scenarios also run with `--workers N`: the 1 KB hit for its bar, the others to show what N processes change. */
export const WORKER_SCENARIOS: ScenarioId[] = ['1k', '100k', 'revalidate', 'nostore'];

export type FloorKind = 'forwarding' | 'hit';

/**
 * The floors: a scenario's load through a bare Node server that does the least a proxy must
 * (bench/<file>.ts), measured as the proxy is, right after the proxy's run of that scenario.
 */
export interface Floor {
  kind: FloorKind;
  scenario: ScenarioId;
  /** The script under bench/, without extension. */
  file: 'bare-forwarder' | 'bare-cache';
  name: string;
  /** Its load, as the report's sentences name it. */
  load: string;
  /** BENCH_ONLY names that run it: its own name, and the scenarios whose rows or bars read it. */
  only: string[];
}

export const FLOORS: Record<FloorKind, Floor> = {
  // The revalidation bar reads it too, so `revalidate` brings it.
  forwarding: { kind: 'forwarding', scenario: 'nostore', file: 'bare-forwarder', name: 'bare forwarder', load: 'pass-through', only: ['bare', 'nostore', 'revalidate'] },
  hit: { kind: 'hit', scenario: '1k', file: 'bare-cache', name: 'bare cache', load: 'the 1 KB hit', only: ['bare-cache', '1k'] },
};

/**
 * Issue 22's bars: the proxy's req/s as a % of a reference measured in the same run: the origin
 * answering the same scenario, or the forwarding floor (the bare forwarder on the pass-through
 * load; the revalidation bar reads it too: same 1 KB bodies over 1,000 URLs, and there is no bare
 * revalidator). `workers`: the memory-store proxy with `--workers N` instead of one process.
 * The many-URLs and disk figures keep their own tables; issue 10's bars (a share of the origin
 * for forwarding, which the forwarding floor itself stays under) are replaced by these.
 */
export interface Bar {
  id: ScenarioId;
  label: string;
  min: number;
  against: 'origin' | 'forwarding';
  workers?: boolean;
  /** Print this floor's reference line (not a bar) under this bar. */
  floorLine?: FloorKind;
}

export const BARS: Bar[] = [
  { id: 'nostore', label: 'Pass-through (no-store) over 1,000 URLs', min: 90, against: 'forwarding' },
  { id: 'revalidate', label: 'Revalidation over 1,000 URLs (upstream 304 each request)', min: 80, against: 'forwarding', floorLine: 'forwarding' },
  { id: '1k', label: '1 KB hit, one process', min: 100, against: 'origin', floorLine: 'hit' },
  { id: '1k', label: '1 KB hit', min: 130, against: 'origin', workers: true },
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
