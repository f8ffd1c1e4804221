// The benchmark's report on stdout: Markdown tables (memory store, the bare forwarder's floor,
// Redis store, --workers, HTTPS), the issues' bars as PASS / FAIL / SKIPPED (issue 10's again for
// --workers N), warnings for contended runs, and the diagnostics table. Measuring is
// bench/run.ts's job; the scenarios and bars are bench/scenarios.ts's tables.
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bar, bytes, int, mb, ms, pct, table } from './format.js';
import { httpsReport, type HttpsResults } from './https.js';
import type { LoadGenerator } from './load.js';
import type { WindowStats } from './processes.js';
import type { KeyCost } from './redis.js';
import { BARS, cpuPerRequest, MANY_URLS, rate, REDIS_HIT_BAR, STORM_URLS, sysPerRequest, upstreamCount, WORKER_SCENARIOS, type Measured, type Scenario, type ScenarioId } from './scenarios.js';

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
  /** The pass-through load through bench/bare-forwarder.ts, or why it was not run. */
  floor: FloorRuns | string;
}

/** The bare forwarder's best run and the origin runs it is a share of (the pass-through row's own, when that ran). */
export interface FloorRuns {
  scenario: Scenario;
  forwarder: Measured;
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

  out.push(`### Bars (proxy req/s as a share of the origin's in the same run${setup.generator === 'wrk' ? '' : '; measured with autocannon, not wrk, so pulled toward 1'})`, '');
  out.push(...issueBars(memoryProxies, memory, floorLine(memory.floor)));
  out.push(bar(`Redis hits ≥ ${REDIS_HIT_BAR} % of memory hits`, redisBar, redisDetail));
  out.push(bar('Redis bytes per 1 KB entry < 2x', sizeBar, sizeDetail));
  out.push(...httpsPart.bars, '');
  if (typeof workers.memory === 'string') out.push(`Bars with \`--workers ${setup.workers > 1 ? setup.workers : 'N'}\` (memory store): not run (${workers.memory}).`, '');
  else out.push(`Bars with \`--workers ${setup.workers}\` (memory store; every process's CPU counted):`, '', ...issueBars(workers.memory, memory), '');

  const runs: [string, Measured, boolean][] = [];
  for (const [scenario, { proxy, direct }] of memory.runs) runs.push([`${scenario.name}, origin`, direct, true], [`${scenario.name}, proxy`, proxy, false]);
  if (typeof memory.floor !== 'string') {
    const { scenario, forwarder, direct } = memory.floor;
    // Its own origin runs only when BENCH_ONLY left the proxy's pass-through out.
    if (direct !== memory.runs.get(scenario)?.direct) runs.push([`${scenario.name}, origin`, direct, true]);
    runs.push([`${scenario.name}, bare forwarder`, forwarder, false]);
  }
  if (typeof redis !== 'string') for (const [scenario, run] of redis.runs) runs.push([`${scenario.name}, proxy (Redis)`, run, false]);
  for (const [store, section] of [['memory', workers.memory], ['Redis', workers.redis]] as const)
    if (typeof section !== 'string') for (const [scenario, run] of section) runs.push([`${scenario.name}, proxy (${store}, --workers ${setup.workers})`, run, false]);
  const contended = runs.filter(([, m]) => (notOurs(m) ?? 0) > setup.contendedPercent);
  for (const [name, m] of contended)
    out.push(`> Warning: during "${name}", ${pct(notOurs(m) ?? 0)} of a core went to other processes or interrupts; its figures are lowered. Rerun on an idle machine or with BENCH_ROUNDS=3.`);
  if (contended.length) out.push('');

  out.push(`### Diagnostics (CPU in % of one core during each measured run, kernel part as sys; the machine has ${availableParallelism()} × 100 %)`, '');
  out.push('"Server" is the proxy (all its processes; the bare forwarder in its row) in proxy runs and the origin in origin runs: CPU per request is the figure other load on the machine disturbs least.', '');
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
  if (setup.workers < 2) return [`\`--workers\` runs skipped: ${typeof workers.redis === 'string' ? workers.redis : 'BENCH_WORKERS < 2'}.`, ''];
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
 * Issue 10's bars for one proxy set-up: its runs as a share of the memory section's origin runs.
 * `afterForwarding` (the floor line) follows the pass-through bar, the last of the forwarding ones.
 */
function issueBars(proxyRuns: Map<Scenario, Measured>, memory: MemorySection, afterForwarding: string[] = []): string[] {
  const out: string[] = [];
  for (const { id, label, min, aim } of BARS) {
    const run = byId(proxyRuns, id);
    const origin = byId(memory.runs, id)?.direct;
    const ratio = run && origin && (100 * rate(run)) / rate(origin);
    const aimText = aim === undefined ? '' : `, aim ${aim >= 100 ? 'above ' : ''}${aim} %`;
    out.push(bar(`${label} ≥ ${min} % of origin req/s`, ratio === undefined ? undefined : ratio >= min, ratio === undefined ? 'not run' : `${pct(ratio)}${aimText}`));
    if (id === 'nostore') out.push(...afterForwarding);
  }
  return out;
}

/** Not a bar: what the least a Node forward proxy does reaches on the same load, in the same run. */
function floorLine(floor: FloorRuns | string): string[] {
  const subject = 'For reference, the bare forwarder (`bench/bare-forwarder.ts`)';
  if (typeof floor === 'string') return [`- ${subject} was not run (${floor}).`];
  return [`- ${subject} reached ${pct((100 * rate(floor.forwarder)) / rate(floor.direct))} of the origin on pass-through in this run (${us(cpuPerRequest(floor.forwarder))} µs CPU / req; not a bar).`];
}

/** The floor's table: the bare forwarder beside the proxy and the origin on the pass-through load. */
function floorReport(memory: MemorySection): string[] {
  const heading = '### The floor: a bare node:http + undici forwarder, pass-through';
  if (typeof memory.floor === 'string') return [heading, '', `Not run: ${memory.floor}.`, ''];
  const { scenario, forwarder, direct } = memory.floor;
  const proxy = memory.runs.get(scenario)?.proxy;
  const row = (subject: string, m: Measured, originCpu: WindowStats | undefined): string[] => [
    subject,
    int(rate(m)),
    pct((100 * rate(m)) / rate(direct)),
    latency(m),
    `${us(cpuPerRequest(m))} (sys ${us(sysPerRequest(m))})`,
    cpuCell(originCpu?.cpuPercent, originCpu?.sysPercent),
  ];
  const rows = [row('bare forwarder (`bench/bare-forwarder.ts`)', forwarder, forwarder.origin)];
  if (proxy) rows.push(row('etag-proxy, memory store', proxy, proxy.origin));
  rows.push(row('origin alone', direct, direct.server));
  return [
    heading,
    '',
    'The same load as the pass-through row (1 KB `no-store`, 1,000 URLs, same load generator options, warm-up and rounds) through `bench/bare-forwarder.ts`: a node:http server and one undici `Pool` per origin, ' +
      'hop-by-hop fields dropped, nothing else: the least a Node forward proxy does per request. CPU is all of its process.',
    '',
    table(['Subject', 'req/s', '% of origin', 'p50 / p99 ms', 'µs CPU / req (sys part)', 'Origin CPU during the run'], rows),
    '',
  ];
}
