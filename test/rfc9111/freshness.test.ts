// RFC 9111 §4.2: how long a stored response stays fresh (s-maxage, max-age, Expires, heuristic
// freshness from Last-Modified) and the Age header on every response served from cache.
// Time comes from a fake clock: nothing here sleeps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond } from '../helpers/respond.js';

describe('freshness (RFC 9111 §4.2)', () => {
  // Whole seconds, so HTTP dates (second precision) and the clock agree exactly.
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const httpDate = (offsetSeconds = 0) => new Date(clock.now() + offsetSeconds * 1000).toUTCString();
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string) => viaProxy(proxy.url, `${origin.url}${path}`);

  beforeAll(async () => {
    origin = await startOrigin();
    proxy = await startProxy({}, { now: clock.now });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('serves a response from cache while its age is below max-age, and goes to the origin once it is not (RFC 9111 §5.2.2.1, §4.2)', async () => {
    origin.route('/max-age', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', date: httpDate() }).end('v'));

    await get('/max-age');
    clock.advance(59);
    const fresh = await get('/max-age');
    clock.advance(2);
    const stale = await get('/max-age');

    expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=1$/);
    expect(fresh.headers['age']).toBe('59');
    expect(fresh.text).toBe('v');
    expect(stale.headers['cache-status']).toContain('fwd=stale');
    expect(stale.text).toBe('v');
    expect(origin.requestsTo('/max-age')).toHaveLength(2);
  });

  it('answers only-if-cached from a fresh entry, and with 504 instead of going to the origin when nothing fresh is stored (RFC 9111 §5.2.1.7)', async () => {
    origin.route('/only-if-cached', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', etag: '"oic"' }).end('cached body'));
    const onlyIfCached = { headers: { 'cache-control': 'only-if-cached' } };

    const nothingYet = await viaProxy(proxy.url, `${origin.url}/only-if-cached`, onlyIfCached);
    expect(nothingYet.status).toBe(504);
    expect(nothingYet.text).toContain('not_cached');
    expect(origin.requestsTo('/only-if-cached')).toHaveLength(0);

    await get('/only-if-cached');
    const fresh = await viaProxy(proxy.url, `${origin.url}/only-if-cached`, onlyIfCached);
    expect(fresh.status).toBe(200);
    expect(fresh.text).toBe('cached body');

    clock.advance(120);
    const stale = await viaProxy(proxy.url, `${origin.url}/only-if-cached`, onlyIfCached);
    expect(stale.status).toBe(504);
    expect(origin.requestsTo('/only-if-cached')).toHaveLength(1);
  });

  it('uses s-maxage over a shorter max-age in a shared cache (RFC 9111 §5.2.2.10)', async () => {
    origin.route('/s-maxage-longer', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=10, s-maxage=100', date: httpDate() }).end('s'));

    await get('/s-maxage-longer');
    clock.advance(50);
    const fresh = await get('/s-maxage-longer');
    clock.advance(51);
    const stale = await get('/s-maxage-longer');

    expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=50$/);
    expect(stale.headers['cache-status']).toContain('fwd=stale');
    expect(origin.requestsTo('/s-maxage-longer')).toHaveLength(2);
  });

  it('uses s-maxage over a longer max-age in a shared cache (RFC 9111 §5.2.2.10)', async () => {
    origin.route('/s-maxage-shorter', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=100, s-maxage=10', date: httpDate() }).end('s'));

    await get('/s-maxage-shorter');
    clock.advance(20);
    const stale = await get('/s-maxage-shorter');

    expect(stale.headers['cache-status']).toContain('fwd=stale');
    expect(origin.requestsTo('/s-maxage-shorter')).toHaveLength(2);
  });

  it('computes freshness from Expires minus Date when there is no max-age (RFC 9111 §4.2.1)', async () => {
    origin.route('/expires', (_req, res) => void res.writeHead(200, { date: httpDate(), expires: httpDate(30) }).end('e'));

    await get('/expires');
    clock.advance(29);
    const fresh = await get('/expires');
    clock.advance(2);
    const stale = await get('/expires');

    expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=1$/);
    expect(fresh.headers['age']).toBe('29');
    expect(stale.headers['cache-status']).toContain('fwd=stale');
    expect(origin.requestsTo('/expires')).toHaveLength(2);
  });

  it('ignores Expires when max-age is present (RFC 9111 §5.3)', async () => {
    origin.route('/expires-and-max-age', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=10', date: httpDate(), expires: httpDate(3600) }).end('m'));

    await get('/expires-and-max-age');
    clock.advance(20);
    const stale = await get('/expires-and-max-age');

    expect(stale.headers['cache-status']).toContain('fwd=stale');
    expect(origin.requestsTo('/expires-and-max-age')).toHaveLength(2);
  });

  it('treats an invalid Expires value as already expired (RFC 9111 §5.3)', async () => {
    origin.route('/expires-invalid', (_req, res) => void res.writeHead(200, { date: httpDate(), expires: '0' }).end('0'));

    await get('/expires-invalid');
    const second = await get('/expires-invalid');

    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/expires-invalid')).toHaveLength(2);
  });

  it('gives a response with only Last-Modified a heuristic freshness of 10% of its age at Date (RFC 9111 §4.2.2)', async () => {
    const lastModified = httpDate(-1000);
    origin.route('/heuristic', (_req, res) => void res.writeHead(200, { date: httpDate(), 'last-modified': lastModified }).end('h'));

    await get('/heuristic');
    clock.advance(90);
    const fresh = await get('/heuristic');
    clock.advance(20);
    const stale = await get('/heuristic');

    expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=10$/);
    expect(fresh.headers['age']).toBe('90');
    expect(stale.headers['cache-status']).toContain('fwd=stale');
    const seen = origin.requestsTo('/heuristic');
    expect(seen).toHaveLength(2);
    expect(seen[1]!.headers['if-modified-since']).toBe(lastModified);
  });

  it('does not give heuristic freshness to a response without Last-Modified or explicit lifetime (RFC 9111 §4.2.2)', async () => {
    origin.route('/no-freshness', (_req, res) => void res.writeHead(200, { date: httpDate() }).end('n'));

    await get('/no-freshness');
    const second = await get('/no-freshness');

    expect(second.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/no-freshness')).toHaveLength(2);
  });

  it('sends Age with the time the response has spent in the cache on every hit (RFC 9111 §5.1, §4.2.3)', async () => {
    origin.route('/age', respond(200, { 'cache-control': 'max-age=600' }, 'a'));

    const miss = await get('/age');
    const atOnce = await get('/age');
    clock.advance(10);
    const later = await get('/age');
    clock.advance(125);
    const muchLater = await get('/age');

    expect(miss.headers['age']).toBeUndefined();
    expect(atOnce.headers['age']).toBe('0');
    expect(later.headers['age']).toBe('10');
    expect(muchLater.headers['age']).toBe('135');
    expect(muchLater.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=465$/);
    expect(origin.requestsTo('/age')).toHaveLength(1);
  });

  it('counts the Age the origin sent into the current age and the freshness left (RFC 9111 §4.2.3)', async () => {
    origin.route('/upstream-age', (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', age: '50', date: httpDate() }).end('u'));

    await get('/upstream-age');
    clock.advance(5);
    const fresh = await get('/upstream-age');
    clock.advance(6);
    const stale = await get('/upstream-age');

    expect(fresh.headers['age']).toBe('55');
    expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=5$/);
    expect(stale.headers['cache-status']).toContain('fwd=stale');
    expect(origin.requestsTo('/upstream-age')).toHaveLength(2);
  });

  it('goes to the origin when the request says max-age=0 even though the entry is fresh (RFC 9111 §5.2.1.1)', async () => {
    origin.route('/request-max-age', respond(200, { 'cache-control': 'max-age=600' }, 'r'));

    await get('/request-max-age');
    clock.advance(1);
    const forced = await viaProxy(proxy.url, `${origin.url}/request-max-age`, { headers: { 'cache-control': 'max-age=0' } });

    expect(forced.text).toBe('r');
    expect(forced.headers['cache-status']).not.toMatch(/hit/);
    expect(origin.requestsTo('/request-max-age')).toHaveLength(2);
  });
});
