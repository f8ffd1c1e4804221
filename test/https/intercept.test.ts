// TLS interception (issue 8): a CONNECT to an intercepted host is decrypted with a leaf of the
// proxy's CA and its requests go through the same pipeline as plain HTTP, cached under the
// https:// URL. Real clients (undici's ProxyAgent, a hand-made CONNECT + TLS client) trust the
// proxy's CA; the HTTPS origins have certificates of a separate test CA (--upstream-ca).
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProxy, defaultConfig, type ProxyConfig } from '../../src/index.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { eventually, respond, sleep, validating } from '../helpers/respond.js';
import { makeTestCa, type TestCa } from '../helpers/tls.js';
import { httpsThroughTunnel, openTunnel } from '../helpers/tunnel-client.js';

let proxyCa: TestCa;
let originCa: TestCa;
let origin: Origin;
const proxies: TestProxy[] = [];
const agents: ProxyAgent[] = [];

/** An intercepting proxy that trusts the origins' test CA; origins listen on random ports. */
async function interceptingProxy(overrides: Partial<ProxyConfig> = {}, options: Parameters<typeof startProxy>[1] = {}): Promise<TestProxy> {
  const proxy = await startProxy({ intercept: true, caDir: proxyCa.dir, upstreamCa: originCa.certFile, connectPorts: [[1, 65535]], ...overrides }, options);
  proxies.push(proxy);
  return proxy;
}

/** undici's ProxyAgent trusting the proxy's CA (requestTls.ca), as docs/guide/https-interception.md tells Node users. */
function agentFor(proxy: TestProxy, extra: { token?: string } = {}): ProxyAgent {
  const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: proxyCa.ca.certPem }, ...extra });
  agents.push(agent);
  return agent;
}

async function get(agent: ProxyAgent, url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { dispatcher: agent, headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers as http.IncomingHttpHeaders, body, text: body.toString('utf8') };
}

let pathCount = 0;
function route(handler: Parameters<Origin['route']>[1]): string {
  const path = `/p${++pathCount}`;
  origin.route(path, handler);
  return path;
}

beforeAll(async () => {
  proxyCa = await makeTestCa('proxy-ca');
  originCa = await makeTestCa('origin-ca');
  origin = await startOrigin({}, { tls: await originCa.issue(['localhost', '127.0.0.1']) });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.close()));
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await origin?.close();
  proxyCa?.remove();
  originCa?.remove();
});

describe('HTTPS through an intercepting proxy', () => {
  it('caches an HTTPS page: the second fetch is a hit, and the origin saw one request (RFC 9111 §4)', async () => {
    const proxy = await interceptingProxy();
    const agent = agentFor(proxy);
    const path = route(respond(200, { 'cache-control': 'max-age=60', etag: '"s1"', 'content-type': 'text/html' }, '<p>secret page</p>'));
    const url = `https://localhost:${origin.port}${path}`;

    const miss = await get(agent, url);
    const hit = await get(agent, url);

    expect(miss.status).toBe(200);
    expect(miss.text).toBe('<p>secret page</p>');
    expect(miss.headers['cache-status']).toMatch(/^etag-proxy; fwd=uri-miss; fwd-status=200/);
    expect(hit.status).toBe(200);
    expect(hit.text).toBe('<p>secret page</p>');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=/);
    expect(origin.requestsTo(path)).toHaveLength(1);
    expect(origin.requestsTo(path)[0]!.headers['host']).toBe(`localhost:${origin.port}`);
    expect(proxy.logs.join('')).toContain(`"url":"https://localhost:${origin.port}${path}"`);
  });

  it('revalidates a stale HTTPS entry with its stored ETag, and the origin\'s 304 gives the client the stored body (RFC 9111 §4.3.4)', async () => {
    const clock = fakeClock();
    const proxy = await interceptingProxy({}, { now: clock.now });
    const agent = agentFor(proxy);
    const path = route(validating({ 'cache-control': 'max-age=10', etag: '"e1"', 'content-type': 'text/plain' }, 'stored over TLS'));
    const url = `https://localhost:${origin.port}${path}`;

    await get(agent, url);
    clock.advance(30);
    const revalidated = await get(agent, url);

    expect(revalidated.status).toBe(200);
    expect(revalidated.text).toBe('stored over TLS');
    expect(revalidated.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    const seen = origin.requestsTo(path);
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['if-none-match']).toBeUndefined();
    expect(seen[1]!.headers['if-none-match']).toBe('"e1"');
  });

  describe('the validator policies apply over HTTPS as over HTTP: client B replays the ETag client A was given', () => {
    const expected = { pass: 304, isolate: 200, strip: 200 } as const;
    for (const mode of ['pass', 'isolate', 'strip'] as const) {
      it(`under ${mode}, B gets ${expected[mode]} and A (its own tag) gets ${mode === 'strip' ? 200 : 304}`, async () => {
        const proxy = await interceptingProxy({ validators: mode });
        const agent = agentFor(proxy);
        const path = route(validating({ 'cache-control': 'max-age=60', etag: '"pol"' }, 'policy body'));
        const url = `https://localhost:${origin.port}${path}`;

        const a = await get(agent, url, { 'x-proxy-client': 'client-a' });
        const b = await get(agent, url, { 'x-proxy-client': 'client-b', 'if-none-match': '"pol"' });
        const aAgain = await get(agent, url, { 'x-proxy-client': 'client-a', 'if-none-match': '"pol"' });

        expect(a.status).toBe(200);
        expect(b.status).toBe(expected[mode]);
        expect(b.text).toBe(expected[mode] === 200 ? 'policy body' : '');
        if (expected[mode] === 200) expect(b.headers['cache-status']).toContain('detail=dropped-if-none-match');
        expect(aAgain.status).toBe(mode === 'strip' ? 200 : 304);
        expect(origin.requestsTo(path)).toHaveLength(1);
        expect(origin.requestsTo(path)[0]!.headers['x-proxy-client']).toBeUndefined();
      });
    }
  });

  it('signs a leaf for the SNI name (a DNS SAN), offers http/1.1 only over ALPN, and a client that sends no SNI gets the CONNECT address as an IP SAN', async () => {
    const proxy = await interceptingProxy();
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'by name or address'));

    const named = await httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}${path}`, { ca: proxyCa.ca.certPem, servername: 'localhost', alpn: ['h2', 'http/1.1'] });
    const noSni = await httpsThroughTunnel(proxy.url, `https://127.0.0.1:${origin.port}${path}`, { ca: proxyCa.ca.certPem });

    expect(named.status).toBe(200);
    expect(named.alpn).toBe('http/1.1');
    expect(named.peerCertificate.subjectaltname).toBe('DNS:localhost');
    expect(named.peerCertificate.issuer.CN).toMatch(/^etag-proxy CA/);
    expect(noSni.status).toBe(200);
    expect(noSni.text).toBe('by name or address');
    expect(noSni.peerCertificate.subjectaltname).toBe('IP Address:127.0.0.1');
    // Different hosts in the URL: two cache entries, two origin requests.
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('names the leaf after the SNI server name when the CONNECT authority is another (an address): the client is shown DNS:localhost', async () => {
    const proxy = await interceptingProxy();
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'named by SNI'));

    const { socket, head } = await openTunnel(proxy.url, `127.0.0.1:${origin.port}`);
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    const secure = tls.connect({ socket, servername: 'localhost', ca: proxyCa.ca.certPem });
    await once(secure, 'secureConnect');
    const shown = secure.getPeerCertificate();
    secure.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${origin.port}\r\nConnection: close\r\n\r\n`);
    const chunks: Buffer[] = [];
    secure.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(secure, 'end');

    expect(shown.subjectaltname).toBe('DNS:localhost');
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\n[^]*named by SNI/);
    secure.destroy();
  });

  it('answers 502 inside the tunnel when the origin\'s certificate is not trusted, naming the check; --upstream-ca fixes it', async () => {
    const strict = await interceptingProxy({ upstreamCa: undefined });
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'private CA'));

    const refused = await get(agentFor(strict), `https://localhost:${origin.port}${path}`);
    expect(refused.status).toBe(502);
    expect(refused.text).toMatch(/^502 upstream_cert_untrusted: the origin's certificate is not signed by a trusted CA: localhost:\d+ \(UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(origin.requestsTo(path)).toHaveLength(0);

    const trusting = await interceptingProxy();
    expect((await get(agentFor(trusting), `https://localhost:${origin.port}${path}`)).text).toBe('private CA');
  });

  it('answers 502 upstream_unknown_host inside the tunnel for a host that does not resolve', async () => {
    const proxy = await interceptingProxy();
    const res = await get(agentFor(proxy), 'https://no-such-host.invalid/x');
    expect(res.status).toBe(502);
    expect(res.text).toMatch(/^502 upstream_unknown_host: .*no-such-host\.invalid/);
  });

  it('keeps a passthrough host a raw tunnel: the client sees the origin\'s own certificate, and nothing is cached', async () => {
    const proxy = await interceptingProxy({ passthrough: ['localhost'] });
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'end to end'));

    const first = await httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}${path}`, { ca: originCa.ca.certPem, servername: 'localhost' });
    const second = await httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}${path}`, { ca: originCa.ca.certPem, servername: 'localhost' });

    expect(first.text).toBe('end to end');
    expect(first.headers['cache-status']).toBeUndefined();
    expect(new X509Certificate(first.peerCertificate.raw).checkIssued(new X509Certificate(originCa.ca.certPem))).toBe(true);
    expect(second.headers['cache-status']).toBeUndefined();
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('leaves HTTPS CONNECTs byte-for-byte tunnels without --intercept: the client sees the origin\'s certificate', async () => {
    const proxy = await startProxy({ upstreamCa: originCa.certFile, connectPorts: [[1, 65535]] });
    proxies.push(proxy);
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'tunnelled'));

    const res = await httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}${path}`, { ca: originCa.ca.certPem, servername: 'localhost' });

    expect(res.text).toBe('tunnelled');
    expect(new X509Certificate(res.peerCertificate.raw).checkIssued(new X509Certificate(originCa.ca.certPem))).toBe(true);
    expect(res.headers['cache-status']).toBeUndefined();
  });

  it('intercepts only the hosts an intercept list names', async () => {
    const proxy = await interceptingProxy({ intercept: ['*.example.test'] });
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'not listed'));

    const res = await httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}${path}`, { ca: originCa.ca.certPem, servername: 'localhost' });

    expect(res.peerCertificate.issuer.CN).toBe(new X509Certificate(originCa.ca.certPem).subject.match(/CN=([^\n]+)/)![1]);
    expect(res.headers['cache-status']).toBeUndefined();
  });

  it('logs a client that rejects the proxy\'s certificate once per host, with the hint', async () => {
    const proxy = await interceptingProxy();
    const attempt = () =>
      httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}/`, { ca: originCa.ca.certPem, servername: 'localhost' }).then(
        () => 'accepted',
        (error: Error) => error.message,
      );

    expect(await attempt()).toMatch(/self-signed|unable to verify|certificate/i);
    expect(await attempt()).toMatch(/self-signed|unable to verify|certificate/i);
    const warnings = () => proxy.logs.filter((line) => /rejected the proxy's certificate|may not trust the proxy's certificate/.test(line));
    // The proxy sees the client's hang-up a moment after the client gave up.
    await eventually(() => warnings().length > 0, 5000);
    await sleep(200);

    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toContain('"host":"localhost"');
    expect(warnings()[0]).toContain('etag-proxy ca export');
    expect(warnings()[0]).toContain('--passthrough');
  });

  it('logs clients that reject the proxy\'s certificate for many names in one line per interval, not one per name', async () => {
    const proxy = await interceptingProxy();
    const attempts = Array.from({ length: 30 }, (_, i) =>
      httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}/`, { ca: originCa.ca.certPem, servername: `name-${i}.example` }).then(
        () => 'accepted',
        () => 'rejected',
      ),
    );

    expect(new Set(await Promise.all(attempts))).toEqual(new Set(['rejected']));
    await sleep(500);

    const warnings = proxy.logs.filter((line) => /certificate/.test(line) && line.includes('"level":"warn"'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('etag-proxy ca export');
  });

  it('signs new leaves a few at a time, in turn between client addresses: one address asking for 80 names does not hold up another\'s', async () => {
    const proxy = await interceptingProxy();
    const tunnelFrom = async (localAddress: string): Promise<net.Socket> => {
      const socket = net.connect({ port: proxy.port, host: '127.0.0.1', localAddress });
      await once(socket, 'connect');
      socket.write(`CONNECT localhost:${origin.port} HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
      await once(socket, 'data');
      return socket;
    };
    const greedy = await Promise.all(Array.from({ length: 80 }, () => tunnelFrom('127.0.0.2')));
    const other = await tunnelFrom('127.0.0.1');
    const trusting = tls.createSecureContext({ ca: proxyCa.ca.certPem });
    const finished: string[] = [];
    const handshake = async (socket: net.Socket, servername: string) => {
      const secure = tls.connect({ socket, servername, secureContext: trusting });
      await once(secure, 'secureConnect');
      finished.push(servername);
      secure.destroy();
    };

    // Every ClientHello is sent at once, the other address's last.
    const done = greedy.map((socket, i) => handshake(socket, `greedy-${i}.example`));
    done.push(handshake(other, 'other.example'));
    await Promise.all(done);

    // Signed all at once, the other address's name came last; in turn, it comes among the first.
    expect(finished).toHaveLength(81);
    expect(finished.indexOf('other.example')).toBeLessThan(20);
  });

  it('keeps the raw tunnel for bytes that are neither TLS nor HTTP, to an intercepted host', async () => {
    const echo = net.createServer((socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const { port } = echo.address() as net.AddressInfo;
    const proxy = await interceptingProxy();
    try {
      const { socket, head } = await openTunnel(proxy.url, `127.0.0.1:${port}`);
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      socket.write('\x00\x01binary ping');
      const [echoed] = (await once(socket, 'data')) as [Buffer];
      expect(echoed.toString('latin1')).toBe('\x00\x01binary ping');
      socket.destroy();
    } finally {
      echo.close();
    }
  });

  it('cuts a client that stops reading an intercepted response after --send-timeout, and closes the origin connection (issue 18)', async () => {
    const proxy = await interceptingProxy({ sendTimeoutMs: 400 });
    const big = Buffer.alloc(12 * 1024 * 1024, 'i');
    const path = route(respond(200, { 'cache-control': 'max-age=60', 'content-length': String(big.length) }, big));
    let carrier: net.Socket | undefined;
    const onRequest = (req: http.IncomingMessage) => void (req.url === path && (carrier = req.socket));
    origin.server.on('request', onRequest);
    const { socket } = await openTunnel(proxy.url, `localhost:${origin.port}`);
    const secure = tls.connect({ socket, host: 'localhost', servername: 'localhost', ca: proxyCa.ca.certPem });
    secure.on('error', () => {});
    try {
      await once(secure, 'secureConnect');
      secure.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
      secure.pause();
      await eventually(() => proxy.logs.some((line) => line.includes('client_send_timeout')) && carrier?.destroyed === true, 10_000);
      expect(proxy.logs.filter((line) => line.includes('client_send_timeout'))).toHaveLength(1);
    } finally {
      origin.server.off('request', onRequest);
      secure.destroy();
    }
  }, 20_000);

  it('refuses to start with --intercept and no CA, naming the command that creates one', async () => {
    await expect(createProxy(defaultConfig({ intercept: true, caDir: `${proxyCa.dir}/missing`, logLevel: 'silent' }))).rejects.toThrow(
      /^--intercept: no CA in .*missing; create one with `etag-proxy ca init --ca-dir .*missing`$/,
    );
  });
});

describe('deadlines inside intercepted tunnels: an idle tunnel holds no connection slot for long', () => {
  /** Resolves with the ms from now until the socket closes (or `ms` passes: -1). */
  const closesWithin = (socket: net.Socket | tls.TLSSocket, ms: number): Promise<number> => {
    const started = Date.now();
    return new Promise((resolve) => {
      if (socket.destroyed) return resolve(0);
      const timer = setTimeout(() => resolve(-1), ms);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(Date.now() - started);
      });
    });
  };

  /** A whole ClientHello for `localhost`, as node's TLS client sends it first. */
  const clientHello = async (): Promise<Buffer> => {
    const catcher = net.createServer();
    catcher.listen(0, '127.0.0.1');
    await once(catcher, 'listening');
    const hello = new Promise<Buffer>((resolve) => catcher.once('connection', (socket) => socket.once('data', (chunk: Buffer) => (resolve(chunk), socket.destroy()))));
    const client = tls.connect({ port: (catcher.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost' });
    client.on('error', () => {});
    const bytes = await hello;
    client.destroy();
    catcher.close();
    return bytes;
  };

  it('closes a tunnel that sends nothing after its 200, only part of a ClientHello, or a ClientHello and no more of the handshake, at --headers-timeout, with one 408 line each', async () => {
    const proxy = await interceptingProxy({ headersTimeoutMs: 300 });
    const hello = await clientHello();
    const silent = await openTunnel(proxy.url, `localhost:${origin.port}`);
    const partial = await openTunnel(proxy.url, `localhost:${origin.port}`);
    const stalled = await openTunnel(proxy.url, `localhost:${origin.port}`);
    for (const { socket } of [silent, partial, stalled]) socket.on('error', () => {});
    partial.socket.write(hello.subarray(0, 40));
    stalled.socket.write(hello);

    const closed = await Promise.all([silent, partial, stalled].map(({ socket }) => closesWithin(socket, 5000)));

    expect(silent.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(closed.every((ms) => ms > 0)).toBe(true);
    const timeouts = proxy.logs.filter((line) => line.includes('"error":"request_timeout"'));
    expect(timeouts).toHaveLength(3);
    expect(JSON.parse(timeouts[0]!)).toMatchObject({ level: 'warn', method: 'CONNECT', status: 408 });
    expect(timeouts.filter((line) => line.includes('no request arrived in it within 300ms (--headers-timeout)'))).toHaveLength(2);
    expect(timeouts.filter((line) => line.includes('its TLS handshake did not finish within 300ms (--headers-timeout)'))).toHaveLength(1);
  });

  it('gives the first request inside the decrypted tunnel --headers-timeout (a 408 inside TLS), and closes it idle between requests after --keep-alive-timeout', async () => {
    const proxy = await interceptingProxy({ headersTimeoutMs: 400, keepAliveTimeoutMs: 100 });
    const path = route(respond(200, { 'cache-control': 'no-store' }, 'kept alive'));
    const secureTunnel = async () => {
      const { socket } = await openTunnel(proxy.url, `localhost:${origin.port}`);
      const secure = tls.connect({ socket, servername: 'localhost', ca: proxyCa.ca.certPem });
      secure.on('error', () => {});
      await once(secure, 'secureConnect');
      const received: Buffer[] = [];
      secure.on('data', (chunk: Buffer) => received.push(chunk));
      return { secure, received: () => Buffer.concat(received).toString('latin1') };
    };

    // Each close is watched from the tunnel's start: on a loaded machine the mute one's 408 can
    // come before the other tunnel has its answer.
    const mute = await secureTunnel();
    const muteClosed = closesWithin(mute.secure, 5000);
    const used = await secureTunnel();
    const usedClosed = closesWithin(used.secure, 5000);
    used.secure.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`);
    await eventually(() => used.received().includes('kept alive'), 5000);
    const [muteMs, idleMs] = await Promise.all([muteClosed, usedClosed]);

    expect(muteMs).toBeGreaterThan(0);
    expect(mute.received()).toMatch(/^HTTP\/1\.1 408 [^]*408 request_timeout: the request head did not arrive within 400ms/);
    expect(idleMs).toBeGreaterThan(0);
    expect(used.received()).toMatch(/^HTTP\/1\.1 200 [^]*kept alive/);
  });
});

describe('identity inside tunnels', () => {
  it('takes the client from the CONNECT\'s Proxy-Authorization, unless a request inside names itself', async () => {
    const proxy = await interceptingProxy();
    const path = route(respond(200, { 'cache-control': 'no-store' }, 'who'));
    const auth = { 'proxy-authorization': `Basic ${Buffer.from('scraper-7:pw').toString('base64')}` };
    const url = `https://localhost:${origin.port}${path}`;

    await httpsThroughTunnel(proxy.url, url, { ca: proxyCa.ca.certPem, servername: 'localhost', connectHeaders: auth });
    await httpsThroughTunnel(proxy.url, url, { ca: proxyCa.ca.certPem, servername: 'localhost', connectHeaders: auth, headers: { 'x-proxy-client': 'named-inside' } });

    const lines = proxy.logs.filter((line) => line.includes(`"url":"${url}"`)).map((line) => JSON.parse(line) as { client: string });
    expect(lines.map((line) => line.client)).toEqual(['scraper-7', 'named-inside']);
    expect(origin.requestsTo(path).every((r) => r.headers['proxy-authorization'] === undefined && r.headers['x-proxy-client'] === undefined)).toBe(true);
  });

  it('answers the CONNECT with 407 under --require-auth, and lets the requests of an authenticated CONNECT through', async () => {
    const proxy = await interceptingProxy({ identity: { header: 'x-proxy-client', users: { 'scraper-7': 'pw' }, requireAuth: true } });
    const path = route(respond(200, { 'cache-control': 'max-age=60' }, 'members only'));

    const { socket, head } = await openTunnel(proxy.url, `localhost:${origin.port}`);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 407 /);
    expect(head).toMatch(/proxy-authenticate: Basic/i);

    const auth = { 'proxy-authorization': `Basic ${Buffer.from('scraper-7:pw').toString('base64')}` };
    const res = await httpsThroughTunnel(proxy.url, `https://localhost:${origin.port}${path}`, { ca: proxyCa.ca.certPem, servername: 'localhost', connectHeaders: auth });
    expect(res.status).toBe(200);
    expect(res.text).toBe('members only');
  });
});

describe('plain HTTP inside CONNECT (undici\'s ProxyAgent tunnels http:// by default)', () => {
  let plainOrigin: Origin;
  beforeAll(async () => {
    plainOrigin = await startOrigin();
  });
  afterAll(async () => {
    await plainOrigin?.close();
  });

  for (const intercept of [false, true]) {
    it(`is served through the pipeline as http://host:port and cached${intercept ? ' (with --intercept)' : ' (without --intercept)'}`, async () => {
      const proxy = intercept ? await interceptingProxy() : await startProxy({ connectPorts: [[1, 65535]] });
      if (!intercept) proxies.push(proxy);
      const agent = agentFor(proxy);
      const path = `/plain-${intercept}`;
      plainOrigin.route(path, respond(200, { 'cache-control': 'max-age=60', etag: '"h1"' }, 'plain in a tunnel'));

      const miss = await get(agent, `http://127.0.0.1:${plainOrigin.port}${path}`);
      const hit = await get(agent, `http://127.0.0.1:${plainOrigin.port}${path}`);

      expect(miss.text).toBe('plain in a tunnel');
      expect(miss.headers['cache-status']).toMatch(/fwd=uri-miss/);
      expect(hit.text).toBe('plain in a tunnel');
      expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(plainOrigin.requestsTo(path)).toHaveLength(1);
      expect(proxy.logs.join('')).toContain(`"url":"http://127.0.0.1:${plainOrigin.port}${path}"`);
    });
  }
});
