// Redis for tests: the shared server from REDIS_URL or a private redis-server on a free port,
// private servers for kill/restart tests (stopped by pid), a namespace per test file and a
// cleanup that deletes only that namespace's keys (SCAN + UNLINK, never FLUSHALL).
// A missing redis-server is a failure with install instructions, never a skip.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { connect } from 'node:net';
import { freePort } from './ports.js';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';

export interface OwnRedisServer {
  url: string;
  port: number;
  /** Pid of the current redis-server process (changes on restart). */
  readonly pid: number;
  /** SIGKILL: connections drop at once, as in a crash. */
  kill(): Promise<void>;
  /** Start again on the same port, with an empty dataset. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server keeps its sockets but stops answering. */
  pause(): void;
  resume(): void;
}

const INSTALL_HINT =
  'redis-server was not found on the PATH. The Redis tests need a real server: install it with ' +
  '`apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), ' +
  'or point REDIS_URL at a running Redis (e.g. REDIS_URL=redis://127.0.0.1:6379).';

export async function redisForTests(): Promise<{ url: string; stop(): Promise<void> }> {
  const shared = process.env.REDIS_URL;
  if (shared) return { url: shared, stop: async () => {} };
  const server = await startOwnRedisServer();
  return { url: server.url, stop: () => server.kill() };
}

export async function startOwnRedisServer(port?: number): Promise<OwnRedisServer> {
  let chosenPort = port ?? (await freePort());
  let child: ChildProcess;
  for (let attempt = 1; ; attempt++) {
    try {
      child = await spawnRedis(chosenPort);
      break;
    } catch (error) {
      // A port found free can be taken before redis-server binds it (another process started a
      // server there meanwhile): a port we chose is chosen again, a given one is the caller's.
      if (port !== undefined || attempt === 3 || !/Address already in use/i.test((error as Error).message)) throw error;
      chosenPort = await freePort();
    }
  }
  return {
    url: `redis://127.0.0.1:${chosenPort}`,
    port: chosenPort,
    get pid() {
      return child.pid ?? -1;
    },
    kill: () => killProcess(child),
    restart: async () => {
      await killProcess(child);
      child = await spawnRedis(chosenPort);
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
  };
}

/** A namespace no other test file or run shares, so files can run in parallel on one Redis. */
export function testNamespace(name: string): string {
  return `etag-proxy-test:${name}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** Delete every key under `<ns>:` and nothing else. */
export async function cleanNamespace(url: string, namespace: string): Promise<void> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  try {
    const pattern = `${namespace.replace(/[*?[\]\\]/g, '\\$&')}:*`;
    let cursor = '0';
    do {
      const page = await client.scan(cursor, { MATCH: pattern, COUNT: 1000 });
      cursor = String(page.cursor);
      if (page.keys.length) await client.unlink(page.keys);
    } while (cursor !== '0');
  } finally {
    client.destroy();
  }
}

const running = new Set<ChildProcess>();
// A test runner that exits early must not leave servers behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface OwnRedisCluster {
  /** `redis+cluster://` seed list naming every node. */
  url: string;
  ports: number[];
  stop(): Promise<void>;
}

/**
 * A private Redis Cluster of `nodes` masters on free ports (no replicas), created with
 * `redis-cli --cluster create`, ready once every node reports cluster_state:ok.
 */
export async function startOwnRedisCluster(nodes = 3): Promise<OwnRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'etag-proxy-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < nodes; i++) ports.push(await freePort());
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map((child) => killProcess(child)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      // The bus port is chosen too: port + 10000 (Redis's default) could land in the ephemeral range.
      const busPort = await freePort();
      children.push(await spawnRedis(port, ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir]));
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 15_000;
    for (const port of ports) {
      while (!(await run('redis-cli', ['-p', String(port), 'cluster', 'info'])).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`redis cluster node ${port} did not reach cluster_state:ok`);
        await delay(100);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`, ports, stop };
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

async function spawnRedis(port: number, extraArgs: string[] = []): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keepTail = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000));
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(INSTALL_HINT) : err));
    child.once('exit', (code, signal) =>
      reject(new Error(`redis-server on port ${port} exited early (code ${code}, signal ${signal}):\n${output}`)),
    );
  });
  failed.catch(() => {});
  running.add(child);
  child.once('exit', () => running.delete(child));
  try {
    await Promise.race([failed, waitForPong(port)]);
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  }
  return child;
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

async function waitForPong(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ping(port)) return;
    await delay(25);
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
  });
}
