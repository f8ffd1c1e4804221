// How much memory the memory store really holds for what it counts: a stored body sits in one of
// the store's own pages (never a slice of Buffer's shared 8 KiB pool), and churn reuses those
// pages instead of leaving bodies for V8 to collect. The soak (`npm run soak`) measures RSS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { urlKey } from '../../src/cache/keys.js';
import { MemoryEntryStore } from '../../src/store/memory/entry-store.js';
import type { Entry } from '../../src/store/types.js';
import { viaProxy } from '../helpers/client.js';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type TestProxy } from '../helpers/proxy.js';

let origin: Origin;
let proxy: TestProxy;

beforeAll(async () => {
  origin = await startOrigin({
    '/small': (_req, res) => void res.writeHead(200, { 'cache-control': 'max-age=60', 'content-length': '100' }).end('s'.repeat(100)),
    '/small-chunked': (_req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.write('c'.repeat(60));
      res.end('d'.repeat(40));
    },
  });
  proxy = await startProxy();
});
afterAll(async () => {
  await proxy.stop();
  await origin.close();
});

async function storedBody(path: string): Promise<Buffer> {
  const found = await proxy.proxy.ctx.backend.entries.lookup(urlKey(new URL(`${origin.url}${path}`)), () => '');
  if (!found) throw new Error(`${path} was not stored`);
  return found.entry.body;
}

describe('memory store footprint', () => {
  it.each(['/small', '/small-chunked'])('stores %s in a page of the store, not a slice of the shared pool an 8 KiB slab of which it would keep alive', async (path) => {
    const first = await viaProxy(proxy.url, `${origin.url}${path}`);
    expect(first.status).toBe(200);
    const body = await storedBody(path);
    expect(body.length).toBe(100);
    expect(body.equals(first.body)).toBe(true);
    const store = proxy.proxy.ctx.backend.entries as MemoryEntryStore;
    expect(store.pool.pageHolding(body)).toBeDefined();
    expect(body.buffer.byteLength).toBe(store.pool.pageBytes);
  });

  it('under churn reuses the pages it took (never more than the cap) and leaves no body for V8 to collect', async () => {
    const MiB = 1024 * 1024;
    const store = new MemoryEntryStore(2 * MiB);
    const entry = (i: number): Entry => ({
      meta: { v: 2, status: 200, headers: {}, policy: {} as Entry['meta']['policy'], storedAt: 0, bodyLength: 100 * 1024 },
      body: Buffer.alloc(100 * 1024, i),
    });
    const put = (i: number) => store.put({ url: `http://example.test/${i}`, vary: null, variant: null }, entry(i), 60_000);
    for (let i = 0; i < 200; i++) await put(i);
    const usage = store.poolUsage();
    expect(usage.heldBytes).toBeLessThanOrEqual(2 * MiB);
    expect(usage.evictions).toBeGreaterThan(150);
    expect(store.usage().bytes).toBeLessThanOrEqual(2 * MiB);
    // The latest body is whole, the first long gone.
    expect(store.lookup('http://example.test/199', () => '')?.entry.body.equals(Buffer.alloc(100 * 1024, 199))).toBe(true);
    expect(store.lookup('http://example.test/0', () => '')).toBeUndefined();
    await store.close();
  });
});
