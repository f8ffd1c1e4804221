// Regression tests for a security review of the hardening work: secrets kept out of the store
// (invariant 4), per-requester answers not shared through collapsing or cookies (invariant 2),
// answer order for a CONNECT pipelined behind a request, and secrets kept out of log lines.
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import type { Entry } from '../../src/store/types.js';
import { rawRequest, viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond, sleep } from '../helpers/respond.js';

describe('what a stored entry keeps of the request (invariant 4)', () => {
  const stored: Entry[] = [];
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1 << 20, now: Date.now });
    const put = backend.entries.put.bind(backend.entries);
    backend.entries.put = (address, entry, ttl) => (stored.push(entry), put(address, entry, ttl));
    origin = await startOrigin({
      '/vary': respond(200, { 'cache-control': 'public, max-age=60', vary: 'Accept-Encoding' }, 'varied'),
      '/plain': respond(200, { 'cache-control': 'public, max-age=60' }, 'plain'),
    });
    proxy = await startProxy({}, { backend });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('never stores the filling request\'s cookies, credentials or other fields, with or without Vary', async () => {
    const secrets = {
      cookie: 'session=COOKIE-SECRET-123',
      'proxy-authorization': `Basic ${Buffer.from('scraper-7:Pr0xyPassw0rd').toString('base64')}`,
      'x-api-key': 'APIKEY-SECRET-456',
      authorization: 'Bearer AUTH-SECRET-789',
    };
    await viaProxy(proxy.url, `${origin.url}/vary`, { headers: secrets });
    await viaProxy(proxy.url, `${origin.url}/plain`, { headers: secrets });

    expect(stored).toHaveLength(2);
    const text = JSON.stringify(stored.map((entry) => entry.meta));
    for (const secret of ['COOKIE-SECRET-123', 'APIKEY-SECRET-456', 'AUTH-SECRET-789', secrets['proxy-authorization'].slice(6)]) expect(text).not.toContain(secret);
  });
});

describe('answers made for one requester (invariant 2)', () => {
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    origin = await startOrigin({
      '/account': async (req, res) => {
        const auth = req.headers['authorization'];
        if (!auth) return void res.writeHead(401, { 'content-type': 'text/plain' }).end('who are you?');
        await sleep(400);
        res.writeHead(200, { 'cache-control': 'max-age=60, must-revalidate' }).end(`account data for ${auth}`);
      },
      '/session-page': (req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`page for ${req.headers['cookie'] ?? 'nobody'}`),
      '/shared-page': (req, res) => void res.writeHead(200, { 'cache-control': 'public, max-age=60' }).end(`page for ${req.headers['cookie'] ?? 'nobody'}`),
      '/publicity': respond(200, { 'cache-control': 'max-age=60, publicity', 'set-cookie': 'id=alice' }, 'alice only'),
      '/quoted': respond(200, { 'cache-control': 'max-age=60, x="a,public"', 'set-cookie': 'id=alice' }, 'alice only'),
      '/cookie2': respond(200, { 'cache-control': 'max-age=60', 'set-cookie2': 'session=secret-20' }, 'cookie2 page'),
    });
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('does not hand a collapsed follower without credentials the answer fetched with another user\'s Authorization', async () => {
    const alice = viaProxy(proxy.url, `${origin.url}/account`, { headers: { authorization: 'Bearer alice-token' } });
    await sleep(100);
    const bob = await viaProxy(proxy.url, `${origin.url}/account`);
    expect((await alice).text).toBe('account data for Bearer alice-token');
    expect(bob.status).toBe(401);
    expect(bob.text).not.toContain('alice');
  });

  it('binds a page made for a request with cookies to those cookies unless the origin marks it shareable', async () => {
    const alice = await viaProxy(proxy.url, `${origin.url}/session-page`, { headers: { cookie: 'session=alice' } });
    const anonymous = await viaProxy(proxy.url, `${origin.url}/session-page`);
    const bob = await viaProxy(proxy.url, `${origin.url}/session-page`, { headers: { cookie: 'session=bob' } });
    const bobAgain = await viaProxy(proxy.url, `${origin.url}/session-page`, { headers: { cookie: 'session=bob' } });
    expect(alice.text).toBe('page for session=alice');
    expect(anonymous.text).toBe('page for nobody');
    expect(bob.text).toBe('page for session=bob');
    expect(bobAgain.text).toBe('page for session=bob');
    expect(bobAgain.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/session-page')).toHaveLength(3);

    await viaProxy(proxy.url, `${origin.url}/shared-page`, { headers: { cookie: 'session=alice' } });
    const shared = await viaProxy(proxy.url, `${origin.url}/shared-page`);
    expect(shared.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/shared-page')).toHaveLength(1);
  });

  it.each(['/publicity', '/quoted'])('reads `public` as a directive, not a substring: %s with Set-Cookie is not stored', async (path) => {
    await viaProxy(proxy.url, `${origin.url}${path}`);
    const second = await viaProxy(proxy.url, `${origin.url}${path}`);
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo(path)).toHaveLength(2);
  });

  it('treats the obsolete Set-Cookie2 as setting a cookie: not stored, never replayed', async () => {
    const first = await viaProxy(proxy.url, `${origin.url}/cookie2`);
    const second = await viaProxy(proxy.url, `${origin.url}/cookie2`);
    expect(first.headers['set-cookie2']).toBe('session=secret-20');
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/cookie2')).toHaveLength(2);
  });
});

describe('a CONNECT pipelined behind a pending request (RFC 9112 §9.3.2)', () => {
  it('answers the earlier request first, complete, then the CONNECT', async () => {
    const origin = await startOrigin({ '/slow': async (_req, res) => (await sleep(200), void res.writeHead(200, { 'content-type': 'text/plain' }).end('slow answer')) });
    const proxy = await startProxy();
    try {
      // A CONNECT to the proxy's own port is refused before any tunnel opens.
      const answer = await rawRequest(proxy.url, `GET ${origin.url}/slow HTTP/1.1\r\nHost: x\r\n\r\nCONNECT 127.0.0.1:${proxy.port} HTTP/1.1\r\nHost: x\r\n\r\n`, 3000);
      const slowAt = answer.indexOf('slow answer');
      const refusedAt = answer.indexOf('HTTP/1.1 403 Forbidden');
      expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(slowAt).toBeGreaterThan(0);
      expect(refusedAt).toBeGreaterThan(slowAt);
    } finally {
      await proxy.stop();
      await origin.close();
    }
  });
});

describe('secrets in request lines never reach the log (invariant 4)', () => {
  it('redacts query secrets and userinfo in early answers and CONNECT log lines', async () => {
    const proxy = await startProxy();
    try {
      const socket = net.connect(proxy.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.destroy();
      await rawRequest(proxy.url, 'TRACE http://127.0.0.1:9/b?token=SECRET-B HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
      await rawRequest(proxy.url, 'GET http://127.0.0.1:9/c?access_token=SECRET-C HTTP/2.0\r\nHost: x\r\n\r\n', 1000);
      await rawRequest(proxy.url, 'CONNECT user:SECRET-E@127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
      await rawRequest(proxy.url, 'CONNECT 127.0.0.1:443?token=SECRET-I HTTP/1.1\r\nHost: x\r\n\r\n', 1000);
      const logs = proxy.logs.join('');
      expect(logs).toMatch(/"status":405/);
      for (const secret of ['SECRET-B', 'SECRET-C', 'SECRET-E', 'SECRET-I']) expect(logs).not.toContain(secret);
    } finally {
      await proxy.stop();
    }
  });
});
