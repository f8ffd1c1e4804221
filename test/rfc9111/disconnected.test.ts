// RFC 9111 §4.2.4: a cache that cannot reach the origin (refused, reset, timeout, unknown host)
// may serve a stale response, unless no-cache, must-revalidate, proxy-revalidate or s-maxage
// forbid it; a reachable origin's 5xx is answered stale only within stale-if-error (RFC 5861).
// And max-stale (§5.2.1.2) under each of these.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { sleep } from '../helpers/respond.js';

describe('serving stale when disconnected (RFC 9111 §4.2.4, --serve-stale-if-disconnected)', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  let proxy: TestProxy;
  let noStale: TestProxy;

  beforeAll(async () => {
    proxy = await startProxy({}, { now: clock.now });
    noStale = await startProxy({ serveStaleIfDisconnectedMs: 0 }, { now: clock.now });
  });

  afterAll(async () => {
    await proxy?.stop();
    await noStale?.stop();
  });

  /** An origin serving `cacheControl` at /r, stored through `via`, then shut down (or made to fail). */
  async function storedThenGone(cacheControl: string, via = proxy): Promise<{ origin: Origin; url: string; state: { failWith: number } }> {
    const state = { failWith: 0 };
    const origin = await startOrigin({
      '/r': (_req, res) => {
        if (state.failWith) return void res.writeHead(state.failWith).end(`origin says ${state.failWith}`);
        res.writeHead(200, { 'cache-control': cacheControl, etag: '"v1"' }).end('stored body');
      },
    });
    const url = `${origin.url}/r`;
    const first = await viaProxy(via.url, url);
    expect(first.text).toBe('stored body');
    return { origin, url, state };
  }

  it('serves a stale entry when the origin refuses connections, saying so in Cache-Status', async () => {
    const { origin, url } = await storedThenGone('max-age=10');
    await origin.close();
    clock.advance(600);

    const answer = await viaProxy(proxy.url, url);

    expect(answer.status).toBe(200);
    expect(answer.text).toBe('stored body');
    expect(answer.headers['cache-status']).toBe('etag-proxy; fwd=stale; ttl=-590; detail=stale-if-disconnected');
    expect(answer.headers['age']).toBe('600');
  });

  it('stops after the window: an entry stale for longer than 1h gets the 502', async () => {
    const { origin, url } = await storedThenGone('max-age=10');
    await origin.close();
    clock.advance(3620);

    const answer = await viaProxy(proxy.url, url);

    expect(answer.status).toBe(502);
    expect(answer.text).toMatch(/^502 upstream_refused: /);
  });

  it('keeps an entry with neither ETag nor Last-Modified past its freshness, so it answers stale when the origin refuses or resets (it cannot be revalidated, but may be served stale)', async () => {
    const state = { reset: false };
    const origin = await startOrigin({
      '*': (req, res) => {
        if (state.reset) return void req.socket.destroy();
        res.writeHead(200, { 'cache-control': 'max-age=1' }).end(`no validators at ${req.url}`);
      },
    });
    const refused = `${origin.url}/refused`;
    const reset = `${origin.url}/reset`;
    await viaProxy(proxy.url, refused);
    await viaProxy(proxy.url, reset);
    // The memory store expires entries on the wall clock (lru-cache): wait past the 1 s freshness.
    await sleep(1300);
    clock.advance(600);

    state.reset = true;
    const afterReset = await viaProxy(proxy.url, reset);
    await origin.close();
    const afterRefusal = await viaProxy(proxy.url, refused);

    expect(afterReset.status).toBe(200);
    expect(afterReset.text).toBe('no validators at /reset');
    expect(afterReset.headers['cache-status']).toMatch(/fwd=stale.*detail=stale-if-disconnected/);
    expect(afterRefusal.status).toBe(200);
    expect(afterRefusal.text).toBe('no validators at /refused');
    expect(afterRefusal.headers['cache-status']).toMatch(/fwd=stale.*detail=stale-if-disconnected/);
    // The revalidation reached the origin (once more on a new connection after a reset kept-alive one).
    expect(origin.requestsTo('/reset').length).toBeGreaterThanOrEqual(2);
  });

  it('never serves stale when disconnected with --serve-stale-if-disconnected 0', async () => {
    const { origin, url } = await storedThenGone('max-age=10', noStale);
    await origin.close();
    clock.advance(60);

    expect((await viaProxy(noStale.url, url)).status).toBe(502);
  });

  it.each(['max-age=10, must-revalidate', 'max-age=10, proxy-revalidate', 'no-cache', 's-maxage=10'])(
    'answers 504, never the stale copy, when the origin cannot be reached and the response said %s',
    async (cacheControl) => {
      const { origin, url } = await storedThenGone(cacheControl);
      await origin.close();
      clock.advance(60);

      const answer = await viaProxy(proxy.url, url);

      expect(answer.status).toBe(504);
      expect(answer.text).toMatch(/^504 upstream_unavailable: cannot revalidate the stored response, and it may not be served stale/);
    },
  );

  it('relays a reachable origin\'s 503 instead of the stale copy when the response has no stale-if-error', async () => {
    const { origin, url, state } = await storedThenGone('max-age=10');
    state.failWith = 503;
    clock.advance(60);

    const answer = await viaProxy(proxy.url, url);

    expect(answer.status).toBe(503);
    expect(answer.text).toBe('origin says 503');
    await origin.close();
  });

  it('lets the origin\'s explicit stale-if-error apply even with s-maxage (RFC 5861 is the origin\'s own permission)', async () => {
    const { origin, url, state } = await storedThenGone('s-maxage=10, stale-if-error=600');
    state.failWith = 500;
    clock.advance(60);

    const answer = await viaProxy(proxy.url, url);

    expect(answer.status).toBe(200);
    expect(answer.headers['cache-status']).toMatch(/detail=stale-if-error/);
    await origin.close();
  });

  describe('max-stale from the client (RFC 9111 §5.2.1.2)', () => {
    it('serves a stale entry within max-stale without contacting the origin', async () => {
      const { origin, url } = await storedThenGone('max-age=10');
      clock.advance(30);
      const answer = await viaProxy(proxy.url, url, { headers: { 'cache-control': 'max-stale=60' } });
      expect(answer.headers['cache-status']).toMatch(/^etag-proxy; hit; ttl=-20/);
      expect(origin.requestsTo('/r')).toHaveLength(1);
      await origin.close();
    });

    it.each(['max-age=10, must-revalidate', 'max-age=10, proxy-revalidate', 'no-cache', 's-maxage=10'])(
      'revalidates instead when the response said %s',
      async (cacheControl) => {
        const { origin, url } = await storedThenGone(cacheControl);
        clock.advance(30);
        const answer = await viaProxy(proxy.url, url, { headers: { 'cache-control': 'max-stale' } });
        expect(answer.headers['cache-status']).toMatch(/fwd=stale/);
        expect(origin.requestsTo('/r')).toHaveLength(2);
        await origin.close();
      },
    );
  });
});
