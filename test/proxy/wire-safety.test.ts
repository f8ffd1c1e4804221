// The listener's own answers, on raw sockets: pipelined answers stay in order when garbage
// follows a valid request, request lines without HTTP/1.x are refused (400 / 505), a client
// that half-closes still gets its answer, TRACE is refused (405), a slow head gets 408, and
// past --max-connections (or a client's share of it) an idle connection makes room, or a new
// connection gets 503 while existing clients keep being served.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { parseResponses, RawSocket } from '../helpers/raw-socket.js';
import { eventually, respond } from '../helpers/respond.js';

const BIG = Buffer.alloc(100_000, 'abcdefghij');

describe('the listener on the wire', () => {
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin({
      '/small': respond(200, { 'cache-control': 'no-store', 'content-length': '7' }, 'hello a'),
      '/big': respond(200, { 'cache-control': 'max-age=60' }, BIG),
      '/slow': (_req, res) => void setTimeout(() => res.writeHead(200, { 'cache-control': 'no-store' }).end('slow answer'), 150),
    });
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  const get = (path: string) => `GET ${origin.url}${path} HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`;

  describe('pipelining (RFC 9112 §9.3.2)', () => {
    it('answers a valid pipelined request before the 400 for the garbage that follows it, then closes', async () => {
      // A URL of its own: the other tests also ask the origin for /slow, in any order.
      const client = new RawSocket(proxy.port).write(`${get('/slow?then-garbage')}THIS IS NOT HTTP\r\n\r\n`);

      const data = await client.untilClose();
      const { responses, rest } = parseResponses(data);

      expect(responses.map((r) => r.status)).toEqual([200, 400]);
      expect(responses[0]!.body.toString()).toBe('slow answer');
      expect(responses[1]!.headers['content-type']).toMatch(/^text\/plain/);
      expect(responses[1]!.body.toString()).toMatch(/^400 bad_request: [^\n]+\n$/);
      expect(rest).toBe(0);
      expect(origin.requestsTo('/slow?then-garbage')).toHaveLength(1);
    });

    it('answers every valid request of a pipeline, byte for byte and in order, before the 400', async () => {
      const client = new RawSocket(proxy.port).write(`${get('/slow')}${get('/big')}${get('/small')}GARBAGE\x00\r\n\r\n`);

      const { responses, rest } = parseResponses(await client.untilClose());

      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 400]);
      expect(responses[0]!.body.toString()).toBe('slow answer');
      expect(responses[1]!.body.equals(BIG)).toBe(true);
      expect(responses[2]!.body.toString()).toBe('hello a');
      expect(rest).toBe(0);
      expect(proxy.logs.some((line) => line.includes('"status":400') && line.includes('"error":"bad_request"'))).toBe(true);
    });

    it('answers the request before one whose chunked body breaks, then the 400 for the broken one (RFC 9112 §7.1)', async () => {
      const broken = `POST ${origin.url}/small HTTP/1.1\r\nHost: ${origin.host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n`;
      const client = new RawSocket(proxy.port).write(`${get('/slow')}${broken}`);

      const { responses, rest } = parseResponses(await client.untilClose());

      expect(responses.map((r) => r.status)).toEqual([200, 400]);
      expect(responses[0]!.body.toString()).toBe('slow answer');
      expect(responses[1]!.body.toString()).toMatch(/^400 bad_request: malformed HTTP request \(HPE_INVALID_CHUNK_SIZE\)\n$/);
      expect(rest).toBe(0);
    });
  });

  describe('request lines that are not HTTP/1.x (RFC 9112 §2.3, §3)', () => {
    it.each([
      ['no HTTP version (HTTP/0.9 style)', (target: string) => `GET ${target}\r\n\r\n`],
      ['no HTTP version, then header fields', (target: string) => `GET ${target}\r\nHost: example.com\r\n\r\n`],
    ])('answers 400 to a request line with %s and sends nothing upstream', async (_what, line) => {
      const before = origin.requests.length;

      const data = await new RawSocket(proxy.port).write(line(`${origin.url}/small`)).untilClose();
      const { responses } = parseResponses(data);

      expect(responses).toHaveLength(1);
      expect(responses[0]!.status).toBe(400);
      expect(responses[0]!.body.toString()).toMatch(/^400 bad_request: request line without an HTTP version[^\n]*\n$/);
      expect(origin.requests.length).toBe(before);
    });

    it('answers 505 to an HTTP/2.0 request line and sends nothing upstream (RFC 9110 §15.6.6)', async () => {
      const before = origin.requests.length;

      const data = await new RawSocket(proxy.port).write(`GET ${origin.url}/small HTTP/2.0\r\nHost: ${origin.host}\r\n\r\n`).untilClose();
      const { responses } = parseResponses(data);

      expect(responses).toHaveLength(1);
      expect(responses[0]!.statusLine).toBe('HTTP/1.1 505 HTTP Version Not Supported');
      expect(responses[0]!.body.toString()).toMatch(/^505 http_version_not_supported: HTTP\/2\.0 [^\n]+\n$/);
      expect(origin.requests.length).toBe(before);
      expect(proxy.logs.some((line) => line.includes('"status":505') && line.includes('"error":"http_version_not_supported"'))).toBe(true);
    });

    it('answers 505 to CONNECT with HTTP/2.0 and opens no tunnel', async () => {
      const data = await new RawSocket(proxy.port).write(`CONNECT ${origin.host} HTTP/2.0\r\nHost: ${origin.host}\r\n\r\n`).untilClose();

      expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/);
      expect(proxy.logs.some((line) => line.includes('"method":"CONNECT"') && line.includes('"status":505'))).toBe(true);
    });
  });

  describe('half-closed clients', () => {
    it('answers a complete request whose client shut down its write side, then closes', async () => {
      const before = origin.requestsTo('/big').length;
      const client = new RawSocket(proxy.port);
      await client.connected();

      client.end(`GET ${origin.url}/big HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`);
      const { responses, rest } = parseResponses(await client.untilClose());

      expect(responses).toHaveLength(1);
      expect(responses[0]!.status).toBe(200);
      expect(responses[0]!.body.equals(BIG)).toBe(true);
      expect(rest).toBe(0);
      expect(origin.requestsTo('/big').length).toBeLessThanOrEqual(before + 1);
    });

    it('answers two pipelined requests sent with the half-close', async () => {
      const client = new RawSocket(proxy.port);
      await client.connected();

      client.end(`${get('/slow')}${get('/small')}`);
      const { responses } = parseResponses(await client.untilClose());

      expect(responses.map((r) => [r.status, r.body.toString()])).toEqual([
        [200, 'slow answer'],
        [200, 'hello a'],
      ]);
      // Written after the half-close was seen: the last answer announces the close (RFC 9112 §9.6).
      expect(responses[1]!.headers['connection']).toBe('close');
    });
  });

  describe('TRACE (RFC 9110 §9.3.8)', () => {
    it('refuses TRACE with 405 and Allow, and forwards nothing', async () => {
      const before = origin.requests.length;

      const answer = await viaProxy(proxy.url, `${origin.url}/small`, { method: 'TRACE', headers: { 'max-forwards': '0' } });

      expect(answer.status).toBe(405);
      expect(answer.headers['allow']).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT');
      expect(answer.text).toBe('405 method_not_allowed: TRACE is not forwarded by this proxy\n');
      expect(origin.requests.length).toBe(before);
      expect(proxy.logs.some((line) => line.includes('"method":"TRACE"') && line.includes('"status":405'))).toBe(true);
    });

    it('refuses TRACE addressed to the proxy itself (origin-form) with 405', async () => {
      const client = new RawSocket(proxy.port).write('TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n');

      const [answer] = await client.responses(1);
      client.destroy();

      expect(answer!.status).toBe(405);
      expect(answer!.headers['allow']).toMatch(/^GET, HEAD/);
    });

    it('keeps the connection for the next request after a 405', async () => {
      const client = new RawSocket(proxy.port).write(`TRACE ${origin.url}/small HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n${get('/small')}`);

      const responses = await client.responses(2);
      client.destroy();

      expect(responses.map((r) => r.status)).toEqual([405, 200]);
      expect(responses[1]!.body.toString()).toBe('hello a');
    });
  });
});

describe('request head timeout', () => {
  it('answers 408 saying the request head timed out when the head does not arrive within --headers-timeout (RFC 9110 §15.5.9)', async () => {
    const proxy = await startProxy({ headersTimeoutMs: 300 });
    try {
      const started = Date.now();
      const client = new RawSocket(proxy.port).write('GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n');

      const { responses } = parseResponses(await client.untilClose(10_000));

      expect(responses).toHaveLength(1);
      expect(responses[0]!.statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(responses[0]!.body.toString()).toBe('408 request_timeout: the request head did not arrive within 300ms (--headers-timeout)\n');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(proxy.logs.some((line) => line.includes('"status":408') && line.includes('"error":"request_timeout"'))).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});

describe('HTTP/0.9 request line alone', () => {
  it('gets the 408 of an incomplete head at --headers-timeout (llhttp waits for header lines; the guard does not read the bytes itself)', async () => {
    const proxy = await startProxy({ headersTimeoutMs: 300 });
    try {
      const client = new RawSocket(proxy.port).write('GET /\r\n');

      const { responses } = parseResponses(await client.untilClose(10_000));

      expect(responses).toHaveLength(1);
      expect(responses[0]!.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    } finally {
      await proxy.stop();
    }
  });
});

describe('--max-connections and --max-connections-per-client', () => {
  let origin: Origin;
  const held: Array<() => void> = [];

  beforeAll(async () => {
    origin = await startOrigin({
      '/ok': respond(200, { 'cache-control': 'no-store', 'content-length': '2' }, 'ok'),
      // Answered only when the test lets go: a request in flight for as long as it needs.
      '/hold': (_req, res) => void held.push(() => res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '4' }).end('held')),
    });
  });
  afterAll(async () => {
    await origin?.close();
  });
  // Distinct URLs: requests for one URL in flight together would be collapsed into one.
  const get = (path: string) => `GET ${origin.url}${path} HTTP/1.1\r\nHost: ${origin.host}\r\n\r\n`;
  const release = () => held.splice(0).forEach((answer) => answer());

  it('answers 503 to a connection past the limit when none is idle, and closes it, while the open connections keep being served', async () => {
    const proxy = await startProxy({ maxConnections: 2 });
    try {
      const first = new RawSocket(proxy.port).write(get('/hold?1'));
      const second = new RawSocket(proxy.port).write(get('/hold?2'));
      await eventually(() => held.length === 2);

      // A URL of its own: the other tests' connections ask the origin for /ok, in any order.
      const third = new RawSocket(proxy.port).write(get('/ok?refused'));
      const { responses } = parseResponses(await third.untilClose());

      expect(responses).toHaveLength(1);
      expect(responses[0]!.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
      expect(responses[0]!.body.toString()).toMatch(/^503 too_many_connections: this proxy already serves 2 connections \(--max-connections\)[^\n]*\n$/);
      expect(origin.requestsTo('/ok?refused')).toHaveLength(0);

      release();
      expect((await first.responses(1))[0]!.body.toString()).toBe('held');
      expect((await second.responses(1))[0]!.body.toString()).toBe('held');
      first.write(get('/ok'));
      expect((await first.responses(2))[1]!.body.toString()).toBe('ok');
      first.destroy();
      second.destroy();
      expect(proxy.logs.some((line) => line.includes('"status":503') && line.includes('"error":"too_many_connections"') && line.includes('"limit":"total"'))).toBe(true);
    } finally {
      release();
      await proxy.stop();
    }
  });

  it('makes room for a new connection past the limit by closing the connection idle the longest; those with a request in flight are kept', async () => {
    const proxy = await startProxy({ maxConnections: 3 });
    try {
      const idleOld = new RawSocket(proxy.port).write(get('/ok'));
      await idleOld.responses(1);
      const idleNew = new RawSocket(proxy.port).write(get('/ok'));
      await idleNew.responses(1);
      const busy = new RawSocket(proxy.port).write(get('/hold?3'));
      await eventually(() => held.length === 1);

      const newcomer = new RawSocket(proxy.port).write(get('/ok'));
      expect((await newcomer.responses(1))[0]!.body.toString()).toBe('ok');
      await idleOld.untilClose(2000);

      expect(idleOld.closed).toBe(true);
      expect(idleNew.closed).toBe(false);
      idleNew.write(get('/ok'));
      expect((await idleNew.responses(2))[1]!.body.toString()).toBe('ok');
      release();
      expect((await busy.responses(1))[0]!.body.toString()).toBe('held');
      expect(proxy.logs.some((line) => line.includes('"msg":"closed an idle connection to make room for a new one"'))).toBe(true);
      for (const socket of [idleNew, busy, newcomer]) socket.destroy();
    } finally {
      release();
      await proxy.stop();
    }
  });

  it('gives one client address at most its share: past it, its own oldest idle connection makes room, or it gets a 503 naming --max-connections-per-client; another address is served', async () => {
    const proxy = await startProxy({ maxConnections: 10, maxConnectionsPerClient: 2 });
    try {
      const a1 = new RawSocket(proxy.port).write(get('/ok'));
      await a1.responses(1);
      const a2 = new RawSocket(proxy.port).write(get('/hold?4'));
      await eventually(() => held.length === 1);
      // Its third connection replaces its idle first one.
      const a3 = new RawSocket(proxy.port).write(get('/hold?5'));
      await eventually(() => held.length === 2);
      await a1.untilClose(2000);
      expect(a1.closed).toBe(true);
      // Both of its connections are busy now: the next is refused.
      const a4 = new RawSocket(proxy.port).write(get('/ok'));
      const { responses } = parseResponses(await a4.untilClose());
      expect(responses[0]!.status).toBe(503);
      expect(responses[0]!.body.toString()).toBe('503 too_many_connections: client 127.0.0.1 already holds 2 connections (--max-connections-per-client); try again shortly\n');
      // Another client address is not held back by that one.
      const other = new RawSocket(proxy.port, '127.0.0.1', '127.0.0.2').write(get('/ok'));
      expect((await other.responses(1))[0]!.body.toString()).toBe('ok');

      release();
      expect((await a2.responses(1))[0]!.body.toString()).toBe('held');
      expect((await a3.responses(1))[0]!.body.toString()).toBe('held');
      for (const socket of [a2, a3, other]) socket.destroy();
      expect(proxy.logs.some((line) => line.includes('"limit":"per-client"') && line.includes('"client":"127.0.0.1"'))).toBe(true);
    } finally {
      release();
      await proxy.stop();
    }
  });

  it('counts a CONNECT tunnel in its client\'s share, busy while it relays bytes', async () => {
    const proxy = await startProxy({ maxConnections: 10, maxConnectionsPerClient: 1, connectPorts: [[1, 65535]] });
    const echo = net.createServer((socket) => socket.pipe(socket).on('error', () => {}));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    try {
      const tunnel = new RawSocket(proxy.port).write(`CONNECT 127.0.0.1:${(echo.address() as net.AddressInfo).port} HTTP/1.1\r\nHost: x\r\n\r\n\x00blind bytes`);
      await eventually(() => tunnel.bytes.includes('blind bytes'));

      const next = new RawSocket(proxy.port).write(get('/ok'));
      const { responses } = parseResponses(await next.untilClose());

      expect(responses[0]!.status).toBe(503);
      expect(tunnel.closed).toBe(false);
      tunnel.destroy();
    } finally {
      await proxy.stop();
      echo.close();
    }
  });
});
