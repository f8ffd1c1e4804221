// What the fault suite runs against, all on 127.0.0.1: a scripted origin in this process (routes
// for the tables, recording every request), the built proxy CLI as a child process (optionally
// with --workers and a Redis store), and a private redis-server it can SIGKILL and restart.
// Children are stopped by pid (bench/processes.ts), never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, memoryStoreUnlessGiven, spawnNode, waitForHttp, type Child } from '../processes.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root, from bench/faults (vitest) or dist/bench/faults (npm run faults). */
const ROOT = [join(HERE, '..', '..'), join(HERE, '..', '..', '..')].find((dir) => existsSync(join(dir, 'package.json')))!;
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface OriginRecord {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A body that depends on n, so a wrong body for the wrong URL never passes as right. */
export function bodyFor(n: number, bytes = 2048): Buffer {
  // `body-<n>-` over and over (the fill repeats it), cut at `bytes`.
  return Buffer.alloc(bytes, Buffer.from(`body-${n}-`));
}

export const BIG_BYTES = 12 * 1024 * 1024;
export const OK_BODY = Buffer.from('ok-body: the well-behaved answer\n');
export const TARGET_BODY = Buffer.from('the real /target page\n');
export const EVIL_BODY = Buffer.from('EVIL planted content\n');

export interface FaultOrigin {
  port: number;
  host: string;
  requests: OriginRecord[];
  /** How many requests reached `path` (path with query). */
  count(path: string): number;
  /** How many of the connections that carried a request under `prefix` are still open. */
  stillOpen(prefix: string): number;
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, attempt: number) => void;

const cacheable = { 'cache-control': 'max-age=300', 'content-type': 'application/octet-stream' };

/** Fault routes fail on their first request and answer whole afterwards, so a refetch shows whether a cut body was stored. */
const ROUTES: [RegExp, Handler][] = [
  [/^\/ok$/, (_q, res) => void res.writeHead(200, { ...cacheable, etag: '"ok1"', 'content-length': OK_BODY.length }).end(OK_BODY)],
  [/^\/target$/, (_q, res) => void res.writeHead(200, { ...cacheable, 'content-length': TARGET_BODY.length }).end(TARGET_BODY)],
  [/^\/evil$/, (_q, res) => void res.writeHead(200, { ...cacheable, 'content-length': EVIL_BODY.length }).end(EVIL_BODY)],
  [/^\/fresh\/(\d+)$/, (q, res) => {
    const body = bodyFor(Number(/(\d+)$/.exec(q.url ?? '')![1]), 1500);
    res.writeHead(200, { 'cache-control': 'no-store', 'content-length': body.length }).end(body);
  }],
  [/^\/slow\/(\d+)$/, (q, res) => {
    const body = bodyFor(Number(/(\d+)$/.exec(q.url ?? '')![1]), 1500);
    setTimeout(() => res.writeHead(200, { 'cache-control': 'no-store', 'content-length': body.length }).end(body), 150);
  }],
  // A new ETag on every request, stale at once: each request after the first revalidates and
  // finds a change (the change feed's row).
  [/^\/changing\/(\d+)$/, (_q, res, _b, attempt) => {
    const body = Buffer.from(`version ${attempt}\n`);
    res.writeHead(200, { 'cache-control': 'max-age=0', etag: `"c${attempt}"`, 'content-length': body.length }).end(body);
  }],
  [/^\/load\/(\d+)$/, (q, res) => {
    const n = Number(/(\d+)$/.exec(q.url ?? '')![1]);
    const body = bodyFor(n, 1024 + (n % 8) * 1024);
    res.writeHead(200, { ...cacheable, etag: `"l${n}"`, 'content-length': body.length }).end(body);
  }],
  // The request as the origin saw it: method, Host, body length and body (cacheable, so a
  // wrongly stored echo would show up as a hit).
  [/^\/echo/, (q, res, body) => {
    const text = Buffer.from(`${q.method} host=${q.headers.host ?? ''} length=${body.length} body=${body.toString('latin1')}`);
    res.writeHead(200, { ...cacheable, 'content-length': text.length }).end(text);
  }],
  // Larger than what the kernel buffers between a client that reads nothing and the proxy.
  [/^\/big\/(\d+)$/, (q, res) => {
    const body = bodyFor(Number(/(\d+)$/.exec(q.url ?? '')![1]), BIG_BYTES);
    res.writeHead(200, { ...cacheable, 'content-length': body.length }).end(body);
  }],
  [/^\/reset-mid-body\//, (_q, res, _b, attempt) => {
    const body = bodyFor(1, 64 * 1024);
    res.writeHead(200, { ...cacheable, 'content-length': body.length });
    if (attempt > 1) return void res.end(body);
    res.write(body.subarray(0, 20_000));
    setTimeout(() => res.socket?.resetAndDestroy(), 30);
  }],
  [/^\/hang-after-headers\//, (_q, res, _b, attempt) => {
    const body = bodyFor(2, 8 * 1024);
    res.writeHead(200, { ...cacheable, 'content-length': body.length });
    if (attempt > 1) return void res.end(body);
    res.flushHeaders();
    // Silent from here on; the proxy's --upstream-timeout ends it.
  }],
  [/^\/short-body\//, (_q, res, _b, attempt) => {
    const body = bodyFor(3, 8 * 1024);
    if (attempt > 1) return void res.writeHead(200, { ...cacheable, 'content-length': body.length }).end(body);
    // Announce 8 KiB, send 3 KiB, then a clean FIN: a short body, not a reset.
    const socket = res.socket!;
    socket.write(`HTTP/1.1 200 OK\r\ncache-control: max-age=300\r\ncontent-length: ${body.length}\r\n\r\n`);
    socket.end(body.subarray(0, 3000));
  }],
  [/^\/chunked-cut\//, (_q, res, _b, attempt) => {
    const body = bodyFor(4, 8 * 1024);
    res.writeHead(200, cacheable);
    if (attempt > 1) return void res.end(body);
    res.write(body.subarray(0, 4000));
    // No terminating 0-size chunk: the socket just ends.
    setTimeout(() => res.socket?.end(), 30);
  }],
];

export async function startFaultOrigin(): Promise<FaultOrigin> {
  const requests: OriginRecord[] = [];
  const attempts = new Map<string, number>();
  const carriers: Array<[string, { destroyed: boolean }]> = [];
  const server = http.createServer((req, res) => {
    carriers.push([req.url ?? '/', req.socket]);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = req.url ?? '/';
      const body = Buffer.concat(chunks);
      requests.push({ method: req.method ?? 'GET', url, headers: req.headers, body });
      const attempt = (attempts.get(url) ?? 0) + 1;
      attempts.set(url, attempt);
      const route = ROUTES.find(([pattern]) => pattern.test(url.split('?')[0]!));
      if (!route) return void res.writeHead(404, { 'content-length': 10 }).end('no route\n\n');
      route[1](req, res, body, attempt);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    host: `127.0.0.1:${port}`,
    requests,
    count: (path) => requests.filter((r) => r.url === path).length,
    stillOpen: (prefix) => carriers.filter(([url, socket]) => url.startsWith(prefix) && !socket.destroyed).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface ProxyChild {
  child: Child;
  port: number;
  adminPort: number | undefined;
  url: string;
  /** Its output lines from the start, to wait for log events. */
  lines: LineWatch;
  stop(): Promise<void>;
}

export const ADMIN_TOKEN = 'fault-suite-admin-token';

/**
 * The built CLI on free ports; ready once its own help page answers (with --workers, the first
 * worker to listen answers: wait for the others' "listening on" lines with `logLevel: 'info'`).
 */
export async function startProxyChild(extraArgs: string[] = [], options: { admin?: boolean; logLevel?: 'warn' | 'info' } = {}): Promise<ProxyChild> {
  const port = await freePort();
  const adminPort = options.admin ? await freePort() : undefined;
  const admin = adminPort ? ['--admin-port', String(adminPort), '--admin-token', ADMIN_TOKEN] : [];
  const child = spawnNode('proxy', CLI, memoryStoreUnlessGiven(['--host', '127.0.0.1', '--port', String(port), '--log-level', options.logLevel ?? 'warn', ...admin, ...extraArgs]));
  const lines = watchLines(child);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${url}/`, 200, 20_000);
  const stop = (): Promise<void> => {
    lines.stop();
    return child.stop();
  };
  return { child, port, adminPort, url, lines, stop };
}

export interface LineWatch {
  /** Resolves once `count` lines matching `pattern` were written since the watch began; fails after `timeoutMs` or when the child exits. */
  waitFor(pattern: RegExp, count: number, timeoutMs: number): Promise<void>;
  stop(): void;
}

/** Every line a child writes on stdout and stderr from now on, for waiting on its log events. */
export function watchLines(child: Child): LineWatch {
  const lines: string[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    const parts = (partial + chunk.toString('utf8')).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters) wake();
  };
  const onExit = (): void => {
    for (const wake of waiters) wake();
  };
  child.process.stdout?.on('data', onData);
  child.process.stderr?.on('data', onData);
  child.process.on('exit', onExit);
  return {
    waitFor: (pattern, count, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          const seen = lines.filter((line) => pattern.test(line)).length;
          if (seen >= count) return void done();
          if (child.exitStatus() !== undefined) done(new Error(`${child.name} exited (${child.exitStatus()}) after ${seen} of ${count} lines matching ${pattern}:\n${child.output()}`));
        };
        const timer = setTimeout(() => done(new Error(`${child.name}: ${pattern} seen fewer than ${count} times in ${timeoutMs} ms:\n${child.output()}`)), timeoutMs);
        const done = (error?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve();
        };
        waiters.add(check);
        check();
      }),
    stop: () => {
      child.process.stdout?.off('data', onData);
      child.process.stderr?.off('data', onData);
      child.process.off('exit', onExit);
    },
  };
}

export interface PrivateRedis {
  port: number;
  url: string;
  readonly pid: number;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server of our own on a free port (no persistence), stopped and restarted by pid. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child = await spawnRedis(port);
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child.pid ?? -1;
    },
    kill,
    restart: async () => {
      await kill();
      child = await spawnRedis(port);
    },
    stop: kill,
  };
}

const redisChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of redisChildren) child.kill('SIGKILL');
});

async function spawnRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  redisChildren.add(child);
  child.once('exit', () => redisChildren.delete(child));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error('redis-server is not on the PATH: install it (apt-get install redis-server) to run the Redis faults') : error),
    );
  });
  failed.catch(() => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pong = await Promise.race([failed, ping(port)]);
    if (pong) return child;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await delay(50);
  }
}

async function ping(port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}
