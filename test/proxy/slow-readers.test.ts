// Clients that stop reading (issue 18, item 1): the send deadline (--send-timeout) cuts a client
// that accepts no bytes for that long, whatever is being written to it (a miss streaming through,
// a hit, inside a tunnel), and releases what it held: the origin connection, the body copy, the
// fill lock its followers wait on. A slow reader that keeps reading is not cut, and one client's
// stalled downloads hold at most its share of an origin's connections (--origin-connections-per-client).
// Clients bind 127.0.0.2 / 127.0.0.3 so the proxy sees two addresses: two clients.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../../src/index.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually, sleep } from '../helpers/respond.js';
import { openTunnel } from '../helpers/tunnel-client.js';

const STALLER = '127.0.0.2';
const BYSTANDER = '127.0.0.3';
const MiB = 1024 * 1024;

let running: Array<TestProxy | Origin> = [];
let sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets = [];
  await Promise.all(running.map((s) => ('stop' in s ? s.stop() : s.close())));
  running = [];
});

/** A body that depends on n (so one URL's bytes never pass for another's). */
function bodyOf(n: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const unit = Buffer.from(`body-${n}-`);
  for (let i = 0; i < bytes; i += unit.length) unit.copy(out, i);
  return out;
}

/** An origin that also tells which of the connections that carried a request are still open. */
async function origin(): Promise<Origin & { stillOpen(path: string): number }> {
  const o = await startOrigin({
    '/small': (_q, res) => void res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' }).end('small'),
  });
  const carried = new Map<string, net.Socket>();
  o.server.on('request', (req: http.IncomingMessage) => void carried.set(req.url ?? '', req.socket));
  running.push(o);
  return Object.assign(o, {
    stillOpen: (prefix: string) => [...carried].filter(([url, socket]) => url.startsWith(prefix) && !socket.destroyed).length,
  });
}

async function proxy(overrides: Partial<ProxyConfig> = {}): Promise<TestProxy> {
  const p = await startProxy({ sendTimeoutMs: 400, ...overrides });
  running.push(p);
  return p;
}

/** A client that sends a GET and then reads nothing: node stops reading once its buffer is full. */
function stalledGet(p: TestProxy, target: string, localAddress = STALLER): net.Socket {
  const url = new URL(target);
  const socket = net.connect({ port: p.port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  socket.write(`GET ${url.href} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
  sockets.push(socket);
  return socket;
}

/** Start reading again: everything that arrives until the connection ends (by the proxy's reset or close). */
function readToClose(socket: net.Socket, ms = 10_000): Promise<number> {
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

/** A client from another address, on its own connection. */
function bystanderGet(p: TestProxy, target: string) {
  return viaProxy(p.url, target, { agent: new http.Agent({ keepAlive: false, localAddress: BYSTANDER }) });
}

function cutLines(p: TestProxy): string[] {
  return p.logs.filter((line) => line.includes('client_send_timeout'));
}

describe('a client that stops reading is cut after --send-timeout', () => {
  it('cuts stalled downloads of a miss, closes their origin connections and logs each once, while another client is served at once', async () => {
    const o = await origin();
    for (const n of [1, 2, 3]) o.route(`/big/${n}`, (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(12 * MiB) }).end(bodyOf(n, 12 * MiB)));
    const p = await proxy();
    const stalled = [1, 2, 3].map((n) => stalledGet(p, `${o.url}/big/${n}`));
    await eventually(() => o.requests.length === 3, 5000);

    const startedAt = Date.now();
    const small = await bystanderGet(p, `${o.url}/small`);
    expect(small.status).toBe(200);
    expect(small.text).toBe('small');
    expect(Date.now() - startedAt).toBeLessThan(2000);

    // Cut: the origin sees the three connections that carried them closed, and one line each.
    await eventually(() => o.stillOpen('/big/') === 0 && cutLines(p).length === 3, 10_000);
    expect(cutLines(p).every((line) => line.includes('"level":"warn"') || line.includes('"level":40'))).toBe(true);
    // The stalled clients never get the whole response, and nothing cut short was stored.
    for (const socket of stalled) expect(await readToClose(socket)).toBeLessThan(12 * MiB);
    const again = await bystanderGet(p, `${o.url}/big/1`);
    expect(again.body.equals(bodyOf(1, 12 * MiB))).toBe(true);
    expect(again.headers['cache-status']).toContain('fwd=uri-miss');
    expect(o.requestsTo('/big/1')).toHaveLength(2);
  }, 30_000);

  it('releases the fill lock of a stalled leader: a request waiting on the same URL is answered', async () => {
    const o = await origin();
    o.route('/shared', (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(12 * MiB) }).end(bodyOf(7, 12 * MiB)));
    // The fill lock outlives --upstream-timeout: a follower left waiting would wait that long.
    const p = await proxy({ upstreamTimeoutMs: 30_000 });
    stalledGet(p, `${o.url}/shared`);
    await eventually(() => o.requests.length === 1, 5000);
    const follower = await bystanderGet(p, `${o.url}/shared`);
    expect(follower.status).toBe(200);
    expect(follower.body.equals(bodyOf(7, 12 * MiB))).toBe(true);
    expect(follower.headers['cache-status']).toContain('collapsed');
  }, 20_000);

  it('cuts a client that stops reading a large hit, and logs it once', async () => {
    const o = await origin();
    o.route('/stored', (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(12 * MiB) }).end(bodyOf(8, 12 * MiB)));
    const p = await proxy();
    expect((await bystanderGet(p, `${o.url}/stored`)).body.length).toBe(12 * MiB);
    const stalled = stalledGet(p, `${o.url}/stored`);
    await eventually(() => cutLines(p).length === 1, 10_000);
    expect(await readToClose(stalled)).toBeLessThan(12 * MiB);
    expect(o.requestsTo('/stored')).toHaveLength(1);
    expect(cutLines(p)).toHaveLength(1);
  }, 20_000);

  it('does not cut a client that reads slowly but steadily, on a miss or a hit', async () => {
    const o = await origin();
    const body = bodyOf(9, 8 * MiB);
    o.route('/steady', (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(body.length) }).end(body));
    // The kernel reports a socket writable again only once much of its send buffer (up to 4 MB
    // here) has drained, so progress shows in steps of megabytes: the deadline must exceed one.
    const p = await proxy({ sendTimeoutMs: 2000 });
    for (const expected of ['fwd=uri-miss', 'hit']) {
      const got = await slowRead(p, `${o.url}/steady`, 4 * MiB);
      expect(got.status).toBe(200);
      expect(got.cacheStatus).toContain(expected);
      expect(got.body.equals(body)).toBe(true);
    }
    expect(cutLines(p)).toEqual([]);
  }, 30_000);

  it('cuts a client that stops reading inside a CONNECT tunnel (plain HTTP served by the proxy)', async () => {
    const o = await origin();
    o.route('/tunnelled', (_q, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': String(12 * MiB) }).end(bodyOf(10, 12 * MiB)));
    const p = await proxy({ connectPorts: [[1, 65535]] });
    const { socket } = await openTunnel(p.url, o.host);
    sockets.push(socket);
    socket.on('error', () => {});
    socket.pause();
    socket.write(`GET /tunnelled HTTP/1.1\r\nHost: ${o.host}\r\n\r\n`);
    await eventually(() => cutLines(p).length === 1 && o.stillOpen('/tunnelled') === 0, 10_000);
    expect(await readToClose(socket)).toBeLessThan(12 * MiB);
  }, 20_000);
});

describe("one client's downloads hold at most its share of an origin's connections", () => {
  it("a client holding 300 open downloads from one origin leaves that origin's connections to the others (defaults: 64 of 256)", async () => {
    const o = await origin();
    const held: http.ServerResponse[] = [];
    o.route('*', (_q, res) => {
      res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'text/plain' });
      res.write('x');
      held.push(res);
    });
    const p = await proxy({ sendTimeoutMs: 60_000 });
    const agent = new http.Agent({ keepAlive: false, localAddress: STALLER, maxSockets: 400 });
    const downloads = Array.from({ length: 300 }, (_, i) => viaProxy(p.url, `${o.url}/hold/${i}`, { agent }));
    await eventually(() => held.length >= 64, 10_000);
    await sleep(300);
    expect(held).toHaveLength(64);

    const startedAt = Date.now();
    const small = await bystanderGet(p, `${o.url}/small`);
    expect(small.status).toBe(200);
    expect(Date.now() - startedAt).toBeLessThan(3000);

    // As the client's downloads end, its waiting ones go on, in turn.
    const release = setInterval(() => {
      for (const res of held.splice(0)) res.end();
    }, 20);
    try {
      const answers = await Promise.all(downloads);
      expect(answers.every((a) => a.status === 200 && a.text === 'x')).toBe(true);
    } finally {
      clearInterval(release);
      agent.destroy();
    }
  }, 30_000);
});

/** GET through the proxy, reading no faster than `bytesPerSecond`. */
function slowRead(p: TestProxy, target: string, bytesPerSecond: number): Promise<{ status: number; cacheStatus: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const url = new URL(target);
    const req = http.request({ host: '127.0.0.1', port: p.port, path: url.href, headers: { host: url.host }, agent: false });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const startedAt = Date.now();
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
        const ahead = (bytes / bytesPerSecond) * 1000 - (Date.now() - startedAt);
        if (ahead <= 0) return;
        res.pause();
        setTimeout(() => res.resume(), ahead);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cacheStatus: String(res.headers['cache-status']), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
