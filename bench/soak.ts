// `npm run soak`, the memory soak of issue 7: the bench origin and a memory-store proxy
// (--cache-size 64MiB) as child processes on 127.0.0.1; SOAK_URLS distinct 10–100 KB URLs fetched
// once each (every request a miss that is stored, then evicted), each body checked byte for byte;
// prints RSS (sampled, VmHWM), the proxy's memoryUsage() breakdown, open fds before / after and
// p50 / p99. Bounded by SOAK_MAX_SECONDS; children stopped by pid. Knobs: bench/README.md.
import { createWriteStream, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseSize } from '../src/config/schema.js';
import { churnBody, churnSize } from './churn.js';
import { bar, int, mb, ms, table } from './format.js';
import { freePort, runScript, spawnNode, stopAll, waitForHttp, waitForLine, type Child } from './processes.js';

const URLS = whole('SOAK_URLS', 20_000);
const MIN_BYTES = whole('SOAK_MIN_KB', 10) * 1024;
const MAX_BYTES = whole('SOAK_MAX_KB', 100) * 1024;
const CACHE_SIZE = process.env['SOAK_CACHE_SIZE'] || '64MiB';
const CONNECTIONS = whole('SOAK_CONNECTIONS', 50);
const MAX_SECONDS = whole('SOAK_MAX_SECONDS', 300);
const SETTLE_SECONDS = whole('SOAK_SETTLE_SECONDS', 10, true);
const BUDGET_MIB = whole('SOAK_BUDGET_MIB', 96);
const PROXY_NODE_ARGS = (process.env['SOAK_PROXY_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean);
// Off by default: the probe itself costs the proxy ~5 MiB of RSS, and the bar is about the proxy as users run it.
const PROBE = process.env['SOAK_PROBE'] === '1';
const PROXY_OUTPUT = process.env['SOAK_PROXY_OUTPUT'];
const SMAPS = process.env['SOAK_SMAPS'] === '1';
const MIB = 1024 * 1024;

const HERE = dirname(fileURLToPath(import.meta.url));
const progress = (line: string): void => void process.stderr.write(`[soak] ${line}\n`);

function whole(name: string, fallback: number, zeroOk = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || (!zeroOk && value === 0)) throw new Error(`${name}: expected a whole number${zeroOk ? '' : ' above 0'}, got "${raw}"`);
  return value;
}

interface ProcSample {
  rss: number;
  hwm: number;
}

function procStatus(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a process, and how many of them are sockets. */
function openFds(pid: number): { total: number; sockets: number } | undefined {
  try {
    const fds = readdirSync(`/proc/${pid}/fd`);
    let sockets = 0;
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        // closed between readdir and readlink
      }
    }
    return { total: fds.length, sockets };
  } catch {
    return undefined;
  }
}

/** The proxy's mappings holding the most resident memory (/proc/<pid>/smaps), for SOAK_SMAPS=1. */
function largestMappings(pid: number): string[][] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return [];
  }
  const rows: { name: string; size: number; rss: number }[] = [];
  let current: { name: string; size: number; rss: number } | undefined;
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = { name: head[3] || '(anonymous)', size: parseInt(head[2]!, 16) - parseInt(head[1]!, 16), rss: 0 };
      rows.push(current);
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && current) current.rss = Number(rss[1]) * 1024;
  }
  return rows
    .sort((a, b) => b.rss - a.rss)
    .slice(0, 12)
    .map((r) => [r.name, mb(r.size), mb(r.rss)]);
}

type MemoryUsage = NodeJS.MemoryUsage;

/** Samples the proxy's RSS from /proc and its memoryUsage() from the probe's stderr lines. */
class MemoryWatch {
  peakRss = 0;
  /** The probe's reading closest to the sampled RSS peak. */
  atPeak: MemoryUsage | undefined;
  maxOf: Partial<Record<keyof MemoryUsage, number>> = {};
  latest: MemoryUsage | undefined;
  afterGc: MemoryUsage | undefined;
  readonly series: { t: number; rss: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();

  constructor(private readonly child: Child) {
    this.timer = setInterval(() => this.sample(), 100);
    this.timer.unref();
    let pending = '';
    child.process.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.startsWith('memory-probe {')) this.onProbe(JSON.parse(line.slice('memory-probe '.length)) as MemoryUsage);
        if (line.startsWith('memory-probe-gc {')) this.afterGc = JSON.parse(line.slice('memory-probe-gc '.length)) as MemoryUsage;
      }
    });
  }

  private onProbe(usage: MemoryUsage): void {
    this.latest = usage;
    for (const key of Object.keys(usage) as (keyof MemoryUsage)[]) this.maxOf[key] = Math.max(this.maxOf[key] ?? 0, usage[key]);
    if (usage.rss >= this.peakRss) {
      this.peakRss = usage.rss;
      this.atPeak = usage;
    }
  }

  sample(): ProcSample | undefined {
    const now = procStatus(this.child.pid);
    if (!now) return undefined;
    this.series.push({ t: (performance.now() - this.started) / 1000, rss: now.rss });
    this.peakRss = Math.max(this.peakRss, now.rss);
    return now;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

interface LoadOutcome {
  done: number;
  ok: number;
  wrong: { n: number; why: string }[];
  latenciesMs: number[];
  seconds: number;
  stoppedEarly: boolean;
}

/** One GET of /churn/<n> through the proxy; checks status, length and every byte. */
function fetchOne(agent: http.Agent, proxyPort: number, originHost: string, n: number): Promise<string | undefined> {
  const size = churnSize(n, MIN_BYTES, MAX_BYTES);
  const path = `http://${originHost}/churn/${n}?min=${MIN_BYTES}&max=${MAX_BYTES}`;
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, path, headers: { host: originHost }, agent, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => resolve(`response error: ${error.message}`));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(`status ${res.statusCode}`);
        const body = Buffer.concat(chunks);
        if (body.length !== size) return resolve(`length ${body.length}, expected ${size}`);
        if (!body.equals(churnBody(n, size))) return resolve('body bytes differ');
        if (!/^etag-proxy; fwd=uri-miss/.test(String(res.headers['cache-status']))) return resolve(`not a miss: ${String(res.headers['cache-status'])}`);
        resolve(undefined);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', (error) => resolve(`request error: ${error.message}`));
    req.end();
  });
}

async function churn(proxyPort: number, originHost: string): Promise<LoadOutcome> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const outcome: LoadOutcome = { done: 0, ok: 0, wrong: [], latenciesMs: [], seconds: 0, stoppedEarly: false };
  const started = performance.now();
  const deadline = started + MAX_SECONDS * 1000;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < URLS) {
      if (performance.now() > deadline) {
        outcome.stoppedEarly = true;
        return;
      }
      const n = next++;
      const t0 = performance.now();
      const wrong = await fetchOne(agent, proxyPort, originHost, n);
      outcome.latenciesMs.push(performance.now() - t0);
      outcome.done++;
      if (wrong) outcome.wrong.push({ n, why: wrong });
      else outcome.ok++;
      if (outcome.done % 2000 === 0) progress(`  ${int(outcome.done)} / ${int(URLS)}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  outcome.seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return outcome;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** RSS at a few points of the run, to show whether it levelled off or kept growing. */
function rssCurve(series: { t: number; rss: number }[]): string {
  if (!series.length) return 'n/a';
  const points = [0.25, 0.5, 0.75, 1].map((f) => series[Math.min(series.length - 1, Math.floor(f * (series.length - 1)))]!);
  return points.map((p) => `${p.t.toFixed(0)} s: ${mb(p.rss)}`).join(', ');
}

async function main(): Promise<void> {
  const capBytes = parseSize('SOAK_CACHE_SIZE', CACHE_SIZE);
  progress(`${int(URLS)} URLs of ${MIN_BYTES / 1024}–${MAX_BYTES / 1024} KB, --cache-size ${CACHE_SIZE}, ${CONNECTIONS} connections, at most ${MAX_SECONDS} s`);
  const origin = spawnNode('origin', join(HERE, 'origin-server.js'), []);
  const originPort = Number(await waitForLine(origin, /listening (\d+)/));
  const originHost = `127.0.0.1:${originPort}`;
  const port = await freePort();
  // --expose-gc only lets the probe collect once the run is over (nothing calls gc() before).
  const probeArgs = PROBE ? ['--expose-gc', '--import', pathToFileURL(join(HERE, 'memory-probe.js')).href] : [];
  const cli = join(HERE, '..', 'src', 'cli', 'main.js');
  const proxy = spawnNode('proxy', cli, ['--host', '127.0.0.1', '--port', String(port), '--log-level', 'warn', '--store', 'memory', '--cache-size', CACHE_SIZE], [...probeArgs, ...PROXY_NODE_ARGS]);
  const watch = new MemoryWatch(proxy);
  if (PROXY_OUTPUT) {
    // Everything the proxy prints (e.g. with SOAK_PROXY_NODE_ARGS=--trace-gc), for a closer look.
    const file = createWriteStream(PROXY_OUTPUT);
    proxy.process.stdout?.pipe(file);
    proxy.process.stderr?.pipe(file);
  }
  await waitForHttp(proxy, `http://127.0.0.1:${port}/`);
  await delay(1000);
  const idleStart = watch.sample();
  const idleStartUsage = watch.latest;
  const fdsBefore = openFds(proxy.pid);
  progress(`proxy pid ${proxy.pid} on 127.0.0.1:${port}, idle RSS ${mb(idleStart?.rss)}, ${fdsBefore?.total ?? 'n/a'} fds`);

  const load = await churn(port, originHost);
  const runPeakSampled = watch.peakRss;
  const hwm = watch.sample()?.hwm;
  const atPeak = watch.atPeak;
  progress(`load done in ${load.seconds.toFixed(1)} s; settling ${SETTLE_SECONDS} s`);
  await delay(SETTLE_SECONDS * 1000);
  const idleEnd = watch.sample();
  const idleEndUsage = watch.latest;
  const fdsAfter = openFds(proxy.pid);
  if (PROBE) {
    // What is live, not merely uncollected: a full GC in the proxy (--expose-gc), then one reading.
    proxy.process.kill('SIGUSR2');
    for (let i = 0; i < 50 && !watch.afterGc; i++) await delay(100);
  }
  const afterGcRss = watch.sample()?.rss;
  const mappings = SMAPS ? largestMappings(proxy.pid) : undefined;
  watch.stop();
  await stopAll();

  const sorted = [...load.latenciesMs].sort((a, b) => a - b);
  const peak = hwm ?? runPeakSampled;
  const overCap = peak - capBytes;
  const out: string[] = [];
  out.push(`## Soak (memory store, \`--cache-size ${CACHE_SIZE}\`)`, '');
  out.push(
    `Node ${process.version}. ${int(load.done)} requests for distinct URLs of ${MIN_BYTES / 1024}–${MAX_BYTES / 1024} KB (no hits), ${CONNECTIONS} keep-alive connections, ` +
      `${load.seconds.toFixed(1)} s (${int(load.done / load.seconds)} req/s, ${mb(load.done * ((MIN_BYTES + MAX_BYTES) / 2))} through the proxy)${load.stoppedEarly ? `, stopped at SOAK_MAX_SECONDS=${MAX_SECONDS}` : ''}.`,
    '',
  );
  const usageCell = (u: MemoryUsage | undefined, key: keyof MemoryUsage): string => mb(u?.[key]);
  out.push(
    table(
      ['Proxy memory', 'RSS', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'],
      [
        ['idle after start', mb(idleStart?.rss), usageCell(idleStartUsage, 'heapUsed'), usageCell(idleStartUsage, 'heapTotal'), usageCell(idleStartUsage, 'external'), usageCell(idleStartUsage, 'arrayBuffers')],
        ['at the sampled RSS peak', mb(runPeakSampled), usageCell(atPeak, 'heapUsed'), usageCell(atPeak, 'heapTotal'), usageCell(atPeak, 'external'), usageCell(atPeak, 'arrayBuffers')],
        ['highest seen during the run', mb(runPeakSampled), mb(watch.maxOf.heapUsed), mb(watch.maxOf.heapTotal), mb(watch.maxOf.external), mb(watch.maxOf.arrayBuffers)],
        [`idle ${SETTLE_SECONDS} s after the run`, mb(idleEnd?.rss), usageCell(idleEndUsage, 'heapUsed'), usageCell(idleEndUsage, 'heapTotal'), usageCell(idleEndUsage, 'external'), usageCell(idleEndUsage, 'arrayBuffers')],
        ['then after a full GC (live)', mb(afterGcRss), usageCell(watch.afterGc, 'heapUsed'), usageCell(watch.afterGc, 'heapTotal'), usageCell(watch.afterGc, 'external'), usageCell(watch.afterGc, 'arrayBuffers')],
      ],
    ),
    '',
  );
  if (mappings) out.push(table(['Mapping (after the run)', 'Size', 'Resident'], mappings), '');
  out.push(`Peak RSS (VmHWM): ${mb(peak)} = the cache size ${mb(capBytes)} + ${mb(overCap)}. RSS over the run: ${rssCurve(watch.series)}.`, '');
  out.push(
    table(
      ['', 'Open fds', 'of which sockets'],
      [
        ['before the load', String(fdsBefore?.total ?? 'n/a'), String(fdsBefore?.sockets ?? 'n/a')],
        [`after it (${SETTLE_SECONDS} s idle, client connections closed)`, String(fdsAfter?.total ?? 'n/a'), String(fdsAfter?.sockets ?? 'n/a')],
      ],
    ),
    '',
  );
  out.push(table(['Latency', 'p50', 'p99', 'max'], [['ms per request', ms(percentile(sorted, 50)), ms(percentile(sorted, 99)), ms(sorted.at(-1) ?? NaN)]]), '');
  if (load.wrong.length) out.push(`Wrong answers: ${load.wrong.length}, first: ${load.wrong.slice(0, 5).map((w) => `/churn/${w.n}: ${w.why}`).join('; ')}`, '');
  // Idle upstream keep-alive sockets may stay open (at most one per client connection); more is a leak.
  const fdGrowth = fdsBefore && fdsAfter ? fdsAfter.total - fdsBefore.total : undefined;
  out.push('### Bars', '');
  out.push(bar(`peak RSS ≤ cache size + ${BUDGET_MIB} MiB`, overCap <= BUDGET_MIB * MIB, `${mb(peak)} = cap + ${mb(overCap)}`));
  out.push(bar('every response 200 with the right bytes, a miss', load.wrong.length === 0 && !load.stoppedEarly, `${int(load.ok)} of ${int(URLS)} right`));
  out.push(bar(`open fds after ≤ before + ${CONNECTIONS} (idle upstream sockets)`, fdGrowth === undefined ? undefined : fdGrowth <= CONNECTIONS, fdGrowth === undefined ? 'no /proc' : `${fdsBefore?.total} → ${fdsAfter?.total}`));
  process.stdout.write(`${out.join('\n')}\n`);
  if (load.wrong.length || overCap > BUDGET_MIB * MIB) process.exitCode = 1;
}

await runScript('soak', main, progress);
