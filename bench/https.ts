// The HTTPS scenarios of `npm run bench` (issue 8): a 1 KB hit through the intercepting proxy
// beside a node:https origin answered directly (both over kept-alive connections, the same
// client, the same run), the time to the first response on a new tunnel for a host name the
// proxy has not seen (leaf signed on the spot) and for one it has, and leaf signing alone.
// Certificates are made in a temporary directory and removed at the end.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici';
import { initCa, loadCa, type CertificateAuthority } from '../src/tls/ca.js';
import { LeafContexts } from '../src/tls/leaf-contexts.js';
import { createLeafCertificate, exportPrivateKeyPem, generateKeyPair } from '../src/tls/x509.js';
import { bar, int, ms, pct, table } from './format.js';
import { freePort, ProcessMonitor, spawnNode, waitForHttp, waitForLine, type Child } from './processes.js';

export interface HttpsOptions {
  originScript: string;
  cliScript: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  rounds: number;
  progress: (line: string) => void;
}

interface Load {
  /** CPU of the process that answered (the proxy, or the origin when direct), µs per request. */
  serverCpuUsPerRequest?: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  errors: number;
}

export interface HttpsResults {
  proxied: Load;
  direct: Load;
  cacheStatus: string;
  unseen: number[];
  seen: number[];
  leafOnly: number[];
  contextOnly: number[];
}

const FIRST_RESPONSE_SAMPLES = 40;
const LEAF_SAMPLES = 100;

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

/** `connections` clients in a loop, each awaiting its response before sending the next request. */
async function runLoad(dispatcher: Dispatcher, url: string, connections: number, seconds: number): Promise<Load> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const sent = performance.now();
        try {
          const res = await request(url, { dispatcher });
          await res.body.dump({ limit: Infinity });
          if (res.statusCode !== 200) errors++;
          latencies.push(performance.now() - sent);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return { requestsPerSecond: latencies.length / elapsed, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), total: latencies.length, errors };
}

/** CONNECT + TLS (with this SNI name) + one GET: ms to the first byte of the response. */
async function firstResponse(proxyPort: number, originPort: number, servername: string, ca: string): Promise<number> {
  const started = performance.now();
  const socket = net.connect(proxyPort, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
  const [head] = (await once(socket, 'data')) as [Buffer];
  if (!head.toString('latin1').startsWith('HTTP/1.1 200')) throw new Error(`CONNECT answered ${head.toString('latin1').split('\r\n')[0]}`);
  const secure = tls.connect({ socket, servername, ca, host: servername });
  await once(secure, 'secureConnect');
  secure.write(`GET /1k HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\nConnection: close\r\n\r\n`);
  const [chunk] = (await once(secure, 'data')) as [Buffer];
  const elapsed = performance.now() - started;
  if (!chunk.toString('latin1').startsWith('HTTP/1.1 200')) throw new Error(`GET answered ${chunk.toString('latin1').split('\r\n')[0]}`);
  secure.destroy();
  return elapsed;
}

async function measureLeaves(ca: CertificateAuthority): Promise<{ leafOnly: number[]; contextOnly: number[] }> {
  const leaves = new LeafContexts({ ca, now: Date.now });
  await leaves.issue('warm-up.bench.test'); // the per-process key is made once, before any leaf
  const leafOnly: number[] = [];
  const contextOnly: number[] = [];
  for (let i = 0; i < LEAF_SAMPLES; i++) {
    let started = performance.now();
    await leaves.issue(`leaf-${i}.bench.test`);
    leafOnly.push(performance.now() - started);
    started = performance.now();
    await leaves.get(`context-${i}.bench.test`);
    contextOnly.push(performance.now() - started);
  }
  return { leafOnly, contextOnly };
}

export async function runHttpsBench(options: HttpsOptions): Promise<HttpsResults> {
  const { progress } = options;
  const dir = mkdtempSync(join(tmpdir(), 'etag-proxy-bench-tls-'));
  const children: Child[] = [];
  const dispatchers: Dispatcher[] = [];
  try {
    await initCa(join(dir, 'proxy-ca'));
    await initCa(join(dir, 'origin-ca'));
    const proxyCa = await loadCa(join(dir, 'proxy-ca'));
    const originCa = await loadCa(join(dir, 'origin-ca'));
    // The origin's certificate is of the proxy's leaves' type: ECDSA P-256, one SAN.
    const originKeys = await generateKeyPair();
    const originCert = await createLeafCertificate(originCa.signing, { hosts: ['127.0.0.1'], publicKey: originKeys.publicKey, now: Date.now(), notAfter: originCa.notAfter, validDays: 30 });
    writeFileSync(join(dir, 'origin-key.pem'), await exportPrivateKeyPem(originKeys.privateKey), { mode: 0o600 });
    writeFileSync(join(dir, 'origin-cert.pem'), originCert);

    const origin = spawnNode('https origin', options.originScript, ['--tls-key', join(dir, 'origin-key.pem'), '--tls-cert', join(dir, 'origin-cert.pem')]);
    children.push(origin);
    const originPort = Number(await waitForLine(origin, /listening (\d+)/));
    const proxyPort = await freePort();
    const proxy = spawnNode('intercepting proxy', options.cliScript, [
      '--host', '127.0.0.1', '--port', String(proxyPort), '--log-level', 'warn', '--store', 'memory',
      '--intercept', '--ca-dir', join(dir, 'proxy-ca'), '--upstream-ca', join(dir, 'origin-ca', 'ca.pem'), '--connect-ports', '1-65535',
    ]);
    children.push(proxy);
    await waitForHttp(proxy, `http://127.0.0.1:${proxyPort}/`);
    progress(`HTTPS origin on 127.0.0.1:${originPort}, intercepting proxy on 127.0.0.1:${proxyPort}`);

    const url = `https://127.0.0.1:${originPort}/1k`;
    const direct = new Agent({ connect: { ca: originCa.certPem }, connections: options.connections });
    const proxied = new ProxyAgent({ uri: `http://127.0.0.1:${proxyPort}`, requestTls: { ca: proxyCa.certPem }, connections: options.connections });
    dispatchers.push(direct, proxied);
    let cacheStatus = '';
    for (let i = 0; i < 2; i++) {
      const res = await request(url, { dispatcher: proxied });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`warm-up GET ${url} through the proxy answered ${res.statusCode}`);
      cacheStatus = String(res.headers['cache-status'] ?? '(none)');
    }
    // Server CPU per request is the figure least disturbed by other load (and by the load generator).
    const monitors = { origin: new ProcessMonitor(origin.pid), proxy: new ProcessMonitor(proxy.pid) };
    const measured = async (dispatcher: Dispatcher, monitor: ProcessMonitor): Promise<Load> => {
      if (options.warmupSeconds) await runLoad(dispatcher, url, options.connections, options.warmupSeconds);
      monitor.begin();
      const load = await runLoad(dispatcher, url, options.connections, options.seconds);
      const cpu = monitor.end().cpuPercent;
      return { ...load, ...(cpu !== undefined && { serverCpuUsPerRequest: (cpu * 10_000) / load.requestsPerSecond }) };
    };
    let best: { proxied: Load; direct: Load } | undefined;
    for (let round = 0; round < options.rounds; round++) {
      progress('HTTPS hit, 1 KB: straight to the node:https origin');
      const straight = await measured(direct, monitors.origin);
      progress('HTTPS hit, 1 KB: through the intercepting proxy');
      const through = await measured(proxied, monitors.proxy);
      best = {
        direct: best && best.direct.requestsPerSecond >= straight.requestsPerSecond ? best.direct : straight,
        proxied: best && best.proxied.requestsPerSecond >= through.requestsPerSecond ? best.proxied : through,
      };
    }

    progress(`time to first response: ${FIRST_RESPONSE_SAMPLES} new tunnels each for unseen and seen host names`);
    await firstResponse(proxyPort, originPort, 'seen.bench.test', proxyCa.certPem);
    const unseen: number[] = [];
    const seen: number[] = [];
    for (let i = 0; i < FIRST_RESPONSE_SAMPLES; i++) {
      unseen.push(await firstResponse(proxyPort, originPort, `unseen-${i}-${process.pid}.bench.test`, proxyCa.certPem));
      seen.push(await firstResponse(proxyPort, originPort, 'seen.bench.test', proxyCa.certPem));
    }
    monitors.origin.stop();
    monitors.proxy.stop();
    progress('leaf signing alone (in the bench process)');
    const leaves = await measureLeaves(proxyCa);
    return { ...best!, cacheStatus, unseen, seen, ...leaves };
  } finally {
    await Promise.allSettled(dispatchers.map((d) => d.close()));
    await Promise.allSettled(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function httpsReport(results: HttpsResults | string): { lines: string[]; bars: string[] } {
  if (typeof results === 'string') return { lines: [`HTTPS scenarios skipped: ${results}.`, ''], bars: [bar('HTTPS hit ≥ 70 % of the HTTPS origin', undefined, results)] };
  const { proxied, direct, unseen, seen, leafOnly, contextOnly } = results;
  const ratio = (100 * proxied.requestsPerSecond) / direct.requestsPerSecond;
  const lines = [
    '### HTTPS (TLS interception)',
    '',
    'Both sides are loaded by the same client (undici, kept-alive connections: `Agent` to the origin, `ProxyAgent` through the proxy, CONNECT + TLS once per connection); the origin is node:https with an ECDSA P-256 certificate like the proxy\'s leaves.',
    '',
    table(
      ['Scenario', 'Proxy req/s', 'Origin req/s', 'Proxy / origin', 'Proxy p50 / p99 ms', 'Origin p50 / p99 ms', 'Server µs CPU / req (proxy / origin)', 'Cache-Status'],
      [
        [
          'HTTPS hit, 1 KB',
          int(proxied.requestsPerSecond),
          int(direct.requestsPerSecond),
          pct(ratio),
          `${ms(proxied.p50Ms)} / ${ms(proxied.p99Ms)}`,
          `${ms(direct.p50Ms)} / ${ms(direct.p99Ms)}`,
          `${proxied.serverCpuUsPerRequest?.toFixed(1) ?? 'n/a'} / ${direct.serverCpuUsPerRequest?.toFixed(1) ?? 'n/a'}`,
          `\`${results.cacheStatus}\``,
        ],
      ],
      [false, true, true, true, true, true, true, false],
    ),
    '',
    table(
      ['Time (ms)', 'median', 'p90', 'max'],
      [
        ['First response, new tunnel, host not seen (leaf signed)', ms(percentile(unseen, 50)), ms(percentile(unseen, 90)), ms(Math.max(...unseen))],
        ['First response, new tunnel, host seen (context cached)', ms(percentile(seen, 50)), ms(percentile(seen, 90)), ms(Math.max(...seen))],
        ['Leaf signing alone', ms(percentile(leafOnly, 50)), ms(percentile(leafOnly, 90)), ms(Math.max(...leafOnly))],
        ['Leaf signing + TLS context', ms(percentile(contextOnly, 50)), ms(percentile(contextOnly, 90)), ms(Math.max(...contextOnly))],
      ],
    ),
    '',
    `"First response" is CONNECT, TLS handshake and one GET (a cache hit) on a new connection, ${unseen.length} samples each, one at a time.`,
    '',
  ];
  if (proxied.errors || direct.errors) lines.push(`> Warning: errors during the HTTPS runs: proxy ${proxied.errors}, origin ${direct.errors}.`, '');
  const bars = [
    bar('HTTPS hit ≥ 70 % of the HTTPS origin', ratio >= 70, pct(ratio)),
    bar('First response for an unseen host, median ≤ 15 ms', percentile(unseen, 50) <= 15, `${ms(percentile(unseen, 50))} ms`),
  ];
  return { lines, bars };
}
