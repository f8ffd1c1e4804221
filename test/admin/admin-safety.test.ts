// Who reaches the admin API: a Host that names the admin listener itself (else 421, checked
// before the token: DNS-rebinding protection), the bearer token compared as fixed-length
// digests, and no start at all on a non-loopback address without a token (exit code 2).
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminHostCheck, isLoopbackHost, requireTokenOffLoopback } from '../../src/admin/host-check.js';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/observe/log.js';
import { runCli } from '../helpers/cli.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { RawSocket } from '../helpers/raw-socket.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: { error?: string } & Record<string, unknown>;
}

/** GET `path` from the admin API with exactly these header fields (Host included). */
function adminGet(admin: AdminServer, path: string, headers: Record<string, string>): Promise<Answer> {
  const url = new URL(admin.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path, headers, agent: false, setHost: false });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) as Answer['json'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `method` `path` with exactly these header fields and this body. */
function adminSend(admin: AdminServer, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const url = new URL(admin.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ method, host: url.hostname, port: url.port, path, headers: { host: url.host, ...headers }, agent: false, setHost: false });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) as Answer['json'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** An HTTP/1.0 request without a Host field, on a raw socket. */
function withoutHost(admin: AdminServer): Promise<string> {
  const url = new URL(admin.url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.end('GET /policies HTTP/1.0\r\n\r\n');
  });
}

describe('the admin API answers only to its own names (DNS rebinding)', () => {
  let proxy: TestProxy;
  let open: AdminServer;
  let guarded: AdminServer;
  const TOKEN = 's3cret-token-value';

  beforeAll(async () => {
    proxy = await startProxy();
    open = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
    guarded = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token: TOKEN }, silentLogger);
  });

  afterAll(async () => {
    await open?.close();
    await guarded?.close();
    await proxy?.stop();
  });

  const port = (admin: AdminServer) => new URL(admin.url).port;

  it.each([['127.0.0.1'], ['localhost'], ['LocalHost'], ['[::1]']])('accepts Host: %s with its port on a loopback listener', async (name) => {
    const res = await adminGet(open, '/policies', { host: `${name}:${port(open)}` });
    expect(res.status).toBe(200);
  });

  it.each([
    ['a foreign name with the right port', (p: string) => `evil.example:${p}`],
    ['a foreign name without a port', () => 'evil.example'],
    ['the right name with another port', (p: string) => `127.0.0.1:${Number(p) + 1}`],
    ['the right name without its port', () => '127.0.0.1'],
    ['a name with userinfo', (p: string) => `user@127.0.0.1:${p}`],
  ])('answers 421 with a JSON error to %s, before looking at the token (RFC 9110 §15.5.20)', async (_what, host) => {
    const res = await adminGet(guarded, '/policies', { host: host(port(guarded)), authorization: `Bearer ${TOKEN}` });
    const tokenless = await adminGet(open, '/policies', { host: host(port(open)) });

    expect(res.status).toBe(421);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json.error).toMatch(/^Host: expected 127\.0\.0\.1:\d+ or localhost:\d+ or \[::1\]:\d+, got "[^"]+"/);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(tokenless.status).toBe(421);
  });

  it('answers 421 to a request without Host', async () => {
    const text = await withoutHost(open);
    expect(text).toMatch(/^HTTP\/1\.1 421 Misdirected Request\r\n/);
    expect(text).toContain('got none');
  });

  it('still asks for the token once the Host is right', async () => {
    const res = await adminGet(guarded, '/policies', { host: `localhost:${port(guarded)}` });
    expect(res.status).toBe(401);
  });
});

describe('the admin token', () => {
  let proxy: TestProxy;
  let admin: AdminServer;
  const TOKEN = 'correct-horse-battery-staple';

  beforeAll(async () => {
    proxy = await startProxy();
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1', token: TOKEN }, silentLogger);
  });

  afterAll(async () => {
    await admin?.close();
    await proxy?.stop();
  });

  const host = () => new URL(admin.url).host;

  it.each([
    ['a prefix of the token', TOKEN.slice(0, 5)],
    ['the token with a byte more', `${TOKEN}x`],
    ['a token of the same length, one byte off', `${TOKEN.slice(0, -1)}X`],
    ['a very long token', 'x'.repeat(4096)],
  ])('refuses %s with 401 invalid_token (RFC 6750 §3.1)', async (_what, token) => {
    const res = await adminGet(admin, '/policies', { host: host(), authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(res.json.error).toBe('wrong admin token');
  });

  it('accepts the token', async () => {
    const res = await adminGet(admin, '/policies', { host: host(), authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
  });
});

describe('no token-less admin API off loopback', () => {
  it('starts on a non-loopback host when a token is given', () => {
    expect(() => requireTokenOffLoopback({ host: '0.0.0.0', token: 't' })).not.toThrow();
    expect(() => requireTokenOffLoopback({ host: '::1' })).not.toThrow();
  });

  it('startAdminServer refuses a non-loopback host without a token, before listening', async () => {
    const proxy = await startProxy();
    try {
      // 192.0.2.1 (TEST-NET-1, RFC 5737) is on no interface: even code that tried would not listen.
      const started = startAdminServer(proxy.proxy, { port: 0, host: '192.0.2.1' }, silentLogger);
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(/^--admin-host: 192\.0\.2\.1 is not a loopback address.*--admin-token/);
    } finally {
      await proxy.stop();
    }
  });

  it('the CLI exits with code 2 and one line naming --admin-host and --admin-token', async () => {
    const res = await runCli(['--port', '0', '--admin-host', '192.0.2.1', '--admin-port', '18081'], { ETAG_PROXY_ADMIN_TOKEN: '' });

    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/^etag-proxy: --admin-host: 192\.0\.2\.1 is not a loopback address.*--admin-token/);
    expect(res.stdout).not.toContain('listening');
  });
});

describe('which names count (unit)', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.1.2.3', false],
    ['admin.example', false],
  ])('isLoopbackHost(%s) is %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it('a wildcard listener accepts the loopback names and its configured host, nothing else', () => {
    const check = new AdminHostCheck('0.0.0.0', '0.0.0.0', 8081);
    expect(check.accepts('127.0.0.1:8081')).toBe(true);
    expect(check.accepts('localhost:8081')).toBe(true);
    expect(check.accepts('evil.example:8081')).toBe(false);
    expect(check.accepts('0.0.0.0:8081')).toBe(false);
    expect(check.accepts('localhost:8082')).toBe(false);
  });

  it('a listener on a named address accepts that name only', () => {
    const check = new AdminHostCheck('10.1.2.3', '10.1.2.3', 9000);
    expect(check.accepts('10.1.2.3:9000')).toBe(true);
    expect(check.accepts('127.0.0.1:9000')).toBe(false);
    expect(check.expected).toEqual(['10.1.2.3:9000']);
  });
});

describe('admin request bodies and cross-site writes', () => {
  let proxy: TestProxy;
  let admin: AdminServer;

  beforeAll(async () => {
    proxy = await startProxy({ headersTimeoutMs: 300 });
    admin = await startAdminServer(proxy.proxy, { port: 0, host: '127.0.0.1' }, silentLogger);
  });

  afterAll(async () => {
    await admin?.close();
    await proxy?.stop();
  });

  const json = { 'content-type': 'application/json' };

  it('answers 400 with a short error to JSON nested 100,000 deep, and keeps serving', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const path of ['/rules', '/policies', '/policies/clients/deep']) {
      const res = await adminSend(admin, 'PUT', path, json, deep);
      expect(res.status).toBe(400);
      expect(res.json.error).toBe('body: JSON nested deeper than 32 levels');
    }
    const unterminated = await adminSend(admin, 'PUT', '/rules', json, '['.repeat(100_000));
    expect(unterminated.status).toBe(400);
    expect(JSON.stringify(unterminated.json).length).toBeLessThan(300);
    expect((await adminSend(admin, 'GET', '/policies', {})).status).toBe(200);
  });

  it('still takes a document nested to the limit, brackets inside strings not counted', async () => {
    const res = await adminSend(admin, 'PUT', '/policies/clients/deep', json, JSON.stringify({ validators: 'strip', x: '[[[['.repeat(20) }));
    expect(res.status).toBe(400); // unknown key x: refused by the schema, not by the depth check
    expect(res.json.error).not.toContain('nested');
  });

  it('answers 408 and closes the connection when a body does not arrive within --headers-timeout', async () => {
    const socket = new RawSocket(Number(new URL(admin.url).port));
    await socket.connected();
    const started = Date.now();
    socket.write(`PUT /policies/clients/slow HTTP/1.1\r\nHost: ${new URL(admin.url).host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vali`);
    const text = (await socket.untilClose(5000)).toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
    expect(text).toContain('body: did not arrive within 300 ms (--headers-timeout)');
    expect(socket.closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    expect((await adminSend(admin, 'GET', '/policies/clients/slow', {})).status).toBe(404);
  });

  it.each([
    ['another site', 'http://evil.example'],
    ['another port of this host', () => `http://127.0.0.1:${Number(new URL(admin.url).port) + 1}`],
    ['https on the same name', () => `https://${new URL(admin.url).host}`],
    ['an opaque origin', 'null'],
  ])('answers 403 to a PUT or DELETE whose Origin is %s, and changes nothing', async (_what, origin) => {
    const from = typeof origin === 'function' ? origin() : origin;
    const put = await adminSend(admin, 'PUT', '/policies/clients/cross', { ...json, origin: from }, '{"validators":"strip"}');
    expect(put.status).toBe(403);
    expect(put.json.error).toMatch(/^Origin: expected http:\/\/127\.0\.0\.1:\d+ or .* for PUT, got "/);
    expect((await adminSend(admin, 'GET', '/policies/clients/cross', {})).status).toBe(404);

    expect((await adminSend(admin, 'PUT', '/policies/clients/kept', json, '{"validators":"strip"}')).status).toBe(201);
    const del = await adminSend(admin, 'DELETE', '/policies/clients/kept', { origin: from });
    expect(del.status).toBe(403);
    expect((await adminSend(admin, 'GET', '/policies/clients/kept', {})).status).toBe(200);
    expect((await adminSend(admin, 'DELETE', '/policies/clients/kept', {})).status).toBe(200);
  });

  it('takes writes with its own Origin (any of its names) or none (CLI clients), and reads with any', async () => {
    const { host, port } = new URL(admin.url);
    expect((await adminSend(admin, 'PUT', '/policies/clients/own', { ...json, origin: `http://${host}` }, '{"validators":"strip"}')).status).toBe(201);
    expect((await adminSend(admin, 'PUT', '/policies/clients/own', { ...json, origin: `http://localhost:${port}` }, '{"validators":"pass"}')).status).toBe(200);
    expect((await adminSend(admin, 'DELETE', '/policies/clients/own', {})).status).toBe(200);
    expect((await adminSend(admin, 'GET', '/policies', { origin: 'http://evil.example' })).status).toBe(200);
  });
});
