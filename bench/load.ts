// The load generator: wrk (Debian package `wrk`) as a child process, driven by bench/wrk.lua, as
// the peers' published benchmarks do; autocannon in the bench process only when wrk is not on
// the PATH (it spends more CPU than the servers it measures, which pulls every ratio toward 1).
// Through a proxy both send absolute-form request-targets with the origin's Host, as `curl -x`
// does; straight to the origin, origin-form.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

export interface LoadTarget {
  /** Where the connections go: the proxy or the origin, `http://127.0.0.1:<port>`. */
  connectTo: string;
  /** The request-target: `/1k`, or `http://127.0.0.1:<originPort>/1k` through a proxy. */
  path: string;
  /** Host header (the origin's authority). */
  host: string;
  /**
   * Spread requests over this many URLs (`?k=0` … `?k=N-1`), so concurrent requests rarely
   * share one and are not collapsed: each stale one then really goes upstream.
   */
  spread?: number;
  /** How the spread URLs are picked: `turn` (default) walks them in order, `zipf` draws rank r with weight 1 / r^zipfExponent. */
  pick?: 'turn' | 'zipf';
  zipfExponent?: number;
}

export interface LoadOptions {
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  /** Responses that were not 2xx (wrk counts only status ≥ 400). */
  non2xx: number;
  errors: number;
  timeouts: number;
  /** CPU the load generator itself used during the run, in % of one core. */
  generator: { cpuPercent: number; sysPercent: number };
}

export type LoadGenerator = 'wrk' | 'autocannon';

const HERE = dirname(fileURLToPath(import.meta.url));
// Run from dist/bench/load.js; the script is not compiled, so it is read from the source tree.
const WRK_SCRIPT = join(HERE, '..', '..', 'bench', 'wrk.lua');
const WRK_THREADS = Math.max(1, Math.round(Number(process.env.BENCH_WRK_THREADS || 1)));

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** `wrk` unless it is missing from the PATH or BENCH_LOAD_GENERATOR=autocannon asks otherwise. */
export function loadGenerator(): LoadGenerator {
  const asked = process.env.BENCH_LOAD_GENERATOR;
  if (asked === 'autocannon') return 'autocannon';
  if (asked && asked !== 'wrk') throw new Error(`BENCH_LOAD_GENERATOR must be wrk or autocannon, got "${asked}"`);
  return onPath('wrk') ? 'wrk' : 'autocannon';
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  return loadGenerator() === 'wrk' ? runWrk(target, options) : runAutocannon(target, options);
}

// /proc/self/stat fields 16 and 17 (cutime, cstime): CPU of the children this process has reaped,
// in clock ticks of 1/100 s. Node reaps wrk before its 'exit' event, so the difference across a
// run is wrk's CPU, however short-lived it was.
function reapedChildrenCpu(): { cpu: number; sys: number } {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const sys = Number(fields[14] ?? 0) / 100;
    return { cpu: Number(fields[13] ?? 0) / 100 + sys, sys };
  } catch {
    return { cpu: NaN, sys: NaN };
  }
}

interface WrkJson {
  durationUs: number;
  requests: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

async function runWrk(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const threads = Math.min(WRK_THREADS, options.connections);
  const args = [
    `-t${threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '5s',
    '-s',
    WRK_SCRIPT,
    `${target.connectTo}/`,
    '--',
    target.host,
    target.path,
    String(target.spread ?? 0),
    target.pick ?? 'turn',
    String(target.zipfExponent ?? 1),
  ];
  const before = reapedChildrenCpu();
  const started = performance.now();
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const after = reapedChildrenCpu();
  const line = /^wrk-json (.*)$/m.exec(stdout)?.[1];
  if (code !== 0 || !line) throw new Error(`wrk ${args.join(' ')} exited with ${code}:\n${stderr || stdout}`);
  const run = JSON.parse(line) as WrkJson;
  return {
    requestsPerSecond: run.requests / (run.durationUs / 1e6),
    p50Ms: run.p50Us / 1000,
    p99Ms: run.p99Us / 1000,
    total: run.requests,
    non2xx: run.status,
    errors: run.connect + run.read + run.write + run.timeout,
    timeouts: run.timeout,
    generator: { cpuPercent: (100 * (after.cpu - before.cpu)) / wallSeconds, sysPercent: (100 * (after.sys - before.sys)) / wallSeconds },
  };
}

/** Rank r of `count` with probability ∝ 1 / r^exponent, by inverse transform over the CDF. */
function zipfPicker(count: number, exponent: number): () => number {
  const cdf = new Float64Array(count);
  let total = 0;
  for (let rank = 1; rank <= count; rank++) cdf[rank - 1] = total += 1 / rank ** exponent;
  return () => {
    const u = Math.random() * total;
    let lo = 0;
    let hi = count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function spreadOver(path: string, count: number, pick: LoadTarget['pick'], exponent: number) {
  let next = 0;
  const zipf = pick === 'zipf' ? zipfPicker(count, exponent) : undefined;
  return (request: { path?: string }) => {
    request.path = `${path}?k=${zipf ? zipf() : next}`;
    next = (next + 1) % count;
    return request;
  };
}

async function runAutocannon(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const start = process.cpuUsage();
  const wall = performance.now();
  const result = await autocannon({
    url: target.connectTo,
    connections: options.connections,
    pipelining: 1,
    duration: options.seconds,
    requests: [
      {
        method: 'GET',
        path: target.path,
        headers: { host: target.host },
        ...(target.spread && { setupRequest: spreadOver(target.path, target.spread, target.pick, target.zipfExponent ?? 1) }),
      },
    ],
  });
  const used = process.cpuUsage(start);
  const wallMs = performance.now() - wall;
  return {
    // Completed requests over the measured time, rather than the mean of per-second samples
    // (the last, partial second would pull that down).
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    total: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    generator: { cpuPercent: (100 * (used.user + used.system)) / 1000 / wallMs, sysPercent: (100 * used.system) / 1000 / wallMs },
  };
}
