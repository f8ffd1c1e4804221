// `npm run bench:crawl`: the disk store under a crawl larger than its cap (issue 20's "large
// crawl"). 100,000 URLs of 4–64 KB (about 3.4 GB; bench/origin-server.ts's /many route) through a
// proxy on `--store disk:<temp dir> --cache-size 1GiB`:
//   1. crawl: every URL in order, as a crawler's first pass does (wrk, `turn`), so the store fills
//      past its cap and evicts;
//   2. recrawl: URLs drawn with Zipf popularity (rank r with weight 1 / r^exponent);
// then the store's own figures (entries, bytes held, evictions, data.mdb size against the cap), and
// a restart on the full directory timed from spawn to the first answer (a hit from disk).
// Each phase reports req/s, hit ratio (1 − origin responses / requests), p99, proxy CPU µs per
// request and peak RSS; the origin alone on the recrawl's shape gives the ratio.
// Environment: BENCH_CRAWL_URLS (100000), BENCH_CRAWL_CACHE_SIZE (1GiB), BENCH_CRAWL_SECONDS (240:
// the crawl pass; it reports whether every URL was requested), BENCH_RECRAWL_SECONDS (60),
// BENCH_CONNECTIONS (32), BENCH_ZIPF_EXPONENT (1). Needs wrk (Debian: `apt-get install wrk`).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize } from '../src/config/schema.js';
import { silentLogger } from '../src/observe/log.js';
import { createDiskBackend } from '../src/store/disk/backend.js';
import { storeFileBytes } from '../src/store/disk/open.js';
import { churnSize, KEYED_MAX, KEYED_MIN } from './churn.js';
import { int, mb, ms, pct, table } from './format.js';
import { loadGenerator, runLoad, type LoadResult, type LoadTarget } from './load.js';
import { freePort, get, MissingTool, ProcessMonitor, runScript, spawnNode, waitForHttp, waitForLine, type Child } from './processes.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ORIGIN_SCRIPT = join(HERE, 'origin-server.js');
const CLI_SCRIPT = join(HERE, '..', 'src', 'cli', 'main.js');

const URLS = whole('BENCH_CRAWL_URLS', 100_000);
const CACHE_SIZE = process.env.BENCH_CRAWL_CACHE_SIZE || '1GiB';
const CRAWL_SECONDS = whole('BENCH_CRAWL_SECONDS', 240);
const RECRAWL_SECONDS = whole('BENCH_RECRAWL_SECONDS', 60);
const CONNECTIONS = whole('BENCH_CONNECTIONS', 32);
const ZIPF_EXPONENT = Number(process.env.BENCH_ZIPF_EXPONENT || 1);

const progress = (line: string): void => void process.stderr.write(`[bench:crawl] ${line}\n`);

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number, got "${raw}"`);
  return value;
}

interface Phase {
  name: string;
  load: LoadResult;
  originResponses: number;
  cpuMicros: number | undefined;
  peakRss: number | undefined;
  peakAnonRss: number | undefined;
}

async function originResponses(port: number): Promise<number> {
  const stats = JSON.parse((await get(`http://127.0.0.1:${port}/__stats`)).body.toString('utf8')) as Record<string, number>;
  return (stats['/many 200'] ?? 0) + (stats['/many 304'] ?? 0);
}

interface Proxy {
  child: Child;
  url: string;
  adminUrl: string;
  monitor: ProcessMonitor;
  spawnedAt: number;
}

async function startProxy(dir: string): Promise<Proxy> {
  const spawnedAt = performance.now();
  const [port, adminPort] = [await freePort(), await freePort()];
  const args = ['--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort), '--log-level', 'warn', '--store', `disk:${dir}`, '--cache-size', CACHE_SIZE];
  const child = spawnNode('proxy', CLI_SCRIPT, args);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${url}/`, 200, 60_000);
  return { child, url, adminUrl: `http://127.0.0.1:${adminPort}`, monitor: new ProcessMonitor(child.pid), spawnedAt };
}

/** `etag_proxy_cache_evictions_total` summed over its labels, from the proxy's /metrics. */
async function evictions(proxy: Proxy): Promise<number> {
  const text = (await get(`${proxy.adminUrl}/metrics`)).body.toString('utf8');
  let total = 0;
  for (const match of text.matchAll(/^etag_proxy_cache_evictions_total(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/gm)) total += Number(match[1]);
  return total;
}

async function phase(name: string, target: LoadTarget, seconds: number, originPort: number, proxy?: ProcessMonitor): Promise<Phase> {
  progress(`${name}: ${seconds} s, ${CONNECTIONS} connections`);
  const before = await originResponses(originPort);
  proxy?.begin();
  const load = await runLoad(target, { connections: CONNECTIONS, seconds });
  const window = proxy?.end();
  const upstream = (await originResponses(originPort)) - before;
  const cpuMicros = window?.cpuPercent === undefined ? undefined : (window.cpuPercent / 100) * 1e6 / load.requestsPerSecond;
  return { name, load, originResponses: upstream, cpuMicros, peakRss: window?.peakRss, peakAnonRss: window?.peakAnonRss };
}

function workingSetBytes(): number {
  let total = 0;
  for (let k = 0; k < URLS; k++) total += churnSize(k, KEYED_MIN, KEYED_MAX);
  return total;
}

async function main(): Promise<void> {
  if (loadGenerator() !== 'wrk') throw new MissingTool('bench:crawl needs wrk (Debian: apt-get install wrk)');
  const capBytes = parseSize('BENCH_CRAWL_CACHE_SIZE', CACHE_SIZE);
  const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-crawl-'));
  const originChild = spawnNode('origin', ORIGIN_SCRIPT, []);
  const originPort = Number(await waitForLine(originChild, /listening (\d+)/));
  const host = `127.0.0.1:${originPort}`;
  const through = (url: string, pick: 'turn' | 'zipf'): LoadTarget => ({ connectTo: url, path: `http://${host}/many`, host, spread: URLS, pick, zipfExponent: ZIPF_EXPONENT });
  try {
    const originAlone = await phase('origin alone (Zipf)', { connectTo: `http://${host}`, path: '/many', host, spread: URLS, pick: 'zipf', zipfExponent: ZIPF_EXPONENT }, 10, originPort);
    const proxy = await startProxy(dir);
    progress(`proxy on ${proxy.url}, cache in ${dir}`);
    let phases: Phase[];
    let evicted: number;
    try {
      phases = [await phase('crawl (every URL in order)', through(proxy.url, 'turn'), CRAWL_SECONDS, originPort, proxy.monitor)];
      phases.push(await phase(`recrawl (Zipf, exponent ${ZIPF_EXPONENT})`, through(proxy.url, 'zipf'), RECRAWL_SECONDS, originPort, proxy.monitor));
      evicted = await evictions(proxy);
    } finally {
      proxy.monitor.stop();
      await proxy.child.stop();
    }
    const fileBytes = storeFileBytes(dir);
    const store = createDiskBackend({ dir, cacheSizeBytes: capBytes, storeTimeoutMs: 60_000, logger: silentLogger, now: Date.now });
    const usage = await store.entries.usage!();
    await store.close();

    // A restart on the full directory, and one on an empty directory: spawn to the first answer
    // for the most popular URL (a hit from disk on the full one).
    const firstAnswer = async (on: string): Promise<{ ms: number; status: string }> => {
      const restarted = await startProxy(on);
      try {
        const res = await get(`${restarted.url}/`, { path: `http://${host}/many?k=0`, headers: { host } });
        return { ms: performance.now() - restarted.spawnedAt, status: String(res.headers['cache-status'] ?? '') };
      } finally {
        restarted.monitor.stop();
        await restarted.child.stop();
      }
    };
    const full = await firstAnswer(dir);
    const emptyDir = mkdtempSync(join(tmpdir(), 'etag-proxy-crawl-empty-'));
    const empty = await firstAnswer(emptyDir).finally(() => rmSync(emptyDir, { recursive: true, force: true }));

    const row = (p: Phase): string[] => [
      p.name,
      int(p.load.total),
      int(p.load.requestsPerSecond),
      `${(p.load.requestsPerSecond / originAlone.load.requestsPerSecond).toFixed(2)}×`,
      // Requests still in flight when wrk stops reached the origin but are not counted: clamp at 0.
      pct(Math.max(0, 100 * (1 - p.originResponses / p.load.total))),
      ms(p.load.p99Ms),
      p.cpuMicros === undefined ? 'n/a' : int(p.cpuMicros),
      mb(p.peakRss),
      mb(p.peakAnonRss),
    ];
    const crawled = phases[0]!.load.total >= URLS ? 'every URL was requested' : `only ${int(phases[0]!.load.total)} of ${int(URLS)} URLs were requested (raise BENCH_CRAWL_SECONDS)`;
    console.log(
      [
        `## Large crawl on the disk store (${int(URLS)} URLs of 4–64 KB, ${mb(workingSetBytes())} in all, --cache-size ${CACHE_SIZE})`,
        '',
        `wrk -c${CONNECTIONS}; origin alone on the recrawl's shape: ${int(originAlone.load.requestsPerSecond)} req/s. In the crawl pass ${crawled}.`,
        '',
        table(['Phase', 'Requests', 'req/s', '× origin', 'Hit ratio', 'p99 ms', 'Proxy µs CPU / req', 'Proxy peak RSS', 'of it anonymous'], phases.map(row)),
        '',
        'RSS counts the pages of data.mdb the proxy has touched (its map of the file: the OS page cache, shared and reclaimable); the anonymous part is the process’s own memory (with the hot bodies it keeps).',
        '',
        `At the end: ${int(usage.entries ?? 0)} entries holding ${mb(usage.bytes)} (cap ${mb(capBytes)}), ${int(evicted)} evicted; ` +
          `data.mdb and the body ring ${mb(fileBytes)} = ${pct((100 * fileBytes) / capBytes)} of the cap.`,
        `Restart on that directory: first answer ${int(full.ms)} ms after spawn (${full.status}); on an empty directory ${int(empty.ms)} ms.`,
      ].join('\n'),
    );
  } finally {
    await originChild.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await runScript('bench:crawl', main, progress);
