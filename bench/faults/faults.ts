// THE fault table: an origin that resets mid-body, hangs after its headers, sends a short body or
// cuts a chunked one; clients that stop reading; one client holding idle tunnels or connections
// (held-connections.ts); a pathological pattern loaded through the admin API under load; Redis
// SIGKILLed and restarted under load; a worker SIGKILLed under load; the change feed's full set
// of idle subscribers while changes are made and hits are served.
// Every client request must end in a correct response or a clean error (a cut connection), and
// no truncated body may ever be stored: each row fetches again and checks every byte.
// Run by `npm run faults` (bench/faults/main.ts), which CI runs (.ci/run).
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import net from 'node:net';
import { ProcessMonitor } from '../processes.js';
import { ADMIN_TOKEN, BIG_BYTES, bodyFor, OK_BODY, startProxyChild, startPrivateRedis, type FaultOrigin, type PrivateRedis, type ProxyChild } from './env.js';
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

function fetchVia(
  port: number,
  originHost: string,
  path: string,
  agent: http.Agent | false = false,
  timeoutMs = 5000,
  headers: Record<string, string> = {},
  onSocket?: (socket: net.Socket) => void,
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: `http://${originHost}${path}`, headers: { host: originHost, ...headers }, agent }, (res) => {
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
    if (onSocket) req.once('socket', onSocket);
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
  /**
   * Each clean error's phase (see `LoadPhase`): `at`, when it surfaced; `connection`, when the
   * connection that carried the request was opened.
   */
  errorPhases: { at: number; connection: number }[];
  /** The slowest right answer, in ms. */
  worstMs: number;
}

const LOAD_URLS = 200;

const STALLERS = 8;
const SEND_TIMEOUT_S = 1;

/** A connection from `localAddress` that sends a GET and then reads nothing (node stops reading once its buffer is full). */
function stalledGet(port: number, originHost: string, path: string, localAddress: string): net.Socket {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  socket.write(`GET http://${originHost}${path} HTTP/1.1\r\nHost: ${originHost}\r\n\r\n`);
  return socket;
}

/** Read again: what arrives until the proxy's reset or close (-1: it never came). */
function readToClose(socket: net.Socket, ms: number): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    const timer = setTimeout(() => resolve(-1), ms);
    socket.on('data', (chunk: Buffer) => void (bytes += chunk.length));
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(bytes);
    });
    socket.resume();
  });
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await delay(20);
  }
  return true;
}

/**
 * Clients that stop reading (issue 18): 8 downloads of 12 MiB from 127.0.0.2 that read nothing,
 * beside a well-behaved client on 127.0.0.3. The well-behaved one is served at once; the stalled
 * ones are cut after --send-timeout, their origin connections closed; nothing cut short is stored.
 */
export async function runSlowReaders(origin: FaultOrigin): Promise<FaultResult> {
  const proxy = await startProxyChild(['--send-timeout', `${SEND_TIMEOUT_S}s`]);
  const stalled: net.Socket[] = [];
  const problems: string[] = [];
  const what = `${STALLERS} clients stop reading 12 MiB downloads (--send-timeout ${SEND_TIMEOUT_S}s) beside a well-behaved one`;
  try {
    for (let n = 0; n < STALLERS; n++) stalled.push(stalledGet(proxy.port, origin.host, `/big/${n}`, '127.0.0.2'));
    if (!(await until(() => origin.requests.filter((r) => r.url.startsWith('/big/')).length === STALLERS, 5000))) problems.push('the stalled downloads did not all reach the origin');
    const startedAt = Date.now();
    const ok = await fetchVia(proxy.port, origin.host, '/ok', new http.Agent({ localAddress: '127.0.0.3' })).catch((error: Error) => error);
    const servedMs = Date.now() - startedAt;
    if (ok instanceof Error || !ok.body.equals(OK_BODY)) problems.push(`the well-behaved client was not served: ${ok instanceof Error ? ok.message : ok.status}`);
    else if (servedMs > 2000) problems.push(`the well-behaved client waited ${servedMs} ms`);
    const released = await until(() => origin.stillOpen('/big/') === 0, (SEND_TIMEOUT_S + 8) * 1000);
    const cutAfterMs = Date.now() - startedAt;
    if (!released) problems.push(`${origin.stillOpen('/big/')} of ${STALLERS} origin connections still open ${cutAfterMs} ms later`);
    const got = await Promise.all(stalled.map((socket) => readToClose(socket, 5000)));
    const whole = got.filter((bytes) => bytes < 0 || bytes >= BIG_BYTES).length;
    if (whole) problems.push(`${whole} stalled clients were not cut`);
    const again = await fetchVia(proxy.port, origin.host, '/big/0', false, 10_000).catch((error: Error) => error);
    if (again instanceof Error) problems.push(`refetch failed: ${again.message}`);
    else if (!again.body.equals(bodyFor(0, BIG_BYTES)) || !/fwd=uri-miss/.test(String(again.headers['cache-status']))) problems.push(`refetch: ${again.body.length} bytes, ${String(again.headers['cache-status'])}`);
    const detail = problems.length
      ? problems.join('; ')
      : `well-behaved client served in ${servedMs} ms; the ${STALLERS} stalled ones cut and their origin connections closed within ${cutAfterMs} ms; refetch a miss with all ${BIG_BYTES} bytes`;
    return { id: 'slow-reader', what, ok: !problems.length, detail };
  } finally {
    for (const socket of stalled) socket.destroy();
    await proxy.stop();
  }
}

/** `clients` keep-alive clients fetching /load/<n> for `seconds`, checking every body; `during` runs alongside. */
/**
 * A counter the fault advances (0 before it, then one step per event it waits for), so that each
 * clean error can be placed by the events around it instead of by the clock, which a loaded
 * machine stretches.
 */
export interface LoadPhase {
  current: number;
}

async function loadWhile(port: number, originHost: string, options: FaultOptions, during: () => Promise<void>, phase: LoadPhase = { current: 0 }): Promise<LoadTally> {
  const tally: LoadTally = { ok: 0, hits: 0, cleanErrors: 0, wrong: [], errorPhases: [], worstMs: 0 };
  // The phase in which each connection was opened (the agent reuses sockets across requests).
  const openedIn = new WeakMap<net.Socket, number>();
  const end = Date.now() + options.loadSeconds * 1000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.clients });
  let seq = 0;
  const client = async () => {
    while (Date.now() < end) {
      const n = (seq++ * 7919) % LOAD_URLS;
      const expected = bodyFor(n, 1024 + (n % 8) * 1024);
      let connection = phase.current;
      try {
        const started = performance.now();
        const res = await fetchVia(port, originHost, `/load/${n}`, agent, 5000, {}, (socket) => {
          if (!openedIn.has(socket)) openedIn.set(socket, phase.current);
          connection = openedIn.get(socket)!;
        });
        if (res.status === 200 && res.body.equals(expected)) {
          tally.worstMs = Math.max(tally.worstMs, performance.now() - started);
          tally.ok++;
          if (/hit/.test(String(res.headers['cache-status']))) tally.hits++;
        } else tally.wrong.push(`/load/${n}: ${res.status}, ${res.body.length} bytes`);
      } catch {
        tally.cleanErrors++;
        tally.errorPhases.push({ at: phase.current, connection });
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

const STAR_A = '*a*a*a*a*a*a*b';
/** A frozen event loop shows as seconds (the backtracking globs took 4.2 s and 8.7 s on 64 and 80 characters); a busy 2-core machine as a few hundred ms. */
const PATTERN_MAX_MS = 1500;

function adminCall(port: number, method: string, path: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('admin API timed out')));
    req.on('error', reject);
    req.end(text);
  });
}

/**
 * The attack's patterns (issue 18 item 6) loaded through the admin API a quarter into the load:
 * each is either taken (and then matched in linear time) or refused with 400; requests built to
 * make them backtrack (80- and 10,000-character paths, a 64-character query name and client id)
 * are answered at once, and the well-behaved clients keep getting fast, exact hits.
 */
export async function runPatternRow(origin: FaultOrigin, options: FaultOptions): Promise<FaultResult> {
  const proxy = await startProxyChild([], { admin: true });
  const statuses: string[] = [];
  const problems: string[] = [];
  let attackWorstMs = 0;
  let attacks = 0;
  try {
    const tally = await loadWhile(proxy.port, origin.host, options, async () => {
      await delay((options.loadSeconds * 1000) / 4);
      const changes: Array<[string, string, unknown, readonly number[]]> = [
        ['PUT', '/rules', [{ match: { host: '*', path: `/${STAR_A}` }, defaultTtl: '1m' }, { match: { host: '*' }, ignoreQuery: [STAR_A] }, { match: { url: '(a+)+$' }, heuristicPercent: 5 }], [200, 400]],
        ['PUT', `/policies/clients/${encodeURIComponent(STAR_A)}`, { validators: 'strip' }, [201, 400]],
        ['PUT', `/policies/hosts/${encodeURIComponent(STAR_A)}`, { validators: 'strip' }, [201, 400]],
        ['PUT', '/rules/3', { match: { host: '@(a|b).example' } }, [400]],
      ];
      for (const [method, path, body, allowed] of changes) {
        const status = await adminCall(proxy.adminPort!, method, path, body).catch(() => 0);
        statuses.push(`${decodeURIComponent(path)} ${status}`);
        if (!allowed.includes(status)) problems.push(`${method} ${decodeURIComponent(path)}: ${status}, expected ${allowed.join(' or ')}`);
      }
      const end = Date.now() + (options.loadSeconds * 1000) / 2;
      while (Date.now() < end) {
        for (const path of [`/${'a'.repeat(80)}`, `/${'a'.repeat(10_000)}`, `/load/1?${'a'.repeat(64)}=1`]) {
          const started = performance.now();
          const res = await fetchVia(proxy.port, origin.host, path, false, 10_000, { 'x-proxy-client': 'a'.repeat(64) }).catch((error: Error) => error);
          attackWorstMs = Math.max(attackWorstMs, performance.now() - started);
          attacks++;
          if (res instanceof Error) problems.push(`attack ${path.slice(0, 24)}…: ${res.message}`);
        }
        await delay(50);
      }
    });
    if (tally.worstMs > PATTERN_MAX_MS) problems.push(`a well-behaved answer took ${tally.worstMs.toFixed(0)} ms`);
    if (attackWorstMs > PATTERN_MAX_MS) problems.push(`an attack request took ${attackWorstMs.toFixed(0)} ms`);
    const ok = !problems.length && tally.wrong.length === 0 && tally.cleanErrors === 0 && tally.hits > 0;
    const detail = `${describeTally(tally)}, slowest ${tally.worstMs.toFixed(0)} ms; admin: ${statuses.join(', ')}; ${attacks} attack requests, slowest ${attackWorstMs.toFixed(0)} ms${problems.length ? `; ${problems.slice(0, 3).join('; ')}` : ''}`;
    return { id: 'pattern', what: `pathological globs and a (a+)+$ url rule loaded through the admin API under load (${options.clients} clients, ${options.loadSeconds} s)`, ok, detail };
  } finally {
    await proxy.stop();
  }
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

// The worker-kill row's phases: errors may surface only from the kill on, and only on
// connections opened before the primary had seen the worker exit (it was holding them, or handing
// them to the dead worker); a connection opened after that goes to a live worker and must be served.
const BEFORE_KILL = 0;
const KILLED = 1;
const PRIMARY_KNOWS = 2;
/** How long the primary may take to notice the death and to start a replacement that listens (a last resort: the row waits for the events, not for this). */
const WORKER_EVENT_TIMEOUT_MS = 30_000;

/**
 * One of two workers SIGKILLed a third into the load: in-flight requests may be cut, none may be
 * wrong, and the primary starts a replacement. Both workers are listening before the load starts
 * (a worker killed before it was ready makes the primary stop, as a bad configuration would).
 */
export async function runWorkerKill(origin: FaultOrigin, options: FaultOptions, sharedRedis?: PrivateRedis): Promise<FaultResult> {
  const redis = sharedRedis ?? (await startPrivateRedis());
  let proxy: ProxyChild | undefined;
  try {
    proxy = await startProxyChild(['--store', redis.url, '--namespace', 'faults-worker-kill', '--workers', '2'], { logLevel: 'info' });
    const lines = proxy.lines;
    await lines.waitFor(/listening on/, 2, WORKER_EVENT_TIMEOUT_MS);
    const primary = proxy.child.pid;
    const phase: LoadPhase = { current: BEFORE_KILL };
    let killed: number | undefined;
    let replaced = false;
    let problem = '';
    const tally = await loadWhile(
      proxy.port,
      origin.host,
      options,
      async () => {
        await delay((options.loadSeconds * 1000) / 3);
        killed = childrenOf(primary)[0];
        if (killed === undefined) return void (problem = 'no worker process found');
        phase.current = KILLED;
        process.kill(killed, 'SIGKILL');
        try {
          await lines.waitFor(/worker exited; starting another/, 1, WORKER_EVENT_TIMEOUT_MS);
          phase.current = PRIMARY_KNOWS;
          await lines.waitFor(/listening on/, 3, WORKER_EVENT_TIMEOUT_MS);
          replaced = !childrenOf(primary).includes(killed);
        } catch (error) {
          problem = (error as Error).message.split('\n')[0]!;
        }
      },
      phase,
    );
    const after = await verifyAll(proxy.port, origin.host);
    const beforeKill = tally.errorPhases.filter((e) => e.at === BEFORE_KILL).length;
    const onNewConnections = tally.errorPhases.filter((e) => e.connection === PRIMARY_KNOWS).length;
    const ok = killed !== undefined && replaced && !problem && tally.wrong.length === 0 && beforeKill === 0 && onNewConnections === 0 && after.length === 0;
    const detail = describeTally(
      tally,
      `; worker ${killed ?? '(none found)'} killed, ${replaced ? 'replaced' : 'NOT replaced'}${problem ? ` (${problem})` : ''}, ` +
        `${beforeKill} errors before the kill, ${onNewConnections} on connections opened after the primary saw the exit; afterwards ${LOAD_URLS - after.length}/${LOAD_URLS} URLs exact`,
    );
    return { id: 'worker-sigkill', what: `a worker SIGKILLed under load (--workers 2, Redis; ${options.clients} clients, ${options.loadSeconds} s)`, ok, detail };
  } finally {
    await proxy?.stop();
    if (!sharedRedis) await redis.stop();
  }
}

/** An SSE stream of the admin API, counting the change events it receives. */
interface Follower {
  status: number;
  changes: number;
  close(): void;
}

function follow(adminPort: number): Promise<Follower> {
  return new Promise((resolve, reject) => {
    const waiting = setTimeout(() => req.destroy(new Error('no answer in 5 s')), 5000);
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/changes/stream', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, agent: false }, (res) => {
      clearTimeout(waiting);
      const follower: Follower = { status: res.statusCode ?? 0, changes: 0, close: () => req.destroy() };
      let partial = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const blocks = (partial + chunk).split('\n\n');
        partial = blocks.pop()!; // the event still arriving
        for (const block of blocks) if (block.includes('\nevent: change\n')) follower.changes++;
      });
      res.on('error', () => {});
      resolve(follower);
    });
    req.on('error', reject);
  });
}

const SUBSCRIBERS = 64;
const HISTORY_CHANGES = 3000;
/** Hits must stay this fast with every subscriber place taken (generous: a shared 2-core machine). */
const HIT_P99_BAR_MS = 100;
/** Idle subscribers may cost no more than this share of a core above the proxy's own idle. */
const IDLE_CPU_BAR_PERCENT = 3;

/**
 * Every place of --max-change-subscribers taken by an idle SSE stream over a history of 3,000
 * changes (with polling, that cost most of a core and stalled hits for a second), one more
 * refused with 503, then hits served while changes are made: hits stay fast, idle streams cost
 * no CPU, and every stream gets every change.
 */
export async function runSubscriberFlood(origin: FaultOrigin, options: FaultOptions): Promise<FaultResult> {
  const proxy = await startProxyChild([], { admin: true });
  const monitor = new ProcessMonitor(proxy.child.pid);
  const followers: Follower[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const adminPort = proxy.adminPort!;
    // The history, 8 URLs changing at once (each request after a URL's first is a change).
    let made = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, lane) => {
        while (made < HISTORY_CHANGES) {
          made++;
          await fetchVia(proxy.port, origin.host, `/changing/${lane}`, agent);
        }
      }),
    );
    await fetchVia(proxy.port, origin.host, '/ok', agent);
    monitor.begin();
    await delay(1500);
    const baseCpu = monitor.end().cpuPercent ?? 0;

    for (let i = 0; i < SUBSCRIBERS; i++) followers.push(await follow(adminPort));
    const opened = followers.filter((f) => f.status === 200).length;
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/changes/stream', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, agent: false }, (res) => {
        // Admitted (no limit): a stream that never ends; closed here.
        if (res.statusCode === 200) return void (req.destroy(), resolve({ status: 200, body: '' }));
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
      req.on('error', reject);
    });
    await delay(500);
    monitor.begin();
    await delay(2500);
    const idleCpu = monitor.end().cpuPercent ?? 0;

    // Hits on one connection while another client makes a change every 20 ms.
    const before = followers.map((f) => f.changes);
    const end = Date.now() + Math.min(options.loadSeconds, 5) * 1000;
    let changes = 0;
    const latencies: number[] = [];
    let wrongHits = 0;
    await Promise.all([
      (async () => {
        while (Date.now() < end) {
          await fetchVia(proxy.port, origin.host, '/changing/99', agent);
          changes++;
          await delay(20);
        }
      })(),
      (async () => {
        while (Date.now() < end) {
          const started = performance.now();
          const hit = await fetchVia(proxy.port, origin.host, '/ok', agent);
          latencies.push(performance.now() - started);
          if (!hit.body.equals(OK_BODY) || !/hit/.test(String(hit.headers['cache-status']))) wrongHits++;
        }
      })(),
    ]);
    changes--; // the first request to /changing/99 stored it: no change
    await delay(1000);
    const behind = followers.filter((f, i) => f.changes - before[i]! < changes).length;
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length * 0.5)] ?? 0;
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    const limitNamed = refused.status === 503 && refused.body.includes(`--max-change-subscribers ${SUBSCRIBERS}`);
    const ok = opened === SUBSCRIBERS && limitNamed && idleCpu - baseCpu <= IDLE_CPU_BAR_PERCENT && p99 <= HIT_P99_BAR_MS && behind === 0 && wrongHits === 0;
    const detail =
      `${opened} streams open, the next ${refused.status}${limitNamed ? ' naming the limit' : `: ${refused.body.slice(0, 80)}`}; ` +
      `proxy CPU idle ${baseCpu.toFixed(1)} % without them, ${idleCpu.toFixed(1)} % with them; ` +
      `${latencies.length} hits, p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ${wrongHits} wrong; ` +
      `${changes} changes made meanwhile, ${SUBSCRIBERS - behind}/${SUBSCRIBERS} streams got every one`;
    return { id: 'subscriber-flood', what: `${SUBSCRIBERS} idle /changes/stream subscribers (the limit) over ${HISTORY_CHANGES} stored changes, one more refused, then hits while changes are made`, ok, detail };
  } finally {
    for (const follower of followers) follower.close();
    agent.destroy();
    monitor.stop();
    await proxy.stop();
  }
}

export const FAULT_ROW_IDS = [...ORIGIN_FAULTS.map((f) => f.id), 'slow-reader', 'idle-tunnel', 'connection-share', 'pattern', 'redis-sigkill-restart', 'worker-sigkill', 'subscriber-flood'];

/**
 * Every fault row (or those in `only`, by id): the origin faults against their own memory-store
 * proxy, the slow readers, the held connections, the pattern row, then Redis, workers and the change feed.
 */
export async function runFaultTable(origin: FaultOrigin, options: FaultOptions, only?: readonly string[]): Promise<FaultResult[]> {
  const wanted = (id: string): boolean => !only || only.includes(id);
  const rows: FaultResult[] = [];
  if (ORIGIN_FAULTS.some((f) => wanted(f.id))) {
    const proxy = await startProxyChild(['--upstream-timeout', '1s']);
    try {
      rows.push(...(await runOriginFaults(proxy, origin)).filter((r) => wanted(r.id)));
    } finally {
      await proxy.stop();
    }
  }
  if (wanted('slow-reader')) rows.push(await runSlowReaders(origin));
  if (wanted('idle-tunnel')) rows.push(await runIdleTunnels(origin));
  if (wanted('connection-share')) rows.push(await runConnectionShare(origin));
  if (wanted('pattern')) rows.push(await runPatternRow(origin, options));
  if (wanted('redis-sigkill-restart')) rows.push(await runRedisKill(origin, options));
  if (wanted('worker-sigkill')) rows.push(await runWorkerKill(origin, options));
  if (wanted('subscriber-flood')) rows.push(await runSubscriberFlood(origin, options));
  return rows;
}
