// Forwarding (RFC 9110 §7.6, RFC 9112 §3.2): every method with its body, hop-by-hop fields
// removed both ways (with those Connection names), Via added both ways, Host set from the
// target, the request-target passed byte for byte, and origin connections kept alive.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin, type OriginHandler } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

const echo: OriginHandler = (req, res, body) => {
  res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'application/octet-stream', 'x-method': req.method ?? '' });
  res.end(body);
};

describe('forwarding (RFC 9110 §7.6)', () => {
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  beforeAll(async () => {
    origin = await startOrigin({ '/echo': echo });
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('forwards %s with its request body and returns the origin\'s response body (RFC 9110 §9.3)', async (method) => {
    const path = `/echo?method=${method}`;
    const body = `${method} payload ${'x'.repeat(1000)}`;

    const answer = await viaProxy(proxy.url, `${origin.url}${path}`, { method, body });

    expect(answer.status).toBe(200);
    expect(answer.headers['x-method']).toBe(method);
    expect(answer.text).toBe(body);
    const seen = origin.requestsTo(path);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe(method);
    expect(seen[0]!.body.toString()).toBe(body);
  });

  it.each(['GET', 'HEAD'])('forwards %s and returns the origin\'s answer (RFC 9110 §9.3)', async (method) => {
    const path = `/echo?method=${method}`;

    const answer = await viaProxy(proxy.url, `${origin.url}${path}`, { method });

    expect(answer.status).toBe(200);
    expect(answer.headers['x-method']).toBe(method);
    expect(origin.requestsTo(path).map((r) => r.method)).toEqual([method]);
  });

  it('forwards a binary request body byte for byte, and a binary response body back (RFC 9112 §6)', async () => {
    const body = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));

    const answer = await viaProxy(proxy.url, `${origin.url}/echo?binary`, { method: 'PUT', body });

    expect(answer.body.equals(body)).toBe(true);
    expect(origin.requestsTo('/echo?binary')[0]!.body.equals(body)).toBe(true);
  });

  it('forwards a chunked request body (no Content-Length) intact (RFC 9112 §7.1)', async () => {
    const answer = await viaProxy(proxy.url, `${origin.url}/echo?chunked`, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      body: 'chunked upload',
    });

    expect(answer.text).toBe('chunked upload');
    expect(origin.requestsTo('/echo?chunked')[0]!.body.toString()).toBe('chunked upload');
  });

  it('removes hop-by-hop request fields, and those named by Connection, before forwarding (RFC 9110 §7.6.1)', async () => {
    origin.route('/hop-request', echo);

    // Raw bytes: node's client refuses to send some of these fields (Trailer without chunking).
    const answer = await rawRequest(
      proxy.url,
      [
        `GET ${origin.url}/hop-request HTTP/1.1`,
        `Host: ${origin.host}`,
        'Connection: close, X-Hop-Secret',
        'X-Hop-Secret: only for the proxy',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'Proxy-Authorization: Basic dXNlcjpwYXNz',
        'TE: trailers',
        'Trailer: x-checksum',
        'Upgrade: h2c',
        'X-End-To-End: kept',
        '',
        '',
      ].join('\r\n'),
    );

    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const headers = origin.requestsTo('/hop-request')[0]!.headers;
    expect(headers['x-hop-secret']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['proxy-connection']).toBeUndefined();
    expect(headers['proxy-authorization']).toBeUndefined();
    expect(headers['te']).toBeUndefined();
    expect(headers['trailer']).toBeUndefined();
    expect(headers['upgrade']).toBeUndefined();
    expect(headers['connection'] ?? '').not.toMatch(/x-hop-secret|close/i);
    expect(headers['x-end-to-end']).toBe('kept');
  });

  it('removes hop-by-hop response fields, and those named by Connection, on a miss and on a hit (RFC 9110 §7.6.1)', async () => {
    origin.route('/hop-response', (_req, res) => {
      res.writeHead(200, {
        'cache-control': 'max-age=60',
        connection: 'keep-alive, x-origin-secret',
        'x-origin-secret': 'only for the proxy',
        'keep-alive': 'timeout=60',
        'proxy-authenticate': 'Basic realm="origin"',
        trailer: 'x-checksum',
        upgrade: 'h2c',
        'x-end-to-end': 'kept',
      });
      res.end('hop');
    });

    const miss = await get('/hop-response');
    const hit = await get('/hop-response');

    for (const answer of [miss, hit]) {
      expect(answer.text).toBe('hop');
      expect(answer.headers['x-origin-secret']).toBeUndefined();
      expect(answer.headers['proxy-authenticate']).toBeUndefined();
      expect(answer.headers['trailer']).toBeUndefined();
      expect(answer.headers['upgrade']).toBeUndefined();
      expect(answer.headers['keep-alive']).not.toBe('timeout=60');
      expect(answer.headers['x-end-to-end']).toBe('kept');
    }
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/hop-response')).toHaveLength(1);
  });

  it('answers an OPTIONS with Max-Forwards: 0 itself, as the final recipient, and forwards nothing (RFC 9110 §7.6.2, §9.3.7)', async () => {
    const path = '/echo?max-forwards=0';

    const answer = await viaProxy(proxy.url, `${origin.url}${path}`, { method: 'OPTIONS', headers: { 'max-forwards': '0' } });

    expect(answer.status).toBe(200);
    expect(answer.headers['allow']).toContain('OPTIONS');
    expect(answer.headers['allow']).not.toContain('TRACE');
    expect(answer.headers['content-length']).toBe('0');
    expect(answer.headers['x-method']).toBeUndefined();
    expect(answer.body.length).toBe(0);
    expect(origin.requestsTo(path)).toHaveLength(0);
  });

  it('forwards an OPTIONS with Max-Forwards decremented by one, and any other method\'s Max-Forwards untouched (RFC 9110 §7.6.2)', async () => {
    const options = await viaProxy(proxy.url, `${origin.url}/echo?max-forwards=5`, { method: 'OPTIONS', headers: { 'max-forwards': '5' } });
    await viaProxy(proxy.url, `${origin.url}/echo?max-forwards=1`, { method: 'OPTIONS', headers: { 'max-forwards': '1' } });
    await viaProxy(proxy.url, `${origin.url}/echo?max-forwards=get`, { headers: { 'max-forwards': '0' } });

    expect(options.status).toBe(200);
    expect(options.headers['x-method']).toBe('OPTIONS');
    expect(origin.requestsTo('/echo?max-forwards=5').map((r) => r.headers['max-forwards'])).toEqual(['4']);
    expect(origin.requestsTo('/echo?max-forwards=1').map((r) => r.headers['max-forwards'])).toEqual(['0']);
    expect(origin.requestsTo('/echo?max-forwards=get').map((r) => r.headers['max-forwards'])).toEqual(['0']);
  });

  it('adds Via to the forwarded request and to the response, after any Via already present (RFC 9110 §7.6.3)', async () => {
    origin.route('/via', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', via: '1.1 origin-gateway' }).end('via'));

    const miss = await get('/via', { via: '1.0 client-side-proxy' });
    const hit = await get('/via');

    expect(origin.requestsTo('/via')[0]!.headers['via']).toBe('1.0 client-side-proxy, 1.1 etag-proxy');
    expect(miss.headers['via']).toBe('1.1 origin-gateway, 1.1 etag-proxy');
    expect(hit.headers['via']).toBe('1.1 origin-gateway, 1.1 etag-proxy');
  });

  it('adds Via to a forwarded request and response that had none (RFC 9110 §7.6.3)', async () => {
    const answer = await get('/echo?via');

    expect(origin.requestsTo('/echo?via')[0]!.headers['via']).toBe('1.1 etag-proxy');
    expect(answer.headers['via']).toBe('1.1 etag-proxy');
  });

  it('sets Host to the target URI\'s authority, whatever Host the client sent (RFC 9112 §3.2.2)', async () => {
    await get('/echo?host', { host: 'wrong.example' });
    await viaProxy(proxy.url, `${origin.url}/echo?host-post`, { method: 'POST', body: 'x', headers: { host: 'wrong.example' } });

    expect(origin.requestsTo('/echo?host')[0]!.headers['host']).toBe(origin.host);
    expect(origin.requestsTo('/echo?host-post')[0]!.headers['host']).toBe(origin.host);
  });

  it.each([
    ['GET', '//double//slashes/a%2Fb/%7Euser?q=a%20b&path=%2Fx%2F&empty=&plus=a+b&pct=%25&raw=~*'],
    ['POST', '/x//y?redirect=http%3A%2F%2Fexample.com%2F%3Fa%3D1&utf8=%C3%A9'],
  ])('passes the %s request-target %s to the origin byte for byte', async (method, path) => {
    origin.route(path, echo);

    const answer = await viaProxy(proxy.url, `${origin.url}${path}`, { method, ...(method === 'POST' && { body: 'b' }) });

    expect(answer.status).toBe(200);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(origin.requestsTo(path)[0]!.url).toBe(path);
  });

  it('keeps origin connections alive: many sequential requests use few origin sockets (RFC 9112 §9.3)', async () => {
    const ports = new Set<number>();
    origin.route('/keep-alive', (req, res) => {
      ports.add(req.socket.remotePort ?? 0);
      res.writeHead(200, { 'cache-control': 'no-store' }).end('ka');
    });

    for (let i = 0; i < 30; i++) {
      const answer = await get('/keep-alive');
      expect(answer.text).toBe('ka');
    }

    expect(origin.requestsTo('/keep-alive')).toHaveLength(30);
    expect(ports.size).toBeLessThanOrEqual(2);
  });
});

describe('an origin that closes a kept-alive connection', () => {
  let proxy: TestProxy;
  let server: net.Server;
  const connections: number[] = [];

  beforeAll(async () => {
    // Answers the first request on each connection with keep-alive, then drops the connection
    // when a second request arrives on it: the race an origin's idle timeout creates.
    server = net.createServer((socket) => {
      connections.push(socket.remotePort ?? 0);
      let served = 0;
      let buffered = '';
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        while (buffered.includes('\r\n\r\n')) {
          buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
          if (served++ > 0) return void socket.destroy();
          socket.write('HTTP/1.1 200 OK\r\ncache-control: no-store\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('sends a GET once more on a new connection when the reused one is closed before any answer (RFC 9110 §9.2.2)', async () => {
    const { port } = server.address() as net.AddressInfo;

    const first = await viaProxy(proxy.url, `http://127.0.0.1:${port}/first`);
    const second = await viaProxy(proxy.url, `http://127.0.0.1:${port}/second`);

    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.text).toBe('ok');
    expect(connections).toHaveLength(2);
  });
});
