// Graceful shutdown of the built CLI (defect 6): on SIGTERM / SIGINT the proxy stops accepting,
// lets responses in flight finish within --shutdown-timeout, logs `shutting down` and `stopped`
// and exits 0 at once after `stopped`; a second signal or the timeout cuts what is left. Also
// with --workers, and through `npm start`.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cliEnv, freePort, startCli, type RunningCli } from '../helpers/cli.js';
import { viaProxy } from '../helpers/client.js';
import { parseResponses, RawSocket } from '../helpers/raw-socket.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';

const HALF = 'a'.repeat(32 * 1024);
let origin: Origin;
const hanging: http.ServerResponse[] = [];
let wsOrigin: WebSocketServer;
let echo: net.Server;

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
    // Headers and half the body at once, the rest 1 s + 10 ms x n later (n from the query).
    '/staggered': (req, res) => {
      const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n'));
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HALF.length * 2, 'cache-control': 'no-store' });
      res.write(HALF);
      setTimeout(() => res.end(HALF), 1000 + 10 * n);
    },
  });
  wsOrigin = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wsOrigin.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
  await once(wsOrigin, 'listening');
  echo = net.createServer((socket) => socket.on('error', () => {}).pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  await origin.close();
  wsOrigin?.close();
  echo?.close();
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

async function waitUntil(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await delay(1);
  }
}

/** One masked WebSocket text frame (RFC 6455 §5.2), as a client sends it. */
function wsFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!))]);
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

  it('closes a keep-alive connection the moment its response in flight is written, before the client can send another request into it', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port)]);
    await cli.waitFor('listening on');
    // Five keep-alive exchanges ending 10 ms apart: a close polled for at an interval would
    // come well after some of them.
    const clients = Array.from({ length: 5 }, (_, n) => new RawSocket(port).write(`GET ${origin.url}/staggered?n=${n} HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`));
    await Promise.all(clients.map((client) => waitUntil(() => client.bytes.includes('keep-alive'))));
    cli.child.kill('SIGTERM');
    await cli.waitFor('"shutting down"');

    // From the response's last byte to the proxy's FIN, as the client sees them.
    const lags = await Promise.all(
      clients.map(
        (client) =>
          new Promise<number>((resolve) => {
            let completeAt = 0;
            client.socket.on('data', () => {
              if (!completeAt && parseResponses(client.bytes).responses.length === 1) completeAt = Date.now();
            });
            client.socket.once('end', () => resolve(Date.now() - completeAt));
          }),
      ),
    );

    for (const client of clients) expect(client.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [^]*connection: keep-alive/i);
    expect(Math.max(...lags)).toBeLessThan(25);
    expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
  });

  for (const workers of [1, 2]) {
    it(`resets no request of keep-alive clients sending in a loop when the signal comes${workers > 1 ? ' (--workers 2, memory store)' : ''}: each gets its answer, the last with Connection: close`, async () => {
      const port = await freePort();
      cli = startCli(['--port', String(port), '--workers', String(workers)]);
      await cli.waitFor('listening on', workers, 20_000);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      // A request on a kept-alive connection that fails is what the drain must avoid; a new
      // connection refused (or reset by the listener closing under it) is "stopped accepting".
      const tally = { ok: 0, closing: 0, failedOnKeptAlive: [] as string[], newRefused: 0 };
      const once = () =>
        new Promise<void>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, path: `${origin.url}/quick`, headers: { host: origin.host }, agent }, (res) => {
            res.resume();
            res.on('end', () => {
              tally[res.headers['connection'] === 'close' ? 'closing' : 'ok']++;
              resolve();
            });
          });
          req.on('error', (error: NodeJS.ErrnoException) => {
            if (req.reusedSocket) tally.failedOnKeptAlive.push(String(error.code));
            else tally.newRefused++;
            setTimeout(resolve, 20);
          });
          req.end();
        });
      let running = true;
      const loop = async () => {
        while (running) await once();
      };
      const loops = Array.from({ length: 16 }, loop);
      while (tally.ok < 200) await delay(20);
      cli.child.kill('SIGTERM');
      await exitOf(cli.child);
      running = false;
      await Promise.all(loops);
      agent.destroy();

      expect(tally.failedOnKeptAlive).toEqual([]);
      expect(tally.closing).toBeGreaterThan(0);
    }, 60_000);
  }

  it('the deadline cuts an open CONNECT tunnel and an upgraded (WebSocket) socket, which run until then', async () => {
    const port = await freePort();
    cli = startCli(['--port', String(port), '--shutdown-timeout', '1500ms', '--connect-ports', '1-65535']);
    await cli.waitFor('listening on');
    const tunnel = new RawSocket(port).write(`CONNECT 127.0.0.1:${(echo.address() as net.AddressInfo).port} HTTP/1.1\r\nHost: x\r\n\r\n\x00first`);
    await waitUntil(() => tunnel.bytes.includes('\x00first'));
    const wsTarget = `127.0.0.1:${(wsOrigin.address() as net.AddressInfo).port}`;
    const ws = new RawSocket(port).write(
      `GET http://${wsTarget}/ HTTP/1.1\r\nHost: ${wsTarget}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await waitUntil(() => ws.bytes.includes('\r\n\r\n'));
    expect(ws.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    const wsClosed = ws.untilClose(10_000).then(() => Date.now());
    const tunnelClosed = tunnel.untilClose(10_000).then(() => Date.now());

    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');
    await cli.waitFor('"shutting down"');
    await delay(500);
    // Before the deadline both still carry bytes.
    tunnel.write('\x00second');
    await waitUntil(() => tunnel.bytes.includes('\x00second'));
    ws.write(wsFrame('still open'));
    await waitUntil(() => ws.bytes.includes('still open'));

    const [wsAt, tunnelAt] = await Promise.all([wsClosed, tunnelClosed]);
    for (const closedAt of [wsAt, tunnelAt]) {
      expect(closedAt - signalledAt).toBeGreaterThanOrEqual(1300);
      expect(closedAt - signalledAt).toBeLessThan(6000);
    }
    expect(await exitOf(cli.child)).toEqual({ code: 0, signal: null });
    expect(logLines(cli.output(), 'cut connections still in flight')).toMatchObject([{ level: 'warn', cut: 2 }]);
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
    const run = cliEnv([]);
    const npm = spawn('npm', ['start', '--ignore-scripts', '--', '--port', String(port)], { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
    npm.once('exit', run.cleanup);
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
