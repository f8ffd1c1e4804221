// `npm run bench`: starts the origin and the proxy (memory store, then Redis store) as child
// processes, loads each scenario through the proxy and straight to the origin in the same run,
// and prints Markdown tables plus the issues' bars on stdout (progress goes to stderr).
// Environment: BENCH_SECONDS (8), BENCH_CONNECTIONS (50), BENCH_WARMUP_SECONDS (1), REDIS_URL,
// BENCH_ROUNDS (1: with N, origin and proxy runs alternate N times and the best of each counts),
// BENCH_IDLE_WAIT_SECONDS (30: longest wait before each run for other processes to go quiet),
// BENCH_ONLY (routes to run, e.g. `1k,nostore`), BENCH_PROXY_NODE_ARGS (e.g. `--cpu-prof`).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { urlKey } from '../src/cache/keys.js';
import { bar, bytes, int, mb, ms, pct, table } from './format.js';
import { httpsReport, runHttpsBench, type HttpsResults } from './https.js';
import { runLoad, type LoadResult, type LoadTarget } from './load.js';
import { freePort, get, isLocalProcess, MachineCpu, runScript, machineBusy, ProcessMonitor, SelfCpu, spawnNode, waitForHttp, waitForLine, type Child, type MachineStats, type WindowStats } from './processes.js';
import { BenchRedis, type KeyCost } from './redis.js';

const SECONDS = positive('BENCH_SECONDS', 8);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 50);
const WARMUP_SECONDS = positive('BENCH_WARMUP_SECONDS', 1, true);
const ROUNDS = Math.round(positive('BENCH_ROUNDS', 1));
const IDLE_WAIT_SECONDS = positive('BENCH_IDLE_WAIT_SECONDS', 30, true);
// CPU of the machine not used by the load generator, proxy or origin (other processes, irq)
// above which a run is flagged: on a shared machine it lowers whichever side it hits.
const CONTENDED_PERCENT = 20;
// Machine CPU (% of one core) below which it counts as quiet enough to start a run.
const QUIET_PERCENT = 15;
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((r) => `/${r.trim().replace(/^\//, '')}`)) : undefined;
const PROXY_NODE_ARGS = (process.env.BENCH_PROXY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const HERE = dirname(fileURLToPath(import.meta.url));
const ORIGIN_SCRIPT = join(HERE, 'origin-server.js');
const CLI_SCRIPT = join(HERE, '..', 'src', 'cli', 'main.js');

interface Scenario {
  name: string;
  route: string;
  /** A cache hit: the origin should see (almost) nothing during the proxy run. */
  hit: boolean;
  /** Spread the requests over this many URLs (see LoadTarget.spread). */
  spread?: number;
}

const ALL_SCENARIOS: Scenario[] = [
  { name: 'Hit, 1 KB', route: '/1k', hit: true },
  { name: 'Hit, 100 KB', route: '/100k', hit: true },
  // Spread over 1,000 URLs so that concurrent requests are not collapsed into one revalidation.
  { name: 'Revalidate (upstream 304), 1 KB', route: '/revalidate', hit: false, spread: 1000 },
  { name: 'Pass-through (no-store), 1 KB', route: '/nostore', hit: false },
];
const HIT_1K = ALL_SCENARIOS[0]!;
const HIT_100K = ALL_SCENARIOS[1]!;
const SCENARIOS = ALL_SCENARIOS.filter((s) => !ONLY || ONLY.has(s.route));

interface Measured {
  load: LoadResult;
  /** The process that answered (proxy or origin) during the run. */
  server: WindowStats;
  /** The origin during a proxy run (undefined for a direct run: then `server` is the origin). */
  origin: WindowStats | undefined;
  /** A local redis-server during a Redis-store run. */
  redis: WindowStats | undefined;
  loadCpu: { cpuPercent: number; sysPercent: number };
  /** Every process on the machine (ours and others'), undefined without /proc. */
  machine: MachineStats | undefined;
  /** Responses the origin sent during the run, by "route status". */
  originResponses: Record<string, number>;
  /** Cache-Status of the warm-up's second response (through the proxy only). */
  cacheStatus: string | undefined;
}

interface Origin {
  child: Child;
  port: number;
  monitor: ProcessMonitor;
}

interface Proxy {
  child: Child;
  port: number;
  url: string;
  monitor: ProcessMonitor;
}

const progress = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

function positive(name: string, fallback: number, zeroOk = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

async function startOrigin(): Promise<Origin> {
  const child = spawnNode('origin', ORIGIN_SCRIPT, []);
  const port = Number(await waitForLine(child, /listening (\d+)/));
  return { child, port, monitor: new ProcessMonitor(child.pid) };
}

async function startProxy(extraArgs: string[]): Promise<Proxy> {
  const port = await freePort();
  const child = spawnNode('proxy', CLI_SCRIPT, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...extraArgs], PROXY_NODE_ARGS);
  const url = `http://127.0.0.1:${port}`;
  // Origin-form to the proxy's own port is its help page: 200 once it accepts connections.
  await waitForHttp(child, `${url}/`);
  return { child, port, url, monitor: new ProcessMonitor(child.pid) };
}

async function stopProxy(proxy: Proxy): Promise<void> {
  proxy.monitor.stop();
  await proxy.child.stop();
}

async function originStats(origin: Origin): Promise<Record<string, number>> {
  const res = await get(`http://127.0.0.1:${origin.port}/__stats`);
  return JSON.parse(res.body.toString('utf8')) as Record<string, number>;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) if (value !== (before[key] ?? 0)) out[key] = value - (before[key] ?? 0);
  return out;
}

/**
 * Other engineers' builds and tests share this machine: before a run, wait (a bounded time) until
 * the machine is nearly idle, so contention does not land on one side of a comparison.
 */
async function waitForQuiet(): Promise<void> {
  const deadline = Date.now() + IDLE_WAIT_SECONDS * 1000;
  let busy = await machineBusy(500);
  if (busy === undefined || busy < QUIET_PERCENT) return;
  progress(`  waiting for the machine to go quiet (${pct(busy)} busy)…`);
  while (busy !== undefined && busy >= QUIET_PERCENT && Date.now() < deadline) busy = await machineBusy(1000);
  if (busy !== undefined && busy >= QUIET_PERCENT) progress(`  still ${pct(busy)} busy after ${IDLE_WAIT_SECONDS} s; measuring anyway`);
}

/** One measured run against `target`, answered by `server` (the proxy or the origin itself). */
async function measure(target: LoadTarget, server: ProcessMonitor, origin: Origin, redis?: ProcessMonitor): Promise<Omit<Measured, 'cacheStatus'>> {
  if (IDLE_WAIT_SECONDS > 0) await waitForQuiet();
  if (WARMUP_SECONDS > 0) await runLoad(target, { connections: CONNECTIONS, seconds: WARMUP_SECONDS });
  const self = new SelfCpu();
  const machine = new MachineCpu();
  const before = await originStats(origin);
  const throughProxy = server !== origin.monitor;
  server.begin();
  if (throughProxy) origin.monitor.begin();
  redis?.begin();
  self.begin();
  machine.begin();
  const load = await runLoad(target, { connections: CONNECTIONS, seconds: SECONDS });
  const machineStats = machine.end();
  const loadCpu = self.end();
  const serverStats = server.end();
  const originWindow = throughProxy ? origin.monitor.end() : undefined;
  const redisWindow = redis?.end();
  const originResponses = diff(await originStats(origin), before);
  if (load.errors || load.non2xx) progress(`  warning: ${load.errors} errors (${load.timeouts} timeouts), ${load.non2xx} non-2xx responses`);
  return { load, server: serverStats, origin: originWindow, redis: redisWindow, loadCpu, machine: machineStats, originResponses };
}

async function direct(scenario: Scenario, origin: Origin): Promise<Measured> {
  progress(`${scenario.name}: straight to the origin`);
  const host = `127.0.0.1:${origin.port}`;
  const run = await measure({ connectTo: `http://${host}`, path: scenario.route, host, spread: scenario.spread }, origin.monitor, origin);
  return { ...run, cacheStatus: undefined };
}

async function throughProxy(scenario: Scenario, proxy: Proxy, origin: Origin, label: string, redis?: ProcessMonitor): Promise<Measured> {
  progress(`${scenario.name}: through the proxy (${label})`);
  const host = `127.0.0.1:${origin.port}`;
  const absolute = `http://${host}${scenario.route}`;
  // The warm-up request fills the cache; the second one shows what a measured request gets.
  let cacheStatus: string | undefined;
  for (let i = 0; i < 2; i++) {
    const res = await get(proxy.url, { path: absolute, headers: { host } });
    if (res.status !== 200) throw new Error(`warm-up GET ${absolute} through the proxy answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
    cacheStatus = String(res.headers['cache-status'] ?? '(none)');
  }
  const run = await measure({ connectTo: proxy.url, path: absolute, host, spread: scenario.spread }, proxy.monitor, origin, redis);
  if (scenario.hit) {
    const upstream = upstreamCount(run);
    if (upstream > run.load.total * 0.01) progress(`  warning: the origin answered ${upstream} requests during a hit run of ${run.load.total}: not all hits`);
  }
  return { ...run, cacheStatus };
}

interface RedisSection {
  url: string;
  version: string;
  namespace: string;
  runs: Map<Scenario, Measured>;
  keys: KeyCost[];
  /** Keys of the /1k entry (hash-tagged with its URL key). */
  entryKeys: KeyCost[];
  peakRss: number | undefined;
}

async function redisColumn(origin: Origin): Promise<RedisSection | string> {
  if (!SCENARIOS.includes(HIT_1K) && !SCENARIOS.includes(HIT_100K)) return 'BENCH_ONLY leaves out both hit scenarios';
  let redis: BenchRedis;
  try {
    redis = await BenchRedis.connect(REDIS_URL);
  } catch (error) {
    return `Redis is not reachable at ${REDIS_URL} (${(error as Error).message || String(error)}); set REDIS_URL or start redis-server to get it`;
  }
  const namespace = `bench-${randomBytes(4).toString('hex')}`;
  let proxy: Proxy | undefined;
  // A redis-server on this machine competes for the same two cores: count its CPU as ours.
  const redisMonitor = isLocalProcess(redis.pid, 'redis-server') ? new ProcessMonitor(redis.pid!) : undefined;
  try {
    progress(`Redis ${redis.version} at ${REDIS_URL}, namespace ${namespace}`);
    try {
      proxy = await startProxy(['--store', REDIS_URL, '--namespace', namespace]);
    } catch (error) {
      return `the proxy did not start with --store ${REDIS_URL}: ${(error as Error).message}`;
    }
    const runs = new Map<Scenario, Measured>();
    let keys: KeyCost[] = [];
    let entryKeys: KeyCost[] = [];
    for (const scenario of [HIT_1K, HIT_100K].filter((s) => SCENARIOS.includes(s))) {
      let best: Measured | undefined;
      for (let round = 0; round < ROUNDS; round++) best = faster(best, await throughProxy(scenario, proxy, origin, 'Redis store', redisMonitor));
      runs.set(scenario, best!);
      if (scenario !== HIT_1K) continue;
      // Only the /1k entry exists now: cost it before the 100 KB entry joins it.
      keys = await Promise.all((await redis.keys(namespace)).map((key) => redis.cost(key)));
      const tag = `{${urlKey(new URL(`http://127.0.0.1:${origin.port}${HIT_1K.route}`))}}`;
      entryKeys = keys.filter((k) => k.key.includes(tag));
      if (!entryKeys.length) entryKeys = keys.filter((k) => k.bodyBytes === 1024);
    }
    const peakRss = proxy.monitor.lifetimePeak();
    return { url: REDIS_URL, version: redis.version, namespace, runs, keys, entryKeys, peakRss };
  } finally {
    if (proxy) await stopProxy(proxy);
    redisMonitor?.stop();
    const cleaned = await redis.clean(namespace).catch((error: Error) => {
      progress(`could not clean namespace ${namespace}: ${error.message}`);
      return 0;
    });
    progress(`deleted ${cleaned} keys under ${namespace}:`);
    redis.close();
  }
}

/** `87 % (sys 35 %)`: CPU as % of one core, with its kernel part. */
function cpuCell(cpu: number | undefined, sys: number | undefined): string {
  return cpu === undefined ? 'n/a' : `${pct(cpu)} (sys ${pct(sys ?? 0)})`;
}

function faster(a: Measured | undefined, b: Measured): Measured {
  return a && rate(a) >= rate(b) ? a : b;
}

/** CPU used by neither the load generator, the proxy nor the origin during a run (% of one core). */
function notOurs(m: Measured): number | undefined {
  if (!m.machine) return undefined;
  const ours = m.loadCpu.cpuPercent + (m.server.cpuPercent ?? 0) + (m.origin?.cpuPercent ?? 0) + (m.redis?.cpuPercent ?? 0);
  return Math.max(0, m.machine.busyPercent - ours);
}

function upstreamCount(m: Pick<Measured, 'originResponses'>): number {
  return Object.values(m.originResponses).reduce((a, b) => a + b, 0);
}

function rate(m: Measured): number {
  return m.load.requestsPerSecond;
}

function latency(m: Measured): string {
  return `${ms(m.load.p50Ms)} / ${ms(m.load.p99Ms)}`;
}

function report(originPeak: number | undefined, memory: Map<Scenario, { proxy: Measured; direct: Measured }>, proxyPeak: number | undefined, redis: RedisSection | string, https: HttpsResults | string): string {
  const out: string[] = [];
  const cpu = cpus();
  const version = (JSON.parse(readFileSync(join(HERE, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  out.push(`## Benchmark (etag-proxy ${version})`, '');
  out.push(
    `Node ${process.version} on ${platform()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}. autocannon in the bench process, ` +
      `${CONNECTIONS} connections, ${SECONDS} s per run after a ${WARMUP_SECONDS} s warm-up${ROUNDS > 1 ? ` (best of ${ROUNDS} alternating rounds)` : ''}; origin (plain node:http, canned bodies) and proxy ` +
      `(\`--log-level warn\`, memory store) are child processes on 127.0.0.1, all sharing the machine.`,
    '',
  );
  const rows = [...memory].map(([scenario, { proxy, direct }]) => [
    scenario.name,
    int(rate(proxy)),
    int(rate(direct)),
    pct((100 * rate(proxy)) / rate(direct)),
    latency(proxy),
    latency(direct),
    (upstreamCount(proxy) / proxy.load.total).toFixed(2),
    mb(proxy.server.peakRss),
  ]);
  const header = ['Scenario', 'Proxy req/s', 'Origin req/s', 'Proxy / origin', 'Proxy p50 / p99 ms', 'Origin p50 / p99 ms', 'Upstream req per proxied req', 'Proxy peak RSS'];
  out.push(table(header, rows), '');
  out.push(`Peak RSS over the whole run (VmHWM): proxy ${mb(proxyPeak)}, origin ${mb(originPeak)}.`, '');

  let redisBar: boolean | undefined;
  let redisDetail: string;
  let sizeBar: boolean | undefined;
  let sizeDetail: string;
  if (typeof redis === 'string') {
    out.push(`Redis column skipped: ${redis}.`, '');
    redisDetail = sizeDetail = 'Redis column skipped';
  } else {
    out.push(`### Redis store (Redis ${redis.version}, \`--store ${redis.url}\`)`, '');
    const redisRows: string[][] = [];
    const ratios: string[] = [];
    redisBar = true;
    for (const [scenario, run] of redis.runs) {
      const inMemory = memory.get(scenario)?.proxy;
      const ratio = inMemory ? (100 * rate(run)) / rate(inMemory) : NaN;
      redisBar &&= ratio >= 60;
      ratios.push(`${scenario.name.replace('Hit, ', '')} ${pct(ratio)}`);
      redisRows.push([scenario.name, inMemory ? int(rate(inMemory)) : 'n/a', int(rate(run)), pct(ratio), latency(run), mb(run.server.peakRss)]);
    }
    redisDetail = ratios.join(', ');
    out.push(table(['Scenario', 'Memory store req/s', 'Redis store req/s', 'Redis / memory', 'Redis p50 / p99 ms', 'Proxy peak RSS'], redisRows), '');
    out.push(`Peak RSS of the Redis-store proxy (VmHWM): ${mb(redis.peakRss)}.`, '');
    if (redis.runs.has(HIT_1K)) {
      out.push('Redis memory for the cached 1 KB entry (`MEMORY USAGE <key> SAMPLES 0`, after the 1 KB run, before the 100 KB one):', '');
      const entry = new Set(redis.entryKeys);
      out.push(
        table(
          ['Key', 'Part of the /1k entry', 'Type / encoding', 'MEMORY USAGE', 'Body field'],
          redis.keys.map((k) => [`\`${k.key}\``, entry.has(k) ? 'yes' : 'no', `${k.type} / ${k.encoding}`, bytes(k.bytes), k.bodyBytes === undefined ? '' : bytes(k.bodyBytes)]),
          [false, false, false, true, true],
        ),
        '',
      );
      const entryBytes = redis.entryKeys.reduce((sum, k) => sum + k.bytes, 0);
      if (redis.entryKeys.length) {
        const ratio = entryBytes / 1024;
        sizeBar = ratio < 2;
        sizeDetail = `${bytes(entryBytes)} in Redis for a 1,024 B body = ${ratio.toFixed(2)}x`;
      } else {
        sizeDetail = 'no key of the /1k entry found in the namespace';
      }
      out.push(`Per cached 1 KB entry: ${sizeDetail}.`, '');
    } else {
      sizeDetail = 'the 1 KB hit was not run';
    }
  }

  const httpsPart = httpsReport(https);
  out.push(...httpsPart.lines);

  const hit1k = memory.get(HIT_1K);
  const hitRatio = hit1k ? (100 * rate(hit1k.proxy)) / rate(hit1k.direct) : undefined;
  out.push('### Bars', '');
  out.push(bar('1 KB hit ≥ 70 % of origin req/s', hitRatio === undefined ? undefined : hitRatio >= 70, hitRatio === undefined ? 'the 1 KB hit was not run' : pct(hitRatio)));
  out.push(bar('Redis hits ≥ 60 % of memory hits', redisBar, redisDetail));
  out.push(bar('Redis bytes per 1 KB entry < 2x', sizeBar, sizeDetail));
  out.push(...httpsPart.bars, '');

  const runs: [string, Measured, boolean][] = [];
  for (const [scenario, { proxy, direct }] of memory) runs.push([`${scenario.name}, origin`, direct, true], [`${scenario.name}, proxy`, proxy, false]);
  if (typeof redis !== 'string') for (const [scenario, run] of redis.runs) runs.push([`${scenario.name}, proxy (Redis)`, run, false]);
  const contended = runs.filter(([, m]) => (notOurs(m) ?? 0) > CONTENDED_PERCENT);
  for (const [name, m] of contended)
    out.push(`> Warning: during "${name}", ${pct(notOurs(m) ?? 0)} of a core went to other processes or interrupts; its figures are lowered. Rerun on an idle machine or with BENCH_ROUNDS=3.`);
  if (contended.length) out.push('');

  out.push(`### Diagnostics (CPU in % of one core during each measured run, kernel part as sys; the machine has ${availableParallelism()} × 100 %)`, '');
  out.push('"Server" is the proxy in proxy runs and the origin in origin runs: CPU per request is the figure other load on the machine disturbs least.', '');
  const diagRows = runs.map(([name, m, serverIsOrigin]) => {
    const upstream = Object.entries(m.originResponses).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || 'none';
    return [
      name,
      int(rate(m)),
      m.server.cpuPercent === undefined ? 'n/a' : ((m.server.cpuPercent * 10_000) / rate(m)).toFixed(1),
      ((m.loadCpu.cpuPercent * 10_000) / rate(m)).toFixed(1),
      cpuCell(m.loadCpu.cpuPercent, m.loadCpu.sysPercent),
      serverIsOrigin ? '' : cpuCell(m.server.cpuPercent, m.server.sysPercent),
      serverIsOrigin ? cpuCell(m.server.cpuPercent, m.server.sysPercent) : cpuCell(m.origin?.cpuPercent, m.origin?.sysPercent),
      m.redis ? cpuCell(m.redis.cpuPercent, m.redis.sysPercent) : '',
      m.machine ? pct(m.machine.busyPercent) : 'n/a',
      m.machine ? pct(notOurs(m) ?? 0) : 'n/a',
      m.machine ? pct(m.machine.stealPercent) : 'n/a',
      upstream,
      m.cacheStatus ?? '',
      `${m.load.errors} / ${m.load.non2xx}`,
    ];
  });
  out.push(
    table(
      ['Run', 'req/s', 'Server µs CPU / req', 'Load gen. µs CPU / req', 'Load generator CPU', 'Proxy CPU', 'Origin CPU', 'redis-server CPU', 'Machine busy', 'Not ours (irq, others)', 'Steal', 'Origin responses', 'Cache-Status', 'Errors / non-2xx'],
      diagRows,
      [false, true, true, true, true, true, true, true, true, true, true, false, false, true],
    ),
  );
  return out.join('\n');
}

async function main(): Promise<void> {
  progress(`${SECONDS} s per run, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up, ${ROUNDS} round(s)`);
  const origin = await startOrigin();
  progress(`origin on 127.0.0.1:${origin.port} (pid ${origin.child.pid})`);

  const proxy = await startProxy([]);
  progress(`proxy (memory store) on ${proxy.url} (pid ${proxy.child.pid})`);
  const memory = new Map<Scenario, { proxy: Measured; direct: Measured }>();
  for (const scenario of SCENARIOS) {
    let best: { proxy: Measured; direct: Measured } | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      const straight = await direct(scenario, origin);
      const proxied = await throughProxy(scenario, proxy, origin, 'memory store');
      best = { direct: faster(best?.direct, straight), proxy: faster(best?.proxy, proxied) };
    }
    memory.set(scenario, best!);
  }
  const proxyPeak = proxy.monitor.lifetimePeak();
  await stopProxy(proxy);

  const redis = await redisColumn(origin);
  if (typeof redis === 'string') progress(`Redis column skipped: ${redis}`);

  const originPeak = origin.monitor.lifetimePeak();
  origin.monitor.stop();
  await origin.child.stop();

  // BENCH_ONLY=https runs only these; a list without it skips them.
  const https =
    ONLY && !ONLY.has('/https')
      ? 'BENCH_ONLY leaves them out'
      : await runHttpsBench({ originScript: ORIGIN_SCRIPT, cliScript: CLI_SCRIPT, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, rounds: ROUNDS, progress });
  process.stdout.write(`${report(originPeak, memory, proxyPeak, redis, https)}\n`);
}

await runScript('bench', main, progress);
