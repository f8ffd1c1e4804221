// Graceful shutdown of the built CLI (defect 6): on SIGTERM / SIGINT the proxy stops accepting,
// lets responses in flight finish within --shutdown-timeout, logs `shutting down` and `stopped`
// and exits 0 at once after `stopped`; a second signal or the timeout cuts what is left. Also
// with --workers, and through `npm start`.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

const HALF = 'a'.repeat(32 * 1024);
let origin: Origin;
const hanging: http.ServerResponse[] = [];

beforeAll(async () => {
  origin = await startOrigin({
    // Headers and half the body at once, the rest 1.5 s later.
    '/slow': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HALF.length * 2, 'cache-control': 'no-store' });
      res.write(HALF);
      setTimeout(() => res.end(HALF), 1500);
    },
    // Nothing for 1 s: the proxy writes its response head after the signal.
    '/late-head': (_req, res) => {
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('late'), 1000);
    },
    // Half a body, then silence until the test ends.
    '/hang': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HALF.length * 2, 'cache-control': 'no-store' });
      res.write(HALF);
      hanging.push(res);
    },
    '/quick': (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('quick'),
  });
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  await origin.close();
});

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Resolves true when a TCP connection to the port is refused within `ms`, false if it keeps being accepted. */
async function refusedWithin(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused || Date.now() > deadline) return refused;
    await delay(50);
  }
}

async function untilOriginSaw(path: string, count = 1): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (origin.requestsTo(path).length < count) {
    if (Date.now() > deadline) throw new Error(`the origin never saw ${path}`);
    await delay(20);
  }
}

/** The JSON log lines whose msg is `msg`. */
function logLines(output: string, msg: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record['msg'] === msg);
}

describe('SIGTERM drains, then exits 0', () => {
  let cli: RunningCli | undefined;
  afterAll(async () => cli?.stop());

  it('a response in flight completes with its whole body; new connections are refused; two log lines; exit 0', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port), '--admin-port', String(await freePort())]);
    await cli.waitFor('listening on');
    const proxyUrl = `http://127.0.0.1:${port}`;
    // An idle keep-alive connection must not hold the shutdown up.
    const agent = new http.Agent({ keepAlive: true });
    expect((await viaProxy(proxyUrl, `${origin.url}/quick`, { agent })).text).toBe('quick');
    await delay(50); // the socket returns to the agent's free list after the response ends
    const idle = [...Object.values(agent.freeSockets)].flat()[0]!;
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));

    const seen = origin.requestsTo('/slow').length;
    const slow = viaProxy(proxyUrl, `${origin.url}/slow`, { agent: new http.Agent() });
    const late = viaProxy(proxyUrl, `${origin.url}/late-head`, { agent: new http.Agent({ keepAlive: true }) });
    await untilOriginSaw('/slow', seen + 1);
    await untilOriginSaw('/late-head');
    cli.child.kill('SIGTERM');
    await cli.waitFor('"shutting down"');

    expect(await refusedWithin(port, 1000)).toBe(true);
    await idleClosed;
    const slowRes = await slow;
    expect(slowRes.status).toBe(200);
    expect(slowRes.text).toBe(HALF + HALF);
    // Answered after the signal: it says the connection closes, so the client will not reuse it.
    const lateRes = await late;
    expect(lateRes.text).toBe('late');
    expect(lateRes.headers['connection']).toBe('close');

    const { code } = await exitOf(cli.child);
    expect(code).toBe(0);
    const [shuttingDown, ...moreShuttingDown] = logLines(cli.output(), 'shutting down');
    const [stopped, ...moreStopped] = logLines(cli.output(), 'stopped');
    expect(moreShuttingDown).toEqual([]);
    expect(moreStopped).toEqual([]);
    expect(shuttingDown).toMatchObject({ level: 'info', signal: 'SIGTERM', timeoutMs: 10_000 });
    expect(stopped).toMatchObject({ level: 'info' });
    expect(stopped!['ms']).toBeGreaterThan(1000);
    expect(stopped!['ms']).toBeLessThan(9000);
    agent.destroy();
  });

  it('SIGINT does the same', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port)]);
    await cli.waitFor('listening on');
    const seen = origin.requestsTo('/slow').length;
    const slow = viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/slow`, { agent: new http.Agent() });
    await untilOriginSaw('/slow', seen + 1);
    cli.child.kill('SIGINT');
    expect((await slow).text).toBe(HALF + HALF);
    expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
    expect(logLines(cli.output(), 'shutting down')).toMatchObject([{ signal: 'SIGINT' }]);
    expect(logLines(cli.output(), 'stopped')).toHaveLength(1);
  });

  it('--shutdown-timeout cuts a response still running at the deadline, and says how many', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port), '--shutdown-timeout', '1s']);
    await cli.waitFor('listening on');
    const seen = origin.requestsTo('/hang').length;
    const hung = viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/hang`, { agent: new http.Agent() }).then(
      () => 'completed',
      () => 'cut',
    );
    await untilOriginSaw('/hang', seen + 1);
    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');
    expect(await hung).toBe('cut');
    expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(900);
    expect(logLines(cli.output(), 'cut connections still in flight')).toMatchObject([{ level: 'warn', cut: 1 }]);
    expect(logLines(cli.output(), 'stopped')).toHaveLength(1);
  });

  it('a second signal (a second or more after the first) cuts at once', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port)]);
    await cli.waitFor('listening on');
    const seen = origin.requestsTo('/hang').length;
    const hung = viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/hang`, { agent: new http.Agent() }).then(
      () => 'completed',
      () => 'cut',
    );
    await untilOriginSaw('/hang', seen + 1);
    cli.child.kill('SIGTERM');
    await cli.waitFor('"shutting down"');
    await delay(1200);
    const secondAt = Date.now();
    cli.child.kill('SIGTERM');
    expect(await hung).toBe('cut');
    expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
    // Far sooner than the 10 s default deadline.
    expect(Date.now() - secondAt).toBeLessThan(5000);
  });
});

describe('--workers 2: the primary drains every worker', () => {
  let redis: { url: string; stop(): Promise<void> };
  const namespace = testNamespace('shutdown');
  let cli: RunningCli | undefined;
  beforeAll(async () => {
    redis = await redisForTests();
  });
  afterAll(async () => {
    await cli?.stop();
    await cleanNamespace(redis.url, namespace);
    await redis.stop();
  });

  it('a response in flight completes, new connections are refused, two log lines, exit 0', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port), '--workers', '2', '--store', redis.url, '--namespace', namespace]);
    await cli.waitFor('listening on', 2, 20_000);
    const seen = origin.requestsTo('/slow').length;
    const slow = viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/slow`, { agent: new http.Agent() });
    await untilOriginSaw('/slow', seen + 1);
    cli.child.kill('SIGTERM');
    await cli.waitFor('"shutting down"');
    expect(await refusedWithin(port, 1200)).toBe(true);
    const slowRes = await slow;
    expect(slowRes.text).toBe(HALF + HALF);
    expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
    expect(logLines(cli.output(), 'shutting down')).toMatchObject([{ signal: 'SIGTERM', workers: 2 }]);
    expect(logLines(cli.output(), 'stopped')).toHaveLength(1);
    // No worker was replaced while stopping.
    expect(cli.output()).not.toContain('starting another');
  });
});

describe('after the `stopped` line', () => {
  let redis: { url: string; stop(): Promise<void> };
  const namespace = testNamespace('exit-delay');
  let dir: string;
  beforeAll(async () => {
    redis = await redisForTests();
    dir = mkdtempSync(join(tmpdir(), 'etag-proxy-exit-'));
  });
  afterAll(async () => {
    await cleanNamespace(redis.url, namespace);
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the process exits at once (well under a second), its log file complete and in order', async () => {
    const port = await freePort();
    const file = join(dir, 'proxy.log');
    const child = spawn(process.execPath, [CLI, '--port', String(port), '--store', redis.url, '--namespace', namespace, '--access-log', '--log-file', file], { stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    while (!(existsSync(file) && readFileSync(file, 'utf8').includes('listening on'))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the proxy did not start:\n${existsSync(file) ? readFileSync(file, 'utf8') : ''}`);
      await delay(50);
    }
    // Some traffic, so access lines are still being written as it stops.
    await Promise.all(Array.from({ length: 50 }, (_, i) => viaProxy(`http://127.0.0.1:${port}`, `${origin.url}/quick?${i}`, { agent: new http.Agent() })));
    child.kill('SIGTERM');
    const exit = await exitOf(child);
    const exitedAt = Date.now();
    expect(exit).toEqual({ code: 0, signal: null });
    const records = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const messages = records.map((record) => record['msg']);
    expect(messages.filter((msg) => msg === 'request')).toHaveLength(50);
    expect(messages.slice(-2)).toEqual(['shutting down', 'stopped']);
    const stoppedAt = Date.parse(String(records.at(-1)!['time']));
    // It used to take 1.5 to 2 s; a second leaves room for a loaded machine.
    expect(exitedAt - stoppedAt).toBeLessThan(1000);
  });
});

describe('npm start', () => {
  it('SIGTERM to npm stops the proxy and frees the port', async () => {
    const port = await freePort();
    // --ignore-scripts skips only the prestart build: dist/ is already built, and rebuilding it
    // under the other test files would race them. The start script itself still runs.
    const npm = spawn('npm', ['start', '--ignore-scripts', '--', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    npm.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    npm.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const deadline = Date.now() + 20_000;
    while (!output.includes('listening on')) {
      if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start did not start the proxy:\n${output}`);
      await delay(50);
    }
    npm.kill('SIGTERM');
    await exitOf(npm);
    // The port is free: nothing accepts on it, and it can be bound again.
    expect(await refusedWithin(port, 3000)).toBe(true);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(logLines(output, 'stopped')).toHaveLength(1);
  }, 40_000);
});
