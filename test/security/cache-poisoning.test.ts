// Invariants 1 and 2 (STYLE.md): the framing of an upstream request is the proxy's own, so a
// client cannot desynchronise a pooled origin connection; and a page made for one client's
// cookie session is never served to another.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';

/** An origin that answers as soon as the head arrives (as many do), recording every request. */
async function startEagerOrigin() {
  const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string; socket: number }> = [];
  const sockets = new WeakMap<object, number>();
  let nextSocket = 0;
  const server = http.createServer((req, res) => {
    if (!sockets.has(req.socket)) sockets.set(req.socket, ++nextSocket);
    const record = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', socket: sockets.get(req.socket)! };
    seen.push(record);
    req.on('data', (chunk: Buffer) => void (record.body += chunk.toString('latin1')));
    res.writeHead(200, { 'cache-control': 'max-age=300', 'content-type': 'text/plain' }).end(`answer for ${req.url}`);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
}

describe('a GET or HEAD with a body (invariant 1: framing is produced by the proxy)', () => {
  let origin: Awaited<ReturnType<typeof startEagerOrigin>>;
  let proxy: TestProxy;

  // An origin and a proxy per test: the first asserts every request the origin saw, in order, and
  // which pooled upstream socket carried each, so no other test's requests or sockets may be there.
  beforeEach(async () => {
    origin = await startEagerOrigin();
    proxy = await startProxy();
  });

  afterEach(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('relays a GET with a body with that body, never stores it, and the next client on the same upstream socket gets its own answer', async () => {
    // The body is sized to swallow the start of the next request on a pooled socket: on the old
    // code the origin read "GET /victim HTTP/1.1\r\n…" as the body of /target.
    const body = 'GET /evil HTTP/1.1\r\nx: ';
    const attack = await rawRequest(
      proxy.url,
      `GET ${origin.url}/target HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
    const victim = await viaProxy(proxy.url, `${origin.url}/victim`);
    const targetAgain = await viaProxy(proxy.url, `${origin.url}/target`);

    expect(attack).toMatch(/^HTTP\/1\.1 200 /);
    expect(attack).toMatch(/cache-status: etag-proxy; fwd=bypass; fwd-status=200; detail=request-body/i);
    expect(attack).toContain('answer for /target');
    expect(victim.status).toBe(200);
    expect(victim.text).toBe('answer for /victim');
    // Nothing from the GET-with-body was stored: /target is a miss, fetched on its own.
    expect(targetAgain.text).toBe('answer for /target');
    expect(targetAgain.headers['cache-status']).toMatch(/fwd=uri-miss/);
    const withBody = origin.seen.find((r) => r.url === '/target' && r.body !== '');
    expect(withBody?.body).toBe(body);
    expect(withBody?.headers['content-length']).toBe(String(body.length));
    expect(origin.seen.map((r) => r.url)).toEqual(['/target', '/victim', '/target']);
    // The victim reused the attacker's upstream connection: that is the socket the attack targeted.
    expect(origin.seen[1]!.socket).toBe(origin.seen[0]!.socket);
  });

  it('relays a chunked GET body re-chunked, and a HEAD with a body with its body', async () => {
    const chunked = await rawRequest(
      proxy.url,
      `GET ${origin.url}/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    );
    const head = await rawRequest(proxy.url, `HEAD ${origin.url}/head HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`);
    const after = await viaProxy(proxy.url, `${origin.url}/after`);

    expect(chunked).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(after.text).toBe('answer for /after');
    const chunkedSeen = origin.seen.find((r) => r.url === '/chunked')!;
    expect(chunkedSeen.body).toBe('abc');
    expect(chunkedSeen.headers['transfer-encoding']).toBe('chunked');
    expect(chunkedSeen.headers['content-length']).toBeUndefined();
    expect(origin.seen.find((r) => r.url === '/head')!.body).toBe('hi');
  });

  it('never copies the client\'s Content-Length onto a request it sends without a body (a GET with Content-Length: 0)', async () => {
    const got = await rawRequest(proxy.url, `GET ${origin.url}/zero HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
    const seen = origin.seen.find((r) => r.url === '/zero')!;
    expect(seen.headers['content-length']).toBeUndefined();
    expect(seen.headers['transfer-encoding']).toBeUndefined();
  });
});

describe('responses that set cookies (invariant 2, RFC 9111 §7.3)', () => {
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('does not store a response with Set-Cookie and max-age but neither public nor s-maxage, so max-stale cannot serve it to another client', async () => {
    let n = 0;
    origin.route('/session', (_req, res) => {
      n++;
      res.writeHead(200, { 'cache-control': 'max-age=60', 'set-cookie': `session=user${n}` }).end(`private page of user${n}`);
    });

    const alice = await viaProxy(proxy.url, `${origin.url}/session`, { headers: { 'x-proxy-client': 'alice' } });
    const bob = await viaProxy(proxy.url, `${origin.url}/session`, { headers: { 'x-proxy-client': 'bob', 'cache-control': 'max-stale' } });

    expect(alice.text).toBe('private page of user1');
    expect(alice.headers['set-cookie']).toEqual(['session=user1']);
    expect(alice.headers['cache-status']).toMatch(/detail=set-cookie/);
    expect(bob.text).toBe('private page of user2');
    expect(bob.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/session')).toHaveLength(2);
  });

  it('stores a cookie-setting response marked s-maxage, without its Set-Cookie', async () => {
    origin.route('/shared', respond(200, { 'cache-control': 's-maxage=60', 'set-cookie': 'tracking=1' }, 'shared page'));

    const first = await viaProxy(proxy.url, `${origin.url}/shared`);
    const second = await viaProxy(proxy.url, `${origin.url}/shared`);

    expect(first.headers['set-cookie']).toEqual(['tracking=1']);
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(second.headers['set-cookie']).toBeUndefined();
    expect(origin.requestsTo('/shared')).toHaveLength(1);
  });
});
