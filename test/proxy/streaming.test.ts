// Bodies stream through the proxy in both directions without being held in memory: while the
// receiving side reads nothing, the sending side is held back after a few socket buffers
// (backpressure), so the proxy never holds the body. Asserted on the wire rather than on RSS:
// freed chunks leave the RSS only when V8's background sweeper gets to them, which a loaded
// machine delays. The proxy runs in its own process (test/fixtures/proxy-process.mjs, the built proxy).
// Bodies are generated and counted chunk by chunk; the test never holds 50 MB either.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const MiB = 1024 * 1024;
const BIG = 50 * MiB;
const CHUNK = 64 * 1024;
// What may be in flight while the receiver reads nothing: socket buffers on both connections
// (loopback autotuning grows each to a few MiB) and the streams' high-water marks.
const IN_FLIGHT_LIMIT = 25 * MiB;

interface ChildProxy {
  url: string;
  stop(): Promise<void>;
}

async function startChildProxy(config: Record<string, unknown> = {}): Promise<ChildProxy> {
  const child: ChildProcess = fork(fileURLToPath(new URL('../fixtures/proxy-process.mjs', import.meta.url)), [], {
    env: { ...process.env, PROXY_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [hello] = (await once(child, 'message')) as [{ port: number }];
  return {
    url: `http://127.0.0.1:${hello.port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.send('stop');
      await exited;
    },
  };
}

/** Write `total` bytes (a repeated `pattern`) in CHUNK pieces, honouring backpressure. */
async function writeGenerated(out: NodeJS.WritableStream, total: number, pattern: string = 'x', progress?: (sent: number) => void): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, pattern);
  for (let sent = 0; sent < total; sent += CHUNK) {
    const piece = chunk.subarray(0, Math.min(CHUNK, total - sent));
    const more = out.write(piece);
    progress?.(sent + piece.length);
    if (!more) await once(out, 'drain');
  }
  out.end();
}

/** Resolves with `count()` once it has not grown for `quietMs` (the sender is held back). */
async function whenStalled(count: () => number, quietMs = 500): Promise<number> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = count();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= quietMs) return now;
  }
}

/** GET through the proxy, counting the body's bytes without keeping them; `hold` delays reading it. */
function countedGet(proxyUrl: string, target: string, hold?: () => Promise<void>): Promise<{ status: number; bytes: number; headers: http.IncomingHttpHeaders }> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const clientReq = http.request({ host: proxy.hostname, port: proxy.port, path: target, agent: false });
    clientReq.on('response', (clientRes) => {
      if (hold) {
        clientRes.pause();
        void hold().then(() => clientRes.resume(), reject);
      }
      let bytes = 0;
      clientRes.on('data', (chunk: Buffer) => (bytes += chunk.length));
      clientRes.on('end', () => resolve({ status: clientRes.statusCode ?? 0, bytes, headers: clientRes.headers }));
      clientRes.on('error', reject);
    });
    clientReq.on('error', reject);
    clientReq.end();
  });
}

/** PUT a generated body of `total` bytes through the proxy; `progress` hears how much was written. */
function generatedPut(proxyUrl: string, target: string, total: number, progress?: (sent: number) => void): Promise<{ status: number; text: string }> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const clientReq = http.request({
      host: proxy.hostname,
      port: proxy.port,
      method: 'PUT',
      path: target,
      agent: false,
      headers: { 'content-length': String(total) },
    });
    clientReq.on('response', (clientRes) => {
      let text = '';
      clientRes.on('data', (chunk: Buffer) => (text += chunk.toString()));
      clientRes.on('end', () => resolve({ status: clientRes.statusCode ?? 0, text }));
      clientRes.on('error', reject);
    });
    clientReq.on('error', reject);
    void writeGenerated(clientReq, total, 'x', progress).catch(reject);
  });
}

/**
 * An origin that generates bodies and counts uploaded bytes, keeping none of them. It counts the
 * bytes of /big it has written so far (`sent`), and reads nothing of an upload to /upload-held
 * until release() is called.
 */
async function startStreamingOrigin() {
  const uploads: number[] = [];
  let downloads = 0;
  let sent = 0;
  let release = () => {};
  const server = http.createServer((originReq, originRes) => {
    if (originReq.method === 'PUT') {
      let bytes = 0;
      if (originReq.url === '/upload-held') {
        originReq.pause();
        release = () => void originReq.resume();
      }
      originReq.on('data', (chunk: Buffer) => (bytes += chunk.length));
      originReq.on('end', () => {
        uploads.push(bytes);
        originRes.writeHead(201, { 'content-type': 'text/plain' }).end(`received ${bytes}\n`);
      });
      return;
    }
    downloads++;
    originRes.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG), 'cache-control': 'max-age=600' });
    sent = 0;
    void writeGenerated(originRes, BIG, 'x', (bytes) => (sent = bytes));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    get sent() {
      return sent;
    },
    release: () => release(),
    get downloads() {
      return downloads;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('streaming through a proxy in its own process', () => {
  let origin: Awaited<ReturnType<typeof startStreamingOrigin>>;
  let proxy: ChildProxy;

  beforeAll(async () => {
    origin = await startStreamingOrigin();
    proxy = await startChildProxy({ maxObjectSizeBytes: 16 * MiB });
    // Warm up code paths and buffers, so the measurement sees the transfer, not start-up.
    await countedGet(proxy.url, `${origin.url}/warm-up`);
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('streams a 50 MB response body to the client, holding the origin back while the client reads nothing (RFC 9112 §6)', async () => {
    let heldAt = 0;
    const answer = await countedGet(proxy.url, `${origin.url}/big`, async () => {
      heldAt = await whenStalled(() => origin.sent);
    });

    expect(answer.status).toBe(200);
    expect(answer.bytes).toBe(BIG);
    expect(answer.headers['cache-status']).toContain('detail=too-large');
    expect(heldAt).toBeGreaterThan(0);
    expect(heldAt).toBeLessThan(IN_FLIGHT_LIMIT);
  });

  it('streams a 50 MB request body (PUT) to the origin, holding the client back while the origin reads nothing (RFC 9112 §6)', async () => {
    let written = 0;
    const answering = generatedPut(proxy.url, `${origin.url}/upload-held`, BIG, (sent) => (written = sent));
    const heldAt = await whenStalled(() => written);
    origin.release();
    const answer = await answering;

    expect(answer.status).toBe(201);
    expect(answer.text).toBe(`received ${BIG}\n`);
    expect(origin.uploads).toEqual([BIG]);
    expect(heldAt).toBeGreaterThan(0);
    expect(heldAt).toBeLessThan(IN_FLIGHT_LIMIT);
  });
});

describe('objects larger than maxObjectSizeBytes', () => {
  const LIMIT = 1 * MiB;
  const body = Buffer.alloc(2 * MiB, 'b');
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin({
      '/sized': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(body.length) }).end(body),
      '/chunked': async (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=600' });
        await writeGenerated(res, body.length, 'b');
      },
      '/small': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600' }).end('small'),
    });
    proxy = await startProxy({ maxObjectSizeBytes: LIMIT });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('streams a response with a Content-Length above the limit and does not store it', async () => {
    const first = await viaProxy(proxy.url, `${origin.url}/sized`);
    const second = await viaProxy(proxy.url, `${origin.url}/sized`);

    expect(first.status).toBe(200);
    expect(first.body.equals(body)).toBe(true);
    expect(first.headers['cache-status']).toContain('detail=too-large');
    expect(second.status).toBe(200);
    expect(second.body.equals(body)).toBe(true);
    expect(second.headers['cache-status']).not.toContain('hit');
    expect(origin.requestsTo('/sized')).toHaveLength(2);
  });

  it('streams a chunked response that outgrows the limit on the way and does not store it', async () => {
    const first = await viaProxy(proxy.url, `${origin.url}/chunked`);
    const second = await viaProxy(proxy.url, `${origin.url}/chunked`);

    expect(first.status).toBe(200);
    expect(first.body.equals(body)).toBe(true);
    expect(second.body.equals(body)).toBe(true);
    expect(second.headers['cache-status']).not.toContain('hit');
    expect(origin.requestsTo('/chunked')).toHaveLength(2);
  });

  it('stores a response under the limit (the limit is what keeps the others out)', async () => {
    await viaProxy(proxy.url, `${origin.url}/small`);
    const second = await viaProxy(proxy.url, `${origin.url}/small`);

    expect(second.text).toBe('small');
    expect(second.headers['cache-status']).toContain('hit');
    expect(origin.requestsTo('/small')).toHaveLength(1);
  });
});

// Issue 18 item 7: with --max-object-size above --cache-size, a body the memory store cannot
// keep is streamed through like one over --max-object-size: not buffered, not announced `stored`.
describe('objects larger than the memory store (--cache-size) but under maxObjectSizeBytes', () => {
  const body = Buffer.alloc(3 * MiB, 'c');
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin({
      '/sized': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': String(body.length) }).end(body),
      '/chunked': async (_req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=600' });
        await writeGenerated(res, body.length, 'c');
      },
      '/fits': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': '4' }).end('fits'),
    });
    proxy = await startProxy({ cacheSizeBytes: 1 * MiB, maxObjectSizeBytes: 64 * MiB });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('streams a response whose Content-Length the store cannot hold, never says `stored`, and stores nothing', async () => {
    const storedEntries = () => proxy.proxy.ctx.backend.entries.usage!().entries;
    const entriesBefore = storedEntries(); // /fits may be stored already: the tests run in any order
    const first = await viaProxy(proxy.url, `${origin.url}/sized`);
    const second = await viaProxy(proxy.url, `${origin.url}/sized`);

    expect(first.body.equals(body)).toBe(true);
    expect(first.headers['cache-status']).not.toContain('stored');
    expect(first.headers['cache-status']).toContain('detail=too-large');
    expect(second.body.equals(body)).toBe(true);
    expect(second.headers['cache-status']).not.toContain('hit');
    expect(second.headers['cache-status']).not.toContain('stored');
    expect(origin.requestsTo('/sized')).toHaveLength(2);
    expect(storedEntries()).toBe(entriesBefore);
  });

  it('streams a chunked response that outgrows the store, and stores nothing', async () => {
    const first = await viaProxy(proxy.url, `${origin.url}/chunked`);
    const second = await viaProxy(proxy.url, `${origin.url}/chunked`);

    expect(first.body.equals(body)).toBe(true);
    expect(first.headers['cache-status']).not.toContain('stored');
    expect(second.headers['cache-status']).not.toContain('hit');
    expect(origin.requestsTo('/chunked')).toHaveLength(2);
  });

  it('still stores, and announces, a response that fits', async () => {
    const first = await viaProxy(proxy.url, `${origin.url}/fits`);
    const second = await viaProxy(proxy.url, `${origin.url}/fits`);
    expect(first.headers['cache-status']).toContain('stored');
    expect(second.headers['cache-status']).toContain('hit');
  });
});
