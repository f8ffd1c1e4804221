// RFC 5861: stale-while-revalidate (serve stale, refresh once in the background) and
// stale-if-error (serve stale when the origin is down or answers 5xx), each only inside its
// window. Freshness comes from a fake clock; only the background refresh is awaited. The
// background refresh is a transaction of the step table with no client (pipeline/run.ts): its
// cases run on the memory store and on Redis.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, proxyReceived, startProxy, type TestProxy } from '../helpers/proxy.js';
import { cleanNamespace, redisForTests, testNamespace } from '../helpers/redis.js';
import { eventually } from '../helpers/respond.js';

describe('stale content (RFC 5861)', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  let proxy: TestProxy;
  const origins: Origin[] = [];

  /**
   * `revalidationHeld`: the origin answers a revalidation only once `revalidationHeld.until` resolves;
   * `through`: the proxy the client asks (the file's own unless given). `state.cacheControl` changes
   * what the origin says from then on.
   */
  async function versionedOrigin(cacheControl: string, options: { revalidationHeld?: { until: Promise<void> }; through?: () => TestProxy } = {}) {
    const state = { version: 1, failWith: 0, cacheControl };
    const origin = await startOrigin({
      '/r': async (req, res) => {
        if (state.failWith) return void res.writeHead(state.failWith, { 'content-type': 'text/plain' }).end(`origin says ${state.failWith}`);
        if (req.headers['if-none-match'] && options.revalidationHeld) await options.revalidationHeld.until;
        const etag = `"v${state.version}"`;
        if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': state.cacheControl }).end();
        res.writeHead(200, { 'cache-control': state.cacheControl, etag, 'content-type': 'text/plain' }).end(`version ${state.version}`);
      },
    });
    origins.push(origin);
    const through = options.through ?? (() => proxy);
    return { origin, state, get: () => viaProxy(through().url, `${origin.url}/r`) };
  }

  const backgroundDone = (on: TestProxy = proxy) => eventually(() => on.proxy.ctx.background.size === 0);

  beforeAll(async () => {
    proxy = await startProxy({}, { now: clock.now });
  });

  afterEach(async () => {
    await backgroundDone();
    await Promise.all(origins.splice(0).map((origin) => origin.close()));
  });

  afterAll(async () => {
    await proxy?.stop();
  });

  describe.each(['memory', 'redis'] as const)('stale-while-revalidate on the %s store (RFC 5861 §3)', (store) => {
    let swrProxy: TestProxy;
    let redis: { url: string; stop(): Promise<void> } | undefined;
    const namespace = testNamespace('stale');
    const through = () => swrProxy;

    beforeAll(async () => {
      redis = store === 'redis' ? await redisForTests() : undefined;
      swrProxy = await startProxy(redis ? { store: redis.url, namespace, storeTimeoutMs: 5000 } : {}, { now: clock.now });
    });

    afterEach(async () => {
      await backgroundDone(swrProxy);
    });

    afterAll(async () => {
      await swrProxy?.stop();
      if (redis) await cleanNamespace(redis.url, namespace);
      await redis?.stop();
    });

    it('serves the stale response at once and refreshes it in the background exactly once, however many clients ask meanwhile', async () => {
      // The background revalidation is answered only once all eight stale requests are in.
      const revalidationHeld = { until: Promise.resolve() };
      const { origin, state, get } = await versionedOrigin('max-age=10, stale-while-revalidate=60', { revalidationHeld, through });
      await get();
      state.version = 2;
      clock.advance(20);
      revalidationHeld.until = proxyReceived(swrProxy, '/r', 8);

      const staleAnswers = [];
      for (let i = 0; i < 5; i++) staleAnswers.push(await get());
      const concurrent = await Promise.all([get(), get(), get()]);

      for (const answer of [...staleAnswers, ...concurrent]) {
        expect(answer.status).toBe(200);
        expect(answer.text).toBe('version 1');
        expect(answer.headers['etag']).toBe('"v1"');
        expect(answer.headers['age']).toBe('20');
        expect(answer.headers['cache-status']).toMatch(/^etag-proxy; hit; .*detail=stale-while-revalidate/);
      }
      await backgroundDone(swrProxy);
      const refreshed = await get();

      expect(refreshed.text).toBe('version 2');
      expect(refreshed.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=10$/);
      const seen = origin.requestsTo('/r');
      expect(seen).toHaveLength(2);
      expect(seen[1]!.headers['if-none-match']).toBe('"v1"');
    });

    it('refreshes the entry\'s metadata in the background when the origin answers 304, keeping the body', async () => {
      const { origin, get } = await versionedOrigin('max-age=10, stale-while-revalidate=60', { through });
      await get();
      clock.advance(20);

      const stale = await get();
      await backgroundDone(swrProxy);
      const fresh = await get();

      expect(stale.text).toBe('version 1');
      expect(fresh.text).toBe('version 1');
      expect(fresh.headers['age']).toBe('0');
      expect(fresh.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=10$/);
      expect(origin.requestsTo('/r')).toHaveLength(2);
    });

    it('does not serve stale beyond the stale-while-revalidate window: the client waits for the origin', async () => {
      const { origin, state, get } = await versionedOrigin('max-age=10, stale-while-revalidate=60', { through });
      await get();
      state.version = 2;
      clock.advance(100);

      const answer = await get();

      expect(answer.text).toBe('version 2');
      expect(answer.headers['cache-status']).toMatch(/fwd=stale; fwd-status=200/);
      expect(answer.headers['cache-status']).not.toContain('stale-while-revalidate');
      expect(origin.requestsTo('/r')).toHaveLength(2);
    });

    it('takes the background answer as a revalidation in the foreground would: a 200 that may not be stored (no-store) removes the stale entry, so the next client goes to the origin', async () => {
      const { origin, state, get } = await versionedOrigin('max-age=10, stale-while-revalidate=60', { through });
      await get();
      state.version = 2;
      state.cacheControl = 'no-store';
      clock.advance(20);

      const stale = await get();
      await backgroundDone(swrProxy);
      const next = await get();

      expect(stale.text).toBe('version 1');
      expect(stale.headers['cache-status']).toContain('detail=stale-while-revalidate');
      expect(next.text).toBe('version 2');
      expect(next.headers['cache-status']).toContain('fwd=uri-miss');
      expect(origin.requestsTo('/r')).toHaveLength(3);
    });

    it('logs a background revalidation that failed once, as a warning, and writes no access-log line for it: it answered no client', async () => {
      const { origin, get } = await versionedOrigin('max-age=10, stale-while-revalidate=60', { through });
      const url = `${origin.url}/r`;
      await get();
      await origin.close();
      clock.advance(20);

      const stale = await get();
      await backgroundDone(swrProxy);

      expect(stale.status).toBe(200);
      expect(stale.text).toBe('version 1');
      const lines = swrProxy.logs.filter((line) => line.includes(url)).map((line) => JSON.parse(line) as Record<string, unknown>);
      const failures = lines.filter((line) => line['msg'] === 'background revalidation failed');
      expect(failures).toEqual([expect.objectContaining({ level: 'warn', url, error: 'upstream_refused' })]);
      expect(lines.filter((line) => line['msg'] === 'request').map((line) => line['status'])).toEqual([200, 200]);
    });
  });

  describe('stale-if-error (RFC 5861 §4)', () => {
    it('serves the stale response when the origin is down (connection refused)', async () => {
      const { origin, get } = await versionedOrigin('max-age=10, stale-if-error=60');
      await get();
      await origin.close();
      clock.advance(20);

      const answer = await get();

      expect(answer.status).toBe(200);
      expect(answer.text).toBe('version 1');
      expect(answer.headers['age']).toBe('20');
      expect(answer.headers['cache-status']).toContain('detail=stale-if-error');
      expect(origin.requestsTo('/r')).toHaveLength(1);
    });

    it.each([500, 502, 503, 504])('serves the stale response when the origin answers %i', async (status) => {
      const { origin, state, get } = await versionedOrigin('max-age=10, stale-if-error=60');
      await get();
      state.failWith = status;
      clock.advance(20);

      const answer = await get();

      expect(answer.status).toBe(200);
      expect(answer.text).toBe('version 1');
      expect(answer.headers['cache-status']).toContain('detail=stale-if-error');
      expect(origin.requestsTo('/r')).toHaveLength(2);
    });

    it('answers 502 when the origin is down and the entry is beyond both the stale-if-error window and --serve-stale-if-disconnected (1h)', async () => {
      const { origin, get } = await versionedOrigin('max-age=10, stale-if-error=60');
      await get();
      await origin.close();
      clock.advance(3700);

      const answer = await get();

      expect(answer.status).toBe(502);
      expect(answer.text).toMatch(/^502 upstream_refused: /);
      expect(answer.headers['cache-status']).not.toContain('stale-if-error');
    });

    it('relays the origin\'s 500 when the entry is beyond the stale-if-error window', async () => {
      const { origin, state, get } = await versionedOrigin('max-age=10, stale-if-error=60');
      await get();
      state.failWith = 500;
      clock.advance(100);

      const answer = await get();

      expect(answer.status).toBe(500);
      expect(answer.text).toBe('origin says 500');
      expect(origin.requestsTo('/r')).toHaveLength(2);
    });

    it('does not serve stale on error when the response has no stale-if-error', async () => {
      const { state, get } = await versionedOrigin('max-age=10');
      await get();
      state.failWith = 503;
      clock.advance(20);

      const answer = await get();

      expect(answer.status).toBe(503);
      expect(answer.text).toBe('origin says 503');
    });

    it('keeps the stale entry after an error, and replaces it once the origin recovers', async () => {
      const { origin, state, get } = await versionedOrigin('max-age=10, stale-if-error=60');
      await get();
      state.failWith = 500;
      clock.advance(20);
      const duringOutage = await get();
      state.failWith = 0;
      state.version = 2;
      const recovered = await get();
      const hit = await get();

      expect(duringOutage.text).toBe('version 1');
      expect(recovered.text).toBe('version 2');
      expect(hit.text).toBe('version 2');
      expect(hit.headers['cache-status']).toMatch(/^etag-proxy; hit/);
      expect(origin.requestsTo('/r')).toHaveLength(3);
    });
  });
});
