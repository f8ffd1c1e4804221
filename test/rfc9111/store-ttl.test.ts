// What the store is told to keep (Varnish ttl + grace + keep): freshness, the longest stale
// window (stale-while-revalidate, stale-if-error, --serve-stale-if-disconnected), and
// --keep-validators past freshness for an entry with validators, on put and on a
// 304 refresh. The memory store's own expiry reads the wall clock, so the TTLs are read at the
// store's door rather than waited for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../src/store/memory/backend.js';
import type { StoredPolicies } from '../../src/policy/stored-rules.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { fakeClock, startProxy, type TestProxy } from '../helpers/proxy.js';
import { respond, validating } from '../helpers/respond.js';

describe('entry TTLs given to the store (--keep-validators)', () => {
  const clock = fakeClock(Math.floor(Date.now() / 1000) * 1000);
  const keepValidatorsMs = 5 * 24 * 3600 * 1000;
  const writes: Array<{ op: 'put' | 'refresh'; url: string; ttlMs: number }> = [];
  let origin: Origin;
  let proxy: TestProxy;

  beforeAll(async () => {
    const backend = createMemoryBackend<StoredPolicies>({ cacheSizeBytes: 1 << 20, now: clock.now });
    const { put, refresh } = backend.entries;
    backend.entries.put = (address, entry, ttlMs) => (writes.push({ op: 'put', url: address.url, ttlMs }), put.call(backend.entries, address, entry, ttlMs));
    backend.entries.refresh = (address, meta, ttlMs) => (writes.push({ op: 'refresh', url: address.url, ttlMs }), refresh.call(backend.entries, address, meta, ttlMs));
    origin = await startOrigin({
      '/tagged': validating({ 'cache-control': 'max-age=60', etag: '"t"' }, 'tagged'),
      '/plain': respond(200, { 'cache-control': 'max-age=60, stale-while-revalidate=300' }, 'plain'),
      '/shared': respond(200, { 'cache-control': 's-maxage=60, stale-while-revalidate=300' }, 'shared'),
    });
    proxy = await startProxy({ keepValidatorsMs }, { now: clock.now, backend });
  });

  afterAll(async () => {
    await proxy?.stop();
    await origin?.close();
  });

  it('keeps an entry with an ETag for its freshness plus --keep-validators, on put and again on the 304 refresh', async () => {
    await viaProxy(proxy.url, `${origin.url}/tagged`);
    clock.advance(120);
    const refreshed = await viaProxy(proxy.url, `${origin.url}/tagged`);

    expect(refreshed.headers['cache-status']).toMatch(/fwd=stale; fwd-status=304/);
    const [put, refresh] = writes.splice(0);
    expect(put).toMatchObject({ op: 'put', ttlMs: 60_000 + keepValidatorsMs });
    expect(refresh).toMatchObject({ op: 'refresh', ttlMs: 60_000 + keepValidatorsMs });
  });

  it('keeps an entry without validators for freshness plus the longer of its stale windows: here the default --serve-stale-if-disconnected (1h) over stale-while-revalidate=300 (RFC 9111 §4.2.4)', async () => {
    await viaProxy(proxy.url, `${origin.url}/plain`);
    const [put] = writes.splice(0);
    expect(put).toMatchObject({ op: 'put', ttlMs: 60_000 + 3_600_000 });
  });

  it('keeps an entry without validators only for freshness plus its stale-while-revalidate when it may not be served stale once disconnected (s-maxage)', async () => {
    await viaProxy(proxy.url, `${origin.url}/shared`);
    const [put] = writes.splice(0);
    expect(put).toMatchObject({ op: 'put', ttlMs: 360_000 });
  });
});
