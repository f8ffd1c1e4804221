// The benchmark's report on stdout: Markdown tables (memory store, the floors: bare forwarder and
// bare cache, Redis store, --workers, HTTPS), issue 22's bars as PASS / FAIL / SKIPPED with the
// floors' reference lines, the Redis and HTTPS issues' bars, warnings for contended runs, and the
// diagnostics table. Measuring is bench/run.ts's job; the scenarios, floors and bars are
// bench/scenarios.ts's tables.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bar, bytes, int, mb, ms, pct, table } from './format.js';
import { httpsReport, type HttpsResults } from './https.js';
import type { LoadGenerator } from './load.js';
import type { WindowStats } from './processes.js';
import type { KeyCost } from './redis.js';
import {
  BARS,
  cpuPerRequest,
  FLOORS,
  MANY_URLS,
  rate,
  REDIS_HIT_BAR,
  STORM_URLS,
  sysPerRequest,
  upstreamCount,
  WORKER_SCENARIOS,
  type Bar,
  type Floor,
  type FloorKind,
  type Measured,
  type Scenario,
  type ScenarioId,
} from './scenarios.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface BenchSetup {
  generator: LoadGenerator;
  /** Why autocannon was used, when it was. */
  fallbackReason: string;
  wrkThreads: number;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  contendedPercent: number;
  manyCacheSize: string;
  manyCacheBytes: number;
  manyWorkingSetBytes: number;
  zipfExponent: number;
  workers: number;
}

export interface MemorySection {
  runs: Map<Scenario, { proxy: Measured; direct: Measured }>;
  /** VmHWM of the shared memory-store proxy. */
  peakRss: number | undefined;
  /** Each floor's runs (FLOORS in bench/scenarios.ts), or why it was not run. */
  floors: Record<FloorKind, FloorRuns | string>;
}

/** A floor's best run and the origin runs it is a share of (those of the proxy's row of its scenario, when that ran). */
export interface FloorRuns {
  floor: Floor;
  scenario: Scenario;
  bare: Measured;
  direct: Measured;
}

export interface RedisSection {
  url: string;
  version: string;
  namespace: string;
  runs: Map<Scenario, Measured>;
  keys: KeyCost[];
  /** Keys of the /1k entry (hash-tagged with its URL key). */
  entryKeys: KeyCost[];
  peakRss: number | undefined;
}

/** WORKER_SCENARIOS with `--workers N`, per store, or why they were not run. */
export interface WorkersSection {
  memory: Map<Scenario, Measured> | string;
  redis: Map<Scenario, Measured> | string;
}

/** `87 % (sys 35 %)`: CPU as % of one core, with its kernel part. */
function cpuCell(cpu: number | undefined, sys: number | undefined): string {
  return cpu === undefined ? 'n/a' : `${pct(cpu)} (sys ${pct(sys ?? 0)})`;
}

const us = (n: number | undefined): string => (n === undefined ? 'n/a' : n.toFixed(1));

/** CPU used by neither the load generator, the proxy nor the origin during a run (% of one core). */
function notOurs(m: Measured): number | undefined {
  if (!m.machine) return undefined;
  const ours = m.load.generator.cpuPercent + (m.server.cpuPercent ?? 0) + (m.origin?.cpuPercent ?? 0) + (m.redis?.cpuPercent ?? 0);
  return Math.max(0, m.machine.busyPercent - ours);
}

function latency(m: Measured): string {
  return `${ms(m.load.p50Ms)} / ${ms(m.load.p99Ms)}`;
}

const hitRatio = (m: Measured): number => 100 * (1 - upstreamCount(m) / m.load.total);

function byId<T>(runs: Map<Scenario, T>, id: ScenarioId): T | undefined {
  for (const [scenario, value] of runs) if (scenario.id === id) return value;
  return undefined;
}

function generatorLine(setup: BenchSetup): string[] {
  if (setup.generator === 'wrk')
    return [`wrk (${setup.wrkThreads} thread${setup.wrkThreads > 1 ? 's' : ''}, bench/wrk.lua) as its own process`];
  return [
    'autocannon in the bench process',
    `> **${setup.fallbackReason}: the load generator is autocannon, which spends more CPU than the servers it measures and pulls every proxy / origin ratio toward 1. The bars are meant for wrk (\`apt-get install wrk\`).**`,
  ];
}

/** The scenario-specific lines under a table: many URLs' hit ratio and RSS, the storm's passes. */
function detailLines(runs: Map<Scenario, Measured>, setup: BenchSetup, store: string): string[] {
  const out: string[] = [];
  const many = byId(runs, 'many');
  if (many)
    out.push(
      `- Many URLs (${store}): ${int(MANY_URLS)} URLs of 4–64 KB (working set ${mb(setup.manyWorkingSetBytes)}), Zipf exponent ${setup.zipfExponent}, ` +
        `\`--cache-size ${setup.manyCacheSize}\` (${pct((100 * setup.manyCacheBytes) / setup.manyWorkingSetBytes)} of the working set${store === 'memory store' ? '' : '; with Redis it caps the near cache'}): ` +
        `hit ratio ${pct(hitRatio(many))}, ${int(rate(many))} req/s, p99 ${ms(many.load.p99Ms)} ms, peak RSS of its proxy (VmHWM) ${mb(many.ownProxyPeakRss)}.`,
    );
  const storm = byId(runs, 'stale');
  if (storm)
    out.push(
      `- Revalidate storm (${store}): ${int(STORM_URLS)} stale URLs requested in turn, each revalidated once per pass: ` +
        `${(rate(storm) / STORM_URLS).toFixed(1)} passes/s, ${(upstreamCount(storm) / storm.load.total).toFixed(2)} upstream requests per request ` +
        `(${Object.entries(storm.originResponses).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || 'none'}).`,
    );
  return out.length ? [...out, ''] : [];
}

export function report(setup: BenchSetup, originPeak: number | undefined, memory: MemorySection, redis: RedisSection | string, workers: WorkersSection, https: HttpsResults | string): string {
  const out: string[] = [];
  const cpu = cpus();
  const version = (JSON.parse(readFileSync(join(HERE, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
  const [generator, ...generatorWarning] = generatorLine(setup);
  out.push(`## Benchmark (etag-proxy ${version})`, '');
  out.push(
    `Node ${process.version} on ${platform()}, ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}. Load generator: ${generator}, ` +
      `${setup.connections} connections, ${setup.seconds} s per run after a ${setup.warmupSeconds} s warm-up${setup.rounds > 1 ? ` (best of ${setup.rounds} alternating rounds)` : ''}; origin (plain node:http, canned bodies) and proxy ` +
      `(\`--log-level warn\`, memory store) are child processes on 127.0.0.1, all sharing the machine. ` +
      'CPU µs / req: CPU time of the proxy (all its processes; with the Redis store plus redis-server\'s) or of the origin in its own run, divided by the requests answered.',
    '',
    ...generatorWarning.flatMap((line) => [line, '']),
  );
  const direct = (id: ScenarioId): Measured | undefined => byId(memory.runs, id)?.direct;
  const rows = [...memory.runs].map(([scenario, { proxy, direct }]) => [
    scenario.name,
    int(rate(proxy)),
    int(rate(direct)),
    pct((100 * rate(proxy)) / rate(direct)),
    latency(proxy),
    latency(direct),
    us(cpuPerRequest(proxy)),
    us(cpuPerRequest(direct)),
    (upstreamCount(proxy) / proxy.load.total).toFixed(2),
    mb(proxy.server.peakRss),
  ]);
  const header = ['Scenario', 'Proxy req/s', 'Origin req/s', 'Proxy / origin', 'Proxy p50 / p99 ms', 'Origin p50 / p99 ms', 'Proxy µs CPU / req', 'Origin µs CPU / req', 'Upstream req per proxied req', 'Proxy peak RSS'];
  out.push(table(header, rows), '');
  out.push(`Peak RSS over the whole run (VmHWM): proxy ${mb(memory.peakRss)}, origin ${mb(originPeak)}.`, '');
  const memoryProxies = new Map([...memory.runs].map(([s, r]) => [s, r.proxy]));
  out.push(...detailLines(memoryProxies, setup, 'memory store'));
  out.push(...floorReport(memory));

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
    for (const [scenario, run] of redis.runs) {
      const inMemory = memory.runs.get(scenario)?.proxy;
      const origin = direct(scenario.id);
      const ratio = inMemory ? (100 * rate(run)) / rate(inMemory) : NaN;
      if (scenario.hit) {
        redisBar = (redisBar ?? true) && ratio >= REDIS_HIT_BAR;
        ratios.push(`${scenario.name.replace('Hit, ', '')} ${pct(ratio)}`);
      }
      redisRows.push([
        scenario.name,
        inMemory ? int(rate(inMemory)) : 'n/a',
        int(rate(run)),
        pct(ratio),
        origin ? pct((100 * rate(run)) / rate(origin)) : 'n/a',
        latency(run),
        us(cpuPerRequest(run)),
        us(origin && cpuPerRequest(origin)),
        (upstreamCount(run) / run.load.total).toFixed(2),
        mb(run.server.peakRss),
      ]);
    }
    redisDetail = ratios.join(', ') || 'no hit scenario was run';
    out.push(
      table(
        ['Scenario', 'Memory store req/s', 'Redis store req/s', 'Redis / memory', 'Redis / origin', 'Redis p50 / p99 ms', 'Proxy + redis-server µs CPU / req', 'Origin µs CPU / req', 'Upstream req per proxied req', 'Proxy peak RSS'],
        redisRows,
      ),
      '',
    );
    out.push(`Peak RSS of the Redis-store proxy (VmHWM): ${mb(redis.peakRss)}.`, '');
    out.push(...detailLines(redis.runs, setup, 'Redis store'));
    if (byId(redis.runs, '1k')) {
      out.push('Redis memory for the cached 1 KB entry (`MEMORY USAGE <key> SAMPLES 0`, after the 1 KB run, before the others):', '');
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

  out.push(...workersReport(setup, memory, redis, workers));

  const httpsPart = httpsReport(https);
  out.push(...httpsPart.lines);

  out.push(`### Bars (issue 22: req/s ratios inside this run, CPU µs / req of each side${setup.generator === 'wrk' ? '' : '; measured with autocannon, not wrk, so pulled toward 1'})`, '');
  out.push(...issueBars(setup, memoryProxies, memory, workers.memory), '');
  out.push('Bars of the Redis and HTTPS issues:', '');
  out.push(bar(`Redis hits ≥ ${REDIS_HIT_BAR} % of memory hits`, redisBar, redisDetail));
  out.push(bar('Redis bytes per 1 KB entry < 2x', sizeBar, sizeDetail));
  out.push(...httpsPart.bars, '');

  const runs: [string, Measured, boolean][] = [];
  for (const [scenario, { proxy, direct }] of memory.runs) runs.push([`${scenario.name}, origin`, direct, true], [`${scenario.name}, proxy`, proxy, false]);
  for (const floor of Object.values(memory.floors)) {
    if (typeof floor === 'string') continue;
    const { scenario, bare, direct } = floor;
    // Its own origin runs only when BENCH_ONLY left the proxy's run of its scenario out.
    if (direct !== memory.runs.get(scenario)?.direct) runs.push([`${scenario.name}, origin`, direct, true]);
    runs.push([`${scenario.name}, ${floor.floor.name}`, bare, false]);
  }
  if (typeof redis !== 'string') for (const [scenario, run] of redis.runs) runs.push([`${scenario.name}, proxy (Redis)`, run, false]);
  for (const [store, section] of [['memory', workers.memory], ['Redis', workers.redis]] as const)
    if (typeof section !== 'string') for (const [scenario, run] of section) runs.push([`${scenario.name}, proxy (${store}, --workers ${setup.workers})`, run, false]);
  const contended = runs.filter(([, m]) => (notOurs(m) ?? 0) > setup.contendedPercent);
  for (const [name, m] of contended)
    out.push(`> Warning: during "${name}", ${pct(notOurs(m) ?? 0)} of a core went to other processes or interrupts; its figures are lowered. Rerun on an idle machine or with BENCH_ROUNDS=3.`);
  if (contended.length) out.push('');

  out.push(`### Diagnostics (CPU in % of one core during each measured run, kernel part as sys; the machine has ${availableParallelism()} × 100 %)`, '');
  out.push('"Server" is the proxy (all its processes; the bare forwarder or bare cache in its rows) in proxy runs and the origin in origin runs: CPU per request is the figure other load on the machine disturbs least.', '');
  const diagRows = runs.map(([name, m, serverIsOrigin]) => {
    const upstream = Object.entries(m.originResponses).map(([k, v]) => `${k}: ${int(v)}`).join(', ') || 'none';
    return [
      name,
      int(rate(m)),
      m.server.cpuPercent === undefined ? 'n/a' : ((m.server.cpuPercent * 10_000) / rate(m)).toFixed(1),
      ((m.load.generator.cpuPercent * 10_000) / rate(m)).toFixed(1),
      cpuCell(m.load.generator.cpuPercent, m.load.generator.sysPercent),
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

/** One table for the `--workers` question: WORKER_SCENARIOS with one process and with N, per store. */
function workersReport(setup: BenchSetup, memory: MemorySection, redis: RedisSection | string, workers: WorkersSection): string[] {
  if (setup.workers < 2) return [`\`--workers\` runs skipped: BENCH_WORKERS=${setup.workers}.`, ''];
  const out = [`### \`--workers ${setup.workers}\` (hits, revalidation, pass-through; CPU summed over the primary, its workers and, with Redis, redis-server)`, ''];
  const rows: string[][] = [];
  const refused: string[] = [];
  const setups: [string, Map<Scenario, Measured> | string][] = [
    ['memory store, 1 process', new Map([...memory.runs].map(([s, r]) => [s, r.proxy]))],
    ['Redis store, 1 process', typeof redis === 'string' ? redis : redis.runs],
    [`Redis store, --workers ${setup.workers}`, workers.redis],
    [`memory store, --workers ${setup.workers}`, workers.memory],
  ];
  for (const [label, runs] of setups) {
    if (typeof runs === 'string') {
      refused.push(`- ${label}: not run (${runs}).`);
      continue;
    }
    for (const [scenario, run] of runs) {
      if (!WORKER_SCENARIOS.includes(scenario.id)) continue;
      const origin = byId(memory.runs, scenario.id)?.direct;
      rows.push([label, scenario.name, int(rate(run)), origin ? pct((100 * rate(run)) / rate(origin)) : 'n/a', us(cpuPerRequest(run)), latency(run), mb(run.server.peakRss)]);
    }
  }
  out.push(table(['Proxy', 'Scenario', 'req/s', 'Proxy / origin', 'µs CPU / req', 'p50 / p99 ms', 'Peak RSS in the run (all processes)'], rows), '');
  if (refused.length) out.push(...refused, '');
  return out;
}

/**
 * Issue 22's bars, one line each with both sides' req/s and CPU µs / req; under the bars that
 * read a floor or are measured beside one, that floor's line (not a bar).
 */
function issueBars(setup: BenchSetup, proxyRuns: Map<Scenario, Measured>, memory: MemorySection, workers: Map<Scenario, Measured> | string): string[] {
  const out: string[] = [];
  for (const b of BARS) {
    out.push(issueBar(b, setup, b.workers ? workers : proxyRuns, memory));
    if (b.floorLine) out.push(floorLine(FLOORS[b.floorLine], memory.floors[b.floorLine]));
  }
  return out;
}

function issueBar(b: Bar, setup: BenchSetup, runs: Map<Scenario, Measured> | string, memory: MemorySection): string {
  const subject = b.workers ? `${b.label} with \`--workers ${setup.workers > 1 ? setup.workers : 'N'}\` (memory store; CPU of every process)` : b.label;
  const label = `${subject} ≥ ${b.min} % of ${b.against === 'origin' ? "the origin's" : "the bare forwarder's"} req/s`;
  if (typeof runs === 'string') return bar(label, undefined, `not run: ${runs}`);
  const run = byId(runs, b.id);
  if (!run) return bar(label, undefined, `not run: BENCH_ONLY leaves out ${b.id}`);
  const reference = barReference(b, memory);
  if (typeof reference === 'string') return bar(label, undefined, reference);
  const ratio = (100 * rate(run)) / rate(reference.run);
  const sides = `proxy ${int(rate(run))} req/s at ${us(cpuPerRequest(run))} µs CPU / req, ${reference.name} ${int(rate(reference.run))} req/s at ${us(cpuPerRequest(reference.run))} µs`;
  return bar(label, ratio >= b.min, `${ratio.toFixed(1)} %: ${sides}`);
}

/** What a bar's ratio divides by, from the same run: the origin's run of the scenario or the forwarding floor's; or why it is missing. */
function barReference(b: Bar, memory: MemorySection): { name: string; run: Measured } | string {
  if (b.against === 'origin') {
    const origin = byId(memory.runs, b.id)?.direct;
    return origin ? { name: 'origin', run: origin } : `the origin's run of ${b.id} is missing`;
  }
  const floor = memory.floors[b.against];
  const name = FLOORS[b.against].name;
  if (typeof floor === 'string') return `the ${name} was not run: ${floor}`;
  // The revalidation bar reads the pass-through floor: no bare revalidator exists.
  const on = b.id === floor.scenario.id ? '' : ` on the ${FLOORS[b.against].load} load (same 1 KB bodies over 1,000 URLs)`;
  return { name: `${name}${on}`, run: floor.bare };
}

/** Not a bar: what a floor reached on its load in the same run, as a share of the origin. */
function floorLine(floor: Floor, runs: FloorRuns | string): string {
  const subject = `For reference, the ${floor.name} (\`bench/${floor.file}.ts\`)`;
  if (typeof runs === 'string') return `- ${subject} was not run: ${runs}.`;
  return `- ${subject} reached ${pct((100 * rate(runs.bare)) / rate(runs.direct))} of the origin on ${floor.load} in this run, ${us(cpuPerRequest(runs.bare))} µs CPU / req; not a bar.`;
}

/** The floors' table: each bare server beside the proxy and the origin on its scenario's load. */
function floorReport(memory: MemorySection): string[] {
  const out = [
    '### The floors: a bare forwarder (pass-through) and a bare cache (1 KB hit)',
    '',
    "Each floor is its scenario's load (same load generator options, warm-up and rounds) through a bare Node server, run right after the proxy's row of that scenario against the same origin runs " +
      '(when BENCH_ONLY left that row out, alternating with origin runs of its own), and measured as the proxy is (CPU: all of its process). `bench/bare-forwarder.ts` (pass-through, 1 KB `no-store` over 1,000 URLs): a node:http server and one undici `Pool` per origin, ' +
      'hop-by-hop fields dropped, nothing else, the least a Node forward proxy does per request; the forwarding bars read it. `bench/bare-cache.ts` (1 KB hit): a node:http server and a Map ' +
      'of stored responses, each hit answered with one `writeHead` and one `end()`, the least a Node cache does per hit; the hit bars read the origin, this is for reference.',
    '',
  ];
  const rows: string[][] = [];
  const skipped: string[] = [];
  for (const floor of Object.values(FLOORS)) {
    const runs = memory.floors[floor.kind];
    if (typeof runs === 'string') {
      skipped.push(`- The ${floor.name} (${floor.load}) was not run: ${runs}.`);
      continue;
    }
    const { scenario, bare, direct } = runs;
    const row = (load: string, subject: string, m: Measured, originCpu: WindowStats | undefined): string[] => [
      load,
      subject,
      int(rate(m)),
      pct((100 * rate(m)) / rate(direct)),
      latency(m),
      `${us(cpuPerRequest(m))} (sys ${us(sysPerRequest(m))})`,
      cpuCell(originCpu?.cpuPercent, originCpu?.sysPercent),
    ];
    rows.push(row(scenario.name, `${floor.name} (\`bench/${floor.file}.ts\`)`, bare, bare.origin));
    const proxy = memory.runs.get(scenario)?.proxy;
    if (proxy) rows.push(row('', 'etag-proxy, memory store', proxy, proxy.origin));
    rows.push(row('', 'origin alone', direct, direct.server));
  }
  const header = ['Load', 'Subject', 'req/s', '% of origin', 'p50 / p99 ms', 'µs CPU / req (sys part)', 'Origin CPU during the run'];
  if (rows.length) out.push(table(header, rows, header.map((_, i) => i > 1)), '');
  if (skipped.length) out.push(...skipped, '');
  return out;
}
