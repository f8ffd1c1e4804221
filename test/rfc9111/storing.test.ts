// RFC 9111 §3: which responses a shared cache stores, and what it hands to other clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';

describe('storing responses in caches (RFC 9111 §3)', () => {
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it.each([200, 203, 300, 301, 404, 405, 410, 414, 501])(
    'stores a %i response with explicit freshness and answers the next request from cache (RFC 9111 §3)',
    async (status) => {
      const path = `/status/${status}`;
      origin.route(path, respond(status, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, `body ${status}`));

      const first = await get(path);
      const second = await get(path);

      expect(first.status).toBe(status);
      expect(first.text).toBe(`body ${status}`);
      expect(second.status).toBe(status);
      expect(second.text).toBe(`body ${status}`);
      expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(origin.requestsTo(path)).toHaveLength(1);
    },
  );

  it('stores a 204 response, which has no body, and serves it from cache (RFC 9111 §3)', async () => {
    origin.route('/status/204', respond(204, { 'cache-control': 'max-age=60' }));

    await get('/status/204');
    const second = await get('/status/204');

    expect(second.status).toBe(204);
    expect(second.body).toHaveLength(0);
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/status/204')).toHaveLength(1);
  });

  it('stores a status that is not cacheable by default when the response is explicitly fresh (RFC 9111 §3, 302 with max-age)', async () => {
    origin.route('/explicit-302', respond(302, { location: '/elsewhere', 'cache-control': 'max-age=60' }, 'moved'));

    await get('/explicit-302');
    const second = await get('/explicit-302');

    expect(second.status).toBe(302);
    expect(second.headers['location']).toBe('/elsewhere');
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/explicit-302')).toHaveLength(1);
  });

  it('does not store a status that is not cacheable by default when nothing makes it fresh (RFC 9111 §3, 302 with Last-Modified only)', async () => {
    const lastModified = new Date(Date.now() - 3600_000).toUTCString();
    origin.route('/heuristic-302', respond(302, { location: '/elsewhere', 'last-modified': lastModified }, 'moved'));

    await get('/heuristic-302');
    const second = await get('/heuristic-302');

    expect(second.status).toBe(302);
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/heuristic-302')).toHaveLength(2);
  });

  it('does not store a response with Cache-Control: no-store (RFC 9111 §5.2.2.5)', async () => {
    origin.route('/no-store', respond(200, { 'cache-control': 'no-store, max-age=60' }, 'secret'));

    const first = await get('/no-store');
    const second = await get('/no-store');

    expect(first.text).toBe('secret');
    expect(second.text).toBe('secret');
    expect(first.headers['cache-status']).toContain('detail=not-storable');
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/no-store')).toHaveLength(2);
  });

  it('does not store a response to a request with Cache-Control: no-store (RFC 9111 §5.2.1.5)', async () => {
    origin.route('/request-no-store', respond(200, { 'cache-control': 'max-age=60' }, 'fresh'));

    const first = await get('/request-no-store', { 'cache-control': 'no-store' });
    const second = await get('/request-no-store');

    expect(first.text).toBe('fresh');
    expect(second.text).toBe('fresh');
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/request-no-store')).toHaveLength(2);
  });

  it('does not store a response with Cache-Control: private in a shared cache (RFC 9111 §5.2.2.7)', async () => {
    origin.route('/private', respond(200, { 'cache-control': 'private, max-age=60' }, 'mine'));

    const first = await get('/private');
    const second = await get('/private');

    expect(first.text).toBe('mine');
    expect(second.text).toBe('mine');
    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/private')).toHaveLength(2);
  });

  it('does not store the response to a request with Authorization without public, s-maxage or must-revalidate, nor answer credentials with another request\'s entry (RFC 9111 §3.5)', async () => {
    origin.route('/authorized', (req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`for ${req.headers['authorization'] ?? 'anonymous'}`);
    });

    const alice = await get('/authorized', { authorization: 'Bearer alice' });
    const anonymous = await get('/authorized');
    const aliceAgain = await get('/authorized', { authorization: 'Bearer alice' });

    expect(alice.text).toBe('for Bearer alice');
    expect(alice.headers['cache-status']).toBe('etag-proxy; fwd=uri-miss; fwd-status=200; detail=not-storable');
    expect(anonymous.text).toBe('for anonymous');
    expect(aliceAgain.text).toBe('for Bearer alice');
    expect(aliceAgain.headers['cache-status']).not.toMatch(/hit/);
    const seen = origin.requestsTo('/authorized');
    expect(seen).toHaveLength(3);
    expect(seen[0]!.headers['authorization']).toBe('Bearer alice');
    expect(seen[2]!.headers['authorization']).toBe('Bearer alice');
  });

  it('gives Set-Cookie to the client whose request caused it and never serves it to other clients from cache (RFC 9111 §3.1, shared cache)', async () => {
    // `public`: http-cache-semantics treats a shared cache's Set-Cookie response as stale otherwise.
    origin.route('/cookie', respond(200, { 'cache-control': 'public, max-age=60', 'set-cookie': 'session=alice; HttpOnly' }, 'page'));

    const first = await get('/cookie');
    const second = await get('/cookie');

    expect(first.headers['set-cookie']).toEqual(['session=alice; HttpOnly']);
    expect(second.text).toBe('page');
    expect(second.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(second.headers['set-cookie']).toBeUndefined();
    expect(origin.requestsTo('/cookie')).toHaveLength(1);
  });

  it('answers HEAD from a stored GET response with its header fields and no body (RFC 9110 §9.3.2, RFC 9111 §4)', async () => {
    origin.route('/head', respond(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain', etag: '"h1"' }, 'the body'));

    const got = await get('/head');
    const head = await viaProxy(proxy.url, `${origin.url}/head`, { method: 'HEAD' });

    expect(got.text).toBe('the body');
    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(head.headers['etag']).toBe('"h1"');
    expect(head.headers['content-type']).toBe('text/plain');
    expect(head.headers['content-length']).toBe('8');
    expect(head.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo('/head')).toHaveLength(1);
  });

  it('forwards HEAD as HEAD when nothing is stored, and a later GET still goes to the origin', async () => {
    origin.route('/head-miss', respond(200, { 'cache-control': 'max-age=60' }, 'body'));

    const head = await viaProxy(proxy.url, `${origin.url}/head-miss`, { method: 'HEAD' });
    const got = await get('/head-miss');

    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(got.text).toBe('body');
    expect(origin.requestsTo('/head-miss').map((r) => r.method)).toEqual(['HEAD', 'GET']);
  });

  it('does not store the response to a POST, and does not answer a GET with it (RFC 9111 §3)', async () => {
    origin.route('/posted', (req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60' }).end(`${req.method} answer`));

    const posted = await viaProxy(proxy.url, `${origin.url}/posted`, { method: 'POST', body: 'x' });
    const got = await get('/posted');

    expect(posted.text).toBe('POST answer');
    expect(got.text).toBe('GET answer');
    expect(origin.requestsTo('/posted').map((r) => r.method)).toEqual(['POST', 'GET']);
  });
});
