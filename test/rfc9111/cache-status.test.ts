// RFC 9211: every response says what the cache did in a Cache-Status field: hit with the
// freshness left, fwd=<reason> with fwd-status when the origin was asked, stored, collapsed,
// and detail tokens for the proxy's own reasons.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { closedPort, respond, validating } from '../helpers/respond.js';

describe('the Cache-Status response field (RFC 9211)', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  let origin: Origin;
  let proxy: TestProxy;
  const get = (path: string, headers: Record<string, string> = {}) => viaProxy(proxy.url, `${origin.url}${path}`, { headers });

  beforeAll(async () => {
    origin = await startOrigin({
      '/cacheable': respond(200, { 'cache-control': 'max-age=60', 'content-length': '4' }, 'body'),
      '/cacheable-hit': respond(200, { 'cache-control': 'max-age=60' }, 'body'),
      '/validated': validating({ 'cache-control': 'max-age=60', etag: '"cs"' }, 'validated'),
      '/uncacheable': respond(200, { 'cache-control': 'no-store' }, 'nope'),
      '/any': respond(200, { 'cache-control': 'max-age=60' }, 'any'),
      '/reload': validating({ 'cache-control': 'max-age=60', etag: '"rl"' }, 'reloaded'),
    });
    proxy = await startProxy({}, { now: clock.now });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('says fwd=uri-miss with the origin\'s status, stored and the ttl when nothing was stored (RFC 9211 §2.2, §2.3, §2.5, §2.6)', async () => {
    const miss = await get('/cacheable');

    expect(miss.headers['cache-status']).toBe('etag-proxy; fwd=uri-miss; fwd-status=200; stored; ttl=60');
    expect(origin.requestsTo('/cacheable')).toHaveLength(1);
  });

  it('says hit with the remaining ttl when the response came from cache (RFC 9211 §2.1, §2.4)', async () => {
    await get('/cacheable-hit');
    clock.advance(15);
    const hit = await get('/cacheable-hit');

    expect(hit.headers['cache-status']).toBe('etag-proxy; hit; ttl=45');
    expect(hit.text).toBe('body');
    expect(origin.requestsTo('/cacheable-hit')).toHaveLength(1);
  });

  it('says fwd=stale; fwd-status=304 when a stale entry was revalidated (RFC 9211 §2.2, §2.3)', async () => {
    await get('/validated');
    clock.advance(61);
    const revalidated = await get('/validated');

    expect(revalidated.status).toBe(200);
    expect(revalidated.headers['cache-status']).toBe('etag-proxy; fwd=stale; fwd-status=304; ttl=60');
    expect(origin.requestsTo('/validated')).toHaveLength(2);
  });

  it('says fwd=request when the client\'s own Cache-Control made a fresh entry go upstream (RFC 9211 §2.2)', async () => {
    await get('/reload');
    clock.advance(1);
    const reload = await get('/reload', { 'cache-control': 'max-age=0' });

    expect(reload.status).toBe(200);
    expect(reload.text).toBe('reloaded');
    expect(reload.headers['cache-status']).toBe('etag-proxy; fwd=request; fwd-status=304; ttl=60');
    expect(reload.headers['age']).toBe('0');
    expect(origin.requestsTo('/reload')).toHaveLength(2);
    expect(origin.requestsTo('/reload')[1]!.headers['if-none-match']).toBe('"rl"');
  });

  it('says fwd=bypass with detail=authorization for a request with credentials that the stored, non-shareable entry may not answer (RFC 9211 §2.2, §2.8)', async () => {
    await get('/any');
    const bypass = await get('/any', { authorization: 'Basic dTpw' });

    expect(bypass.headers['cache-status']).toBe('etag-proxy; fwd=bypass; fwd-status=200; detail=authorization');
  });

  it('says fwd=method with detail=unsafe-method for POST (RFC 9211 §2.2)', async () => {
    const posted = await viaProxy(proxy.url, `${origin.url}/any`, { method: 'POST', body: 'x' });

    expect(posted.headers['cache-status']).toBe('etag-proxy; fwd=method; fwd-status=200; detail=unsafe-method');
  });

  it('says fwd=request when the request\'s own Cache-Control: no-store kept the cache out (RFC 9211 §2.2)', async () => {
    const forced = await get('/any', { 'cache-control': 'no-store' });

    expect(forced.headers['cache-status']).toBe('etag-proxy; fwd=request; fwd-status=200; detail=request-no-store');
  });

  it('names why a response was not stored (RFC 9211 §2.8)', async () => {
    const uncacheable = await get('/uncacheable');

    expect(uncacheable.headers['cache-status']).toBe('etag-proxy; fwd=uri-miss; fwd-status=200; detail=not-storable');
    expect(uncacheable.headers['cache-status']).not.toContain('stored');
  });

  it('sends Cache-Status on the proxy\'s own error responses', async () => {
    const refused = await viaProxy(proxy.url, `http://127.0.0.1:${await closedPort()}/unreachable`);

    expect(refused.status).toBe(502);
    expect(refused.headers['cache-status']).toBe('etag-proxy; fwd=uri-miss');
  });
});
