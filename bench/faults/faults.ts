// THE fault table: an origin that resets mid-body, hangs after its headers, sends a short body or
// cuts a chunked one; one client holding idle tunnels or connections (held-connections.ts); Redis
// SIGKILLed and restarted under load; a worker SIGKILLed under load.
// Every client request must end in a correct response or a clean error (a cut connection), and
// no truncated body may ever be stored: each row fetches again and checks every byte.
// Shared by `npm run faults` and its short form in `npm test` (test/faults/faults.test.ts).
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { bodyFor, startProxyChild, startPrivateRedis, type FaultOrigin, type PrivateRedis, type ProxyChild } from './env.js';
import { runConnectionShare, runIdleTunnels } from './held-connections.js';
import { exchange } from './wire.js';

export interface FaultResult {
  id: string;
  what: string;
  ok: boolean;
  detail: string;
}

export interface FaultOptions {
  /** Seconds of load in the Redis and worker rows. */
  loadSeconds: number;
  /** Concurrent clients in those rows. */
  clients: number;
  /** Only the rows with these ids (all when absent). */
  only?: readonly string[];
}

interface Fetched {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function fetchVia(port: number, originHost: string, path: string, agent: http.Agent | false = false, timeoutMs = 5000): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `http://${originHost}${path}`, headers: { host: originHost }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        // node emits 'end' for a response cut short only after 'aborted'; complete() tells them apart.
        if (!res.complete) reject(Object.assign(new Error('response cut short'), { code: 'ECONNRESET' }));
        else resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const ORIGIN_FAULTS = [
  { id: 'origin-reset-mid-body', path: '/reset-mid-body/1', what: 'origin resets the connection mid-body', body: bodyFor(1, 64 * 1024) },
  { id: 'origin-hang-after-headers', path: '/hang-after-headers/1', what: 'origin sends its head, then nothing (--upstream-timeout 1s)', body: bodyFor(2, 8 * 1024) },
  { id: 'origin-short-body', path: '/short-body/1', what: 'origin sends 3 KB of an announced 8 KB, then FIN', body: bodyFor(3, 8 * 1024) },
  { id: 'origin-chunked-cut', path: '/chunked-cut/1', what: 'origin ends a chunked body without its last chunk', body: bodyFor(4, 8 * 1024) },
] as const;

/** The four origin faults against one memory-store proxy (started with --upstream-timeout 1s). */
export async function runOriginFaults(proxy: ProxyChild, origin: FaultOrigin): Promise<FaultResult[]> {
  return Promise.all(
    ORIGIN_FAULTS.map(async (fault): Promise<FaultResult> => {
      const problems: string[] = [];
      // 1. The faulty response: the client must see a cut transfer, never a whole response.
      const first = await exchange(proxy.port, '127.0.0.1', `GET http://${origin.host}${fault.path} HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`, { timeoutMs: 4000, expectResponses: 1, untilClose: true });
      if (first.responses.length) problems.push(`the client got a whole ${first.responses[0]!.status} response of ${first.responses[0]!.body.length} bytes`);
      if (!first.closed) problems.push('the connection was not cut');
      // 2. Nothing was stored: the next request goes to the origin and gets the whole body.
      const second = await fetchVia(proxy.port, origin.host, fault.path).catch((error: Error) => error);
      if (second instanceof Error) problems.push(`refetch failed: ${second.message}`);
      else if (!second.body.equals(fault.body)) problems.push(`refetch got ${second.body.length} bytes, expected ${fault.body.length}`);
      else if (!/fwd=uri-miss/.test(String(second.headers['cache-status']))) problems.push(`refetch was not a miss: ${String(second.headers['cache-status'])}`);
      // 3. The whole body stored then is what a hit serves.
      const third = await fetchVia(proxy.port, origin.host, fault.path).catch((error: Error) => error);
      if (third instanceof Error) problems.push(`hit failed: ${third.message}`);
      else if (!third.body.equals(fault.body) || !/hit/.test(String(third.headers['cache-status']))) problems.push(`third fetch: ${third.body.length} bytes, ${String(third.headers['cache-status'])}`);
      const seen = origin.count(fault.path);
      if (seen !== 2) problems.push(`the origin saw ${seen} requests, expected 2`);
      const detail = problems.length ? problems.join('; ') : `cut (${first.error ?? 'closed'}), refetch a miss with all ${fault.body.length} bytes, then a hit`;
      return { id: fault.id, what: fault.what, ok: !problems.length, detail };
    }),
  );
}

interface LoadTally {
  ok: number;
  hits: number;
  /** Connection-level failures (reset, cut): clean errors. */
  cleanErrors: number;
  /** Responses that were not 200 with the exact body: failures. */
  wrong: string[];
  /** When each clean error happened (Date.now()). */
  errorTimes: number[];
}

const LOAD_URLS = 200;

/** `clients` keep-alive clients fetching /load/<n> for `seconds`, checking every body; `during` runs alongside. */
async function loadWhile(port: number, originHost: string, options: FaultOptions, during: () => Promise<void>): Promise<LoadTally> {
  const tally: LoadTally = { ok: 0, hits: 0, cleanErrors: 0, wrong: [], errorTimes: [] };
  const end = Date.now() + options.loadSeconds * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  let seq = 0;
  const client = async () => {
    while (Date.now() < end) {
      const n = (seq++ * 7919) % LOAD_URLS;
      const expected = bodyFor(n, 1024 + (n % 8) * 1024);
      try {
        const res = await fetchVia(port, originHost, `/load/${n}`, agent);
        if (res.status === 200 && res.body.equals(expected)) {
          tally.ok++;
          if (/hit/.test(String(res.headers['cache-status']))) tally.hits++;
        } else tally.wrong.push(`/load/${n}: ${res.status}, ${res.body.length} bytes`);
      } catch {
        tally.cleanErrors++;
        tally.errorTimes.push(Date.now());
        await delay(20);
      }
    }
  };
  await Promise.all([...Array.from({ length: options.clients }, client), during()]);
  agent.destroy();
  return tally;
}

/** After a fault: every URL again, each answer (hit or miss) must be exact. */
async function verifyAll(port: number, originHost: string): Promise<string[]> {
  const wrong: string[] = [];
  for (let n = 0; n < LOAD_URLS; n++) {
    const expected = bodyFor(n, 1024 + (n % 8) * 1024);
    // A connection error is a clean error (a keep-alive socket to a killed worker): ask once more.
    const res = await fetchVia(port, originHost, `/load/${n}`)
      .catch(() => fetchVia(port, originHost, `/load/${n}`))
      .catch((error: Error) => error);
    if (res instanceof Error) wrong.push(`/load/${n}: ${res.message}`);
    else if (res.status !== 200 || !res.body.equals(expected)) wrong.push(`/load/${n}: ${res.status}, ${res.body.length} bytes`);
  }
  return wrong;
}

function describeTally(t: LoadTally, extra = ''): string {
  return `${t.ok} right (${t.hits} hits), ${t.cleanErrors} clean errors, ${t.wrong.length} wrong${extra}${t.wrong.length ? `: ${t.wrong.slice(0, 3).join('; ')}` : ''}`;
}

/** Redis SIGKILLed a third into the load and restarted a second later: no request may fail. */
export async function runRedisKill(origin: FaultOrigin, options: FaultOptions): Promise<FaultResult> {
  const redis = await startPrivateRedis();
  let proxy: ProxyChild | undefined;
  try {
    proxy = await startProxyChild(['--store', redis.url, '--namespace', 'faults-redis-kill']);
    const port = proxy.port;
    const tally = await loadWhile(port, origin.host, options, async () => {
      await delay((options.loadSeconds * 1000) / 3);
      await redis.kill();
      await delay(1000);
      await redis.restart();
    });
    const after = await verifyAll(port, origin.host);
    // A store failure never fails a client request (STYLE.md invariant 5): not even a clean error.
    const ok = tally.wrong.length === 0 && tally.cleanErrors === 0 && after.length === 0;
    return { id: 'redis-sigkill-restart', what: `Redis SIGKILL + restart under load (${options.clients} clients, ${options.loadSeconds} s)`, ok, detail: describeTally(tally, `; afterwards ${LOAD_URLS - after.length}/${LOAD_URLS} URLs exact`) };
  } finally {
    await proxy?.stop();
    await redis.stop();
  }
}

/** Children of `pid`, from /proc (the workers of a node:cluster primary). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

// After a worker dies, the requests it had in flight are cut; within this long, clients must be
// served again (by the other worker or its replacement).
// Generous: on a loaded 2-core machine the replacement worker can take a few seconds to listen.
const RECOVERY_MS = 5000;

/** One of two workers SIGKILLed a third into the load: in-flight requests may be cut, none may be wrong. */
export async function runWorkerKill(origin: FaultOrigin, options: FaultOptions, sharedRedis?: PrivateRedis): Promise<FaultResult> {
  const redis = sharedRedis ?? (await startPrivateRedis());
  let proxy: ProxyChild | undefined;
  try {
    proxy = await startProxyChild(['--store', redis.url, '--namespace', 'faults-worker-kill', '--workers', '2']);
    const primary = proxy.child.pid;
    let killed: number | undefined;
    let killedAt = 0;
    let replaced = false;
    const tally = await loadWhile(proxy.port, origin.host, options, async () => {
      await delay((options.loadSeconds * 1000) / 3);
      const workers = childrenOf(primary);
      killed = workers[0];
      killedAt = Date.now();
      if (killed) process.kill(killed, 'SIGKILL');
      const deadline = Date.now() + (options.loadSeconds * 1000) / 2;
      while (Date.now() < deadline && !replaced) {
        await delay(100);
        const now = childrenOf(primary);
        replaced = now.length >= 2 && !now.includes(killed ?? -1);
      }
    });
    const after = await verifyAll(proxy.port, origin.host);
    const outside = tally.errorTimes.filter((t) => t < killedAt || t > killedAt + RECOVERY_MS).length;
    const ok = killed !== undefined && tally.wrong.length === 0 && outside === 0 && after.length === 0 && replaced;
    const detail = describeTally(
      tally,
      `; worker ${killed ?? '(none found)'} killed, ${replaced ? 'replaced' : 'NOT replaced'}, ${outside} errors outside the ${RECOVERY_MS} ms after the kill; afterwards ${LOAD_URLS - after.length}/${LOAD_URLS} URLs exact`,
    );
    return { id: 'worker-sigkill', what: `a worker SIGKILLed under load (--workers 2, Redis; ${options.clients} clients, ${options.loadSeconds} s)`, ok, detail };
  } finally {
    await proxy?.stop();
    if (!sharedRedis) await redis.stop();
  }
}

/** Every fault row: the origin faults against their own memory-store proxy, the held connections, then Redis and workers. */
export async function runFaultTable(origin: FaultOrigin, options: FaultOptions): Promise<FaultResult[]> {
  const wanted = (id: string) => !options.only || options.only.includes(id);
  const rows: FaultResult[] = [];
  if (ORIGIN_FAULTS.some((fault) => wanted(fault.id))) {
    const proxy = await startProxyChild(['--upstream-timeout', '1s']);
    try {
      rows.push(...(await runOriginFaults(proxy, origin)).filter((row) => wanted(row.id)));
    } finally {
      await proxy.stop();
    }
  }
  if (wanted('idle-tunnel')) rows.push(await runIdleTunnels(origin));
  if (wanted('connection-share')) rows.push(await runConnectionShare(origin));
  if (wanted('redis-sigkill-restart')) rows.push(await runRedisKill(origin, options));
  if (wanted('worker-sigkill')) rows.push(await runWorkerKill(origin, options));
  return rows;
}
