// RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI and the
// same-origin Location / Content-Location URIs. Concurrency-control preconditions on unsafe
// methods (If-Match, If-Unmodified-Since, If-None-Match: *) reach the origin untouched. A store
// that fails while invalidating (or refreshing, on a revalidation) never fails the request.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailable } from '../../src/errors.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin, type OriginHandler } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { validating } from '../helpers/respond.js';

/** GET answers a cacheable counter; unsafe methods answer `status` with optional headers. */
function resource(status = 200, headers: Record<string, string> = {}): OriginHandler {
  let version = 0;
  return (req, res) => {
    if (req.method === 'GET') return void res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`version ${++version}`);
    res.writeHead(status, headers).end(`${req.method} done`);
  };
}

describe('invalidating stored responses (RFC 9111 §4.4)', () => {
  let origin: Origin;
  let other: Origin;
  let proxy: TestProxy;
  const get = (path: string, at: Origin = origin) => viaProxy(proxy.url, `${at.url}${path}`);
  const send = (method: string, path: string, headers: Record<string, string> = {}) =>
    viaProxy(proxy.url, `${origin.url}${path}`, { method, headers, body: `${method} body` });

  /** Store `path` and check that the next GET is a hit. */
  async function cached(path: string, at: Origin = origin): Promise<void> {
    await get(path, at);
    const hit = await get(path, at);
    expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
  }

  beforeAll(async () => {
    origin = await startOrigin();
    other = await startOrigin();
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
    await other?.close();
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'invalidates the target URI after a non-error response to %s (RFC 9111 §4.4)',
    async (method) => {
      const path = `/target/${method}`;
      origin.route(path, resource(200));
      await cached(path);

      const unsafe = await send(method, path);
      const after = await get(path);

      expect(unsafe.status).toBe(200);
      expect(unsafe.text).toBe(`${method} done`);
      expect(unsafe.headers['cache-status']).toContain('detail=unsafe-method');
      expect(after.text).toBe('version 2');
      expect(after.headers['cache-status']).not.toMatch(/hit/);
      expect(origin.requestsTo(path).map((r) => r.method)).toEqual(['GET', method, 'GET']);
      expect(origin.requestsTo(path)[1]!.body.toString()).toBe(`${method} body`);
    },
  );

  it('invalidates after a 3xx response, which is not an error (RFC 9111 §4.4)', async () => {
    origin.route('/redirected-post', resource(303, { location: '/redirected-post' }));
    await cached('/redirected-post');

    await send('POST', '/redirected-post');
    const after = await get('/redirected-post');

    expect(after.text).toBe('version 2');
    expect(origin.requestsTo('/redirected-post')).toHaveLength(3);
  });

  it.each([404, 409, 500, 503])('does not invalidate after a %i error response (RFC 9111 §4.4)', async (status) => {
    const path = `/error/${status}`;
    origin.route(path, resource(status));
    await cached(path);

    const unsafe = await send('POST', path);
    const after = await get(path);

    expect(unsafe.status).toBe(status);
    expect(after.text).toBe('version 1');
    expect(after.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(origin.requestsTo(path).map((r) => r.method)).toEqual(['GET', 'POST']);
  });

  it('invalidates the same-origin URI in Location (RFC 9111 §4.4)', async () => {
    origin.route('/items', resource(201, { location: '/items/7' }));
    origin.route('/items/7', resource());
    await cached('/items/7');

    await send('POST', '/items');
    const after = await get('/items/7');

    expect(after.text).toBe('version 2');
    expect(origin.requestsTo('/items/7')).toHaveLength(2);
  });

  it('invalidates the same-origin URI in Content-Location, absolute or relative (RFC 9111 §4.4)', async () => {
    origin.route('/docs/edit', (req, res) => {
      res.writeHead(200, { 'content-location': `${origin.url}/docs/current`, location: 'latest' }).end('ok');
    });
    origin.route('/docs/current', resource());
    origin.route('/docs/latest', resource());
    await cached('/docs/current');
    await cached('/docs/latest');

    await send('PUT', '/docs/edit');
    const current = await get('/docs/current');
    const latest = await get('/docs/latest');

    expect(current.text).toBe('version 2');
    expect(latest.text).toBe('version 2');
    expect(origin.requestsTo('/docs/current')).toHaveLength(2);
    expect(origin.requestsTo('/docs/latest')).toHaveLength(2);
  });

  it('does not invalidate a Location on another origin (RFC 9111 §4.4)', async () => {
    other.route('/elsewhere', resource());
    origin.route('/moves', resource(201, { location: `${other.url}/elsewhere`, 'content-location': `${other.url}/elsewhere` }));
    await cached('/elsewhere', other);

    await send('POST', '/moves');
    const after = await get('/elsewhere', other);

    expect(after.text).toBe('version 1');
    expect(after.headers['cache-status']).toMatch(/^etag-proxy; hit/);
    expect(other.requestsTo('/elsewhere')).toHaveLength(1);
  });

  it('invalidates every stored variant of the target URI (RFC 9111 §4.4, §4.1)', async () => {
    let version = 0;
    origin.route('/varied', (req, res) => {
      if (req.method !== 'GET') return void res.writeHead(204).end();
      res.writeHead(200, { 'cache-control': 'max-age=600', vary: 'accept-language' }).end(`${req.headers['accept-language']} ${++version}`);
    });
    const getIn = (language: string) => viaProxy(proxy.url, `${origin.url}/varied`, { headers: { 'accept-language': language } });
    await getIn('en');
    await getIn('fr');

    await send('DELETE', '/varied');
    const en = await getIn('en');
    const fr = await getIn('fr');

    expect(en.text).toBe('en 3');
    expect(fr.text).toBe('fr 4');
    expect(origin.requestsTo('/varied').map((r) => r.method)).toEqual(['GET', 'GET', 'DELETE', 'GET', 'GET']);
  });

  it('forwards If-Match and If-Unmodified-Since on PUT to the origin untouched (RFC 9110 §13.1.1, §13.1.4)', async () => {
    origin.route('/guarded', (req, res) => {
      const ok = req.headers['if-match'] === '"v7"';
      res.writeHead(ok ? 204 : 412).end();
    });
    const since = 'Tue, 01 Jul 2025 10:00:00 GMT';

    const accepted = await send('PUT', '/guarded', { 'if-match': '"v7"', 'if-unmodified-since': since });
    const rejected = await send('PUT', '/guarded', { 'if-match': '"v6"' });

    expect(accepted.status).toBe(204);
    expect(rejected.status).toBe(412);
    const seen = origin.requestsTo('/guarded');
    expect(seen).toHaveLength(2);
    expect(seen[0]!.headers['if-match']).toBe('"v7"');
    expect(seen[0]!.headers['if-unmodified-since']).toBe(since);
    expect(seen[1]!.headers['if-match']).toBe('"v6"');
  });

  it('forwards If-None-Match: * on PUT (create only if absent) to the origin untouched (RFC 9110 §13.1.2)', async () => {
    origin.route('/create-once', (req, res) => void res.writeHead(req.headers['if-none-match'] === '*' ? 412 : 201).end());

    const answer = await send('PUT', '/create-once', { 'if-none-match': '*' });

    expect(answer.status).toBe(412);
    expect(origin.requestsTo('/create-once')[0]!.headers['if-none-match']).toBe('*');
  });

  it('does not invalidate after a safe method such as OPTIONS (RFC 9111 §4.4)', async () => {
    origin.route('/options', resource(200));
    await cached('/options');

    await send('OPTIONS', '/options');
    const after = await get('/options');

    expect(after.text).toBe('version 1');
    expect(after.headers['cache-status']).toMatch(/^etag-proxy; hit/);
  });
});

describe('a store that fails while invalidating or revalidating never fails the request (invariant 5, RFC 9111 §4.4, §4.3.3, §4.3.4)', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const failing = { writes: false };
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string) => viaProxy(proxy.url, `${origin.url}${path}`);

  beforeAll(async () => {
    // The memory store, whose writes (invalidate, refresh, put) reject as a store that is down
    // does once `failing.writes` is set; lookups keep working, so entries can be found stale.
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1 << 20, now: clock.now });
    const entries = backend.entries;
    const down = () => Promise.reject(new StoreUnavailable('store down (test)'));
    const { invalidate, refresh, put } = entries;
    entries.invalidate = (url) => (failing.writes ? down() : invalidate.call(entries, url));
    entries.refresh = (...args) => (failing.writes ? down() : refresh.apply(entries, args));
    entries.put = (...args) => (failing.writes ? down() : put.apply(entries, args));
    origin = await startOrigin();
    proxy = await startProxy({}, { now: clock.now, backend });
  });

  afterEach(() => {
    failing.writes = false;
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it.each(['POST', 'DELETE'])('answers a %s with the origin\'s response when the store fails to invalidate', async (method) => {
    const path = `/failing-invalidation/${method}`;
    origin.route(path, resource(201, { 'x-origin': 'yes' }));
    await get(path);

    failing.writes = true;
    const unsafe = await viaProxy(proxy.url, `${origin.url}${path}`, { method, body: 'payload' });

    expect(unsafe.status).toBe(201);
    expect(unsafe.headers['x-origin']).toBe('yes');
    expect(unsafe.text).toBe(`${method} done`);
    expect(origin.requestsTo(path).map((r) => r.method)).toEqual(['GET', method]);
  });

  it("answers with the origin's new response when a revalidation's replacement may not be stored and the store fails to remove the old entry", async () => {
    let version = 0;
    origin.route('/failing-revalidation', (_req, res) => {
      version++;
      res.writeHead(200, { 'cache-control': version === 1 ? 'max-age=10' : 'no-store', etag: `"v${version}"` }).end(`version ${version}`);
    });
    await get('/failing-revalidation');
    clock.advance(20);

    failing.writes = true;
    const answer = await get('/failing-revalidation');

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('version 2');
    expect(answer.headers['cache-status']).toMatch(/fwd=stale; fwd-status=200/);
    expect(origin.requestsTo('/failing-revalidation')).toHaveLength(2);
  });

  it('answers with the stored body when the origin says 304 and the store fails to refresh the entry', async () => {
    origin.route('/failing-refresh', validating({ 'cache-control': 'max-age=10', etag: '"r"' }, 'stored body'));
    await get('/failing-refresh');
    clock.advance(20);

    failing.writes = true;
    const answer = await get('/failing-refresh');

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('stored body');
    expect(answer.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    expect(origin.requestsTo('/failing-refresh')).toHaveLength(2);
  });
});
