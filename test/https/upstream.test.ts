// HTTPS to origins (src/http/upstream.ts): absolute-form https:// request-targets over a plain
// proxy connection are fetched over TLS, cached under their own scheme, verified against
// Node's roots plus --upstream-ca, and every TLS failure is a 502 that names the check.
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy, defaultConfig } from '../../src/index.js';
import { urlKey } from '../../src/cache/keys.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';
import { makeTestCa, writeTemp, type TestCa } from '../helpers/tls.js';

describe('HTTPS origins for absolute-form https:// requests (RFC 9112 §3.2.2)', () => {
  let originCa: TestCa;
  let origin: Origin;
  let proxy: TestProxy;
  let tlsConnections = 0;

  beforeAll(async () => {
    originCa = await makeTestCa('origin-ca');
    origin = await startOrigin({}, { tls: await originCa.issue(['127.0.0.1', 'localhost']) });
    origin.server.on('secureConnection', () => tlsConnections++);
    proxy = await startProxy({ upstreamCa: originCa.certFile });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
    originCa?.remove();
  });

  it('fetches over TLS and serves the second request from the cache, with one origin request (RFC 9111 §4)', async () => {
    origin.route('/page', respond(200, { 'cache-control': 'max-age=60', etag: '"p1"', 'content-type': 'text/html' }, '<p>secure</p>'));

    const miss = await viaProxy(proxy.url, `${origin.url}/page`);
    const hit = await viaProxy(proxy.url, `${origin.url}/page`);

    expect(miss.status).toBe(200);
    expect(miss.headers['cache-status']).toMatch(/fwd=uri-miss; fwd-status=200/);
    expect(hit.status).toBe(200);
    expect(hit.text).toBe('<p>secure</p>');
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/page')).toHaveLength(1);
    expect(origin.requestsTo('/page')[0]!.headers['host']).toBe(origin.host);
  });

  it('reuses kept-alive TLS connections to the origin', async () => {
    origin.route('/nostore', respond(200, { 'cache-control': 'no-store' }, 'fresh every time'));
    const before = tlsConnections;

    for (let i = 0; i < 4; i++) expect((await viaProxy(proxy.url, `${origin.url}/nostore`)).text).toBe('fresh every time');

    expect(origin.requestsTo('/nostore')).toHaveLength(4);
    expect(tlsConnections - before).toBeLessThanOrEqual(1);
  });

  it('answers 502 upstream_cert_name_mismatch when the certificate does not name the host', async () => {
    const other = await startOrigin({ '*': respond(200, {}, 'x') }, { tls: await originCa.issue(['elsewhere.example']) });
    try {
      const res = await viaProxy(proxy.url, `${other.url}/`);

      expect(res.status).toBe(502);
      expect(res.text).toMatch(/^502 upstream_cert_name_mismatch: the origin's certificate is not valid for this host name: 127\.0\.0\.1:\d+ \(ERR_TLS_CERT_ALTNAME_INVALID/);
      expect(other.requests).toHaveLength(0);
    } finally {
      await other.close();
    }
  });

  it('answers 502 upstream_tls_handshake when the origin does not speak TLS on that port', async () => {
    const plain = await startOrigin({ '*': respond(200, {}, 'plain') });
    try {
      const res = await viaProxy(proxy.url, `https://127.0.0.1:${plain.port}/`);

      expect(res.status).toBe(502);
      expect(res.text).toMatch(/^502 upstream_tls_handshake: the TLS handshake with the origin failed: 127\.0\.0\.1:\d+ \((EPROTO|ERR_SSL_\w+): wrong version number\); does it speak TLS on this port\?\n$/);
    } finally {
      await plain.close();
    }
  });

  it('keeps http://host:port and https://host:port apart in the cache: the scheme is part of the key', async () => {
    expect(urlKey(new URL('http://example.com:443/a'))).not.toBe(urlKey(new URL('https://example.com/a')));

    // One port speaking both: TLS when the first byte is a handshake record (22), else plain HTTP.
    // A TLSSocket reads what was unshifted by itself; the HTTP parser needs the socket resumed.
    const tls = await originCa.issue(['127.0.0.1']);
    const handler = (scheme: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`over ${scheme}`);
    const plainServer = http.createServer(handler('http'));
    const tlsServer = https.createServer(tls, handler('https'));
    const both = net.createServer((socket) => {
      socket.once('data', (first: Buffer) => {
        socket.pause();
        socket.unshift(first);
        if (first[0] === 22) {
          tlsServer.emit('connection', socket);
        } else {
          plainServer.emit('connection', socket);
          socket.resume();
        }
      });
    });
    both.listen(0, '127.0.0.1');
    await once(both, 'listening');
    const { port } = both.address() as net.AddressInfo;
    try {
      expect((await viaProxy(proxy.url, `http://127.0.0.1:${port}/same`)).text).toBe('over http');
      expect((await viaProxy(proxy.url, `https://127.0.0.1:${port}/same`)).text).toBe('over https');
      const plainHit = await viaProxy(proxy.url, `http://127.0.0.1:${port}/same`);
      const tlsHit = await viaProxy(proxy.url, `https://127.0.0.1:${port}/same`);
      expect([plainHit.text, tlsHit.text]).toEqual(['over http', 'over https']);
      expect(plainHit.headers['cache-status']).toMatch(/hit/);
      expect(tlsHit.headers['cache-status']).toMatch(/hit/);
    } finally {
      plainServer.closeAllConnections();
      tlsServer.closeAllConnections();
      both.close();
    }
  });
});

describe('trust for HTTPS origins', () => {
  let originCa: TestCa;
  let origin: Origin;

  beforeAll(async () => {
    originCa = await makeTestCa('untrusted-ca');
    origin = await startOrigin({ '*': respond(200, { 'cache-control': 'max-age=60' }, 'behind a private CA') }, { tls: await originCa.issue(['127.0.0.1']) });
  });

  afterAll(async () => {
    await origin?.close();
    originCa?.remove();
  });

  it("answers 502 upstream_cert_untrusted, naming the check and the flag that fixes it, when Node's roots do not know the origin's CA", async () => {
    const proxy = await startProxy();
    try {
      // A path of its own: the other tests here reach this origin, in any order.
      const res = await viaProxy(proxy.url, `${origin.url}/untrusted`);

      expect(res.status).toBe(502);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      expect(res.text).toMatch(/^502 upstream_cert_untrusted: the origin's certificate is not signed by a trusted CA: 127\.0\.0\.1:\d+ \(UNABLE_TO_VERIFY_LEAF_SIGNATURE[^)]*\); add its CA with --upstream-ca FILE\n$/);
      expect(origin.requestsTo('/untrusted')).toHaveLength(0);
      expect(proxy.logs.join('')).toMatch(/"error":"upstream_cert_untrusted"/);
    } finally {
      await proxy.stop();
    }
  });

  it('trusts the origin when --upstream-ca names its CA', async () => {
    const proxy = await startProxy({ upstreamCa: originCa.certFile });
    try {
      const res = await viaProxy(proxy.url, `${origin.url}/trusted`);
      expect(res.status).toBe(200);
      expect(res.text).toBe('behind a private CA');
    } finally {
      await proxy.stop();
    }
  });

  it('skips verification with --insecure-upstream, and warns at start', async () => {
    const proxy = await startProxy({ insecureUpstream: true });
    try {
      const res = await viaProxy(proxy.url, `${origin.url}/insecure`);
      expect(res.status).toBe(200);
      expect(proxy.logs.join('')).toMatch(/"level":"warn","msg":"--insecure-upstream: HTTPS origin certificates are NOT verified/);
    } finally {
      await proxy.stop();
    }
  });

  it('refuses to start when --upstream-ca cannot be read or holds no certificate, naming the flag', async () => {
    await expect(createProxy(defaultConfig({ upstreamCa: '/nonexistent/ca.pem', logLevel: 'silent' }))).rejects.toThrow(/^--upstream-ca: cannot read \/nonexistent\/ca\.pem: ENOENT$/);
    const notPem = writeTemp(originCa.dir, 'not-a-cert.txt', 'hello');
    await expect(createProxy(defaultConfig({ upstreamCa: notPem, logLevel: 'silent' }))).rejects.toThrow(/^--upstream-ca: expected a PEM file of CA certificates/);
  });
});
