// `npm run bench`: starts the origin and the proxy (memory store, then Redis store) as child
// processes, loads each scenario through the proxy and straight to the origin in the same run,
// and prints Markdown tables plus the issues' bars on stdout (progress goes to stderr). The load
// generator is wrk (bench/load.ts), autocannon when wrk is not on the PATH.
// Environment: BENCH_SECONDS (8), BENCH_CONNECTIONS (50), BENCH_WARMUP_SECONDS (1), REDIS_URL,
// BENCH_ROUNDS (1: with N, origin and proxy runs alternate N times and the best of each counts),
// BENCH_IDLE_WAIT_SECONDS (30: longest wait before each run for other processes to go quiet),
// BENCH_ONLY (routes to run, e.g. `1k,nostore,many`; `bare` = the forwarding floor, which also runs
// with `nostore` or `revalidate`; `bare-cache` = the hit floor, which also runs with `1k`),
// BENCH_PROXY_NODE_ARGS (e.g. `--cpu-prof`),
// BENCH_LOAD_GENERATOR (wrk | autocannon), BENCH_WRK_THREADS (1),
// BENCH_MANY_CACHE_SIZE (64MiB: --cache-size of the many-URLs proxy), BENCH_ZIPF_EXPONENT (1),
// BENCH_WORKERS (2: also run the hits, revalidation and pass-through with --workers N, Redis and
// memory store; 0 = skip), BENCH_DISK (1: also the disk store's rows, bench/disk.ts; 0 = skip),
// BENCH_MANY_LARGE_CACHE_SIZE (512MiB: the disk rows' many-URLs cap above the working set),
// BENCH_STARTUP_CACHE_SIZE (1GiB: the disk cache filled before the start-up measurement; BENCH_ONLY=startup runs only it).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { urlKey } from '../src/cache/keys.js';
import { parseSize } from '../src/config/schema.js';
import { churnSize, KEYED_MAX, KEYED_MIN } from './churn.js';
import { pct } from './format.js';
import { runHttpsBench } from './https.js';
import { runParentBench } from './parents.js';
import { loadGenerator, runLoad, type LoadTarget } from './load.js';
import { freePort, get, isLocalProcess, memoryStoreUnlessGiven, MachineCpu, runScript, machineBusy, ProcessMonitor, spawnNode, waitForHttp, waitForLine, type Child, type Fetched } from './processes.js';
import { diskReport, type DiskRow, type DiskStartup } from './disk.js';
import { storeFileBytes } from '../src/store/disk/open.js';
import { fillDiskCache } from './full-cache.js';
import { BenchRedis, type KeyCost } from './redis.js';
import { report, type BenchSetup, type FloorRuns, type MemorySection, type RedisSection, type WorkersSection } from './report.js';
import { allScenarios, FLOORS, MANY_URLS, rate, upstreamCount, WORKER_SCENARIOS, type Floor, type FloorKind, type Measured, type Scenario } from './scenarios.js';

const SECONDS = positive('BENCH_SECONDS', 8);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 50);
const WARMUP_SECONDS = positive('BENCH_WARMUP_SECONDS', 1, true);
const ROUNDS = Math.round(positive('BENCH_ROUNDS', 1));
const IDLE_WAIT_SECONDS = positive('BENCH_IDLE_WAIT_SECONDS', 30, true);
const WORKERS = Math.round(positive('BENCH_WORKERS', 2, true));
const ZIPF_EXPONENT = positive('BENCH_ZIPF_EXPONENT', 1);
const MANY_CACHE_SIZE = process.env.BENCH_MANY_CACHE_SIZE || '64MiB';
const MANY_LARGE_CACHE_SIZE = process.env.BENCH_MANY_LARGE_CACHE_SIZE || '512MiB';
const DISK = process.env.BENCH_DISK !== '0';
const STARTUP_CACHE_SIZE = process.env.BENCH_STARTUP_CACHE_SIZE || '1GiB';
// CPU of the machine not used by the load generator, proxy or origin (other processes, irq)
// above which a run is flagged: on a shared machine it lowers whichever side it hits.
const CONTENDED_PERCENT = 20;
// Machine CPU (% of one core) below which it counts as quiet enough to start a run.
const QUIET_PERCENT = 15;
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((r) => r.trim().replace(/^\//, ''))) : undefined;
const PROXY_NODE_ARGS = (process.env.BENCH_PROXY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);

const HERE = dirname(fileURLToPath(import.meta.url));
const ORIGIN_SCRIPT = join(HERE, 'origin-server.js');
const CLI_SCRIPT = join(HERE, '..', 'src', 'cli', 'main.js');
const PARENT_SCRIPT = join(HERE, 'parent-server.js');

const ALL_SCENARIOS = allScenarios(MANY_CACHE_SIZE);
const SCENARIOS = ALL_SCENARIOS.filter((s) => !ONLY || ONLY.has(s.id));
const SCENARIOS_WITH_WORKERS = SCENARIOS.filter((s) => WORKER_SCENARIOS.includes(s.id));
const FLOOR_SCENARIOS = new Map(Object.values(FLOORS).map((floor) => [floor, ALL_SCENARIOS.find((s) => s.id === floor.scenario)!]));
// A prefill pass repeats until it finds every URL cached; past this many it gives up and says so.
const PREFILL_MAX_PASSES = 20;
const MISS = /fwd=(?:uri-|vary-)?miss\b/;

interface Origin {
  child: Child;
  port: number;
  monitor: ProcessMonitor;
}

/** The proxy, or a floor (bench/bare-forwarder.ts, bench/bare-cache.ts) measured the same way. */
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
  const child = spawnNode('proxy', CLI_SCRIPT, memoryStoreUnlessGiven(['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...extraArgs]), PROXY_NODE_ARGS);
  const url = `http://127.0.0.1:${port}`;
  // Origin-form to the proxy's own port is its help page: 200 once it accepts connections.
  await waitForHttp(child, `${url}/`);
  return { child, port, url, monitor: new ProcessMonitor(child.pid) };
}

/** A floor's script on a port of its own, or why it would not start (its child stopped). */
async function startFloor(floor: Floor): Promise<Proxy | string> {
  const child = spawnNode(floor.name, join(HERE, `${floor.file}.js`), []);
  try {
    const port = Number(await waitForLine(child, /listening (\d+)/));
    return { child, port, url: `http://127.0.0.1:${port}`, monitor: new ProcessMonitor(child.pid) };
  } catch (error) {
    await child.stop();
    return `the ${floor.name} did not start: ${(error as Error).message.split('\n')[0] ?? ''}`;
  }
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

function loadTarget(scenario: Scenario, connectTo: string, path: string, host: string): LoadTarget {
  return { connectTo, path, host, spread: scenario.spread, pick: scenario.pick, zipfExponent: ZIPF_EXPONENT };
}

/** One measured run against `target`, answered by `server` (the proxy or the origin itself). */
async function measure(scenario: Scenario, target: LoadTarget, server: ProcessMonitor, origin: Origin, redis?: ProcessMonitor): Promise<Omit<Measured, 'cacheStatus'>> {
  if (IDLE_WAIT_SECONDS > 0) await waitForQuiet();
  const warmup = WARMUP_SECONDS > 0 ? Math.max(WARMUP_SECONDS, scenario.minWarmupSeconds ?? 0) : 0;
  if (warmup > 0) await runLoad(target, { connections: CONNECTIONS, seconds: warmup });
  const machine = new MachineCpu();
  const before = await originStats(origin);
  const throughProxy = server !== origin.monitor;
  server.begin();
  if (throughProxy) origin.monitor.begin();
  redis?.begin();
  machine.begin();
  const load = await runLoad(target, { connections: CONNECTIONS, seconds: SECONDS });
  const machineStats = machine.end();
  const serverStats = server.end();
  const originWindow = throughProxy ? origin.monitor.end() : undefined;
  const redisWindow = redis?.end();
  const originResponses = diff(await originStats(origin), before);
  if (load.errors || load.non2xx) progress(`  warning: ${load.errors} errors (${load.timeouts} timeouts), ${load.non2xx} non-2xx responses`);
  return { load, server: serverStats, origin: originWindow, redis: redisWindow, machine: machineStats, originResponses };
}

async function direct(scenario: Scenario, origin: Origin): Promise<Measured> {
  progress(`${scenario.name}: straight to the origin`);
  const host = `127.0.0.1:${origin.port}`;
  const run = await measure(scenario, loadTarget(scenario, `http://${host}`, `/${scenario.id}`, host), origin.monitor, origin);
  return { ...run, cacheStatus: undefined };
}

async function throughProxy(scenario: Scenario, proxy: Proxy, origin: Origin, label: string, redis?: ProcessMonitor): Promise<Measured> {
  progress(`${scenario.name}: through the proxy (${label})`);
  const host = `127.0.0.1:${origin.port}`;
  const absolute = `http://${host}/${scenario.id}`;
  // The warm-up requests fill the cache (and show the route answers at all).
  for (let i = 0; i < 2; i++) await getThrough(proxy, absolute, host, 'warm-up');
  if (scenario.prefill && scenario.spread) await prefill(proxy, absolute, host, scenario.spread);
  const run = await measure(scenario, loadTarget(scenario, proxy.url, absolute, host), proxy.monitor, origin, redis);
  if (scenario.hit) {
    const upstream = upstreamCount(run);
    if (upstream > run.load.total * 0.01) progress(`  warning: the origin answered ${upstream} requests during a hit run of ${run.load.total}: not all hits`);
  }
  // What a measured request got: the load's first URL once more, after the run (with --workers N
  // it lands on any worker, each of which has had the warm-up to fill).
  const sample = await getThrough(proxy, scenario.spread ? `${absolute}?k=0` : absolute, host, 'sample');
  return { ...run, cacheStatus: String(sample.headers['cache-status'] ?? '(none)') };
}

async function getThrough(proxy: Proxy, absolute: string, host: string, purpose: string): Promise<Fetched> {
  const res = await get(proxy.url, { path: absolute, headers: { host } });
  if (res.status !== 200) throw new Error(`${purpose} GET ${absolute} through the proxy answered ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
  return res;
}

/**
 * GET `absolute?k=0` … `?k=count-1` through the proxy, pass after pass, until a pass finds every
 * URL cached. With --workers N each worker holds entries of its own and each new connection goes
 * to one of them, so one pass fills each URL in one worker only; each pass starts one URL further
 * on, so that a URL does not keep landing on the same worker.
 */
async function prefill(proxy: Proxy, absolute: string, host: string, count: number): Promise<void> {
  let misses = count;
  let pass = 0;
  for (; pass < PREFILL_MAX_PASSES && misses > 0; pass++) misses = await prefillPass(proxy, absolute, host, count, pass);
  if (misses > 0) progress(`  warning: the prefill still met ${misses} misses in its pass ${pass}: some requests will miss`);
  else if (pass > 2) progress(`  prefill: ${pass} passes until one found every URL cached`);
}

/** One GET of each URL, starting at `?k=<offset>`, a few at a time on new connections; returns the misses. */
async function prefillPass(proxy: Proxy, absolute: string, host: string, count: number, offset: number): Promise<number> {
  let next = 0;
  let misses = 0;
  const fetchNext = async (): Promise<void> => {
    for (let i = next++; i < count; i = next++) {
      const res = await getThrough(proxy, `${absolute}?k=${(i + offset) % count}`, host, 'prefill');
      if (MISS.test(String(res.headers['cache-status'] ?? ''))) misses++;
    }
  };
  await Promise.all(Array.from({ length: 8 }, fetchNext));
  return misses;
}

function faster(a: Measured | undefined, b: Measured): Measured {
  return a && rate(a) >= rate(b) ? a : b;
}

/** The fastest of ROUNDS runs. */
async function bestOfRounds(run: () => Promise<Measured>): Promise<Measured> {
  let best: Measured | undefined;
  for (let round = 0; round < ROUNDS; round++) best = faster(best, await run());
  return best!;
}

/** Best of ROUNDS runs through `proxy`, or through a proxy of the scenario's own (`proxyArgs`) started with `storeArgs`. */
async function bestThroughProxy(scenario: Scenario, shared: Proxy, storeArgs: string[], origin: Origin, label: string, redis?: ProcessMonitor, directRun?: () => Promise<void>): Promise<Measured> {
  const own = scenario.proxyArgs ? await startProxy([...storeArgs, ...scenario.proxyArgs]) : undefined;
  try {
    const best = await bestOfRounds(async () => {
      await directRun?.();
      return throughProxy(scenario, own ?? shared, origin, label, redis);
    });
    return own ? { ...best, ownProxyPeakRss: own.monitor.lifetimePeak() } : best;
  } finally {
    if (own) await stopProxy(own);
  }
}

async function memorySection(origin: Origin): Promise<MemorySection> {
  const proxy = await startProxy([]);
  progress(`proxy (memory store) on ${proxy.url} (pid ${proxy.child.pid})`);
  const runs = new Map<Scenario, { proxy: Measured; direct: Measured }>();
  const floors: Partial<Record<FloorKind, FloorRuns | string>> = {};
  try {
    for (const scenario of SCENARIOS) {
      let straight: Measured | undefined;
      // Origin and proxy runs alternate, round by round.
      const proxied = await bestThroughProxy(scenario, proxy, [], origin, 'memory store', undefined, async () => void (straight = faster(straight, await direct(scenario, origin))));
      runs.set(scenario, { proxy: proxied, direct: straight! });
      // Right after the proxy's run of the floor's scenario, against the same origin runs.
      for (const floor of Object.values(FLOORS)) if (FLOOR_SCENARIOS.get(floor) === scenario) floors[floor.kind] = await floorRuns(floor, origin, straight);
    }
    for (const floor of Object.values(FLOORS)) floors[floor.kind] ??= floorWanted(floor) ? await floorRuns(floor, origin) : floorSkipped(floor);
    return { runs, peakRss: proxy.monitor.lifetimePeak(), floors: floors as Record<FloorKind, FloorRuns | string> };
  } finally {
    await stopProxy(proxy);
  }
}

function floorWanted(floor: Floor): boolean {
  return !ONLY || floor.only.some((name) => ONLY.has(name));
}

function floorSkipped(floor: Floor): string {
  const [own, ...bringers] = floor.only;
  return `BENCH_ONLY leaves out ${bringers.join(' and ')}, which bring${bringers.length > 1 ? '' : 's'} it: add \`${own}\` to run it alone`;
}

/**
 * A floor: its scenario's load through its bare server, measured as the proxy is, against
 * `straight` (the origin runs of the proxy's run of that scenario) or, when BENCH_ONLY left that
 * out, against origin runs of its own, alternating with it.
 */
async function floorRuns(floor: Floor, origin: Origin, straight?: Measured): Promise<FloorRuns | string> {
  const scenario = FLOOR_SCENARIOS.get(floor)!;
  const bare = await startFloor(floor);
  if (typeof bare === 'string') return bare;
  progress(`${floor.name} on ${bare.url} (pid ${bare.child.pid})`);
  try {
    let against = straight;
    const best = await bestOfRounds(async () => {
      if (!straight) against = faster(against, await direct(scenario, origin));
      return throughProxy(scenario, bare, origin, floor.name);
    });
    return { floor, scenario, bare: best, direct: against! };
  } finally {
    await stopProxy(bare);
  }
}

/** WORKER_SCENARIOS through a proxy started with `--workers N` on top of `storeArgs`, or why it would not start. */
async function workersRuns(storeArgs: string[], origin: Origin, label: string, redis?: ProcessMonitor): Promise<Map<Scenario, Measured> | string> {
  let proxy: Proxy;
  try {
    proxy = await startProxy([...storeArgs, '--workers', String(WORKERS)]);
  } catch (error) {
    const message = (error as Error).message;
    return message.split('\n').find((line) => /workers/i.test(line))?.trim() ?? message.split('\n')[0] ?? 'did not start';
  }
  progress(`proxy (${label}) on ${proxy.url} (pid ${proxy.child.pid})`);
  try {
    const runs = new Map<Scenario, Measured>();
    for (const scenario of SCENARIOS_WITH_WORKERS) {
      const best = await bestOfRounds(() => throughProxy(scenario, proxy, origin, label, redis));
      runs.set(scenario, { ...best, ownProxyPeakRss: proxy.monitor.lifetimePeak() });
    }
    return runs;
  } finally {
    await stopProxy(proxy);
  }
}

async function redisSection(origin: Origin): Promise<{ redis: RedisSection | string; workers: Map<Scenario, Measured> | string }> {
  if (!SCENARIOS.length) return { redis: 'BENCH_ONLY leaves out every scenario', workers: 'BENCH_ONLY leaves out every scenario' };
  let redis: BenchRedis;
  try {
    redis = await BenchRedis.connect(REDIS_URL);
  } catch (error) {
    const reason = `Redis is not reachable at ${REDIS_URL} (${(error as Error).message || String(error)}); set REDIS_URL or start redis-server to get it`;
    return { redis: reason, workers: reason };
  }
  const namespace = `bench-${randomBytes(4).toString('hex')}`;
  const storeArgs = ['--store', REDIS_URL, '--namespace', namespace];
  let proxy: Proxy | undefined;
  // A redis-server on this machine competes for the same two cores: count its CPU as ours.
  const redisMonitor = isLocalProcess(redis.pid, 'redis-server') ? new ProcessMonitor(redis.pid!) : undefined;
  try {
    progress(`Redis ${redis.version} at ${REDIS_URL}, namespace ${namespace}`);
    try {
      proxy = await startProxy(storeArgs);
    } catch (error) {
      const reason = `the proxy did not start with --store ${REDIS_URL}: ${(error as Error).message}`;
      return { redis: reason, workers: reason };
    }
    const runs = new Map<Scenario, Measured>();
    let keys: KeyCost[] = [];
    let entryKeys: KeyCost[] = [];
    for (const scenario of SCENARIOS) {
      runs.set(scenario, await bestThroughProxy(scenario, proxy, storeArgs, origin, 'Redis store', redisMonitor));
      if (scenario.id !== '1k') continue;
      // Only the /1k entry exists now: cost it before the others join it.
      keys = await Promise.all((await redis.keys(namespace)).map((key) => redis.cost(key)));
      const tag = `{${urlKey(new URL(`http://127.0.0.1:${origin.port}/1k`))}}`;
      entryKeys = keys.filter((k) => k.key.includes(tag));
      if (!entryKeys.length) entryKeys = keys.filter((k) => k.bodyBytes === 1024);
    }
    const peakRss = proxy.monitor.lifetimePeak();
    await stopProxy(proxy);
    proxy = undefined;
    const workers = WORKERS > 1 && SCENARIOS_WITH_WORKERS.length ? await workersRuns(storeArgs, origin, `Redis store, --workers ${WORKERS}`, redisMonitor) : workersSkipped();
    return { redis: { url: REDIS_URL, version: redis.version, namespace, runs, keys, entryKeys, peakRss }, workers };
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

/**
 * The disk store's rows: 1 KB and 100 KB hits and many URLs (at MANY_CACHE_SIZE and at
 * MANY_LARGE_CACHE_SIZE), each on the disk store and, for the large cap, on the memory store too
 * (the other memory rows are memorySection's, from the same run). Then start-up on a cache filled
 * to STARTUP_CACHE_SIZE (BENCH_ONLY=startup: only that).
 */
async function diskSection(origin: Origin, memory: MemorySection): Promise<string> {
  const wanted = ALL_SCENARIOS.filter((s) => ['1k', '100k', 'many'].includes(s.id) && (!ONLY || ONLY.has(s.id)));
  const many = ALL_SCENARIOS.find((s) => s.id === 'many')!;
  const large: Scenario = { ...many, name: many.name.replace(MANY_CACHE_SIZE, MANY_LARGE_CACHE_SIZE), proxyArgs: ['--cache-size', MANY_LARGE_CACHE_SIZE] };
  const dirs: string[] = [];
  const diskArgs = (): string[] => {
    const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-bench-disk-'));
    dirs.push(dir);
    return ['--store', `disk:${dir}`];
  };
  const rows: DiskRow[] = [];
  const shared = await startProxy(diskArgs());
  progress(`proxy (disk store) on ${shared.url} (pid ${shared.child.pid})`);
  let startup: DiskStartup | string = 'BENCH_ONLY leaves out many and startup';
  try {
    for (const scenario of wanted) {
      const memoryRun = memory.runs.get(scenario)?.proxy;
      if (!memoryRun) continue;
      rows.push({ scenario, memory: memoryRun, disk: await bestThroughProxy(scenario, shared, diskArgs(), origin, 'disk store') });
    }
    if (wanted.includes(many)) {
      const memoryLarge = await bestThroughProxy(large, shared, [], origin, 'memory store');
      const largeArgs = diskArgs();
      rows.push({ scenario: large, memory: memoryLarge, disk: await bestThroughProxy(large, shared, largeArgs, origin, 'disk store') });
    }
    if (!ONLY || ONLY.has('many') || ONLY.has('startup')) startup = await firstAnswer(diskArgs(), diskArgs(), origin);
    return diskReport(rows, startup, { memory: memory.peakRss, disk: shared.monitor.lifetimePeak() });
  } finally {
    await stopProxy(shared);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Spawn to the first 200 through the proxy on a disk store filled to STARTUP_CACHE_SIZE (1 MiB
 * entries through the store's API, then the timed URL stored by a proxy run of its own, so it is
 * the newest entry), and on an empty directory. Each start: a new process, timed until the first
 * request through it (a hit on the full cache) has its whole answer.
 */
async function firstAnswer(filledArgs: string[], emptyArgs: string[], origin: Origin): Promise<DiskStartup> {
  const capArgs = ['--cache-size', STARTUP_CACHE_SIZE];
  const host = `127.0.0.1:${origin.port}`;
  const target = `http://${host}/many?k=0`;
  const time = async (args: string[]): Promise<{ ms: number; status: string }> => {
    const started = performance.now();
    const proxy = await startProxy([...args, ...capArgs]);
    try {
      const res = await getThrough(proxy, target, host, 'first answer');
      return { ms: performance.now() - started, status: String(res.headers['cache-status'] ?? '') };
    } finally {
      await stopProxy(proxy);
    }
  };
  const dir = filledArgs[1]!.slice('disk:'.length);
  const capBytes = parseSize('BENCH_STARTUP_CACHE_SIZE', STARTUP_CACHE_SIZE);
  const fillStarted = performance.now();
  const filled = await fillDiskCache(dir, capBytes * 0.97, capBytes);
  progress(`filled ${dir}: ${filled.entries} entries, ${Math.round(filled.bytes / 2 ** 20)} MiB in ${Math.round((performance.now() - fillStarted) / 1000)} s`);
  const storing = await startProxy([...filledArgs, ...capArgs]);
  try {
    await getThrough(storing, target, host, 'storing the timed URL');
  } finally {
    await stopProxy(storing);
  }
  const fileBytes = storeFileBytes(dir);
  const full = await time(filledArgs);
  const empty = await time(emptyArgs);
  return { fileBytes, storedBytes: filled.bytes, firstAnswerMs: full.ms, emptyFirstAnswerMs: empty.ms, firstCacheStatus: full.status };
}

function workersSkipped(): string {
  return WORKERS > 1 ? `BENCH_ONLY leaves out all of ${WORKER_SCENARIOS.join(', ')}` : `BENCH_WORKERS=${WORKERS}`;
}

/** Sum of the /many bodies: what a cache would need to hold them all. */
function manyWorkingSet(count: number): number {
  let total = 0;
  for (let k = 0; k < count; k++) total += churnSize(k, KEYED_MIN, KEYED_MAX);
  return total;
}

async function main(): Promise<void> {
  const generator = loadGenerator();
  progress(`${SECONDS} s per run, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up, ${ROUNDS} round(s), load generator ${generator}`);
  const fallbackReason = process.env.BENCH_LOAD_GENERATOR === 'autocannon' ? 'BENCH_LOAD_GENERATOR=autocannon' : 'wrk is not on the PATH';
  if (generator === 'autocannon') progress(`${fallbackReason}: the load generator is autocannon, which pulls every proxy / origin ratio toward 1 (apt-get install wrk)`);
  const origin = await startOrigin();
  progress(`origin on 127.0.0.1:${origin.port} (pid ${origin.child.pid})`);

  const memory = await memorySection(origin);
  const disk = DISK ? await diskSection(origin, memory) : 'BENCH_DISK=0';
  const memoryWorkers = WORKERS > 1 && SCENARIOS_WITH_WORKERS.length ? await workersRuns([], origin, `memory store, --workers ${WORKERS}`) : workersSkipped();
  const { redis, workers: redisWorkers } = await redisSection(origin);
  if (typeof redis === 'string') progress(`Redis column skipped: ${redis}`);

  const originPeak = origin.monitor.lifetimePeak();
  origin.monitor.stop();
  await origin.child.stop();

  // BENCH_ONLY=https runs only these; a list without it skips them.
  const https =
    ONLY && !ONLY.has('https')
      ? 'BENCH_ONLY leaves them out'
      : await runHttpsBench({ originScript: ORIGIN_SCRIPT, cliScript: CLI_SCRIPT, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, rounds: ROUNDS, progress });
  const setup: BenchSetup = {
    generator,
    fallbackReason,
    wrkThreads: Number(process.env.BENCH_WRK_THREADS || 1),
    connections: CONNECTIONS,
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    rounds: ROUNDS,
    contendedPercent: CONTENDED_PERCENT,
    manyCacheSize: MANY_CACHE_SIZE,
    manyCacheBytes: parseSize('BENCH_MANY_CACHE_SIZE', MANY_CACHE_SIZE),
    manyWorkingSetBytes: manyWorkingSet(MANY_URLS),
    zipfExponent: ZIPF_EXPONENT,
    workers: WORKERS,
  };
  const workers: WorkersSection = { memory: memoryWorkers, redis: redisWorkers };
  // BENCH_ONLY=parent runs only this one; a list without it skips it.
  const parents =
    ONLY && !ONLY.has('parent')
      ? '## Through a parent proxy\n\nBENCH_ONLY leaves it out'
      : await runParentBench({ originScript: ORIGIN_SCRIPT, cliScript: CLI_SCRIPT, parentScript: PARENT_SCRIPT, seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS, progress });
  process.stdout.write(`${report(setup, originPeak, memory, redis, workers, https)}\n\n${disk}\n\n${parents}\n`);
}

await runScript('bench', main, progress);
